/** Human renderings: tables that stay aligned whatever the script, counts and times in plain words. */
import { expect, it } from 'vitest';
import { renderCost } from '../../../src/commands/cost.js';
import { renderTrain } from '../../../src/commands/train.js';
import { Output } from '../../../src/ui/output.js';
import { displayWidth, renderTable } from '../../../src/ui/table.js';
import type { CostSummary } from '../../../src/project/costs.js';
import type { TrainResult } from '../../../src/workflows/train.js';

it('aligns columns by the width a terminal draws, for CJK names and combining accents too', () => {
  expect(displayWidth('歌手')).toBe(4);
  expect(displayWidth('ｱｲ')).toBe(2); // half-width katakana: one column each
  expect(displayWidth('e\u0301te\u0301')).toBe(3);
  const table = renderTable(['name', 'min'], [['歌手の声', 1.5], ['alice', 12], ['Zoë', 3]]);
  expect(table.split('\n')).toEqual([
    'name      min',
    '歌手の声  1.5',
    'alice      12',
    'Zoë         3',
  ]);
});

it('counts one job as "1 job"', () => {
  const line = { key: 'alice', jobs: 1, gpuSeconds: 65, costUsd: 0.01 };
  const summary = { byModel: [line], byCommand: [{ ...line, key: 'train' }], total: { jobs: 1, gpuSeconds: 65, costUsd: 0.01 } } as unknown as CostSummary;
  expect(renderCost(summary)).toMatch(/^total: 1 job, 1m 05s of GPU time, \$0\.01$/m);
});

it('says "GPU time unknown" once when the endpoint did not report it', () => {
  const out = new Output({ json: false, quiet: false, verbose: false, color: false }, { stdout: process.stdout, stderr: process.stderr }, {});
  const result = {
    dryRun: false,
    verdict: { ok: true, problems: [], forced: false },
    runId: 'alice-0123456789ab',
    dataset: { archive: 'x.tar', sha256: '0123456789abcdef', bytes: 1e6, clips: 10, seconds: 700, singingSec: 600, speechSec: 100 },
    estimate: { datasetMinutes: 11.7, gpuSeconds: 3600, costUsd: 0.69, pricePerHour: 0.69, policy: { executionTimeout: 3_600_000, ttl: 90_000_000 } },
    warnings: [],
    jobId: 'job-1',
    model: { name: 'alice', version: 1, pth: { file: '/p/models/alice/v1/alice.pth', size: 55e6 } },
  } as unknown as TrainResult;
  const text = renderTrain(result, out);
  expect(text).toMatch(/^job job-1: GPU time unknown$/m);
  expect(renderTrain({ ...result, gpuSeconds: 125, costUsd: 0.02 }, out)).toMatch(/^job job-1: 2m 05s of GPU time, \$0\.02$/m);
});
