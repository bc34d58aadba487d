/**
 * Where worker jobs run: a RunPod Serverless endpoint, or gpu/handler.py on this machine (`--backend local`,
 * for users with their own GPU and Applio). Commands see one interface, so files and manifest are the same.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { ErrorCode, VoicestudioError } from '../errors.js';
import type { RunpodClient } from './client.js';
import { JobFailedError } from './errors.js';
import { waitForJob } from './wait.js';
import { isWorkerProgress, type JobPolicy, type TaskRunner, type WorkerInput, type WorkerProgress } from './types.js';

export interface CompletedJob {
  output: Record<string, unknown>;
  /** Billed running time, ms (RunPod's executionTime; wall time for local jobs). */
  executionMs: number | undefined;
}

export interface WaitOptions {
  signal?: AbortSignal;
  onProgress?: (progress: WorkerProgress) => void;
  /** Training: poll every few seconds rather than every second. */
  long?: boolean;
}

export interface Backend {
  readonly kind: 'runpod' | 'local';
  /** A label for the job ledger, e.g. the endpoint id. */
  readonly target: string;
  submit(input: WorkerInput, options?: { policy?: JobPolicy; signal?: AbortSignal }): Promise<string>;
  wait(jobId: string, options?: WaitOptions): Promise<CompletedJob>;
  /** Cancels the job; resolves with the time it ran (billed whatever the outcome) when that is known. */
  cancel(jobId: string): Promise<number | undefined>;
  /** Runs small idempotent tasks (info, blob_*): a lost or ambiguous one is simply sent again. */
  readonly runTask: TaskRunner;
}

/** The FFmpeg binaries a local worker is to use: FfmpegTools's shape, declared here so runpod/ needs no audio code. */
export interface WorkerTools {
  ffmpeg: { path: string };
  ffprobe: { path: string };
}

/** How often an idempotent task is sent again after an ambiguous submit or a lost job. */
const TASK_ATTEMPTS = 3;

function asResult(output: unknown, jobId: string): Record<string, unknown> {
  if (typeof output === 'object' && output !== null && !Array.isArray(output)) return output as Record<string, unknown>;
  throw new VoicestudioError(ErrorCode.Internal, `Job ${jobId} returned ${JSON.stringify(output)?.slice(0, 200)}, not a result object.`, {
    suggestion: 'The endpoint may run an older or different worker image; check `voicestudio doctor`.',
  });
}

export class RunpodBackend implements Backend {
  readonly kind = 'runpod' as const;
  readonly target: string;
  private readonly client: RunpodClient;

  constructor(client: RunpodClient, endpointId: string) {
    this.client = client;
    this.target = endpointId;
  }

  async submit(input: WorkerInput, options: { policy?: JobPolicy; signal?: AbortSignal } = {}): Promise<string> {
    return (await this.client.run(input, { ...options, idempotent: idempotentOnWorker(input) })).id;
  }

  async wait(jobId: string, options: WaitOptions = {}): Promise<CompletedJob> {
    const done = await waitForJob(this.client, jobId, {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      pollPlan: options.long === true ? 'long' : 'short',
      onUpdate: (state) => {
        if (state.status === 'IN_PROGRESS' && isWorkerProgress(state.output)) options.onProgress?.(state.output);
      },
    });
    return { output: asResult(done.output, jobId), executionMs: done.executionTime };
  }

  async cancel(jobId: string): Promise<number | undefined> {
    await this.client.cancel(jobId);
    // The cancel receipt carries no times; the status after it does. Only bookkeeping hangs on it: best effort.
    const state = await this.client.status(jobId).catch(() => undefined);
    return state?.executionTime;
  }

  readonly runTask: TaskRunner = async (input, options = {}) => {
    let lastError: unknown;
    for (let attempt = 1; attempt <= TASK_ATTEMPTS; attempt++) {
      try {
        const id = await this.submit(input, options);
        return (await this.wait(id, options)).output;
      } catch (error) {
        // A worker's own error (bad input, missing blob) is final; only lost or ambiguous jobs are sent again.
        if (error instanceof JobFailedError && error.status === 'FAILED') throw error;
        if (options.signal?.aborted) throw error;
        if (!isResendable(error)) throw error;
        lastError = error;
      }
    }
    throw lastError;
  };
}

/**
 * Whether the worker answers a duplicate of this job with the first one or its result, so that a submit that ended
 * ambiguously may be sent again: blob tasks and info by their nature, training by its run id with `if_busy:
 * "report"`, conversion and separation by their request key (gpu/README.md).
 */
function idempotentOnWorker(input: WorkerInput): boolean {
  if (input.task === 'train') return input.if_busy === 'report';
  if (input.task === 'convert' || input.task === 'separate') return typeof input.request_key === 'string';
  return true;
}

/** Errors after which an idempotent task may be sent again: its result was lost (submit() resends ambiguous submits itself). */
function isResendable(error: unknown): boolean {
  const name = error instanceof Error ? error.name : '';
  return ['RunpodJobExpiredError', 'JobOutputMissingError', 'RunpodServerError', 'RunpodConnectionError', 'RunpodTimeoutError'].includes(name) ||
    (error instanceof JobFailedError && error.status === 'TIMED_OUT');
}

