/**
 * A RunPod Serverless (queue endpoint) API emulator for end-to-end tests.
 *
 * It speaks the `/v2/{endpoint}/…` API described in the shared docs (runpod.md) and runs every job with the REAL
 * GPU worker, `python3 gpu/handler.py --local-job JOB.json`, against the Applio 3.6.4 stand-in from gpu/tests
 * (built by gpu/tests/support.py's `build_fake_applio`, exactly as the Python tests build it). Progress JSON lines
 * on the worker's stderr become the `output` of an IN_PROGRESS job; the JSON document on its stdout becomes the
 * result.
 *
 * Emulated RunPod behaviour: Bearer auth (401), unknown endpoint (404), the 10 MB `/run` body limit (400), the
 * silent drop of an oversized result (COMPLETED without output), `{"error": "<string>"}` results → FAILED,
 * crashed workers → FAILED with a JSON-encoded error string (as runpod-python reports raised exceptions),
 * `policy.executionTimeout` → TIMED_OUT (the worker is killed), `policy.ttl` → the job is deleted (404),
 * result retention (404 afterwards), cancel, retry (same id), purge-queue, health, webhooks, and injected faults:
 * 429/5xx answers, dropped connections before or after the request took effect, at-least-once re-runs.
 *
 * Not emulated: `/runsync`, `/stream`, `/status-sync` (they answer 501), `lowPriority`, `s3Config`, rate limits.
 *
 * The file uses erasable TypeScript only and imports only `node:` modules, so `node test/emulator/serve.ts` runs it
 * directly.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as FfmpegModule from '../../src/audio/ffmpeg.js';

// ------------------------------------------------------------------------------------------------ public API ----

export type Route = 'run' | 'status' | 'cancel' | 'retry' | 'health' | 'purge-queue';
export type JobStatus = 'IN_QUEUE' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TIMED_OUT';
export type FaultKind = 'http429' | 'http5xx' | 'dropBeforeHandling' | 'dropAfterHandling';

export interface FaultPlan {
  /** Probability 0..1 per request, per route, of answering 429 without handling the request. */
  http429?: Partial<Record<Route, number>>;
  /** … of answering 500, 502 or 503 (at random) without handling the request. */
  http5xx?: Partial<Record<Route, number>>;
  /** … of destroying the socket without handling the request (it had no effect). */
  dropBeforeHandling?: Partial<Record<Route, number>>;
  /** … of handling the request (e.g. creating the job), then destroying the socket instead of answering. */
  dropAfterHandling?: Partial<Record<Route, number>>;
  /**
   * Probability that a job that COMPLETED is delivered to a worker once more (RunPod's at-least-once delivery).
   * The job shows COMPLETED with the first result meanwhile; the second run's result then replaces it.
   */
  runTwice?: number;
  /** Seed of the deterministic PRNG for the faults (default: random). */
  seed?: number;
  /** When set, faults on /run apply only to jobs whose input.task is listed (e.g. ['train']). */
  tasks?: string[];
  /** At most this many faults are injected (counted from setFaults); then requests go through. */
  limit?: number;
}

export interface EmulatorOptions {
  /** Default 'test-key'; requests without `Authorization: Bearer <key>` get 401. */
  apiKey?: string;
  /** Default 'vs-test'; other endpoint ids get 404. */
  endpointId?: string;
  /** Concurrent jobs (default 2); others wait IN_QUEUE. */
  workers?: number;
  /**
   * The endpoint's network volume (VOICESTUDIO_VOLUME). Default: a temp dir removed by stop(). A given directory
   * is used as it is and kept. `null`/`false`: no volume mounted (jobs see a path that does not exist).
   */
  volumeDir?: string | null | false;
  /** Default 10 MiB (RunPod's `/run` limit); larger bodies get 400. */
  maxRequestBytes?: number;
  /** Default 20 MiB; a larger result leaves the job COMPLETED with no output (RunPod's silent drop). */
  maxOutputBytes?: number;
  /** Default 30 min; that long after completion, /status answers 404. */
  retentionMs?: number;
  /**
   * Default 600 000 (10 min); `policy.executionTimeout` overrides it per job. A function is asked once per job, at
   * submission, so a test can give one job a short limit without racing the others against it.
   */
  defaultExecutionTimeoutMs?: number | ((job: { task: unknown }) => number);
  /** Default 24 h; `policy.ttl` overrides it per job. Covers queue and run time; on expiry the job is deleted. */
  defaultTtlMs?: number;
  /** FAKE_APPLIO_FAULT for the worker processes (see gpu/tests/fake_applio/README.md). */
  applioFault?: string;
  /** Extra environment for the worker processes (applied last). */
  workerEnv?: Record<string, string>;
  faults?: FaultPlan;
  /** Time source for delays, timeouts, TTL and retention (default Date.now). Expiry is checked every 20 ms and on every request. */
  clock?: { now(): number };
  /** Python 3.11+ used to build the stand-in; its `sys.executable` runs the handler and the stand-in (default 'python3'). */
  python?: string;
  /** Port to listen on (default 0: any free port). The server binds 127.0.0.1 only. */
  port?: number;
  /** Delay between webhook delivery attempts (default 10 000 ms, as RunPod). */
  webhookRetryDelayMs?: number;
  /**
   * Simulated GPU time: after a job's worker process has finished, the job stays IN_PROGRESS on its worker slot this
   * many ms longer before its result is published (0 or absent: none). It counts towards executionTime and the
   * execution timeout, and cancel, TTL and stop() end it at once. Called once per run (a re-run or retry asks again).
   */
  completionDelayMs?: (job: { id: string; task: unknown; attempt: number }) => number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  route: Route | 'unknown';
  /** HTTP status sent; 0 when the connection was dropped. */
  status: number;
  bodyBytes: number;
  at: number;
  fault?: FaultKind;
  /** The job the request created or addressed, if any. */
  jobId?: string;
}

