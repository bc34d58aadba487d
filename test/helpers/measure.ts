/**
 * Independent measurement of what a file holds and what a set of clips keeps of it, with FFmpeg's own filters and
 * ffprobe, never with voicestudio's analysis.
 *
 * "Sound" is what FFmpeg's silencedetect does not call silence. silencedetect compares every sample's magnitude with
 * its threshold and reports a silence once all samples (of every channel) stay under it for the minimum duration, so
 * the threshold must clear the PEAKS of the room noise, not its RMS: noise peaks stand about 12–13 dB over its RMS
 * within a second. The threshold is therefore set 20 dB over the noise floor (the 5th percentile of 50 ms RMS
 * windows), which no noise peak reaches while a voice 35 dB or more over its room is heard from the first
 * milliseconds of its attack. It is never set closer than 20 dB under the loud level (95th percentile of the windows),
 * so that a source with no pauses at all (its 5th percentile is the voice itself) still has its voice counted as
 * sound, and never under −70 dBFS, so that digital silence does not make the faintest dither "sound". Silences
 * shorter than 0.1 s are part of the sound around them: stops inside words and a vibrato's troughs are not pauses.
 *
 * Only type imports from the project, so `node` itself can import this file (the by-hand checker does).
 */
import { execa } from 'execa';
import type { FfmpegTools } from '../../src/audio/ffmpeg.js';
import type { Interval } from './realistic.js';

export type { Interval };

export const SOUND_OVER_FLOOR_DB = 20;
export const SOUND_UNDER_LOUD_DB = 20;
export const LOWEST_SILENCE_THRESHOLD_DB = -70;
export const MIN_SILENCE_SEC = 0.1;
const LEVEL_WINDOW_SEC = 0.05;
/** Sound shorter than this is a difference of rounding between two tools' timestamps, not sound. */
const ROUNDING_SEC = 0.001;

export interface ProbedAudio {
  /** Duration of the audio stream itself (the container's when the stream does not say). */
  durationSec: number;
  sampleRate: number;
  channels: number;
  codec: string;
  /** The container's duration: longer than the audio when a video runs on after it. */
  containerDurationSec: number;
  /** Duration of the first video stream, when there is one. */
  videoDurationSec?: number;
}

interface ProbeJson {
  streams?: { codec_type?: string; codec_name?: string; sample_rate?: string; channels?: number; duration?: string }[];
  format?: { duration?: string };
}

/** ffprobe's view of the first audio stream of a file. */
export async function probeAudio(tools: FfmpegTools, file: string): Promise<ProbedAudio> {
  const { stdout } = await execa(tools.ffprobe.path, [
    '-v', 'error', '-show_entries', 'stream=codec_type,codec_name,sample_rate,channels,duration:format=duration', '-of', 'json', file,
  ]);
  const data = JSON.parse(stdout) as ProbeJson;
  const audio = data.streams?.find((s) => s.codec_type === 'audio');
  if (audio === undefined) throw new Error(`${file}: ffprobe found no audio stream`);
  const video = data.streams?.find((s) => s.codec_type === 'video');
  const containerDurationSec = Number(data.format?.duration);
  const streamDuration = Number(audio.duration);
  return {
    durationSec: Number.isFinite(streamDuration) ? streamDuration : containerDurationSec,
    sampleRate: Number(audio.sample_rate),
    channels: audio.channels ?? 0,
    codec: audio.codec_name ?? '',
    containerDurationSec,
    ...(video?.duration !== undefined ? { videoDurationSec: Number(video.duration) } : {}),
  };
}

export interface LevelSummary {
  /** 5th percentile of the 50 ms RMS windows (all channels together), dBFS: the room under the pauses. */
  floorDb: number;
  /** 95th percentile, dBFS: how loud the loud parts are. */
  loudDb: number;
}

function percentile(sorted: number[], share: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(share * (sorted.length - 1))))]!;
}

/** RMS of 50 ms windows with astats, summarised as percentiles. */
export async function levelSummary(tools: FfmpegTools, file: string, sampleRate: number): Promise<LevelSummary> {
  const window = Math.max(1, Math.round(LEVEL_WINDOW_SEC * sampleRate));
  const { stdout } = await execa(tools.ffmpeg.path, [
    '-hide_banner', '-nostdin', '-v', 'error', '-i', file, '-vn', '-af',
    // No measure_overall/measure_perchannel: FFmpeg before 4.4 (the npm-bundled one) lacks them.
    `asetnsamples=n=${window}:p=0,astats=metadata=1:reset=1,` +
      'ametadata=print:key=lavfi.astats.Overall.RMS_level:file=-',
    '-f', 'null', '-',
  ], { maxBuffer: 1 << 30 });
  const levels = [...stdout.matchAll(/RMS_level=(-?[\d.]+|-inf)/g)].map((m) => (m[1] === '-inf' ? -200 : Number(m[1]))).sort((a, b) => a - b);
  if (levels.length === 0) throw new Error(`${file}: astats measured no audio`);
  return { floorDb: percentile(levels, 0.05), loudDb: percentile(levels, 0.95) };
}

/** The silencedetect threshold for a file with these levels; see the top of this file for why. */
export function silenceThresholdDb(levels: LevelSummary): number {
  return Math.max(LOWEST_SILENCE_THRESHOLD_DB, Math.min(levels.floorDb + SOUND_OVER_FLOOR_DB, levels.loudDb - SOUND_UNDER_LOUD_DB));
}

