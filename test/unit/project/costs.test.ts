import { describe, expect, it } from 'vitest';
import { summarizeCosts } from '../../../src/project/costs.js';
import type { LedgerJob } from '../../../src/project/ledger.js';

function job(fields: Partial<LedgerJob> & Pick<LedgerJob, 'id' | 'task' | 'label' | 'status'>): LedgerJob {
  return { backend: 'runpod', target: 'ep', key: fields.id, submittedAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', ...fields };
}

describe('summarizeCosts', () => {
  it('counts failed and cancelled jobs, lists separations under their song, and leaves out jobs that never ran', () => {
    const jobs = [
      job({ id: 'a', task: 'train', label: 'alice', status: 'FAILED', executionMs: 130_000, costUsd: 0.1 }),
      job({ id: 'b', task: 'train', label: 'alice', status: 'CANCELLED', executionMs: 93_000, costUsd: 0.05 }),
      job({ id: 'c', task: 'separate', label: 'song.wav', status: 'COMPLETED', executionMs: 20_000, costUsd: 0.01, request: { key: 'k', input: '/x/song.wav' } }),
      job({ id: 'd', task: 'convert', label: 'song.wav', status: 'FAILED', executionMs: 5_000, costUsd: 0.002, request: { model: 'alice@1' } }),
      job({ id: 'e', task: 'convert', label: 'guide.wav', status: 'CANCELLED', error: 'superseded: the submit was never confirmed' }),
    ];
    const summary = summarizeCosts({ jobs });
    expect(summary.total).toStrictEqual({ key: 'total', jobs: 4, gpuSeconds: 248, costUsd: 0.162 });
    expect(summary.byModel.map((l) => [l.key, l.jobs])).toStrictEqual([['alice', 2], ['song.wav', 1], ['alice@1', 1]]);
    expect(summary.byCommand.map((l) => [l.key, l.jobs])).toStrictEqual([['train', 2], ['separate', 1], ['convert', 1]]);
  });
});
