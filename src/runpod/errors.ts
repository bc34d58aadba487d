/**
 * What can go wrong talking to RunPod Serverless, as VoicestudioErrors that say what to do next.
 *
 * HTTP failures come from `RunpodApiError.fromResponse` (one status → one class); transport failures are
 * RunpodConnectionError / RunpodTimeoutError; a job that ended badly is JobFailedError. Nothing here ever
 * sees the API key: the client redacts response bodies before they reach these classes.
 */
import { ErrorCode, ExitCode, VoicestudioError } from '../errors.js';
import type { JobStatus } from './types.js';

export type RunpodOperation = 'run' | 'status' | 'cancel' | 'retry' | 'health' | 'purge';

/** Operations addressed to one job: a 404 there means the job is gone, not the endpoint. */
const JOB_OPERATIONS: ReadonlySet<RunpodOperation> = new Set(['status', 'cancel', 'retry']);

export interface RunpodRequestContext {
  op: RunpodOperation;
  endpointId: string;
  jobId?: string;
  /** Response header that identifies the request to RunPod support. */
  requestId?: string;
  /** From Retry-After / retry-after-ms, already validated. */
  retryAfterMs?: number;
}

/** Enough of an error body to diagnose, not a whole HTML error page. */
const BODY_LIMIT = 2000;
/** How much of RunPod's message goes into our one-line message. */
const QUOTE_LIMIT = 300;

/** An error response body as kept on RunpodApiError: parsed JSON when it is JSON, else (truncated) text. */
export function parseErrorBody(text: string): unknown {
  if (text.length <= BODY_LIMIT) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return `${text.slice(0, BODY_LIMIT)}…`;
}

/** RunPod's own words from an error body ({error}, {message}, {detail} or plain text), when there are any. */
export function runpodMessage(body: unknown): string | undefined {
  let text: unknown = body;
  if (typeof body === 'object' && body !== null) {
    const fields = body as Record<string, unknown>;
    text = [fields.error, fields.message, fields.detail, (fields.error as { message?: unknown } | null)?.message].find((value) => typeof value === 'string');
  }
  if (typeof text !== 'string') return undefined;
  const oneLine = text.replace(/\s+/g, ' ').trim();
  if (oneLine === '') return undefined;
  return oneLine.length > QUOTE_LIMIT ? `${oneLine.slice(0, QUOTE_LIMIT)}…` : oneLine;
}

function describeOperation(op: RunpodOperation, jobId: string | undefined): string {
  switch (op) {
    case 'run':
      return 'the job submission';
    case 'status':
      return `the status request for job ${jobId}`;
    case 'cancel':
      return `the request to cancel job ${jobId}`;
    case 'retry':
      return `the request to retry job ${jobId}`;
    case 'health':
      return 'the endpoint health check';
    case 'purge':
      return 'the request to purge the endpoint queue';
  }
}

function quoted(body: unknown): string {
  const message = runpodMessage(body);
  return message === undefined ? '' : `: "${message}"`;
}

interface ApiErrorShape {
  code: ErrorCode;
  message: string;
  suggestion: string;
  subject?: string;
}

export class RunpodApiError extends VoicestudioError {
  readonly status: number;
  /** Parsed JSON or truncated text; never contains the API key. */
  readonly body: unknown;
  readonly requestId: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(status: number, body: unknown, context: RunpodRequestContext, shape?: ApiErrorShape) {
    const { code, message, suggestion, subject } = shape ?? {
      code: ErrorCode.RunpodApiError,
      message: `RunPod answered ${status} to ${describeOperation(context.op, context.jobId)}${quoted(body)}.`,
      suggestion: 'Run the command again; if it keeps failing, check the endpoint in the RunPod console.',
    };
    super(code, message, { suggestion, subject });
    this.name = 'RunpodApiError';
    this.status = status;
    this.body = body;
    this.requestId = context.requestId;
    this.retryAfterMs = context.retryAfterMs;
  }

