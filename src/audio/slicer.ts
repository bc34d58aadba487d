/**
 * Segmentation of a source into training clips from its frame RMS map (PcmAnalysis.rmsDb). Pure: no audio, no I/O.
 *
 * The aim is to keep every second the singer sang. Clips end in silences (frames below the threshold for at least
 * minSilence), at the quietest frame of the silence; silence longer than twice maxSilenceKept is trimmed to at most that
 * much on each side. Consecutive voiced stretches, with the breaths and short pauses between them, are grouped into
 * clips of minClip..maxClip: which silences become cuts is chosen by dynamic programming so that as little sound as
 * possible is lost, long pauses stay out of clips, and clips are few and long. A stretch longer than maxClip with no
 * silence is split at its quietest frames, and so, only when that saves sound, is a stretch long enough for two clips.
 * A clip too short on its own may take in the silence around it to reach minClip; a source shorter than minClip
 * altogether is kept whole and reported as such.
 *
 * Clips that would be mostly silence or audibly clipped are dropped with their reason; the choice of cuts already
 * tries to keep clean phrases out of such clips.
 */
import { DB_FLOOR, levelStatistics } from './analysis.js';

export const DEFAULT_SILENCE_THRESHOLD_DB = -40;
/** Shortest silence that may become a cut: shorter dips (consonants, quick breaths) always stay inside a clip. */
export const DEFAULT_MIN_SILENCE_SEC = 0.3;
export const DEFAULT_MAX_SILENCE_KEPT_SEC = 0.5;
/** suggestSilenceThreshold keeps the threshold this far above the noise floor, so noise never reads as sound. */
export const NOISE_MARGIN_DB = 10;
/** suggestSilenceThreshold keeps the threshold at least this far below the typical singing level. */
export const BELOW_VOICE_MARGIN_DB = 20;
/** A source shorter than a clip is kept whole only from this length: Applio's own slicing leaves out anything under ~0.4 s. */
export const MIN_WHOLE_SOURCE_SEC = 0.5;
/** A clip is dropped as silence when more than this share of its frames is below the silence threshold. */
export const MAX_SILENT_SHARE = 0.6;
/** A clip is dropped as clipped when more than this share of its samples is clipped (0.1 %). */
export const MAX_CLIPPED_SHARE = 0.001;

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
  minSilenceSec?: number;
  /** Most silence kept at either side of a cut. Default 0.5 s. */
  maxSilenceKeptSec?: number;
  /** Clipped samples (all channels) per frame (PcmAnalysis.clippedPerHop) and samples per frame, for the clipping screen. */
  clipping?: { perFrame: ArrayLike<number>; samplesPerFrame: number };
}

export type SliceDropReason = 'too_short' | 'silence' | 'clipping';

export interface DroppedRange extends FrameRange {
  reason: SliceDropReason;
  /** Share (0..1) of the range's frames below the threshold. */
  silentShare: number;
  /** Share (0..1) of the range's samples that are clipped. */
  clippedShare: number;
}

export interface SliceResult {
  clips: FrameRange[];
  dropped: DroppedRange[];
  /** The whole source is shorter than minClip and was kept as one clip. */
  keptWholeShort: boolean;
}

interface FrameSettings {
  threshold: number;
  minSilence: number;
  maxSilenceKept: number;
  /** Shortest clip kept: ceil, so a kept clip is never under minClipSec. */
  minClip: number;
  /** Longest clip: floor, so no clip is over maxClipSec. */
  maxClip: number;
  minWholeSource: number;
}

// Tolerance for float noise when converting seconds to frames (5 / 0.01 is 499.99999999999994).
const FRAME_EPSILON = 1e-9;

