import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, VoicestudioError } from '../../../src/errors.js';
import { analysisPath, clipsDir } from '../../../src/project/layout.js';
import { readManifest, updateManifest } from '../../../src/project/manifest.js';
import {
  excludedSegments,
  excludeFromTraining,
  includeInTraining,
  listSources,
  matchesStretch,
  removeSources,
  heldOutSegments,
  trainingSegments,
  trainingTotals,
  applyScreen,
  screenCandidates,
} from '../../../src/project/sources.js';
import type { Manifest, Segment, Source, SourceKind } from '../../../src/project/types.js';

let project: string;

beforeEach(async () => {
  project = await mkdtemp(path.join(tmpdir(), 'voicestudio-sources-'));
});

afterEach(async () => {
  await rm(project, { recursive: true, force: true });
});

function source(id: string, kind: SourceKind = 'singing', file = `takes/${id}.wav`): Source {
  return {
    id,
    sha256: id.padEnd(64, '0'),
    path: file,
    aliases: [],
    kind,
    durationSec: 60,
    sampleRate: 44100,
    channels: 1,
    codec: 'pcm_s16le',
    streamIndex: 0,
    workingFile: `.voicestudio/sources/${id}.wav`,
    sizeBytes: 5_292_044,
    ingestedAt: '2024-05-01T10:00:00.000Z',
    excludedClips: [],
  };
}

/** Clips as preprocess numbers them: `<sourceId>-0001`… in time order. */
function cut(sourceId: string, spans: [number, number][]): Segment[] {
  return spans.map(([startSec, endSec], index) => {
    const id = `${sourceId}-${String(index + 1).padStart(4, '0')}`;
    return { id, sourceId, file: `.voicestudio/clips/${sourceId}/${id}.flac`, startSec, endSec };
  });
}

/** A project on disk with these sources and clips, each with its working copy, analysis and clip files. */
async function writeProject(sources: Source[], segments: Segment[]): Promise<void> {
  await updateManifest(project, (m) => {
    m.sources = sources;
    m.segments = segments;
  });
  for (const s of sources) {
    await mkdir(path.join(project, '.voicestudio', 'sources'), { recursive: true });
    await writeFile(path.join(project, s.workingFile), 'working copy');
    await mkdir(path.dirname(analysisPath(project, s.id)), { recursive: true });
    await writeFile(analysisPath(project, s.id), 'analysis');
  }
  for (const segment of segments) {
    await mkdir(clipsDir(project, segment.sourceId), { recursive: true });
    await writeFile(path.join(project, segment.file), 'clip');
  }
}

/** What preprocess does when it re-cuts a source: its clips replaced by new ones, numbered afresh. */
async function recut(sourceId: string, spans: [number, number][]): Promise<Segment[]> {
  const segments = cut(sourceId, spans);
  await updateManifest(project, (m) => {
    m.segments = [...m.segments.filter((s) => s.sourceId !== sourceId), ...segments];
  });
  return segments;
}

async function manifest(): Promise<Manifest> {
  const m = await readManifest(project);
  if (m === undefined) throw new Error('no manifest');
  return m;
}

const ids = (segments: Segment[]): string[] => segments.map((s) => s.id);

describe('matchesStretch', () => {
  const stretch = { startSec: 10, endSec: 20 };

  it('ties a clip to the stretch it was, and to re-cuts that hold most of it', () => {
    expect(matchesStretch({ startSec: 10, endSec: 20 }, stretch)).toBe(true);
    // Cut shorter: both halves lie wholly inside the stretch.
    expect(matchesStretch({ startSec: 10, endSec: 15 }, stretch)).toBe(true);
    expect(matchesStretch({ startSec: 15, endSec: 20 }, stretch)).toBe(true);
    // Cut longer: the clip holds all of the stretch.
    expect(matchesStretch({ startSec: 5, endSec: 25 }, stretch)).toBe(true);
    // Boundaries moved a little (another silence threshold).
    expect(matchesStretch({ startSec: 9.6, endSec: 20.4 }, stretch)).toBe(true);
  });

  it('leaves out neighbours that only touch its edges', () => {
    expect(matchesStretch({ startSec: 0, endSec: 10 }, stretch)).toBe(false);
    expect(matchesStretch({ startSec: 0, endSec: 10.4 }, stretch)).toBe(false);
    expect(matchesStretch({ startSec: 19.5, endSec: 30 }, stretch)).toBe(false);
    expect(matchesStretch({ startSec: 30, endSec: 40 }, stretch)).toBe(false);
  });
});

