import { describe, expect, it } from 'vitest';
import { ErrorCode, ExitCode, VoicestudioError } from '../../../src/errors.js';
import {
  describeWorkerError,
  JobFailedError,
  JobOutputMissingError,
  JobSubmitUnknownError,
  parseErrorBody,
  RunpodApiError,
  RunpodServerError,
  runpodMessage,
  WaitDeadlineError,
  type RunpodOperation,
} from '../../../src/runpod/errors.js';

const ENDPOINT = 'ep123';

function fromResponse(status: number, body: unknown, op: RunpodOperation): RunpodApiError {
  return RunpodApiError.fromResponse(status, body, { op, endpointId: ENDPOINT, jobId: op === 'status' || op === 'cancel' || op === 'retry' ? 'job-1' : undefined });
}

describe('RunpodApiError.fromResponse', () => {
  it.each([
    [401, {}, 'run', 'RunpodAuthError', ErrorCode.RunpodAuth],
    [403, {}, 'status', 'RunpodAuthError', ErrorCode.RunpodAuth],
    [404, {}, 'run', 'RunpodEndpointNotFoundError', ErrorCode.RunpodEndpointNotFound],
    [404, {}, 'health', 'RunpodEndpointNotFoundError', ErrorCode.RunpodEndpointNotFound],
    [404, {}, 'purge', 'RunpodEndpointNotFoundError', ErrorCode.RunpodEndpointNotFound],
    [404, {}, 'status', 'RunpodJobExpiredError', ErrorCode.RunpodJobExpired],
    [404, {}, 'cancel', 'RunpodJobExpiredError', ErrorCode.RunpodJobExpired],
    [404, {}, 'retry', 'RunpodJobExpiredError', ErrorCode.RunpodJobExpired],
    [429, { error: 'request throttled' }, 'run', 'RunpodRateLimitError', ErrorCode.RunpodRateLimited],
    [500, 'oops', 'status', 'RunpodServerError', ErrorCode.RunpodServerError],
    [502, '<html>Bad gateway</html>', 'run', 'RunpodServerError', ErrorCode.RunpodServerError],
    [503, {}, 'health', 'RunpodServerError', ErrorCode.RunpodServerError],
    [400, { error: 'json is invalid; max size is 10 MB' }, 'run', 'RunpodBadRequestError', ErrorCode.RunpodBadRequest],
    [403, { error: 'Insufficient balance to run this request' }, 'run', 'RunpodInsufficientBalanceError', ErrorCode.RunpodInsufficientBalance],
    [402, 'insufficient funds', 'run', 'RunpodInsufficientBalanceError', ErrorCode.RunpodInsufficientBalance],
    [400, { message: 'all workers are throttled' }, 'run', 'RunpodWorkersThrottledError', ErrorCode.RunpodWorkersThrottled],
    [502, '<h1>502</h1> upstream load balancer: insufficient balance of capacity', 'run', 'RunpodServerError', ErrorCode.RunpodServerError],
    [400, { error: 'load balancer rejected the request' }, 'run', 'RunpodBadRequestError', ErrorCode.RunpodBadRequest],
    [409, {}, 'cancel', 'RunpodApiError', ErrorCode.RunpodApiError],
  ] as const)('%i %j on %s → %s', (status, body, op, name, code) => {
    const error = fromResponse(status, body, op);
    expect(error).toBeInstanceOf(RunpodApiError);
    expect(error).toBeInstanceOf(VoicestudioError);
    expect(error.name).toBe(name);
    expect(error.code).toBe(code);
    expect(error.status).toBe(status);
    expect(error.body).toEqual(body);
    expect(error.exitCode).toBe(ExitCode.Failure);
    expect(error.suggestion).toMatch(/\S/);
  });

  it('names the status, the env var and the config command for a rejected key', () => {
    const error = fromResponse(401, {}, 'run');
    expect(error.message).toBe('RunPod rejected the API key (401): wrong key, or it lacks permission for this endpoint.');
    expect(error.suggestion).toContain('RUNPOD_API_KEY');
    expect(error.suggestion).toContain('voicestudio config set api-key');
    expect(error.subject).toBe('api-key');
  });

  it('tells a wrong endpoint id from an expired job', () => {
    const endpoint = fromResponse(404, {}, 'run');
    expect(endpoint.message).toContain(ENDPOINT);
    expect(endpoint.suggestion).toContain('voicestudio config set endpoint-id');
    expect(endpoint.suggestion).toContain('RUNPOD_ENDPOINT_ID');
    const job = fromResponse(404, {}, 'status');
    expect(job.message).toContain('job-1');
    expect(job.message).toContain('30 minutes');
    expect(job.suggestion).toMatch(/volume/);
    expect(job.suggestion).toMatch(/run the same command again/);
  });

  it("quotes RunPod's message for a 400 and explains the size limit", () => {
    const error = fromResponse(400, { error: 'payload too large' }, 'run');
    expect(error.message).toBe('RunPod rejected the job submission (400): "payload too large".');
    expect(error.suggestion).toContain('10 MB');
  });

  it('points at credit and GPU availability for balance and throttling', () => {
    expect(fromResponse(403, { error: 'insufficient balance' }, 'run').suggestion).toMatch(/Add credit/);
    expect(fromResponse(400, { error: 'workers throttled' }, 'run').suggestion).toMatch(/GPU availability/);
  });

  it('keeps the request id and the server-requested delay', () => {
    const error = RunpodApiError.fromResponse(429, {}, { op: 'run', endpointId: ENDPOINT, requestId: 'req-9', retryAfterMs: 2000 });
    expect(error.requestId).toBe('req-9');
    expect(error.retryAfterMs).toBe(2000);
  });
});

