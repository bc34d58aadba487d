/**
 * Following a submitted job to its end, for every paid task (remote-job.ts): progress with the cost so far, the
 * outcome recorded in the job ledger, and Ctrl-C that detaches (the job keeps running and is collected by
 * the next run) or, when asked, cancels the remote job.
 */
import { ErrorCode, ExitCode, VoicestudioError } from '../errors.js';
import type { Backend } from '../runpod/backend.js';
import { JobFailedError } from '../runpod/errors.js';
import type { WorkerProgress } from '../runpod/types.js';
import { costUsd, recordFinished, updateJob } from '../project/ledger.js';
import { shellQuote } from '../util/shell.js';

export interface FollowEvents {
  long: boolean;
  pricePerHour: number;
  cancelOnInterrupt: boolean;
  /** The command that collects the job later, for the detach message. */
  resumeHint: string;
  signal?: AbortSignal;
  onProgress?: (progress: WorkerProgress, costSoFarUsd: number) => void;
}

export interface FollowedJob {
  output: Record<string, unknown>;
  executionMs: number | undefined;
  costUsd: number | undefined;
}

export async function followJob(backend: Backend, projectDir: string, jobId: string, options: FollowEvents): Promise<FollowedJob> {
  let runningSince: number | undefined;
  try {
    const done = await backend.wait(jobId, {
      long: options.long,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onProgress: (progress) => {
        if (runningSince === undefined) {
          runningSince = Date.now();
          // Bookkeeping only: a failed write must not end the wait (the final status is written after it).
          updateJob(projectDir, jobId, { status: 'IN_PROGRESS' }).catch(() => {});
        }
        options.onProgress?.(progress, costUsd(Date.now() - runningSince, options.pricePerHour) ?? 0);
      },
    });
    await recordFinished(projectDir, jobId, { status: 'COMPLETED', executionMs: done.executionMs, pricePerHour: options.pricePerHour });
    return { ...done, costUsd: costUsd(done.executionMs, options.pricePerHour) };
  } catch (error) {
    if (options.signal?.aborted) {
      // A local job is a child of this process: it cannot outlive it, so it is cancelled either way.
      if (options.cancelOnInterrupt || backend.kind === 'local') {
        const executionMs = await backend.cancel(jobId).catch(() => undefined);
        await recordFinished(projectDir, jobId, { status: 'CANCELLED', executionMs, pricePerHour: options.pricePerHour, error: 'cancelled on interrupt' });
        throw new VoicestudioError(ErrorCode.Interrupted, `Interrupted; job ${jobId} was cancelled.`, { exitCode: ExitCode.Interrupted, suggestion: `Start again with: ${options.resumeHint}` });
      }
      throw new VoicestudioError(ErrorCode.Detached, `Detached from job ${jobId}; it keeps running on ${backend.target}.`, {
        exitCode: ExitCode.Interrupted,
        suggestion: `Collect it later with: ${options.resumeHint} (or voicestudio jobs ${shellQuote(projectDir)} --attach ${jobId}); cancel it with voicestudio jobs ${shellQuote(projectDir)} --cancel ${jobId}`,
      });
    }
    if (error instanceof JobFailedError) {
      await recordFinished(projectDir, jobId, { status: error.status, executionMs: error.executionMs, pricePerHour: options.pricePerHour, error: error.message });
    } else if (error instanceof Error && error.name === 'RunpodJobExpiredError') {
      // RunPod forgot the job; results the worker kept on the volume are fetched by running the command again.
      await recordFinished(projectDir, jobId, { status: 'FAILED', pricePerHour: options.pricePerHour, error: error.message });
    }
    throw error;
  }
}
