/**
 * The audition page opened in headless Chromium (Debian's chromium driven by playwright-core), written from audio made
 * here with FFmpeg: it loads without errors or failed requests and fetches nothing but its own files, shows one row per
 * epoch with the recommended one marked, every player reads its file (the duration ffprobe measures), every spectrogram
 * loads, and the A/B player switches between guide and epochs, and between epochs, at the same playback position.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page, Request } from 'playwright-core';
import { SPECTROGRAM_HEIGHT, SPECTROGRAM_WIDTH } from '../../src/audio/spectrogram.js';
import { SPECTROGRAMS_DIR, writeAuditionPage, type AuditionEpoch, type AuditionPageInput } from '../../src/audio/audition-page.js';
import { auditionDir } from '../../src/project/layout.js';
import { durationOf, testTools, writePhrases } from '../helpers/audio.js';
import { chromiumAvailable, withBrowserPage } from '../helpers/browser.js';
import { makeTempDir } from '../helpers/cli.js';

const hasChromium = await chromiumAvailable('audition page');

/** A guide's file name a page must link and show as text: markup, quotes, a hash, non-ASCII. */
const AWKWARD_NAME = `"solo" <b>take #2 – süß & co.wav`;
const EPOCHS = [50, 100, 150, 200] as const;
const RECOMMENDED = 150;
/** The compared version's one epoch. */
const COMPARED = 100;
/** Where the A/B test seeks to, and how close the other file's position must be. */
const POSITION_SEC = 1.5;
const TOLERANCE_SEC = 0.05;

