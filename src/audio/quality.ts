/**
 * The quality reports (pure): how much sound each source holds, what was kept and dropped and why, the source's levels, and warnings
 * that say what is wrong, with the figure, and what to do about it. Dataset thresholds come from the customer's brief
 * (docs/product.md): 10–60 minutes of clean vocals, singing at least 50 % (ideally 60–70 %) and speech 30–40 %.
 */
import { DB_FLOOR, levelStatistics, type LevelStatistics, type PcmAnalysis } from './analysis.js';
import { frameRangeToSeconds, soundFrames, type DroppedRange, type FrameRange, type SliceResult } from './slicer.js';
import type {
  DatasetQualityReport,
  DropReason,
  DroppedClip,
  LengthDistribution,
  LostSound,
  PreprocessSettings,
  QualityWarning,
  Source,
  SourceKind,
  SourceQualityReport,
} from '../project/types.js';

/** Source warning: clipped samples (0.01 %) at which clipping is audible somewhere in the file. */
export const CLIPPING_WARN_SHARE = 0.0001;
/** Source warning: noise floor above this (dBFS) is audible under singing once normalised. */
export const NOISY_FLOOR_DBFS = -50;
/** Source warning: voice less than this far above the noise floor (dB). */
export const LOW_SNR_DB = 25;
/** Source warning: integrated loudness below this needs 15 dB or more of gain to reach usual targets (around -20 LUFS). */
export const QUIET_LOUDNESS_LUFS = -35;
/** Source warning: sound lost beyond this (seconds, or share of the source's sound) is worth a warning. */
export const LOST_SOUND_WARN_SEC = 0.5;
export const LOST_SOUND_WARN_SHARE = 0.01;

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

