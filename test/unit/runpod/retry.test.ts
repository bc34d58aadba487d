import { describe, expect, it } from 'vitest';
import {
  RunpodApiError,
  RunpodConnectionError,
  RunpodTimeoutError,
  RunpodUnexpectedResponseError,
  type RunpodOperation,
} from '../../../src/runpod/errors.js';
import { abortableSleep, backoffDelayMs, isRetryable, isSubmitOutcomeUnknown, retryAfterMs, withRetries, type RetryInfo } from '../../../src/runpod/retry.js';

const transport = { op: 'status' as const, origin: 'https://api.runpod.ai' };

function apiError(status: number, body: unknown = {}, retryAfter?: number): RunpodApiError {
  return RunpodApiError.fromResponse(status, body, { op: 'status', endpointId: 'ep', jobId: 'j', retryAfterMs: retryAfter });
}
const refused = (): RunpodConnectionError => new RunpodConnectionError(transport, true, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
const reset = (): RunpodConnectionError => new RunpodConnectionError(transport, false, Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
const timedOut = (): RunpodTimeoutError => new RunpodTimeoutError(transport, 30_000, new DOMException('timed out', 'TimeoutError'));

describe('isRetryable', () => {
  const cases: Array<[string, () => unknown, Record<RunpodOperation, boolean>]> = [
    ['429', () => apiError(429), { status: true, health: true, cancel: true, purge: true, run: true, retry: true }],
    ['408', () => apiError(408), { status: true, health: true, cancel: true, purge: true, run: false, retry: false }],
    ['500', () => apiError(500), { status: true, health: true, cancel: true, purge: true, run: false, retry: false }],
    ['502', () => apiError(502), { status: true, health: true, cancel: true, purge: true, run: false, retry: false }],
    ['503', () => apiError(503), { status: true, health: true, cancel: true, purge: true, run: false, retry: false }],
    ['504', () => apiError(504), { status: true, health: true, cancel: true, purge: true, run: false, retry: false }],
    ['501', () => apiError(501), { status: false, health: false, cancel: false, purge: false, run: false, retry: false }],
    ['400', () => apiError(400), { status: false, health: false, cancel: false, purge: false, run: false, retry: false }],
    ['401', () => apiError(401), { status: false, health: false, cancel: false, purge: false, run: false, retry: false }],
    ['404', () => apiError(404), { status: false, health: false, cancel: false, purge: false, run: false, retry: false }],
    ['403 balance', () => apiError(403, { error: 'insufficient balance' }), { status: false, health: false, cancel: false, purge: false, run: false, retry: false }],
    ['connection refused', refused, { status: true, health: true, cancel: true, purge: true, run: true, retry: true }],
    ['reset after send', reset, { status: true, health: true, cancel: true, purge: true, run: false, retry: false }],
    ['timeout', timedOut, { status: true, health: true, cancel: true, purge: true, run: false, retry: false }],
    ['unreadable 200', () => new RunpodUnexpectedResponseError(200, '<html>', { op: 'status', endpointId: 'ep' }, 'it is not JSON'), { status: true, health: true, cancel: true, purge: true, run: false, retry: false }],
    ['user abort', () => new DOMException('aborted', 'AbortError'), { status: false, health: false, cancel: false, purge: false, run: false, retry: false }],
    ['a bug', () => new TypeError('x is undefined'), { status: false, health: false, cancel: false, purge: false, run: false, retry: false }],
  ];
  it.each(cases)('%s', (_name, make, expected) => {
    const error = make();
    for (const [op, retryable] of Object.entries(expected)) expect([op, isRetryable(error, op as RunpodOperation)]).toEqual([op, retryable]);
  });

  it('an idempotent submit (the worker answers a duplicate with the first job) is sent again after a 5xx, a reset or a timeout', () => {
    for (const make of [() => apiError(500), () => apiError(503), reset, timedOut]) {
      expect(isRetryable(make(), 'run', true)).toBe(true);
      expect(isRetryable(make(), 'run')).toBe(false);
    }
    // What a second attempt cannot change stays final.
    for (const make of [() => apiError(400), () => apiError(401), () => apiError(403, { error: 'insufficient balance' })]) expect(isRetryable(make(), 'run', true)).toBe(false);
  });
});

describe('isSubmitOutcomeUnknown', () => {
  it('is true after a 5xx, a reset after send, a timeout or an unreadable 200; false when provably not created', () => {
    expect(isSubmitOutcomeUnknown(apiError(502))).toBe(true);
    expect(isSubmitOutcomeUnknown(reset())).toBe(true);
    expect(isSubmitOutcomeUnknown(timedOut())).toBe(true);
    expect(isSubmitOutcomeUnknown(new RunpodUnexpectedResponseError(200, '', { op: 'run', endpointId: 'ep' }, 'it is not JSON'))).toBe(true);
    expect(isSubmitOutcomeUnknown(refused())).toBe(false);
    expect(isSubmitOutcomeUnknown(apiError(429))).toBe(false);
    expect(isSubmitOutcomeUnknown(apiError(400))).toBe(false);
    expect(isSubmitOutcomeUnknown(new DOMException('aborted', 'AbortError'))).toBe(false);
  });
});

describe('backoffDelayMs', () => {
  it('doubles from 500 ms up to the cap, jitter ±25 %', () => {
    const middle = (): number => 0.5;
    expect([0, 1, 2, 3, 4, 5].map((attempt) => backoffDelayMs(attempt, { random: middle }))).toEqual([500, 1000, 2000, 4000, 8000, 8000]);
    expect(backoffDelayMs(1, { random: () => 0 })).toBe(750);
    expect(backoffDelayMs(1, { random: () => 0.999999 })).toBe(1250);
    expect(backoffDelayMs(10, { random: () => 0.999999 })).toBe(8000);
    expect(backoffDelayMs(10, { random: middle, capMs: 30_000 })).toBe(30_000);
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2026-09-01T12:00:00Z');
  it.each([
    [{ 'retry-after': '2' }, 2000],
    [{ 'retry-after': '0.1' }, 100],
    [{ 'retry-after': '0' }, 0],
    [{ 'retry-after-ms': '250' }, 250],
    [{ 'retry-after-ms': '250', 'retry-after': '9' }, 250],
    [{ 'retry-after-ms': 'soon', 'retry-after': '3' }, 3000],
    [{ 'retry-after': 'Tue, 01 Sep 2026 12:00:05 GMT' }, 5000],
    [{ 'retry-after': ['4', '9'] }, 4000],
    [{ 'retry-after': '61' }, undefined],
    [{ 'retry-after': '-1' }, undefined],
    [{ 'retry-after': 'Tue, 01 Sep 2026 11:59:00 GMT' }, undefined],
    [{ 'retry-after': 'later' }, undefined],
    [{ 'retry-after': '' }, undefined],
    [{}, undefined],
  ])('%j → %s', (headers, expected) => {
    expect(retryAfterMs(headers, now)).toBe(expected);
  });
});

function recorder(): { sleep: (ms: number) => Promise<void>; delays: number[] } {
  const delays: number[] = [];
  return { delays, sleep: async (ms) => void delays.push(ms) };
}

describe('withRetries', () => {
  it('retries a read 4 times with capped exponential delays, then gives up with the last error', async () => {
    const { sleep, delays } = recorder();
    let calls = 0;
    const last = apiError(503);
    await expect(
      withRetries(async () => {
        calls += 1;
        throw calls === 5 ? last : apiError(503);
      }, { op: 'status', sleep, random: () => 0.5 }),
    ).rejects.toBe(last);
    expect(calls).toBe(5);
    expect(delays).toEqual([500, 1000, 2000, 4000]);
  });

  it("honours the server's Retry-After and reports each retry", async () => {
    const { sleep, delays } = recorder();
    const retries: RetryInfo[] = [];
    let calls = 0;
    const result = await withRetries(
      async (attempt) => {
        calls += 1;
        if (attempt === 0) throw apiError(429, {}, 3000);
        return 'ok';
      },
      { op: 'run', sleep, random: () => 0.5, onRetry: (info) => retries.push(info) },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(2);
    expect(delays).toEqual([3000]);
    expect(retries.map(({ retry, delayMs }) => ({ retry, delayMs }))).toEqual([{ retry: 1, delayMs: 3000 }]);
  });

  it('gives a submit 5 retries when it provably did nothing, and none after an ambiguous failure', async () => {
    const { sleep, delays } = recorder();
    let calls = 0;
    const failingWith = (make: () => Error) => async (): Promise<never> => {
      calls += 1;
      throw make();
    };
    await expect(withRetries(failingWith(refused), { op: 'run', sleep, random: () => 0.5 })).rejects.toBeInstanceOf(RunpodConnectionError);
    expect(calls).toBe(6);
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000]);

    calls = 0;
    await expect(withRetries(failingWith(reset), { op: 'run', sleep })).rejects.toBeInstanceOf(RunpodConnectionError);
    expect(calls).toBe(1);
  });

  it('never retries after the user aborted, and rethrows the abort reason', async () => {
    const controller = new AbortController();
    const { sleep, delays } = recorder();
    let calls = 0;
    const reason = new Error('stop');
    await expect(
      withRetries(async () => {
        calls += 1;
        controller.abort(reason);
        throw apiError(503);
      }, { op: 'status', sleep, signal: controller.signal }),
    ).rejects.toBe(reason);
    expect(calls).toBe(1);
    expect(delays).toEqual([]);
  });
});

describe('abortableSleep', () => {
  it('rejects with the signal reason, not a wrapper', async () => {
    const controller = new AbortController();
    const reason = new Error('user pressed Ctrl-C');
    const sleeping = abortableSleep(60_000, controller.signal);
    controller.abort(reason);
    await expect(sleeping).rejects.toBe(reason);
  });
});
