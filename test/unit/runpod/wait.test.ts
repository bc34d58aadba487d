import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RunpodClient } from '../../../src/runpod/client.js';
import { abortableSleep } from '../../../src/runpod/retry.js';
import { JobFailedError, JobOutputMissingError, RunpodJobExpiredError, WaitDeadlineError } from '../../../src/runpod/errors.js';
import { isWorkerProgress, type JobState, type WorkerProgress } from '../../../src/runpod/types.js';
import { pollDelayMs, waitForJob, type WaitForJobOptions } from '../../../src/runpod/wait.js';

const ORIGIN = 'https://api.runpod.ai';
const ENDPOINT = 'ep123';
const JOB = 'job-1-e1';

let agent: MockAgent;
/** Delays of the client's own retries (read policy), apart from the wait's poll delays. */
let retryDelays: number[];

beforeEach(() => {
  agent = new MockAgent({ enableCallHistory: true });
  agent.disableNetConnect();
  retryDelays = [];
});

afterEach(async () => {
  agent.assertNoPendingInterceptors();
  await agent.close();
});

function client(): RunpodClient {
  return new RunpodClient({ apiKey: 'rpa_TESTKEY_0123456789', endpointId: ENDPOINT, dispatcher: agent, sleep: async (ms) => void retryDelays.push(ms), random: () => 0.5 });
}

