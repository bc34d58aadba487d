/**
 * A small RunPod Serverless client (queue endpoints: run, status, cancel, retry, health, purge-queue).
 *
 * Every call goes through one private `request()`: per-attempt timeout, error mapping (errors.ts) and the
 * per-operation retry policy (retry.ts). The API key only ever goes into the Authorization header.
 */
import { createRequire } from 'node:module';
import { Agent, request, type Dispatcher } from 'undici';
import type { ConfigStore } from '../config/store.js';
import { DEFAULT_ENDPOINT_BASE_URL } from '../config/settings.js';
import { ErrorCode, VoicestudioError } from '../errors.js';
import {
  JobSubmitUnknownError,
  parseErrorBody,
  RunpodApiError,
  RunpodConnectionError,
  RunpodTimeoutError,
  RunpodUnexpectedResponseError,
  type RunpodOperation,
  type RunpodRequestContext,
  type TransportContext,
} from './errors.js';
import { abortableSleep, isSubmitOutcomeUnknown, retryAfterMs, withRetries, type Random, type Sleep } from './retry.js';
import { TERMINAL_STATUSES, type EndpointHealth, type JobPolicy, type JobState, type JobStatus, type WorkerInput } from './types.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };
const USER_AGENT = `voicestudio/${version}`;

/** Per attempt. A submit may upload up to 10 MB, which takes a while on a slow uplink. */
const DEFAULT_TIMEOUT_MS: Readonly<Record<RunpodOperation, number>> = { run: 120_000, retry: 30_000, status: 30_000, cancel: 30_000, health: 30_000, purge: 30_000 };

/** Failures before the request left this machine: safe to send again, even a submit. */
const NEVER_SENT_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);
/** undici's own timeouts (the dispatcher's headersTimeout/bodyTimeout), after the request was sent. */
const TIMEOUT_CODES: ReadonlySet<string> = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

let sharedAgent: Agent | undefined;

/** Backstops only: the per-attempt AbortSignal is what normally ends a slow request. */
function defaultDispatcher(): Agent {
  sharedAgent ??= new Agent({ connect: { timeout: 10_000 }, headersTimeout: 150_000, bodyTimeout: 150_000 });
  return sharedAgent;
}

export interface RunpodClientOptions {
  apiKey: string;
  endpointId: string;
  /** Without a trailing slash; default https://api.runpod.ai/v2. */
  baseUrl?: string;
  dispatcher?: Dispatcher;
  sleep?: Sleep;
  random?: Random;
  /** Per attempt, for every operation; by default 120 s for a submit and 30 s for the rest. */
  requestTimeoutMs?: number;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface SubmitOptions extends RequestOptions {
  policy?: JobPolicy;
  /** The worker answers a duplicate of this job with the first one or its result: an ambiguous submit is sent again. */
  idempotent?: boolean;
}

export type JobReceipt = Pick<JobState, 'id' | 'status'>;

export interface PurgeResult {
  removed: number;
  status: string;
}

interface Call<T> {
  op: RunpodOperation;
  method: 'GET' | 'POST';
  /** After `<baseUrl>/<endpointId>/`. */
  path: string;
  jobId?: string;
  body?: unknown;
  signal?: AbortSignal;
  /** The typed result, or undefined when the JSON does not have the documented shape. */
  read: (json: unknown) => T | undefined;
  /** What `read` needed, for the error when it got something else. */
  expected: string;
  /** A submit the worker makes idempotent. */
  idempotent?: boolean;
}

export class RunpodClient {
  readonly endpointId: string;
  readonly baseUrl: string;
  /** Private, so that inspecting or serializing the client never shows it. */
  readonly #apiKey: string;
  readonly #origin: string;
  readonly #dispatcher: Dispatcher;
  readonly #sleep: Sleep;
  readonly #random: Random;
  readonly #requestTimeoutMs: number | undefined;

  constructor(options: RunpodClientOptions) {
    this.#apiKey = options.apiKey;
    this.endpointId = options.endpointId;
    this.baseUrl = (options.baseUrl ?? DEFAULT_ENDPOINT_BASE_URL).replace(/\/+$/, '');
    this.#origin = originOf(this.baseUrl);
    this.#dispatcher = options.dispatcher ?? defaultDispatcher();
    this.#sleep = options.sleep ?? abortableSleep;
    this.#random = options.random ?? Math.random;
    this.#requestTimeoutMs = options.requestTimeoutMs;
  }

