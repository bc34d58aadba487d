/**
 * Streaming analysis of the raw PCM that FFmpeg decodes for preprocess (s16le, interleaved, native rate and channels).
 *
 * One pass, chunk by chunk, keeping only per-frame figures (never the PCM): a frame RMS map of the mono downmix for the
 * slicer and the quality report, clipped-sample counts and the sample peak over all channels, and the ITU-R BS.1770-4 /
 * EBU R128 integrated loudness of the mono downmix.
 */

/** Bump when the analyzer's figures change, so cached analyses (analysis-cache.ts) are redone. 2: loudness of the downmix. */
export const ANALYZER_VERSION = 2;

/** Lowest figure reported for any dB measure (RMS, peak, loudness), so digital silence stays a finite, JSON-safe number. */
export const DB_FLOOR = -120;
export const DEFAULT_HOP_SEC = 0.01;
/**
 * RMS window length in hops, centred on the hop's start (librosa's `center=True` with zero padding, as openvpi's slicer2
 * calls it: frame_length = 4 × hop_length when min_interval is at least that). Frame i is the instant i × hop.
 */
export const RMS_WINDOW_HOPS = 4;
/** |sample| at or above this counts towards clipping: 99.9 % of full scale (−0.009 dBFS), i.e. floor(32767 × 0.999). */
export const CLIP_LEVEL = 32735;
/**
 * A sample is "clipped" only inside a run of at least this many consecutive near-full-scale samples in one channel
 * (Audacity's Find Clipping default): a lone full-scale sample is usually a peak-normalised transient, a flat top is clipping.
 */
export const CLIP_RUN_MIN = 3;

const FULL_SCALE = 32768;
// clippedPerHop is a Uint16Array; a hop holds at most hopSamples × channels samples (882 for 44.1 kHz stereo).
const MAX_PER_HOP_COUNT = 0xffff;
/** BS.1770: 400 ms gating blocks with 75 % overlap, so blocks advance in 100 ms steps of 4 per block. */
const LOUDNESS_STEP_SEC = 0.1;
const LOUDNESS_STEPS_PER_BLOCK = 4;
const LOUDNESS_OFFSET_DB = -0.691;
const ABSOLUTE_GATE_LUFS = -70;
const RELATIVE_GATE_LU = -10;
/**
 * Filter state below this (in units of the 16-bit channel sum) is flushed to zero at each hop. After digital silence the
 * K-weighting states would otherwise decay into subnormal doubles, which are ~100× slower on x86; 1e-10 is inaudible and
 * far above them.
 */
const DENORMAL_FLUSH = 1e-10;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface PcmAnalyzerOptions {
  sampleRate: number;
  channels: number;
  /** Requested hop; the effective one is a whole number of samples (see PcmAnalysis.hopSec). */
  hopSec?: number;
}

export interface PcmAnalysis {
  sampleRate: number;
  channels: number;
  /** Effective hop: hopSamples / sampleRate. */
  hopSec: number;
  hopSamples: number;
  /** Samples per channel. */
  totalFrames: number;
  durationSec: number;
  /** Number of RMS frames: floor(totalFrames / hopSamples) + 1 (0 for empty input). */
  frameCount: number;
  /** Frame i: RMS of the mono downmix over [(i−2)·hop, (i+2)·hop), in dBFS (full-scale square = 0), floored at DB_FLOOR. */
  rmsDb: Float32Array;
  /** Hop i: clipped samples (all channels) counted in [i·hop, (i+1)·hop); a run is credited to the hop where it reaches CLIP_RUN_MIN. */
  clippedPerHop: Uint16Array;
  /** Clipped samples over all channels. */
  clippedSamples: number;
  peakDbfs: number;
  /**
   * BS.1770-4 gated integrated loudness of the mono downmix (the channel mean), i.e. of the clips preprocess makes, which
   * is what normalisation must target; DB_FLOOR when no block passes the gates.
   */
  integratedLufs: number;
}

interface BiquadCoefficients {
  b0: number;
  b1: number;
  b2: number;
  a1: number;
  a2: number;
}

export interface KWeighting {
  shelf: BiquadCoefficients;
  highpass: BiquadCoefficients;
}

