/** Who submits a paid job when runs overlap: owners alive or gone, decided under the manifest lock. */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { busyHolder, claimJob, currentOwner, ownerAlive, submitClaimed } from '../../../src/workflows/job-claims.js';
import { ledger, type LedgerJob } from '../../../src/project/ledger.js';
import { readManifest, updateManifest } from '../../../src/project/manifest.js';
import { makeTempDir } from '../../helpers/cli.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

const job = { backend: 'runpod' as const, target: 'ep', task: 'convert' as const, key: 'k1', label: 'song.wav', request: { key: 'k1' } };

async function project(records: Partial<LedgerJob>[]): Promise<string> {
  const { dir, cleanup } = await makeTempDir('claims');
  cleanups.push(cleanup);
  const now = new Date().toISOString();
  await updateManifest(dir, (m) => {
    for (const record of records) m.jobs.push({ ...job, id: 'x', status: 'SUBMITTING', submittedAt: now, updatedAt: now, ...record });
  });
  return dir;
}

/** A live process that is not this one: a child waiting on its stdin. */
function otherProcess(): number {
  const child = spawn(process.execPath, ['-e', 'process.stdin.resume()'], { stdio: ['pipe', 'ignore', 'ignore'] });
  cleanups.push(async () => void child.kill());
  return child.pid!;
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

describe('ownerAlive', () => {
  it('tells a live owner from a gone one, and a reused pid by its start', async () => {
    const now = new Date().toISOString();
    const record = (owner: unknown): LedgerJob => ({ ...job, id: 'x', status: 'SUBMITTING', submittedAt: now, updatedAt: now, owner });
    expect(ownerAlive(record(currentOwner()))).toBe(true);
    expect(ownerAlive(record({ pid: otherProcess(), host: hostname() }))).toBe(true);
    expect(ownerAlive(record({ pid: await deadPid(), host: hostname() }))).toBe(false);
    expect(ownerAlive(record({ ...currentOwner(), started: 'another start' }))).toBe(process.platform !== 'linux');
    expect(ownerAlive(record(undefined))).toBe(false);
  });
});

describe('claimJob', () => {
  it('takes over a SUBMITTING record whose owner is gone, saying why', async () => {
    const dir = await project([{ id: 'pending-old', owner: { pid: await deadPid(), host: hostname() } }]);
    const claim = await claimJob(dir, job);
    expect(claim.pendingId).toMatch(/^pending-/);
    const records = ledger((await readManifest(dir))!);
    expect(records.map((r) => [r.id === 'pending-old' ? 'old' : 'new', r.status])).toEqual([['old', 'CANCELLED'], ['new', 'SUBMITTING']]);
    expect(records[0]!.error).toMatch(/superseded: the process submitting it ended/);
    expect(records[1]!.owner).toEqual(currentOwner());
  });

  it('waits while a live owner submits, then follows its job', async () => {
    const dir = await project([{ id: 'pending-live', owner: { pid: otherProcess(), host: hostname() } }]);
    let waiting!: () => void;
    const waited = new Promise<void>((resolve) => (waiting = resolve));
    const claim = claimJob(dir, job, { onWait: () => waiting() });
    await waited;
    await updateManifest(dir, (m) => Object.assign(ledger(m)[0]!, { id: 'job-1', status: 'IN_QUEUE' }));
    expect((await claim).follow?.id).toBe('job-1');
    expect(ledger((await readManifest(dir))!).map((r) => r.status)).toEqual(['IN_QUEUE']);
  });

  it('follows a completed job whose result never arrived, and submits anew for another request', async () => {
    const dir = await project([{ id: 'job-done', status: 'COMPLETED' }]);
    expect((await claimJob(dir, job)).follow?.id).toBe('job-done');
    expect((await claimJob(dir, { ...job, request: { key: 'k1', output: 'elsewhere.wav' } })).pendingId).toBeDefined();
  });

  it('removes the record when preparing fails, and closes it when the submit fails', async () => {
    const dir = await project([]);
    const first = await claimJob(dir, job);
    await expect(submitClaimed(dir, first.pendingId!, async () => Promise.reject(new Error('unreadable input')))).rejects.toThrow('unreadable input');
    expect(ledger((await readManifest(dir))!)).toEqual([]);
    const second = await claimJob(dir, job);
    await expect(
      submitClaimed(dir, second.pendingId!, async (sending) => {
        sending();
        throw new Error('RunPod answered 503');
      }),
    ).rejects.toThrow('503');
    expect(ledger((await readManifest(dir))!).map((r) => [r.status, r.error])).toEqual([['CANCELLED', 'submit not confirmed: RunPod answered 503']]);
  });
});

describe('busyHolder', () => {
  it('names the job to follow on RunPod, and says why a local one cannot be followed', () => {
    const busy = { status: 'busy', request_key: 'k1', holder_job_id: 'job-7' };
    expect(busyHolder({ kind: 'runpod' }, busy)).toBe('job-7');
    expect(busyHolder({ kind: 'runpod' }, { output: {} })).toBeUndefined();
    expect(() => busyHolder({ kind: 'local' }, busy)).toThrow(/Another worker process on this machine \(job job-7\)/);
  });
});