describe('error bodies', () => {
  it('parses JSON, keeps text, truncates long bodies', () => {
    expect(parseErrorBody('{"error":"x"}')).toEqual({ error: 'x' });
    expect(parseErrorBody('Bad gateway')).toBe('Bad gateway');
    const long = parseErrorBody('x'.repeat(5000));
    expect(typeof long === 'string' && long.length).toBe(2001);
  });

  it("finds RunPod's message in common shapes", () => {
    expect(runpodMessage({ error: 'a' })).toBe('a');
    expect(runpodMessage({ message: 'b' })).toBe('b');
    expect(runpodMessage({ error: { message: 'c' } })).toBe('c');
    expect(runpodMessage('  d\n e ')).toBe('d e');
    expect(runpodMessage({})).toBeUndefined();
  });
});

describe('JobFailedError', () => {
  it("shows a handler's own error string as is", () => {
    const error = new JobFailedError({ jobId: 'j1', status: 'FAILED', error: 'input.pitch must be an integer from -24 to 24, got 30' });
    expect(error.message).toBe('RunPod job j1 failed: input.pitch must be an integer from -24 to 24, got 30.');
    expect(error.workerMessage).toBe('input.pitch must be an integer from -24 to 24, got 30');
    expect(error.traceback).toBeUndefined();
    expect(error.code).toBe(ErrorCode.JobFailed);
    expect(error.subject).toBe('j1');
  });

  it('unpacks the JSON runpod-python encodes for a raised exception', () => {
    const encoded = JSON.stringify({
      error_type: "<class 'RuntimeError'>",
      error_message: 'CUDA out of memory',
      error_traceback: 'Traceback (most recent call last):\n  File "handler.py", line 1\nRuntimeError: CUDA out of memory',
      hostname: 'h',
      worker_id: 'w',
      runpod_version: '1.12.0',
    });
    const error = new JobFailedError({ jobId: 'j2', status: 'FAILED', error: encoded });
    expect(error.workerMessage).toBe("<class 'RuntimeError'>: CUDA out of memory");
    expect(error.message).not.toContain('Traceback');
    expect(error.traceback).toContain('Traceback (most recent call last)');
    expect(error.suggestion).toContain('--verbose');
  });

  it('does not mistake JSON that is not an exception for one', () => {
    expect(describeWorkerError('"just a string"')).toEqual({ message: '"just a string"' });
    expect(describeWorkerError('{"detail":1}')).toEqual({ message: '{"detail":1}' });
  });

  it('explains a timeout and a cancellation', () => {
    const timedOut = new JobFailedError({ jobId: 'j3', status: 'TIMED_OUT' });
    expect(timedOut.code).toBe(ErrorCode.JobTimedOut);
    expect(timedOut.suggestion).toMatch(/execution timeout/i);
    const cancelled = new JobFailedError({ jobId: 'j4', status: 'CANCELLED' });
    expect(cancelled.code).toBe(ErrorCode.JobCancelled);
    expect(cancelled.message).toBe('RunPod job j4 was cancelled.');
  });
});

describe('other job errors', () => {
  it('mentions the output size limit when a completed job has no output', () => {
    const error = new JobOutputMissingError({ jobId: 'j5' });
    expect(error.code).toBe(ErrorCode.JobOutputMissing);
    expect(error.suggestion).toMatch(/output size limit/);
  });

  it('says an ambiguous submit may have created the job, and keeps the cause', () => {
    const cause = new RunpodServerError(502, 'Bad gateway', { op: 'run', endpointId: ENDPOINT });
    const error = new JobSubmitUnknownError(cause);
    expect(error.name).toBe('JobSubmitUnknownError');
    expect(error.message).toContain('may or may not have been created');
    expect(error.message).toContain('502');
    expect(error.cause).toBe(cause);
    // Not resent (a job the worker cannot recognise again): no promise that a re-run reconciles anything.
    expect(error.suggestion).toMatch(/did not send it again/);
    expect(error.suggestion).not.toMatch(/reconcile/);
    // Resent (idempotent on the worker): every attempt was ambiguous, and a re-run is safe.
    expect(new JobSubmitUnknownError(cause, { op: 'run', resent: true }).suggestion).toMatch(/sent again and every attempt ended the same way\. Running the same command again is safe/);
  });

  it('reports a passed deadline with the last status, exit code Failure', () => {
    const error = new WaitDeadlineError({ jobId: 'j6', waitedMs: 600_000, lastStatus: 'IN_QUEUE' });
    expect(error.message).toBe('Stopped waiting for RunPod job j6 after 10 min (last status IN_QUEUE).');
    expect(error.exitCode).toBe(ExitCode.Failure);
    expect(error.suggestion).toMatch(/workers/);
  });
});
