/**
 * Paid GPU results are never lost and never paid twice: a flaky API still ends in success with one
 * training and one conversion job, and a CLI killed with SIGKILL mid-training reattaches when re-run.
 * (Lost submit answers and kills at other moments: paid-once.e2e.test.ts.)
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerJob } from '../../src/project/ledger.js';
import type { Manifest } from '../../src/project/types.js';
import { startEmulator, type Emulator } from '../emulator/runpod-emulator.js';
import { writePhrases } from '../helpers/audio.js';
import { BIN, makeTempDir, parseJson, runCli } from '../helpers/cli.js';
import { printed } from '../helpers/wait.js';

let template: string;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  const { dir, cleanup } = await makeTempDir('resilience');
  stops.push(cleanup);
  template = dir;
  await Promise.all([
    writePhrases(path.join(dir, 'verse.wav'), { seconds: 40, phraseSec: 8, pauseSec: 1 }),
    writePhrases(path.join(dir, 'chorus.wav'), { seconds: 40, phraseSec: 9, pauseSec: 1, frequency: 330 }),
    writePhrases(path.join(dir, 'guide.wav'), { seconds: 10, phraseSec: 4, pauseSec: 1, frequency: 262 }),
  ]);
});

afterEach(async () => {
  while (stops.length > 1) await stops.pop()?.();
});

async function projectWith(emulator: Emulator, name: string): Promise<{ project: string; env: NodeJS.ProcessEnv }> {
  const project = path.join(template, name);
  await mkdir(project);
  // Ingest reads the takes from the shared template folder: the project keeps only its own state.
  expect((await runCli(['ingest', project, path.join(template, 'verse.wav'), path.join(template, 'chorus.wav')])).exitCode).toBe(0);
  return {
    project,
    env: { RUNPOD_API_KEY: emulator.apiKey, RUNPOD_ENDPOINT_ID: emulator.endpointId, RUNPOD_ENDPOINT_BASE_URL: emulator.url, VOICESTUDIO_CONFIG_DIR: path.join(project, '.config') },
  };
}

function trainingJobs(emulator: Emulator): number {
  return emulator.jobs().filter((j) => j.input.task === 'train').length;
}

describe('a flaky API', () => {
  it('still ends in success, with exactly one paid training and one paid conversion', async () => {
    const emulator = await startEmulator({
      workers: 2,
      faults: {
        seed: 42,
        // 429 is the one refusal of a submit that provably did nothing; a dropped submit is ambiguous (tested below).
        http429: { run: 0.3, status: 0.2 },
        http5xx: { status: 0.3, cancel: 0.3 },
        dropBeforeHandling: { status: 0.2 },
        dropAfterHandling: { status: 0.2 },
        runTwice: 0.5,
      },
    });
    stops.push(() => emulator.stop());
    const { project, env } = await projectWith(emulator, 'flaky');
    const train = await runCli(['train', project, '--force', '--name', 'flaky', '--epochs', '2', '--save-every', '1', '--json'], { env });
    expect(train.exitCode, train.stderr).toBe(0);
    expect(parseJson<{ model: { version: number } }>(train).model.version).toBe(1);
    const convert = await runCli(['convert', path.join(template, 'guide.wav'), '-m', 'flaky', '-p', project, '-o', path.join(project, 'out.wav'), '--json'], { env });
    expect(convert.exitCode, convert.stderr).toBe(0);
    expect(trainingJobs(emulator)).toBe(1);
    expect(emulator.jobs().filter((j) => j.input.task === 'convert').length).toBe(1);
    // The faults really happened.
    expect(emulator.requests.filter((r) => r.fault !== undefined).length).toBeGreaterThan(5);
  });
});

describe('a CLI killed mid-training', () => {
  it('loses nothing: re-running reattaches to the same job and brings the model home', async () => {
    const emulator = await startEmulator({ workers: 2 });
    stops.push(() => emulator.stop());
    const { project, env } = await projectWith(emulator, 'killed');
    // Applio waits until released, so the job is certainly still running when the CLI dies.
    emulator.holdApplio();
    const child = execa(process.execPath, [BIN, 'train', project, '--force', '--name', 'killed', '--epochs', '2', '--save-every', '1'], { env: { ...env, CI: 'true' }, reject: false, stdin: 'ignore' });
    await printed(child.stderr, /submitted job/);
    child.kill('SIGKILL');
    expect((await child).signal).toBe('SIGKILL');
    const manifest = JSON.parse(await readFile(path.join(project, 'voicestudio.json'), 'utf8')) as Manifest;
    const recorded = (manifest.jobs as LedgerJob[]).filter((j) => j.task === 'train');
    expect(recorded).toHaveLength(1);
    expect(recorded[0]?.status).toBe('IN_QUEUE');
    emulator.releaseApplio();

    const again = await runCli(['train', project, '--force', '--name', 'killed', '--epochs', '2', '--save-every', '1', '--json'], { env });
    expect(again.exitCode, again.stderr).toBe(0);
    const result = parseJson<{ reattached: boolean; jobId: string; model: { name: string; version: number } }>(again);
    expect(result).toMatchObject({ reattached: true, jobId: recorded[0]?.id, model: { name: 'killed', version: 1 } });
    expect(trainingJobs(emulator)).toBe(1);
  });

  it('with --cancel-on-interrupt, Ctrl-C cancels the remote job and says so', async () => {
    const emulator = await startEmulator({ workers: 1 });
    stops.push(() => emulator.stop());
    const { project, env } = await projectWith(emulator, 'cancelled');
    emulator.holdApplio();
    const child = execa(process.execPath, [BIN, 'train', project, '--force', '--name', 'cancelled', '--epochs', '2', '--cancel-on-interrupt'], { env: { ...env, CI: 'true' }, reject: false, stdin: 'ignore' });
    await printed(child.stderr, /submitted job/);
    child.kill('SIGINT');
    const result = await child;
    emulator.releaseApplio();
    expect(result.exitCode).toBe(130);
    expect(String(result.stderr)).toMatch(/was cancelled/);
    const paid = emulator.jobs().find((j) => j.input.task === 'train');
    expect(paid?.status).toBe('CANCELLED');
    // RunPod bills the time a cancelled job ran: the ledger, `jobs` and `cost` show it.
    expect(paid?.executionMs).toBeGreaterThan(0);
    await expectBilled(project, env, paid?.executionMs ?? 0);
  });
});

/** The project's one training job is recorded with the emulator's execution time, and counted by `cost`. */
async function expectBilled(project: string, env: NodeJS.ProcessEnv, executionMs: number): Promise<void> {
  const manifest = JSON.parse(await readFile(path.join(project, 'voicestudio.json'), 'utf8')) as Manifest;
  const recorded = (manifest.jobs as LedgerJob[]).filter((j) => j.task === 'train');
  expect(recorded.map((j) => j.executionMs)).toStrictEqual([executionMs]);
  expect(recorded[0]?.costUsd).toBeTypeOf('number');
  const cost = parseJson<{ total: { jobs: number; gpuSeconds: number; costUsd: number } }>(await runCli(['cost', project, '--json'], { env }));
  expect(cost.total).toStrictEqual({ key: 'total', jobs: 1, gpuSeconds: Math.round(executionMs / 100) / 10, costUsd: Math.round((recorded[0]?.costUsd ?? NaN) * 1e4) / 1e4 });
  const jobs = parseJson<LedgerJob[]>(await runCli(['jobs', project, '--json'], { env }));
  expect(jobs.find((j) => j.task === 'train')?.executionMs).toBe(executionMs);
}

describe('a training job that fails on the worker', () => {
  it('is billed for the time it ran, and `cost` and `jobs` count it', async () => {
    const emulator = await startEmulator({ workers: 1, applioFault: 'train-no-model' });
    stops.push(() => emulator.stop());
    const { project, env } = await projectWith(emulator, 'failed');
    const run = await runCli(['train', project, '--force', '--name', 'failed', '--epochs', '2'], { env });
    expect(run.exitCode, run.stderr).toBe(1);
    const paid = emulator.jobs().filter((j) => j.input.task === 'train');
    expect(paid.map((j) => j.status)).toStrictEqual(['FAILED']);
    expect(paid[0]?.executionMs).toBeGreaterThan(0);
    await expectBilled(project, env, paid[0]?.executionMs ?? 0);
  });
});
