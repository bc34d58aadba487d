/**
 * Never paid twice (issue 11, items 1–4), counted from the emulator's own job log: a conversion or separation
 * whose submit was in flight when the CLI was killed or interrupted, two `batch` runs at once on one project,
 * a kill while a finished model is brought home, and submits whose answer was lost (train and batch).
 * A holding proxy in front of the emulator stops the CLI at the exact moment; Applio holds keep jobs running.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchResult } from '../../src/workflows/album.js';
import type { LedgerJob } from '../../src/project/ledger.js';
import type { Manifest } from '../../src/project/types.js';
import { startHoldingProxy, type HoldingProxy } from '../emulator/holding-proxy.js';
import { startEmulator, type EmulatedJob, type Emulator } from '../emulator/runpod-emulator.js';
import { writePhrases } from '../helpers/audio.js';
import { BIN, makeTempDir, parseJson, REPO_ROOT, runCli } from '../helpers/cli.js';
import { printed } from '../helpers/wait.js';

let root: string;
let cleanup: () => Promise<void>;
let model: string;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTempDir('paid-once'));
  // A voice model in Applio's inference layout, made by the worker tests' own helper.
  await execa('python3', ['-c', 'import sys\nfrom tests.test_convert import model_bytes\nmodel_bytes(sys.argv[1], name="alice")', root], { cwd: path.join(REPO_ROOT, 'gpu') });
  model = path.join(root, 'alice-40000-contentvec-300.pth');
  await Promise.all([
    writePhrases(path.join(root, 'guide.wav'), { seconds: 3, phraseSec: 1.5, pauseSec: 0.5, frequency: 262 }),
    writePhrases(path.join(root, 'song.wav'), { seconds: 3, phraseSec: 1.5, pauseSec: 0.5, frequency: 220, channels: 2 }),
    writePhrases(path.join(root, 'verse.wav'), { seconds: 40, phraseSec: 8, pauseSec: 1 }),
    writePhrases(path.join(root, 'chorus.wav'), { seconds: 40, phraseSec: 9, pauseSec: 1, frequency: 330 }),
  ]);
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await cleanup?.();
});

async function emulatorFor(options: Parameters<typeof startEmulator>[0] = {}): Promise<Emulator> {
  const started = await startEmulator({ workers: 2, ...options });
  stops.push(() => started.stop());
  return started;
}

async function proxyFor(emulator: Emulator): Promise<HoldingProxy> {
  const proxy = await startHoldingProxy(emulator.url);
  stops.push(() => proxy.stop());
  return proxy;
}

function envFor(emulator: Emulator, url = emulator.url): NodeJS.ProcessEnv {
  return { RUNPOD_API_KEY: emulator.apiKey, RUNPOD_ENDPOINT_ID: emulator.endpointId, RUNPOD_ENDPOINT_BASE_URL: url, VOICESTUDIO_CONFIG_DIR: path.join(root, 'config') };
}

function answer(job: EmulatedJob): Record<string, unknown> {
  return (typeof job.output === 'object' && job.output !== null ? job.output : {}) as Record<string, unknown>;
}

/** Jobs of `task` that did the paid work: not the worker's "busy" answer, nor a result it kept from an earlier job. */
function paidWork(emulator: Emulator, task: string): EmulatedJob[] {
  return emulator.jobs().filter((j) => j.input.task === task && answer(j).status !== 'busy' && answer(j).cached !== true);
}

async function ledgerOf(project: string): Promise<LedgerJob[]> {
  return (JSON.parse(await readFile(path.join(project, 'voicestudio.json'), 'utf8')) as Manifest).jobs as LedgerJob[];
}

function spawnCli(args: string[], env: NodeJS.ProcessEnv) {
  return execa(process.execPath, [BIN, ...args], { env: { ...env, CI: 'true', NO_COLOR: '1' }, reject: false, stdin: 'ignore' });
}

