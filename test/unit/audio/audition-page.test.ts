import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  AUDITION_PAGE_FILE,
  SPECTROGRAMS_DIR,
  renderAuditionHtml,
  writeAuditionPage,
  type AuditionEpoch,
  type AuditionPageInput,
} from '../../../src/audio/audition-page.js';
import { auditionDir } from '../../../src/project/layout.js';
import { testTools, writePhrases } from '../../helpers/audio.js';
import { makeTempDir } from '../../helpers/cli.js';

const PROJECT = path.resolve('/projects/my #1 vöcals');
const PAGE_DIR = auditionDir(PROJECT, 'alto', 2);
/** Markup, quotes, a hash, a space, an ampersand and non-ASCII: all must stay text and links must still resolve. */
const AWKWARD = `"solo" <b>take #2 – süß & co`;

function epoch(number: number, similarity: number, f0RmseCents: number, guides: readonly string[], dir = PAGE_DIR): AuditionEpoch {
  return {
    epoch: number,
    step: number * 12,
    similarity,
    f0RmseCents,
    voicingAgreement: 0.93,
    phrases: guides.map((guideId, i) => ({
      guideId,
      file: path.join(dir, `e${number}`, i === 0 ? `${AWKWARD}.wav` : `${guideId}.wav`),
      similarity: similarity + i * 0.01,
      f0RmseCents: f0RmseCents + i,
      voicingAgreement: 0.9 + i * 0.02,
    })),
  };
}

function fixture(overrides: Partial<AuditionPageInput> = {}): AuditionPageInput {
  const guides = ['verse', 'chorus'];
  return {
    model: `alto<i>@2`,
    createdAt: '2026-03-01T14:05:09.123Z',
    guides: [
      { id: 'verse', label: `verse <b>"1"</b>`, file: path.join(PROJECT, 'guides', `${AWKWARD}.wav`), baselineSimilarity: 0.62 },
      { id: 'chorus', label: 'chorus', file: path.join(PROJECT, 'guides', 'chorus.wav'), baselineSimilarity: 0.58 },
    ],
    epochs: [epoch(50, 0.71, 48, guides), epoch(100, 0.84, 31, guides), epoch(150, 0.86, 30, guides), epoch(200, 0.861, 42, guides)],
    recommended: { epoch: 150, reason: 'highest similarity with pitch error under 40 cents & <stable>' },
    plateau: { epoch: 150, reason: 'similarity rises less than 1 point after it' },
    naturalness: { available: false, note: 'speechmos did not <install>' },
    guideNote: 'no --guide given: held-out clips of the singer, pitch-shifted',
    ...overrides,
  };
}

/** What each src/href attribute points at, for the links of the page. */
function links(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
}

/** An attribute's value as the browser reads it (the page escapes only these five characters). */
function unescapeAttribute(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|#39);/g, (_, name: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[name]!);
}

function resolveLink(href: string): string {
  return fileURLToPath(new URL(unescapeAttribute(href), pathToFileURL(`${PAGE_DIR}${path.sep}`)));
}

function count(html: string, pattern: RegExp): number {
  return [...html.matchAll(new RegExp(pattern.source, 'g'))].length;
}

const NO_SPECTROGRAMS = { pageDir: PAGE_DIR, spectrograms: new Map<string, string>() };

