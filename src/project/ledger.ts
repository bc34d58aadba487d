/**
 * The job ledger in the project manifest. Every paid job is written down before the CLI waits on it
 * (write-ahead), so a Ctrl-C, a crash or a kill -9 never loses a job: the next run finds it and reattaches.
 * Which run submits and which follows is decided in job-claims.ts.
 */
import { updateManifest } from './manifest.js';
import type { JobRecord, Manifest } from './types.js';

export type JobTask = 'train' | 'convert' | 'separate' | 'audition' | 'screen';
/** The states a remote job reports (RunPod's, which the local backend mirrors), as the ledger keeps them. */
export type RemoteJobStatus = 'IN_QUEUE' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TIMED_OUT';
/** SUBMITTING: written before the submit request; the job id is not known yet. */
export type LedgerStatus = 'SUBMITTING' | RemoteJobStatus;

export interface LedgerJob extends JobRecord {
  /** RunPod's job id; `pending-<uuid>` while SUBMITTING. */
  id: string;
  backend: 'runpod' | 'local';
  /** Endpoint id, or "local". */
  target: string;
  task: JobTask;
  /** What the job is for: a training run id, or a conversion's cache key. */
  key: string;
  /** For people: the model name or input file. */
  label: string;
  status: LedgerStatus;
  submittedAt: string;
  updatedAt: string;
  finishedAt?: string;
  executionMs?: number;
  costUsd?: number;
  error?: string;
  /** What the job was asked to do, enough for any later run to collect it (settings, files). */
  request?: Record<string, unknown>;
  /** What the job produced, as kept locally (e.g. the model version, or the output file). */
  result?: Record<string, unknown>;
}

const ACTIVE: ReadonlySet<LedgerStatus> = new Set(['SUBMITTING', 'IN_QUEUE', 'IN_PROGRESS']);

export function isActive(job: LedgerJob): boolean {
  return ACTIVE.has(job.status);
}

export function ledger(manifest: Pick<Manifest, 'jobs'>): LedgerJob[] {
  return manifest.jobs as LedgerJob[];
}

export function costUsd(executionMs: number | undefined, pricePerHour: number): number | undefined {
  return executionMs === undefined ? undefined : Math.round((executionMs / 3_600_000) * pricePerHour * 1e6) / 1e6;
}

export async function updateJob(projectDir: string, id: string, change: Partial<LedgerJob>): Promise<void> {
  await updateManifest(projectDir, (m) => {
    const job = ledger(m).find((j) => j.id === id);
    if (job !== undefined) Object.assign(job, change, { updatedAt: new Date().toISOString() });
  });
}

/** A job this project did not submit itself but now follows (e.g. the one already training a run). */
export async function recordAdopted(projectDir: string, jobId: string, job: Pick<LedgerJob, 'backend' | 'target' | 'task' | 'key' | 'label' | 'request'>): Promise<void> {
  const now = new Date().toISOString();
  await updateManifest(projectDir, (m) => {
    if (!ledger(m).some((j) => j.id === jobId)) m.jobs.push({ ...job, id: jobId, status: 'IN_PROGRESS', submittedAt: now, updatedAt: now } satisfies LedgerJob);
  });
}

/** After the submit answered: the pending record gets the real id. */
export async function recordSubmitted(projectDir: string, pendingId: string, jobId: string): Promise<void> {
  await updateJob(projectDir, pendingId, { id: jobId, status: 'IN_QUEUE' });
}

export async function recordFinished(
  projectDir: string,
  id: string,
  outcome: { status: RemoteJobStatus; executionMs?: number | undefined; pricePerHour: number; error?: string; result?: Record<string, unknown> },
): Promise<void> {
  const cost = costUsd(outcome.executionMs, outcome.pricePerHour);
  await updateJob(projectDir, id, {
    status: outcome.status,
    finishedAt: new Date().toISOString(),
    ...(outcome.executionMs === undefined ? {} : { executionMs: outcome.executionMs }),
    ...(cost === undefined ? {} : { costUsd: cost }),
    ...(outcome.error === undefined ? {} : { error: outcome.error }),
    ...(outcome.result === undefined ? {} : { result: outcome.result }),
  });
}