/**
 * BS.1770 K-weighting for any sample rate: the two analogue prototypes (a +4 dB high shelf near 1.68 kHz and the RLB
 * high-pass near 38 Hz) mapped with the bilinear transform, as libebur128 does; at 48 kHz this reproduces the standard's table.
 */
export function kWeighting(sampleRate: number): KWeighting {
  const shelfK = Math.tan((Math.PI * 1681.974450955533) / sampleRate);
  const shelfQ = 0.7071752369554196;
  const vh = 10 ** (3.999843853973347 / 20);
  const vb = vh ** 0.4996667741545416;
  const shelfA0 = 1 + shelfK / shelfQ + shelfK * shelfK;
  const passK = Math.tan((Math.PI * 38.13547087602444) / sampleRate);
  const passQ = 0.5003270373238773;
  const passA0 = 1 + passK / passQ + passK * passK;
  return {
    shelf: {
      b0: (vh + (vb * shelfK) / shelfQ + shelfK * shelfK) / shelfA0,
      b1: (2 * (shelfK * shelfK - vh)) / shelfA0,
      b2: (vh - (vb * shelfK) / shelfQ + shelfK * shelfK) / shelfA0,
      a1: (2 * (shelfK * shelfK - 1)) / shelfA0,
      a2: (1 - shelfK / shelfQ + shelfK * shelfK) / shelfA0,
    },
    highpass: {
      b0: 1,
      b1: -2,
      b2: 1,
      a1: (2 * (passK * passK - 1)) / passA0,
      a2: (1 - passK / passQ + passK * passK) / passA0,
    },
  };
}

/**
 * A biquad rewritten so the output is not on the feedback path: y = b0·x + s1, s1' = (b1 − a1·b0)·x + s2 − a1·s1,
 * s2' = (b2 − a2·b0)·x − a2·s1. The same filter as transposed direct form II, but each sample's recursion is one
 * multiply and one add instead of three dependent operations, and that recursion is what bounds the analyzer's speed.
 */
interface StateSpaceBiquad {
  gain: number;
  in1: number;
  in2: number;
  a1: number;
  a2: number;
}

function toStateSpace({ b0, b1, b2, a1, a2 }: BiquadCoefficients): StateSpaceBiquad {
  return { gain: b0, in1: b1 - a1 * b0, in2: b2 - a2 * b0, a1, a2 };
}

function powerToDb(power: number): number {
  return power > 0 ? Math.max(DB_FLOOR, 10 * Math.log10(power)) : DB_FLOOR;
}

/** A Float64Array that grows by doubling, for per-hop and per-step series of unknown length. */
class GrowableSeries {
  values = new Float64Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }
}

export class PcmAnalyzer {
  readonly sampleRate: number;
  readonly channels: number;
  readonly hopSamples: number;
  private readonly frameBytes: number;
  private readonly loudnessStepSamples: number;
  private readonly shelf: StateSpaceBiquad;
  private readonly highpass: StateSpaceBiquad;

  /** K-weighting of the downmix: shelf s1, s2, high-pass s1, s2 (see StateSpaceBiquad). */
  private readonly filterState = new Float64Array(4);
  private readonly clipRunLength: Int32Array;
  /** Per hop: sum of squares of the channel sum (divided by channels² at the end). */
  private readonly hopEnergy = new GrowableSeries();
  /** Per hop: clipped sample count (packed into a Uint16Array at the end). */
  private readonly hopClipped = new GrowableSeries();
  /** Per 100 ms step: sum of squares of the K-weighted channel sum (divided by channels² at the end). */
  private readonly stepEnergy = new GrowableSeries();

  private hopLeft: number;
  private hopEnergyAcc = 0;
  private hopClippedAcc = 0;
  private stepLeft: number;
  private stepEnergyAcc = 0;
  private peak = 0;
  private clippedSamples = 0;
  private totalFrames = 0;

  /** Bytes of an incomplete sample frame carried over to the next chunk. */
  private readonly carry: Uint8Array;
  private carryLength = 0;
  private scratch = new Int16Array(0);
  /** measureDownmix's per-frame channel sums (a segment never exceeds a hop). */
  private readonly channelSums: Int32Array;
  private finished = false;