export interface SlicedClips {
  kept: ClipSpan[];
  /** Dropped stretches with their reason and lost sound, in time order. */
  dropped: DroppedClip[];
  /** Sound in the source and in kept clips (seconds), and what was lost, by reason. */
  soundSec: number;
  keptSoundSec: number;
  lostSoundSec: LostSound;
  thresholdDb: number;
  keptWhole: boolean;
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

export function noLostSound(): LostSound {
  return { too_short: 0, silence: 0, clipping: 0 };
}

/** Why a stretch was dropped, with the measured figure. */
function dropDetail(range: DroppedRange, lengthSec: number, opts: { thresholdDb: number; minClipSec: number }): string {
  if (range.reason === 'silence') return `${formatPercent(range.silentShare)} silence (below ${formatDb(opts.thresholdDb)} dBFS)`;
  if (range.reason === 'clipping') return `${formatPercent(range.clippedShare)} of samples clipped`;
  return `${formatSeconds(lengthSec)} with ${formatSeconds(lengthSec * (1 - range.silentShare))} of sound between long silences, too little for a ${opts.minClipSec} s clip`;
}

/** The slicer's clips and drops in seconds, with the sound each holds. */
export function describeSlices(analysis: PcmAnalysis, slices: SliceResult, opts: { thresholdDb: number; minClipSec: number }): SlicedClips {
  const { hopSec, durationSec, rmsDb } = analysis;
  const toSeconds = (range: FrameRange): ClipSpan => frameRangeToSeconds(range, hopSec, durationSec);
  const soundOf = (range: FrameRange): number => soundFrames(rmsDb, opts.thresholdDb, range) * hopSec;
  const lostSoundSec = noLostSound();
  const dropped = slices.dropped.map((range): DroppedClip => {
    const span = toSeconds(range);
    const soundSec = soundOf(range);
    lostSoundSec[range.reason] += soundSec;
    return { ...span, reason: range.reason, detail: dropDetail(range, spanSeconds(span), opts), soundSec };
  });
  return {
    kept: slices.clips.map(toSeconds),
    dropped,
    soundSec: soundOf({ startFrame: 0, endFrame: rmsDb.length }),
    keptSoundSec: sum(slices.clips.map(soundOf)),
    lostSoundSec,
    thresholdDb: opts.thresholdDb,
    keptWhole: slices.keptWholeShort,
  };
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

/** Silence a source needs before its noise floor can be told from its voice. */
export const MIN_PAUSE_FOR_NOISE_SEC = 0.25;
/** Levels reported when there is no pause to measure them in: shown as "–", never warned about. */
const UNMEASURED_LEVELS: LevelStatistics = { noiseFloorDbfs: DB_FLOOR, signalLevelDbfs: DB_FLOOR, snrDb: 0 };

export interface SourceReportInput {
  source: Pick<Source, 'id' | 'path' | 'kind'>;
  analysis: PcmAnalysis;
  /** The kept clips as they were really cut. */
  kept: readonly ClipSpan[];
  sliced: Omit<SlicedClips, 'kept'>;
  /** With --denoise: the levels of the denoised audio. */
  denoised?: LevelStatistics;
}

const LOSS_WORDS: Record<DropReason, string> = {
  too_short: 'in phrases too short for a clip, between long silences',
  clipping: 'in clipped passages',
  silence: 'in stretches that were mostly silence',
};

const LOSS_ADVICE: Record<DropReason, string> = {
  too_short: 'lower --min-clip (e.g. --min-clip 3) or --min-silence so short phrases can join their neighbours',
  clipping: 'use a cleaner copy of the clipped passages (an unmastered take or the stems)',
  silence: 'lower --silence-threshold if quiet singing was taken for silence',
};

function lostWarning(report: SourceQualityReport): QualityWarning | undefined {
  const lost = sum(Object.values(report.lostSoundSec));
  if (lost < LOST_SOUND_WARN_SEC && lost <= report.soundSec * LOST_SOUND_WARN_SHARE) return undefined;
  const reasons = (Object.keys(report.lostSoundSec) as DropReason[]).filter((reason) => report.lostSoundSec[reason] >= 0.05).sort((a, b) => report.lostSoundSec[b] - report.lostSoundSec[a]);
  return {
    code: 'source_sound_lost',
    scope: report.sourceId,
    message: `${formatSeconds(lost)} of the ${formatSeconds(report.soundSec)} of sound in ${report.path} is not in any clip (${formatPercent(lost / Math.max(report.soundSec, 1e-9))}): ${reasons.map((reason) => `${formatSeconds(report.lostSoundSec[reason])} ${LOSS_WORDS[reason]}`).join(', ')}.`,
    suggestion: `The dropped stretches are listed in the report with their times. To keep them: ${reasons.map((reason) => LOSS_ADVICE[reason]).join('; ')}.`,
  };
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
  // All digital silence, or no pause at all: no measurable floor.
  const measurable = report.noiseFloorDbfs > DB_FLOOR;
  if (measurable && (report.noiseFloorDbfs > NOISY_FLOOR_DBFS || report.snrDb < LOW_SNR_DB)) {
    const denoised = report.beforeDenoise !== undefined;
    warnings.push({
      code: 'source_noisy',
      scope,
      message: `${report.path} is noisy${denoised ? ' even after --denoise' : ''}: noise floor ${formatDb(report.noiseFloorDbfs)} dBFS, voice about ${formatDb(report.snrDb)} dB above it (want a floor below ${NOISY_FLOOR_DBFS} dBFS and at least ${LOW_SNR_DB} dB).`,
      suggestion: denoised
        ? 'Use a cleaner recording of the same material, or leave this file out: what remains is not steady noise that --denoise can remove.'
        : 'Try --denoise, or use a cleaner recording of the same material.',
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
  const lost = lostWarning(report);
  if (lost !== undefined) warnings.push(lost);
  return warnings;
}

/** The quality report of one preprocessed source. */
export function buildSourceReport(input: SourceReportInput): SourceQualityReport {
  const { source, analysis, kept, sliced, denoised } = input;
  const keptLengths = kept.map(spanSeconds);
  // Without pauses (a pre-cut take, a held note) the quietest frames are the voice itself: no noise floor to measure.
  const hasPauses = analysis.durationSec - sliced.soundSec >= MIN_PAUSE_FOR_NOISE_SEC;
  const recorded = hasPauses ? levelStatistics(analysis.rmsDb) : UNMEASURED_LEVELS;
  const levels = hasPauses ? (denoised ?? recorded) : UNMEASURED_LEVELS;
  const report: SourceQualityReport = {
    sourceId: source.id,
    path: source.path,
    kind: source.kind,
    durationSec: analysis.durationSec,
    keptSec: sum(keptLengths),
    droppedSec: sum(sliced.dropped.map(spanSeconds)),
    soundSec: sliced.soundSec,
    keptSoundSec: sliced.keptSoundSec,
    lostSoundSec: { ...sliced.lostSoundSec },
    silenceThresholdDb: sliced.thresholdDb,
    keptWhole: sliced.keptWhole,
    clips: lengthDistribution(keptLengths),
    dropped: [...sliced.dropped],
    clippedShare: analysis.clippedSamples / Math.max(1, analysis.totalFrames * analysis.channels),
    peakDbfs: analysis.peakDbfs,
    noiseFloorDbfs: levels.noiseFloorDbfs,
    snrDb: levels.snrDb,
    ...(denoised === undefined ? {} : { beforeDenoise: { noiseFloorDbfs: recorded.noiseFloorDbfs, snrDb: recorded.snrDb } }),
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
  const lostSoundSec = noLostSound();
  for (const report of sourceReports) for (const reason of Object.keys(lostSoundSec) as DropReason[]) lostSoundSec[reason] += report.lostSoundSec[reason];
  const keptWhole = sourceReports.filter((report) => report.keptWhole);
  return {
    generatedAt: now.toISOString(),
    settings,
    sources: [...sourceReports],
    total: {
      durationSec,
      keptSec,
      droppedSec: sum(sourceReports.map((report) => report.droppedSec)),
      soundSec: sum(sourceReports.map((report) => report.soundSec)),
      keptSoundSec: sum(sourceReports.map((report) => report.keptSoundSec)),
      lostSoundSec,
      clips: mergeLengthDistributions(sourceReports.map((report) => report.clips)),
      singingSec,
      speechSec,
      singingShare: keptSec > 0 ? singingSec / keptSec : 0,
      // Weighted by duration: the reports keep shares, not sample counts.
      clippedShare: durationSec > 0 ? sum(sourceReports.map((report) => report.clippedShare * report.durationSec)) / durationSec : 0,
    },
    warnings: [...datasetMixWarnings({ singingSec, speechSec }), ...keptWholeNotes(keptWhole, settings)],
  };
}

/** Sources shorter than a clip are kept whole: one note for all of them, since a pre-cut dataset has hundreds. */
function keptWholeNotes(reports: readonly SourceQualityReport[], settings: PreprocessSettings): QualityWarning[] {
  if (reports.length === 0) return [];
  const names = reports.slice(0, 3).map((report) => report.path).join(', ') + (reports.length > 3 ? ', …' : '');
  return [
    {
      code: 'sources_kept_whole',
      scope: 'dataset',
      message: `${countOf(reports.length, 'source')} shorter than the ${settings.minClipSec} s minimum kept whole as one clip each, nothing cut (${formatSeconds(sum(reports.map((report) => report.keptSec)))}: ${names}).`,
      suggestion: 'Nothing was lost: pre-cut takes are trained on as they are. A take under about 1 s adds little; leave such files out if there are many.',
    },
  ];
}
