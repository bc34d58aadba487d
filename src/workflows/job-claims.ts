/**
 * Who submits the paid job for a task and key, when runs overlap: two `batch` runs on one project, or a re-run
 * after a kill. Records carry their owner (pid, host, process start). A job that has an id is followed by every
 * run that needs it; a record still SUBMITTING belongs to its owner while that process lives (the others wait
 * for its job id), and is taken over only once the owner is gone. The decision and the new record are written
 * under the manifest lock, so two processes never both decide to submit.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, VoicestudioError } from '../errors.js';
import type { Backend } from '../runpod/backend.js';
import { isProcessAlive } from '../util/files.js';
import { isActive, ledger, recordAdopted, recordSubmitted, updateJob, type LedgerJob } from '../project/ledger.js';
import { readManifest, updateManifest } from '../project/manifest.js';
import type { Manifest } from '../project/types.js';

interface JobOwner {
  pid: number;
  host: string;
  /** The process's start (Linux: its start time in clock ticks), so a reused pid is not taken for the owner. */
  started?: string;
}

/** What a job is for: its task, key, label and request, as its ledger record keeps them. */
export type JobDescription = Pick<LedgerJob, 'task' | 'key' | 'label' | 'request'>;

export type NewJob = Pick<LedgerJob, 'backend' | 'target'> & JobDescription;

type ClaimKind =
  /** Follow this job: running, or finished and not yet collected. */
  | { follow: LedgerJob; pendingId?: undefined }
  /** Submit now; the record `pendingId` (SUBMITTING) is ours. */
  | { pendingId: string; follow?: undefined };

/** `manifest`: the project as the claim wrote it, so that the run need not read it again. */
export type Claim = ClaimKind & { manifest: Manifest };

/** How often a run waiting for another live process's submit looks at the ledger again. */
const WAIT_POLL_MS = 200;
/** A SUBMITTING record of another machine (a shared project folder) is taken over after this long: its process cannot be seen. */
const OTHER_HOST_SUBMIT_MS = 10 * 60_000;

function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // starttime is field 22; counting starts after the command name, which may hold spaces and parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

let self: JobOwner | undefined;

export function currentOwner(): JobOwner {
  if (self === undefined) {
    const started = processStart(process.pid);
    self = { pid: process.pid, host: hostname(), ...(started === undefined ? {} : { started }) };
  }
  return self;
}

function ownerOf(job: LedgerJob): JobOwner | undefined {
  const owner = job.owner as JobOwner | undefined;
  return typeof owner === 'object' && owner !== null && typeof owner.pid === 'number' && typeof owner.host === 'string' ? owner : undefined;
}

function isMine(job: LedgerJob): boolean {
  const owner = ownerOf(job);
  const me = currentOwner();
  return owner !== undefined && owner.host === me.host && owner.pid === me.pid && owner.started === me.started;
}

/** Whether the process that wrote the record may still be working on it. Records without an owner predate owners: theirs is gone. */
export function ownerAlive(job: LedgerJob, now = Date.now()): boolean {
  const owner = ownerOf(job);
  if (owner === undefined) return false;
  if (owner.host !== hostname()) return now - Date.parse(job.updatedAt) < OTHER_HOST_SUBMIT_MS;
  return isProcessAlive(owner.pid) && (owner.started === undefined || processStart(owner.pid) === owner.started);
}

type Decision = { kind: 'follow'; job: LedgerJob } | { kind: 'wait'; job: LedgerJob } | { kind: 'submit'; takeOver: LedgerJob[] };

function decide(manifest: Pick<Manifest, 'jobs'>, job: NewJob): Decision {
  const records = ledger(manifest).filter((j) => j.task === job.task && j.key === job.key && j.backend === job.backend);
  const takeOver: LedgerJob[] = [];
  for (const record of [...records].reverse().filter(isActive)) {
    if (record.status === 'SUBMITTING') {
      if (!isMine(record) && ownerAlive(record)) return { kind: 'wait', job: record };
      takeOver.push(record);
    } else if (job.backend === 'runpod') {
      return { kind: 'follow', job: record };
    } else if (isMine(record) || !ownerAlive(record)) {
      // A local job is a child of the process that started it and ends with it.
      takeOver.push(record);
    } else {
      return { kind: 'wait', job: record };
    }
  }
  // A job that completed but whose result never arrived (a kill while it was brought home): read it again.
  const asked = JSON.stringify(job.request);
  const uncollected = records.filter((j) => j.status === 'COMPLETED' && j.result === undefined && j.target === job.target && JSON.stringify(j.request) === asked).at(-1);
  if (uncollected !== undefined && job.backend === 'runpod') return { kind: 'follow', job: uncollected };
  return { kind: 'submit', takeOver };
}

/**
 * Decides, under the manifest lock, whether this run submits the job for `job.task` and `job.key` or follows one
 * that exists; while another live process is submitting it, waits for that process's job id.
 */