  constructor(opts: PcmAnalyzerOptions) {
    const { sampleRate, channels, hopSec = DEFAULT_HOP_SEC } = opts;
    if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw new RangeError(`sampleRate must be a positive integer, got ${sampleRate}`);
    if (!Number.isInteger(channels) || channels <= 0) throw new RangeError(`channels must be a positive integer, got ${channels}`);
    if (!(hopSec > 0)) throw new RangeError(`hopSec must be positive, got ${hopSec}`);
    this.sampleRate = sampleRate;
    this.channels = channels;
    this.hopSamples = Math.max(1, Math.round(sampleRate * hopSec));
    this.frameBytes = 2 * channels;
    this.loudnessStepSamples = Math.max(1, Math.round(sampleRate * LOUDNESS_STEP_SEC));
    const { shelf, highpass } = kWeighting(sampleRate);
    this.shelf = toStateSpace(shelf);
    this.highpass = toStateSpace(highpass);
    this.clipRunLength = new Int32Array(channels);
    this.channelSums = new Int32Array(channels > 2 ? this.hopSamples : 0);
    this.carry = new Uint8Array(this.frameBytes);
    this.hopLeft = this.hopSamples;
    this.stepLeft = this.loudnessStepSamples;
  }

  /** Feeds raw s16le interleaved PCM of any length; a partial sample frame at the end is kept for the next chunk. */
  push(chunk: Uint8Array): void {
    if (this.finished) throw new Error('PcmAnalyzer.push() after finish()');
    let bytes = chunk;
    if (this.carryLength > 0) {
      const needed = Math.min(this.frameBytes - this.carryLength, bytes.length);
      this.carry.set(bytes.subarray(0, needed), this.carryLength);
      this.carryLength += needed;
      bytes = bytes.subarray(needed);
      if (this.carryLength < this.frameBytes) return;
      this.processSamples(this.asInt16(this.carry));
      this.carryLength = 0;
    }
    const wholeBytes = bytes.length - (bytes.length % this.frameBytes);
    if (wholeBytes > 0) this.processSamples(this.asInt16(bytes.subarray(0, wholeBytes)));
    if (wholeBytes < bytes.length) {
      this.carry.set(bytes.subarray(wholeBytes));
      this.carryLength = bytes.length - wholeBytes;
    }
  }

  /** Ends the stream (an incomplete trailing sample frame is ignored) and returns the figures. */
  finish(): PcmAnalysis {
    if (this.finished) throw new Error('PcmAnalyzer.finish() called twice');
    this.finished = true;
    if (this.hopLeft < this.hopSamples) this.flushHop();
    const { sampleRate, channels, hopSamples, totalFrames } = this;
    const frameCount = totalFrames === 0 ? 0 : Math.floor(totalFrames / hopSamples) + 1;
    return {
      sampleRate,
      channels,
      hopSec: hopSamples / sampleRate,
      hopSamples,
      totalFrames,
      durationSec: totalFrames / sampleRate,
      frameCount,
      rmsDb: this.frameRmsDb(frameCount),
      clippedPerHop: this.clippedPerHop(frameCount),
      clippedSamples: this.clippedSamples,
      peakDbfs: this.peak > 0 ? Math.max(DB_FLOOR, 20 * Math.log10(this.peak / FULL_SCALE)) : DB_FLOOR,
      integratedLufs: this.integratedLoudness(),
    };
  }