describe('trainingSegments and trainingTotals', () => {
  it('leave out excluded sources, excluded clips and clips of no known source', () => {
    const a = source('aaaaaaaaaaaa');
    const b = { ...source('bbbbbbbbbbbb', 'speech'), excludedClips: [{ excludedAt: '2024-05-02T00:00:00.000Z', clipId: 'bbbbbbbbbbbb-0002', startSec: 10, endSec: 20 }] };
    const c = { ...source('cccccccccccc'), excluded: { excludedAt: '2024-05-02T00:00:00.000Z', reason: 'guest' } };
    const segments = [
      ...cut(a.id, [[0, 10], [10, 18]]),
      ...cut(b.id, [[0, 10], [10, 20], [20, 26]]),
      ...cut(c.id, [[0, 12]]),
      ...cut('dddddddddddd', [[0, 9]]),
    ];
    const m = { sources: [a, b, c], segments };
    expect(ids(trainingSegments(m))).toEqual(['aaaaaaaaaaaa-0001', 'aaaaaaaaaaaa-0002', 'bbbbbbbbbbbb-0001', 'bbbbbbbbbbbb-0003']);
    expect(trainingTotals(m)).toEqual({ clips: 4, totalSec: 34, singingSec: 18, speechSec: 16, singingShare: 18 / 34, heldOut: { clips: 0, seconds: 0 } });
    // A clip held out for audition is out of training; one held out and excluded is out of both.
    const held = { ...m, preprocess: { heldOut: ['aaaaaaaaaaaa-0002', 'bbbbbbbbbbbb-0002'] } };
    expect(ids(trainingSegments(held))).toEqual(['aaaaaaaaaaaa-0001', 'bbbbbbbbbbbb-0001', 'bbbbbbbbbbbb-0003']);
    expect(ids(heldOutSegments(held))).toEqual(['aaaaaaaaaaaa-0002']);
    expect(trainingTotals(held)).toMatchObject({ clips: 3, totalSec: 26, heldOut: { clips: 1, seconds: 8 } });
    const why = excludedSegments(m);
    expect(why.get('bbbbbbbbbbbb-0002')).toMatchObject({ by: 'clip', exclusion: { clipId: 'bbbbbbbbbbbb-0002' } });
    expect(why.get('cccccccccccc-0001')).toMatchObject({ by: 'source', exclusion: { reason: 'guest' } });
    expect(why.has('aaaaaaaaaaaa-0001')).toBe(false);
  });

  it('is empty with nothing to train on', () => {
    expect(trainingTotals({ sources: [], segments: [] })).toEqual({ clips: 0, totalSec: 0, singingSec: 0, speechSec: 0, singingShare: 0, heldOut: { clips: 0, seconds: 0 } });
  });
});

