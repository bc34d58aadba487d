/**
 * The RunPod Serverless emulator: API shapes and status transitions, with jobs executed by the real
 * gpu/handler.py against the Applio 3.6.4 stand-in. Jobs that must stay IN_PROGRESS are held with
 * holdApplio() (they wait before their first Applio call), so nothing depends on timing.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/wait.js';
import { startEmulator, type Emulator, type EmulatedJob, type FaultPlan } from './runpod-emulator.js';

const GPU_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'gpu');

// ------------------------------------------------------------------------------------------------- helpers ----

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

interface Answer {
  /** 0 when the connection was dropped without an answer. */
  status: number;
  body: Json;
}

interface CallOptions {
  body?: unknown;
  raw?: string;
  /** null: no Authorization header. Default: `Bearer <emulator key>`. */
  auth?: string | null;
  endpoint?: string;
}

/** One request on a fresh connection (no client-side retries or connection reuse). */
function call(emu: Emulator, method: 'GET' | 'POST', op: string, options: CallOptions = {}): Promise<Answer> {
  const url = new URL(`${emu.url}/${options.endpoint ?? emu.endpointId}/${op}`);
  const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const headers: Record<string, string> = {};
  const auth = options.auth === undefined ? `Bearer ${emu.apiKey}` : options.auth;
  if (auth !== null) headers.authorization = auth;
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  return new Promise((resolve) => {
    const req = request(url, { method, headers, agent: false }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => resolve({ status: 0, body: undefined }));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: Json;
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', () => resolve({ status: 0, body: undefined }));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

async function submit(emu: Emulator, input: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> {
  const answer = await call(emu, 'POST', 'run', { body: { input, ...extra } });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  expect(answer.body.status).toBe('IN_QUEUE');
  return answer.body.id as string;
}

async function status(emu: Emulator, id: string): Promise<Answer> {
  return call(emu, 'GET', `status/${id}`);
}

function waitStatus(emu: Emulator, id: string, accept: (body: Json) => boolean, what = 'a status'): Promise<Json> {
  return until(`${what} of job ${id}`, async () => {
    const answer = await status(emu, id);
    return answer.status === 200 && accept(answer.body) ? answer.body : undefined;
  });
}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT']);
const finished = (emu: Emulator, id: string): Promise<Json> => waitStatus(emu, id, (b) => TERMINAL.has(b.status), 'a final status');

function job(emu: Emulator, id: string): EmulatedJob | undefined {
  return emu.jobs().find((j) => j.id === id);
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

// ------------------------------------------------------------------------------- the default endpoint (E1) ----

describe('RunPod emulator: API surface', () => {
  let emu: Emulator;

  beforeAll(async () => {
    emu = await startEmulator();
  });
  afterAll(async () => {
    await emu?.stop();
  });

  it('needs Authorization: Bearer <key>; anything else is a 401 with a JSON body', async () => {
    for (const auth of [null, 'Bearer wrong-key', emu.apiKey, `Basic ${emu.apiKey}`]) {
      const answer = await call(emu, 'GET', 'health', { auth });
      expect(answer.status).toBe(401);
      expect(typeof answer.body.error).toBe('string');
    }
    expect((await call(emu, 'GET', 'health')).status).toBe(200);
    expect(emu.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v2$/);
  });

  it('answers 404 for an unknown endpoint, an unknown job id and an unknown route', async () => {
    const other = await call(emu, 'POST', 'run', { endpoint: 'nope', body: { input: { task: 'info' } } });
    expect(other.status).toBe(404);
    expect(other.body.error).toMatch(/nope/);
    expect((await status(emu, '00000000-0000-0000-0000-000000000000-e1')).status).toBe(404);
    expect((await call(emu, 'POST', 'cancel/unknown-e1')).status).toBe(404);
    expect((await call(emu, 'GET', 'frobnicate')).status).toBe(404);
    expect(emu.jobs()).toHaveLength(0);
  });

  it('rejects a /run body over 10 MiB with 400; a body of exactly 10 MiB runs (and the handler rejects the unknown task)', async () => {
    const limit = 10 * 1024 * 1024;
    const shell = JSON.stringify({ input: { task: 'no_such_task', pad: '' } });
    const body = (size: number) => JSON.stringify({ input: { task: 'no_such_task', pad: 'x'.repeat(size - shell.length) } });
    const over = await call(emu, 'POST', 'run', { raw: body(limit + 1) });
    expect(over.status).toBe(400);
    expect(over.body.error).toMatch(/max size is 10 MB/);
    expect(emu.requests.at(-1)).toMatchObject({ route: 'run', status: 400, bodyBytes: limit + 1 });
    expect(emu.jobs()).toHaveLength(0);

    const exact = await call(emu, 'POST', 'run', { raw: body(limit) });
    expect(exact.status).toBe(200);
    const done = await finished(emu, exact.body.id);
    expect(done.status).toBe('FAILED');
    expect(done.error).toMatch(/task/);
    expect(job(emu, exact.body.id)?.input).toEqual({ task: 'no_such_task', size: limit - '{"input":}'.length });
  });

  it('rejects a /run body that is not JSON or has no input (400)', async () => {
    expect((await call(emu, 'POST', 'run', { raw: '{nope' })).status).toBe(400);
    expect((await call(emu, 'POST', 'run', { body: { policy: {} } })).status).toBe(400);
    expect((await call(emu, 'POST', 'run', { body: { input: {}, policy: { executionTimeout: 'soon' } } })).status).toBe(400);
  });

  it('a handler result {"error": "<string>"} makes the job FAILED with that error', async () => {
    const id = await submit(emu, { task: 'blob_get', sha256: 'f'.repeat(64) });
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-e1$/);
    const body = await finished(emu, id);
    expect(body).toEqual({
      id,
      status: 'FAILED',
      delayTime: expect.any(Number),
      executionTime: expect.any(Number),
      workerId: expect.stringMatching(/^[a-z0-9]{14}$/),
      error: `blob ${'f'.repeat(64)} is not in the store`,
    });
    expect(body.executionTime).toBeGreaterThan(0);
  });

  it('retry runs a FAILED job again under the same id; other states cannot be retried (400)', async () => {
    const data = Buffer.from('hello from the emulator');
    const hash = sha256(data);
    const get = await submit(emu, { task: 'blob_get', sha256: hash });
    expect((await finished(emu, get)).status).toBe('FAILED');

    // Store the blob through the worker (the volume is shared by all workers), then retry the same job.
    const put = await submit(emu, { task: 'blob_put', sha256: hash, size: data.length, offset: 0, data: data.toString('base64') });
    expect((await finished(emu, put)).output).toMatchObject({ status: 'stored', complete: true });
    const commit = await submit(emu, { task: 'blob_commit', sha256: hash, size: data.length });
    const committed = await finished(emu, commit);
    expect(committed.output).toMatchObject({ status: 'committed' });

    expect((await call(emu, 'POST', `retry/${commit}`)).status).toBe(400); // COMPLETED
    const retried = await call(emu, 'POST', `retry/${get}`);
    expect(retried).toEqual({ status: 200, body: { id: get, status: 'IN_QUEUE' } });
    const again = await status(emu, get);
    expect(again.body.error).toBeUndefined(); // the old result is gone
    const result = await finished(emu, get);
    expect(result.status).toBe('COMPLETED');
    expect(Buffer.from(result.output.data, 'base64').toString()).toBe('hello from the emulator');
    expect(job(emu, get)?.attempts).toBe(2);
    expect(emu.volumeDir).toBeDefined();
  });

  it('/health counts queued and running jobs, busy workers, outcomes and retries', async () => {
    const before = (await call(emu, 'GET', 'health')).body;
    expect(before.workers).toEqual({ idle: 2, running: 0 });
    emu.holdApplio();
    try {
      const ids = [await submit(emu, { task: 'info' }), await submit(emu, { task: 'info' }), await submit(emu, { task: 'info' })];
      await until('two running jobs', () => emu.jobs().filter((j) => j.status === 'IN_PROGRESS').length === 2);
      const busy = (await call(emu, 'GET', 'health')).body;
      expect(busy.jobs).toMatchObject({ inProgress: 2, inQueue: 1 });
      expect(busy.workers).toEqual({ idle: 0, running: 2 });
      emu.releaseApplio();
      for (const id of ids) expect((await finished(emu, id)).status).toBe('COMPLETED');
    } finally {
      emu.releaseApplio();
    }
    const failed = await submit(emu, { task: 'blob_get', sha256: 'e'.repeat(64) });
    await finished(emu, failed);
    await call(emu, 'POST', `retry/${failed}`);
    await finished(emu, failed);
    await until('idle workers', () => emu.jobs().every((j) => !j.running));
    const after = (await call(emu, 'GET', 'health')).body;
    expect(after.jobs).toEqual({
      completed: before.jobs.completed + 3,
      failed: before.jobs.failed + 2,
      inProgress: 0,
      inQueue: 0,
      retried: before.jobs.retried + 1,
    });
    expect(after.workers).toEqual({ idle: 2, running: 0 });
  });

  it('injects 429, 5xx and dropped connections deterministically for a given seed', async () => {
    const id = await submit(emu, { task: 'blob_has', hashes: [] });
    await finished(emu, id);
    const plan: FaultPlan = { seed: 42, http429: { status: 0.15 }, http5xx: { status: 0.25 }, dropBeforeHandling: { status: 0.15 }, dropAfterHandling: { status: 0.15 } };
    const sample = async (): Promise<string[]> => {
      emu.setFaults(plan);
      const out: string[] = [];
      for (let i = 0; i < 40; i++) {
        const answer = await status(emu, id);
        const fault = emu.requests.at(-1)?.fault;
        out.push(`${answer.status}${fault ? `:${fault}` : ''}`);
      }
      return out;
    };
    const first = await sample();
    const second = await sample();
    emu.setFaults(undefined);
    expect(second).toEqual(first);
    const kinds = new Set(first);
    expect(kinds).toContain('200');
    expect(kinds).toContain('429:http429');
    expect(kinds).toContain('0:dropBeforeHandling');
    expect(kinds).toContain('0:dropAfterHandling');
    expect(first.some((k) => /^50[023]:http5xx$/.test(k))).toBe(true);
    expect((await status(emu, id)).status).toBe(200);
  });

  it('a /run dropped after handling still creates the job; dropped before or answered 5xx/429 does not', async () => {
    const count = () => emu.jobs().length;
    const n0 = count();
    emu.setFaults({ seed: 1, dropBeforeHandling: { run: 1 } });
    expect((await call(emu, 'POST', 'run', { body: { input: { task: 'blob_has', hashes: [] } } })).status).toBe(0);
    expect(count()).toBe(n0);
    emu.setFaults({ seed: 1, http5xx: { run: 1 } });
    expect([500, 502, 503]).toContain((await call(emu, 'POST', 'run', { body: { input: { task: 'blob_has', hashes: [] } } })).status);
    emu.setFaults({ seed: 1, http429: { run: 1 } });
    expect((await call(emu, 'POST', 'run', { body: { input: { task: 'blob_has', hashes: [] } } })).status).toBe(429);
    expect(count()).toBe(n0);
    emu.setFaults({ seed: 1, dropAfterHandling: { run: 1 } });
    expect((await call(emu, 'POST', 'run', { body: { input: { task: 'blob_has', hashes: [] } } })).status).toBe(0);
    emu.setFaults(undefined);
    expect(count()).toBe(n0 + 1);
    const created = emu.requests.at(-1);
    expect(created).toMatchObject({ route: 'run', status: 0, fault: 'dropAfterHandling', jobId: expect.any(String) });
    expect((await finished(emu, created?.jobId ?? '')).status).toBe('COMPLETED');
  });

  it('runTwice delivers a COMPLETED job to a worker a second time (attempts = 2)', async () => {
    emu.setFaults({ seed: 7, runTwice: 1 });
    try {
      const id = await submit(emu, { task: 'blob_has', hashes: ['a'.repeat(64)] });
      const first = await finished(emu, id);
      expect(first.status).toBe('COMPLETED');
      const twice = await until('the second run', () => {
        const j = job(emu, id);
        return j && j.attempts === 2 && !j.running ? j : undefined;
      });
      expect(twice.status).toBe('COMPLETED');
      expect((await status(emu, id)).body.output).toEqual({ present: [], missing: ['a'.repeat(64)], sizes: {}, uploads: {} });
    } finally {
      emu.setFaults(undefined);
    }
  });

  it('POSTs the final status to the job webhook', async () => {
    const received: Json[] = [];
    const hook: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/done`;
      const id = await submit(emu, { task: 'blob_has', hashes: [] }, { webhook: url });
      // The emulator records a delivery once the hook has answered: wait for that record, not only for the POST.
      const delivery = await emu.webhookDelivered(id);
      expect(delivery).toMatchObject({ url, attempt: 1, status: 200 });
      expect(received.filter((b) => b.id === id)).toMatchObject([{ id, status: 'COMPLETED', output: { present: [] } }]);
    } finally {
      await new Promise((resolve) => hook.close(resolve));
    }
  });
});

// ------------------------------------------------- one worker, an injected clock: queueing, time limits (E2) ----

describe('RunPod emulator: one worker, queueing and time limits', () => {
  let emu: Emulator;
  const clock = { offset: 0, now: () => Date.now() + clock.offset };
  let trainInput: Record<string, unknown>;

  beforeAll(async () => {
    emu = await startEmulator({ workers: 1, clock, retentionMs: 60_000 });
    // The Python tests' own training input (4 short 32 kHz clips), with 2 epochs.
    const script = 'import json; from tests.test_training import train_input; print(json.dumps(train_input(run_id="emu", epochs=2, save_every=1)))';
    trainInput = JSON.parse(execFileSync('python3', ['-c', script], { cwd: GPU_DIR, encoding: 'utf8' })) as Record<string, unknown>;
  });
  afterAll(async () => {
    emu?.releaseApplio();
    await emu?.stop();
  });

  it('train: IN_QUEUE → IN_PROGRESS with progress as output → COMPLETED with the result; the next job waits IN_QUEUE', async () => {
    emu.holdApplio();
    const train = await submit(emu, trainInput);
    const next = await submit(emu, { task: 'blob_has', hashes: [] });
    const running = await waitStatus(emu, train, (b) => b.status === 'IN_PROGRESS' && b.output?.stage === 'preprocess', 'progress');
    expect(running).toMatchObject({
      id: train,
      status: 'IN_PROGRESS',
      delayTime: expect.any(Number),
      executionTime: expect.any(Number),
      workerId: expect.any(String),
      output: { task: 'train', stage: 'preprocess', run_id: 'emu' },
    });
    expect(await status(emu, next)).toEqual({ status: 200, body: { id: next, status: 'IN_QUEUE' } });
    emu.releaseApplio();

    const done = await finished(emu, train);
    expect(done.status).toBe('COMPLETED');
    expect(done.output.stage).toBeUndefined(); // a result, not a progress payload
    expect(done.output).toMatchObject({ run_id: 'emu', status: 'finished', cached: false, training: { epochs: 2 } });
    expect(done.output.model.filename).toMatch(/^emu_2e_\d+s\.pth$/);
    expect(done.executionTime).toBeGreaterThan(0);
    expect(job(emu, train)?.progressUpdates).toBeGreaterThanOrEqual(6); // unpack … train epochs … upload

    const second = await finished(emu, next);
    expect(second.status).toBe('COMPLETED');
    expect(second.workerId).toBe(done.workerId); // the only worker
    expect(second.delayTime).toBeGreaterThan(0); // it waited for the train job
  });

  it('policy.executionTimeout: the worker is killed and the job is TIMED_OUT', async () => {
    emu.holdApplio();
    try {
      const id = await submit(emu, { task: 'info' }, { policy: { executionTimeout: 300 } });
      const body = await finished(emu, id);
      expect(body.status).toBe('TIMED_OUT');
      expect(body.executionTime).toBeGreaterThanOrEqual(300);
      expect(body.output).toBeUndefined();
      await until('the worker processes to die', () => emu.liveProcesses().length === 0);
    } finally {
      emu.releaseApplio();
    }
  });

  it('cancel removes a queued job and kills a running one', async () => {
    emu.holdApplio();
    try {
      const a = await submit(emu, { task: 'info' });
      await waitStatus(emu, a, (b) => b.status === 'IN_PROGRESS');
      await until('a held worker process', () => emu.liveProcesses().length > 0);
      const b = await submit(emu, { task: 'info' });
      expect(await call(emu, 'POST', `cancel/${b}`)).toEqual({ status: 200, body: { id: b, status: 'CANCELLED' } });
      expect((await status(emu, b)).body).toEqual({ id: b, status: 'CANCELLED' });
      expect(job(emu, b)?.attempts).toBe(0);

      expect(await call(emu, 'POST', `cancel/${a}`)).toEqual({ status: 200, body: { id: a, status: 'CANCELLED' } });
      await until('the cancelled worker to die', () => emu.liveProcesses().length === 0 && !job(emu, a)?.running);
      emu.releaseApplio();
      const after = await call(emu, 'GET', 'health');
      expect(after.body.workers).toEqual({ idle: 1, running: 0 });
      expect((await status(emu, a)).body.status).toBe('CANCELLED');
      expect((await call(emu, 'POST', `retry/${a}`)).status).toBe(400);
      // Cancelling a finished job changes nothing.
      const c = await submit(emu, { task: 'blob_has', hashes: [] });
      await finished(emu, c);
      expect((await call(emu, 'POST', `cancel/${c}`)).body).toEqual({ id: c, status: 'COMPLETED' });
    } finally {
      emu.releaseApplio();
    }
  });

  it('purge-queue removes queued jobs only', async () => {
    emu.holdApplio();
    try {
      const a = await submit(emu, { task: 'info' });
      await waitStatus(emu, a, (b) => b.status === 'IN_PROGRESS');
      const b = await submit(emu, { task: 'info' });
      const c = await submit(emu, { task: 'info' });
      expect(await call(emu, 'POST', 'purge-queue')).toEqual({ status: 200, body: { removed: 2, status: 'completed' } });
      expect((await status(emu, b)).status).toBe(404);
      expect((await status(emu, c)).status).toBe(404);
      expect((await status(emu, a)).body.status).toBe('IN_PROGRESS');
      emu.releaseApplio();
      expect((await finished(emu, a)).status).toBe('COMPLETED');
    } finally {
      emu.releaseApplio();
    }
  });

  it('policy.ttl: a job still queued or running when its TTL expires is deleted (404) and its worker killed', async () => {
    emu.holdApplio();
    try {
      const a = await submit(emu, { task: 'info' }, { policy: { ttl: 30_000 } });
      await waitStatus(emu, a, (b) => b.status === 'IN_PROGRESS');
      const b = await submit(emu, { task: 'info' }, { policy: { ttl: 30_000 } });
      clock.offset += 30_001;
      expect((await status(emu, a)).status).toBe(404);
      expect((await status(emu, b)).status).toBe(404);
      await until('the expired job’s worker to die', () => emu.liveProcesses().length === 0 && emu.jobs().every((j) => !j.running));
    } finally {
      emu.releaseApplio();
    }
  });

  it('results expire retentionMs after completion (404, no retry)', async () => {
    const id = await submit(emu, { task: 'blob_get', sha256: 'd'.repeat(64) });
    expect((await finished(emu, id)).status).toBe('FAILED');
    clock.offset += 59_000;
    expect((await status(emu, id)).status).toBe(200);
    clock.offset += 1_001;
    expect((await status(emu, id)).status).toBe(404);
    expect((await call(emu, 'POST', `retry/${id}`)).status).toBe(404);
    expect(job(emu, id)).toBeUndefined();
  });
});

// --------------------------------------------------------- no volume, a small output limit, crashing workers ----

describe('RunPod emulator: no volume, output limit, crashes', () => {
  let emu: Emulator;

  beforeAll(async () => {
    emu = await startEmulator({ volumeDir: null, maxOutputBytes: 1000 });
  });
  afterAll(async () => {
    await emu?.stop();
  });

  it('drops a result larger than maxOutputBytes: COMPLETED without output', async () => {
    const id = await submit(emu, { task: 'info' }); // about 3.5 KB of JSON
    const body = await finished(emu, id);
    expect(body.status).toBe('COMPLETED');
    expect('output' in body).toBe(false);
    expect(job(emu, id)?.outputDropped).toBe(true);
  });

  it('without a network volume, jobs that need it fail with the worker’s message', async () => {
    expect(emu.volumeDir).toBeUndefined();
    const id = await submit(emu, { task: 'blob_has', hashes: [] });
    const body = await finished(emu, id);
    expect(body.status).toBe('FAILED');
    expect(body.error).toMatch(/network volume not found/);
  });

  it('a crashed worker process makes the job FAILED with a JSON-encoded error, like a raised exception', async () => {
    const crashing = await startEmulator({ workerEnv: { PYTHONHOME: path.join(emu.applioDir, 'no-such-python-home') } });
    try {
      const id = await submit(crashing, { task: 'info' });
      const body = await finished(crashing, id);
      expect(body.status).toBe('FAILED');
      expect(typeof body.error).toBe('string');
      const error = JSON.parse(body.error);
      expect(error).toEqual({
        error_type: expect.any(String),
        error_message: expect.stringMatching(/exited with code 1/),
        error_traceback: expect.stringMatching(/Fatal Python error/),
        hostname: expect.any(String),
        worker_id: body.workerId,
        runpod_version: expect.any(String),
      });
    } finally {
      await crashing.stop();
    }
  });
});
