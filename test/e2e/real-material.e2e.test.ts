/**
 * ingest → preprocess through bin/voicestudio on material shaped like real recordings (test/helpers/realistic.ts):
 * sung phrases joined by breaths, held notes, pre-cut takes, three rates and layouts, a phone video whose audio ends
 * before its picture, speech. What is kept is measured independently: silencedetect on the ORIGINAL file says where
 * the sound is, the manifest's segment spans say what the clips hold, ffprobe checks that the clip files really are
 * that long, and the generator's ground truth says where the phrases are. voicestudio's own figures are not used.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetQualityReport, Manifest, Segment, Source } from '../../src/project/types.js';
import { testTools } from '../helpers/audio.js';
import { makeTempDir, parseJson, runCli, type CliRun } from '../helpers/cli.js';
import { cutsInsidePhrases, measureSound, probeAudio, soundCoverage, type ProbedAudio, type SoundMeasure } from '../helpers/measure.js';
import { REALISTIC_SET, runTwoAtATime, writeRealisticSet, type RealisticSet, type RealisticSource } from '../helpers/realistic.js';

const MIN_CLIP_SEC = 5;
const MAX_CLIP_SEC = 15;
/** Share of a source's sound that must end up in clips. */
const KEPT_SHARE = 0.95;
/** A clip boundary this close to a phrase's edge is at the edge (attack and release ramps, analysis frames). */
const PHRASE_EDGE_SEC = 0.1;
/** A clip file may differ this much from the span the manifest records for it. */
const CLIP_LENGTH_SEC = 0.1;
/** Clip lengths are whole analysis frames: 5 s may come out a frame short or 15 s a frame long. */
const FRAME_SEC = 0.02;

let root: string;
let cleanup: () => Promise<void>;
let project: string;
let material: RealisticSet;
let ingestRuns: CliRun[];
let preprocessRun: CliRun;
let manifest: Manifest;
let report: DatasetQualityReport | undefined;
const ingestStatus = new Map<string, { status: string; reason?: string }>();
const originalSound = new Map<string, SoundMeasure>();
const clipProbes = new Map<string, ProbedAudio>();

interface Ingested {
  files: { path: string; status: string; reason?: string }[];
}

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTempDir('real-material'));
  project = path.join(root, 'vocals');
  const tools = await testTools();
  material = await writeRealisticSet(tools, path.join(project, 'recordings'), 1);

  const files = (kind: 'singing' | 'speech') => material.sources.filter((s) => s.kind === kind).map((s) => s.file);
  ingestRuns = [await runCli(['ingest', project, ...files('singing'), '--json'])];
  if (files('speech').length > 0) ingestRuns.push(await runCli(['ingest', project, ...files('speech'), '--kind', 'speech', '--json']));
  for (const run of ingestRuns) {
    for (const file of parseJson<Ingested>(run).files) ingestStatus.set(path.resolve(project, file.path), file);
  }
  preprocessRun = await runCli(['preprocess', project, '--json']);
  manifest = JSON.parse(await readFile(path.join(project, 'voicestudio.json'), 'utf8')) as Manifest;
  try {
    report = JSON.parse(await readFile(path.join(project, '.voicestudio', 'quality-report.json'), 'utf8')) as DatasetQualityReport;
  } catch {
    report = undefined;
  }

  await runTwoAtATime([
    ...material.sources.map((source) => async () => void originalSound.set(source.name, await measureSound(tools, source.file))),
    ...manifest.segments.map((segment) => async () => void clipProbes.set(segment.id, await probeAudio(tools, path.join(project, segment.file)))),
  ]);
}, 600_000);

afterAll(async () => {
  await cleanup();
});

const sourceOf = (generated: RealisticSource): Source | undefined => manifest.sources.find((s) => path.resolve(project, s.path) === generated.file);
const clipsOf = (source: Source): Segment[] => manifest.segments.filter((s) => s.sourceId === source.id).sort((a, b) => a.startSec - b.startSec);
const seconds = (value: number) => `${value.toFixed(2)} s`;

/** The generated source and its manifest record; skips (speech without espeak-ng) or fails with what ingest said. */
function ingested(name: string, skip: (note: string) => never): { generated: RealisticSource; source: Source } {
  const skipped = material.skipped.find((s) => s.name === name);
  if (skipped !== undefined) skip(skipped.reason);
  const generated = material.sources.find((s) => s.name === name)!;
  const source = sourceOf(generated);
  if (source === undefined) {
    const status = ingestStatus.get(generated.file);
    throw new Error(`${name} is not in the project: ingest said ${status?.status ?? 'nothing'}${status?.reason === undefined ? '' : ` (${status.reason})`}`);
  }
  return { generated, source };
}