/** gpu/handler.py inside this package: dist/runpod/backend.js → ../../gpu/handler.py. */
export const HANDLER_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'gpu', 'handler.py');

interface LocalJob {
  process: ResultPromise;
  startedAt: number;
  progress: WorkerProgress[];
  onProgress?: (progress: WorkerProgress) => void;
  dir: string;
}

/** Variables the worker, Applio and the GPU stack under it read (gpu/vsworker/settings.py, info.py; listed in gpu/README.md). */
const WORKER_ENV_NAMES = new Set([
  'PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'TMP', 'TEMP', 'SYSTEMROOT',
  'FFMPEG_PATH', 'FFPROBE_PATH',
  'LD_LIBRARY_PATH', 'PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'CONDA_PREFIX',
  'XDG_CACHE_HOME', 'HF_HOME', 'TORCH_HOME',
]);
const WORKER_ENV_PREFIXES = ['LC_', 'VOICESTUDIO_', 'APPLIO_', 'CUDA_', 'NVIDIA_', 'PYTORCH_'];

/**
 * The environment a local worker gets: what it needs, nothing else. The user's shell holds secrets (the
 * RunPod API key among them) that a worker process, and the Applio code it runs, has no business seeing.
 */
function workerEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && (WORKER_ENV_NAMES.has(name) || WORKER_ENV_PREFIXES.some((prefix) => name.startsWith(prefix)))) kept[name] = value;
  }
  return kept;
}

/**
 * Runs each job as `python3 gpu/handler.py --local-job` (the worker's own CLI), with the user's APPLIO_DIR,
 * VOICESTUDIO_VOLUME etc. (workerEnvironment). Jobs live as long as this process: a re-run resubmits, and
 * training resumes from its checkpoints because the worker keys runs by run_id.
 */
export class LocalBackend implements Backend {
  readonly kind = 'local' as const;
  readonly target = 'local';
  private readonly jobs = new Map<string, LocalJob>();
  private readonly python: string;
  private readonly env: Record<string, string>;

  /** `tools`: the FFmpeg this CLI found (maybe the bundled one), handed to the worker, which has no lookup of its own. */
  constructor(env: NodeJS.ProcessEnv, tools?: WorkerTools) {
    this.env = workerEnvironment(tools === undefined ? env : { ...env, FFMPEG_PATH: tools.ffmpeg.path, FFPROBE_PATH: tools.ffprobe.path });
    this.python = env.VOICESTUDIO_PYTHON ?? 'python3';
  }

  async submit(input: WorkerInput): Promise<string> {
    const id = `local-${randomUUID()}`;
    const dir = await mkdtemp(path.join(tmpdir(), 'voicestudio-job-'));
    const jobFile = path.join(dir, 'job.json');
    await writeFile(jobFile, JSON.stringify({ id, input }));
    const child = execa(this.python, [HANDLER_PATH, '--local-job', jobFile], { env: this.env, extendEnv: false, reject: false, stdin: 'ignore', buffer: { stdout: true, stderr: false } });
    const job: LocalJob = { process: child, startedAt: Date.now(), progress: [], dir };
    let pending = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const parsed = JSON.parse(line) as { progress?: unknown };
          if (isWorkerProgress(parsed.progress)) job.onProgress?.(parsed.progress);
        } catch {
          // Not every stderr line is a progress update (e.g. a Python warning).
        }
      }
    });
    this.jobs.set(id, job);
    return id;
  }

  async wait(jobId: string, options: WaitOptions = {}): Promise<CompletedJob> {
    const job = this.jobs.get(jobId);
    if (job === undefined) {
      throw new VoicestudioError(ErrorCode.Internal, `Local job ${jobId} is not running in this process.`, {
        suggestion: 'Local jobs end with the command that started them; run the command again (training resumes from its checkpoints).',
      });
    }
    if (options.onProgress !== undefined) job.onProgress = options.onProgress;
    const onAbort = (): void => void job.process.kill('SIGTERM');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await job.process;
      if (options.signal?.aborted) throw options.signal.reason;
      const executionMs = Date.now() - job.startedAt;
      let output: unknown;
      try {
        output = JSON.parse(String(result.stdout));
      } catch {
        throw new JobFailedError({ jobId, status: 'FAILED', error: `the local worker exited ${result.exitCode} without a result`, executionMs });
      }
      if (typeof output === 'object' && output !== null && typeof (output as { error?: unknown }).error === 'string') {
        throw new JobFailedError({ jobId, status: 'FAILED', error: (output as { error: string }).error, executionMs });
      }
      return { output: asResult(output, jobId), executionMs };
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      this.jobs.delete(jobId);
      await rm(job.dir, { recursive: true, force: true });
    }
  }

  async cancel(jobId: string): Promise<number | undefined> {
    const job = this.jobs.get(jobId);
    job?.process.kill('SIGTERM');
    return job === undefined ? undefined : Date.now() - job.startedAt;
  }

  readonly runTask: TaskRunner = async (input, options = {}) => {
    const id = await this.submit(input);
    return (await this.wait(id, options)).output;
  };
}
