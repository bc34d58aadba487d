/**
 * audition through bin/voicestudio against the RunPod emulator, which runs the real worker (gpu/handler.py) with the
 * Applio stand-in and the real scoring libraries (Resemblyzer, librosa's pYIN, DNSMOS) of the GPU worker's Python
 * environment: train --audition, the page and its files, the kept result (never paid twice), --guide and --epochs,
 * --dry-run, and models pick making a version that converts.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelVersion } from '../../src/project/models.js';
import type { AuditionPlan, AuditionResult } from '../../src/workflows/audition.js';
import type { PickResult } from '../../src/workflows/pick.js';
import { startEmulator, type Emulator } from '../emulator/runpod-emulator.js';
import { testTools } from '../helpers/audio.js';
import { espeakUnavailable, SPEECH_PARAGRAPHS, writeSpeech } from '../helpers/realistic.js';
import { makeTempDir, parseJson, runCli } from '../helpers/cli.js';
// @ts-expect-error -- a plain ES module of the build scripts, without types
import { gpuVenvDir } from '../../scripts/gpu-venv.mjs';

/** The worker's test environment (npm run setup:python) holds the scoring libraries the audition task needs. */
const venvPython = path.join((gpuVenvDir as () => string)(), 'bin', 'python');
const hasVenv = existsSync(venvPython);
if (!hasVenv) console.warn(`audition end-to-end tests skipped: no GPU worker environment at ${venvPython}; build it with "npm run setup:python".`);
const noEspeak = await espeakUnavailable();
if (noEspeak !== undefined) console.warn(`audition end-to-end tests skipped: ${noEspeak} (apt-get install espeak-ng)`);

let emulator: Emulator;
let root: string;
let cleanup: () => Promise<void>;
let project: string;
let guide: string;
let env: NodeJS.ProcessEnv;

const auditionJobs = (): number => emulator.jobs().filter((j) => j.input.task === 'audition').length;