export async function claimJob(projectDir: string, job: NewJob, options: { signal?: AbortSignal; onWait?: (holder: LedgerJob) => void } = {}): Promise<Claim> {
  let told = false;
  for (;;) {
    const seen = decide((await readManifest(projectDir)) ?? { jobs: [] }, job);
    if (seen.kind === 'wait') {
      if (!told) options.onWait?.(seen.job);
      told = true;
      await sleep(WAIT_POLL_MS, undefined, options.signal === undefined ? {} : { signal: options.signal });
      continue;
    }
    const { result: claim, manifest } = await updateManifest(projectDir, (m): ClaimKind | undefined => {
      const decision = decide(m, job);
      if (decision.kind === 'wait') return undefined;
      if (decision.kind === 'follow') return { follow: decision.job };
      const now = new Date().toISOString();
      for (const record of decision.takeOver) {
        Object.assign(record, {
          status: 'CANCELLED',
          updatedAt: now,
          error:
            record.status === 'SUBMITTING'
              ? 'superseded: the process submitting it ended before RunPod answered; the request was sent again, and the worker answers a duplicate with the job already running or its result'
              : 'superseded: it ran locally in a process that ended',
        });
      }
      const pendingId = `pending-${randomUUID()}`;
      m.jobs.push({ ...job, id: pendingId, status: 'SUBMITTING', submittedAt: now, updatedAt: now, owner: currentOwner() } satisfies LedgerJob);
      return { pendingId };
    });
    if (claim !== undefined) return { ...claim, manifest };
  }
}

/**
 * Submits for a claim. `work` prepares what the job needs, calls `sending()` right before the submit request, and
 * submits. The record gets the job id; when preparing fails it is removed (nothing was sent), and when the submit
 * fails it is closed with the reason (the request is idempotent on the worker, so whichever run needs it next
 * simply sends it again).
 */
export async function submitClaimed(projectDir: string, pendingId: string, work: (sending: () => void) => Promise<string>): Promise<string> {
  let sent = false;
  let jobId: string;
  try {
    jobId = await work(() => (sent = true));
  } catch (error) {
    const close = sent
      ? updateJob(projectDir, pendingId, { status: 'CANCELLED', error: `submit not confirmed: ${error instanceof Error ? error.message : String(error)}` })
      : releaseClaim(projectDir, pendingId);
    await close.catch(() => {});
    throw error;
  }
  await recordSubmitted(projectDir, pendingId, jobId);
  return jobId;
}

/**
 * When following the claimed job failed only because RunPod no longer keeps that finished job (it keeps results
 * 30 minutes): its record stays COMPLETED (it ran and was billed), noted, and true is returned: the request is to
 * be submitted again, and the worker answers it from the result it kept.
 */
export async function resubmitForgotten(projectDir: string, claim: Claim, error: unknown, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted || claim.follow?.status !== 'COMPLETED' || !(error instanceof VoicestudioError && error.code === ErrorCode.RunpodJobExpired)) return false;
  await updateJob(projectDir, claim.follow.id, { status: 'COMPLETED', error: `not collected: ${error.message}`, result: { collected: false } });
  return true;
}

/** Gives up a claim that submitted nothing (e.g. another run finished the work meanwhile): its record goes. */
export async function releaseClaim(projectDir: string, pendingId: string): Promise<void> {
  await updateManifest(projectDir, (m) => void (m.jobs = m.jobs.filter((j) => j.id !== pendingId)));
}

/**
 * The job a worker named when it answered "busy": another job is already doing this request (training run or
 * request key), to be followed instead. A local job can only be followed by the process that started it.
 */
export function busyHolder(backend: Pick<Backend, 'kind'>, output: Record<string, unknown>): string | undefined {
  if (output.status !== 'busy' || typeof output.holder_job_id !== 'string') return undefined;
  if (backend.kind === 'local') {
    throw new VoicestudioError(ErrorCode.JobFailed, `Another worker process on this machine (job ${output.holder_job_id}) is already doing this work.`, {
      suggestion: 'Wait for it to end (a voicestudio command killed with kill -9 can leave its worker running), then run the same command again: the worker keeps its result.',
    });
  }
  return output.holder_job_id;
}

/**
 * When the worker answered `busy` (the request or run is already in another job, say one whose submit was never
 * confirmed): records that this job was answered by that one, adopts it into the ledger, and returns its id to follow.
 */
export async function adoptBusyHolder(
  projectDir: string,
  backend: Pick<Backend, 'kind' | 'target'>,
  jobId: string,
  output: Record<string, unknown>,
  job: JobDescription,
): Promise<string | undefined> {
  const holder = busyHolder(backend, output);
  if (holder === undefined) return undefined;
  await updateJob(projectDir, jobId, { result: { answeredBy: holder } });
  await recordAdopted(projectDir, holder, { backend: backend.kind, target: backend.target, ...job });
  return holder;
}
