/** What `screen` (and `train --screen`) print: the reference voice, the share kept per source, each clip excluded. */
import type { Output } from './output.js';
import { countOf, formatDuration, formatPercent, formatUsd, renderTable } from './table.js';
import type { ScreenEstimate, ScreenResult } from '../workflows/screen.js';

export function renderScreenEstimate(e: ScreenEstimate): string {
  return `estimate: ${countOf(e.missing, 'clip')} without an embedding; the job embeds all ${e.members} (${formatDuration(e.audioSeconds)} of audio), about ${formatDuration(e.gpuSeconds)} of GPU time, ${formatUsd(e.costUsd)} at ${formatUsd(e.pricePerHour)}/h`;
}

export function renderScreen(result: ScreenResult, out: Output): string {
  const lines: string[] = [];
  if (result.reference !== undefined) lines.push(`reference voice: ${result.reference.description}`);
  lines.push(`threshold: ${result.threshold.toFixed(2)} (cosine similarity to the reference; --threshold to change it)`);
  if (result.sources.length > 0) {
    lines.push(
      '',
      renderTable(
        ['source', 'kind', 'clips kept', 'kept'],
        result.sources.map((s) => [s.path, s.kind, `${s.kept}/${s.clips}`, `${formatPercent(s.totalSec === 0 ? 1 : s.keptSec / s.totalSec)} of ${formatDuration(s.totalSec)}`]),
      ),
    );
  }
  if (result.excluded.length > 0) {
    lines.push('', `${result.dryRun ? 'would exclude' : 'excluded'} (${countOf(result.excluded.length, 'clip')}, lowest score first):`);
    const pathOf = new Map(result.sources.map((s) => [s.sourceId, s.path]));
    for (const clip of result.excluded) lines.push(`  ${clip.id}  ${clip.similarity.toFixed(2)}  ${pathOf.get(clip.sourceId) ?? clip.sourceId} ${clip.startSec.toFixed(1)}–${clip.endSec.toFixed(1)} s`);
  } else if (result.judged > 0) {
    lines.push('', 'every clip sounds like the reference voice: nothing excluded');
  }
  if (result.unjudged.length > 0) lines.push(`not judged (kept): ${result.unjudged.map((u) => `${u.id} (${u.reason})`).join(', ')}`);
  if (!result.dryRun && (result.newlyExcluded.length > 0 || result.reincluded.length > 0)) {
    lines.push(`changed: ${countOf(result.newlyExcluded.length, 'clip')} newly kept out of training, ${countOf(result.reincluded.length, 'clip')} an earlier screen excluded given back`);
  }
  // Before a job the estimate went to stderr already; a dry run's answer is the estimate.
  if (result.estimate !== undefined && (result.dryRun || result.job === undefined)) lines.push(renderScreenEstimate(result.estimate));
  if (result.job !== undefined) {
    const j = result.job;
    lines.push(`job ${j.jobId}${j.reattached ? ' (reattached)' : ''}: ${j.gpuSeconds === undefined ? 'GPU time unknown' : `${formatDuration(j.gpuSeconds)} of GPU time`}${j.costUsd === undefined ? '' : `, ${formatUsd(j.costUsd)}`}; ${(j.bytesSent / 1e6).toFixed(1)} MB sent`);
  } else if (!result.dryRun) {
    lines.push('every clip had its embedding already: no GPU job');
  }
  if (result.page !== undefined) lines.push(`report page: ${result.page}`);
  lines.push(...result.notes.map((n) => `note: ${n}`));
  if (result.dryRun) lines.push('dry run: nothing was changed and no job was sent.');
  else if (result.excluded.length > 0) lines.push(out.style('dim', 'nothing was deleted: the report page plays each excluded clip with its score; a lower --threshold or another --reference gives clips back'));
  return lines.join('\n');
}
