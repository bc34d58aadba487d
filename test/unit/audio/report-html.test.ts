import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeAnalysisFile } from '../../../src/audio/analysis-cache.js';
import type { PcmAnalysis } from '../../../src/audio/analysis.js';
import { fromProject } from '../../../src/util/files.js';
import { analysisPath, htmlReportPath } from '../../../src/project/layout.js';
import { DEFAULT_PREPROCESS_SETTINGS } from '../../../src/audio/preprocess-settings.js';
import { buildDatasetReport } from '../../../src/audio/quality.js';
import {
  WAVEFORM_COLUMNS,
  clipHref,
  escapeHtml,
  levelEnvelope,
  renderReportHtml,
  sourceTimeline,
  writeReportHtml,
  type LevelEnvelope,
  type ReportPageInput,
} from '../../../src/audio/report-html.js';
import type { DroppedClip, Segment, SourceQualityReport } from '../../../src/project/types.js';
import { makeTempDir } from '../../helpers/cli.js';

const PROJECT = path.resolve('/projects/my vocals');
const HOP_SEC = 0.01;

function sourceReport(fields: Partial<SourceQualityReport> & Pick<SourceQualityReport, 'sourceId' | 'durationSec'>): SourceQualityReport {
  return {
    path: `${fields.sourceId}.wav`,
    kind: 'singing',
    keptSec: 0,
    droppedSec: 0,
    soundSec: 0,
    keptSoundSec: 0,
    lostSoundSec: { too_short: 0, silence: 0, clipping: 0 },
    silenceThresholdDb: -40,
    keptWhole: false,
    clips: { count: 0, minSec: 0, medianSec: 0, maxSec: 0, histogram: [] },
    dropped: [],
    clippedShare: 0,
    peakDbfs: -3,
    noiseFloorDbfs: -60,
    snrDb: 40,
    loudnessLufs: -18,
    warnings: [],
    ...fields,
  };
}

/** Clips of `clipSec` every `periodSec` from 0, as preprocess names them. */
function clipsOf(sourceId: string, count: number, clipSec: number, periodSec: number): Segment[] {
  return Array.from({ length: count }, (_, i) => {
    const id = `${sourceId}-${String(i + 1).padStart(4, '0')}`;
    return { id, sourceId, file: `.voicestudio/clips/${sourceId}/${id}.flac`, startSec: i * periodSec, endSec: i * periodSec + clipSec };
  });
}

/** Levels alternating between voice (-18 dBFS) and pause (-65 dBFS) every `periodSec`. */
function levels(durationSec: number, periodSec = 10): Float32Array {
  return Float32Array.from({ length: Math.round(durationSec / HOP_SEC) }, (_, i) => ((i * HOP_SEC) % periodSec < periodSec - 1 ? -18 : -65));
}

function page(sources: SourceQualityReport[], segments: Segment[], extra: Partial<ReportPageInput> = {}): string {
  const envelopes = new Map<string, LevelEnvelope>(sources.map((s) => [s.sourceId, levelEnvelope(levels(s.durationSec), HOP_SEC)]));
  return renderReportHtml({
    report: buildDatasetReport(sources, DEFAULT_PREPROCESS_SETTINGS, new Date('2026-01-02T03:04:05Z')),
    segments,
    projectDir: PROJECT,
    levels: envelopes,
    ...extra,
  });
}

function count(html: string, pattern: RegExp): number {
  return [...html.matchAll(new RegExp(pattern.source, 'g'))].length;
}

/** Every src and href value in the page. */
function links(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
}