  /** The most specific error for an HTTP error response. */
  static fromResponse(status: number, body: unknown, context: RunpodRequestContext): RunpodApiError {
    // RunPod's exact bodies for these are undocumented, so match the words. Only for 4xx: a 5xx stays a
    // server error (a submit's outcome is unknown then), and a 429 that says "throttled" means the rate limit.
    const text = status < 500 ? (runpodMessage(body) ?? '') : '';
    if (/\bbalance\b|insufficient funds/i.test(text)) return new RunpodInsufficientBalanceError(status, body, context);
    if (status !== 429 && /throttl/i.test(text)) return new RunpodWorkersThrottledError(status, body, context);
    if (status === 401 || status === 403) return new RunpodAuthError(status, body, context);
    if (status === 404) {
      return JOB_OPERATIONS.has(context.op) ? new RunpodJobExpiredError(status, body, context) : new RunpodEndpointNotFoundError(status, body, context);
    }
    if (status === 429) return new RunpodRateLimitError(status, body, context);
    if (status === 400) return new RunpodBadRequestError(status, body, context);
    if (status >= 500) return new RunpodServerError(status, body, context);
    return new RunpodApiError(status, body, context);
  }
}

export class RunpodAuthError extends RunpodApiError {
  constructor(status: number, body: unknown, context: RunpodRequestContext) {
    super(status, body, context, {
      code: ErrorCode.RunpodAuth,
      message: `RunPod rejected the API key (${status}): wrong key, or it lacks permission for this endpoint.`,
      suggestion:
        `Check RUNPOD_API_KEY, or store the right key: printf %s "$KEY" | voicestudio config set api-key ` +
        `(RunPod → Settings → API Keys; a restricted key needs Read/Write access to endpoint ${context.endpointId}).`,
      subject: 'api-key',
    });
    this.name = 'RunpodAuthError';
  }
}

export class RunpodEndpointNotFoundError extends RunpodApiError {
  constructor(status: number, body: unknown, context: RunpodRequestContext) {
    super(status, body, context, {
      code: ErrorCode.RunpodEndpointNotFound,
      message: `RunPod has no endpoint "${context.endpointId}" (404).`,
      suggestion: 'Copy the id from the RunPod console (Serverless → your endpoint), then: voicestudio config set endpoint-id <id>, or set RUNPOD_ENDPOINT_ID.',
      subject: 'endpoint-id',
    });
    this.name = 'RunpodEndpointNotFoundError';
  }
}

/** The endpoint or the account is unusable (wrong id or key, no balance): every other job would fail the same way. */
export function isEndpointUnusable(error: unknown): error is RunpodApiError {
  return error instanceof RunpodEndpointNotFoundError || error instanceof RunpodAuthError || error instanceof RunpodInsufficientBalanceError;
}

export class RunpodJobExpiredError extends RunpodApiError {
  readonly jobId: string;

  constructor(status: number, body: unknown, context: RunpodRequestContext) {
    const jobId = context.jobId ?? 'unknown';
    super(status, body, context, {
      code: ErrorCode.RunpodJobExpired,
      message:
        `RunPod no longer has job ${jobId} (404): it deletes results 30 minutes after a job completes, ` +
        `and deletes a job outright when its time-to-live runs out.`,
      suggestion: 'Results voicestudio already saved on the volume can still be fetched; otherwise run the same command again to redo the job.',
      subject: jobId,
    });
    this.name = 'RunpodJobExpiredError';
    this.jobId = jobId;
  }
}

export class RunpodRateLimitError extends RunpodApiError {
  constructor(status: number, body: unknown, context: RunpodRequestContext) {
    super(status, body, context, {
      code: ErrorCode.RunpodRateLimited,
      message: `RunPod refused ${describeOperation(context.op, context.jobId)} with 429 Too Many Requests (rate limit).`,
      suggestion: 'Wait a minute and run the command again; use a lower --concurrency when running many jobs at once.',
    });
    this.name = 'RunpodRateLimitError';
  }
}

