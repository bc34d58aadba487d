/**
 * The speaker screen through bin/voicestudio against the RunPod emulator, which runs the real worker and its real
 * speaker embeddings (Resemblyzer, on the CPU, from the GPU worker's test environment). The project is made at test
 * time from two espeak-ng voices: an "interview" where voice A and voice B take turns, and a "singing" source of A
 * alone. Every clip is labelled by the voice that covers most of it on the known timeline, and the screen's result
 * (the manifest's exclusions) is measured against those labels.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelVersion } from '../../src/project/models.js';
import type { Manifest } from '../../src/project/types.js';
import type { ScreenResult } from '../../src/workflows/screen.js';
import type { TrainResult } from '../../src/workflows/train.js';
import { startEmulator, type Emulator } from '../emulator/runpod-emulator.js';
import { testTools } from '../helpers/audio.js';
import { espeakUnavailable, SPEECH_PARAGRAPHS, writeSpeech, type SpokenTurn } from '../helpers/realistic.js';
import { makeTempDir, parseJson, runCli } from '../helpers/cli.js';
// @ts-expect-error -- a plain ES module of the build scripts, without types
import { gpuVenvDir } from '../../scripts/gpu-venv.mjs';

/** The worker's test environment (npm run setup:python) holds Resemblyzer, which the screen task needs. */
const venvPython = path.join((gpuVenvDir as () => string)(), 'bin', 'python');
const hasVenv = existsSync(venvPython);
if (!hasVenv) console.warn(`screen end-to-end tests skipped: no GPU worker environment at ${venvPython}; build it with "npm run setup:python".`);
const noEspeak = await espeakUnavailable();
if (noEspeak !== undefined) console.warn(`screen end-to-end tests skipped: ${noEspeak} (apt-get install espeak-ng)`);

/** Two clearly different voices: espeak-ng's default male English and its female American variant. */
const VOICE_A = 'en';
const VOICE_B = 'en-us+f4';

let emulator: Emulator;
let root: string;
let cleanup: () => Promise<void>;
let project: string;
let env: NodeJS.ProcessEnv;
/** Which voice read which stretch, by source file name. */
const timelines = new Map<string, SpokenTurn[]>();

const readProject = async (): Promise<Manifest> => JSON.parse(await readFile(path.join(project, 'voicestudio.json'), 'utf8')) as Manifest;
const jobsOf = (task: string) => emulator.jobs().filter((j) => j.input.task === task);

/** Each clip's voice: the one whose turns cover most of it on the known timeline. */
function labels(manifest: Manifest): Map<string, string> {
  const out = new Map<string, string>();
  for (const segment of manifest.segments) {
    const source = manifest.sources.find((s) => s.id === segment.sourceId)!;
    const turns = timelines.get(path.basename(source.path))!;
    const cover = new Map<string, number>();
    for (const t of turns) {
      const overlap = Math.min(t.endSec, segment.endSec) - Math.max(t.startSec, segment.startSec);
      if (overlap > 0) cover.set(t.voice, (cover.get(t.voice) ?? 0) + overlap);
    }
    const [voice] = [...cover.entries()].sort((a, b) => b[1] - a[1])[0]!;
    out.set(segment.id, voice);
  }
  return out;
}

/** The clips the screen keeps out, as the manifest records them (clip ids: nothing re-cuts between the runs). */
const screenedOut = (manifest: Manifest): Set<string> =>
  new Set(manifest.sources.flatMap((s) => s.excludedClips.filter((c) => c.screen !== undefined).map((c) => c.clipId)));

