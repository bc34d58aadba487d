import { describe, expect, it } from 'vitest';
import { CLIP_LEVEL, DB_FLOOR, kWeighting, levelStatistics, PcmAnalyzer, type PcmAnalysis } from '../../../src/audio/analysis.js';

const FULL_SCALE = 32768;

/** Interleaved s16le bytes, as FFmpeg streams them. */
function toPcm(samples: Int16Array): Buffer {
  const bytes = Buffer.alloc(samples.length * 2);
  samples.forEach((value, index) => bytes.writeInt16LE(value, index * 2));
  return bytes;
}

/** Feeds the bytes in chunks of `chunkBytes` (777 by default: splits samples and frames) and finishes. */
function analyse(samples: Int16Array, opts: { sampleRate: number; channels: number; chunkBytes?: number }): PcmAnalysis {
  const { chunkBytes = 777, ...analyzerOpts } = opts;
  const pcm = toPcm(samples);
  const analyzer = new PcmAnalyzer(analyzerOpts);
  for (let offset = 0; offset < pcm.length; offset += chunkBytes) analyzer.push(pcm.subarray(offset, offset + chunkBytes));
  return analyzer.finish();
}

interface SineSpec {
  sampleRate: number;
  channels: number;
  seconds: number;
  freq: number;
  peakDb: number;
  /** Multiplies channel c by this sign (default all +1). */
  signs?: number[];
}

const clampToInt16 = (value: number): number => Math.max(-32768, Math.min(32767, value));

/** The same tone on every channel, clamped like an ADC; the files measured with FFmpeg were made with this formula. */
function sine({ sampleRate, channels, seconds, freq, peakDb, signs = [] }: SineSpec): Int16Array {
  const frames = Math.round(sampleRate * seconds);
  const amplitude = FULL_SCALE * 10 ** (peakDb / 20);
  const out = new Int16Array(frames * channels);
  for (let i = 0; i < frames; i++) {
    const value = Math.round(amplitude * Math.sin((2 * Math.PI * freq * i) / sampleRate));
    for (let c = 0; c < channels; c++) out[i * channels + c] = clampToInt16((signs[c] ?? 1) * value);
  }
  return out;
}

/** A sung-like tone: 220 Hz with 5.5 Hz vibrato of ±3 %, 12 harmonics at 1/k, a 5 kHz partial; peak normalised. */
function vibratoVoice(sampleRate: number, seconds: number, peakDb: number): Int16Array {
  const frames = Math.round(sampleRate * seconds);
  const raw = new Float64Array(frames);
  let phase = 0;
  for (let i = 0; i < frames; i++) {
    const freq = 220 * (1 + 0.03 * Math.sin((2 * Math.PI * 5.5 * i) / sampleRate));
    phase += (2 * Math.PI * freq) / sampleRate;
    let value = 0;
    for (let k = 1; k <= 12; k++) value += Math.sin(k * phase) / k;
    raw[i] = value + 0.3 * Math.sin((2 * Math.PI * 5000 * i) / sampleRate);
  }
  const peak = raw.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
  const scale = (FULL_SCALE * 10 ** (peakDb / 20)) / peak;
  return Int16Array.from(raw, (value) => Math.round(value * scale));
}

/** 3 s of vibratoVoice at −6 dBFS peak, shared: generating it takes longer than analysing it. */
const VOICE = vibratoVoice(44100, 3, -6);

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Interleaves equal-length mono signals into one multichannel signal. */
function interleave(...channels: Int16Array[]): Int16Array {
  const out = new Int16Array(channels[0]!.length * channels.length);
  channels.forEach((channel, c) => channel.forEach((value, i) => (out[i * channels.length + c] = value)));
  return out;
}

// RMS of a sine is its peak − 3.01 dB.
const SINE_RMS_OFFSET_DB = 20 * Math.log10(Math.SQRT1_2);

describe('kWeighting', () => {
  it('reproduces the ITU-R BS.1770-4 coefficient tables at 48 kHz', () => {
    const { shelf, highpass } = kWeighting(48000);
    expect(shelf.b0).toBeCloseTo(1.53512485958697, 9);
    expect(shelf.b1).toBeCloseTo(-2.69169618940638, 9);
    expect(shelf.b2).toBeCloseTo(1.19839281085285, 9);
    expect(shelf.a1).toBeCloseTo(-1.69065929318241, 9);
    expect(shelf.a2).toBeCloseTo(0.73248077421585, 9);
    expect(highpass).toMatchObject({ b0: 1, b1: -2, b2: 1 });
    expect(highpass.a1).toBeCloseTo(-1.99004745483398, 9);
    expect(highpass.a2).toBeCloseTo(0.99007225036621, 9);
  });

  it('derives different coefficients for 44.1 kHz', () => {
    expect(kWeighting(44100).shelf.b0).not.toBeCloseTo(kWeighting(48000).shelf.b0, 3);
  });
});