/** Replies to successive /status polls in order. */
function statuses(...replies: Array<Omit<JobState, 'id'> | number>): void {
  for (const reply of replies) {
    const scope = agent.get(ORIGIN).intercept({ method: 'GET', path: `/v2/${ENDPOINT}/status/${JOB}` });
    if (typeof reply === 'number') scope.reply(reply, { error: 'nope' });
    else scope.reply(200, { id: JOB, ...reply });
  }
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

/** A fake clock that the injected sleep advances: deterministic, and no real waiting. */
function fakeTime(): Required<Pick<WaitForJobOptions, 'now' | 'sleep'>> & { pauses: number[] } {
  let clock = 0;
  const pauses: number[] = [];
  return {
    pauses,
    now: () => clock,
    sleep: async (ms) => {
      pauses.push(ms);
      clock += ms;
    },
  };
}

describe('pollDelayMs', () => {
  it('starts short jobs at 250 ms and grows ×1.5 to 1 s; long jobs from 1 s to 5 s', () => {
    expect([0, 1, 2, 3, 4, 5].map((poll) => pollDelayMs('short', poll))).toEqual([250, 375, 563, 844, 1000, 1000]);
    expect([0, 1, 2, 3, 4, 5].map((poll) => pollDelayMs('long', poll))).toEqual([1000, 1500, 2250, 3375, 5000, 5000]);
  });
});

describe('waitForJob', () => {
  it('reports every status and the progress payloads, and returns the completed state', async () => {
    const progress: WorkerProgress = { task: 'convert', stage: 'infer', message: '2/4' };
    statuses(
      { status: 'IN_QUEUE' },
      { status: 'IN_PROGRESS', output: { task: 'convert', stage: 'load' } },
      { status: 'IN_PROGRESS', output: progress },
      { status: 'COMPLETED', output: { file: { sha256: 'ab', size: 3, data: 'AAA' } }, executionTime: 4000 },
    );
    const time = fakeTime();
    const seen: JobState[] = [];
    const done = await waitForJob(client(), JOB, { ...time, onUpdate: (state) => seen.push(state) });
    expect(done).toEqual({ id: JOB, status: 'COMPLETED', output: { file: { sha256: 'ab', size: 3, data: 'AAA' } }, executionTime: 4000 });
    expect(seen.map((state) => state.status)).toEqual(['IN_QUEUE', 'IN_PROGRESS', 'IN_PROGRESS', 'COMPLETED']);
    expect(seen.filter((state) => isWorkerProgress(state.output)).map((state) => state.output)).toEqual([{ task: 'convert', stage: 'load' }, progress]);
    expect(time.pauses).toEqual([250, 375, 563]);
  });

  it('notices a finished short job within about a second, polling no faster than every 250 ms', async () => {
    statuses(...Array.from({ length: 8 }, () => ({ status: 'IN_PROGRESS' as const })), { status: 'COMPLETED', output: { ok: true } });
    const time = fakeTime();
    await waitForJob(client(), JOB, { ...time, pollPlan: 'short' });
    expect(time.pauses).toEqual([250, 375, 563, 844, 1000, 1000, 1000, 1000]);
  });

  it('polls training gently: 1 s growing to 5 s', async () => {
    statuses(...Array.from({ length: 6 }, () => ({ status: 'IN_PROGRESS' as const })), { status: 'COMPLETED', output: { ok: true } });
    const time = fakeTime();
    await waitForJob(client(), JOB, { ...time, pollPlan: 'long' });
    expect(time.pauses).toEqual([1000, 1500, 2250, 3375, 5000, 5000]);
  });

  it('treats COMPLETED without output as a lost result', async () => {
    statuses({ status: 'COMPLETED' });
    await expect(waitForJob(client(), JOB, fakeTime())).rejects.toBeInstanceOf(JobOutputMissingError);
  });

  it('treats COMPLETED whose output is still a progress payload as a lost result', async () => {
    statuses({ status: 'COMPLETED', output: { task: 'convert', stage: 'infer' } });
    await expect(waitForJob(client(), JOB, fakeTime())).rejects.toBeInstanceOf(JobOutputMissingError);
  });

  it("fails with the worker's own message", async () => {
    statuses({ status: 'IN_PROGRESS' }, { status: 'FAILED', error: 'blob 3f2a… is missing: upload it again' });
    const error = await rejectionOf(waitForJob(client(), JOB, fakeTime()), JobFailedError);
    expect(error).toMatchObject({ jobId: JOB, status: 'FAILED', workerMessage: 'blob 3f2a… is missing: upload it again', traceback: undefined });
  });

  it('fails with the type and message of an exception the handler raised, keeping the traceback', async () => {
    const raised = JSON.stringify({ error_type: 'ValueError', error_message: 'bad sample rate', error_traceback: 'Traceback...\nValueError: bad sample rate', hostname: 'h', worker_id: 'w', runpod_version: '1.12.0' });
    statuses({ status: 'FAILED', error: raised });
    const error = await rejectionOf(waitForJob(client(), JOB, fakeTime()), JobFailedError);
    expect(error.message).toBe(`RunPod job ${JOB} failed: ValueError: bad sample rate.`);
    expect(error.traceback).toBe('Traceback...\nValueError: bad sample rate');
  });

  it.each(['TIMED_OUT', 'CANCELLED'] as const)('fails on %s', async (status) => {
    statuses({ status });
    await expect(waitForJob(client(), JOB, fakeTime())).rejects.toMatchObject({ name: 'JobFailedError', status });
  });

  it('keeps polling through transient errors (retried under the read policy)', async () => {
    statuses({ status: 'IN_PROGRESS' }, 503, 502, { status: 'IN_PROGRESS' }, { status: 'COMPLETED', output: { ok: true } });
    const time = fakeTime();
    await expect(waitForJob(client(), JOB, time)).resolves.toMatchObject({ status: 'COMPLETED' });
    expect(retryDelays).toEqual([500, 1000]);
    expect(time.pauses).toEqual([250, 375]);
  });

  it('reports a job that disappears mid-wait (404) as expired', async () => {
    statuses({ status: 'IN_PROGRESS' }, 404);
    await expect(waitForJob(client(), JOB, fakeTime())).rejects.toBeInstanceOf(RunpodJobExpiredError);
  });

  it('stops at the deadline with the last status, polling once more at the deadline itself', async () => {
    statuses(...Array.from({ length: 5 }, () => ({ status: 'IN_QUEUE' as const })));
    const time = fakeTime();
    const error = await rejectionOf(waitForJob(client(), JOB, { ...time, deadlineMs: 1500 }), WaitDeadlineError);
    expect(error).toMatchObject({ jobId: JOB, lastStatus: 'IN_QUEUE' });
    // 250 + 375 + 563 = 1188; the last pause is cut to the 312 ms left.
    expect(time.pauses).toEqual([250, 375, 563, 312]);
  });

  it('rejects promptly with the abort reason while sleeping, without cancelling the job', async () => {
    statuses({ status: 'IN_PROGRESS' });
    const controller = new AbortController();
    const reason = new Error('Ctrl-C');
    // The real, abortable sleep, its pause stretched past any test's time limit: the abort, which lands while it
    // sleeps, is the only way this wait can end in time.
    const waiting = waitForJob(client(), JOB, {
      signal: controller.signal,
      sleep: (_ms, signal) => abortableSleep(60 * 60_000, signal),
      onUpdate: () => void setImmediate(() => controller.abort(reason)),
    });
    await expect(waiting).rejects.toBe(reason);
    // Only the one status request: no /cancel.
    expect(agent.getCallHistory()?.calls().map((call) => call.path)).toEqual([`/v2/${ENDPOINT}/status/${JOB}`]);
  });

  it('rejects with the abort reason when aborted before the first poll', async () => {
    const controller = new AbortController();
    controller.abort(new Error('already stopped'));
    await expect(waitForJob(client(), JOB, { signal: controller.signal, ...fakeTime() })).rejects.toThrow('already stopped');
    expect(agent.getCallHistory()?.calls()).toEqual([]);
  });
});