export interface EmulatedJob {
  id: string;
  /** The input's `task` and the size of the JSON-encoded input in bytes (the input itself is not exposed). */
  input: { task: unknown; size: number };
  status: JobStatus;
  /** How many times a worker process was started for the job (re-runs and retries included). */
  attempts: number;
  createdAt: number;
  startedAt?: number;
  completedAt?: number;
  executionMs?: number;
  delayMs?: number;
  workerId?: string;
  /** A worker process is running for the job right now (also during an at-least-once re-run of a COMPLETED job). */
  running: boolean;
  /** The result was larger than maxOutputBytes and was dropped. */
  outputDropped: boolean;
  /** Progress payloads received during the latest run. */
  progressUpdates: number;
  /** The result as published (COMPLETED jobs): tells the worker's "busy" and cached answers from work done. */
  output?: unknown;
  executionTimeoutMs: number;
  ttlMs: number;
}

export interface WebhookDelivery {
  jobId: string;
  url: string;
  attempt: number;
  /** HTTP status of the webhook's answer; 0 when the request failed. */
  status: number;
  at: number;
}

export interface Emulator {
  /** Base URL to use as RUNPOD_ENDPOINT_BASE_URL, e.g. http://127.0.0.1:PORT/v2 */
  url: string;
  endpointId: string;
  apiKey: string;
  /** The network volume, or undefined when none is mounted. */
  volumeDir: string | undefined;
  /** The stand-in Applio checkout the workers use (APPLIO_DIR). */
  applioDir: string;
  requests: RecordedRequest[];
  webhookDeliveries: WebhookDelivery[];
  /** Resolves with the first delivery attempt for `jobId` recorded in webhookDeliveries (at once if there is one). */
  webhookDelivered(jobId: string): Promise<WebhookDelivery>;
  jobs(): EmulatedJob[];
  setFaults(faults: FaultPlan | undefined): void;
  /**
   * Makes every Applio invocation (each stand-in script, and `info`'s torch probe) wait before it starts, until
   * releaseApplio(). Jobs that reach Applio stay IN_PROGRESS meanwhile, with their progress visible: a way to
   * observe running jobs without timing assumptions. Has no effect if workerEnv overrides APPLIO_PYTHON.
   */
  holdApplio(): void;
  releaseApplio(): void;
  /** Pids of live processes started for this emulator's jobs (the handler and everything it spawned). Linux only; elsewhere the handlers' pids. */
  liveProcesses(): number[];
  /** Kills running worker processes, closes the server, removes temp dirs. */
  stop(): Promise<void>;
}

// ------------------------------------------------------------------------------------------------- internals ----

const TERMINAL: ReadonlySet<JobStatus> = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT']);
const MARKER_VAR = 'VS_RUNPOD_EMULATOR_PROCESS';
const RUNPOD_VERSION = '1.12.0';
const STDERR_TAIL_LINES = 60;
const MAX_STDERR_LINE = 1024 * 1024;

const GPU_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'gpu');
const HANDLER = path.join(GPU_DIR, 'handler.py');
const FAKE_SEPARATOR = path.join(GPU_DIR, 'tests', 'fake_audio_separator.py');
/** The worker's default VOICESTUDIO_SEPARATOR_MODEL (gpu/README.md). */
const SEPARATOR_MODEL = 'model_bs_roformer_ep_317_sdr_12.9755.ckpt';

/** Builds the stand-in through the Python tests' own helper, so it is exactly what they use. */
const BUILD_STANDIN = [
  'import json, sys',
  'from tests.support import build_fake_applio',
  'build_fake_applio(sys.argv[1])',
  'print(json.dumps({"python": sys.executable}))',
].join('\n');

interface Slot {
  workerId: string;
  dir: string;
  scratch: string;
  run: RunState | undefined;
}

interface RunState {
  job: JobRecord;
  slot: Slot;
  proc: ChildProcess | undefined;
  token: string;
  jobFile: string;
  startedAt: number;
  redelivery: boolean;
  stdout: Buffer[];
  stdoutBytes: number;
  stderrTail: string[];
  killed: 'cancel' | 'timeout' | 'ttl' | 'retention' | 'stop' | undefined;
  done: Promise<void>;
  /** Set while the run's completion is held back (completionDelayMs): finishes it now. */
  finishNow: (() => void) | undefined;
}

interface JobRecord {
  id: string;
  input: unknown;
  inputBytes: number;
  webhook: string | undefined;
  executionTimeoutMs: number;
  ttlMs: number;
  status: JobStatus;
  attempts: number;
  createdAt: number;
  /** Submission or latest retry: the base of delayTime and of the TTL. */
  queuedAt: number;
  startedAt: number | undefined;
  completedAt: number | undefined;
  executionMs: number | undefined;
  delayMs: number | undefined;
  workerId: string | undefined;
  output: { value: unknown } | undefined;
  error: unknown;
  progress: { value: unknown } | undefined;
  progressUpdates: number;
  outputDropped: boolean;
  /** An at-least-once re-run is queued or running. */
  redeliveryPending: boolean;
  run: RunState | undefined;
}

