/**
 * Segmentation of a source into training clips from its frame RMS map (PcmAnalysis.rmsDb). Pure: no audio, no I/O.
 *
 * Step 1 follows the algorithm of openvpi/audio-slicer's slicer2 (re-implemented, not copied): a silence long enough
 * (≥ minInterval) after a clip long enough (≥ minClip) becomes a cut at its quietest frame; silence longer than
 * maxSilenceKept is trimmed to at most that much on each side; a long leading silence and a trailing silence are dropped.
 * Step 2 adds what slicer2 lacks, a maximum length: a piece longer than maxClip is split at its quietest frame among the
 * positions that leave both parts at least minClip long, recursively.
 * Pieces shorter than minClip are returned as dropped ('too_short').
 */
import { levelStatistics } from './analysis.js';

export const DEFAULT_SILENCE_THRESHOLD_DB = -40;
export const DEFAULT_MIN_INTERVAL_SEC = 0.3;
export const DEFAULT_MAX_SILENCE_KEPT_SEC = 0.5;
/** suggestSilenceThreshold keeps the threshold this far above the noise floor, so noise never reads as sound. */
export const NOISE_MARGIN_DB = 10;

/** Half-open range of RMS frames [startFrame, endFrame); frame i is the instant i × hop. */
export interface FrameRange {
  startFrame: number;
  endFrame: number;
}

export interface SlicerOptions {
  /** Effective hop of the RMS map (PcmAnalysis.hopSec). */
  hopSec: number;
  /** A frame is silent when its RMS is below this (dBFS). Default −40; see suggestSilenceThreshold. */
  thresholdDb?: number;
  minClipSec: number;
  maxClipSec: number;
  /** Shortest silence that may become a cut. Default 0.3 s. */
  minIntervalSec?: number;
  /** Most silence kept at either side of a cut. Default 0.5 s. */
  maxSilenceKeptSec?: number;
}

export interface SliceResult {
  clips: FrameRange[];
  dropped: (FrameRange & { reason: 'too_short' })[];
}

interface FrameSettings {
  threshold: number;
  /** slicer2's min_length: a cut is made only once the current clip is this long. */
  minLength: number;
  minInterval: number;
  maxSilenceKept: number;
  /** Shortest clip kept: ceil, so a kept clip is never under minClipSec. */
  minClip: number;
  /** Longest clip: floor, so no clip is over maxClipSec. */
  maxClip: number;
}

// Tolerance for float noise when converting seconds to frames (5 / 0.01 is 499.99999999999994).
const FRAME_EPSILON = 1e-9;

function frameSettings(opts: SlicerOptions): FrameSettings {
  const {
    hopSec,
    thresholdDb = DEFAULT_SILENCE_THRESHOLD_DB,
    minClipSec,
    maxClipSec,
    minIntervalSec = DEFAULT_MIN_INTERVAL_SEC,
    maxSilenceKeptSec = DEFAULT_MAX_SILENCE_KEPT_SEC,
  } = opts;
  if (!(hopSec > 0)) throw new RangeError(`hopSec must be positive, got ${hopSec}`);
  // slicer2's own constraints, plus a sane maximum.
  if (!(minClipSec >= minIntervalSec && minIntervalSec >= hopSec)) {
    throw new RangeError(`need minClipSec (${minClipSec}) ≥ minIntervalSec (${minIntervalSec}) ≥ hopSec (${hopSec})`);
  }
  if (!(maxSilenceKeptSec >= hopSec)) throw new RangeError(`need maxSilenceKeptSec (${maxSilenceKeptSec}) ≥ hopSec (${hopSec})`);
  if (!(maxClipSec >= minClipSec)) throw new RangeError(`need maxClipSec (${maxClipSec}) ≥ minClipSec (${minClipSec})`);
  return {
    threshold: thresholdDb,
    minLength: Math.round(minClipSec / hopSec),
    minInterval: Math.round(minIntervalSec / hopSec),
    maxSilenceKept: Math.round(maxSilenceKeptSec / hopSec),
    minClip: Math.ceil(minClipSec / hopSec - FRAME_EPSILON),
    maxClip: Math.floor(maxClipSec / hopSec + FRAME_EPSILON),
  };
}

