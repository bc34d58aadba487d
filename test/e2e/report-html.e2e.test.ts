/**
 * ingest → preprocess through bin/voicestudio, then report.html opened in headless Chromium (Debian's chromium driven by
 * playwright-core): the page loads without errors or failed requests, shows one waveform per source, escapes file names,
 * and every player's clip exists on disk and plays (Chromium reads its duration).
 */
import { access, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetQualityReport, Manifest } from '../../src/project/types.js';
import { writePhrases } from '../helpers/audio.js';
import { chromiumAvailable, withBrowserPage } from '../helpers/browser.js';
import { makeTempDir, parseJson, runCli } from '../helpers/cli.js';

const hasChromium = await chromiumAvailable('report.html');

/** A file name a page must show as text: markup, quotes, a hash, non-ASCII. */
const AWKWARD_NAME = `"solo" <b>take #2 – süß & co.wav`;

describe.skipIf(!hasChromium)('report.html in headless Chromium', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let project: string;

  beforeAll(async () => {
    ({ dir: root, cleanup } = await makeTempDir('report-html'));
    // Spaces, a hash and non-ASCII in the project folder: the page's own URL is percent-encoded, its clip links relative.
    project = path.join(root, 'my #1 vöcals');
    await mkdir(path.join(project, 'takes'), { recursive: true });
    await Promise.all([
      writePhrases(path.join(project, 'takes', 'verse.wav'), { seconds: 30, phraseSec: 8, pauseSec: 1.2, channels: 2 }),
      writePhrases(path.join(project, 'takes', AWKWARD_NAME), { seconds: 20, phraseSec: 6, pauseSec: 1, frequency: 330 }),
      // Shorter than the shortest clip.
      writePhrases(path.join(project, 'takes', 'breath.wav'), { seconds: 3, phraseSec: 2, pauseSec: 1 }),
    ]);
    expect((await runCli(['ingest', project, '--json'])).exitCode).toBe(0);
  });

  afterAll(async () => {
    await cleanup();
  });

  it('writes the page and names it in --json and in the human output', async () => {
    const run = await runCli(['preprocess', project, '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const result = parseJson<{ htmlReportFile: string; reportFile: string }>(run);
    expect(result.htmlReportFile).toBe(path.join(project, '.voicestudio', 'report.html'));
    await access(result.htmlReportFile);

    const human = await runCli(['preprocess', project]);
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toContain(`report: ${result.reportFile}\n`);
    expect(human.stdout).toContain(`page:   ${result.htmlReportFile}\n`);
  });

  it('loads cleanly, draws one waveform per source and every player plays its clip', async () => {
    const report = JSON.parse(await readFile(path.join(project, '.voicestudio', 'quality-report.json'), 'utf8')) as DatasetQualityReport;
    const manifest = JSON.parse(await readFile(path.join(project, 'voicestudio.json'), 'utf8')) as Manifest;
    expect(report.sources).toHaveLength(3);
    expect(manifest.segments.length).toBeGreaterThanOrEqual(3);

    await withBrowserPage(async ({ page, problems, requests }) => {
      const pageUrl = pathToFileURL(path.join(project, '.voicestudio', 'report.html')).href;
      const response = await page.goto(pageUrl, { waitUntil: 'load' });
      expect(response?.ok()).toBe(true);
      expect(problems).toEqual([]);
      // Nothing but the page itself was fetched: no fonts, styles, scripts or images from anywhere.
      expect(requests).toEqual([pageUrl]);

      // One waveform per source, in the report's order, each drawn from its level map and visible.
      const waveforms = await page.$$eval('svg.waveform', (svgs) =>
        svgs.map((svg) => ({ source: svg.getAttribute('data-source'), width: svg.getBoundingClientRect().width, envelopes: svg.querySelectorAll('svg.envelope path').length })),
      );
      expect(waveforms.map((w) => w.source)).toEqual(report.sources.map((s) => s.sourceId));
      for (const waveform of waveforms) {
        expect(waveform.width).toBeGreaterThan(500);
        expect(waveform.envelopes).toBe(2);
      }

      // The awkward file name is text, not markup.
      const headings = await page.$$eval('section.source h3 .path', (spans) => spans.map((span) => ({ text: span.textContent, elements: span.children.length })));
      expect(headings).toContainEqual({ text: `takes/${AWKWARD_NAME}`, elements: 0 });

      // Every player points at a clip of the manifest that exists on disk, and Chromium reads its duration.
      const players = await page.$$eval('audio', (audios) => audios.map((audio) => ({ src: audio.src, preload: audio.preload })));
      const clipFiles = manifest.segments.map((segment) => path.join(project, ...segment.file.split('/')));
      expect(players.map((p) => fileURLToPath(p.src)).sort()).toEqual([...clipFiles].sort());
      for (const player of players) {
        expect(player.preload).toBe('none');
        await access(fileURLToPath(player.src));
      }
      const durations = await page.$$eval('audio', (audios) =>
        Promise.all(
          audios.map(
            (audio) =>
              new Promise<number | string>((resolve) => {
                audio.addEventListener('loadedmetadata', () => resolve(audio.duration), { once: true });
                audio.addEventListener('error', () => resolve(`error ${audio.error?.code}: ${audio.error?.message}`), { once: true });
                audio.preload = 'metadata';
                audio.load();
              }),
          ),
        ),
      );
      const bySrc = new Map(manifest.segments.map((s) => [pathToFileURL(path.join(project, ...s.file.split('/'))).href, s.endSec - s.startSec]));
      for (const [index, duration] of durations.entries()) {
        expect(typeof duration, String(duration)).toBe('number');
        expect(duration as number).toBeGreaterThan(0);
        expect(duration as number).toBeCloseTo(bySrc.get(players[index]!.src)!, 0);
      }
      expect(problems.filter((p) => !p.startsWith('request failed'))).toEqual([]);
    });
  });
});
