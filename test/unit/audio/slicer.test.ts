import { describe, expect, it } from 'vitest';
import { PcmAnalyzer } from '../../../src/audio/analysis.js';
import { seededRandom } from '../../helpers/realistic.js';
import { frameRangeToSeconds, sliceByRms, soundFrames, suggestSilenceThreshold, type FrameRange, type SliceResult } from '../../../src/audio/slicer.js';

const HOP = 0.01;
const OPTS = { hopSec: HOP, minClipSec: 5, maxClipSec: 15 };
const VOICE = -20;
const PAUSE = -60;

/** An RMS map from [seconds, dB] stretches, at a 10 ms hop. */
function rmsMap(...stretches: [seconds: number, db: number][]): Float32Array {
  const levels: number[] = [];
  for (const [seconds, db] of stretches) levels.push(...Array<number>(Math.round(seconds / HOP)).fill(db));
  return Float32Array.from(levels);
}

/** Sets single quiet frames ("dips") at the given times. */
function withDips(rmsDb: Float32Array, ...dips: [seconds: number, db: number][]): Float32Array {
  for (const [seconds, db] of dips) rmsDb[Math.round(seconds / HOP)] = db;
  return rmsDb;
}

const frames = (...ranges: [number, number][]): FrameRange[] => ranges.map(([startFrame, endFrame]) => ({ startFrame, endFrame }));


/** Sound frames (at or above the threshold) in ranges. */
function soundIn(rms: Float32Array, ranges: FrameRange[], threshold = -40): number {
  return ranges.reduce((total, range) => total + soundFrames(rms, threshold, range), 0);
}

const kept = (result: SliceResult): [number, number][] => result.clips.map((clip) => [clip.startFrame, clip.endFrame]);