describe('excluding a clip', () => {
  const a = source('aaaaaaaaaaaa');

  it('keeps it out after preprocess re-cuts the source and renumbers its clips', async () => {
    await writeProject([a], cut(a.id, [[0, 9], [10, 19.5], [20, 29], [30, 38]]));
    const excluded = await excludeFromTraining(project, ['aaaaaaaaaaaa-0002'], { cwd: project, reason: 'cough' });
    expect(excluded.changes).toEqual([
      { given: 'aaaaaaaaaaaa-0002', sourceId: a.id, path: a.path, clip: { id: 'aaaaaaaaaaaa-0002', startSec: 10, endSec: 19.5 }, status: 'excluded', clips: ['aaaaaaaaaaaa-0002'] },
    ]);
    expect(excluded.training.clips).toBe(3);

    // Shorter clips: the old clip 2 is now clips 3 and 4; clip 2 ends where it began, clip 5 starts where it ended.
    await recut(a.id, [[0, 5], [5, 10.2], [10.2, 15], [15, 19.5], [19.5, 24], [24, 29], [30, 38]]);
    const m = await manifest();
    expect(ids(trainingSegments(m))).toEqual(['aaaaaaaaaaaa-0001', 'aaaaaaaaaaaa-0002', 'aaaaaaaaaaaa-0005', 'aaaaaaaaaaaa-0006', 'aaaaaaaaaaaa-0007']);
    const listed = await listSources(project);
    expect(listed.sources[0]?.excludedClips).toEqual([
      { excludedAt: expect.any(String), reason: 'cough', clipId: 'aaaaaaaaaaaa-0002', startSec: 10, endSec: 19.5, matches: ['aaaaaaaaaaaa-0003', 'aaaaaaaaaaaa-0004'] },
    ]);

    // Longer clips: the stretch now lies inside clip 1.
    await recut(a.id, [[0, 19.5], [20, 38]]);
    expect(ids(trainingSegments(await manifest()))).toEqual(['aaaaaaaaaaaa-0002']);
  });

  it('says it is already excluded when a re-cut clip lies in an excluded stretch, and adds nothing', async () => {
    await writeProject([a], cut(a.id, [[0, 9], [10, 19.5]]));
    await excludeFromTraining(project, ['aaaaaaaaaaaa-0002'], { cwd: project });
    await recut(a.id, [[0, 9], [10, 14], [14, 19.5]]);
    const again = await excludeFromTraining(project, ['aaaaaaaaaaaa-0003'], { cwd: project });
    expect(again.changes[0]).toMatchObject({ status: 'already excluded', clips: [], note: expect.stringContaining('aaaaaaaaaaaa-0002') });
    expect((await manifest()).sources[0]?.excludedClips).toHaveLength(1);
  });

  it('gives the re-cut clips back when the clip is included by any of their new ids', async () => {
    await writeProject([a], cut(a.id, [[0, 9], [10, 19.5]]));
    await excludeFromTraining(project, ['aaaaaaaaaaaa-0002'], { cwd: project });
    await recut(a.id, [[0, 9], [10, 14], [14, 19.5]]);
    const included = await includeInTraining(project, ['aaaaaaaaaaaa-0003'], { cwd: project });
    expect(included.changes[0]).toMatchObject({ status: 'included', clips: ['aaaaaaaaaaaa-0002', 'aaaaaaaaaaaa-0003'] });
    expect(ids(trainingSegments(await manifest()))).toHaveLength(3);
  });
});

describe('excluding and including a source', () => {
  it('keeps its files and clips, records the reason, and names the source by id or path', async () => {
    const a = source('aaaaaaaaaaaa');
    const b = source('bbbbbbbbbbbb');
    await writeProject([a, b], [...cut(a.id, [[0, 9]]), ...cut(b.id, [[0, 9], [10, 18]])]);
    await mkdir(path.join(project, 'takes'), { recursive: true });
    const byPath = await excludeFromTraining(project, ['bbbbbbbbbbbb.wav'], { cwd: path.join(project, 'takes'), reason: 'not the singer' });
    expect(byPath.changes[0]).toMatchObject({ sourceId: b.id, status: 'excluded', clips: ['bbbbbbbbbbbb-0001', 'bbbbbbbbbbbb-0002'] });
    const asStored = await excludeFromTraining(project, ['takes/bbbbbbbbbbbb.wav'], { cwd: tmpdir() });
    expect(asStored.changes[0]).toMatchObject({ sourceId: b.id, status: 'already excluded', clips: [] });
    const m = await manifest();
    expect(m.sources[1]?.excluded).toEqual({ excludedAt: expect.any(String), reason: 'not the singer' });
    expect(m.segments).toHaveLength(3);
    expect(await readFile(path.join(project, b.workingFile), 'utf8')).toBe('working copy');
    expect(ids(trainingSegments(m))).toEqual(['aaaaaaaaaaaa-0001']);

    const included = await includeInTraining(project, [b.id], { cwd: project });
    expect(included.changes[0]).toMatchObject({ status: 'included', clips: ['bbbbbbbbbbbb-0001', 'bbbbbbbbbbbb-0002'] });
    expect((await manifest()).sources[1]).not.toHaveProperty('excluded');
  });

  it('changes nothing when any name is unknown, and says how to find the names', async () => {
    const a = source('aaaaaaaaaaaa');
    await writeProject([a], cut(a.id, [[0, 9]]));
    const before = await readFile(path.join(project, 'voicestudio.json'), 'utf8');
    const error = await excludeFromTraining(project, [a.id, 'aaaaaaaaaaaa-0009', 'nope.wav'], { cwd: project }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VoicestudioError);
    expect((error as VoicestudioError).code).toBe(ErrorCode.SourceMissing);
    expect((error as VoicestudioError).message).toContain('"aaaaaaaaaaaa-0009", "nope.wav"');
    expect((error as VoicestudioError).suggestion).toContain('voicestudio sources list');
    expect(await readFile(path.join(project, 'voicestudio.json'), 'utf8')).toBe(before);
  });
});

