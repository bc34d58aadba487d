import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { errors, MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigStore } from '../../../src/config/store.js';
import { ErrorCode, VoicestudioError } from '../../../src/errors.js';
import { resolveRunpodSettings, RunpodClient, type RunpodClientOptions } from '../../../src/runpod/client.js';
import {
  JobSubmitUnknownError,
  RunpodAuthError,
  RunpodBadRequestError,
  RunpodConnectionError,
  RunpodEndpointNotFoundError,
  RunpodInsufficientBalanceError,
  RunpodJobExpiredError,
  RunpodRateLimitError,
  RunpodServerError,
  RunpodTimeoutError,
  RunpodUnexpectedResponseError,
} from '../../../src/runpod/errors.js';

const ORIGIN = 'https://api.runpod.ai';
const ENDPOINT = 'ep123';
const API_KEY = 'rpa_SECRET0123456789abcdefghijkl';
const PACKAGE_VERSION = (JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let agent: MockAgent;
let delays: number[];

beforeEach(() => {
  agent = new MockAgent({ enableCallHistory: true });
  agent.disableNetConnect();
  delays = [];
});

afterEach(async () => {
  agent.assertNoPendingInterceptors();
  await agent.close();
});

function client(options: Partial<RunpodClientOptions> = {}): RunpodClient {
  return new RunpodClient({
    apiKey: API_KEY,
    endpointId: ENDPOINT,
    dispatcher: agent,
    sleep: async (ms) => void delays.push(ms),
    random: () => 0.5,
    ...options,
  });
}

function intercept(method: 'GET' | 'POST', route: string) {
  return agent.get(ORIGIN).intercept({ method, path: `/v2/${ENDPOINT}/${route}` });
}

function requestCount(): number {
  return agent.getCallHistory()?.calls().length ?? 0;
}

/** The error a promise rejects with, checked to be of `type`. */
async function rejectionOf<E>(promise: Promise<unknown>, type: abstract new (...args: never[]) => E): Promise<E> {
  const error = await promise.then(
    () => new Error('expected a rejection'),
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(type);
  return error as E;
}

function systemError(code: string): Error {
  return Object.assign(new Error(`connect ${code} api.runpod.ai:443`), { code });
}

describe('requests', () => {
  it('submits {input, policy} as JSON with a Bearer key and a voicestudio user agent', async () => {
    intercept('POST', 'run').reply(200, { id: 'job-1-u1', status: 'IN_QUEUE' });
    const receipt = await client().run({ task: 'convert', pitch: 2 }, { policy: { executionTimeout: 900_000 } });
    expect(receipt).toEqual({ id: 'job-1-u1', status: 'IN_QUEUE' });
    const call = agent.getCallHistory()?.firstCall();
    expect(call?.method).toBe('POST');
    expect(call?.fullUrl).toBe(`${ORIGIN}/v2/${ENDPOINT}/run`);
    expect(call?.headers).toMatchObject({
      authorization: `Bearer ${API_KEY}`,
      'content-type': 'application/json',
      'user-agent': `voicestudio/${PACKAGE_VERSION}`,
    });
    expect(JSON.parse(String(call?.body))).toEqual({ input: { task: 'convert', pitch: 2 }, policy: { executionTimeout: 900_000 } });
  });

  it('sends no policy when none is given, and no body on GET', async () => {
    intercept('POST', 'run').reply(200, { id: 'j', status: 'IN_QUEUE' });
    intercept('GET', 'health').reply(200, { jobs: { completed: 1, failed: 0, inProgress: 0, inQueue: 0, retried: 0 }, workers: { idle: 1, running: 0 } });
    await client().run({ task: 'info' });
    await client().health();
    const [run, health] = agent.getCallHistory()?.calls() ?? [];
    expect(JSON.parse(String(run?.body))).toEqual({ input: { task: 'info' } });
    expect(health?.body ?? undefined).toBeUndefined();
    expect(health?.headers).not.toHaveProperty('content-type');
  });

  it('strips trailing slashes from the base URL and encodes ids in the path', async () => {
    agent.get('http://localhost:8080').intercept({ method: 'GET', path: `/proxy/v2/${ENDPOINT}/status/a%2Fb` }).reply(200, { id: 'a/b', status: 'IN_QUEUE' });
    await expect(client({ baseUrl: 'http://localhost:8080/proxy/v2//' }).status('a/b')).resolves.toEqual({ id: 'a/b', status: 'IN_QUEUE' });
  });

  it('reads a job state: output, error, timings, worker; RUNNING counts as IN_PROGRESS', async () => {
    intercept('GET', 'status/j1').reply(200, { id: 'j1', status: 'COMPLETED', output: { ok: true }, delayTime: 824, executionTime: 3391, workerId: 'w1' });
    intercept('GET', 'status/j2').reply(200, { id: 'j2', status: 'RUNNING', output: { task: 'train', stage: 'extract' } });
    intercept('GET', 'status/j3').reply(200, { id: 'j3', status: 'FAILED', error: { detail: 'a dict' } });
    await expect(client().status('j1')).resolves.toEqual({ id: 'j1', status: 'COMPLETED', output: { ok: true }, delayTime: 824, executionTime: 3391, workerId: 'w1' });
    await expect(client().status('j2')).resolves.toEqual({ id: 'j2', status: 'IN_PROGRESS', output: { task: 'train', stage: 'extract' } });
    await expect(client().status('j3')).resolves.toEqual({ id: 'j3', status: 'FAILED', error: '{"detail":"a dict"}' });
  });

  it('cancels, retries and purges', async () => {
    intercept('POST', 'cancel/j1').reply(200, { id: 'j1', status: 'CANCELLED' });
    intercept('POST', 'retry/j2').reply(200, { id: 'j2', status: 'IN_QUEUE' });
    intercept('POST', 'purge-queue').reply(200, { removed: 2, status: 'completed' });
    await expect(client().cancel('j1')).resolves.toEqual({ id: 'j1', status: 'CANCELLED' });
    await expect(client().retry('j2')).resolves.toEqual({ id: 'j2', status: 'IN_QUEUE' });
    await expect(client().purgeQueue()).resolves.toEqual({ removed: 2, status: 'completed' });
  });

  it('rejects a base URL that is not http(s) as a config error', () => {
    expect(() => client({ baseUrl: 'api.runpod.ai/v2' })).toThrow(expect.objectContaining({ code: ErrorCode.Config, subject: 'RUNPOD_ENDPOINT_BASE_URL' }));
  });
});

const OPERATIONS = {
  run: { method: 'POST', route: 'run', call: (c: RunpodClient) => c.run({ task: 'info' }) },
  health: { method: 'GET', route: 'health', call: (c: RunpodClient) => c.health() },
  status: { method: 'GET', route: 'status/j1', call: (c: RunpodClient) => c.status('j1') },
  cancel: { method: 'POST', route: 'cancel/j1', call: (c: RunpodClient) => c.cancel('j1') },
} as const satisfies Record<string, { method: 'GET' | 'POST'; route: string; call: (c: RunpodClient) => Promise<unknown> }>;

describe('HTTP errors', () => {
  it.each([
    [401, 'run', RunpodAuthError],
    [403, 'health', RunpodAuthError],
    [404, 'run', RunpodEndpointNotFoundError],
    [404, 'health', RunpodEndpointNotFoundError],
    [404, 'status', RunpodJobExpiredError],
    [404, 'cancel', RunpodJobExpiredError],
    [400, 'run', RunpodBadRequestError],
  ] as const)('%i on %s → %s, sent once', async (status, op, type) => {
    const { method, route, call } = OPERATIONS[op];
    intercept(method, route).reply(status, { error: 'nope' });
    await expect(call(client())).rejects.toBeInstanceOf(type);
    expect(requestCount()).toBe(1);
    expect(delays).toEqual([]);
  });

  it('quotes a 400 payload-too-large message', async () => {
    intercept('POST', 'run').reply(400, { error: 'json is invalid; max size is 10 MB' });
    await expect(client().run({ task: 'convert' })).rejects.toThrow('RunPod rejected the job submission (400): "json is invalid; max size is 10 MB".');
  });

  it('recognises an insufficient balance and does not retry it', async () => {
    intercept('POST', 'run').reply(403, 'Insufficient balance: please add funds');
    await expect(client().run({ task: 'convert' })).rejects.toBeInstanceOf(RunpodInsufficientBalanceError);
    expect(requestCount()).toBe(1);
  });

  it('keeps the request id of a failed response', async () => {
    intercept('GET', 'health').reply(401, { error: 'Unauthorized' }, { headers: { 'x-request-id': 'req-42' } });
    await expect(client().health()).rejects.toMatchObject({ requestId: 'req-42', status: 401, body: { error: 'Unauthorized' } });
  });

  it('never puts the API key in an error message or body, even when the server echoes it', async () => {
    intercept('POST', 'run').reply(401, { error: `bad key Bearer ${API_KEY}` });
    const error = await rejectionOf(client().run({ task: 'info' }), RunpodAuthError);
    const everything = JSON.stringify({ message: error.message, suggestion: error.suggestion, body: error.body, json: error.toJSON() });
    expect(everything).not.toContain(API_KEY);
    expect(everything).toContain('[redacted]');
  });

  it('does not show the key when the client is inspected or serialized', async () => {
    const { inspect } = await import('node:util');
    const c = client();
    expect(inspect(c, { depth: 5 })).not.toContain(API_KEY);
    expect(JSON.stringify(c)).not.toContain(API_KEY);
  });
});

describe('retries of reads', () => {
  it('retries a status 4 times on 5xx with capped exponential delays, then throws the server error', async () => {
    intercept('GET', 'status/j1').reply(502, 'Bad gateway').times(2);
    intercept('GET', 'status/j1').reply(503, 'Unavailable').times(2);
    intercept('GET', 'status/j1').reply(500, { error: 'worker crashed' });
    await expect(client().status('j1')).rejects.toBeInstanceOf(RunpodServerError);
    expect(requestCount()).toBe(5);
    expect(delays).toEqual([500, 1000, 2000, 4000]);
  });

  it("honours Retry-After on a 429, then succeeds", async () => {
    intercept('GET', 'status/j1').reply(429, { error: 'too many requests' }, { headers: { 'retry-after': '2' } });
    intercept('GET', 'status/j1').reply(429, {}, { headers: { 'retry-after-ms': '150' } });
    intercept('GET', 'status/j1').reply(429, {}, { headers: { 'retry-after': '3600' } });
    intercept('GET', 'status/j1').reply(200, { id: 'j1', status: 'IN_QUEUE' });
    await expect(client().status('j1')).resolves.toEqual({ id: 'j1', status: 'IN_QUEUE' });
    // An hour is ignored in favour of the normal backoff for the third retry.
    expect(delays).toEqual([2000, 150, 2000]);
  });

  it('retries network errors and undici timeouts, then succeeds', async () => {
    intercept('GET', 'status/j1').replyWithError(systemError('ECONNRESET'));
    intercept('GET', 'status/j1').replyWithError(new errors.HeadersTimeoutError('Headers Timeout Error'));
    intercept('GET', 'status/j1').replyWithError(systemError('ENOTFOUND'));
    intercept('GET', 'status/j1').reply(200, { id: 'j1', status: 'IN_PROGRESS' });
    await expect(client().status('j1')).resolves.toMatchObject({ status: 'IN_PROGRESS' });
    expect(delays).toEqual([500, 1000, 2000]);
  });

  it('retries an unreadable 200 on a read, and reports it when it persists', async () => {
    intercept('GET', 'health').reply(200, '<html>captive portal</html>').times(5);
    await expect(client().health()).rejects.toBeInstanceOf(RunpodUnexpectedResponseError);
    expect(requestCount()).toBe(5);
  });

  it('gives up on a per-attempt timeout as a RunpodTimeoutError', async () => {
    intercept('GET', 'health').reply(200, {}).delay(200).times(5);
    await expect(client({ requestTimeoutMs: 5 }).health()).rejects.toBeInstanceOf(RunpodTimeoutError);
    expect(requestCount()).toBe(5);
  });

  it('retries cancel like a read (cancelling twice is harmless)', async () => {
    intercept('POST', 'cancel/j1').reply(502, '');
    intercept('POST', 'cancel/j1').reply(200, { id: 'j1', status: 'CANCELLED' });
    await expect(client().cancel('j1')).resolves.toEqual({ id: 'j1', status: 'CANCELLED' });
    expect(delays).toEqual([500]);
  });

  it('stops at once when the user aborts, with the abort reason, and does not retry', async () => {
    const controller = new AbortController();
    const reason = new Error('Ctrl-C');
    intercept('GET', 'status/j1').reply(200, { id: 'j1', status: 'IN_QUEUE' }).delay(10_000);
    const pending = client().status('j1', { signal: controller.signal });
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(delays).toEqual([]);
  });
});

describe('submit (run) is never resent blindly', () => {
  it('after a 502: JobSubmitUnknownError, exactly one request', async () => {
    intercept('POST', 'run').reply(502, 'Bad gateway');
    const error = await rejectionOf(client().run({ task: 'convert' }), JobSubmitUnknownError);
    expect(error.cause).toBeInstanceOf(RunpodServerError);
    expect(error.message).toContain('may or may not have been created');
    expect(requestCount()).toBe(1);
  });

  it('after a reset once sent: JobSubmitUnknownError, exactly one request', async () => {
    intercept('POST', 'run').replyWithError(systemError('ECONNRESET'));
    await expect(client().run({ task: 'convert' })).rejects.toBeInstanceOf(JobSubmitUnknownError);
    expect(requestCount()).toBe(1);
  });

  it('after undici reports the socket closed mid-request: JobSubmitUnknownError', async () => {
    intercept('POST', 'run').replyWithError(new errors.SocketError('other side closed'));
    await expect(client().run({ task: 'convert' })).rejects.toBeInstanceOf(JobSubmitUnknownError);
    expect(requestCount()).toBe(1);
  });

  it('after a timeout: JobSubmitUnknownError, exactly one request', async () => {
    intercept('POST', 'run').reply(200, { id: 'late', status: 'IN_QUEUE' }).delay(200);
    await expect(client({ requestTimeoutMs: 5 }).run({ task: 'convert' })).rejects.toSatisfy(
      (error: unknown) => error instanceof JobSubmitUnknownError && error.cause instanceof RunpodTimeoutError,
    );
    expect(requestCount()).toBe(1);
  });

  it('after a 200 without a job id: JobSubmitUnknownError', async () => {
    intercept('POST', 'run').reply(200, { status: 'IN_QUEUE' });
    await expect(client().run({ task: 'convert' })).rejects.toBeInstanceOf(JobSubmitUnknownError);
    expect(requestCount()).toBe(1);
  });

  it('retries when the connection was refused (nothing was sent)', async () => {
    intercept('POST', 'run').replyWithError(systemError('ECONNREFUSED'));
    intercept('POST', 'run').replyWithError(new errors.ConnectTimeoutError());
    intercept('POST', 'run').reply(200, { id: 'job-2', status: 'IN_QUEUE' });
    await expect(client().run({ task: 'convert' })).resolves.toEqual({ id: 'job-2', status: 'IN_QUEUE' });
    expect(requestCount()).toBe(3);
    expect(delays).toEqual([500, 1000]);
  });

  it('reports an unreachable RunPod as a connection error once retries are spent', async () => {
    intercept('POST', 'run').replyWithError(systemError('EAI_AGAIN')).times(6);
    const error = await rejectionOf(client().run({ task: 'convert' }), RunpodConnectionError);
    expect(error.requestNeverSent).toBe(true);
    expect(error.message).toBe('Could not connect to RunPod (https://api.runpod.ai): EAI_AGAIN.');
    expect(requestCount()).toBe(6);
  });

  it('retries a 429, honouring Retry-After', async () => {
    intercept('POST', 'run').reply(429, {}, { headers: { 'retry-after': '1' } });
    intercept('POST', 'run').reply(200, { id: 'job-3', status: 'IN_QUEUE' });
    await expect(client().run({ task: 'convert' })).resolves.toMatchObject({ id: 'job-3' });
    expect(delays).toEqual([1000]);
  });

  it('throws the rate-limit error, not "unknown", when 429s outlast the retries', async () => {
    intercept('POST', 'run').reply(429, {}).times(6);
    await expect(client().run({ task: 'convert' })).rejects.toBeInstanceOf(RunpodRateLimitError);
    expect(requestCount()).toBe(6);
  });

  it('treats /retry like a submit', async () => {
    intercept('POST', 'retry/j9').reply(500, '');
    await expect(client().retry('j9')).rejects.toMatchObject({ name: 'JobSubmitUnknownError', op: 'retry', jobId: 'j9' });
    expect(requestCount()).toBe(1);
  });
});

describe('resolveRunpodSettings', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'voicestudio-runpod-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads key, endpoint and base URL from the environment', async () => {
    const store = new ConfigStore({ env: { VOICESTUDIO_CONFIG_DIR: dir, RUNPOD_API_KEY: API_KEY, RUNPOD_ENDPOINT_ID: 'ep9', RUNPOD_ENDPOINT_BASE_URL: 'http://localhost:9/v2/' } });
    await expect(resolveRunpodSettings(store)).resolves.toEqual({ apiKey: API_KEY, endpointId: 'ep9', baseUrl: 'http://localhost:9/v2' });
  });

  it('names RUNPOD_API_KEY and the config command when the key is missing', async () => {
    const store = new ConfigStore({ env: { VOICESTUDIO_CONFIG_DIR: dir, RUNPOD_ENDPOINT_ID: 'ep9' } });
    const error = await rejectionOf(resolveRunpodSettings(store), VoicestudioError);
    expect(error.code).toBe(ErrorCode.Credentials);
    expect(error.suggestion).toContain('RUNPOD_API_KEY');
    expect(error.suggestion).toContain('voicestudio config set api-key');
  });

  it('names RUNPOD_ENDPOINT_ID and the config command when the endpoint is missing', async () => {
    const store = new ConfigStore({ env: { VOICESTUDIO_CONFIG_DIR: dir, RUNPOD_API_KEY: API_KEY } });
    const error = await rejectionOf(resolveRunpodSettings(store), VoicestudioError);
    expect(error.code).toBe(ErrorCode.Config);
    expect(error.suggestion).toContain('RUNPOD_ENDPOINT_ID');
    expect(error.suggestion).toContain('voicestudio config set endpoint-id');
  });
});