/** Whether voicestudio tells the user about a source: a warning of its own, or a dataset warning naming it. */
function reported(source: Source): boolean {
  const own = report?.sources.find((s) => s.sourceId === source.id)?.warnings ?? [];
  const dataset = (report?.warnings ?? []).filter((w) => w.scope === source.id || w.message.includes(source.path));
  return own.length + dataset.length > 0;
}

it('preprocess succeeds on the realistic material', () => {
  expect(preprocessRun.exitCode, preprocessRun.stderr).toBe(0);
});

it('ingests the video whose audio stream ends 2 s before its picture, judging its length by the audio', async (context) => {
  const { generated, source } = ingested('phone-video.mp4', context.skip);
  const probe = await probeAudio(await testTools(), generated.file);
  expect(probe.containerDurationSec - probe.durationSec).toBeGreaterThan(1.9);
  expect(ingestStatus.get(generated.file)?.status).toBe('added');
  expect(source.durationSec).toBeCloseTo(probe.durationSec, 1);
});

describe.each(REALISTIC_SET.map((entry) => [entry.name]))('%s', (name) => {
  it('is ingested', (context) => {
    const { generated } = ingested(name, context.skip);
    expect(ingestStatus.get(generated.file)?.status).toBe('added');
  });

  it(`keeps at least ${KEPT_SHARE * 100} % of its sound (silencedetect on the original) in clips`, (context) => {
    const { source } = ingested(name, context.skip);
    const sound = originalSound.get(name)!;
    const clips = clipsOf(source);
    const coverage = soundCoverage(sound.sound, clips);
    expect(
      coverage.share,
      `${name}: ${seconds(coverage.keptSec)} of ${seconds(coverage.soundSec)} of sound kept in ${clips.length} clip(s) ` +
        `[${clips.map((c) => `${c.startSec.toFixed(2)}–${c.endSec.toFixed(2)}`).join(', ')}] ` +
        `(silencedetect ${sound.thresholdDb.toFixed(1)} dB, ${sound.minSilenceSec} s)`,
    ).toBeGreaterThanOrEqual(KEPT_SHARE);
  });

  it(`cuts clips of ${MIN_CLIP_SEC}–${MAX_CLIP_SEC} s, or keeps a source with less sound than that whole and says so`, (context) => {
    const { source } = ingested(name, context.skip);
    const clips = clipsOf(source);
    expect(clips.length, `${name} has no clips`).toBeGreaterThan(0);
    const sound = originalSound.get(name)!.sound;
    const soundSpan = sound.length === 0 ? 0 : sound.at(-1)!.endSec - sound[0]!.startSec;
    for (const clip of clips) {
      const length = clip.endSec - clip.startSec;
      expect(length, `${clip.id} (${clip.startSec}–${clip.endSec}) is longer than ${MAX_CLIP_SEC} s`).toBeLessThanOrEqual(MAX_CLIP_SEC + FRAME_SEC);
      if (length >= MIN_CLIP_SEC - FRAME_SEC) continue;
      // Under the minimum: only a source whose sound is all shorter than the minimum, kept as one clip, and reported.
      expect(soundSpan, `${clip.id} lasts ${seconds(length)} but the sound of ${name} spans ${seconds(soundSpan)}`).toBeLessThan(MIN_CLIP_SEC + PHRASE_EDGE_SEC);
      expect(clips.length, `${name} is short, so it should be one whole clip`).toBe(1);
      expect(reported(source), `${name} was kept as a ${seconds(length)} clip without a word in the quality report`).toBe(true);
    }
  });

  it('never cuts inside a phrase (except a held note longer than a clip)', (context) => {
    const { generated, source } = ingested(name, context.skip);
    const phrases = generated.events.filter((e) => e.kind === 'phrase' && e.endSec - e.startSec <= MAX_CLIP_SEC);
    const cuts = cutsInsidePhrases(phrases, clipsOf(source), PHRASE_EDGE_SEC);
    expect(cuts, `${name}: ${cuts.join('; ')}`).toEqual([]);
  });

  it('writes clip files as long as the spans the manifest records', (context) => {
    const { source } = ingested(name, context.skip);
    for (const clip of clipsOf(source)) {
      const probed = clipProbes.get(clip.id)!;
      expect(Math.abs(probed.durationSec - (clip.endSec - clip.startSec)), `${clip.file}: ${probed.durationSec} s on disk, ${clip.startSec}–${clip.endSec} in the manifest`).toBeLessThanOrEqual(CLIP_LENGTH_SEC);
    }
  });
});