describe.skipIf(!hasVenv || noEspeak !== undefined)('screen', () => {
  beforeAll(async () => {
    ({ dir: root, cleanup } = await makeTempDir('screen'));
    emulator = await startEmulator({ workers: 2, python: venvPython });
    project = path.join(root, 'interviews');
    await mkdir(project);
    const tools = await testTools();
    const format = { sampleRate: 44100, channels: 1 } as const;
    const paragraphs = [...SPEECH_PARAGRAPHS, ...SPEECH_PARAGRAPHS];
    const written = await Promise.all([
      // A and B take turns of one paragraph (6–9 s) each, with longer pauses where the speaker changes.
      writeSpeech(tools, path.join(root, 'interview.wav'), { ...format, seed: 11, paragraphs, voices: [VOICE_A, VOICE_B] }),
      writeSpeech(tools, path.join(project, 'singing 1.wav'), { ...format, seed: 12, voices: [VOICE_A] }),
      writeSpeech(tools, path.join(project, 'singing 2.wav'), { ...format, seed: 13, voices: [VOICE_A] }),
    ]);
    for (const w of written) {
      if ('skipped' in w) throw new Error(w.skipped);
      timelines.set(path.basename(w.file), w.turns);
    }
    env = {
      RUNPOD_API_KEY: emulator.apiKey,
      RUNPOD_ENDPOINT_ID: emulator.endpointId,
      RUNPOD_ENDPOINT_BASE_URL: emulator.url,
      VOICESTUDIO_CONFIG_DIR: path.join(root, 'config'),
    };
    for (const args of [['ingest', project], ['ingest', project, path.join(root, 'interview.wav'), '--kind', 'speech'], ['preprocess', project]]) {
      const run = await runCli(args, { env });
      expect(run.exitCode, run.stderr).toBe(0);
    }
  }, 300_000);

  afterAll(async () => {
    await emulator?.stop();
    await cleanup?.();
  });

  it('keeps voice A and excludes voice B, measured against the timeline; a re-run sends no job', { timeout: 300_000 }, async () => {
    const dry = await runCli(['screen', project, '--dry-run', '--json'], { env });
    expect(dry.exitCode, dry.stderr).toBe(0);
    const plan = parseJson<ScreenResult>(dry);
    expect(plan.estimate?.missing).toBeGreaterThan(0);
    expect(plan.estimate?.costUsd).toBeGreaterThan(0);
    expect(jobsOf('screen')).toHaveLength(0);
    expect(screenedOut(await readProject()).size).toBe(0);

    const run = await runCli(['screen', project, '--json'], { env });
    expect(run.exitCode, run.stderr).toBe(0);
    const result = parseJson<ScreenResult>(run);
    expect(jobsOf('screen')).toHaveLength(1);
    expect(result.reference).toMatchObject({ kind: 'cluster' });
    expect(result.job?.jobId).toBe(jobsOf('screen')[0]!.id);

    const manifest = await readProject();
    const voiceOf = labels(manifest);
    const out = screenedOut(manifest);
    const a = [...voiceOf].filter(([, v]) => v === VOICE_A).map(([id]) => id);
    const b = [...voiceOf].filter(([, v]) => v === VOICE_B).map(([id]) => id);
    expect(b.length).toBeGreaterThanOrEqual(3);
    const keptA = a.filter((id) => !out.has(id)).length / a.length;
    const excludedB = b.filter((id) => out.has(id)).length / b.length;
    console.info(`screen: kept ${(keptA * 100).toFixed(0)} % of voice A's ${a.length} clips, excluded ${(excludedB * 100).toFixed(0)} % of voice B's ${b.length}`);
    expect(keptA).toBeGreaterThanOrEqual(0.9);
    expect(excludedB).toBeGreaterThanOrEqual(0.9);
    // The clips stay in the project; the page shows each screened clip with its score and its player.
    for (const id of out) expect(existsSync(path.join(project, manifest.segments.find((s) => s.id === id)!.file))).toBe(true);
    const page = await readFile(path.join(project, '.voicestudio', 'report.html'), 'utf8');
    expect(page).toMatch(/speaker screen: 0\.\d\d below 0\.75/);

    // Nothing changed: no job. Another threshold: no job either, and a low one gives every clip back.
    const again = await runCli(['screen', project, '--json'], { env });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(parseJson<ScreenResult>(again).job).toBeUndefined();
    const none = await runCli(['screen', project, '--threshold', '0.1', '--json'], { env });
    expect(none.exitCode, none.stderr).toBe(0);
    expect(parseJson<ScreenResult>(none).reincluded.sort()).toEqual([...out].sort());
    expect(screenedOut(await readProject()).size).toBe(0);
    expect(jobsOf('screen')).toHaveLength(1);
  });

  it('train --screen screens, trains on the rest from the same archive, and the card records the screen', { timeout: 300_000 }, async () => {
    const run = await runCli(['train', project, '--screen', '--force', '--name', 'alice', '--epochs', '2', '--save-every', '2', '--json'], { env });
    expect(run.exitCode, run.stderr).toBe(0);
    const result = parseJson<TrainResult & { model: ModelVersion }>(run);
    const manifest = await readProject();
    const out = screenedOut(manifest);
    expect(out.size).toBeGreaterThan(0);
    // The embeddings were all kept: the screen sent no second job.
    expect(jobsOf('screen')).toHaveLength(1);
    // The worker got the screen's archive (already on the volume: nothing uploaded again) and left out what it was told.
    expect(result.upload?.alreadyThere).toBe(true);
    const exclude = result.dataset.exclude ?? [];
    expect([...out].every((id) => exclude.includes(`clips/${id}.flac`))).toBe(true);
    const ledgerJob = manifest.jobs.find((j) => j.task === 'train') as { request?: { dataset?: { exclude?: string[] } } } | undefined;
    expect(ledgerJob?.request?.dataset?.exclude).toEqual(exclude);
    const card = JSON.parse(await readFile(path.join(project, 'models', 'alice', 'v1', 'model-card.json'), 'utf8')) as ModelVersion['card'];
    expect(card.screen?.threshold).toBe(0.75);
    expect([...card.screen!.excludedClips].sort()).toEqual([...out].sort());
    expect(card.screen?.reference).toMatch(/singing clips/);
    // What the worker itself reports: the archive it unpacked, and how many of its files it left out and kept.
    expect(card.training).toMatchObject({ dataset_sha256: result.dataset.sha256, dataset_excluded: exclude.length, dataset_files: result.dataset.clips });
  });
});