/** Block length of RangeMinimum: about √(frames in an hour), balancing the edge scans against the block walk. */
const RANGE_BLOCK = 512;

/**
 * "Quietest frame between a and b" queries on an RMS map, answered from per-block minima plus scans at the edges, so
 * that splitting an hour with no silence stays fast whatever the shape of its level.
 */
class RangeMinimum {
  private readonly values: Float32Array;
  private readonly blockMinimum: Int32Array;

  constructor(values: Float32Array) {
    this.values = values;
    this.blockMinimum = new Int32Array(Math.ceil(values.length / RANGE_BLOCK));
    for (let block = 0; block < this.blockMinimum.length; block++) {
      this.blockMinimum[block] = this.scan(block * RANGE_BLOCK, (block + 1) * RANGE_BLOCK);
    }
  }

  /** First index of the minimum over [from, to), `to` clamped to the map; like numpy's argmin, ties go to the first. */
  quietest(from: number, to: number): number {
    const end = Math.min(to, this.values.length);
    const headEnd = Math.min(end, Math.ceil((from + 1) / RANGE_BLOCK) * RANGE_BLOCK);
    let best = this.scan(from, headEnd);
    let frame = headEnd;
    for (; frame + RANGE_BLOCK <= end; frame += RANGE_BLOCK) best = this.quieter(best, this.blockMinimum[frame / RANGE_BLOCK]!);
    return frame < end ? this.quieter(best, this.scan(frame, end)) : best;
  }

  private scan(from: number, to: number): number {
    const end = Math.min(to, this.values.length);
    let best = from;
    for (let frame = from + 1; frame < end; frame++) if (this.values[frame]! < this.values[best]!) best = frame;
    return best;
  }

  /** The quieter of two frames, the earlier one (a) on a tie. */
  private quieter(a: number, b: number): number {
    return this.values[b]! < this.values[a]! ? b : a;
  }
}

/** Step 1 (slicer2): the silent stretches to remove, as [from, to) frame pairs in order. */
function silencesToRemove(rmsDb: Float32Array, minimum: RangeMinimum, s: FrameSettings): [number, number][] {
  const total = rmsDb.length;
  const removed: [number, number][] = [];
  let silenceStart: number | undefined;
  let clipStart = 0;
  for (let i = 0; i < total; i++) {
    if (rmsDb[i]! < s.threshold) {
      silenceStart ??= i;
      continue;
    }
    if (silenceStart === undefined) continue;
    const isLeadingSilence = silenceStart === 0 && i > s.maxSilenceKept;
    const needsCut = i - silenceStart >= s.minInterval && i - clipStart >= s.minLength;
    if (!isLeadingSilence && !needsCut) {
      silenceStart = undefined;
      continue;
    }
    const silence = i - silenceStart;
    if (silence <= s.maxSilenceKept) {
      // Short silence: a single cut at its quietest frame.
      const cut = minimum.quietest(silenceStart, i + 1);
      removed.push(silenceStart === 0 ? [0, cut] : [cut, cut]);
      clipStart = cut;
    } else {
      // Long silence: keep at most maxSilenceKept after the clip before and before the clip after.
      const left = minimum.quietest(silenceStart, silenceStart + s.maxSilenceKept + 1);
      const right = minimum.quietest(i - s.maxSilenceKept, i + 1);
      if (silenceStart === 0) {
        removed.push([0, right]);
        clipStart = right;
      } else if (silence <= 2 * s.maxSilenceKept) {
        // The two kept margins overlap: also consider the quietest frame of the overlap.
        const middle = minimum.quietest(i - s.maxSilenceKept, silenceStart + s.maxSilenceKept + 1);
        removed.push([Math.min(left, middle), Math.max(right, middle)]);
        clipStart = Math.max(right, middle);
      } else {
        removed.push([left, right]);
        clipStart = right;
      }
    }
    silenceStart = undefined;
  }
  if (silenceStart !== undefined && total - silenceStart >= s.minInterval) {
    const cut = minimum.quietest(silenceStart, Math.min(total, silenceStart + s.maxSilenceKept) + 1);
    removed.push([cut, total]);
  }
  return removed;
}

