/** What `audition` (and `train --audition`) print: the scores per epoch, the recommendation, the page. */
import type { Output } from './output.js';
import { shellQuote } from '../util/shell.js';
import { countOf, formatDuration, formatPercent, formatUsd, renderTable } from './table.js';
import type { AuditionEstimate, AuditionPlan, AuditionResult } from '../workflows/audition.js';

const cents = (value: number | null): string => (value === null ? '–' : `${value.toFixed(0)}`);

export function renderEstimate(e: AuditionEstimate): string {
  return `estimate: ${e.epochs.length} epochs × ${e.guides} guides, about ${formatDuration(e.gpuSeconds)} of GPU time, ${formatUsd(e.costUsd)} at ${formatUsd(e.pricePerHour)}/h`;
}

export function renderAudition(result: AuditionResult | AuditionPlan, out: Output): string {
  if (result.status === 'planned') {
    return [
      `${result.model}: would audition epochs ${result.estimate.epochs.join(', ')} with ${result.guides.length} guides against ${result.singer.clips} clips of the singer; nothing sent`,
      renderEstimate(result.estimate),
      ...result.notes.map((n) => `note: ${n}`),
    ].join('\n');
  }
  const rows = result.epochs.map((e) => [
    `${e.epoch === result.recommended.epoch ? '★ ' : '  '}${e.epoch}`,
    formatPercent(e.similarity, 1),
    cents(e.f0RmseCents),
    formatPercent(e.voicingAgreement),
    e.naturalness === undefined ? '–' : e.naturalness.toFixed(2),
  ]);
  const baseline = result.guides.map((g) => formatPercent(g.baselineSimilarity, 1)).join(', ');
  const lines = [
    renderTable(['epoch', 'similarity', 'F0 error (cents)', 'voicing', 'DNSMOS'], rows),
    '',
    `${out.style('green', 'recommended:')} epoch ${result.recommended.epoch}: ${result.recommended.reason}`,
    `the guides' own similarity to the singer: ${baseline}; the singer: ${countOf(result.singer.clips, result.singer.heldOut ? 'held-out clip' : 'training clip')}`,
    ...result.notes.map((n) => `note: ${n}`),
    `${result.status === 'cached' ? 'from the earlier audition (no GPU job)' : `GPU ${formatDuration(result.gpuSeconds ?? 0)}, ${formatUsd(result.costUsd ?? 0)}`}; estimate was ${formatDuration(result.estimate.gpuSeconds)}`,
    `page: ${result.page}`,
    result.recommended.isModel
      ? `epoch ${result.recommended.epoch} is ${result.model} itself: convert with it as it is`
      : `keep it: voicestudio models pick ${result.model} --epoch ${result.recommended.epoch} -p ${shellQuote(result.project)}`,
  ];
  return lines.join('\n');
}