describe('renderReportHtml', () => {
  it('escapes every string from the user: file names, warnings, reasons, the project folder', () => {
    const evil = `<script>alert("x")</script>&'.wav`;
    const source = sourceReport({
      sourceId: 'a1b2c3d4e5f6',
      path: evil,
      durationSec: 30,
      keptSec: 8,
      droppedSec: 3,
      dropped: [{ startSec: 20, endSec: 23, reason: 'too_short', detail: '<img src=x onerror=alert(1)>', soundSec: 0 }],
      warnings: [{ code: 'source_noisy', scope: 'a1b2c3d4e5f6', message: `${evil} is <b>noisy</b>`, suggestion: 'Try "--denoise" & <i>see</i>' }],
    });
    const segment: Segment = { id: 'a1b2c3d4e5f6-0001', sourceId: 'a1b2c3d4e5f6', file: '.voicestudio/clips/a1b2c3d4e5f6/<x>.flac', startSec: 0, endSec: 8 };
    const html = page([source], [segment], { projectDir: path.resolve('/p/<project>'), failed: [{ path: '<b>gone</b>.wav', reason: 'missing <file>', suggestion: '<u>ingest</u>' }] });

    expect(/<script|<img|<b>gone|<b>noisy|<i>see|<u>|<x>|<project>/.exec(html)?.[0]).toBeUndefined();
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;.wav');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('Try &quot;--denoise&quot; &amp; &lt;i&gt;see&lt;/i&gt;');
    expect(html).toContain('&lt;b&gt;gone&lt;/b&gt;.wav');
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  });

  it('points each player at its clip by a URL relative to the page, percent-encoded', () => {
    const odd = '.voicestudio/clips/abc/take #1 – süß?.flac';
    expect(clipHref(PROJECT, odd)).toBe('clips/abc/take%20%231%20%E2%80%93%20s%C3%BC%C3%9F%3F.flac');
    expect(clipHref(PROJECT, '/elsewhere/x y.flac')).toBe('../../../elsewhere/x%20y.flac');
    const segments: Segment[] = [
      { id: 'abc-0001', sourceId: 'abc', file: odd, startSec: 0, endSec: 6 },
      { id: 'abc-0002', sourceId: 'abc', file: '.voicestudio/clips/abc/abc-0002.flac', startSec: 7, endSec: 14 },
    ];
    const html = page([sourceReport({ sourceId: 'abc', durationSec: 20, keptSec: 13 })], segments);
    const sources = [...html.matchAll(/<audio controls preload="none" src="([^"]*)"/g)].map((m) => m[1]!);
    expect(sources).toHaveLength(2);
    // Resolved the way a browser resolves them against the page's own URL, they name the clip files.
    const pageUrl = pathToFileURL(htmlReportPath(PROJECT));
    expect(sources.map((src) => new URL(src.replaceAll('&amp;', '&'), pageUrl).href)).toEqual(segments.map((s) => pathToFileURL(fromProject(PROJECT, s.file)).href));
  });

  it('marks every kept clip (linked to its player), every dropped stretch (with reason and detail) and the silences', () => {
    const dropped: DroppedClip[] = [
      { startSec: 40, endSec: 42.5, reason: 'too_short', detail: '2.5 s, under the 5 s minimum', soundSec: 0 },
      { startSec: 50, endSec: 60, reason: 'clipping', detail: '1.2 % of samples clipped', soundSec: 0 },
    ];
    const segments = clipsOf('s1', 4, 9, 10); // 0–9, 10–19, 20–29, 30–39
    const source = sourceReport({ sourceId: 's1', durationSec: 65, keptSec: 36, droppedSec: 12.5, dropped });
    const html = page([source], segments);

    expect(count(html, /<svg class="waveform"/)).toBe(1);
    for (const segment of segments) {
      expect(html).toContain(`<a class="region" href="#clip-${segment.id}">`);
      expect(html).toMatch(new RegExp(`<tr id="clip-${segment.id}" class="kept">.*?<audio controls preload="none" src="clips/s1/${segment.id}\\.flac"`));
    }
    expect(count(html, /<rect class="kept"/)).toBe(4);
    expect(count(html, /<rect class="dropped"/)).toBe(2);
    expect(html).toContain('<title>dropped, too short · 0:40.0–0:42.5 (2.5 s): 2.5 s, under the 5 s minimum</title>');
    expect(html).toContain('dropped, <b>clipping</b>: 1.2 % of samples clipped');
    // Silences: the four 1 s gaps after clips, 42.5–50 and 60–65.
    expect(count(html, /<rect class="silence"/)).toBe(6);
    expect(html).toContain('<title>silence · 0:42.5–0:50.0 (7.5 s)</title>');
    expect(html).toMatch(/<desc id="wf-s1-d">4 kept clips \(36\.0 s\), 2 dropped stretches \(12\.5 s\), 16\.5 s of silence between them\. Noise floor \(dashed\) −60\.0 dBFS\.<\/desc>/);
    // The figures: silence is what is neither kept nor dropped.
    expect(html).toMatch(/<dt title="[^"]*">silence<\/dt><dd class="" title="25 % of 1:05">16\.5 s<\/dd>/);
  });

  it('covers the whole source with its timeline, in time order', () => {
    const regions = sourceTimeline(30, clipsOf('s', 2, 6, 12).reverse(), [{ startSec: 24, endSec: 27, reason: 'silence', detail: '80 % silence', soundSec: 0 }]);
    expect(regions.map((r) => [r.kind, r.startSec, r.endSec, r.number])).toEqual([
      ['kept', 0, 6, 1],
      ['silence', 6, 12, 0],
      ['kept', 12, 18, 2],
      ['silence', 18, 24, 0],
      ['dropped', 24, 27, 1],
      ['silence', 27, 30, 0],
    ]);
    // Rounding between touching stretches is not a silence.
    expect(sourceTimeline(10, [{ id: 'x-0001', sourceId: 'x', file: 'a', startSec: 0, endSec: 5.001 }], [{ startSec: 5.003, endSec: 10, reason: 'too_short', detail: '', soundSec: 0 }]).map((r) => r.kind)).toEqual(['kept', 'dropped']);
  });

  it('stays small for an hour-long source with hundreds of clips', () => {
    const durationSec = 3600;
    const segments = clipsOf('long', 360, 9, 10);
    const dropped = Array.from({ length: 60 }, (_, i): DroppedClip => ({ startSec: i * 60 + 9.2, endSec: i * 60 + 9.8, reason: 'too_short', detail: '0.6 s, under the 5 s minimum', soundSec: 0 }));
    // The worst case for size: every column of the waveform at another level.
    const framesPerColumn = durationSec / HOP_SEC / WAVEFORM_COLUMNS;
    const restless = Float32Array.from({ length: durationSec / HOP_SEC }, (_, i) => -70 + (60 * ((Math.floor(i / framesPerColumn) * 7919) % 997)) / 997);
    const html = page([sourceReport({ sourceId: 'long', durationSec, keptSec: 3240, droppedSec: 36, dropped })], segments, {
      levels: new Map([['long', levelEnvelope(restless, HOP_SEC)]]),
    });
    expect(count(html, /<audio /)).toBe(360);
    // The waveform spans WAVEFORM_COLUMNS columns of the view box, not one per 10 ms frame (360 000), in at most as many steps.
    expect(html).toContain(`viewBox="0 0 ${WAVEFORM_COLUMNS} 100"`);
    const paths = [...html.matchAll(/<path class="(?:peak|mean)" fill="[^"]*" d="([^"]*)"/g)].map((m) => m[1]!);
    expect(paths).toHaveLength(2);
    for (const d of paths) {
      const steps = [...d.matchAll(/h(\d+)/g)].map((m) => Number(m[1]));
      expect(steps.reduce((a, b) => a + b, 0)).toBe(WAVEFORM_COLUMNS);
      expect(steps.length).toBeGreaterThan(WAVEFORM_COLUMNS / 2);
    }
    expect(Buffer.byteLength(html)).toBeLessThan(400_000);
  });

  it('renders a report with no source, a source with no clips, a failed source and a source without a level map', () => {
    const empty = page([], [], { failed: [{ path: 'gone.wav', reason: 'gone.wav: its working copy is missing.', suggestion: 'Ingest the file again' }] });
    expect(empty).toContain('No source has a report yet.');
    expect(empty).toContain('<section class="failed"><h2>Not processed (1)</h2>');
    expect(empty).toContain('<b>gone.wav</b>: gone.wav: its working copy is missing.<span class="sugg">Ingest the file again</span>');
    expect(count(empty, /<svg class="waveform"/)).toBe(0);

    const silent = sourceReport({ sourceId: 'quiet', durationSec: 12, noiseFloorDbfs: -120, snrDb: 0, loudnessLufs: -120, peakDbfs: -120 });
    const unanalysed = sourceReport({ sourceId: 'noanalysis', durationSec: 20, keptSec: 8 });
    const html = renderReportHtml({
      report: buildDatasetReport([silent, unanalysed], DEFAULT_PREPROCESS_SETTINGS, new Date()),
      segments: clipsOf('noanalysis', 1, 8, 10),
      projectDir: PROJECT,
      levels: new Map([['quiet', levelEnvelope(new Float32Array(1200).fill(-120), HOP_SEC)]]),
    });
    expect(count(html, /<svg class="waveform"/)).toBe(2);
    expect(html).toContain('Nothing was cut from this source.');
    expect(html).toContain('no level map saved for this source');
    // Digital silence has no noise floor to draw and shows "–" for its levels.
    expect(count(html, /<g class="floor">/)).toBe(1);
    expect(html).toMatch(/<dt title="[^"]*">noise dBFS<\/dt><dd class="">–<\/dd>/);
  });

  it('loads nothing from outside: no script, no remote URL, only fragments and relative clip paths', () => {
    const html = page([sourceReport({ sourceId: 's1', durationSec: 30, keptSec: 9 })], clipsOf('s1', 1, 9, 10));
    expect(html).not.toMatch(/<script|<link rel="stylesheet"|@import|url\((?!#)/);
    for (const link of links(html)) expect(link).toMatch(/^(#[\w-]+|clips\/[\w./-]+|data:,)$/);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none';`);
  });

  it('marks the clips kept out of training, with why', () => {
    const segments = clipsOf('s1', 2, 6, 10);
    const html = page([sourceReport({ sourceId: 's1', durationSec: 20, keptSec: 12 })], segments, { excluded: new Map([[segments[1]!.id, 'excluded (a cough)']]) });
    expect(html).toContain(`<tr id="clip-${segments[1]!.id}" class="kept excluded">`);
    expect(html).toContain('<b>not used for training</b>: excluded (a cough)');
    expect(html).toContain(`<tr id="clip-${segments[0]!.id}" class="kept">`);
  });

  it('shows the sound of each source, kept and lost with the reasons', () => {
    const withSound = sourceReport({ sourceId: 's1', durationSec: 60, keptSec: 40, soundSec: 50, keptSoundSec: 48, lostSoundSec: { too_short: 1.5, clipping: 0.5, silence: 0 } });
    const html = page([withSound], []);
    expect(html).toMatch(/<th class="num" title="[^"]*">sound<\/th>/);
    expect(html).toMatch(/<td class="num" title="83 % of 1:00">50\.0 s<\/td>/);
    expect(html).toMatch(/<td class="num" title="96 % of 50\.0 s">48\.0 s<\/td>/);
    expect(html).toMatch(/<td class="num" title="too short: 1\.5 s, clipping: 0\.5 s">2\.0 s<\/td>/);
  });
});

describe('levelEnvelope', () => {
  it('keeps the loudest frame and the mean power of each column', () => {
    const envelope = levelEnvelope(Float32Array.from([-20, -20, -60, -10, -120, -120]), 0.01, 3);
    expect(envelope.spanSec).toBeCloseTo(0.06, 9);
    expect([...envelope.peakDb]).toEqual([-20, -10, -120]);
    expect(envelope.meanDb[0]).toBeCloseTo(-20, 4);
    // Mean power of -60 and -10 dBFS: 10·log10((1e-6 + 1e-1) / 2).
    expect(envelope.meanDb[1]).toBeCloseTo(10 * Math.log10((1e-6 + 1e-1) / 2), 4);
    expect(levelEnvelope(new Float32Array(10), 0.01).peakDb).toHaveLength(10);
  });
});

describe('writeReportHtml', () => {
  it('draws each source from its saved analysis and writes the page in one piece', async () => {
    const { dir, cleanup } = await makeTempDir('report-html');
    try {
      const rmsDb = levels(30);
      const analysis: PcmAnalysis = {
        sampleRate: 44100, channels: 1, hopSec: HOP_SEC, hopSamples: 441, totalFrames: 30 * 44100, durationSec: 30, frameCount: rmsDb.length,
        rmsDb, clippedPerHop: new Uint16Array(rmsDb.length), clippedSamples: 0, peakDbfs: -3, integratedLufs: -18,
      };
      await writeAnalysisFile(analysisPath(dir, 'withlevels'), analysis);
      const sources = [sourceReport({ sourceId: 'withlevels', durationSec: 30, keptSec: 9 }), sourceReport({ sourceId: 'without', durationSec: 10 })];
      await mkdir(path.join(dir, '.voicestudio'), { recursive: true });
      const file = await writeReportHtml(dir, { report: buildDatasetReport(sources, DEFAULT_PREPROCESS_SETTINGS, new Date()), segments: clipsOf('withlevels', 1, 9, 10) });
      expect(file).toBe(htmlReportPath(dir));
      const html = await readFile(file, 'utf8');
      expect(html).toMatch(/^<!doctype html>[\s\S]*<\/html>\n$/);
      expect(count(html, /<svg class="envelope"/)).toBe(1);
      expect(html).toContain('<svg class="waveform" data-source="without"');
      expect(html).toContain('no level map saved for this source');
      expect(await readdir(path.join(dir, '.voicestudio'))).toEqual(expect.not.arrayContaining([expect.stringMatching(/\.tmp-/)]));
    } finally {
      await cleanup();
    }
  });
});