/** The sounding pieces between the removed silences. */
function piecesBetween(total: number, removed: [number, number][]): FrameRange[] {
  const pieces: FrameRange[] = [];
  let start = 0;
  for (const [from, to] of removed) {
    if (from > start) pieces.push({ startFrame: start, endFrame: from });
    start = Math.max(start, to);
  }
  if (start < total) pieces.push({ startFrame: start, endFrame: total });
  return pieces;
}

/**
 * Where to split a piece longer than maxClip: its quietest frame among those leaving both parts at least minClip long.
 * When the piece is too short for that (only when maxClip < 2 × minClip, e.g. 9 s with clips of 5–8 s), the quietest
 * frame that makes the first part a valid clip; the remainder is split again or dropped as too short.
 */
function splitFrame(piece: FrameRange, minimum: RangeMinimum, s: FrameSettings): number {
  const { startFrame: start, endFrame: end } = piece;
  const from = start + s.minClip;
  const to = end - s.minClip >= from ? end - s.minClip + 1 : start + s.maxClip + 1;
  return minimum.quietest(from, to);
}

/** Step 2: splits pieces longer than maxClip at their quietest frames, recursively (with a stack), in order. */
function splitLongPiece(piece: FrameRange, minimum: RangeMinimum, s: FrameSettings): FrameRange[] {
  const clips: FrameRange[] = [];
  const pending = [piece];
  while (pending.length > 0) {
    const current = pending.pop()!;
    if (current.endFrame - current.startFrame <= s.maxClip) {
      clips.push(current);
      continue;
    }
    const cut = splitFrame(current, minimum, s);
    pending.push({ startFrame: cut, endFrame: current.endFrame }, { startFrame: current.startFrame, endFrame: cut });
  }
  return clips;
}

/** Cuts an RMS map into clips of minClipSec..maxClipSec at silences (and, failing those, at the quietest points). */
export function sliceByRms(rmsDb: Float32Array, opts: SlicerOptions): SliceResult {
  const settings = frameSettings(opts);
  const minimum = new RangeMinimum(rmsDb);
  const result: SliceResult = { clips: [], dropped: [] };
  for (const piece of piecesBetween(rmsDb.length, silencesToRemove(rmsDb, minimum, settings))) {
    for (const clip of splitLongPiece(piece, minimum, settings)) {
      if (clip.endFrame - clip.startFrame >= settings.minClip) result.clips.push(clip);
      else result.dropped.push({ ...clip, reason: 'too_short' });
    }
  }
  return result;
}

/**
 * A frame range in seconds. The last frame's window reaches past the end of the audio, so pass the source duration to
 * clamp the end to it (as slicer2 clamps to the waveform length).
 */
export function frameRangeToSeconds(range: FrameRange, hopSec: number, durationSec = Infinity): { startSec: number; endSec: number } {
  return {
    startSec: Math.min(range.startFrame * hopSec, durationSec),
    endSec: Math.min(range.endFrame * hopSec, durationSec),
  };
}

/**
 * A silence threshold for this recording: the −40 dBFS default, raised to NOISE_MARGIN_DB above the noise floor when the
 * floor is higher (live recordings, hiss, room noise) so pauses still read as silence, but never above halfway between
 * the noise floor and the singing level, so quiet singing is not taken for silence.
 *
 * The floor comes from levelStatistics, which needs a pause or breath in a quarter of the 5 s windows; a recording with
 * even fewer (minutes of unbroken singing) can get a threshold inside its quiet singing.
 */
export function suggestSilenceThreshold(rmsDb: Float32Array): number {
  const { noiseFloorDbfs: floor, signalLevelDbfs: signal } = levelStatistics(rmsDb);
  return Math.max(DEFAULT_SILENCE_THRESHOLD_DB, Math.min(floor + NOISE_MARGIN_DB, (floor + signal) / 2));
}
