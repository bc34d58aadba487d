/**
 * Polls a RunPod job until it ends. Short jobs are polled quickly so a finished conversion is noticed within
 * about a second; training is polled gently. Waiting never cancels the remote job: on abort or deadline the
 * caller decides whether to cancel or detach.
 */
import type { RunpodClient } from './client.js';
import { JobFailedError, JobOutputMissingError, WaitDeadlineError } from './errors.js';
import { abortableSleep, isRetryable, type Sleep } from './retry.js';
import { isWorkerProgress, TERMINAL_STATUSES, type JobState } from './types.js';

/** 'short': conversions and blob tasks (seconds). 'long': training (minutes to hours). */
export type PollPlan = 'short' | 'long';

interface PollSchedule {
  firstMs: number;
  factor: number;
  capMs: number;
}

const POLL_SCHEDULES: Readonly<Record<PollPlan, PollSchedule>> = {
  short: { firstMs: 250, factor: 1.5, capMs: 1000 },
  long: { firstMs: 1000, factor: 1.5, capMs: 5000 },
};

/** The pause after poll number `poll` (0 = after the first status request). */
export function pollDelayMs(plan: PollPlan, poll: number): number {
  const { firstMs, factor, capMs } = POLL_SCHEDULES[plan];
  return Math.min(capMs, Math.round(firstMs * factor ** poll));
}

export type CompletedJobState = JobState & { status: 'COMPLETED' };

/**
 * The job runs on regardless of the API's hiccups, so a wait keeps polling through transient status
 * errors (after the client's own retries) until they have lasted this long without one success.
 */
export const STATUS_OUTAGE_TOLERANCE_MS = 5 * 60_000;

export interface WaitForJobOptions {
  signal?: AbortSignal;
  /** Overall limit from the start of waiting; none by default. */
  deadlineMs?: number;
  /** Every status seen, progress included (while IN_PROGRESS, `output` is the worker's latest progress payload). */
  onUpdate?: (state: JobState) => void;
  pollPlan?: PollPlan;
  now?: () => number;
  sleep?: Sleep;
}

/**
 * Resolves with the COMPLETED state (with its output). Rejects with JobFailedError (FAILED, TIMED_OUT,
 * CANCELLED), JobOutputMissingError, RunpodJobExpiredError (404), WaitDeadlineError, a transient status error
 * that lasted STATUS_OUTAGE_TOLERANCE_MS, a final one (auth), or the signal's reason on abort.
 */
export async function waitForJob(client: Pick<RunpodClient, 'status'>, jobId: string, options: WaitForJobOptions = {}): Promise<CompletedJobState> {
  const { signal, deadlineMs = Number.POSITIVE_INFINITY, onUpdate, pollPlan = 'short', now = Date.now, sleep = abortableSleep } = options;
  const startedAt = now();
  let failingSince: number | undefined;
  for (let poll = 0; ; poll++) {
    if (signal?.aborted === true) throw signal.reason;
    let state: JobState;
    try {
      state = await client.status(jobId, { signal });
      failingSince = undefined;
    } catch (error) {
      // A 404 or an auth error is final; an outage is waited out, within limits.
      signal?.throwIfAborted();
      if (!isRetryable(error, 'status')) throw error;
      failingSince ??= now();
      if (now() - failingSince >= STATUS_OUTAGE_TOLERANCE_MS || now() - startedAt >= deadlineMs) throw error;
      await sleep(pollDelayMs(pollPlan, poll), signal);
      continue;
    }
    onUpdate?.(state);
    if (TERMINAL_STATUSES.has(state.status)) return completedOrThrow(state);
    const remainingMs = startedAt + deadlineMs - now();
    if (remainingMs <= 0) throw new WaitDeadlineError({ jobId, waitedMs: now() - startedAt, lastStatus: state.status });
    // Never sleep past the deadline: one last poll there may still find the job done.
    await sleep(Math.min(pollDelayMs(pollPlan, poll), remainingMs), signal);
  }
}

/** Called for terminal states only: anything not failed is COMPLETED. */
function completedOrThrow(state: JobState): CompletedJobState {
  const { status } = state;
  if (status === 'FAILED' || status === 'TIMED_OUT' || status === 'CANCELLED') throw new JobFailedError({ jobId: state.id, status, error: state.error, executionMs: state.executionTime });
  // A progress payload left as the output means the result itself never arrived, like no output at all.
  if (state.output === undefined || state.output === null || isWorkerProgress(state.output)) throw new JobOutputMissingError({ jobId: state.id });
  return { ...state, status: 'COMPLETED' };
}