describe('PcmAnalyzer framing and RMS', () => {
  const tone = sine({ sampleRate: 44100, channels: 1, seconds: 2, freq: 1000, peakDb: -20 });
  const analysis = analyse(tone, { sampleRate: 44100, channels: 1 });

  it('reports the frame grid', () => {
    expect(analysis).toMatchObject({ sampleRate: 44100, channels: 1, hopSamples: 441, totalFrames: 88200, durationSec: 2, frameCount: 201 });
    expect(analysis.hopSec).toBeCloseTo(0.01, 12);
    expect(analysis.rmsDb).toHaveLength(201);
    expect(analysis.clippedPerHop).toHaveLength(201);
  });

  it('measures the RMS of each 4-hop window centred on the frame', () => {
    const expected = -20 + SINE_RMS_OFFSET_DB;
    for (let frame = 2; frame <= 198; frame++) expect(analysis.rmsDb[frame]).toBeCloseTo(expected, 2);
    // Frames 0 and 200 see half a window of audio and half of zero padding: 3 dB lower.
    expect(analysis.rmsDb[0]).toBeCloseTo(expected - 3.01, 1);
    expect(analysis.rmsDb[200]).toBeCloseTo(expected - 3.01, 1);
    expect(analysis.peakDbfs).toBeCloseTo(-20, 2);
  });

  it('rounds the hop to whole samples and reports the effective hop', () => {
    const result = analyse(sine({ sampleRate: 22050, channels: 1, seconds: 0.5, freq: 440, peakDb: -6 }), { sampleRate: 22050, channels: 1 });
    expect(result.hopSamples).toBe(221);
    expect(result.hopSec).toBeCloseTo(221 / 22050, 12);
    expect(result.frameCount).toBe(Math.floor(11025 / 221) + 1);
  });

  it('floors digital silence at DB_FLOOR', () => {
    const result = analyse(new Int16Array(44100), { sampleRate: 44100, channels: 1 });
    expect(Array.from(result.rmsDb).every((level) => level === DB_FLOOR)).toBe(true);
    expect(result).toMatchObject({ peakDbfs: DB_FLOOR, integratedLufs: DB_FLOOR, clippedSamples: 0 });
  });

  it('handles an empty stream', () => {
    const result = new PcmAnalyzer({ sampleRate: 48000, channels: 2 }).finish();
    expect(result).toMatchObject({ totalFrames: 0, durationSec: 0, frameCount: 0, peakDbfs: DB_FLOOR, integratedLufs: DB_FLOOR });
    expect(result.rmsDb).toHaveLength(0);
  });
});

describe('PcmAnalyzer chunking', () => {
  const stereo = concat(
    sine({ sampleRate: 44100, channels: 2, seconds: 0.7, freq: 330, peakDb: -12 }),
    sine({ sampleRate: 44100, channels: 2, seconds: 0.6, freq: 1000, peakDb: 0.5 }), // over full scale: clips
  );

  it('gives the same figures whatever the chunk sizes, including odd byte offsets', () => {
    const whole = analyse(stereo, { sampleRate: 44100, channels: 2, chunkBytes: stereo.length * 2 });
    for (const chunkBytes of [777, 4096, 3]) {
      const chunked = analyse(stereo, { sampleRate: 44100, channels: 2, chunkBytes });
      // Hop energies are sums of integers, exact in any grouping.
      expect(chunked.rmsDb).toEqual(whole.rmsDb);
      expect(chunked.clippedPerHop).toEqual(whole.clippedPerHop);
      expect(chunked.clippedSamples).toBe(whole.clippedSamples);
      expect(chunked.peakDbfs).toBe(whole.peakDbfs);
      expect(chunked.integratedLufs).toBeCloseTo(whole.integratedLufs, 9);
    }
    expect(whole.clippedSamples).toBeGreaterThan(0);
  });

  it('accepts one byte at a time', () => {
    const short = stereo.subarray(0, 2 * 4410);
    const whole = analyse(short, { sampleRate: 44100, channels: 2, chunkBytes: short.length * 2 });
    const bytewise = analyse(short, { sampleRate: 44100, channels: 2, chunkBytes: 1 });
    expect(bytewise.rmsDb).toEqual(whole.rmsDb);
    expect(bytewise.totalFrames).toBe(4410);
  });

  it('ignores an incomplete trailing sample frame and refuses use after finish', () => {
    const analyzer = new PcmAnalyzer({ sampleRate: 8000, channels: 2 });
    analyzer.push(toPcm(Int16Array.of(1000, -1000, 2000)).subarray(0, 5));
    const result = analyzer.finish();
    expect(result.totalFrames).toBe(1);
    expect(() => analyzer.push(Buffer.alloc(4))).toThrow(/after finish/);
    expect(() => analyzer.finish()).toThrow(/twice/);
  });

  it('rejects impossible formats', () => {
    expect(() => new PcmAnalyzer({ sampleRate: 0, channels: 1 })).toThrow(RangeError);
    expect(() => new PcmAnalyzer({ sampleRate: 44100, channels: 1.5 })).toThrow(RangeError);
    expect(() => new PcmAnalyzer({ sampleRate: 44100, channels: 1, hopSec: 0 })).toThrow(RangeError);
  });
});