  /** A little-endian, 2-byte-aligned view when possible; otherwise (odd offset, big-endian host) a decoded copy. */
  private asInt16(bytes: Uint8Array): Int16Array {
    const count = bytes.length >> 1;
    if (LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) return new Int16Array(bytes.buffer, bytes.byteOffset, count);
    if (this.scratch.length < count) this.scratch = new Int16Array(count);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let i = 0; i < count; i++) this.scratch[i] = view.getInt16(2 * i, true);
    return this.scratch.subarray(0, count);
  }

  /** Splits the samples into segments that never cross a hop or loudness-step boundary, so the inner loops have no checks. */
  private processSamples(samples: Int16Array): void {
    const frames = samples.length / this.channels;
    let frame = 0;
    while (frame < frames) {
      const count = Math.min(frames - frame, this.hopLeft, this.stepLeft);
      this.processSegment(samples, frame * this.channels, count);
      frame += count;
      this.totalFrames += count;
      this.hopLeft -= count;
      this.stepLeft -= count;
      if (this.hopLeft === 0) this.flushHop();
      if (this.stepLeft === 0) {
        this.stepEnergy.push(this.stepEnergyAcc);
        this.stepEnergyAcc = 0;
        this.stepLeft = this.loudnessStepSamples;
      }
    }
  }

  private processSegment(samples: Int16Array, start: number, frames: number): void {
    const end = start + frames * this.channels;
    const peak = this.channels === 1 ? this.measureMono(samples, start, end) : this.channels === 2 ? this.measureStereo(samples, start, end) : this.measureDownmix(samples, start, end, frames);
    if (peak > this.peak) this.peak = peak;
    // Clipping is rare: only segments that reach the clip level are scanned for runs. Any other segment breaks every run.
    if (peak >= CLIP_LEVEL) this.countClipped(samples, start, end);
    else this.clipRunLength.fill(0);
  }

  /**
   * Mono: adds the segment's energy and K-weighted energy to the hop and loudness-step sums and returns its peak magnitude.
   * Also measures measureDownmix's channel sums (Int32Array).
   */
  private measureMono(samples: Int16Array | Int32Array, start: number, end: number): number {
    // Coefficients in locals: TurboFan does not hoist object field loads out of loops.
    const { gain: sg, in1: si1, in2: si2, a1: sa1, a2: sa2 } = this.shelf;
    // The RLB high-pass has b0 = 1, so its gain is left out.
    const { in1: hi1, in2: hi2, a1: ha1, a2: ha2 } = this.highpass;
    const state = this.filterState;
    let s1 = state[0]!, s2 = state[1]!, h1 = state[2]!, h2 = state[3]!;
    let high = 0;
    let low = 0;
    let energy = 0;
    let kEnergy = 0;
    for (let i = start; i < end; i++) {
      const x = samples[i]!;
      if (x > high) high = x;
      if (x < low) low = x;
      energy += x * x;
      const shelved = sg * x + s1;
      const shelfNext = si1 * x + s2 - sa1 * s1;
      s2 = si2 * x - sa2 * s1;
      s1 = shelfNext;
      const weighted = shelved + h1;
      const passNext = hi1 * shelved + h2 - ha1 * h1;
      h2 = hi2 * shelved - ha2 * h1;
      h1 = passNext;
      kEnergy += weighted * weighted;
    }
    state[0] = s1;
    state[1] = s2;
    state[2] = h1;
    state[3] = h2;
    this.hopEnergyAcc += energy;
    this.stepEnergyAcc += kEnergy;
    return Math.max(high, 0 - low);
  }

  /**
   * Stereo: as measureMono, on the integer channel sum of each sample frame. One K-weighting filter runs on that sum (it
   * is linear, so filtering the sum is filtering the mean times channels; frameRmsDb and integratedLoudness divide the
   * energies by channels²), instead of one per channel. The common case, so the sum is formed inside the filter loop:
   * a third faster than summing first as measureDownmix does, and a fifth faster than a stereo branch inside its loop.
   */
  private measureStereo(samples: Int16Array, start: number, end: number): number {
    const { gain: sg, in1: si1, in2: si2, a1: sa1, a2: sa2 } = this.shelf;
    const { in1: hi1, in2: hi2, a1: ha1, a2: ha2 } = this.highpass;
    const state = this.filterState;
    let s1 = state[0]!, s2 = state[1]!, h1 = state[2]!, h2 = state[3]!;
    let high = 0;
    let low = 0;
    let mixEnergy = 0;
    let kEnergy = 0;
    for (let i = start; i < end; i += 2) {
      const left = samples[i]!;
      const right = samples[i + 1]!;
      if (left > high) high = left;
      if (left < low) low = left;
      if (right > high) high = right;
      if (right < low) low = right;
      const sum = left + right;
      mixEnergy += sum * sum;
      const shelved = sg * sum + s1;
      const shelfNext = si1 * sum + s2 - sa1 * s1;
      s2 = si2 * sum - sa2 * s1;
      s1 = shelfNext;
      const weighted = shelved + h1;
      const passNext = hi1 * shelved + h2 - ha1 * h1;
      h2 = hi2 * shelved - ha2 * h1;
      h1 = passNext;
      kEnergy += weighted * weighted;
    }
    state[0] = s1;
    state[1] = s2;
    state[2] = h1;
    state[3] = h2;
    this.hopEnergyAcc += mixEnergy;
    this.stepEnergyAcc += kEnergy;
    return Math.max(high, 0 - low);
  }

  /**
   * Three or more channels (rare): the channel sums of the segment's frames, measured by measureMono; returns the peak of
   * all channels. Two passes cost a quarter to a half more than one fused loop, paid to keep one copy of the filter loop.
   */
  private measureDownmix(samples: Int16Array, start: number, end: number, frames: number): number {
    const channels = this.channels;
    const sums = this.channelSums;
    let high = 0;
    let low = 0;
    for (let i = start, frame = 0; i < end; i += channels, frame++) {
      let sum = 0;
      for (let c = i; c < i + channels; c++) {
        const x = samples[c]!;
        if (x > high) high = x;
        if (x < low) low = x;
        sum += x;
      }
      sums[frame] = sum;
    }
    this.measureMono(sums, 0, frames);
    return Math.max(high, 0 - low);
  }

  private countClipped(samples: Int16Array, start: number, end: number): void {
    const channels = this.channels;
    let clipped = 0;
    for (let c = 0; c < channels; c++) {
      let run = this.clipRunLength[c]!;
      for (let i = start + c; i < end; i += channels) {
        const x = samples[i]!;
        if (x >= CLIP_LEVEL || x <= -CLIP_LEVEL) {
          run++;
          // The first CLIP_RUN_MIN − 1 samples of a run count once the run qualifies.
          if (run >= CLIP_RUN_MIN) clipped += run === CLIP_RUN_MIN ? CLIP_RUN_MIN : 1;
        } else {
          run = 0;
        }
      }
      this.clipRunLength[c] = run;
    }
    this.clippedSamples += clipped;
    this.hopClippedAcc += clipped;
  }

  private flushHop(): void {
    this.hopEnergy.push(this.hopEnergyAcc);
    this.hopClipped.push(Math.min(MAX_PER_HOP_COUNT, this.hopClippedAcc));
    this.hopEnergyAcc = 0;
    this.hopClippedAcc = 0;
    this.hopLeft = this.hopSamples;
    const state = this.filterState;
    for (let i = 0; i < state.length; i++) if (Math.abs(state[i]!) < DENORMAL_FLUSH) state[i] = 0;
  }

  private clippedPerHop(frameCount: number): Uint16Array {
    const counts = new Uint16Array(frameCount);
    counts.set(this.hopClipped.values.subarray(0, Math.min(frameCount, this.hopClipped.length)));
    return counts;
  }

  private frameRmsDb(frameCount: number): Float32Array {
    const energy = this.hopEnergy.values;
    const hops = this.hopEnergy.length;
    const half = RMS_WINDOW_HOPS / 2;
    // Energies are of the channel sum in sample units: divide by channels² for the mean, and by full scale².
    const norm = RMS_WINDOW_HOPS * this.hopSamples * this.channels * this.channels * FULL_SCALE * FULL_SCALE;
    const rmsDb = new Float32Array(frameCount);
    for (let frame = 0; frame < frameCount; frame++) {
      let sum = 0;
      for (let hop = Math.max(0, frame - half); hop < Math.min(hops, frame + half); hop++) sum += energy[hop]!;
      rmsDb[frame] = powerToDb(sum / norm);
    }
    return rmsDb;
  }

  private integratedLoudness(): number {
    const steps = this.stepEnergy.values;
    const blockCount = this.stepEnergy.length - LOUDNESS_STEPS_PER_BLOCK + 1;
    if (blockCount <= 0) return DB_FLOOR;
    // As in frameRmsDb: channel-sum energies in sample units, so divide by channels² and full scale².
    const norm = LOUDNESS_STEPS_PER_BLOCK * this.loudnessStepSamples * this.channels * this.channels * FULL_SCALE * FULL_SCALE;
    const blockPower = new Float64Array(blockCount);
    for (let block = 0; block < blockCount; block++) {
      let sum = 0;
      for (let step = block; step < block + LOUDNESS_STEPS_PER_BLOCK; step++) sum += steps[step]!;
      blockPower[block] = sum / norm;
    }
    const loudness = (power: number): number => LOUDNESS_OFFSET_DB + 10 * Math.log10(power);
    const meanPowerAbove = (gateLufs: number): number => {
      let sum = 0;
      let count = 0;
      for (const power of blockPower) {
        if (power > 0 && loudness(power) > gateLufs) {
          sum += power;
          count++;
        }
      }
      return count === 0 ? 0 : sum / count;
    };
    const absoluteGated = meanPowerAbove(ABSOLUTE_GATE_LUFS);
    if (absoluteGated === 0) return DB_FLOOR;
    const gated = meanPowerAbove(loudness(absoluteGated) + RELATIVE_GATE_LU);
    return Math.max(DB_FLOOR, loudness(gated));
  }
}

