/**
 * ingest → preprocess → train → convert through bin/voicestudio against the RunPod emulator, which runs the
 * real gpu/handler.py with the Applio 3.6.4 stand-in. Checks models, the job ledger, caching, costs.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerJob } from '../../src/project/ledger.js';
import type { ModelVersion } from '../../src/project/models.js';
import type { Manifest } from '../../src/project/types.js';
import { startEmulator, type Emulator } from '../emulator/runpod-emulator.js';
import { durationOf, writePhrases } from '../helpers/audio.js';
import { makeTempDir, parseJson, runCli } from '../helpers/cli.js';

let emulator: Emulator;
let root: string;
let cleanup: () => Promise<void>;
let project: string;
let env: NodeJS.ProcessEnv;

async function manifestOf(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(dir, 'voicestudio.json'), 'utf8')) as Manifest;
}

function paidJobs(task: string): number {
  return emulator.jobs().filter((j) => j.input.task === task).length;
}

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTempDir('remote'));
  emulator = await startEmulator({ workers: 2 });
  project = path.join(root, 'vocals');
  await mkdir(project);
  await Promise.all([
    writePhrases(path.join(project, 'verse.wav'), { seconds: 40, phraseSec: 8, pauseSec: 1 }),
    writePhrases(path.join(project, 'chorus.wav'), { seconds: 40, phraseSec: 9, pauseSec: 1, frequency: 330 }),
    writePhrases(path.join(root, 'guide.wav'), { seconds: 12, phraseSec: 5, pauseSec: 1, frequency: 262 }),
  ]);
  env = {
    RUNPOD_API_KEY: emulator.apiKey,
    RUNPOD_ENDPOINT_ID: emulator.endpointId,
    RUNPOD_ENDPOINT_BASE_URL: emulator.url,
    VOICESTUDIO_CONFIG_DIR: path.join(root, 'config'),
  };
});

afterAll(async () => {
  await emulator?.stop();
  await cleanup();
});

describe('train', () => {
  it('--dry-run prepares the data and estimates, and sends nothing', async () => {
    const run = await runCli(['train', project, '--force', '--name', 'alice', '--epochs', '4', '--dry-run', '--json'], { env });
    expect(run.exitCode, run.stderr).toBe(0);
    const result = parseJson<{ dryRun: boolean; dataset: { clips: number; bytes: number }; estimate: { gpuSeconds: number; costUsd: number; policy: { executionTimeout: number } } }>(run);
    expect(result.dryRun).toBe(true);
    expect(result.dataset.clips).toBeGreaterThanOrEqual(6);
    expect(result.estimate.gpuSeconds).toBeGreaterThan(600);
    expect(result.estimate.policy.executionTimeout).toBeGreaterThanOrEqual(3_600_000);
    expect(emulator.requests.length).toBe(0);
  });

  it('refuses a dataset below the brief\'s minimums before uploading anything, and says how to go on', async () => {
    const run = await runCli(['train', project, '--name', 'alice', '--epochs', '4', '--json'], { env });
    expect(run.exitCode).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: 'dataset_insufficient', message: expect.stringMatching(/Nothing was uploaded/), suggestion: expect.stringMatching(/--force/) } });
    expect(emulator.requests.length).toBe(0);
  });

  it('trains, brings the model home, and records job, GPU time and cost', async () => {
    const run = await runCli(['train', project, '--force', '--name', 'alice', '--epochs', '4', '--save-every', '2', '--json'], { env });
    expect(run.exitCode, run.stderr).toBe(0);
    const result = parseJson<{ model: ModelVersion; jobId: string; upload: { bytesSent: number; alreadyThere: boolean } }>(run);
    expect(result.model).toMatchObject({ name: 'alice', version: 1, origin: 'trained' });
    expect(result.upload.alreadyThere).toBe(false);
    expect((await stat(path.join(project, 'models', 'alice', 'v1', 'alice.pth'))).size).toBeGreaterThan(0);
    expect((await stat(path.join(project, 'models', 'alice', 'v1', 'alice.index'))).size).toBeGreaterThan(0);
    const card = JSON.parse(await readFile(path.join(project, 'models', 'alice', 'v1', 'model-card.json'), 'utf8')) as Record<string, unknown>;
    expect(card).toMatchObject({ name: 'alice', version: 1, jobId: result.jobId, settings: { epochs: 4, embedder: 'contentvec' } });
    // Every --save-every epoch's model stays on the volume, listed for audition; the last one is the model itself.
    const saved = card.savedEpochs as { epoch: number; sha256: string; filename: string }[];
    expect(saved.map((s) => s.epoch)).toEqual([2, 4]);
    expect(saved.map((s) => s.filename)).toEqual([expect.stringMatching(/^alice-[0-9a-f]+_2e_\d+s\.pth$/), expect.stringMatching(/^alice-[0-9a-f]+_4e_\d+s\.pth$/)]);
    expect(saved[1]!.sha256).toBe(createHash('sha256').update(await readFile(path.join(project, 'models', 'alice', 'v1', 'alice.pth'))).digest('hex'));
    expect(saved[0]!.sha256).not.toBe(saved[1]!.sha256);

    const manifest = await manifestOf(project);
    const job = (manifest.jobs as LedgerJob[]).find((j) => j.id === result.jobId);
    expect(job).toMatchObject({ task: 'train', status: 'COMPLETED', result: { model: 'alice@1' } });
    expect(job?.executionMs).toBeGreaterThan(0);
    expect(job?.costUsd).toBeGreaterThan(0);
    expect(paidJobs('train')).toBe(1);
    expect(run.stderr).toMatch(/submitted job [0-9a-f-]+-e1; waiting for a GPU worker/);
  });

  it('re-running the finished training sends nothing and returns the same model', async () => {
    const before = emulator.jobs().length;
    const run = await runCli(['train', project, '--force', '--name', 'alice', '--epochs', '4', '--save-every', '2', '--json'], { env });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(parseJson<{ alreadyTrained: boolean; model: ModelVersion }>(run)).toMatchObject({ alreadyTrained: true, model: { version: 1 } });
    expect(emulator.jobs().length).toBe(before);
  });
});

describe('convert', () => {
  it('converts a guide vocal with the trained model', async () => {
    const output = path.join(root, 'out', 'guide-alice.wav');
    const run = await runCli(['convert', path.join(root, 'guide.wav'), '-m', 'alice', '-p', project, '-o', output, '--pitch', '2', '--json'], { env });
    expect(run.exitCode, run.stderr).toBe(0);
    const result = parseJson<{ items: { status: string; output: string; bytesSent: number }[]; costUsd: number }>(run);
    expect(result.items).toMatchObject([{ status: 'converted', output }]);
    // 12 s of 16 kHz mono FLAC is far smaller than the 44.1 kHz WAV it came from.
    expect(result.items[0]?.bytesSent).toBeLessThan((await stat(path.join(root, 'guide.wav'))).size / 2);
    expect((await durationOf(output)).durationSec).toBeGreaterThan(10);
    expect(paidJobs('convert')).toBe(1);
  });

  it('asking again for the same conversion costs no GPU job', async () => {
    const output = path.join(root, 'out', 'again.wav');
    const run = await runCli(['convert', path.join(root, 'guide.wav'), '-m', 'alice', '-p', project, '-o', output, '--pitch', '2', '--json'], { env });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(parseJson<{ items: { status: string }[] }>(run).items[0]?.status).toBe('cached');
    expect(paidJobs('convert')).toBe(1);
    expect((await stat(output)).size).toBeGreaterThan(0);
  });

  it('a bad input fails alone and the command exits 3', async () => {
    const run = await runCli(['convert', path.join(root, 'guide.wav'), path.join(root, 'missing.wav'), '-m', 'alice', '-p', project, '--pitch', '3', '-o', path.join(root, 'out2/'), '--json'], { env });
    expect(run.exitCode, run.stderr).toBe(3);
    const items = parseJson<{ items: { status: string; error?: string }[] }>(run).items;
    expect(items.map((i) => i.status)).toEqual(['converted', 'failed']);
    expect(items[1]?.error).toMatch(/missing\.wav: no such file/);
  });
});

describe('jobs, cost and models', () => {
  it('lists jobs with GPU time and cost', async () => {
    const run = await runCli(['jobs', project], { env });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/train +alice +COMPLETED/);
    expect(run.stdout).toMatch(/convert +guide\.wav +COMPLETED/);
  });

  it('sums costs by model and by command', async () => {
    const summary = parseJson<{ total: { jobs: number; costUsd: number }; byCommand: { key: string; jobs: number }[] }>(await runCli(['cost', project, '--json'], { env }));
    expect(summary.total.jobs).toBe(3);
    expect(summary.byCommand.map((c) => [c.key, c.jobs]).sort()).toEqual([
      ['convert', 2],
      ['train', 1],
    ]);
    expect(summary.total.costUsd).toBeGreaterThan(0);
  });

  it('exports an Applio zip and imports it back as another model', async () => {
    const zip = path.join(root, 'alice.zip');
    expect((await runCli(['models', 'export', 'alice', '-o', zip, '-p', project], { env })).exitCode).toBe(0);
    const imported = await runCli(['models', 'import', zip, '--name', 'alice-copy', '-p', project, '--json'], { env });
    expect(imported.exitCode, imported.stderr).toBe(0);
    const model = parseJson<ModelVersion>(imported);
    const original = (await manifestOf(project)).models.find((m) => m.name === 'alice') as ModelVersion;
    expect(model.pth.sha256).toBe(original.pth.sha256);
    expect(model.index?.sha256).toBe(original.index?.sha256);
    const rated = await runCli(['models', 'rate', 'alice@1', '4', '--note', 'breathy on high notes', '-p', project], { env });
    expect(rated.exitCode, rated.stderr).toBe(0);
    expect((await runCli(['models', 'rate', 'alice@1', '6', '-p', project], { env })).exitCode).toBe(2);
    const list = await runCli(['models', 'list', '-p', project], { env });
    expect(list.stdout).toMatch(/alice@1 +trained.*★★★★☆/);
    expect(list.stdout).toMatch(/alice-copy@1 +imported/);
  });
});

describe('doctor against a worker without a GPU', () => {
  it('fails on the missing GPU/torch unless the worker allows the CPU; an unrecorded Applio tag only warns', async () => {
    const noGpu = await startEmulator({ workers: 1, workerEnv: { VOICESTUDIO_ALLOW_CPU: '0' } });
    try {
      const noGpuEnv = { ...env, RUNPOD_ENDPOINT_BASE_URL: noGpu.url, RUNPOD_ENDPOINT_ID: noGpu.endpointId, RUNPOD_API_KEY: noGpu.apiKey };
      const run = await runCli(['doctor', '--json'], { env: noGpuEnv });
      expect(run.exitCode, run.stderr).toBe(1);
      const doctor = parseJson<{ ok: boolean; checks: { name: string; status: string; detail: string; suggestion?: string }[] }>(run);
      expect(doctor.ok).toBe(false);
      // The stand-in's Python has no torch: the worker could train nothing.
      expect(doctor.checks.find((c) => c.name === 'gpu')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/GPU none|no CUDA GPU/), suggestion: expect.stringMatching(/rebuild|CUDA/) });
      expect(doctor.checks.find((c) => c.name === 'worker')).toMatchObject({ status: 'warn', detail: expect.stringContaining('Applio without a tag') });
    } finally {
      await noGpu.stop();
    }
  });
});

describe('an endpoint without a network volume', () => {
  it('still converts when everything fits inline, and says so in doctor', async () => {
    const bare = await startEmulator({ workers: 1, volumeDir: false });
    try {
      const bareEnv = { ...env, RUNPOD_ENDPOINT_BASE_URL: bare.url, RUNPOD_ENDPOINT_ID: bare.endpointId, RUNPOD_API_KEY: bare.apiKey };
      const output = path.join(root, 'out', 'no-volume.wav');
      const run = await runCli(['convert', path.join(root, 'guide.wav'), '-m', 'alice', '-p', project, '-o', output, '--pitch', '5', '--json'], { env: bareEnv });
      expect(run.exitCode, run.stderr).toBe(0);
      expect((await stat(output)).size).toBeGreaterThan(0);
      const doctor = parseJson<{ checks: { name: string; status: string; detail: string }[] }>(await runCli(['doctor', '--json'], { env: bareEnv }));
      expect(doctor.checks.find((c) => c.name === 'volume')).toMatchObject({ status: 'warn', detail: expect.stringContaining('no network volume') });
      // What the worker reports: where Applio runs (the stand-in's Python has no torch) and its /dev/shm.
      expect(doctor.checks.find((c) => c.name === 'gpu')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/(GPU none|no CUDA GPU: trains on).*VOICESTUDIO_ALLOW_CPU=1/) });
      expect(doctor.checks.find((c) => c.name === 'shm')?.detail).toMatch(/^\/dev\/shm \d+\.\d GiB \(training wants 2 GiB\)$/);
    } finally {
      await bare.stop();
    }
  });
});
