/**
 * Reattach or submit: how train, convert and separate get a paid job's result without ever paying twice.
 *
 * 1. The work may need no job: cached, or brought home by an earlier run.
 * 2. Otherwise this run claims the job under the manifest lock (job-claims.ts): it follows the job the ledger has
 *    for this task and key (running, or finished and not yet collected), or it becomes the one run that submits.
 * 3. A run that submits looks again first (another run may have finished the work meanwhile), then writes the job
 *    to the ledger before the submit request (write-ahead) and its id right after. Each request carries a key
 *    (training run id, request key) the worker answers duplicates by, so a submit that was never confirmed is sent
 *    again safely.
 * 4. The job is followed to its end (follow.ts: Ctrl-C detaches, or cancels with --cancel-on-interrupt; failed and
 *    cancelled jobs record their cost). When the worker answers that another job already does this request, that
 *    job is adopted and followed instead.
 * 5. A finished job RunPod no longer keeps (it keeps results 30 minutes) is submitted again: the worker answers
 *    from the result it kept.
 */
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Backend } from '../runpod/backend.js';
import { CHUNK_BYTES, inlineOrBlobRef } from '../runpod/transfer.js';
import type { FileRef } from '../tasks/wire.js';
import { tempSibling } from '../util/files.js';
import type { Manifest } from '../project/types.js';
import { adoptBusyHolder, claimJob, releaseClaim, resubmitForgotten, submitClaimed, type JobDescription } from './job-claims.js';
import { followJob, type FollowedJob, type FollowEvents } from './follow.js';

export interface RemoteJobOptions<R> {
  projectDir: string;
  backend: Backend;
  /** The ledger record's task, key (training run id or cache key), label, and the request any later run collects it by. */
  job: JobDescription;
  signal?: AbortSignal;
  /**
   * The work's result when no job is needed (cached, or collected by an earlier run), else undefined. Asked first
   * without `manifest`, and again once this run holds the claim to submit, with the manifest as the claim left it.
   */
  finished: (manifest?: Manifest) => Promise<R | undefined>;
  /** Prepares what the job needs and submits it, calling `sending()` right before the submit request; resolves with the job id. */
  submit: (sending: () => void) => Promise<string>;
  /** The job's id is in the ledger: a job this run submitted, or one an earlier run did (`reattached`). */
  onJob?: (jobId: string, reattached: boolean) => void;
  /** Follows the job to its end (followRemoteJob) and brings its result home. */
  collect: (jobId: string, reattached: boolean) => Promise<R>;
}

/** The work's result: from `finished`, from a job an earlier run started, or from a job submitted now. */
export async function runRemoteJob<R>(options: RemoteJobOptions<R>): Promise<R> {
  const { projectDir, backend, signal } = options;
  const before = await options.finished();
  if (before !== undefined) return before;
  for (;;) {
    const claim = await claimJob(projectDir, { backend: backend.kind, target: backend.target, ...options.job }, signal === undefined ? {} : { signal });
    let jobId: string;
    if (claim.follow !== undefined) {
      jobId = claim.follow.id;
    } else {
      // Another run may have finished the work between the first look and the claim; nothing is sent then.
      const meanwhile = await options.finished(claim.manifest).catch(async (error: unknown) => {
        await releaseClaim(projectDir, claim.pendingId);
        throw error;
      });
      if (meanwhile !== undefined) {
        await releaseClaim(projectDir, claim.pendingId);
        return meanwhile;
      }
      jobId = await submitClaimed(projectDir, claim.pendingId, options.submit);
    }
    const reattached = claim.follow !== undefined;
    options.onJob?.(jobId, reattached);
    try {
      return await options.collect(jobId, reattached);
    } catch (error) {
      if (await resubmitForgotten(projectDir, claim, error, signal)) continue;
      throw error;
    }
  }
}

export interface FollowRemoteOptions extends FollowEvents {
  /** The worker answered that job `holderId` already does this request: it is followed now. */
  onAdopted?: (holderId: string) => void;
}

/**
 * Follows a job to its end. When the worker answered `busy` (the request or training run is already in another
 * job, say one whose submit was never confirmed), that job goes into the ledger and is followed instead.
 * Resolves with the output and the id of the job that did the work.
 */
export async function followRemoteJob(backend: Backend, projectDir: string, jobId: string, job: JobDescription, options: FollowRemoteOptions): Promise<FollowedJob & { jobId: string }> {
  for (let following = jobId; ; ) {
    const done = await followJob(backend, projectDir, following, options);
    const holder = await adoptBusyHolder(projectDir, backend, following, done.output, job);
    if (holder === undefined) return { ...done, jobId: following };
    options.onAdopted?.(holder);
    following = holder;
  }
}

/** A short job's GPU time (to a tenth of a second) and cost, where known, for its result. */
export function jobCharges(done: Pick<FollowedJob, 'executionMs' | 'costUsd'>): { gpuSeconds?: number; costUsd?: number } {
  return {
    ...(done.executionMs === undefined ? {} : { gpuSeconds: Math.round(done.executionMs / 100) / 10 }),
    ...(done.costUsd === undefined ? {} : { costUsd: done.costUsd }),
  };
}

/**
 * A job's input file as the worker gets it: `prepare` writes what is to be sent to `dest` (a temporary file in
 * `dir`, removed afterwards) or returns another file to send as it is. It travels inline when small, else as a blob.
 */
export async function sendInput(backend: Backend, dir: string, key: string, prepare: (dest: string) => Promise<string>, signal?: AbortSignal): Promise<{ ref: FileRef; bytesSent: number }> {
  await mkdir(dir, { recursive: true });
  const dest = tempSibling(path.join(dir, `${key}.input.flac`));
  try {
    const file = await prepare(dest);
    const ref = await inlineOrBlobRef(backend.runTask, file, { inlineMaxBytes: CHUNK_BYTES, ...(signal === undefined ? {} : { signal }) });
    return { ref, bytesSent: (await stat(file)).size };
  } finally {
    await rm(dest, { force: true });
  }
}