describe.skipIf(!hasVenv || noEspeak !== undefined)('audition', () => {
  beforeAll(async () => {
    ({ dir: root, cleanup } = await makeTempDir('audition'));
    emulator = await startEmulator({ workers: 2, python: venvPython });
    project = path.join(root, 'my vocals');
    guide = path.join(root, 'guide #1.wav');
    await mkdir(project);
    // A voice the speaker embedding's voice detector hears as one (tones are not): espeak-ng's.
    const tools = await testTools();
    const format = { sampleRate: 44100, channels: 1 } as const;
    const written = await Promise.all([
      // Three takes of every paragraph: over the minute of clips train needs.
      ...[1, 2, 4].map((seed) => writeSpeech(tools, path.join(project, `take ${seed}.wav`), { ...format, seed })),
      writeSpeech(tools, guide, { ...format, seed: 3, paragraphs: SPEECH_PARAGRAPHS.slice(1, 2) }),
    ]);
    for (const w of written) if ('skipped' in w) throw new Error(w.skipped);
    env = {
      RUNPOD_API_KEY: emulator.apiKey,
      RUNPOD_ENDPOINT_ID: emulator.endpointId,
      RUNPOD_ENDPOINT_BASE_URL: emulator.url,
      VOICESTUDIO_CONFIG_DIR: path.join(root, 'config'),
    };
  });

  afterAll(async () => {
    await emulator?.stop();
    await cleanup?.();
  });

  it('train --audition scores every saved epoch, recommends one and writes the page', { timeout: 600_000 }, async () => {
    const run = await runCli(['train', project, '--force', '--name', 'alice', '--epochs', '4', '--save-every', '2', '--audition', '--json'], { env, timeoutMs: 590_000 });
    expect(run.exitCode, run.stderr).toBe(0);
    const { model, audition } = parseJson<{ model: ModelVersion; audition: AuditionResult }>(run);
    expect(model).toMatchObject({ name: 'alice', version: 1 });
    expect(audition.status).toBe('auditioned');
    expect(audition.epochs.map((e) => e.epoch)).toEqual([2, 4]);
    expect([2, 4]).toContain(audition.recommended.epoch);
    expect(audition.recommended.reason).toMatch(/epoch/);
    for (const e of audition.epochs) {
      expect(e.similarity).toBeGreaterThan(0);
      expect(e.similarity).toBeLessThanOrEqual(1);
      expect(e.voicingAgreement).toBeGreaterThanOrEqual(0);
    }
    // Under 20 clips nothing is held out: the page and the result say the reference is training clips.
    expect(audition.singer.heldOut).toBe(false);
    expect(audition.notes.join(' ')).toMatch(/training clips/);
    expect(audition.notes.join(' ')).toMatch(/No --guide/);
    expect(audition.gpuSeconds).toBeGreaterThan(0);
    expect(audition.costUsd).toBeGreaterThan(0);
    expect(audition.estimate.gpuSeconds).toBeGreaterThan(0);

    expect(audition.page).toBe(path.join(project, 'models', 'alice', 'v1', 'audition', 'index.html'));
    const page = await readFile(audition.page, 'utf8');
    const sources = [...page.matchAll(/<audio[^>]* src="([^"]+)"/g)].map((m) => decodeURIComponent(m[1]!));
    expect(sources.length).toBeGreaterThanOrEqual(2 * 2);
    for (const src of sources) expect(existsSync(path.resolve(path.dirname(audition.page), src)), src).toBe(true);
    expect(auditionJobs()).toBe(1);
  });

  it('answers the same audition from the kept result, without a job; --dry-run sends nothing', async () => {
    const again = await runCli(['audition', project, '-m', 'alice', '--json'], { env });
    expect(again.exitCode, again.stderr).toBe(0);
    const result = parseJson<AuditionResult>(again);
    expect(result.status).toBe('cached');
    expect(auditionJobs()).toBe(1);

    const dry = await runCli(['audition', project, '-m', 'alice', '--guide', guide, '--dry-run', '--json'], { env });
    expect(dry.exitCode, dry.stderr).toBe(0);
    const plan = parseJson<AuditionPlan>(dry);
    expect(plan).toMatchObject({ status: 'planned', model: 'alice@1', estimate: { epochs: [2, 4], guides: 1 } });
    expect(plan.estimate.costUsd).toBeGreaterThan(0);
    expect(auditionJobs()).toBe(1);

    const human = await runCli(['audition', project, '-m', 'alice'], { env });
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/recommended: epoch (2|4)/);
    expect(human.stdout).toContain('page: ');
    expect(human.stdout).toMatch(/voicestudio models pick alice@1 --epoch 2 -p '.*my vocals'|epoch 4 is alice@1 itself/);
  });

  it('takes --guide and --epochs, and refuses an epoch that was not saved', { timeout: 600_000 }, async () => {
    const run = await runCli(['audition', project, '-m', 'alice', '--guide', guide, '--epochs', '2', '--json'], { env, timeoutMs: 590_000 });
    expect(run.exitCode, run.stderr).toBe(0);
    const result = parseJson<AuditionResult>(run);
    expect(result.epochs.map((e) => e.epoch)).toEqual([2]);
    expect(result.guides).toEqual([expect.objectContaining({ label: 'guide #1.wav' })]);
    expect(auditionJobs()).toBe(2);

    const missing = await runCli(['audition', project, '-m', 'alice', '--epochs', '3', '--json'], { env });
    expect(missing.exitCode).toBe(2);
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: { message: expect.stringMatching(/--epochs 3: not saved/), suggestion: 'The saved epochs are 2, 4.' } });
  });

  it('models pick makes a version of a saved epoch, once, that converts', { timeout: 300_000 }, async () => {
    const pick = await runCli(['models', 'pick', 'alice@1', '--epoch', '2', '-p', project, '--json'], { env });
    expect(pick.exitCode, pick.stderr).toBe(0);
    const picked = parseJson<PickResult>(pick);
    expect(picked).toMatchObject({ created: true, from: 'alice@1', epoch: { epoch: 2 }, model: { name: 'alice', version: 2 } });
    const card = JSON.parse(await readFile(path.join(project, 'models', 'alice', 'v2', 'model-card.json'), 'utf8')) as Record<string, unknown>;
    expect(card).toMatchObject({ pickedFrom: { model: 'alice@1', epoch: 2 }, training: { epochs: 2 } });

    const twice = await runCli(['models', 'pick', 'alice@1', '--epoch', '2', '-p', project, '--json'], { env });
    expect(parseJson<PickResult>(twice)).toMatchObject({ created: false, model: { version: 2 } });

    const same = await runCli(['models', 'pick', 'alice@1', '--epoch', '4', '-p', project, '--json'], { env });
    expect(same.exitCode).toBe(2);
    expect(JSON.parse(same.stdout)).toMatchObject({ error: { message: expect.stringMatching(/already is epoch 4/) } });

    const converted = await runCli(['convert', guide, '-m', 'alice@2', '-p', project, '-o', path.join(root, 'out.wav'), '--json'], { env });
    expect(converted.exitCode, converted.stderr).toBe(0);
    expect(existsSync(path.join(root, 'out.wav'))).toBe(true);
  });
});
