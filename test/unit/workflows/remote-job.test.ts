/** Reattach or submit: the ledger decides, a run that claims the submit looks again first, a forgotten job is sent again. */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, VoicestudioError } from '../../../src/errors.js';
import type { Backend } from '../../../src/runpod/backend.js';
import { ledger, type LedgerJob } from '../../../src/project/ledger.js';
import { readManifest, updateManifest } from '../../../src/project/manifest.js';
import type { Manifest } from '../../../src/project/types.js';
import { runRemoteJob } from '../../../src/workflows/remote-job.js';
import { makeTempDir } from '../../helpers/cli.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

const job = { task: 'convert' as const, key: 'k1', label: 'song.wav', request: { key: 'k1' } };

/** runRemoteJob reads only which backend it is: the job itself is submitted and followed by the callbacks. */
const backend: Backend = {
  kind: 'runpod',
  target: 'ep',
  submit: async () => Promise.reject(new Error('submits go through the submit callback')),
  wait: async () => Promise.reject(new Error('waits go through the collect callback')),
  cancel: async () => undefined,
  runTask: async () => Promise.reject(new Error('no tasks here')),
};

async function project(records: Partial<LedgerJob>[] = []): Promise<string> {
  const { dir, cleanup } = await makeTempDir('remote-job');
  cleanups.push(cleanup);
  const now = new Date().toISOString();
  await updateManifest(dir, (m) => {
    for (const record of records) m.jobs.push({ ...job, backend: 'runpod', target: 'ep', id: 'x', status: 'COMPLETED', submittedAt: now, updatedAt: now, ...record });
  });
  return dir;
}

const records = async (dir: string): Promise<LedgerJob[]> => ledger((await readManifest(dir))!);
const noSubmit = async (): Promise<string> => Promise.reject(new Error('nothing is to be submitted'));
const noCollect = async (): Promise<string> => Promise.reject(new Error('nothing is to be collected'));

describe('runRemoteJob', () => {
  it('looks again with the manifest its claim wrote, and sends nothing when the work was done meanwhile', async () => {
    const dir = await project();
    const looks: (Manifest | undefined)[] = [];
    const result = await runRemoteJob({
      projectDir: dir,
      backend,
      job,
      finished: async (manifest) => {
        looks.push(manifest);
        return manifest === undefined ? undefined : 'done by another run';
      },
      submit: noSubmit,
      collect: noCollect,
    });
    expect(result).toBe('done by another run');
    expect(looks).toHaveLength(2);
    expect(ledger(looks[1]!).map((r) => [r.key, r.status])).toEqual([['k1', 'SUBMITTING']]);
    expect(await records(dir)).toEqual([]);
  });

  it('gives its claim back when the second look fails, so no other run waits on it', async () => {
    const dir = await project();
    const run = runRemoteJob({
      projectDir: dir,
      backend,
      job,
      finished: async (manifest) => {
        if (manifest !== undefined) throw new VoicestudioError(ErrorCode.MediaUnreadable, 'the cached copy is unreadable');
        return undefined;
      },
      submit: noSubmit,
      collect: noCollect,
    });
    await expect(run).rejects.toThrow('the cached copy is unreadable');
    expect(await records(dir)).toEqual([]);
  });

  it('reattaches to the job the ledger has, and submits again once RunPod has forgotten that finished job', async () => {
    const dir = await project([{ id: 'job-done' }]);
    const jobs: [string, boolean][] = [];
    let sent = false;
    const result = await runRemoteJob({
      projectDir: dir,
      backend,
      job,
      finished: async () => undefined,
      submit: async (sending) => {
        sending();
        sent = true;
        return 'job-2';
      },
      onJob: (jobId, reattached) => jobs.push([jobId, reattached]),
      collect: async (jobId) => {
        if (jobId === 'job-done') throw new VoicestudioError(ErrorCode.RunpodJobExpired, 'RunPod no longer keeps job job-done');
        return `collected ${jobId}`;
      },
    });
    expect(result).toBe('collected job-2');
    expect(sent).toBe(true);
    expect(jobs).toEqual([['job-done', true], ['job-2', false]]);
    expect((await records(dir)).map((r) => [r.id, r.status, r.result])).toEqual([
      ['job-done', 'COMPLETED', { collected: false }],
      ['job-2', 'IN_QUEUE', undefined],
    ]);
  });

  it('does not submit again when a job it follows fails for another reason', async () => {
    const dir = await project([{ id: 'job-running', status: 'IN_PROGRESS' }]);
    const run = runRemoteJob({
      projectDir: dir,
      backend,
      job,
      finished: async () => undefined,
      submit: noSubmit,
      collect: async () => Promise.reject(new VoicestudioError(ErrorCode.JobFailed, 'the worker failed')),
    });
    await expect(run).rejects.toThrow('the worker failed');
    expect((await records(dir)).map((r) => r.id)).toEqual(['job-running']);
  });
});