export class RunpodServerError extends RunpodApiError {
  constructor(status: number, body: unknown, context: RunpodRequestContext) {
    super(status, body, context, {
      code: ErrorCode.RunpodServerError,
      message: `RunPod had an internal error (${status}) answering ${describeOperation(context.op, context.jobId)}${quoted(body)}.`,
      suggestion: "This is on RunPod's side and usually passes: run the command again in a few minutes.",
    });
    this.name = 'RunpodServerError';
  }
}

export class RunpodBadRequestError extends RunpodApiError {
  constructor(status: number, body: unknown, context: RunpodRequestContext) {
    const message = runpodMessage(body);
    const aboutSize = message !== undefined && /too large|size|payload|limit/i.test(message);
    super(status, body, context, {
      code: ErrorCode.RunpodBadRequest,
      message: `RunPod rejected ${describeOperation(context.op, context.jobId)} (400)${message === undefined ? ' without saying why' : `: "${message}"`}.`,
      suggestion: aboutSize
        ? 'A job submission may carry at most 10 MB of JSON (about 7.5 MB of audio once base64-encoded): use shorter or compressed audio.'
        : 'The worker and this voicestudio may not match; update both, and run with --verbose to see the full answer.',
    });
    this.name = 'RunpodBadRequestError';
  }
}

export class RunpodInsufficientBalanceError extends RunpodApiError {
  constructor(status: number, body: unknown, context: RunpodRequestContext) {
    super(status, body, context, {
      code: ErrorCode.RunpodInsufficientBalance,
      message: `RunPod refused the request for lack of account balance (${status})${quoted(body)}.`,
      suggestion: 'Add credit in the RunPod console (Billing), then run the command again.',
    });
    this.name = 'RunpodInsufficientBalanceError';
  }
}

export class RunpodWorkersThrottledError extends RunpodApiError {
  constructor(status: number, body: unknown, context: RunpodRequestContext) {
    super(status, body, context, {
      code: ErrorCode.RunpodWorkersThrottled,
      message: `RunPod reports the endpoint's workers as throttled (${status})${quoted(body)}.`,
      suggestion: "No GPU of the endpoint's type is free right now: check the endpoint's GPU availability in the RunPod console (allow more GPU types), or try again later.",
      subject: 'endpoint-id',
    });
    this.name = 'RunpodWorkersThrottledError';
  }
}

/** A 2xx whose body is not what the API documents (not JSON, no job id, an unknown status). */
export class RunpodUnexpectedResponseError extends RunpodApiError {
  constructor(status: number, body: unknown, context: RunpodRequestContext, problem: string) {
    super(status, body, context, {
      code: ErrorCode.RunpodUnexpectedResponse,
      message: `RunPod's answer to ${describeOperation(context.op, context.jobId)} was not understood: ${problem}.`,
      suggestion: 'If RUNPOD_ENDPOINT_BASE_URL is set, check that it points at the RunPod API (https://api.runpod.ai/v2); then run the command again.',
    });
    this.name = 'RunpodUnexpectedResponseError';
  }
}

export interface TransportContext {
  op: RunpodOperation;
  jobId?: string;
  /** Scheme, host and port only: the URL never carries the key, but keep messages short. */
  origin: string;
}

export class RunpodConnectionError extends VoicestudioError {
  /** True when the failure happened before any byte reached RunPod (refused, DNS, connect timeout). */
  readonly requestNeverSent: boolean;

  constructor(context: TransportContext, requestNeverSent: boolean, cause: unknown) {
    const reason = (cause as { code?: unknown } | null)?.code ?? (cause instanceof Error ? cause.message : String(cause));
    super(
      ErrorCode.RunpodConnection,
      requestNeverSent
        ? `Could not connect to RunPod (${context.origin}): ${String(reason)}.`
        : `The connection to RunPod (${context.origin}) broke during ${describeOperation(context.op, context.jobId)}: ${String(reason)}.`,
      {
        suggestion: requestNeverSent
          ? 'Check your internet connection (and RUNPOD_ENDPOINT_BASE_URL if you set it), then run the command again.'
          : 'Run the command again; if it keeps happening, check your network or proxy.',
        cause,
      },
    );
    this.name = 'RunpodConnectionError';
    this.requestNeverSent = requestNeverSent;
  }
}