describe.skipIf(!hasChromium)('the audition page in headless Chromium', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let pageFile: string;
  let input: AuditionPageInput;

  beforeAll(async () => {
    ({ dir: root, cleanup } = await makeTempDir('audition-page'));
    // Spaces, a hash and non-ASCII in the project folder: the page's URL is percent-encoded, its links relative.
    const project = path.join(root, 'my #1 vöcals');
    const dir = auditionDir(project, 'alto', 2);
    const guides = [
      { id: 'verse', label: `verse <i>"one"</i>`, file: path.join(project, 'guides', AWKWARD_NAME), baselineSimilarity: 0.61 },
      { id: 'chorus', label: 'chorus', file: path.join(project, 'guides', 'chorus #2.wav'), baselineSimilarity: 0.57 },
    ];
    await mkdir(path.join(project, 'guides'), { recursive: true });
    // Phrases of different lengths and pitches, so each file is told apart by its duration and content.
    await Promise.all([
      writePhrases(guides[0]!.file, { seconds: 3.2, phraseSec: 2.5, pauseSec: 0.7, frequency: 220 }),
      writePhrases(guides[1]!.file, { seconds: 2.8, phraseSec: 2, pauseSec: 0.8, frequency: 262 }),
    ]);
    /** Each epoch's conversions of the guides, written into a version's audition folder, and their scores. */
    const auditioned = async (folder: string, epochs: readonly number[], hz: number): Promise<AuditionEpoch[]> =>
      Promise.all(
        epochs.map(async (epoch, i) => {
          await mkdir(path.join(folder, `epoch ${epoch}`), { recursive: true });
          const scores = { similarity: 0.7 + 0.05 * i, f0RmseCents: 40 - 5 * i, voicingAgreement: 0.9 };
          const phrases = guides.map((g) => ({ guideId: g.id, file: path.join(folder, `epoch ${epoch}`, `${g.id} #${epoch}.wav`), ...scores }));
          await writePhrases(phrases[0]!.file, { seconds: 3.2, phraseSec: 2.5, pauseSec: 0.7, frequency: hz + 20 * i });
          await writePhrases(phrases[1]!.file, { seconds: 2.8, phraseSec: 2, pauseSec: 0.8, frequency: hz + 40 + 20 * i });
          return { epoch, step: epoch * 10, ...scores, phrases };
        }),
      );
    input = {
      model: 'alto@2',
      createdAt: '2026-03-01T14:05:09Z',
      guides,
      epochs: await auditioned(dir, EPOCHS, 230),
      // The version before, whose files sit in its own audition folder: A/B across versions, linked across folders.
      compare: { model: 'alto@1', epochs: await auditioned(auditionDir(project, 'alto', 1), [COMPARED], 300) },
      recommended: { epoch: RECOMMENDED, reason: 'highest similarity with pitch error under 35 cents' },
      plateau: { epoch: 200, reason: 'similarity rises less than a point after it' },
      naturalness: { available: false, note: 'no DNSMOS package in this worker' },
      guideNote: 'no --guide given: held-out clips of the singer, pitch-shifted',
    };
    pageFile = await writeAuditionPage(dir, input, await testTools());
  });

  afterAll(async () => {
    await cleanup();
  });

  it('loads cleanly, plays every file, shows every spectrogram, and A/B keeps the playback position', async () => {
    // Chromium stops reading a media file once it has what preload="metadata" asks (and when a player's source
    // changes): an abort, not a missing file, which would fail as ERR_FILE_NOT_FOUND.
    const mediaAbort = (request: Request): boolean => request.resourceType() === 'media' && request.failure()?.errorText === 'net::ERR_ABORTED';
    await withBrowserPage(async ({ page, problems, requests }) => {
      const pageUrl = pathToFileURL(pageFile).href;
      const response = await page.goto(pageUrl, { waitUntil: 'load' });
      expect(response?.ok()).toBe(true);

      // One row per epoch, in order; the recommended one marked, and only it.
      const rows = await page.$$eval('#epochs tbody tr.epoch', (trs) => trs.map((tr) => ({ epoch: tr.getAttribute('data-epoch'), recommended: tr.classList.contains('recommended'), badge: tr.querySelector('.badge.recommended') !== null })));
      expect(rows.map((r) => Number(r.epoch))).toEqual([...EPOCHS]);
      expect(rows.filter((r) => r.recommended).map((r) => Number(r.epoch))).toEqual([RECOMMENDED]);
      expect(rows.filter((r) => r.badge).map((r) => Number(r.epoch))).toEqual([RECOMMENDED]);
      expect(await page.$eval('#recommendation', (p) => p.getAttribute('data-epoch'))).toBe(String(RECOMMENDED));
      // The chart: one similarity point per epoch.
      expect(await page.$$eval('svg.chart circle.point.sim:not(.compare)', (points) => points.map((p) => Number(p.getAttribute('data-epoch'))))).toEqual([...EPOCHS]);

      // The awkward guide label is text, not markup.
      expect(await page.$$eval('#epochs thead th.phrase', (ths) => ths.map((th) => ({ text: th.textContent, elements: th.children.length })))).toContainEqual({ text: `verse <i>"one"</i>`, elements: 0 });

      // Every player reads its file: the duration ffprobe measures.
      const players = await page.$$eval(
        'audio',
        (audios, haveMetadata) =>
        Promise.all(
          audios.map(
            (audio) =>
              new Promise<{ src: string; duration: number | string }>((resolve) => {
                const done = (): void => resolve({ src: audio.src, duration: audio.error === null ? audio.duration : `error ${audio.error.code}: ${audio.error.message}` });
                if (audio.readyState >= haveMetadata || audio.error !== null) done();
                audio.addEventListener('loadedmetadata', done, { once: true });
                audio.addEventListener('error', done, { once: true });
              }),
          ),
        ),
        HAVE_METADATA,
      );
      const epochs = [...input.epochs, ...input.compare!.epochs];
      const expectedFiles = [...input.guides.map((g) => g.file), ...epochs.flatMap((e) => e.phrases.map((p) => p.file))];
      // The page's players and the A/B player (which starts on the first guide).
      expect(players.map((p) => fileURLToPath(p.src)).sort()).toEqual([...expectedFiles, input.guides[0]!.file].sort());
      for (const player of players) {
        expect(typeof player.duration, String(player.duration)).toBe('number');
        expect(player.duration as number).toBeCloseTo((await durationOf(fileURLToPath(player.src))).durationSec, 1);
      }

      // Every spectrogram loads, at its drawn size.
      const images = await page.$$eval('img.spectrogram', (imgs) =>
        Promise.all(
          imgs.map(
            (img) =>
              new Promise<{ width: number; height: number }>((resolve) => {
                const done = (): void => resolve({ width: img.naturalWidth, height: img.naturalHeight });
                if (img.complete) done();
                img.addEventListener('load', done, { once: true });
                img.addEventListener('error', done, { once: true });
              }),
          ),
        ),
      );
      expect(images).toHaveLength(expectedFiles.length);
      for (const image of images) expect(image).toEqual({ width: SPECTROGRAM_WIDTH, height: SPECTROGRAM_HEIGHT });

      // A/B: guide → recommended epoch at the same moment; then between two epochs; then back.
      const verse = (epoch: number): string => input.epochs.find((e) => e.epoch === epoch)!.phrases.find((p) => p.guideId === 'verse')!.file;
      await seekAB(page, POSITION_SEC);
      await page.click('#ab-play-b');
      expect(await abState(page, 'b')).toMatchObject({ file: verse(RECOMMENDED), take: `e${RECOMMENDED}` });
      expect(Math.abs((await abState(page, 'b')).position - POSITION_SEC)).toBeLessThanOrEqual(TOLERANCE_SEC);

      await page.selectOption('#ab-a', 'e50');
      await seekAB(page, 2.25);
      await page.click('#ab-switch');
      const onA = await abState(page, 'a');
      expect(onA.file).toBe(verse(50));
      expect(Math.abs(onA.position - 2.25)).toBeLessThanOrEqual(TOLERANCE_SEC);

      // Choosing another epoch for the side that plays switches at once, at the same moment.
      await page.selectOption('#ab-a', 'e200');
      const changed = await abState(page, 'a', verse(200));
      expect(Math.abs(changed.position - 2.25)).toBeLessThanOrEqual(TOLERANCE_SEC);

      await page.click('#ab-switch');
      const back = await abState(page, 'b');
      expect(back.file).toBe(verse(RECOMMENDED));
      expect(Math.abs(back.position - 2.25)).toBeLessThanOrEqual(TOLERANCE_SEC);
      expect(await page.$eval('#ab-play-b', (b) => b.getAttribute('aria-pressed'))).toBe('true');

      // Between versions: the compared version's epoch, from its own folder, at the same moment.
      await page.selectOption('#ab-b', `c${COMPARED}`);
      const otherVersion = await abState(page, 'b', input.compare!.epochs[0]!.phrases.find((p) => p.guideId === 'verse')!.file);
      expect(Math.abs(otherVersion.position - 2.25)).toBeLessThanOrEqual(TOLERANCE_SEC);

      // A switch while playing goes on playing.
      await page.$eval('#ab-player', (player) => player.play());
      await page.click('#ab-switch');
      const playing = await abState(page, 'a', verse(200));
      expect(playing.position).toBeGreaterThanOrEqual(2.25 - TOLERANCE_SEC);
      expect(await page.$eval('#ab-player', (player) => Boolean(player.paused))).toBe(false);
      await page.$eval('#ab-player', (player) => player.pause());

      // Another phrase starts from its beginning.
      await page.selectOption('#ab-phrase', 'chorus');
      const chorus = await abState(page, 'a', input.epochs.find((e) => e.epoch === 200)!.phrases.find((p) => p.guideId === 'chorus')!.file);
      expect(chorus.position).toBe(0);

      expect(problems).toEqual([]);
      // Nothing was fetched but the page and its own files (audio, pictures), all on disk.
      for (const url of requests) expect(url.startsWith('file:')).toBe(true);
      const pictures = path.join(path.dirname(pageFile), SPECTROGRAMS_DIR);
      for (const url of requests) {
        const file = fileURLToPath(url);
        expect(file === pageFile || expectedFiles.includes(file) || path.dirname(file) === pictures, file).toBe(true);
      }
    }, mediaAbort);
  });
});