  /** Queues a job. Throws JobSubmitUnknownError when RunPod may have created it but did not say so (after resending an idempotent one). */
  run(input: WorkerInput, options: SubmitOptions = {}): Promise<JobReceipt> {
    const body = options.policy === undefined ? { input } : { input, policy: options.policy };
    return this.request({ op: 'run', method: 'POST', path: 'run', body, signal: options.signal, read: readReceipt, expected: 'a job id and status', idempotent: options.idempotent === true });
  }

  status(jobId: string, options: RequestOptions = {}): Promise<JobState> {
    return this.request({ op: 'status', method: 'GET', path: `status/${encodeURIComponent(jobId)}`, jobId, signal: options.signal, read: readJobState, expected: 'a job id and status' });
  }

  cancel(jobId: string, options: RequestOptions = {}): Promise<JobReceipt> {
    return this.request({ op: 'cancel', method: 'POST', path: `cancel/${encodeURIComponent(jobId)}`, jobId, signal: options.signal, read: readReceipt, expected: 'a job id and status' });
  }

  /** Re-queues a FAILED or TIMED_OUT job under the same id (only while RunPod still keeps it). */
  retry(jobId: string, options: RequestOptions = {}): Promise<JobReceipt> {
    return this.request({ op: 'retry', method: 'POST', path: `retry/${encodeURIComponent(jobId)}`, jobId, signal: options.signal, read: readReceipt, expected: 'a job id and status' });
  }

  health(options: RequestOptions = {}): Promise<EndpointHealth> {
    return this.request({ op: 'health', method: 'GET', path: 'health', signal: options.signal, read: readHealth, expected: 'jobs and workers counters' });
  }

  /** Removes queued jobs; running jobs continue. */
  purgeQueue(options: RequestOptions = {}): Promise<PurgeResult> {
    return this.request({ op: 'purge', method: 'POST', path: 'purge-queue', signal: options.signal, read: readPurge, expected: 'a "removed" count' });
  }