export class RunpodTimeoutError extends VoicestudioError {
  readonly timeoutMs: number | undefined;

  constructor(context: TransportContext, timeoutMs: number | undefined, cause: unknown) {
    const within = timeoutMs === undefined ? 'in time' : `within ${Math.round(timeoutMs / 1000)} s`;
    super(ErrorCode.RunpodTimeout, `RunPod did not answer ${describeOperation(context.op, context.jobId)} ${within}.`, {
      suggestion: 'RunPod or the network is slow right now: run the command again.',
      cause,
    });
    this.name = 'RunpodTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

export type FinalJobStatus = Extract<JobStatus, 'FAILED' | 'TIMED_OUT' | 'CANCELLED'>;

/** How a worker's `error` reads to a user, and the traceback for --verbose. */
export interface WorkerErrorDescription {
  message: string;
  traceback?: string;
}

/**
 * A FAILED job's `error`: the handler's own {"error": "..."} string as is, or, for an exception the handler
 * raised, the JSON runpod-python encodes (error_type, error_message, error_traceback, ...).
 */
export function describeWorkerError(error: string): WorkerErrorDescription {
  let parsed: unknown;
  try {
    parsed = JSON.parse(error);
  } catch {
    return { message: error };
  }
  if (typeof parsed !== 'object' || parsed === null) return { message: error };
  const { error_type: type, error_message: text, error_traceback: traceback } = parsed as Record<string, unknown>;
  if (typeof text !== 'string') return { message: error };
  return {
    message: typeof type === 'string' && type !== '' ? `${type}: ${text}` : text,
    ...(typeof traceback === 'string' && traceback !== '' ? { traceback } : {}),
  };
}

const JOB_FAILURE_CODES = { FAILED: ErrorCode.JobFailed, TIMED_OUT: ErrorCode.JobTimedOut, CANCELLED: ErrorCode.JobCancelled } as const;

export class JobFailedError extends VoicestudioError {
  readonly jobId: string;
  readonly status: FinalJobStatus;
  /** What the worker said, readable; empty when RunPod gave no `error`. */
  readonly workerMessage: string;
  /** The handler's Python traceback, for --verbose. */
  readonly traceback: string | undefined;
  /** The time the job ran before it ended (RunPod's executionTime), which is billed whatever the outcome. */
  readonly executionMs: number | undefined;

  constructor(options: { jobId: string; status: FinalJobStatus; error?: string | undefined; executionMs?: number | undefined }) {
    const { jobId, status } = options;
    const described: WorkerErrorDescription = options.error === undefined || options.error.trim() === '' ? { message: '' } : describeWorkerError(options.error);
    const workerMessage = described.message;
    super(JOB_FAILURE_CODES[status], jobFailureMessage(jobId, status, workerMessage), {
      suggestion: jobFailureSuggestion(status, described.traceback !== undefined),
      subject: jobId,
    });
    this.name = 'JobFailedError';
    this.jobId = jobId;
    this.status = status;
    this.workerMessage = workerMessage;
    this.traceback = described.traceback;
    this.executionMs = options.executionMs;
  }
}

function jobFailureMessage(jobId: string, status: FinalJobStatus, workerMessage: string): string {
  const said = workerMessage === '' ? '' : `: ${workerMessage}`;
  switch (status) {
    case 'FAILED':
      return `RunPod job ${jobId} failed${workerMessage === '' ? ' (the worker gave no reason)' : said}.`;
    case 'TIMED_OUT':
      return `RunPod job ${jobId} timed out: it ran past its execution timeout, or no worker picked it up in time${said}.`;
    case 'CANCELLED':
      return `RunPod job ${jobId} was cancelled${said}.`;
  }
}

function jobFailureSuggestion(status: FinalJobStatus, hasTraceback: boolean): string {
  switch (status) {
    case 'FAILED':
      return hasTraceback
        ? "Run with --verbose to see the worker's traceback; the endpoint's logs in the RunPod console have more."
        : "Check the message above; the endpoint's logs in the RunPod console have more.";
    case 'TIMED_OUT':
      return (
        "Raise the job's execution timeout (RunPod's default is 10 minutes) or the endpoint's Execution Timeout setting in the RunPod console; " +
        "if the job never left the queue, check that the endpoint has workers available."
      );
    case 'CANCELLED':
      return 'It was cancelled from voicestudio, the RunPod console or the API; run the same command again to start it anew.';
  }
}

/** COMPLETED without `output`: what RunPod does when the result was over its size limit. */
export class JobOutputMissingError extends VoicestudioError {
  readonly jobId: string;

  constructor(options: { jobId: string }) {
    super(ErrorCode.JobOutputMissing, `RunPod job ${options.jobId} completed but returned no output.`, {
      suggestion:
        "RunPod silently drops a result over its output size limit (about 10–20 MB) and still reports COMPLETED; the endpoint's logs then show " +
        '"Failed to return job results". Process shorter audio per job, or have the worker keep large results on the volume.',
      subject: options.jobId,
    });
    this.name = 'JobOutputMissingError';
    this.jobId = options.jobId;
  }
}

function summarizeFailure(error: unknown): string {
  if (error instanceof RunpodApiError) return `RunPod answered ${error.status}`;
  if (error instanceof RunpodTimeoutError) return 'no answer in time';
  if (error instanceof RunpodConnectionError) return 'the connection broke after the request was sent';
  return error instanceof Error ? error.message : String(error);
}

/**
 * A submit (or a /retry) that ended without a clear answer: the job may exist and be billing. Only a job the
 * worker makes idempotent (`resent`) is sent again automatically, and this error means every attempt was ambiguous.
 */
export class JobSubmitUnknownError extends VoicestudioError {
  readonly op: 'run' | 'retry';
  readonly jobId: string | undefined;

  constructor(cause: unknown, options: { op: 'run' | 'retry'; jobId?: string; resent?: boolean } = { op: 'run' }) {
    const what =
      options.op === 'run'
        ? 'the job may or may not have been created'
        : `job ${options.jobId} may or may not have been queued again`;
    super(ErrorCode.JobSubmitUnknown, `${options.op === 'run' ? 'Submitting the job to RunPod' : 'Asking RunPod to retry the job'} ended ambiguously (${summarizeFailure(cause)}): ${what}.`, {
      suggestion: options.resent
        ? 'It was sent again and every attempt ended the same way. Running the same command again is safe: the worker recognises a repeated ' +
          'request (a training run by its run id, a conversion or separation by its request key) and answers it with the job already running ' +
          'or its result, so nothing is paid for twice.'
        : "voicestudio did not send it again, so that you are not billed for a duplicate GPU job; the endpoint's Requests tab in the RunPod " +
          'console shows whether a job was started.',
      cause,
      subject: options.jobId,
    });
    this.name = 'JobSubmitUnknownError';
    this.op = options.op;
    this.jobId = options.jobId;
  }
}

/** The caller's overall deadline passed while the job was still queued or running. */
export class WaitDeadlineError extends VoicestudioError {
  readonly jobId: string;
  readonly lastStatus: JobStatus | undefined;

  constructor(options: { jobId: string; waitedMs: number; lastStatus?: JobStatus }) {
    const { jobId, waitedMs, lastStatus } = options;
    super(ErrorCode.WaitDeadline, `Stopped waiting for RunPod job ${jobId} after ${formatDuration(waitedMs)}${lastStatus === undefined ? '' : ` (last status ${lastStatus})`}.`, {
      suggestion:
        lastStatus === 'IN_QUEUE'
          ? "No worker picked the job up: check the endpoint's workers and GPU availability in the RunPod console, or allow more time."
          : 'The job may still be running on RunPod (its result is kept for 30 minutes after it completes): allow more time, or run the same command again later.',
      subject: jobId,
      exitCode: ExitCode.Failure,
    });
    this.name = 'WaitDeadlineError';
    this.jobId = jobId;
    this.lastStatus = lastStatus;
  }
}

function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
}