describe('a submit in flight when the CLI stops', () => {
  it('convert, kill -9: the re-run follows the job already created and pays for one conversion', async () => {
    const emulator = await emulatorFor();
    const proxy = await proxyFor(emulator);
    const project = path.join(root, 'killed-convert');
    await mkdir(project);
    const args = ['convert', path.join(root, 'guide.wav'), '-m', model, '-p', project, '-o', path.join(project, 'out.wav')];
    const held = proxy.holdRun('convert');
    const child = spawnCli(args, envFor(emulator, proxy.url));
    await held; // the job exists on the endpoint; the CLI has not heard so
    child.kill('SIGKILL');
    expect((await child).signal).toBe('SIGKILL');
    expect((await ledgerOf(project)).filter((j) => j.task === 'convert').map((j) => j.status)).toEqual(['SUBMITTING']);
    proxy.release();

    const again = await runCli([...args, '--json'], { env: envFor(emulator) });
    expect(again.exitCode, again.stderr).toBe(0);
    // Two jobs (the first, and the re-run's duplicate), one conversion: the other was answered "busy" or from the kept result.
    expect(emulator.jobs().filter((j) => j.input.task === 'convert')).toHaveLength(2);
    expect(paidWork(emulator, 'convert')).toHaveLength(1);
    expect((await readdir(project)).includes('out.wav')).toBe(true);
  });

  it('convert --separate, Ctrl-C: the re-run pays for one separation', async () => {
    const emulator = await emulatorFor();
    const proxy = await proxyFor(emulator);
    const project = path.join(root, 'interrupted-separate');
    await mkdir(project);
    const args = ['convert', path.join(root, 'song.wav'), '-m', model, '-p', project, '--separate', '-o', path.join(project, 'out.wav')];
    const held = proxy.holdRun('separate');
    const child = spawnCli(args, envFor(emulator, proxy.url));
    await held;
    child.kill('SIGINT');
    expect((await child).exitCode).toBe(130);
    proxy.release();

    const again = await runCli(args, { env: envFor(emulator) });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(paidWork(emulator, 'separate')).toHaveLength(1);
    expect(paidWork(emulator, 'convert')).toHaveLength(1);
  });
});

describe('two batch runs at once on one project', () => {
  it('pay for every track once: a live owner’s job is followed, never resubmitted or superseded', async () => {
    const emulator = await emulatorFor({ workers: 4 });
    const project = path.join(root, 'two-batches');
    const album = path.join(root, 'album');
    await mkdir(album);
    await Promise.all([1, 2, 3, 4].map((n) => writePhrases(path.join(album, `0${n} song.wav`), { seconds: 2, phraseSec: 1, pauseSec: 0.3, frequency: 180 + 40 * n })));
    const env = envFor(emulator);
    // The model goes up first: two uploads of one blob at once are another matter (issue 11, item 5).
    const warm = await runCli(['convert', path.join(root, 'guide.wav'), '-m', model, '-p', project, '-o', path.join(project, 'warm.wav')], { env });
    expect(warm.exitCode, warm.stderr).toBe(0);
    const before = paidWork(emulator, 'convert').length;

    // Applio waits until both runs are at work on the album, so their jobs overlap for certain.
    emulator.holdApplio();
    const args = ['batch', album, '-m', model, '-p', project, '-o', path.join(root, 'album-out'), '--concurrency', '2', '--json'];
    const runs = [spawnCli(args, env), spawnCli(args, env)];
    await Promise.all(runs.map((child) => printed(child.stderr, /01 song\.wav/)));
    emulator.releaseApplio();
    const results = await Promise.all(runs);
    for (const result of results) expect(result.exitCode, String(result.stderr)).toBe(0);
    for (const result of results) expect(JSON.parse(String(result.stdout)) as BatchResult).toMatchObject({ total: 4, failed: 0 });

    expect(paidWork(emulator, 'convert').length - before).toBe(4);
    // Nothing was submitted twice: no duplicate even answered "busy".
    expect(emulator.jobs().filter((j) => j.input.task === 'convert').length - before).toBe(4);
    const ledger = (await ledgerOf(project)).filter((j) => j.task === 'convert');
    expect(ledger.filter((j) => /superseded/.test(String(j.error)))).toEqual([]);
  });
});

