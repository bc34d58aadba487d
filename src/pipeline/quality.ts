/**
 * Clip screening and the quality reports (pure): what was kept and dropped and why, the source's levels, and warnings
 * that say what is wrong, with the figure, and what to do about it. Dataset thresholds come from the customer's brief
 * (docs/product.md): 10–60 minutes of clean vocals, singing at least 50 % (ideally 60–70 %) and speech 30–40 %.
 */
import { DB_FLOOR, levelStatistics, type PcmAnalysis } from './analysis.js';
import { frameRangeToSeconds, type FrameRange, type SliceResult } from './slicer.js';
import type {
  DatasetQualityReport,
  DroppedClip,
  LengthDistribution,
  PreprocessSettings,
  QualityWarning,
  Source,
  SourceKind,
  SourceQualityReport,
} from './types.js';

/** A clip is dropped as silence when more than this share of its frames is below the silence threshold. */
export const MAX_SILENT_SHARE = 0.6;
/** A clip is dropped as clipped when more than this share of its samples is clipped (0.1 %). */
export const MAX_CLIPPED_SHARE = 0.001;

/** Source warning: clipped samples (0.01 %) at which clipping is audible somewhere in the file. */
export const CLIPPING_WARN_SHARE = 0.0001;
/** Source warning: noise floor above this (dBFS) is audible under singing once normalised. */
export const NOISY_FLOOR_DBFS = -50;
/** Source warning: voice less than this far above the noise floor (dB). */
export const LOW_SNR_DB = 25;
/** Source warning: integrated loudness below this needs 15 dB or more of gain to reach usual targets (around -20 LUFS). */
export const QUIET_LOUDNESS_LUFS = -35;
/** Source warning: less than this share of the file ended up in kept clips. */
export const LOW_KEPT_SHARE = 0.5;

/** Dataset warnings, from the brief: 10–60 minutes of audio, singing at least 50 % and ideally 60–70 %. */
export const DATASET_MIN_SEC = 10 * 60;
export const DATASET_MAX_SEC = 60 * 60;
export const MIN_SINGING_SHARE = 0.5;
export const IDEAL_SINGING_SHARE = { min: 0.6, max: 0.7 } as const;

/** Clip-length histogram buckets: [5,7), [7,9), [9,11), [11,13), [13,15] (the last one closed). */
export const LENGTH_BUCKETS: readonly { fromSec: number; toSec: number }[] = [5, 7, 9, 11, 13].map((fromSec) => ({ fromSec, toSec: fromSec + 2 }));
// Lengths are differences of frame times: allow float noise at the bucket edges.
const LENGTH_EPSILON = 1e-6;

export interface ClipSpan {
  startSec: number;
  endSec: number;
}

export type ScreenVerdict = { keep: true } | { keep: false; reason: 'silence' | 'clipping'; detail: string };

export interface ScreenedClips {
  kept: ClipSpan[];
  /** Screened-out and too-short clips, in time order. */
  dropped: DroppedClip[];
}

/** "72 %", "0.8 %", "0.012 %": two significant digits. */
function formatPercent(share: number): string {
  return `${Number((share * 100).toPrecision(2))} %`;
}

function formatDb(db: number): string {
  return db.toFixed(1);
}

function formatSeconds(sec: number): string {
  return `${sec.toFixed(1)} s`;
}

function formatMinutes(sec: number): string {
  return `${(sec / 60).toFixed(1)} min`;
}