function frameSettings(opts: SlicerOptions): FrameSettings {
  const {
    hopSec,
    thresholdDb = DEFAULT_SILENCE_THRESHOLD_DB,
    minClipSec,
    maxClipSec,
    minSilenceSec = DEFAULT_MIN_SILENCE_SEC,
    maxSilenceKeptSec = DEFAULT_MAX_SILENCE_KEPT_SEC,
  } = opts;
  if (!(hopSec > 0)) throw new RangeError(`hopSec must be positive, got ${hopSec}`);
  if (!(minClipSec >= minSilenceSec && minSilenceSec >= hopSec)) {
    throw new RangeError(`need minClipSec (${minClipSec}) ≥ minSilenceSec (${minSilenceSec}) ≥ hopSec (${hopSec})`);
  }
  if (!(maxSilenceKeptSec >= hopSec)) throw new RangeError(`need maxSilenceKeptSec (${maxSilenceKeptSec}) ≥ hopSec (${hopSec})`);
  if (!(maxClipSec >= minClipSec)) throw new RangeError(`need maxClipSec (${maxClipSec}) ≥ minClipSec (${minClipSec})`);
  return {
    threshold: thresholdDb,
    minSilence: Math.round(minSilenceSec / hopSec),
    maxSilenceKept: Math.round(maxSilenceKeptSec / hopSec),
    minClip: Math.ceil(minClipSec / hopSec - FRAME_EPSILON),
    maxClip: Math.floor(maxClipSec / hopSec + FRAME_EPSILON),
    minWholeSource: Math.round(MIN_WHOLE_SOURCE_SEC / hopSec),
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

/**
 * A place where one clip may end and the next begin. `end` is where the clip before it ends, `start` where the clip after
 * it starts (equal for a single cut; apart when the silence between them is trimmed). A clip too short on its own may
 * extend past `end` by up to `roomAfterEnd` frames and before `start` by up to `roomBeforeStart`, into silence.
 */
interface Cut {
  end: number;
  start: number;
  roomAfterEnd: number;
  roomBeforeStart: number;
  /** Silence beyond a natural pause that a clip spanning this cut would hold (frames); 0 for cuts inside sound. */
  excessSilence: number;
  /** A cut at the quietest frame of sound, not in a silence: used only when it saves sound or a stretch is too long. */
  insideSound?: boolean;
}

/** Pauses up to this long sit naturally inside a clip; longer silence inside a clip costs (see clipCost). */
const NATURAL_PAUSE_SEC = 1;

/** The silent runs long enough to cut in, plus leading and trailing silence of any length, as [from, to) pairs. */
function silences(rmsDb: Float32Array, s: FrameSettings): [number, number][] {
  const runs: [number, number][] = [];
  let start: number | undefined;
  for (let i = 0; i <= rmsDb.length; i++) {
    const silent = i < rmsDb.length && rmsDb[i]! < s.threshold;
    if (silent) {
      start ??= i;
      continue;
    }
    if (start !== undefined && (i - start >= s.minSilence || start === 0 || i === rmsDb.length)) runs.push([start, i]);
    start = undefined;
  }
  return runs;
}

/** The cuts the silences offer: the source's start and end, and one per silence between sounds. */
function silenceCuts(rmsDb: Float32Array, minimum: RangeMinimum, s: FrameSettings, hopSec: number): Cut[] {
  const total = rmsDb.length;
  const natural = Math.round(NATURAL_PAUSE_SEC / hopSec);
  const runs = silences(rmsDb, s);
  const cuts: Cut[] = [];
  const leading = runs[0]?.[0] === 0 ? runs.shift()! : undefined;
  const trailing = runs.at(-1)?.[1] === total ? runs.pop()! : undefined;
  // The start: a long leading silence keeps at most maxSilenceKept before the first sound, more only to reach minClip.
  const firstSound = leading?.[1] ?? 0;
  const start = firstSound <= s.maxSilenceKept ? 0 : minimum.quietest(firstSound - s.maxSilenceKept, firstSound);
  cuts.push({ end: 0, start, roomAfterEnd: 0, roomBeforeStart: start, excessSilence: 0 });
  for (const [from, to] of runs) {
    if (to - from <= 2 * s.maxSilenceKept) {
      const cut = minimum.quietest(from, to);
      cuts.push({ end: cut, start: cut, roomAfterEnd: 0, roomBeforeStart: 0, excessSilence: Math.max(0, to - from - natural) });
    } else {
      const end = minimum.quietest(from, from + s.maxSilenceKept);
      const start = minimum.quietest(to - s.maxSilenceKept, to);
      const middle = Math.floor((from + to) / 2);
      cuts.push({ end, start, roomAfterEnd: Math.max(0, middle - end), roomBeforeStart: Math.max(0, start - middle), excessSilence: Math.max(0, to - from - natural) });
    }
  }
  const lastSound = trailing?.[0] ?? total;
  const end = total - lastSound <= s.maxSilenceKept ? total : minimum.quietest(lastSound, lastSound + s.maxSilenceKept);
  cuts.push({ end, start: total, roomAfterEnd: total - end, roomBeforeStart: 0, excessSilence: 0 });
  return cuts;
}

/**
 * Where to split a stretch longer than maxClip: its quietest frame among those leaving both parts at least minClip long.
 * When the stretch is too short for that (only when maxClip < 2 × minClip, e.g. 9 s with clips of 5–8 s), the quietest
 * frame that makes the first part a valid clip.
 */
function splitFrame(from: number, to: number, minimum: RangeMinimum, s: FrameSettings): number {
  const first = from + s.minClip;
  const last = to - s.minClip >= first ? to - s.minClip + 1 : from + s.maxClip + 1;
  return minimum.quietest(first, last);
}

/**
 * Cuts inside sound, at the quietest frames: enough that no stretch between two cuts is longer than maxClip, and one
 * more in each stretch long enough for two clips, so that a short remainder next to it can still make a clip.
 */
function withSoundCuts(cuts: Cut[], minimum: RangeMinimum, s: FrameSettings): Cut[] {
  const result: Cut[] = [cuts[0]!];
  for (const next of cuts.slice(1)) {
    const inner: number[] = [];
    const from = result.at(-1)!.start;
    const pending: [number, number][] = [[from, next.end]];
    while (pending.length > 0) {
      const [start, end] = pending.pop()!;
      if (end - start <= s.maxClip) continue;
      const cut = splitFrame(start, end, minimum, s);
      inner.push(cut);
      pending.push([start, cut], [cut, end]);
    }
    if (inner.length === 0 && next.end - from >= 2 * s.minClip) inner.push(splitFrame(from, next.end, minimum, s));
    for (const cut of inner.sort((a, b) => a - b)) result.push({ end: cut, start: cut, roomAfterEnd: 0, roomBeforeStart: 0, excessSilence: 0, insideSound: true });
    result.push(next);
  }
  return result;
}

/** Running totals over frames, so that any clip's sound and clipping are known in constant time. */
class FrameTotals {
  readonly sound: Int32Array;
  readonly clipped: Float64Array | undefined;

  constructor(rmsDb: Float32Array, threshold: number, clipping: SlicerOptions['clipping']) {
    this.sound = new Int32Array(rmsDb.length + 1);
    for (let i = 0; i < rmsDb.length; i++) this.sound[i + 1] = this.sound[i]! + (rmsDb[i]! >= threshold ? 1 : 0);
    if (clipping !== undefined) {
      this.clipped = new Float64Array(rmsDb.length + 1);
      for (let i = 0; i < rmsDb.length; i++) this.clipped[i + 1] = this.clipped[i]! + (clipping.perFrame[i] ?? 0);
    }
  }

  soundIn(from: number, to: number): number {
    return this.sound[to]! - this.sound[from]!;
  }

  clippedIn(from: number, to: number): number {
    return this.clipped === undefined ? 0 : this.clipped[to]! - this.clipped[from]!;
  }
}

type Verdict = { keep: true; range: FrameRange } | { keep: false; range: FrameRange; reason: SliceDropReason; silentShare: number; clippedShare: number } | { empty: true };

// Costs in frames of lost sound: losing sound outweighs everything else; then long silence inside clips, then more clips.
const LOST_SOUND_COST = 1000;
const EXCESS_SILENCE_COST = 1;
const CLIP_COST = 20;
const SOUND_CUT_COST = 200;

interface Segmenter {
  cuts: Cut[];
  totals: FrameTotals;
  s: FrameSettings;
  samplesPerFrame: number;
  total: number;
}

/** What becomes of the sound between cuts a and b: a clip (extended into silence if it needs to), dropped, or nothing. */
function judge(g: Segmenter, a: number, b: number): Verdict {
  const from = g.cuts[a]!.start;
  const to = g.cuts[b]!.end;
  const sound = g.totals.soundIn(from, to);
  if (sound === 0) return { empty: true };
  const length = to - from;
  const shares = (range: FrameRange): { silentShare: number; clippedShare: number } => {
    const frames = Math.max(1, range.endFrame - range.startFrame);
    return {
      silentShare: 1 - g.totals.soundIn(range.startFrame, range.endFrame) / frames,
      clippedShare: g.totals.clippedIn(range.startFrame, range.endFrame) / (frames * g.samplesPerFrame),
    };
  };
  const need = Math.max(0, g.s.minClip - length);
  const roomBefore = g.cuts[a]!.roomBeforeStart;
  const roomAfter = g.cuts[b]!.roomAfterEnd;
  if (need > roomBefore + roomAfter) {
    if (a === 0 && b === g.cuts.length - 1 && g.total >= g.s.minWholeSource) return { keep: true, range: { startFrame: 0, endFrame: g.total } };
    return { keep: false, range: { startFrame: from, endFrame: to }, reason: 'too_short', ...shares({ startFrame: from, endFrame: to }) };
  }
  const after = Math.min(roomAfter, Math.max(need - roomBefore, Math.ceil(need / 2)));
  const range = { startFrame: from - (need - after), endFrame: to + after };
  const measured = shares(range);
  // Mostly silence only because it had to borrow silence to reach minClip: the phrase itself was too short.
  if (measured.silentShare > MAX_SILENT_SHARE) return { keep: false, range, reason: need > 0 ? 'too_short' : 'silence', ...measured };
  if (measured.clippedShare > MAX_CLIPPED_SHARE) return { keep: false, range, reason: 'clipping', ...measured };
  return { keep: true, range };
}

function cost(g: Segmenter, a: number, b: number, verdict: Verdict, excessPrefix: Float64Array): number {
  if ('empty' in verdict) return 0;
  const soundCut = g.cuts[b]!.insideSound === true ? SOUND_CUT_COST : 0;
  if (!verdict.keep) return soundCut + LOST_SOUND_COST * g.totals.soundIn(g.cuts[a]!.start, g.cuts[b]!.end);
  return soundCut + CLIP_COST + EXCESS_SILENCE_COST * (excessPrefix[b]! - excessPrefix[a + 1]!);
}

/** Cuts an RMS map into clips of minClipSec..maxClipSec at silences (and, failing those, at the quietest points). */
export function sliceByRms(rmsDb: Float32Array, opts: SlicerOptions): SliceResult {
  const s = frameSettings(opts);
  const totals = new FrameTotals(rmsDb, s.threshold, opts.clipping);
  if (totals.soundIn(0, rmsDb.length) === 0) return { clips: [], dropped: [], keptWholeShort: false };
  const minimum = new RangeMinimum(rmsDb);
  const cuts = withSoundCuts(silenceCuts(rmsDb, minimum, s, opts.hopSec), minimum, s);
  const g: Segmenter = { cuts, totals, s, samplesPerFrame: opts.clipping?.samplesPerFrame ?? 1, total: rmsDb.length };
  // excessPrefix[i]: excess silence of cuts 0..i−1, so a clip from cut a to cut b holds excessPrefix[b] − excessPrefix[a + 1].
  const excessPrefix = new Float64Array(cuts.length + 1);
  cuts.forEach((cut, i) => (excessPrefix[i + 1] = excessPrefix[i]! + cut.excessSilence));
  const best = new Float64Array(cuts.length).fill(Infinity);
  const from = new Int32Array(cuts.length);
  const verdicts: Verdict[] = new Array<Verdict>(cuts.length);
  best[0] = 0;
  for (let b = 1; b < cuts.length; b++) {
    for (let a = b - 1; a >= 0; a--) {
      // Past the longest clip only the neighbouring cut remains possible (sound cuts keep that one within maxClip).
      if (a < b - 1 && cuts[b]!.end - cuts[a]!.start > s.maxClip) break;
      const verdict = judge(g, a, b);
      const total = best[a]! + cost(g, a, b, verdict, excessPrefix);
      if (total < best[b]!) {
        best[b] = total;
        from[b] = a;
        verdicts[b] = verdict;
      }
    }
  }
  const chosen: Verdict[] = [];
  for (let b = cuts.length - 1; b > 0; b = from[b]!) chosen.push(verdicts[b]!);
  const result: SliceResult = { clips: [], dropped: [], keptWholeShort: false };
  for (const verdict of chosen.reverse()) {
    if ('empty' in verdict) continue;
    if (verdict.keep) result.clips.push(verdict.range);
    else result.dropped.push({ ...verdict.range, reason: verdict.reason, silentShare: verdict.silentShare, clippedShare: verdict.clippedShare });
  }
  const only = result.clips[0];
  result.keptWholeShort = result.clips.length === 1 && only !== undefined && only.endFrame - only.startFrame < s.minClip;
  return result;
}

/** Frames of sound (at or above the threshold) inside a range. */
export function soundFrames(rmsDb: Float32Array, thresholdDb: number, range: FrameRange): number {
  let count = 0;
  for (let frame = range.startFrame; frame < Math.min(range.endFrame, rmsDb.length); frame++) if (rmsDb[frame]! >= thresholdDb) count++;
  return count;
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
 * A silence threshold for this recording: −40 dBFS, lowered for a quiet recording so it stays BELOW_VOICE_MARGIN_DB under the
 * typical singing level, and raised to NOISE_MARGIN_DB above the noise floor when the floor is higher (live recordings,
 * hiss, room noise) so pauses still read as silence, but never above halfway between the noise floor and the singing
 * level, so quiet singing is not taken for silence.
 *
 * The floor comes from levelStatistics, which needs a pause or breath in a quarter of the 5 s windows; a recording with
 * even fewer (minutes of unbroken singing) can get a threshold inside its quiet singing.
 */
export function suggestSilenceThreshold(rmsDb: Float32Array): number {
  const { noiseFloorDbfs: floor, signalLevelDbfs: signal } = levelStatistics(rmsDb);
  if (signal <= DB_FLOOR) return DEFAULT_SILENCE_THRESHOLD_DB;
  const base = Math.min(DEFAULT_SILENCE_THRESHOLD_DB, signal - BELOW_VOICE_MARGIN_DB);
  return Math.max(base, Math.min(floor + NOISE_MARGIN_DB, (floor + signal) / 2));
}
