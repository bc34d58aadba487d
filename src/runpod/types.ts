/** RunPod Serverless shapes (see shared docs runpod.md) and the contract between the CLI and a worker backend. */

export type JobStatus = 'IN_QUEUE' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TIMED_OUT';

/** The one definition of "finished": RunPod's SDKs disagree about CANCELLED; it is terminal. */
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT']);

export interface JobState {
  id: string;
  status: JobStatus;
  /** While IN_PROGRESS: the worker's latest progress payload. When COMPLETED: the result. */
  output?: unknown;
  /** When FAILED: a string, or a JSON-encoded string for an exception raised in the handler. */
  error?: string;
  /** Time in the queue, ms. */
  delayTime?: number;
  /** Time running on a worker, ms (what is billed). */
  executionTime?: number;
  workerId?: string;
}

/** Per-job execution policy (milliseconds). RunPod's default execution timeout is 10 minutes. */
export interface JobPolicy {
  executionTimeout?: number;
  ttl?: number;
  lowPriority?: boolean;
}

export interface EndpointHealth {
  jobs: { completed: number; failed: number; inProgress: number; inQueue: number; retried: number };
  workers: { idle: number; running: number; initializing?: number; ready?: number; throttled?: number; unhealthy?: number };
}

/** A job input for gpu/handler.py: `task` names the operation (see gpu/README.md, "Job protocol"). */
export interface WorkerInput {
  task: 'info' | 'blob_has' | 'blob_put' | 'blob_commit' | 'blob_get' | 'train' | 'convert' | 'separate' | 'audition' | 'screen';
  [field: string]: unknown;
}

/** A progress payload: always has `task` and `stage` (results never have `stage`). */
export interface WorkerProgress {
  task: string;
  stage: string;
  message?: string;
  [field: string]: unknown;
}

export function isWorkerProgress(value: unknown): value is WorkerProgress {
  return typeof value === 'object' && value !== null && typeof (value as { stage?: unknown }).stage === 'string' && typeof (value as { task?: unknown }).task === 'string';
}

/**
 * Runs one small, idempotent worker task (info, blob_*) to completion and returns its output; throws a
 * VoicestudioError when the task fails. Safe to call again with the same input.
 */
export type TaskRunner = (input: WorkerInput, options?: { signal?: AbortSignal }) => Promise<Record<string, unknown>>;
