/** What the project's GPU jobs cost, from the job ledger (executionTime × the configured price per hour). */
import { ledger } from './ledger.js';
import type { Manifest } from './types.js';

export interface CostLine {
  key: string;
  jobs: number;
  gpuSeconds: number;
  costUsd: number;
}

export interface CostSummary {
  total: CostLine;
  byModel: CostLine[];
  byCommand: CostLine[];
}

function add(lines: Map<string, CostLine>, key: string, executionMs: number, costUsd: number): void {
  const line = lines.get(key) ?? { key, jobs: 0, gpuSeconds: 0, costUsd: 0 };
  line.jobs += 1;
  line.gpuSeconds += executionMs / 1000;
  line.costUsd += costUsd;
  lines.set(key, line);
}

function rounded(line: CostLine): CostLine {
  return { ...line, gpuSeconds: Math.round(line.gpuSeconds * 10) / 10, costUsd: Math.round(line.costUsd * 1e4) / 1e4 };
}

/**
 * Every job that ran counts, whatever its outcome: RunPod bills a failed or cancelled job's execution time too.
 * A job is listed under its training name, the model a conversion used, or the song a separation split.
 */
export function summarizeCosts(manifest: Pick<Manifest, 'jobs'>): CostSummary {
  const byModel = new Map<string, CostLine>();
  const byCommand = new Map<string, CostLine>();
  const total = new Map<string, CostLine>();
  for (const job of ledger(manifest)) {
    if (job.executionMs === undefined) continue;
    const model = job.task === 'convert' ? String(job.request?.model ?? job.label) : job.label;
    const cost = job.costUsd ?? 0;
    add(byModel, model, job.executionMs, cost);
    add(byCommand, job.task, job.executionMs, cost);
    add(total, 'total', job.executionMs, cost);
  }
  return {
    total: rounded(total.get('total') ?? { key: 'total', jobs: 0, gpuSeconds: 0, costUsd: 0 }),
    byModel: [...byModel.values()].map(rounded).sort((a, b) => b.costUsd - a.costUsd),
    byCommand: [...byCommand.values()].map(rounded).sort((a, b) => b.costUsd - a.costUsd),
  };
}