  private async request<T>(call: Call<T>): Promise<T> {
    try {
      return await withRetries(() => this.attempt(call), { op: call.op, sleep: this.#sleep, random: this.#random, signal: call.signal, idempotent: call.idempotent === true });
    } catch (error) {
      if ((call.op === 'run' || call.op === 'retry') && isSubmitOutcomeUnknown(error)) {
        throw new JobSubmitUnknownError(error, { op: call.op, ...(call.jobId === undefined ? {} : { jobId: call.jobId }), resent: call.idempotent === true });
      }
      throw error;
    }
  }

  private async attempt<T>(call: Call<T>): Promise<T> {
    const timeoutMs = this.#requestTimeoutMs ?? DEFAULT_TIMEOUT_MS[call.op];
    const timeout = AbortSignal.timeout(timeoutMs);
    const hasBody = call.body !== undefined;
    let statusCode: number;
    let headers: Record<string, string | string[] | undefined>;
    let text: string;
    try {
      const response = await request(`${this.baseUrl}/${encodeURIComponent(this.endpointId)}/${call.path}`, {
        method: call.method,
        headers: {
          authorization: `Bearer ${this.#apiKey}`,
          accept: 'application/json',
          'user-agent': USER_AGENT,
          ...(hasBody ? { 'content-type': 'application/json' } : {}),
        },
        ...(hasBody ? { body: JSON.stringify(call.body) } : {}),
        signal: call.signal === undefined ? timeout : AbortSignal.any([call.signal, timeout]),
        dispatcher: this.#dispatcher,
      });
      statusCode = response.statusCode;
      headers = response.headers;
      text = await response.body.text();
    } catch (error) {
      throw this.transportError(error, call, timeout.aborted ? timeoutMs : undefined);
    }
    text = this.redact(text);
    const context: RunpodRequestContext = {
      op: call.op,
      endpointId: this.endpointId,
      jobId: call.jobId,
      requestId: firstHeader(headers, 'x-request-id') ?? firstHeader(headers, 'cf-ray'),
      retryAfterMs: retryAfterMs(headers),
    };
    if (statusCode < 200 || statusCode >= 300) throw RunpodApiError.fromResponse(statusCode, parseErrorBody(text), context);
    let json: unknown;
    try {
      json = JSON.parse(text) as unknown;
    } catch {
      throw new RunpodUnexpectedResponseError(statusCode, parseErrorBody(text), context, 'it is not JSON');
    }
    const result = call.read(json);
    if (result === undefined) throw new RunpodUnexpectedResponseError(statusCode, parseErrorBody(text), context, `expected ${call.expected}`);
    return result;
  }

  /** The user's abort as is; otherwise a timeout or a connection error that records whether anything was sent. */
  private transportError(error: unknown, call: Call<unknown>, timedOutAfterMs: number | undefined): unknown {
    if (call.signal?.aborted === true) return call.signal.reason;
    const context: TransportContext = { op: call.op, origin: this.#origin, jobId: call.jobId };
    const code = errorCode(error);
    if (timedOutAfterMs !== undefined || (code !== undefined && TIMEOUT_CODES.has(code))) return new RunpodTimeoutError(context, timedOutAfterMs, error);
    return new RunpodConnectionError(context, code !== undefined && NEVER_SENT_CODES.has(code), error);
  }

  /** A proxy or a misbehaving server could echo request headers back; never let the key into an error. */
  private redact(text: string): string {
    return this.#apiKey === '' ? text : text.replaceAll(this.#apiKey, '[redacted]');
  }
}

function originOf(baseUrl: string): string {
  try {
    const url = new URL(baseUrl);
    if (url.protocol === 'https:' || url.protocol === 'http:') return url.origin;
  } catch {
    // reported below
  }
  throw new VoicestudioError(ErrorCode.Config, `"${baseUrl}" is not an http(s) URL for the RunPod API.`, {
    suggestion: 'Unset RUNPOD_ENDPOINT_BASE_URL to use https://api.runpod.ai/v2, or set it to a full https:// URL.',
    subject: 'RUNPOD_ENDPOINT_BASE_URL',
  });
}

function firstHeader(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The system or undici error code, also when it is wrapped as a `cause`. */
function errorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

const NON_TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['IN_QUEUE', 'IN_PROGRESS']);

function parseJobStatus(value: unknown): JobStatus | undefined {
  // Some RunPod docs list RUNNING; the API says IN_PROGRESS (runpod/docs#511). Accept both, keep one.
  if (value === 'RUNNING') return 'IN_PROGRESS';
  const status = value as JobStatus;
  return TERMINAL_STATUSES.has(status) || NON_TERMINAL_STATUSES.has(status) ? status : undefined;
}

function asRecord(json: unknown): Record<string, unknown> | undefined {
  return typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
}

function readReceipt(json: unknown): JobReceipt | undefined {
  const fields = asRecord(json);
  const status = parseJobStatus(fields?.status);
  if (fields === undefined || typeof fields.id !== 'string' || fields.id === '' || status === undefined) return undefined;
  return { id: fields.id, status };
}

function readJobState(json: unknown): JobState | undefined {
  const receipt = readReceipt(json);
  const fields = asRecord(json);
  if (receipt === undefined || fields === undefined) return undefined;
  const { output, error, delayTime, executionTime, workerId } = fields;
  return {
    ...receipt,
    ...(output === undefined ? {} : { output }),
    // The handler is meant to return a string; a dict slips through some SDK versions (runpod-python#299).
    ...(error === undefined || error === null ? {} : { error: typeof error === 'string' ? error : JSON.stringify(error) }),
    ...(typeof delayTime === 'number' ? { delayTime } : {}),
    ...(typeof executionTime === 'number' ? { executionTime } : {}),
    ...(typeof workerId === 'string' ? { workerId } : {}),
  };
}

function readHealth(json: unknown): EndpointHealth | undefined {
  const fields = asRecord(json);
  if (asRecord(fields?.jobs) === undefined || asRecord(fields?.workers) === undefined) return undefined;
  return fields as unknown as EndpointHealth;
}

function readPurge(json: unknown): PurgeResult | undefined {
  const fields = asRecord(json);
  if (fields === undefined || typeof fields.removed !== 'number') return undefined;
  return { removed: fields.removed, status: typeof fields.status === 'string' ? fields.status : '' };
}

export interface RunpodSettings {
  apiKey: string;
  endpointId: string;
  baseUrl: string;
}

/** The key, endpoint and base URL from the environment or the user's config; says how to set what is missing. */
export async function resolveRunpodSettings(store: ConfigStore): Promise<RunpodSettings> {
  const { value: apiKey } = await store.apiKey();
  if (apiKey === undefined) {
    throw new VoicestudioError(ErrorCode.Credentials, 'No RunPod API key is set.', {
      suggestion: 'Set RUNPOD_API_KEY, or store a key: printf %s "$KEY" | voicestudio config set api-key (RunPod → Settings → API Keys).',
      subject: 'api-key',
    });
  }
  const { value: endpointId } = store.resolve('endpoint-id');
  if (endpointId === undefined || endpointId === '') {
    throw new VoicestudioError(ErrorCode.Config, 'No RunPod endpoint id is set.', {
      suggestion: 'Set RUNPOD_ENDPOINT_ID, or: voicestudio config set endpoint-id <id> (RunPod console → Serverless → your endpoint).',
      subject: 'endpoint-id',
    });
  }
  return { apiKey, endpointId: String(endpointId), baseUrl: store.endpointBaseUrl() };
}