describe('renderAuditionHtml', () => {
  it('has one row per epoch, in order, and marks the recommended one only', () => {
    const html = renderAuditionHtml(fixture(), NO_SPECTROGRAMS);
    const rows = [...html.matchAll(/<tr class="(epoch[^"]*)" id="epoch-(\d+)" data-epoch="(\d+)"/g)];
    expect(rows.map((m) => Number(m[2]))).toEqual([50, 100, 150, 200]);
    expect(rows.map((m) => m[3])).toEqual(['50', '100', '150', '200']);
    expect(rows.map((m) => m[1])).toEqual(['epoch', 'epoch', 'epoch recommended plateau', 'epoch']);
    expect(count(html, /data-recommended="true"/)).toBe(1);
    expect(html).toContain('<tr class="epoch recommended plateau" id="epoch-150" data-epoch="150" data-recommended="true">');
    expect(html).toContain('<b>Recommended: epoch 150</b> · highest similarity with pitch error under 40 cents &amp; &lt;stable&gt;');
    expect(html).toContain('Similarity stops rising at epoch 150 · similarity rises less than 1 point after it');
  });

  it('shows a player with its scores per phrase, and the guides with their own similarity', () => {
    const input = fixture();
    const html = renderAuditionHtml(input, NO_SPECTROGRAMS);
    // 2 guides + 4 epochs × 2 phrases, each with preload=metadata, plus the A/B player.
    expect(count(html, /<audio controls preload="metadata" src="[^"]*" data-take="[^"]*" data-guide="[^"]*"/)).toBe(2 + 4 * 2);
    expect(count(html, /<audio id="ab-player" controls preload="metadata"/)).toBe(1);
    const row150 = /<tr class="epoch recommended plateau" id="epoch-150".*?<\/tr>/.exec(html)![0];
    expect(row150).toContain('<td class="num">86.0 %</td><td class="num">30 cents</td><td class="num">93 %</td>');
    expect(row150).toContain('sim <b>87.0 %</b>');
    expect(row150).toContain('F0 <b>31 cents</b>');
    expect(html).toContain('own sim <b>62.0 %</b>');
    // Naturalness unavailable: no column, and the note says why.
    expect(html).not.toContain('>naturalness</th>');
    expect(html).toContain('Naturalness (DNSMOS) was not measured: speechmos did not &lt;install&gt;');
    expect(html).toContain('no --guide given: held-out clips of the singer, pitch-shifted');
  });

  it('adds the naturalness column when it was measured', () => {
    const input = fixture({ naturalness: { available: true } });
    input.epochs = input.epochs.map((e) => ({ ...e, naturalness: 3.456, phrases: e.phrases.map((p) => ({ ...p, naturalness: 3.2 })) }));
    const html = renderAuditionHtml(input, NO_SPECTROGRAMS);
    expect(html).toContain('>naturalness</th>');
    expect(count(html, /<td class="num">3\.46<\/td>/)).toBe(4);
    expect(html).toContain('MOS <b>3.20</b>');
    expect(html).not.toContain('was not measured');
  });

  it('escapes every name and label', () => {
    const html = renderAuditionHtml(fixture(), NO_SPECTROGRAMS);
    expect(html).toContain('<title>Audition · alto&lt;i&gt;@2</title>');
    expect(html).toContain('<th class="phrase">verse &lt;b&gt;&quot;1&quot;&lt;/b&gt;</th>');
    expect(html).not.toMatch(/<b>"1"<\/b>|<i>@2|<b>take/);
    expect(html).not.toContain('<stable>');
  });

  it('links every file relatively, percent-encoded, so that it resolves to the file', () => {
    const input = fixture();
    const html = renderAuditionHtml(input, NO_SPECTROGRAMS);
    const audio = [...html.matchAll(/<audio controls preload="metadata" src="([^"]*)" data-take/g)].map((m) => m[1]!);
    const expected = [...input.guides.map((g) => g.file), ...input.epochs.flatMap((e) => e.phrases.map((p) => p.file))];
    expect(audio.map(resolveLink).sort()).toEqual(expected.sort());
    for (const href of audio) {
      expect(href).not.toMatch(/^(?:[a-z]+:|\/)/); // relative
      expect(href).not.toMatch(/[ #"<>]/);
    }
    // The converted phrases sit in the page's folder, the guides in the project's.
    expect(audio).toContain('e150/%22solo%22%20%3Cb%3Etake%20%232%20%E2%80%93%20s%C3%BC%C3%9F%20%26%20co.wav');
    expect(audio).toContain('../../../../guides/chorus.wav');
    // Nothing outside the page's files: no network, no absolute links.
    for (const href of links(html)) expect(href === 'data:,' || !/^[a-z]+:/i.test(href)).toBe(true);
  });

  it('draws the chart with one point per epoch, the baseline and the recommended epoch', () => {
    const html = renderAuditionHtml(fixture(), NO_SPECTROGRAMS);
    const svg = /<svg class="chart".*?<\/svg>/.exec(html)![0];
    expect([...svg.matchAll(/<circle class="point sim" data-epoch="(\d+)"/g)].map((m) => Number(m[1]))).toEqual([50, 100, 150, 200]);
    expect([...svg.matchAll(/<rect class="point f0" data-epoch="(\d+)"/g)].map((m) => Number(m[1]))).toEqual([50, 100, 150, 200]);
    expect(count(svg, /<line class="baseline"/)).toBe(1);
    expect(svg).toContain('<g class="mark recommended" data-epoch="150">');
    expect(svg).toContain('<g class="mark plateau" data-epoch="150">');
    // Higher similarity is drawn higher: epoch 150's point above epoch 50's.
    const cy = (e: number): number => Number(new RegExp(`<circle class="point sim" data-epoch="${e}" cx="[^"]*" cy="([^"]*)"`).exec(svg)![1]);
    expect(cy(150)).toBeLessThan(cy(50));
    // The baseline (mean 60 %) is under every epoch's similarity.
    const baselineY = Number(/<line class="baseline" x1="[^"]*" x2="[^"]*" y1="([^"]*)"/.exec(svg)![1]);
    for (const e of [50, 100, 150, 200]) expect(cy(e)).toBeLessThan(baselineY);
    // ...and drawn above the axis, not on it.
    expect(baselineY).toBeLessThan(Number(/<line class="axis" x1="[^"]*" x2="[^"]*" y1="([^"]*)"/.exec(svg)![1]));
  });

  it('draws a single epoch and missing scores without breaking the chart', () => {
    const single = fixture({ epochs: [{ ...epoch(10, 0.8, Number.NaN, ['verse']) }], recommended: { epoch: 10, reason: 'the only one' } });
    delete single.plateau;
    const html = renderAuditionHtml(single, NO_SPECTROGRAMS);
    expect(html).not.toMatch(/NaN|Infinity/);
    expect(count(html, /<circle class="point sim"/)).toBe(1);
    expect(count(html, /<rect class="point f0"/)).toBe(0);
    expect(html).toContain('<td class="phrase missing">not converted</td>');
    // A recommendation of an epoch that is not in the list is not drawn off the chart.
    expect(renderAuditionHtml({ ...single, recommended: { epoch: 99, reason: 'elsewhere' } }, NO_SPECTROGRAMS)).not.toContain('class="mark recommended"');
  });

  it('lists another version for A/B in the chart, the selects and a table of its own', () => {
    const compare = { model: 'alto@1', epochs: [epoch(100, 0.8, 35, ['verse', 'chorus'], path.join(PAGE_DIR, 'v1'))] };
    const html = renderAuditionHtml(fixture({ compare }), NO_SPECTROGRAMS);
    expect(count(html, /<tr class="epoch[^"]*" id="epoch-/)).toBe(4);
    expect(count(html, /<tr class="epoch" id="compare-epoch-100" data-epoch="100">/)).toBe(1);
    expect(count(html, /<circle class="point sim compare" data-epoch="100"/)).toBe(1);
    expect(count(html, /<option value="c100">alto@1 epoch 100<\/option>/)).toBe(2);
    expect(count(html, /data-take="c100"/)).toBe(2);
    // The guides are the same for both versions: one row of them.
    expect(count(html, /<tr class="guide">/)).toBe(1);
  });

  it('lets its one script run by hash and nothing else', () => {
    const html = renderAuditionHtml(fixture(), NO_SPECTROGRAMS);
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(1);
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)![1]!;
    const hash = createHash('sha256').update(scripts[0]!).digest('base64');
    expect(csp).toContain(`script-src 'sha256-${hash}'`);
    expect(csp).toContain("default-src 'none'");
    expect(count(html, /<script/)).toBe(1);
  });

  it('shows the spectrograms it is given, linked relatively', () => {
    const input = fixture();
    const picture = path.join(PAGE_DIR, SPECTROGRAMS_DIR, '0123456789abcdef.png');
    const guidePicture = path.join(PAGE_DIR, SPECTROGRAMS_DIR, 'fedcba9876543210.png');
    const spectrograms = new Map([
      [input.epochs[2]!.phrases[0]!.file, picture],
      [input.guides[0]!.file, guidePicture],
    ]);
    const html = renderAuditionHtml(input, { pageDir: PAGE_DIR, spectrograms });
    const images = [...html.matchAll(/<img class="spectrogram" src="([^"]*)" width="480" height="160" alt="([^"]*)">/g)];
    expect(images.map((m) => m[1])).toEqual(['spectrograms/fedcba9876543210.png', 'spectrograms/0123456789abcdef.png']);
    expect(images[1]![2]).toBe('spectrogram of alto&lt;i&gt;@2 epoch 150, verse &lt;b&gt;&quot;1&quot;&lt;/b&gt;');
  });
});