describe('sliceByRms: grouping phrases into clips', () => {
  it('groups sung phrases with the breaths between them and cuts only in the breaths', () => {
    // Eight 4.5 s phrases with 0.8 s breaths: no phrase is a clip by itself, two with their breath are.
    const stretches: [number, number][] = [];
    for (let i = 0; i < 8; i++) stretches.push([4.5, VOICE], [0.8, PAUSE]);
    const rms = rmsMap(...stretches.slice(0, -1));
    const result = sliceByRms(rms, OPTS);
    expect(result.dropped).toEqual([]);
    expect(soundIn(rms, result.clips)).toBe(soundIn(rms, [{ startFrame: 0, endFrame: rms.length }]));
    for (const clip of result.clips) {
      expect(clip.endFrame - clip.startFrame).toBeGreaterThanOrEqual(500);
      expect(clip.endFrame - clip.startFrame).toBeLessThanOrEqual(1500);
      // Every cut falls in a breath: the frames at a cut are silent.
      if (clip.startFrame > 0) expect(rms[clip.startFrame]).toBe(PAUSE);
    }
    expect(result.clips).toHaveLength(4);
  });

  it('cuts a short pause at its quietest frame when the phrases do not fit in one clip', () => {
    // 8 s voice, 0.4 s pause with its quietest frame at 8.27 s, 8 s voice: 16.4 s is over the maximum.
    const rms = withDips(rmsMap([8, VOICE], [0.4, PAUSE], [8, VOICE]), [8.27, -72]);
    expect(sliceByRms(rms, OPTS)).toEqual({ clips: frames([0, 827], [827, 1640]), dropped: [], keptWholeShort: false });
  });

  it('keeps two phrases that fit in one clip together, pause included', () => {
    const rms = withDips(rmsMap([6, VOICE], [0.4, PAUSE], [6, VOICE]), [6.27, -72]);
    expect(kept(sliceByRms(rms, OPTS))).toEqual([[0, 1240]]);
  });

  it('trims a long pause to at most 0.5 s on each side, at the quietest frames there', () => {
    // 6 s voice, 3 s pause (6–9 s) with dips at 6.2 s and 8.7 s, 6 s voice.
    const rms = withDips(rmsMap([6, VOICE], [3, PAUSE], [6, VOICE]), [6.2, -70], [8.7, -70], [7.5, -90]);
    expect(kept(sliceByRms(rms, OPTS))).toEqual([
      [0, 620],
      [870, 1500],
    ]);
  });

  it('keeps pauses shorter than --min-silence inside the clip, and cuts at longer ones only when it must', () => {
    const rms = rmsMap([3, VOICE], [1, PAUSE], [2, VOICE], [0.2, PAUSE], [5, VOICE]);
    expect(kept(sliceByRms(rms, OPTS))).toEqual([[0, 1120]]);
    // With a 1.5 s --min-silence the 1 s pause is no place to cut either; a longer clip limit changes nothing.
    expect(kept(sliceByRms(rms, { ...OPTS, minSilenceSec: 1.5 }))).toEqual([[0, 1120]]);
  });

  it('keeps up to 0.5 s of leading and trailing silence', () => {
    const long = withDips(rmsMap([2, PAUSE], [6, VOICE], [2, PAUSE]), [1.6, -70], [8.3, -70]);
    expect(sliceByRms(long, OPTS)).toEqual({ clips: frames([160, 830]), dropped: [], keptWholeShort: false });
    const short = rmsMap([0.3, PAUSE], [6, VOICE], [0.2, PAUSE]);
    expect(kept(sliceByRms(short, OPTS))).toEqual([[0, 650]]);
  });

  it('lets a short phrase between long silences take in silence to reach the minimum', () => {
    // 3 s phrase (10–13 s) alone between 10 s silences: a 5 s clip around it, 2 s of it silence.
    const rms = rmsMap([10, PAUSE], [3, VOICE], [10, PAUSE]);
    const result = sliceByRms(rms, OPTS);
    expect(result.dropped).toEqual([]);
    const [[start, end]] = kept(result) as [[number, number]];
    expect(end - start).toBe(500);
    expect(start).toBeLessThanOrEqual(1000);
    expect(end).toBeGreaterThanOrEqual(1300);
  });

  it('joins a short phrase to its neighbour across a pause rather than lose it', () => {
    // 8 s phrase, 1.2 s pause, 1.5 s phrase, then 10 s of silence and the end: the short phrase joins the long one.
    const rms = rmsMap([8, VOICE], [1.2, PAUSE], [1.5, VOICE], [10, PAUSE]);
    const result = sliceByRms(rms, OPTS);
    expect(result.dropped).toEqual([]);
    expect(result.clips).toHaveLength(1);
    expect(soundIn(rms, result.clips)).toBe(950);
  });

  it('cuts inside a long stretch at its quietest frame when that lets a short remainder make a clip', () => {
    // 13.4 s of speech without a silence, a 0.4 s pause, then 4.4 s to the end (a real prompt, shaped so): cutting
    // only in the pause would leave 4.4 s too short; cutting the first stretch at its dip (7 s) keeps everything.
    const rms = withDips(rmsMap([13.4, VOICE], [0.4, PAUSE], [4.4, VOICE]), [7, -35]);
    const result = sliceByRms(rms, OPTS);
    expect(result.dropped).toEqual([]);
    expect(kept(result)).toEqual([
      [0, 700],
      [700, rms.length],
    ]);
  });

  it('drops a phrase too short for any clip, as too_short, with its measured silence', () => {
    // 1 s phrase between 20 s silences: even 4 s of borrowed silence gives an 80 % silent clip.
    const rms = rmsMap([6, VOICE], [20, PAUSE], [1, VOICE], [20, PAUSE], [6, VOICE]);
    const result = sliceByRms(rms, OPTS);
    expect(result.clips).toHaveLength(2);
    expect(result.dropped).toHaveLength(1);
    expect(result.dropped[0]).toMatchObject({ reason: 'too_short' });
    expect(soundIn(rms, result.dropped)).toBe(100);
  });

  it('keeps a source shorter than the minimum whole', () => {
    const take = rmsMap([0.1, PAUSE], [2.8, VOICE], [0.1, PAUSE]);
    expect(sliceByRms(take, OPTS)).toEqual({ clips: frames([0, take.length]), dropped: [], keptWholeShort: true });
  });

  it('drops a source under half a second (a notification sound) as too short, even whole', () => {
    const blip = rmsMap([0.06, VOICE]);
    expect(sliceByRms(blip, OPTS)).toMatchObject({ clips: [], dropped: [{ reason: 'too_short' }], keptWholeShort: false });
  });

  it('returns nothing for silence or an empty map', () => {
    expect(sliceByRms(rmsMap([10, PAUSE]), OPTS)).toEqual({ clips: [], dropped: [], keptWholeShort: false });
    expect(sliceByRms(new Float32Array(0), OPTS)).toEqual({ clips: [], dropped: [], keptWholeShort: false });
  });

  it('uses the threshold it is given', () => {
    const rms = withDips(rmsMap([8, VOICE], [0.4, -35], [8, VOICE]), [8.2, -36]);
    // At −40 dBFS the −35 dB pause is sound: one 16.4 s stretch, split at its quietest frame all the same.
    expect(kept(sliceByRms(rms, OPTS))).toEqual([
      [0, 820],
      [820, 1640],
    ]);
    expect(sliceByRms(rms, OPTS).dropped).toEqual([]);
    expect(soundIn(rms, sliceByRms(rms, { ...OPTS, thresholdDb: -30 }).clips, -30)).toBe(1600);
  });
});