export interface SoundMeasure {
  durationSec: number;
  thresholdDb: number;
  minSilenceSec: number;
  levels: LevelSummary;
  /** Where there is sound, in order, not overlapping. */
  sound: Interval[];
  soundSec: number;
}

/** Parses silencedetect's log into sound intervals over [0, durationSec]. */
export function soundFromSilencedetect(log: string, durationSec: number): Interval[] {
  const silences: Interval[] = [];
  let open: number | undefined;
  for (const match of log.matchAll(/silence_(start|end): (-?[\d.]+)/g)) {
    const at = Number(match[2]);
    if (match[1] === 'start') open = Math.max(0, at);
    else if (open !== undefined) {
      silences.push({ startSec: open, endSec: Math.min(durationSec, at) });
      open = undefined;
    }
  }
  if (open !== undefined) silences.push({ startSec: open, endSec: durationSec });
  const sound: Interval[] = [];
  let cursor = 0;
  for (const silence of silences) {
    if (silence.startSec > cursor) sound.push({ startSec: cursor, endSec: silence.startSec });
    cursor = Math.max(cursor, silence.endSec);
  }
  if (cursor < durationSec) sound.push({ startSec: cursor, endSec: durationSec });
  // silencedetect's last silence_end and ffprobe's duration may differ by a rounding (58.499 vs 58.499002).
  return sound.filter((i) => i.endSec - i.startSec >= ROUNDING_SEC);
}

/** Where a file has sound, per silencedetect on its first audio stream; threshold chosen from its own levels unless given. */
export async function measureSound(tools: FfmpegTools, file: string, options: { thresholdDb?: number; minSilenceSec?: number } = {}): Promise<SoundMeasure> {
  const probe = await probeAudio(tools, file);
  const levels = await levelSummary(tools, file, probe.sampleRate);
  const thresholdDb = options.thresholdDb ?? silenceThresholdDb(levels);
  const minSilenceSec = options.minSilenceSec ?? MIN_SILENCE_SEC;
  const { stderr } = await execa(tools.ffmpeg.path, [
    '-hide_banner', '-nostdin', '-nostats', '-v', 'info', '-i', file, '-vn',
    '-af', `silencedetect=noise=${thresholdDb.toFixed(2)}dB:duration=${minSilenceSec}`, '-f', 'null', '-',
  ]);
  const sound = soundFromSilencedetect(stderr, probe.durationSec);
  return { durationSec: probe.durationSec, thresholdDb, minSilenceSec, levels, sound, soundSec: totalSec(sound) };
}

export function totalSec(intervals: readonly Interval[]): number {
  return intervals.reduce((sum, i) => sum + Math.max(0, i.endSec - i.startSec), 0);
}

/** Sorted, overlapping or touching intervals joined. */
export function mergeIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = intervals.filter((i) => i.endSec > i.startSec).sort((a, b) => a.startSec - b.startSec);
  const merged: Interval[] = [];
  for (const interval of sorted) {
    const last = merged.at(-1);
    if (last !== undefined && interval.startSec <= last.endSec) last.endSec = Math.max(last.endSec, interval.endSec);
    else merged.push({ ...interval });
  }
  return merged;
}

/** Seconds of `a` that lie inside `b`. */
export function overlapSec(a: readonly Interval[], b: readonly Interval[]): number {
  const left = mergeIntervals(a);
  const right = mergeIntervals(b);
  let total = 0;
  let j = 0;
  for (const interval of left) {
    while (j < right.length && right[j]!.endSec <= interval.startSec) j++;
    for (let k = j; k < right.length && right[k]!.startSec < interval.endSec; k++) {
      total += Math.min(interval.endSec, right[k]!.endSec) - Math.max(interval.startSec, right[k]!.startSec);
    }
  }
  return total;
}

export interface Coverage {
  soundSec: number;
  /** Seconds of sound inside at least one clip. */
  keptSec: number;
  /** keptSec / soundSec; 1 when there is no sound to keep. */
  share: number;
}

/**
 * How much of a source's sound its clips keep. `clips` are spans in the source (a manifest segment's startSec/endSec);
 * overlapping clips count their common sound once.
 */
export function soundCoverage(sound: readonly Interval[], clips: readonly Interval[]): Coverage {
  const soundSec = totalSec(mergeIntervals(sound));
  const keptSec = overlapSec(sound, clips);
  return { soundSec, keptSec, share: soundSec === 0 ? 1 : keptSec / soundSec };
}

/**
 * Clip boundaries (starts and ends) that fall inside one of `phrases` by more than `edgeSec`, described for a failure
 * message; empty when every cut is in a gap (or within edgeSec of a phrase's edge).
 */
export function cutsInsidePhrases(phrases: readonly Interval[], clips: readonly Interval[], edgeSec: number): string[] {
  return clips
    .flatMap((clip) => [clip.startSec, clip.endSec])
    .flatMap((at) =>
      phrases
        .filter((p) => at > p.startSec + edgeSec && at < p.endSec - edgeSec)
        .map((p) => `cut at ${at.toFixed(3)} inside the phrase ${p.startSec.toFixed(3)}–${p.endSec.toFixed(3)}`),
    );
}
