import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, VoicestudioError } from '../../../src/errors.js';
import { followJob } from '../../../src/workflows/follow.js';
import type { Backend } from '../../../src/runpod/backend.js';

let projectDir: string;

beforeEach(async () => {
  projectDir = await mkdtemp(path.join(tmpdir(), 'voicestudio-follow-'));
});

afterEach(async () => {
  await rm(projectDir, { recursive: true, force: true });
});

/** A RunPod backend whose job runs until the wait is aborted: all a detach needs (no endpoint can run here). */
function runningJobBackend(): Backend {
  return {
    kind: 'runpod',
    target: 'endpoint-1',
    submit: async () => 'job-1',
    wait: async (_id, options = {}) =>
      await new Promise((_resolve, reject) => {
        options.signal?.addEventListener('abort', () => reject(options.signal?.reason), { once: true });
      }),
    cancel: async () => undefined,
    runTask: async () => ({}),
  };
}

describe('followJob', () => {
  it('on Ctrl-C detaches with hints that name the project, so they work from any folder', async () => {
    const controller = new AbortController();
    const following = followJob(runningJobBackend(), projectDir, 'job-1', { long: false, pricePerHour: 1, cancelOnInterrupt: false, resumeHint: 'the same command', signal: controller.signal });
    controller.abort(new Error('interrupted'));
    const error = await following.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(VoicestudioError);
    expect((error as VoicestudioError).code).toBe(ErrorCode.Detached);
    expect((error as VoicestudioError).suggestion).toContain(`voicestudio jobs ${projectDir} --attach job-1`);
    expect((error as VoicestudioError).suggestion).toContain(`voicestudio jobs ${projectDir} --cancel job-1`);
  });
});