describe('sliceByRms: screening', () => {
  it('keeps a clipped phrase out of its clean neighbours’ clips and drops it alone', () => {
    // Three 6 s phrases with 0.5 s pauses; the middle one has 1 % of its samples clipped.
    const rms = rmsMap([6, VOICE], [0.5, PAUSE], [6, VOICE], [0.5, PAUSE], [6, VOICE]);
    const perFrame = new Uint16Array(rms.length);
    perFrame.fill(5, 650, 1250); // 5 of 441 samples per frame
    const result = sliceByRms(rms, { ...OPTS, clipping: { perFrame, samplesPerFrame: 441 } });
    expect(result.clips).toHaveLength(2);
    expect(result.dropped).toHaveLength(1);
    expect(result.dropped[0]).toMatchObject({ reason: 'clipping' });
    expect(result.dropped[0]!.clippedShare).toBeGreaterThan(0.001);
    expect(soundIn(rms, result.dropped)).toBe(600);
  });

  it('drops a clip that is mostly silence although long enough, as silence', () => {
    // Short blips every 0.8 s over 12 s: sound, but 75 % of the frames are silent.
    const stretches: [number, number][] = [];
    for (let i = 0; i < 15; i++) stretches.push([0.2, VOICE], [0.6, PAUSE]);
    const result = sliceByRms(rmsMap(...stretches), { ...OPTS, minSilenceSec: 1 });
    expect(result.clips).toEqual([]);
    expect(result.dropped.map((range) => range.reason)).toEqual(['silence']);
    expect(result.dropped[0]!.silentShare).toBeGreaterThan(0.6);
  });
});