function countOf(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function spanSeconds(span: ClipSpan): number {
  return span.endSec - span.startSec;
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** Share of the clip's frames whose RMS is below the threshold. */
function silentShare(analysis: PcmAnalysis, clip: FrameRange, thresholdDb: number): number {
  const end = Math.min(clip.endFrame, analysis.frameCount);
  let silent = 0;
  for (let frame = clip.startFrame; frame < end; frame++) if (analysis.rmsDb[frame]! < thresholdDb) silent++;
  return silent / Math.max(1, end - clip.startFrame);
}

/** Share of the clip's samples (all channels) that are clipped. */
function clippedShare(analysis: PcmAnalysis, clip: FrameRange): number {
  const { hopSamples, totalFrames, channels, clippedPerHop } = analysis;
  const end = Math.min(clip.endFrame, clippedPerHop.length);
  let clipped = 0;
  for (let hop = clip.startFrame; hop < end; hop++) clipped += clippedPerHop[hop]!;
  const samples = (Math.min(clip.endFrame * hopSamples, totalFrames) - clip.startFrame * hopSamples) * channels;
  return clipped / Math.max(1, samples);
}

/** Whether a clip is worth training on: not mostly silence, not audibly clipped. */
export function screenClip(analysis: PcmAnalysis, clip: FrameRange, thresholdDb: number): ScreenVerdict {
  const silence = silentShare(analysis, clip, thresholdDb);
  if (silence > MAX_SILENT_SHARE) {
    return { keep: false, reason: 'silence', detail: `${formatPercent(silence)} silence (below ${formatDb(thresholdDb)} dBFS)` };
  }
  const clipped = clippedShare(analysis, clip);
  if (clipped > MAX_CLIPPED_SHARE) return { keep: false, reason: 'clipping', detail: `${formatPercent(clipped)} of samples clipped` };
  return { keep: true };
}

/** Screens the slicer's clips and turns its too-short leftovers into dropped clips, all in seconds. */
export function screenSlices(analysis: PcmAnalysis, slices: SliceResult, opts: { thresholdDb: number; minClipSec: number }): ScreenedClips {
  const toSeconds = (range: FrameRange): ClipSpan => frameRangeToSeconds(range, analysis.hopSec, analysis.durationSec);
  const kept: ClipSpan[] = [];
  const dropped: DroppedClip[] = [];
  for (const clip of slices.clips) {
    const verdict = screenClip(analysis, clip, opts.thresholdDb);
    if (verdict.keep) kept.push(toSeconds(clip));
    else dropped.push({ ...toSeconds(clip), reason: verdict.reason, detail: verdict.detail });
  }
  for (const leftover of slices.dropped) {
    const span = toSeconds(leftover);
    dropped.push({ ...span, reason: 'too_short', detail: `${formatSeconds(spanSeconds(span))}, under the ${opts.minClipSec} s minimum` });
  }
  dropped.sort((a, b) => a.startSec - b.startSec);
  return { kept, dropped };
}

/** Noise floor (dBFS): the level of the pauses, by minimum statistics over 5 s windows (see levelStatistics). */
export function noiseFloorDbfs(rmsDb: Float32Array): number {
  return levelStatistics(rmsDb).noiseFloorDbfs;
}

/** How far the typical singing or speech level stands above the noise floor (dB); 0 for digital silence. */
export function snrEstimateDb(rmsDb: Float32Array): number {
  return levelStatistics(rmsDb).snrDb;
}

function median(sorted: readonly number[]): number {
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Clip-length summary. Lengths outside 5–15 s (possible with other clip settings) count in no bucket. */
export function lengthDistribution(lengthsSec: readonly number[]): LengthDistribution {
  const sorted = [...lengthsSec].sort((a, b) => a - b);
  const last = LENGTH_BUCKETS.length - 1;
  const histogram = LENGTH_BUCKETS.map(({ fromSec, toSec }, index) => ({
    fromSec,
    toSec,
    count: sorted.filter((length) => length >= fromSec - LENGTH_EPSILON && (index === last ? length <= toSec + LENGTH_EPSILON : length < toSec - LENGTH_EPSILON)).length,
  }));
  if (sorted.length === 0) return { count: 0, minSec: 0, medianSec: 0, maxSec: 0, histogram };
  return { count: sorted.length, minSec: sorted[0]!, medianSec: median(sorted), maxSec: sorted[sorted.length - 1]!, histogram };
}

export interface SourceReportInput {
  source: Pick<Source, 'id' | 'path' | 'kind'>;
  analysis: PcmAnalysis;
  kept: readonly ClipSpan[];
  dropped: readonly DroppedClip[];
}

/** What the dropped and trimmed audio was, e.g. "12.0 s clipping, 3.1 s too short, 40.2 s silence between clips". */
function lossBreakdown(report: SourceQualityReport): string {
  const byReason = (reason: DroppedClip['reason']): number => sum(report.dropped.filter((clip) => clip.reason === reason).map(spanSeconds));
  const trimmed = report.durationSec - report.keptSec - report.droppedSec;
  const parts = [
    [byReason('clipping'), 'clipping'],
    [byReason('silence'), 'mostly-silent clips'],
    [byReason('too_short'), 'too short'],
    [trimmed, 'silence between clips'],
  ] as const;
  return parts
    .filter(([seconds]) => seconds >= 0.05)
    .map(([seconds, what]) => `${formatSeconds(seconds)} ${what}`)
    .join(', ');
}

function sourceWarnings(report: SourceQualityReport): QualityWarning[] {
  const scope = report.sourceId;
  const warnings: QualityWarning[] = [];
  if (report.clippedShare >= CLIPPING_WARN_SHARE) {
    const droppedForClipping = report.dropped.filter((clip) => clip.reason === 'clipping').length;
    warnings.push({
      code: 'source_clipping',
      scope,
      message: `${formatPercent(report.clippedShare)} of samples in ${report.path} are clipped (${countOf(droppedForClipping, 'clip')} dropped for clipping).`,
      suggestion: 'Use a cleaner copy (an unmastered take or the stems), record again with lower input gain, or leave this file out: the model learns the distortion.',
    });
  }
  // A file that is all digital silence has no measurable floor; the low-kept warning covers it.
  const measurable = report.noiseFloorDbfs > DB_FLOOR;
  if (measurable && (report.noiseFloorDbfs > NOISY_FLOOR_DBFS || report.snrDb < LOW_SNR_DB)) {
    warnings.push({
      code: 'source_noisy',
      scope,
      message: `${report.path} is noisy: noise floor ${formatDb(report.noiseFloorDbfs)} dBFS, voice about ${formatDb(report.snrDb)} dB above it (want a floor below ${NOISY_FLOOR_DBFS} dBFS and at least ${LOW_SNR_DB} dB).`,
      suggestion: 'Try --denoise, or use a cleaner recording of the same material.',
    });
  }
  if (report.loudnessLufs > DB_FLOOR && report.loudnessLufs < QUIET_LOUDNESS_LUFS) {
    warnings.push({
      code: 'source_quiet',
      scope,
      message: `${report.path} is very quiet: ${formatDb(report.loudnessLufs)} LUFS integrated (below ${QUIET_LOUDNESS_LUFS} LUFS).`,
      suggestion: 'Normalising it raises its noise by the same amount; use a louder copy if there is one, or record with more input gain (peaks around -6 dBFS).',
    });
  }
  if (report.durationSec > 0 && report.keptSec / report.durationSec < LOW_KEPT_SHARE) {
    warnings.push({
      code: 'source_little_kept',
      scope,
      message: `Only ${formatPercent(report.keptSec / report.durationSec)} of ${report.path} was kept (${formatSeconds(report.keptSec)} of ${formatSeconds(report.durationSec)}); the rest: ${lossBreakdown(report) || 'nothing measurable'}.`,
      suggestion: 'Silence and short phrases are expected in sparse recordings. If singing was lost, check the other warnings for this file, or trim the file to the part with the singer.',
    });
  }
  return warnings;
}

/** The quality report of one preprocessed source. */
export function buildSourceReport(input: SourceReportInput): SourceQualityReport {
  const { source, analysis, kept, dropped } = input;
  const keptLengths = kept.map(spanSeconds);
  const levels = levelStatistics(analysis.rmsDb);
  const report: SourceQualityReport = {
    sourceId: source.id,
    path: source.path,
    kind: source.kind,
    durationSec: analysis.durationSec,
    keptSec: sum(keptLengths),
    droppedSec: sum(dropped.map(spanSeconds)),
    clips: lengthDistribution(keptLengths),
    dropped: [...dropped],
    clippedShare: analysis.clippedSamples / Math.max(1, analysis.totalFrames * analysis.channels),
    peakDbfs: analysis.peakDbfs,
    noiseFloorDbfs: levels.noiseFloorDbfs,
    snrDb: levels.snrDb,
    loudnessLufs: analysis.integratedLufs,
    warnings: [],
  };
  report.warnings = sourceWarnings(report);
  return report;
}

/**
 * The brief's checks on how much audio there is and how it splits between singing and speech. Used by ingest on raw
 * durations and by the dataset report on kept durations.
 */
export function datasetMixWarnings(totals: { singingSec: number; speechSec: number }): QualityWarning[] {
  const { singingSec, speechSec } = totals;
  const totalSec = singingSec + speechSec;
  const scope = 'dataset';
  const warnings: QualityWarning[] = [];
  if (totalSec < DATASET_MIN_SEC) {
    warnings.push({
      code: 'dataset_too_short',
      scope,
      message: `Only ${formatMinutes(totalSec)} of audio; the brief asks for 10–60 min of clean vocals.`,
      suggestion: 'Add more recordings of the singer: with less than 10 minutes the model sounds rough and unstable.',
    });
  } else if (totalSec > DATASET_MAX_SEC) {
    warnings.push({
      code: 'dataset_too_long',
      scope,
      message: `${formatMinutes(totalSec)} of audio, more than the 60 min the brief recommends.`,
      suggestion: 'Beyond an hour quality improves little while training takes longer and costs more: keep the cleanest hour, or accept the longer training.',
    });
  }
  if (totalSec === 0) return warnings;
  const singingShare = singingSec / totalSec;
  const mix = `singing ${formatMinutes(singingSec)}, speech ${formatMinutes(speechSec)}`;
  if (singingShare < MIN_SINGING_SHARE) {
    warnings.push({
      code: 'singing_share_too_low',
      scope,
      message: `Singing is only ${formatPercent(singingShare)} of the audio (${mix}); it must be at least 50 %.`,
      suggestion: 'Add singing recordings or leave some speech out; aim for 60–70 % singing.',
    });
  } else if (singingShare < IDEAL_SINGING_SHARE.min) {
    warnings.push({
      code: 'singing_share_below_ideal',
      scope,
      message: `Singing is ${formatPercent(singingShare)} of the audio (${mix}); 60–70 % is ideal.`,
      suggestion: 'Add singing recordings if there are more, or leave a little speech out.',
    });
  } else if (singingShare > IDEAL_SINGING_SHARE.max) {
    warnings.push({
      code: 'speech_share_below_ideal',
      scope,
      message: `Speech is only ${formatPercent(1 - singingShare)} of the audio (${mix}); 30–40 % is ideal.`,
      suggestion: 'Add interviews or other recordings of the singer speaking if there are any: speech adds timbre and clear articulation.',
    });
  }
  return warnings;
}

function keptSecOfKind(reports: readonly SourceQualityReport[], kind: SourceKind): number {
  return sum(reports.filter((report) => report.kind === kind).map((report) => report.keptSec));
}

/**
 * Merges per-source clip distributions. Count, min, max and the histogram are exact; the median is estimated as the
 * count-weighted median of the source medians (exact for one source), since the reports do not keep every length.
 */
function mergeLengthDistributions(distributions: readonly LengthDistribution[]): LengthDistribution {
  const present = distributions.filter((distribution) => distribution.count > 0);
  const histogram = LENGTH_BUCKETS.map(({ fromSec, toSec }, index) => ({
    fromSec,
    toSec,
    count: sum(present.map((distribution) => distribution.histogram[index]?.count ?? 0)),
  }));
  const count = sum(present.map((distribution) => distribution.count));
  if (count === 0) return { count: 0, minSec: 0, medianSec: 0, maxSec: 0, histogram };
  const byMedian = [...present].sort((a, b) => a.medianSec - b.medianSec);
  let seen = 0;
  const medianSource = byMedian.find((distribution) => (seen += distribution.count) >= count / 2)!;
  return {
    count,
    minSec: Math.min(...present.map((distribution) => distribution.minSec)),
    medianSec: medianSource.medianSec,
    maxSec: Math.max(...present.map((distribution) => distribution.maxSec)),
    histogram,
  };
}

/** The report over every source, with the brief's dataset checks on the kept audio. */
export function buildDatasetReport(sourceReports: readonly SourceQualityReport[], settings: PreprocessSettings, now: Date): DatasetQualityReport {
  const durationSec = sum(sourceReports.map((report) => report.durationSec));
  const keptSec = sum(sourceReports.map((report) => report.keptSec));
  const singingSec = keptSecOfKind(sourceReports, 'singing');
  const speechSec = keptSecOfKind(sourceReports, 'speech');
  return {
    generatedAt: now.toISOString(),
    settings,
    sources: [...sourceReports],
    total: {
      durationSec,
      keptSec,
      droppedSec: sum(sourceReports.map((report) => report.droppedSec)),
      clips: mergeLengthDistributions(sourceReports.map((report) => report.clips)),
      singingSec,
      speechSec,
      singingShare: keptSec > 0 ? singingSec / keptSec : 0,
      // Weighted by duration: the reports keep shares, not sample counts.
      clippedShare: durationSec > 0 ? sum(sourceReports.map((report) => report.clippedShare * report.durationSec)) / durationSec : 0,
    },
    warnings: datasetMixWarnings({ singingSec, speechSec }),
  };
}