describe('PcmAnalyzer channels', () => {
  const HALF_AMPLITUDE_DB = 20 * Math.log10(0.5);

  it('measures RMS and loudness of the mono downmix, so opposite-polarity channels cancel in both', () => {
    const spec = { sampleRate: 48000, channels: 2, seconds: 3, freq: 1000, peakDb: -23 };
    const inPhase = analyse(sine(spec), spec);
    const opposed = analyse(sine({ ...spec, signs: [1, -1] }), spec);
    expect(Array.from(opposed.rmsDb).every((level) => level === DB_FLOOR)).toBe(true);
    expect(opposed.integratedLufs).toBe(DB_FLOOR);
    expect(inPhase.rmsDb[100]).toBeCloseTo(-23 + SINE_RMS_OFFSET_DB, 2);
    // The peak is still taken over the channels: opposing them does not hide it.
    expect(opposed.peakDbfs).toBe(inPhase.peakDbfs);
  });

  it('measures a stereo file with identical channels exactly as its mono version', () => {
    const mono = analyse(VOICE, { sampleRate: 44100, channels: 1 });
    const stereo = analyse(interleave(VOICE, VOICE), { sampleRate: 44100, channels: 2 });
    // The stereo filter runs on the channel sum, exactly 2 × the mono input, and its energies are divided by exactly 4.
    expect(stereo.integratedLufs).toBe(mono.integratedLufs);
    expect(stereo.rmsDb).toEqual(mono.rmsDb);
    expect(stereo.peakDbfs).toBe(mono.peakDbfs);
  });

  it('measures one channel over silence as the mono file at half the amplitude (−6.02 dB)', () => {
    const mono = analyse(VOICE, { sampleRate: 44100, channels: 1 });
    const leftOnly = analyse(interleave(VOICE, new Int16Array(VOICE.length)), { sampleRate: 44100, channels: 2 });
    expect(leftOnly.integratedLufs).toBeCloseTo(mono.integratedLufs + HALF_AMPLITUDE_DB, 9);
    expect(leftOnly.rmsDb[100]).toBeCloseTo(mono.rmsDb[100]! + HALF_AMPLITUDE_DB, 4);
    expect(leftOnly.peakDbfs).toBe(mono.peakDbfs);
  });

  it('handles more than two channels: three equal channels measure as one', () => {
    const spec = { seconds: 3, freq: 1000, peakDb: -23 };
    const mono = analyse(sine({ ...spec, sampleRate: 48000, channels: 1 }), { sampleRate: 48000, channels: 1 });
    const three = analyse(sine({ ...spec, sampleRate: 48000, channels: 3 }), { sampleRate: 48000, channels: 3 });
    expect(three.frameCount).toBe(mono.frameCount);
    mono.rmsDb.forEach((level, frame) => expect(three.rmsDb[frame]).toBeCloseTo(level, 4));
    expect(three.integratedLufs).toBeCloseTo(mono.integratedLufs, 9);
    expect(mono.integratedLufs).toBeCloseTo(-26, 1);
  });

  it('takes the three-channel mean: a tone on one channel of three is 9.54 dB down', () => {
    const tone = sine({ sampleRate: 48000, channels: 1, seconds: 3, freq: 1000, peakDb: -23 });
    const silence = new Int16Array(tone.length);
    const mono = analyse(tone, { sampleRate: 48000, channels: 1 });
    const oneOfThree = analyse(interleave(silence, tone, silence), { sampleRate: 48000, channels: 3 });
    expect(oneOfThree.integratedLufs - mono.integratedLufs).toBeCloseTo(20 * Math.log10(1 / 3), 6);
  });
});