describe('training', () => {
  async function trainingProject(emulator: Emulator, name: string): Promise<{ project: string; env: NodeJS.ProcessEnv }> {
    const project = path.join(root, name);
    await mkdir(project);
    expect((await runCli(['ingest', project, path.join(root, 'verse.wav'), path.join(root, 'chorus.wav')])).exitCode).toBe(0);
    return { project, env: envFor(emulator) };
  }

  it('kill -9 while the model is brought home: the re-run reads the finished job again, with no new job and no temp file left', async () => {
    const emulator = await emulatorFor();
    const proxy = await proxyFor(emulator);
    const { project, env } = await trainingProject(emulator, 'killed-download');
    const args = ['train', project, '--force', '--name', 'home', '--epochs', '2', '--save-every', '1'];
    const held = proxy.holdRun('blob_get');
    const child = spawnCli(args, { ...env, RUNPOD_ENDPOINT_BASE_URL: proxy.url });
    await held; // the training job completed; the first chunk of the model is on its way
    child.kill('SIGKILL');
    expect((await child).signal).toBe('SIGKILL');
    proxy.release();

    const again = await runCli([...args, '--json'], { env });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(parseJson<{ model: { version: number } }>(again).model.version).toBe(1);
    expect(emulator.jobs().filter((j) => j.input.task === 'train')).toHaveLength(1);
    expect((await readdir(path.join(project, '.voicestudio', 'downloads'))).filter((name) => name.includes('.tmp-'))).toEqual([]);
  });

  it('… and once RunPod has forgotten that finished job, the worker answers a new job from the run it kept, training nothing', async () => {
    let offset = 0;
    const emulator = await emulatorFor({ clock: { now: () => Date.now() + offset }, retentionMs: 60_000 });
    const proxy = await proxyFor(emulator);
    const { project, env } = await trainingProject(emulator, 'killed-forgotten');
    const args = ['train', project, '--force', '--name', 'forgotten', '--epochs', '2', '--save-every', '1'];
    const held = proxy.holdRun('blob_get');
    const child = spawnCli(args, { ...env, RUNPOD_ENDPOINT_BASE_URL: proxy.url });
    await held;
    child.kill('SIGKILL');
    await child;
    proxy.release();
    offset += 120_000; // past RunPod's retention: /status of the finished job answers 404

    const again = await runCli([...args, '--json'], { env });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(parseJson<{ model: { version: number } }>(again).model.version).toBe(1);
    // The emulator, like RunPod, no longer lists the first job; the one job since was answered from the kept run.
    expect(emulator.jobs().filter((j) => j.input.task === 'train').map((j) => answer(j).cached)).toEqual([true]);
    // The first job was followed (and found forgotten) before anything was sent again; it stays a completed, billed job.
    const records = (await ledgerOf(project)).filter((j) => j.task === 'train');
    expect(records.map((j) => [j.status, j.result])).toEqual([
      ['COMPLETED', { collected: false }],
      ['COMPLETED', { model: 'forgotten@1' }],
    ]);
  });

  it('a submit whose answer is lost is sent again at once; the duplicate follows the job already training', async () => {
    const emulator = await emulatorFor({ faults: { dropAfterHandling: { run: 1 }, tasks: ['train'], limit: 1 } });
    const { project, env } = await trainingProject(emulator, 'lost-answer');
    const run = await runCli(['train', project, '--force', '--name', 'lost', '--epochs', '2', '--save-every', '1', '--json'], { env });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(emulator.requests.filter((r) => r.fault === 'dropAfterHandling')).toHaveLength(1);
    expect(paidWork(emulator, 'train')).toHaveLength(1);
    const result = parseJson<{ jobId: string; model: { version: number } }>(run);
    expect(result.model.version).toBe(1);
    expect(emulator.jobs().filter((j) => j.input.task === 'train').map((j) => j.id)).toContain(result.jobId);
  });

  it('a 5xx from /run is retried, not an exit 1', async () => {
    const emulator = await emulatorFor({ faults: { http5xx: { run: 1 }, tasks: ['train'], limit: 2 } });
    const { project, env } = await trainingProject(emulator, 'server-error');
    const run = await runCli(['train', project, '--force', '--name', 'fivexx', '--epochs', '2', '--save-every', '1', '--json'], { env });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(emulator.requests.filter((r) => r.fault === 'http5xx')).toHaveLength(2);
    expect(paidWork(emulator, 'train')).toHaveLength(1);
  });
});

describe('batch', () => {
  it('retries a track whose submits all ended ambiguously under --retries, paying for it once', async () => {
    // Six 5xx answers: every attempt of the client's own retries for the first submit.
    const emulator = await emulatorFor({ faults: { http5xx: { run: 1 }, tasks: ['convert'], limit: 6 } });
    const album = path.join(root, 'ambiguous-album');
    await mkdir(album);
    await writePhrases(path.join(album, '01 song.wav'), { seconds: 2, phraseSec: 1, pauseSec: 0.3 });
    const run = await runCli(['batch', album, '-m', model, '-p', path.join(root, 'ambiguous-project'), '-o', path.join(root, 'ambiguous-out'), '--retries', '1', '--json'], { env: envFor(emulator) });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(parseJson<BatchResult>(run).tracks[0]).toMatchObject({ status: 'converted', attempts: 2 });
    expect(emulator.requests.filter((r) => r.fault === 'http5xx')).toHaveLength(6);
    expect(paidWork(emulator, 'convert')).toHaveLength(1);
  });
});
