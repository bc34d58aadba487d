/**
 * When to repeat a RunPod request, and how long to wait first. Pure functions plus one loop, so that the
 * policy is tested by the delays it records rather than by the clock.
 *
 * Reads and cancel repeat on anything transient. A submit (`run`, `retry`) repeats only when RunPod provably
 * never got it (connection refused, DNS, connect timeout) or refused it with 429: repeating after a 5xx, a
 * reset or a timeout could start a second billable GPU job — unless the job is idempotent on the worker
 * (`idempotent`), which then answers a duplicate with the first job or its result.
 */
import { setTimeout as delay } from 'node:timers/promises';
import {
  RunpodApiError,
  RunpodConnectionError,
  RunpodInsufficientBalanceError,
  RunpodRateLimitError,
  RunpodServerError,
  RunpodTimeoutError,
  RunpodUnexpectedResponseError,
  RunpodWorkersThrottledError,
  type RunpodOperation,
} from './errors.js';

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;
/** A number in [0, 1), like Math.random. */
export type Random = () => number;

/** Resolves after `ms`; rejects with the signal's own reason (not Node's AbortError wrapper) on abort. */
export const abortableSleep: Sleep = async (ms, signal) => {
  try {
    await delay(ms, undefined, { signal });
  } catch (error) {
    if (signal?.aborted === true) throw signal.reason;
    throw error;
  }
};

/** Operations a second attempt cannot turn into a second job. */
const IDEMPOTENT_OPERATIONS: ReadonlySet<RunpodOperation> = new Set(['status', 'health', 'cancel', 'purge']);

/** A submit is only ever retried when RunPod provably did not act on it (429, never sent), so it may try longer. */
export const MAX_RETRIES: Readonly<Record<RunpodOperation, number>> = { status: 4, health: 4, cancel: 4, purge: 4, run: 5, retry: 2 };

const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** `idempotent`: a submit whose duplicate the worker answers with the first job or its result (RunpodBackend). */
export function isRetryable(error: unknown, op: RunpodOperation, idempotent = false): boolean {
  // More attempts do not buy credit or free a GPU.
  if (error instanceof RunpodInsufficientBalanceError || error instanceof RunpodWorkersThrottledError) return false;
  // Both mean RunPod did not act on the request, so even a submit is safe to send again.
  if (error instanceof RunpodRateLimitError) return true;
  if (error instanceof RunpodConnectionError && error.requestNeverSent) return true;
  if (!IDEMPOTENT_OPERATIONS.has(op) && !idempotent) return false;
  if (error instanceof RunpodApiError && RETRYABLE_STATUSES.has(error.status)) return true;
  return error instanceof RunpodConnectionError || error instanceof RunpodTimeoutError || error instanceof RunpodUnexpectedResponseError;
}

/** A failed submit after which RunPod may or may not have created the job. */
export function isSubmitOutcomeUnknown(error: unknown): boolean {
  if (error instanceof RunpodConnectionError) return !error.requestNeverSent;
  return error instanceof RunpodServerError || error instanceof RunpodTimeoutError || error instanceof RunpodUnexpectedResponseError;
}

export interface BackoffOptions {
  baseMs?: number;
  /** 8 s keeps a CLI responsive; 30 s suits background work. */
  capMs?: number;
  random?: Random;
}

/** Exponential backoff for retry number `attempt` (0 = first retry) with ±25 % jitter, never above the cap. */
export function backoffDelayMs(attempt: number, options: BackoffOptions = {}): number {
  const { baseMs = 500, capMs = 8000, random = Math.random } = options;
  const exponential = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.round(Math.min(capMs, exponential * (0.75 + random() * 0.5)));
}

/** Longer server-requested waits are ignored in favour of our own backoff: a CLI should not hang for minutes. */
const MAX_RETRY_AFTER_MS = 60_000;

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function acceptableDelay(ms: number): number | undefined {
  return Number.isFinite(ms) && ms >= 0 && ms <= MAX_RETRY_AFTER_MS ? ms : undefined;
}

/** The wait a response asks for: `retry-after-ms`, else `Retry-After` in seconds or as an HTTP date; undefined when absent or out of range. */
export function retryAfterMs(headers: Record<string, string | string[] | undefined>, now: number = Date.now()): number | undefined {
  const milliseconds = headerValue(headers, 'retry-after-ms')?.trim();
  if (milliseconds !== undefined && milliseconds !== '') {
    const fromMs = acceptableDelay(Number(milliseconds));
    if (fromMs !== undefined) return fromMs;
  }
  const retryAfter = headerValue(headers, 'retry-after')?.trim();
  if (retryAfter === undefined || retryAfter === '') return undefined;
  const seconds = Number(retryAfter);
  return acceptableDelay(Number.isNaN(seconds) ? Date.parse(retryAfter) - now : seconds * 1000);
}

export interface RetryInfo {
  /** 1 for the first retry. */
  retry: number;
  delayMs: number;
  error: unknown;
}

export interface RetryOptions {
  op: RunpodOperation;
  /** Defaults to MAX_RETRIES[op]. */
  maxRetries?: number;
  sleep?: Sleep;
  random?: Random;
  signal?: AbortSignal;
  onRetry?: (info: RetryInfo) => void;
  /** A submit the worker makes idempotent: repeated after an ambiguous failure too. */
  idempotent?: boolean;
}

/** Calls `fn` until it succeeds, the error is not retryable for `op`, retries run out, or the signal aborts. */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { op, maxRetries = MAX_RETRIES[op], sleep = abortableSleep, random = Math.random, signal, onRetry, idempotent = false } = options;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      // A user abort is final, whatever the attempt failed with.
      if (signal?.aborted === true) throw signal.reason;
      if (attempt >= maxRetries || !isRetryable(error, op, idempotent)) throw error;
      const delayMs = error instanceof RunpodApiError && error.retryAfterMs !== undefined ? error.retryAfterMs : backoffDelayMs(attempt, { random });
      onRetry?.({ retry: attempt + 1, delayMs, error });
      await sleep(delayMs, signal);
    }
  }
}