describe('PcmAnalyzer clipping', () => {
  it('counts only runs of at least 3 consecutive samples at or above the clip level, per hop', () => {
    const samples = new Int16Array(44100);
    samples.set([32767, 32767], 100); // a run of 2: a peak, not clipping
    samples.set([32767, 32767], 439); // a run of 2 ending hop 0; the lone sample at 882 must not extend it
    samples[882] = 32767;
    samples.set([-32768, -32768, -32768], 1000); // hop 2
    samples.set([32767, 32767, 32767, 32767, 32767], 2000); // hop 4
    samples.set([32767, 32767, 32767], 1322); // starts in hop 2, qualifies in hop 3
    samples[3000] = 32767;
    samples.fill(CLIP_LEVEL - 1, 5000, 5010); // just under the level
    const result = analyse(samples, { sampleRate: 44100, channels: 1 });
    expect(result.clippedSamples).toBe(11);
    expect(Array.from(result.clippedPerHop.subarray(0, 6))).toEqual([0, 0, 3, 3, 5, 0]);
    expect(result.peakDbfs).toBe(0);
  });

  it('keeps runs per channel in interleaved stereo', () => {
    const samples = new Int16Array(2000);
    // Left clips for 4 samples; right has two lone full-scale samples, which are no run.
    for (let i = 0; i < 4; i++) samples[2 * (100 + i)] = 32767;
    for (let i = 0; i < 4; i += 2) samples[2 * (200 + i) + 1] = -32768;
    const result = analyse(samples, { sampleRate: 8000, channels: 2 });
    expect(result.clippedSamples).toBe(4);
  });

  it('measures the clipped share of an overdriven sine', () => {
    const overdriven = sine({ sampleRate: 44100, channels: 1, seconds: 1, freq: 1000, peakDb: 20 * Math.log10(40000 / FULL_SCALE) });
    const result = analyse(overdriven, { sampleRate: 44100, channels: 1 });
    // A sine of amplitude A spends 1 − (2/π)·asin(level/A) of its time at or above the level.
    const expectedShare = 1 - (2 / Math.PI) * Math.asin(CLIP_LEVEL / 40000);
    expect(result.clippedSamples / result.totalFrames).toBeCloseTo(expectedShare, 2);
  });
});