/** alto@1 auditioned with one guide, "verse": each epoch's converted file; the last epoch recommended. */
function oneGuide(guide: string, converted: ReadonlyMap<number, string>): AuditionPageInput {
  const scores = { similarity: 0.8, f0RmseCents: 20, voicingAgreement: 0.9 };
  return {
    model: 'alto@1',
    createdAt: '2026-03-01T14:05:09Z',
    guides: [{ id: 'verse', label: 'verse', file: guide, baselineSimilarity: 0.6 }],
    epochs: [...converted].map(([epoch, file]) => ({ epoch, ...scores, phrases: [{ guideId: 'verse', file, ...scores }] })),
    recommended: { epoch: Math.max(...converted.keys()), reason: 'the last' },
    naturalness: { available: false },
  };
}

describe('writeAuditionPage', () => {
  it('draws each spectrogram once, keeps it while its audio is the same and replaces it when the audio changes', async () => {
    const { dir: root, cleanup } = await makeTempDir('audition-page');
    try {
      const project = path.join(root, 'my #1 project');
      const dir = auditionDir(project, 'alto', 1);
      const guide = path.join(project, 'guides', 'verse line.wav');
      const converted = (n: number): string => path.join(dir, `e${n}`, 'verse line.wav');
      await Promise.all([mkdir(path.dirname(guide), { recursive: true }), mkdir(path.join(dir, 'e10'), { recursive: true }), mkdir(path.join(dir, 'e20'), { recursive: true })]);
      await Promise.all([
        writePhrases(guide, { seconds: 2, phraseSec: 1.5, pauseSec: 0.5, frequency: 220 }),
        writePhrases(converted(10), { seconds: 2, phraseSec: 1.5, pauseSec: 0.5, frequency: 330 }),
        writePhrases(converted(20), { seconds: 2, phraseSec: 1.5, pauseSec: 0.5, frequency: 440 }),
      ]);
      const input = oneGuide(guide, new Map([10, 20].map((n) => [n, converted(n)])));
      const tools = await testTools();
      const page = await writeAuditionPage(dir, input, tools, { concurrency: 2 });
      expect(page).toBe(path.join(dir, AUDITION_PAGE_FILE));
      const pictureDir = path.join(dir, SPECTROGRAMS_DIR);
      const first = (await readdir(pictureDir)).sort();
      expect(first).toHaveLength(3);
      for (const name of first) expect(name).toMatch(/^[0-9a-f]{16}\.png$/);
      const mtimes = await Promise.all(first.map(async (name) => (await stat(path.join(pictureDir, name))).mtimeMs));

      // Written again with the same audio: the same pictures, not drawn again.
      await writeAuditionPage(dir, input, tools);
      expect((await readdir(pictureDir)).sort()).toEqual(first);
      expect(await Promise.all(first.map(async (name) => (await stat(path.join(pictureDir, name))).mtimeMs))).toEqual(mtimes);

      // Epoch 20's audio replaced: its picture is drawn anew and the old one removed.
      const pictureOf20 = async (): Promise<string> =>
        /<img class="spectrogram" src="spectrograms\/([0-9a-f]{16}\.png)"[^>]*alt="spectrogram of alto@1 epoch 20, verse">/.exec(await readFile(page, 'utf8'))![1]!;
      const oldPicture = await pictureOf20();
      expect(first).toContain(oldPicture);
      await writePhrases(converted(20), { seconds: 2, phraseSec: 1, pauseSec: 1, frequency: 550 });
      await writeAuditionPage(dir, input, tools);
      const second = (await readdir(pictureDir)).sort();
      expect(second).toHaveLength(3);
      expect(second).not.toContain(oldPicture);
      expect(second).toContain(await pictureOf20());
      expect(second.filter((name) => first.includes(name))).toHaveLength(2);
    } finally {
      await cleanup();
    }
  });

  it('names the missing audio when a converted phrase is not there', async () => {
    const { dir, cleanup } = await makeTempDir('audition-missing');
    try {
      const missing = path.join(dir, 'e10', 'gone.wav');
      const guide = path.join(dir, 'guide.wav');
      await writeFile(guide, '');
      const input = oneGuide(guide, new Map([[10, missing]]));
      await expect(writeAuditionPage(dir, input, await testTools())).rejects.toMatchObject({ code: 'media_unreadable', subject: missing });
      await expect(stat(path.join(dir, AUDITION_PAGE_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await cleanup();
    }
  });
});