describe('sliceByRms: maximum length', () => {
  it('splits a 40 s phrase without silence at its quietest points, into parts of 5–15 s', () => {
    // Quietest at 26 s (-32 dB), next at 12 s (-30 dB): 40 → 26 + 14 → 12 + 14 + 14.
    const rms = withDips(rmsMap([40, VOICE]), [12, -30], [26, -32], [2, -39], [38, -39]);
    expect(sliceByRms(rms, OPTS)).toEqual({ clips: frames([0, 1200], [1200, 2600], [2600, 4000]), dropped: [], keptWholeShort: false });
  });

  it('never splits where a part would fall under the minimum, even at a quieter frame', () => {
    // The quietest frame (2 s) would leave a 2 s part; the split goes to the quietest allowed frame (9 s) instead.
    const rms = withDips(rmsMap([18, VOICE]), [2, -39], [9, -25]);
    expect(kept(sliceByRms(rms, OPTS))).toEqual([
      [0, 900],
      [900, 1800],
    ]);
  });

  it('when no split gives two valid clips (9 s with clips of 5–8 s), keeps a valid clip and drops the rest', () => {
    const rms = withDips(rmsMap([9, VOICE]), [7, -30]);
    const result = sliceByRms(rms, { ...OPTS, maxClipSec: 8 });
    expect(kept(result)).toEqual([[0, 700]]);
    expect(result.dropped).toMatchObject([{ startFrame: 700, endFrame: 900, reason: 'too_short' }]);
  });

  it('on random material keeps every clip within 5–15 s, in order, without overlap, and loses sound only in drops', () => {
    const random = seededRandom(42);
    for (let round = 0; round < 20; round++) {
      const stretches: [number, number][] = [];
      for (let t = 0; t < 240; ) {
        const isPause = random() < 0.35;
        const seconds = isPause ? 0.1 + random() * 2.5 : 0.5 + random() * 30;
        stretches.push([seconds, isPause ? -75 + random() * 20 : -30 + random() * 15]);
        t += seconds;
      }
      const rms = rmsMap(...stretches).map((db) => db + (random() - 0.5) * 4);
      const result = sliceByRms(rms, OPTS);
      for (const clip of result.clips) {
        expect(clip.endFrame - clip.startFrame).toBeGreaterThanOrEqual(500);
        expect(clip.endFrame - clip.startFrame).toBeLessThanOrEqual(1500);
      }
      const all = [...result.clips, ...result.dropped].sort((a, b) => a.startFrame - b.startFrame);
      all.slice(1).forEach((range, index) => expect(range.startFrame).toBeGreaterThanOrEqual(all[index]!.endFrame));
      expect(soundIn(rms, result.clips) + soundIn(rms, result.dropped)).toBe(soundIn(rms, [{ startFrame: 0, endFrame: rms.length }]));
      // Pauses here are up to 2.6 s and phrases at least 0.5 s: almost nothing should be lost.
      expect(soundIn(rms, result.dropped)).toBeLessThanOrEqual(0.02 * soundIn(rms, result.clips));
    }
  });
});

describe('sliceByRms on analysed audio', () => {
  const RATE = 8000;

  /** A sung phrase: 220 Hz with 5.5 Hz vibrato, and optional -12 dB dips (200 ms) at given offsets. */
  function phrase(seconds: number, dipsAt: number[] = []): Float64Array {
    const out = new Float64Array(Math.round(seconds * RATE));
    let phase = 0;
    for (let i = 0; i < out.length; i++) {
      const t = i / RATE;
      phase += (2 * Math.PI * 220 * (1 + 0.03 * Math.sin(2 * Math.PI * 5.5 * t))) / RATE;
      const dipped = dipsAt.some((at) => Math.abs(t - at) < 0.1);
      out[i] = (dipped ? 0.25 : 1) * 0.3 * (Math.sin(phase) + 0.5 * Math.sin(2 * phase));
    }
    return out;
  }

  /** Room noise at about -70 dBFS RMS. */
  function pause(seconds: number, random: () => number): Float64Array {
    return Float64Array.from({ length: Math.round(seconds * RATE) }, () => (random() - 0.5) * 0.0011);
  }

  function analyse(parts: Float64Array[]) {
    const samples = new Int16Array(parts.reduce((total, part) => total + part.length, 0));
    let offset = 0;
    for (const part of parts) for (const x of part) samples[offset++] = Math.round(x * 32767);
    const analyzer = new PcmAnalyzer({ sampleRate: RATE, channels: 1 });
    const bytes = Buffer.from(samples.buffer);
    for (let start = 0; start < bytes.length; start += 777) analyzer.push(bytes.subarray(start, start + 777));
    return analyzer.finish();
  }

  it('cuts inside the pauses and splits a 40 s phrase at its dips', () => {
    const random = seededRandom(7);
    // 0.5 s pause | 8 s phrase | 0.6 s pause (8.5–9.1 s) | 40 s phrase with dips at 22.1 s and 35.1 s | 1 s pause
    const analysis = analyse([pause(0.5, random), phrase(8), pause(0.6, random), phrase(40, [13, 26]), pause(1, random)]);
    const result: SliceResult = sliceByRms(analysis.rmsDb, { ...OPTS, hopSec: analysis.hopSec });
    const clips = result.clips.map((clip) => frameRangeToSeconds(clip, analysis.hopSec, analysis.durationSec));
    expect(clips).toHaveLength(4);
    // The leading pause is kept whole (≤ 0.5 s); the first cut falls inside the 8.5–9.1 s pause.
    expect(clips[0]!.startSec).toBe(0);
    expect(clips[0]!.endSec).toBeGreaterThanOrEqual(8.5);
    expect(clips[1]!.startSec).toBeLessThanOrEqual(9.1);
    // The 40 s phrase splits at the dips (±0.1 s, the dip's half width) and its end is trimmed into the final pause.
    expect(Math.abs(clips[1]!.endSec - 22.1)).toBeLessThanOrEqual(0.1);
    expect(clips[2]!.startSec).toBe(clips[1]!.endSec);
    expect(Math.abs(clips[2]!.endSec - 35.1)).toBeLessThanOrEqual(0.1);
    expect(clips[3]!.startSec).toBe(clips[2]!.endSec);
    // Up to 0.5 s of the final pause is kept (its first silent frame's window starts 20 ms after the phrase).
    expect(clips[3]!.endSec).toBeGreaterThanOrEqual(49.1);
    expect(clips[3]!.endSec).toBeLessThanOrEqual(49.65);
    for (const clip of clips) expect(clip.endSec - clip.startSec).toBeLessThanOrEqual(15);
    expect(result.dropped).toEqual([]);
  });
});