describe('PcmAnalyzer integrated loudness (BS.1770-4) of the mono downmix, against FFmpeg ebur128', () => {
  // Expected figures: the same samples as a WAV, downmixed as preprocess's clips are, then measured (FFmpeg 5.1, "I:" line):
  //   ffmpeg -i x.wav -ac 1 mono.wav && ffmpeg -i mono.wav -af ebur128 -f null -
  // Two commands, because in `ffmpeg -i x.wav -ac 1 -af ebur128` the -ac downmix comes after the filter, which then
  // measures all the channels (−23.0 instead of −26.0 for the first case).
  const cases = [
    // EBU Tech 3341 calls this -23 LUFS as stereo; its mono downmix is the same tone once: -26.
    { name: 'stereo 1 kHz at -23 dBFS, 48 kHz', samples: () => sine({ sampleRate: 48000, channels: 2, seconds: 10, freq: 1000, peakDb: -23 }), sampleRate: 48000, channels: 2, ffmpeg: -26.0 },
    { name: 'mono 1 kHz at -23 dBFS, 44.1 kHz', samples: () => sine({ sampleRate: 44100, channels: 1, seconds: 10, freq: 1000, peakDb: -23 }), sampleRate: 44100, channels: 1, ffmpeg: -26.0 },
    { name: 'vibrato voice with a 5 kHz partial, 44.1 kHz', samples: () => VOICE, sampleRate: 44100, channels: 1, ffmpeg: -13.2 },
    { name: 'stereo 100 Hz at -20 dBFS, 44.1 kHz (high-pass region)', samples: () => sine({ sampleRate: 44100, channels: 2, seconds: 6, freq: 100, peakDb: -20 }), sampleRate: 44100, channels: 2, ffmpeg: -24.8 },
    {
      name: 'stereo: vibrato voice left, 440 Hz at -12 dBFS right, 44.1 kHz',
      samples: () => interleave(VOICE, sine({ sampleRate: 44100, channels: 1, seconds: 3, freq: 440, peakDb: -12 })),
      sampleRate: 44100,
      channels: 2,
      ffmpeg: -17.3,
    },
    { name: 'stereo: vibrato voice left, silence right, 44.1 kHz', samples: () => interleave(VOICE, new Int16Array(3 * 44100)), sampleRate: 44100, channels: 2, ffmpeg: -19.2 },
    {
      name: '5 s at -20 dBFS, 5 s at -45 dBFS (relative gate)',
      samples: () => concat(sine({ sampleRate: 48000, channels: 1, seconds: 5, freq: 1000, peakDb: -20 }), sine({ sampleRate: 48000, channels: 1, seconds: 5, freq: 1000, peakDb: -45 }), new Int16Array(5 * 48000)),
      sampleRate: 48000,
      channels: 1,
      ffmpeg: -23.1,
    },
  ];

  for (const { name, samples, sampleRate, channels, ffmpeg } of cases) {
    it(name, () => {
      expect(Math.abs(analyse(samples(), { sampleRate, channels }).integratedLufs - ffmpeg)).toBeLessThanOrEqual(0.3);
    });
  }

  it('gates out quiet and silent blocks: a quiet tail measures like a silent one', () => {
    const loud = sine({ sampleRate: 48000, channels: 1, seconds: 5, freq: 1000, peakDb: -20 });
    const quiet = sine({ sampleRate: 48000, channels: 1, seconds: 5, freq: 1000, peakDb: -45 });
    const withQuietTail = analyse(concat(loud, quiet, new Int16Array(5 * 48000)), { sampleRate: 48000, channels: 1 });
    const withSilentTail = analyse(concat(loud, new Int16Array(10 * 48000)), { sampleRate: 48000, channels: 1 });
    expect(withQuietTail.integratedLufs).toBeCloseTo(withSilentTail.integratedLufs, 2);
    // Silence is below the absolute gate too: the loud part alone is only off by the blocks that straddle its end.
    const alone = analyse(loud, { sampleRate: 48000, channels: 1 });
    expect(Math.abs(withSilentTail.integratedLufs - alone.integratedLufs)).toBeLessThan(0.2);
  });

  it('needs one full 400 ms block', () => {
    expect(analyse(sine({ sampleRate: 48000, channels: 1, seconds: 0.39, freq: 1000, peakDb: -20 }), { sampleRate: 48000, channels: 1 }).integratedLufs).toBe(DB_FLOOR);
  });
});

describe('levelStatistics', () => {
  /** `windows` windows of 5 s; the first `withPause` of them hold `pauseFrames` frames at -62 dBFS, the rest is at -21. */
  function recording(windows: number, withPause: number, pauseFrames: number): Float32Array {
    const levels = new Float32Array(windows * 500).fill(-21);
    for (let window = 0; window < withPause; window++) levels.fill(-62, window * 500 + 200, window * 500 + 200 + pauseFrames);
    return levels;
  }

  it('finds the noise floor from short pauses (5 % of the frames), where a 10th percentile would find the voice', () => {
    expect(levelStatistics(recording(8, 8, 25))).toEqual({ noiseFloorDbfs: -62, signalLevelDbfs: -21, snrDb: 41 });
  });

  it('needs a pause in more than a quarter of the 5 s windows', () => {
    expect(levelStatistics(recording(8, 3, 25)).noiseFloorDbfs).toBe(-62);
    expect(levelStatistics(recording(8, 2, 25)).noiseFloorDbfs).toBe(-21);
  });

  it('ignores digital silence, and takes the signal level from frames well above the floor only', () => {
    const levels = recording(8, 8, 25);
    levels.fill(-120, 0, 1500); // muted stretches
    levels.fill(-58, 3000, 4000); // noise bursts less than 6 dB above the floor: not singing
    expect(levelStatistics(levels)).toEqual({ noiseFloorDbfs: -62, signalLevelDbfs: -21, snrDb: 41 });
  });

  it('gives DB_FLOOR for all-digital silence', () => {
    expect(levelStatistics(new Float32Array(50).fill(-120))).toEqual({ noiseFloorDbfs: DB_FLOOR, signalLevelDbfs: DB_FLOOR, snrDb: 0 });
  });
});