describe('removeSources', () => {
  it('with --missing removes only sources whose file is gone, with their clips and files, never the originals', async () => {
    const kept = source('aaaaaaaaaaaa');
    const gone = { ...source('bbbbbbbbbbbb'), aliases: ['old/bbbbbbbbbbbb.wav'] };
    const renamed = { ...source('cccccccccccc'), aliases: ['elsewhere/c.wav'] };
    await writeProject([kept, gone, renamed], [...cut(kept.id, [[0, 9]]), ...cut(gone.id, [[0, 9], [10, 19]]), ...cut(renamed.id, [[0, 9]])]);
    await mkdir(path.join(project, 'takes'), { recursive: true });
    await mkdir(path.join(project, 'elsewhere'), { recursive: true });
    await writeFile(path.join(project, kept.path), 'the singer');
    await writeFile(path.join(project, 'elsewhere', 'c.wav'), 'the singer, under another name');

    const listed = await listSources(project);
    expect(listed.sources.map((s) => [s.id, s.original, s.workingCopy])).toEqual([
      [kept.id, 'present', 'present'],
      [gone.id, 'missing', 'present'],
      [renamed.id, 'present', 'present'],
    ]);

    const result = await removeSources(project, [], { cwd: project, missing: true });
    expect(result.removed).toEqual([
      {
        id: gone.id,
        path: gone.path,
        kind: 'singing',
        durationSec: 60,
        clips: 2,
        why: 'original missing',
        deleted: ['.voicestudio/sources/bbbbbbbbbbbb.wav', '.voicestudio/analysis/bbbbbbbbbbbb.vsan', '.voicestudio/clips/bbbbbbbbbbbb'],
      },
    ]);
    const m = await manifest();
    expect(m.sources.map((s) => s.id)).toEqual([kept.id, renamed.id]);
    expect(m.segments.map((s) => s.sourceId)).toEqual([kept.id, renamed.id]);
    expect(await readFile(path.join(project, kept.path), 'utf8')).toBe('the singer');
    expect(await readFile(path.join(project, kept.workingFile), 'utf8')).toBe('working copy');

    expect((await removeSources(project, [], { cwd: project, missing: true })).removed).toEqual([]);
  });

  it('removes a named source, and warns when a folder scan would take its file in again', async () => {
    const a = source('aaaaaaaaaaaa');
    await writeProject([a], cut(a.id, [[0, 9]]));
    await mkdir(path.join(project, 'takes'), { recursive: true });
    await writeFile(path.join(project, a.path), 'the singer');
    const result = await removeSources(project, [a.path], { cwd: project, missing: false });
    expect(result.removed[0]).toMatchObject({ id: a.id, why: 'named', note: expect.stringContaining('next ingest') });
    expect((await manifest()).sources).toEqual([]);
    expect(await readFile(path.join(project, a.path), 'utf8')).toBe('the singer');
  });

  it('refuses a clip id and an empty request as usage errors', async () => {
    const a = source('aaaaaaaaaaaa');
    await writeProject([a], cut(a.id, [[0, 9]]));
    for (const names of [['aaaaaaaaaaaa-0001'], []]) {
      const error = (await removeSources(project, names, { cwd: project, missing: false }).catch((e: unknown) => e)) as VoicestudioError;
      expect(error.code).toBe(ErrorCode.Usage);
      expect(error.exitCode).toBe(2);
    }
    expect((await manifest()).sources).toHaveLength(1);
  });
});