describe('frameRangeToSeconds', () => {
  it('converts frames to seconds and clamps to the duration', () => {
    const { startSec, endSec } = frameRangeToSeconds({ startFrame: 150, endFrame: 1200 }, 0.01);
    expect(startSec).toBeCloseTo(1.5, 12);
    expect(endSec).toBeCloseTo(12, 12);
    expect(frameRangeToSeconds({ startFrame: 150, endFrame: 1201 }, 0.01, 12.004).endSec).toBe(12.004);
  });
});

describe('sliceByRms options', () => {
  it('rejects inconsistent settings, and a maximum under the minimum', () => {
    expect(() => sliceByRms(new Float32Array(10), { ...OPTS, minClipSec: 0.2 })).toThrow(/minSilenceSec/);
    expect(() => sliceByRms(new Float32Array(10), { ...OPTS, maxSilenceKeptSec: 0.001 })).toThrow(/maxSilenceKeptSec/);
    expect(() => sliceByRms(new Float32Array(10), { ...OPTS, maxClipSec: 4 })).toThrow(/maxClipSec/);
    expect(() => sliceByRms(new Float32Array(10), { ...OPTS, hopSec: 0 })).toThrow(/hopSec/);
  });
});

describe('suggestSilenceThreshold', () => {
  const recording = (floorDb: number, voiceDb: number): Float32Array => rmsMap([30, floorDb], [70, voiceDb]);

  it('keeps -40 dBFS for a clean recording', () => {
    expect(suggestSilenceThreshold(recording(-70, -20))).toBe(-40);
  });

  it('raises it to 10 dB above a high noise floor', () => {
    expect(suggestSilenceThreshold(recording(-45, -10))).toBe(-35);
  });

  it('stays halfway between floor and voice when they are close', () => {
    expect(suggestSilenceThreshold(recording(-35, -15))).toBe(-25);
    expect(suggestSilenceThreshold(recording(-30, -24))).toBe(-27);
  });

  it('lowers it for a quiet recording, to 20 dB under the voice', () => {
    expect(suggestSilenceThreshold(recording(-85, -42))).toBe(-62);
  });

  it('falls back to -40 dBFS for digital silence', () => {
    expect(suggestSilenceThreshold(rmsMap([5, -120]))).toBe(-40);
  });
});