/** Frames below this are digital silence (muted or padded stretches), not the room's noise: level statistics skip them. */
export const DIGITAL_SILENCE_DBFS = -100;
/** Noise-floor windows: 500 frames, 5 s at the default hop, long enough to hold a breath or a pause. */
export const NOISE_WINDOW_FRAMES = 500;
/** The noise floor is this quantile of the windows' quietest frames (see levelStatistics). */
export const NOISE_WINDOW_QUANTILE = 0.25;
/** Frames at least this far above the noise floor count as singing or speech for the signal level. */
export const SIGNAL_MARGIN_DB = 6;

export interface LevelStatistics {
  /** The level of the pauses (dBFS). */
  noiseFloorDbfs: number;
  /** The typical level of the singing or speech (dBFS). */
  signalLevelDbfs: number;
  /** signalLevelDbfs − noiseFloorDbfs: a rough signal-to-noise ratio (dB). */
  snrDb: number;
}

/**
 * Nearest-rank quantile (0..1) of the values, which it reorders: the value a sort would put at that rank, found by
 * Hoare's selection (Wirth's variant) in linear time on average. Sorting instead made a call on an hour's RMS map
 * about five times slower (~70 ms), and preprocess makes two per source.
 */
function quantile(values: Float32Array, share: number): number {
  const rank = Math.min(values.length - 1, Math.floor(share * values.length));
  let left = 0;
  let right = values.length - 1;
  while (left < right) {
    const pivot = values[rank]!;
    let i = left;
    let j = right;
    do {
      while (values[i]! < pivot) i++;
      while (pivot < values[j]!) j--;
      if (i <= j) {
        const swap = values[i]!;
        values[i++] = values[j]!;
        values[j--] = swap;
      }
    } while (i <= j);
    if (j < rank) left = i;
    if (rank < i) right = j;
  }
  return values[rank]!;
}