describe('the speaker screen\'s exclusions', () => {
  const manifestWith = (sources: Source[], segments: Segment[]): Manifest => ({
    version: 4,
    createdAt: '2024-05-01T10:00:00.000Z',
    updatedAt: '2024-05-01T10:00:00.000Z',
    sources,
    segments,
    preprocess: { records: [], heldOut: [] },
    models: [],
    jobs: [],
  });
  const NOW = new Date('2024-06-01T00:00:00.000Z');

  it('judges every clip the user has not kept out, held-out ones and those the screen excluded included', () => {
    const a = source('a');
    const b = { ...source('b'), excluded: { excludedAt: '2024-05-02T00:00:00.000Z' } };
    const clips = [...cut('a', [[0, 8], [8, 16], [16, 24]]), ...cut('b', [[0, 8]])];
    a.excludedClips = [
      { excludedAt: '2024-05-02T00:00:00.000Z', clipId: 'a-0001', startSec: 0, endSec: 8 },
      { excludedAt: '2024-05-02T00:00:00.000Z', clipId: 'a-0002', startSec: 8, endSec: 16, screen: { similarity: 0.4, threshold: 0.75 } },
    ];
    const manifest = { ...manifestWith([a, b], clips), preprocess: { records: [], heldOut: ['a-0003'] } };
    expect(screenCandidates(manifest).map((s) => s.id)).toEqual(['a-0002', 'a-0003']);
  });

  it('replaces its own exclusions: a clip no longer below the threshold goes back to training; the user\'s stay', () => {
    const a = source('a');
    const clips = cut('a', [[0, 8], [8, 16], [16, 24]]);
    a.excludedClips = [{ excludedAt: '2024-05-02T00:00:00.000Z', clipId: 'a-0001', startSec: 0, endSec: 8, reason: 'cough' }];
    const manifest = manifestWith([a], clips);
    const first = applyScreen(manifest, [{ segment: clips[1]!, similarity: 0.61234 }], 0.75, NOW);
    expect(first).toEqual({ excluded: ['a-0002'], reincluded: [] });
    expect(a.excludedClips[1]).toMatchObject({ clipId: 'a-0002', startSec: 8, endSec: 16, screen: { similarity: 0.612, threshold: 0.75 }, excludedAt: NOW.toISOString() });
    expect(excludedSegments(manifest).get('a-0002')).toMatchObject({ by: 'clip' });

    // Another threshold: a-0002 passes, a-0003 does not.
    const second = applyScreen(manifest, [{ segment: clips[2]!, similarity: 0.65 }], 0.6, NOW);
    expect(second).toEqual({ excluded: ['a-0003'], reincluded: ['a-0002'] });
    expect(a.excludedClips.map((c) => [c.clipId, c.screen?.threshold])).toEqual([['a-0001', undefined], ['a-0003', 0.6]]);

    // Nothing below: every screen exclusion lifted, the user's exclusion of a-0001 untouched.
    expect(applyScreen(manifest, [], 0.1, NOW)).toEqual({ excluded: [], reincluded: ['a-0003'] });
    expect(a.excludedClips).toEqual([{ excludedAt: '2024-05-02T00:00:00.000Z', clipId: 'a-0001', startSec: 0, endSec: 8, reason: 'cough' }]);
    expect(trainingSegments(manifest).map((s) => s.id)).toEqual(['a-0002', 'a-0003']);
  });
});