/** HTMLMediaElement.HAVE_METADATA (the tests' TypeScript has no DOM types). */
const HAVE_METADATA = 1;

/** Seeks the A/B player once its file's metadata is in. */
async function seekAB(page: Page, positionSec: number): Promise<void> {
  await page.waitForSelector('#ab-player[data-state="ready"]', { state: 'attached' });
  await page.$eval(
    '#ab-player',
    (player, { sec, haveMetadata }) =>
      new Promise<void>((resolve) => {
        const seek = (): void => {
          player.currentTime = sec;
          resolve();
        };
        if (player.readyState >= haveMetadata) seek();
        else player.addEventListener('loadedmetadata', seek, { once: true });
      }),
    { sec: positionSec, haveMetadata: HAVE_METADATA },
  );
}

/** The A/B player once it shows `side` (and, if given, that file) loaded: its file, take and position. */
async function abState(page: Page, side: 'a' | 'b', file?: string): Promise<{ file: string; take: string; position: number }> {
  // The script marks the player ready once the new file's metadata is in and the position carried over.
  await page.waitForSelector(`#ab-player[data-side="${side}"][data-state="ready"]`, { state: 'attached' });
  const state = await page.$eval('#ab-player', (player) => ({ src: String(player.src), take: String(player.dataset.take), position: Number(player.currentTime), readyState: Number(player.readyState) }));
  expect(state.readyState).toBeGreaterThanOrEqual(HAVE_METADATA);
  if (file !== undefined) expect(fileURLToPath(state.src)).toBe(file);
  return { file: fileURLToPath(state.src), take: state.take, position: state.position };
}