/**
 * Noise floor and signal level of an RMS map, ignoring digital silence; DB_FLOOR for both when everything is silent.
 *
 * Noise floor by minimum statistics: the quietest frame of each NOISE_WINDOW_FRAMES window, then the lower quartile of
 * those. A plain low percentile of all frames would need pauses in at least that share of the recording; this needs a
 * pause in a quarter of the 5 s windows, which singing (breaths) and speech give. Signal level: the median of the frames
 * at least SIGNAL_MARGIN_DB above that floor, so long silences do not pull it down.
 */
export function levelStatistics(rmsDb: Float32Array): LevelStatistics {
  const windowMinima: number[] = [];
  for (let start = 0; start < rmsDb.length; start += NOISE_WINDOW_FRAMES) {
    let quietest = Infinity;
    for (let frame = start; frame < Math.min(rmsDb.length, start + NOISE_WINDOW_FRAMES); frame++) {
      const level = rmsDb[frame]!;
      if (level >= DIGITAL_SILENCE_DBFS && level < quietest) quietest = level;
    }
    if (quietest !== Infinity) windowMinima.push(quietest);
  }
  if (windowMinima.length === 0) return { noiseFloorDbfs: DB_FLOOR, signalLevelDbfs: DB_FLOOR, snrDb: 0 };
  const noiseFloorDbfs = quantile(Float32Array.from(windowMinima), NOISE_WINDOW_QUANTILE);
  const signalFrames = new Float32Array(rmsDb.length);
  let count = 0;
  for (const level of rmsDb) if (level >= noiseFloorDbfs + SIGNAL_MARGIN_DB) signalFrames[count++] = level;
  const signalLevelDbfs = count === 0 ? noiseFloorDbfs : quantile(signalFrames.subarray(0, count), 0.5);
  return { noiseFloorDbfs, signalLevelDbfs, snrDb: signalLevelDbfs - noiseFloorDbfs };
}