interface Reply {
  status: number;
  body: unknown;
  jobId?: string;
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomWorkerId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let id = '';
  for (let i = 0; i < 14; i++) id += alphabet[Math.floor(Math.random() * alphabet.length)];
  return id;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function formatLimit(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MB` : `${bytes} bytes`;
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone, or not ours
  }
}

/** Pids whose environment contains `needle` (Linux /proc); [] elsewhere. */
function pidsWithEnv(needle: string): number[] {
  if (process.platform !== 'linux') return [];
  const found: number[] = [];
  const bytes = Buffer.from(needle);
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`).includes(bytes)) found.push(pid);
    } catch {
      // not readable or gone
    }
  }
  return found;
}

/** Descendants of `root` from `ps` (used where /proc is not available). */
function descendants(root: number): number[] {
  let table: string;
  try {
    table = execFileSync('ps', ['-A', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const line of table.split('\n')) {
    const [pid, ppid] = line.trim().split(/\s+/).map(Number);
    if (!pid || ppid === undefined || Number.isNaN(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop() as number;
    for (const child of children.get(pid) ?? []) {
      out.push(child);
      stack.push(child);
    }
  }
  return out;
}

/**
 * Kills a worker the way RunPod stops a container: the handler and everything it started, including Applio's
 * processes, which run in sessions of their own. They are found by a marker in their inherited environment.
 */
function killWorkerTree(rootPid: number | undefined, marker: string): void {
  const extra = process.platform === 'linux' || rootPid === undefined ? [] : descendants(rootPid);
  if (rootPid !== undefined) tryKill(-rootPid, 'SIGKILL');
  for (const pid of extra) tryKill(pid, 'SIGKILL');
  for (let pass = 0; pass < 5; pass++) {
    const pids = pidsWithEnv(marker);
    if (pids.length === 0) break;
    for (const pid of pids) {
      tryKill(-pid, 'SIGKILL');
      tryKill(pid, 'SIGKILL');
    }
  }
}

/** The `input.task` of a /run body, for faults aimed at one kind of job. */
function submittedTask(body: Buffer): unknown {
  try {
    return (JSON.parse(body.toString('utf8')) as { input?: { task?: unknown } }).input?.task;
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<{ body: Buffer; bytes: number; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > limit) {
        tooLarge = true;
        chunks.length = 0; // keep reading (so the client gets the 400), store nothing
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve({ body: Buffer.concat(chunks), bytes, tooLarge }));
    req.on('error', reject);
  });
}

// ------------------------------------------------------------------------------------------------- emulator ----

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const apiKey = options.apiKey ?? 'test-key';
  const endpointId = options.endpointId ?? 'vs-test';
  const workerCount = Math.max(1, Math.floor(options.workers ?? 2));
  const maxRequestBytes = options.maxRequestBytes ?? 10 * 1024 * 1024;
  const maxOutputBytes = options.maxOutputBytes ?? 20 * 1024 * 1024;
  const retentionMs = options.retentionMs ?? 30 * 60_000;
  const defaultExecutionTimeoutMs = options.defaultExecutionTimeoutMs ?? 600_000;
  const defaultTtlMs = options.defaultTtlMs ?? 24 * 3_600_000;
  const webhookRetryDelayMs = options.webhookRetryDelayMs ?? 10_000;
  const clock = options.clock ?? { now: () => Date.now() };
  const emulatorId = randomUUID().slice(0, 8);

  const root = await mkdtemp(path.join(tmpdir(), 'vs-runpod-emu-'));
  try {
    // ---- the stand-in Applio checkout, the volume, worker slots, the Applio hold switch
    const applioDir = path.join(root, 'applio');
    const built = await new Promise<string>((resolve, reject) => {
      execFile(options.python ?? 'python3', ['-c', BUILD_STANDIN, applioDir], { cwd: GPU_DIR, encoding: 'utf8' }, (error, stdout, stderr) => {
        if (error) reject(new Error(`building the Applio stand-in failed: ${error.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
    const python = (JSON.parse(built.trim().split('\n').pop() ?? '{}') as { python?: string }).python;
    if (!python) throw new Error(`building the Applio stand-in printed no interpreter path: ${built}`);

    let volumeDir: string | undefined;
    let volumeEnv: string;
    if (options.volumeDir === null || options.volumeDir === false) {
      volumeDir = undefined;
      volumeEnv = path.join(root, 'no-volume-mounted');
    } else if (typeof options.volumeDir === 'string') {
      volumeDir = path.resolve(options.volumeDir);
      volumeEnv = volumeDir;
    } else {
      volumeDir = path.join(root, 'volume');
      mkdirSync(volumeDir);
      volumeEnv = volumeDir;
    }

    const holdFile = path.join(root, 'applio-hold');
    const applioPython = path.join(root, 'bin', 'applio-python');
    mkdirSync(path.dirname(applioPython));
    writeFileSync(
      applioPython,
      `#!/bin/sh\n# Applio's interpreter, held while ${holdFile} exists (Emulator.holdApplio).\n` +
        `while [ -e ${shellQuote(holdFile)} ]; do sleep 0.02; done\nexec ${shellQuote(python)} "$@"\n`,
      { mode: 0o755 },
    );
    mkdirSync(path.join(root, 'jobs'));
    // The separation model the image bakes in: the audio-separator stand-in only checks that the file is there.
    mkdirSync(path.join(root, 'separator-models'));
    writeFileSync(path.join(root, 'separator-models', SEPARATOR_MODEL), '');

    const slots: Slot[] = [];
    for (let i = 0; i < workerCount; i++) {
      const workerId = randomWorkerId();
      const dir = path.join(root, 'workers', workerId);
      mkdirSync(dir, { recursive: true });
      slots.push({ workerId, dir, scratch: path.join(dir, 'scratch'), run: undefined });
    }

    const baseEnv: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (value === undefined) continue;
      if (key.startsWith('VOICESTUDIO_') || key.startsWith('FAKE_APPLIO_') || key.startsWith('RUNPOD_')) continue;
      if (key === 'APPLIO_DIR' || key === 'APPLIO_PYTHON') continue;
      baseEnv[key] = value;
    }
    Object.assign(baseEnv, {
      APPLIO_DIR: applioDir,
      APPLIO_PYTHON: applioPython,
      VOICESTUDIO_VOLUME: volumeEnv,
      VOICESTUDIO_SEPARATOR_BIN: FAKE_SEPARATOR,
      VOICESTUDIO_SEPARATOR_MODEL_DIR: path.join(root, 'separator-models'),
      // The stand-in runs without torch or a GPU, as the worker's own tests do (gpu/tests/support.py).
      VOICESTUDIO_ALLOW_CPU: '1',
      RUNPOD_ENDPOINT_ID: endpointId,
    });
    // The FFmpeg the CLI itself uses (FFMPEG_PATH, else PATH, else the bundled binaries), so the worker runs where
    // no FFmpeg is installed too, as the README promises.
    // From the build, as the e2e tests run the built CLI: serve.ts loads this file in plain Node, which cannot resolve src/.
    const { locateFfmpeg } = (await import(new URL('../../dist/audio/ffmpeg.js', import.meta.url).href)) as typeof FfmpegModule;
    const tools = await locateFfmpeg(process.env);
    baseEnv.FFMPEG_PATH = tools.ffmpeg.path;
    baseEnv.FFPROBE_PATH = tools.ffprobe.path;
    if (options.applioFault) baseEnv.FAKE_APPLIO_FAULT = options.applioFault;
    Object.assign(baseEnv, options.workerEnv ?? {});

    // ---- state
    const jobs = new Map<string, JobRecord>();
    const queue: string[] = [];
    const requests: RecordedRequest[] = [];
    const webhookDeliveries: WebhookDelivery[] = [];
    const deliveryWaiters = new Map<string, ((delivery: WebhookDelivery) => void)[]>();
    const webhookDelivered = (jobId: string): Promise<WebhookDelivery> => {
      const delivered = webhookDeliveries.find((d) => d.jobId === jobId);
      if (delivered !== undefined) return Promise.resolve(delivered);
      return new Promise((resolve) => deliveryWaiters.set(jobId, [...(deliveryWaiters.get(jobId) ?? []), resolve]));
    };
    const webhookTimers = new Set<NodeJS.Timeout>();
    const webhookAbort = new AbortController();
    const counters = { completed: 0, failed: 0, retried: 0 };
    let faults: FaultPlan | undefined;
    let faultsInjected = 0;
    let faultRandom = Math.random;
    let rerunRandom = Math.random;
    let stopped = false;

    const setFaults = (plan: FaultPlan | undefined): void => {
      faults = plan;
      faultsInjected = 0;
      const seed = plan?.seed ?? Math.floor(Math.random() * 2 ** 32);
      faultRandom = prng(seed);
      rerunRandom = prng(seed ^ 0x5bd1e995);
    };
    setFaults(options.faults);

    const markerFor = (token: string) => `${MARKER_VAR}=${emulatorId}:${token}\0`;

    // ---- job lifecycle
    const statusBody = (job: JobRecord): Record<string, unknown> => {
      const body: Record<string, unknown> = { id: job.id, status: job.status };
      if (job.status === 'IN_QUEUE') return body;
      if (job.delayMs !== undefined) body.delayTime = job.delayMs;
      if (job.status === 'IN_PROGRESS') {
        if (job.startedAt !== undefined) body.executionTime = Math.max(0, clock.now() - job.startedAt);
        if (job.workerId) body.workerId = job.workerId;
        if (job.progress) body.output = job.progress.value;
        return body;
      }
      if (job.executionMs !== undefined) body.executionTime = job.executionMs;
      if (job.workerId) body.workerId = job.workerId;
      if (job.output) body.output = job.output.value;
      if (job.error !== undefined) body.error = job.error;
      return body;
    };

    const deliverWebhook = (job: JobRecord): void => {
      const url = job.webhook;
      if (!url || stopped) return;
      const payload = JSON.stringify(statusBody(job));
      const attempt = (n: number): void => {
        if (stopped) return;
        fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload, signal: AbortSignal.any([webhookAbort.signal, AbortSignal.timeout(10_000)]) })
          .then(
            async (response) => {
              await response.arrayBuffer().catch(() => undefined);
              return response.status;
            },
            () => 0,
          )
          .then((status) => {
            const delivery: WebhookDelivery = { jobId: job.id, url, attempt: n, status, at: clock.now() };
            webhookDeliveries.push(delivery);
            for (const resolve of deliveryWaiters.get(job.id) ?? []) resolve(delivery);
            deliveryWaiters.delete(job.id);
            // "Your webhook should return a 200 … Runpod retries up to 2 more times with a 10-second delay."
            if (status !== 200 && n < 3 && !stopped) {
              const timer = setTimeout(() => {
                webhookTimers.delete(timer);
                attempt(n + 1);
              }, webhookRetryDelayMs);
              webhookTimers.add(timer);
            }
          });
      };
      attempt(1);
    };

    const finishRun = (run: RunState, code: number | null, signal: NodeJS.Signals | null, spawnError: Error | undefined): void => {
      const { job, slot } = run;
      slot.run = undefined;
      if (job.run === run) job.run = undefined;
      try {
        unlinkSync(run.jobFile);
      } catch {
        // already gone
      }
      killWorkerTree(undefined, markerFor(run.token)); // children that outlived the handler
      if (run.killed || stopped) {
        schedule();
        return;
      }
      const now = clock.now();
      let status: JobStatus;
      let output: { value: unknown } | undefined;
      let error: unknown;
      let dropped = false;
      const stdoutText = run.stdoutBytes <= maxOutputBytes ? Buffer.concat(run.stdout).toString('utf8').trim() : '';
      let parsed: { value: unknown } | undefined;
      if (code === 0 && !spawnError && run.stdoutBytes <= maxOutputBytes && stdoutText) {
        try {
          parsed = { value: JSON.parse(stdoutText) as unknown };
        } catch {
          parsed = undefined;
        }
      }
      if (code === 0 && !spawnError && run.stdoutBytes > maxOutputBytes) {
        // RunPod: the worker's result POST is rejected; the job still ends COMPLETED, without output.
        status = 'COMPLETED';
        dropped = true;
      } else if (parsed) {
        const value = parsed.value;
        if (isPlainObject(value) && 'error' in value) {
          // runpod-python pops `error` and reports FAILED; the remaining keys (if any) become the output.
          status = 'FAILED';
          const { error: message, ...rest } = value;
          error = message;
          if (Object.keys(rest).length > 0) output = { value: rest };
        } else {
          status = 'COMPLETED';
          output = { value };
        }
      } else {
        // The handler crashed: RunPod reports a raised exception as a JSON-encoded string.
        status = 'FAILED';
        const how = spawnError
          ? `could not start the worker process: ${spawnError.message}`
          : `the worker process exited with ${signal ? `signal ${signal}` : `code ${String(code)}`} without a JSON result on stdout`;
        error = JSON.stringify({
          error_type: "<class 'RuntimeError'>",
          error_message: how,
          error_traceback: run.stderrTail.join('\n'),
          hostname: hostname(),
          worker_id: slot.workerId,
          runpod_version: RUNPOD_VERSION,
        });
      }
      job.status = status;
      job.output = output;
      job.error = error;
      job.outputDropped = dropped;
      job.progress = undefined;
      job.completedAt = now;
      job.executionMs = now - run.startedAt;
      job.workerId = slot.workerId;
      if (status === 'COMPLETED') counters.completed++;
      else counters.failed++;
      job.redeliveryPending = false;
      const runTwice = faults?.runTwice ?? 0;
      if (status === 'COMPLETED' && !run.redelivery && runTwice > 0 && rerunRandom() < runTwice) {
        job.redeliveryPending = true;
        counters.retried++;
        queue.push(job.id);
      }
      deliverWebhook(job);
      schedule();
    };

    const startRun = (job: JobRecord, slot: Slot): void => {
      const now = clock.now();
      const redelivery = job.redeliveryPending;
      job.attempts++;
      job.progressUpdates = 0;
      if (!redelivery) {
        job.status = 'IN_PROGRESS';
        job.startedAt = now;
        job.delayMs = now - job.queuedAt;
        job.workerId = slot.workerId;
        job.progress = undefined;
      }
      const token = randomUUID();
      const jobFile = path.join(root, 'jobs', `${job.id}.${job.attempts}.json`);
      writeFileSync(jobFile, JSON.stringify({ id: job.id, input: job.input }));
      let resolveDone: () => void = () => undefined;
      const done = new Promise<void>((resolve) => {
        resolveDone = resolve;
      });
      const run: RunState = {
        job,
        slot,
        proc: undefined,
        token,
        jobFile,
        startedAt: now,
        redelivery,
        stdout: [],
        stdoutBytes: 0,
        stderrTail: [],
        killed: undefined,
        done,
        finishNow: undefined,
      };
      slot.run = run;
      job.run = run;

      const env = {
        ...baseEnv,
        VOICESTUDIO_SCRATCH: slot.scratch,
        RUNPOD_POD_ID: slot.workerId,
        [MARKER_VAR]: `${emulatorId}:${token}`,
      };
      const proc = spawn(python, [HANDLER, '--local-job', jobFile], {
        cwd: slot.dir,
        env,
        detached: true, // its own process group, so a kill reaches its direct children too
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      run.proc = proc;

      proc.stdout.on('data', (chunk: Buffer) => {
        run.stdoutBytes += chunk.length;
        if (run.stdoutBytes <= maxOutputBytes) run.stdout.push(chunk);
        else run.stdout.length = 0;
      });
      let pending = '';
      proc.stderr.setEncoding('utf8');
      proc.stderr.on('data', (text: string) => {
        pending += text;
        let newline = pending.indexOf('\n');
        while (newline >= 0) {
          const line = pending.slice(0, newline);
          pending = pending.slice(newline + 1);
          onStderrLine(run, line);
          newline = pending.indexOf('\n');
        }
        if (pending.length > MAX_STDERR_LINE) pending = '';
      });

      let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let stdoutEnded = false;
      let finished = false;
      const maybeFinish = (spawnError?: Error): void => {
        if (finished) return;
        if (!spawnError && (!exited || !stdoutEnded)) return;
        finished = true;
        const finish = (): void => {
          run.finishNow = undefined;
          finishRun(run, exited?.code ?? null, exited?.signal ?? null, spawnError);
          resolveDone();
        };
        const delayMs = run.killed || stopped || spawnError ? 0 : (options.completionDelayMs?.({ id: job.id, task: isPlainObject(job.input) ? job.input.task : undefined, attempt: job.attempts }) ?? 0);
        if (delayMs > 0) {
          const timer = setTimeout(finish, delayMs);
          run.finishNow = () => {
            clearTimeout(timer);
            finish();
          };
        } else {
          finish();
        }
      };
      // stderr may stay open in orphaned grandchildren; stdout is only ever the handler's.
      proc.stdout.on('end', () => {
        stdoutEnded = true;
        maybeFinish();
      });
      proc.on('exit', (code, signal) => {
        exited = { code, signal };
        maybeFinish();
      });
      proc.on('error', (err) => maybeFinish(err));
    };

    const onStderrLine = (run: RunState, raw: string): void => {
      const line = raw.trim();
      if (!line) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = undefined;
      }
      if (isPlainObject(parsed) && 'progress' in parsed) {
        run.job.progressUpdates++;
        if (!run.redelivery && run.job.run === run) run.job.progress = { value: parsed.progress };
        return;
      }
      const text = isPlainObject(parsed) && typeof parsed.log === 'string' ? parsed.log : line;
      run.stderrTail.push(text);
      if (run.stderrTail.length > STDERR_TAIL_LINES) run.stderrTail.shift();
    };

    const killRun = (run: RunState, reason: NonNullable<RunState['killed']>): void => {
      if (run.killed) return;
      run.killed = reason;
      // A held-back completion: the worker process is gone already (its pid may be reused), only the result waits.
      if (run.finishNow !== undefined) run.finishNow();
      else killWorkerTree(run.proc?.pid, markerFor(run.token));
    };

    const schedule = (): void => {
      while (!stopped) {
        const slot = slots.find((s) => !s.run);
        if (!slot) return;
        const id = queue.shift();
        if (id === undefined) return;
        const job = jobs.get(id);
        if (!job || job.run) continue;
        if (job.status === 'IN_QUEUE' || job.redeliveryPending) startRun(job, slot);
      }
    };

    const removeFromQueue = (id: string): void => {
      for (let i = queue.length - 1; i >= 0; i--) if (queue[i] === id) queue.splice(i, 1);
    };

    const deleteJob = (job: JobRecord, reason: 'ttl' | 'retention'): void => {
      jobs.delete(job.id);
      removeFromQueue(job.id);
      if (job.run) killRun(job.run, reason);
    };

    const sweep = (): void => {
      const now = clock.now();
      for (const job of [...jobs.values()]) {
        if (job.status === 'IN_QUEUE' || job.status === 'IN_PROGRESS') {
          if (now >= job.queuedAt + job.ttlMs) {
            deleteJob(job, 'ttl'); // "the job is deleted, even mid-run"
            continue;
          }
        }
        const run = job.run;
        if (run && !run.killed && now - run.startedAt >= job.executionTimeoutMs) {
          killRun(run, 'timeout');
          job.status = 'TIMED_OUT';
          job.output = undefined;
          job.error = undefined;
          job.progress = undefined;
          job.completedAt = now;
          job.executionMs = now - run.startedAt;
          job.workerId = run.slot.workerId;
          job.redeliveryPending = false;
          counters.failed++;
          deliverWebhook(job);
          continue;
        }
        if (TERMINAL.has(job.status) && job.completedAt !== undefined && now >= job.completedAt + retentionMs) {
          deleteJob(job, 'retention');
        }
      }
      schedule();
    };
    const sweeper = setInterval(sweep, 20);
    sweeper.unref();

    // ---- routes
    const jobOr404 = (id: string): JobRecord => {
      const job = jobs.get(id);
      if (!job) throw new HttpError(404, `job ${id} not found (unknown, expired or deleted)`);
      return job;
    };

    const positiveMs = (value: unknown, name: string): number | undefined => {
      if (value === undefined || value === null) return undefined;
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
        throw new HttpError(400, `policy.${name} must be a positive number of milliseconds`);
      }
      return value;
    };

    const handleRun = (body: Buffer): Reply => {
      let request: unknown;
      try {
        request = JSON.parse(body.toString('utf8'));
      } catch {
        throw new HttpError(400, 'json is invalid');
      }
      if (!isPlainObject(request) || request.input === undefined || request.input === null) {
        throw new HttpError(400, 'the request body must be a JSON object with an "input" field');
      }
      const policy = request.policy;
      if (policy !== undefined && policy !== null && !isPlainObject(policy)) throw new HttpError(400, 'policy must be an object');
      const executionTimeoutMs =
        positiveMs(isPlainObject(policy) ? policy.executionTimeout : undefined, 'executionTimeout') ??
        (typeof defaultExecutionTimeoutMs === 'function' ? defaultExecutionTimeoutMs({ task: isPlainObject(request.input) ? request.input.task : undefined }) : defaultExecutionTimeoutMs);
      const ttlMs = positiveMs(isPlainObject(policy) ? policy.ttl : undefined, 'ttl') ?? defaultTtlMs;
      const webhook = request.webhook;
      if (webhook !== undefined && webhook !== null && typeof webhook !== 'string') throw new HttpError(400, 'webhook must be a URL string');
      const now = clock.now();
      const job: JobRecord = {
        id: `${randomUUID()}-e1`,
        input: request.input,
        inputBytes: Buffer.byteLength(JSON.stringify(request.input)),
        webhook: webhook ?? undefined,
        executionTimeoutMs,
        ttlMs,
        status: 'IN_QUEUE',
        attempts: 0,
        createdAt: now,
        queuedAt: now,
        startedAt: undefined,
        completedAt: undefined,
        executionMs: undefined,
        delayMs: undefined,
        workerId: undefined,
        output: undefined,
        error: undefined,
        progress: undefined,
        progressUpdates: 0,
        outputDropped: false,
        redeliveryPending: false,
        run: undefined,
      };
      jobs.set(job.id, job);
      queue.push(job.id);
      schedule();
      return { status: 200, body: { id: job.id, status: 'IN_QUEUE' }, jobId: job.id };
    };

    const handleCancel = (job: JobRecord): Reply => {
      if (job.status === 'IN_QUEUE' || job.status === 'IN_PROGRESS') {
        const now = clock.now();
        removeFromQueue(job.id);
        if (job.run) {
          job.executionMs = now - job.run.startedAt;
          killRun(job.run, 'cancel');
        }
        job.status = 'CANCELLED';
        job.progress = undefined;
        job.completedAt = now;
        deliverWebhook(job);
      }
      return { status: 200, body: { id: job.id, status: job.status }, jobId: job.id };
    };

    const handleRetry = (job: JobRecord): Reply => {
      if (job.status !== 'FAILED' && job.status !== 'TIMED_OUT') {
        throw new HttpError(400, `job ${job.id} is ${job.status}; only FAILED or TIMED_OUT jobs can be retried`);
      }
      const now = clock.now();
      job.status = 'IN_QUEUE';
      job.queuedAt = now;
      job.startedAt = undefined;
      job.completedAt = undefined;
      job.executionMs = undefined;
      job.delayMs = undefined;
      job.workerId = undefined;
      job.output = undefined; // "old output removed"
      job.error = undefined;
      job.progress = undefined;
      job.outputDropped = false;
      counters.retried++;
      queue.push(job.id);
      schedule();
      return { status: 200, body: { id: job.id, status: 'IN_QUEUE' }, jobId: job.id };
    };

    const handleHealth = (): Reply => {
      let inProgress = 0;
      let inQueue = 0;
      for (const job of jobs.values()) {
        if (job.status === 'IN_PROGRESS') inProgress++;
        else if (job.status === 'IN_QUEUE') inQueue++;
      }
      const running = slots.filter((s) => s.run).length;
      return {
        status: 200,
        body: {
          jobs: { completed: counters.completed, failed: counters.failed, inProgress, inQueue, retried: counters.retried },
          workers: { idle: slots.length - running, running },
        },
      };
    };

    const handlePurge = (): Reply => {
      let removed = 0;
      for (const job of [...jobs.values()]) {
        if (job.status === 'IN_QUEUE') {
          jobs.delete(job.id);
          removeFromQueue(job.id);
          removed++;
        }
      }
      return { status: 200, body: { removed, status: 'completed' } };
    };

    const ROUTES: Record<string, { route: Route; method: string; withJob: boolean }> = {
      run: { route: 'run', method: 'POST', withJob: false },
      status: { route: 'status', method: 'GET', withJob: true },
      cancel: { route: 'cancel', method: 'POST', withJob: true },
      retry: { route: 'retry', method: 'POST', withJob: true },
      health: { route: 'health', method: 'GET', withJob: false },
      'purge-queue': { route: 'purge-queue', method: 'POST', withJob: false },
    };
    const NOT_EMULATED = new Set(['runsync', 'stream', 'status-sync', 'requests']);

    const draw = (table: Partial<Record<Route, number>> | undefined, route: Route, taskSelected: boolean): boolean => {
      const p = table?.[route];
      if (!taskSelected || p === undefined || p <= 0 || faultsInjected >= (faults?.limit ?? Infinity) || faultRandom() >= p) return false;
      faultsInjected += 1;
      return true;
    };

    const onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const parts = url.pathname.split('/');
      // ['', 'v2', endpoint, op, job?]
      const op = parts[3] ?? '';
      const spec = parts[1] === 'v2' && parts.length >= 4 && Object.hasOwn(ROUTES, op) ? ROUTES[op] : undefined;
      const shapeOk = spec !== undefined && parts.length === (spec.withJob ? 5 : 4) && (!spec.withJob || (parts[4] ?? '') !== '');
      const route: Route | 'unknown' = spec && shapeOk ? spec.route : 'unknown';
      const record: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, route, status: 0, bodyBytes: 0, at: clock.now() };
      requests.push(record);

      const send = (status: number, body: unknown): void => {
        record.status = status;
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      const drop = (kind: FaultKind): void => {
        record.fault = kind;
        record.status = 0;
        req.socket.destroy();
      };

      let read: { body: Buffer; bytes: number; tooLarge: boolean };
      try {
        read = await readBody(req, maxRequestBytes);
      } catch {
        return; // the client went away
      }
      record.bodyBytes = read.bytes;
      if (stopped) {
        send(503, { error: 'the emulator is stopping' });
        return;
      }

      const taskSelected = route !== 'run' || faults?.tasks === undefined || faults.tasks.includes(String(submittedTask(read.body)));
      if (route !== 'unknown') {
        if (draw(faults?.dropBeforeHandling, route, taskSelected)) return drop('dropBeforeHandling');
        if (draw(faults?.http429, route, taskSelected)) {
          record.fault = 'http429';
          return send(429, { error: 'Too Many Requests' });
        }
        if (draw(faults?.http5xx, route, taskSelected)) {
          record.fault = 'http5xx';
          const status = [500, 502, 503][Math.floor(faultRandom() * 3)] ?? 500;
          return send(status, { error: status === 500 ? 'Internal Server Error' : status === 502 ? 'Bad Gateway' : 'Service Unavailable' });
        }
      }

      sweep();
      const auth = req.headers.authorization ?? '';
      if (auth !== `Bearer ${apiKey}`) {
        return send(401, { error: '401 Unauthorized: the API key is missing or invalid (send "Authorization: Bearer <RUNPOD_API_KEY>")' });
      }
      if (parts[1] !== 'v2' || (parts[2] ?? '') === '') return send(404, { error: `no such route: ${url.pathname}` });
      if (parts[2] !== endpointId) return send(404, { error: `endpoint ${parts[2] ?? ''} not found` });
      if (NOT_EMULATED.has(op)) return send(501, { error: `/${op} is not emulated; use /run and /status` });
      if (!spec || !shapeOk) return send(404, { error: `no such route: ${url.pathname}` });
      if (req.method !== spec.method) return send(405, { error: `${url.pathname} expects ${spec.method}` });

      let reply: Reply;
      try {
        if (route === 'run') {
          if (read.tooLarge) {
            throw new HttpError(400, `json is invalid; max size is ${formatLimit(maxRequestBytes)} (request body was ${read.bytes} bytes)`);
          }
          reply = handleRun(read.body);
        } else if (route === 'status') {
          const job = jobOr404(parts[4] ?? '');
          reply = { status: 200, body: statusBody(job), jobId: job.id };
        } else if (route === 'cancel') {
          reply = handleCancel(jobOr404(parts[4] ?? ''));
        } else if (route === 'retry') {
          reply = handleRetry(jobOr404(parts[4] ?? ''));
        } else if (route === 'health') {
          reply = handleHealth();
        } else {
          reply = handlePurge();
        }
      } catch (err) {
        if (err instanceof HttpError) {
          if (spec.withJob) record.jobId = parts[4];
          return send(err.status, { error: err.message });
        }
        return send(500, { error: `emulator bug: ${err instanceof Error ? err.stack : String(err)}` });
      }
      if (reply.jobId) record.jobId = reply.jobId;
      if (route !== 'unknown' && draw(faults?.dropAfterHandling, route, taskSelected)) return drop('dropAfterHandling');
      send(reply.status, reply.body);
    };

    // ---- server
    const server: Server = createServer((req, res) => {
      onRequest(req, res).catch((err: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: `emulator bug: ${String(err)}` }));
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;

    const stop = async (): Promise<void> => {
      if (stopped) return;
      stopped = true;
      clearInterval(sweeper);
      for (const timer of webhookTimers) clearTimeout(timer);
      webhookTimers.clear();
      webhookAbort.abort();
      const runs = slots.map((s) => s.run).filter((r): r is RunState => r !== undefined);
      for (const run of runs) killRun(run, 'stop');
      await Promise.race([Promise.all(runs.map((r) => r.done)), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
      killWorkerTree(undefined, `${MARKER_VAR}=${emulatorId}:`);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await rm(root, { recursive: true, force: true, maxRetries: 3 });
    };

    return {
      url: `http://127.0.0.1:${port}/v2`,
      endpointId,
      apiKey,
      volumeDir,
      applioDir,
      requests,
      webhookDeliveries,
      webhookDelivered,
      jobs: () =>
        [...jobs.values()].map((job) => {
          const view: EmulatedJob = {
            id: job.id,
            input: { task: isPlainObject(job.input) ? job.input.task : undefined, size: job.inputBytes },
            status: job.status,
            attempts: job.attempts,
            createdAt: job.createdAt,
            running: job.run !== undefined,
            outputDropped: job.outputDropped,
            progressUpdates: job.progressUpdates,
            executionTimeoutMs: job.executionTimeoutMs,
            ttlMs: job.ttlMs,
          };
          if (job.startedAt !== undefined) view.startedAt = job.startedAt;
          if (job.completedAt !== undefined) view.completedAt = job.completedAt;
          if (job.executionMs !== undefined) view.executionMs = job.executionMs;
          if (job.delayMs !== undefined) view.delayMs = job.delayMs;
          if (job.workerId !== undefined) view.workerId = job.workerId;
          if (job.status === 'COMPLETED' && job.output !== undefined) view.output = job.output.value;
          return view;
        }),
      setFaults,
      holdApplio: () => writeFileSync(holdFile, ''),
      releaseApplio: () => rmSync(holdFile, { force: true }),
      liveProcesses: () => {
        if (process.platform === 'linux') return pidsWithEnv(`${MARKER_VAR}=${emulatorId}:`);
        return slots.map((s) => s.run?.proc?.pid).filter((pid): pid is number => pid !== undefined);
      },
      stop,
    };
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}
