import { describe, expect, it } from 'vitest';
import type { PcmAnalysis } from '../../../src/audio/analysis.js';
import {
  buildDatasetReport,
  buildSourceReport,
  datasetMixWarnings,
  lengthDistribution,
  noiseFloorDbfs,
  describeSlices,
  noLostSound,
  snrEstimateDb,
} from '../../../src/audio/quality.js';
import type { SliceResult } from '../../../src/audio/slicer.js';
import type { PreprocessSettings, SourceQualityReport } from '../../../src/project/types.js';
import { DEFAULT_PREPROCESS_SETTINGS } from '../../../src/audio/preprocess-settings.js';

const HOP_SAMPLES = 441;
const RATE = 44100;

/** An analysis with the given frame levels (10 ms hops at 44.1 kHz); clipping and loudness as given. */
function fakeAnalysis(rmsDb: Float32Array, extra: Partial<PcmAnalysis> = {}): PcmAnalysis {
  const totalFrames = (rmsDb.length - 1) * HOP_SAMPLES;
  return {
    sampleRate: RATE,
    channels: 1,
    hopSec: HOP_SAMPLES / RATE,
    hopSamples: HOP_SAMPLES,
    totalFrames,
    durationSec: totalFrames / RATE,
    frameCount: rmsDb.length,
    rmsDb,
    clippedPerHop: new Uint16Array(rmsDb.length),
    clippedSamples: 0,
    peakDbfs: -3,
    integratedLufs: -18,
    ...extra,
  };
}

/** Frame levels: `floorShare` of the frames at `floorDb`, the rest at `voiceDb`. */
function levels(frames: number, floorShare: number, floorDb: number, voiceDb: number): Float32Array {
  const floorFrames = Math.round(frames * floorShare);
  return Float32Array.from({ length: frames }, (_, frame) => (frame < floorFrames ? floorDb : voiceDb));
}

const minutes = (value: number): number => value * 60;
const codes = (warnings: { code: string }[]): string[] => warnings.map((warning) => warning.code);

describe('describeSlices', () => {
  it('turns slices into kept and dropped clips in seconds, with the sound in each and the sound lost by reason', () => {
    const rms = new Float32Array(2001).fill(-20);
    rms.fill(-70, 600, 1000); // 4 s of silence inside the second (dropped) stretch
    const analysis = fakeAnalysis(rms);
    const slices: SliceResult = {
      clips: [
        { startFrame: 0, endFrame: 600 },
        { startFrame: 1400, endFrame: 2001 },
      ],
      dropped: [
        { startFrame: 600, endFrame: 1200, reason: 'silence', silentShare: 4 / 6, clippedShare: 0 },
        { startFrame: 1200, endFrame: 1400, reason: 'too_short', silentShare: 0, clippedShare: 0 },
      ],
      keptWholeShort: false,
    };
    const described = describeSlices(analysis, slices, { thresholdDb: -40, minClipSec: 5 });
    expect(described.kept.map(({ startSec, endSec }) => [startSec, endSec])).toEqual([
      [0, 6],
      [14, 20],
    ]);
    expect(described.dropped).toEqual([
      { startSec: 6, endSec: 12, reason: 'silence', detail: '67 % silence (below -40.0 dBFS)', soundSec: expect.closeTo(2, 9) },
      { startSec: 12, endSec: 14, reason: 'too_short', detail: '2.0 s with 2.0 s of sound between long silences, too little for a 5 s clip', soundSec: expect.closeTo(2, 9) },
    ]);
    expect(described.soundSec).toBeCloseTo(16.01, 9);
    expect(described.keptSoundSec).toBeCloseTo(12.01, 9);
    expect(described.lostSoundSec.silence).toBeCloseTo(2, 9);
    expect(described.lostSoundSec.too_short).toBeCloseTo(2, 9);
    expect(described.lostSoundSec.clipping).toBe(0);
  });
});

describe('noise floor and SNR', () => {
  // Each 5 s window: 4.5 s of voice at -21 dBFS and a 0.5 s pause at -62 dBFS; a muted second at the start.
  const rms = new Float32Array(3000).fill(-21);
  for (let start = 0; start < rms.length; start += 500) rms.fill(-62, start + 450, start + 500);
  rms.fill(-120, 0, 100);

  it('takes the noise floor from the pauses, ignoring digital silence', () => {
    expect(noiseFloorDbfs(rms)).toBe(-62);
  });

  it('takes the SNR as the voice level minus the noise floor', () => {
    expect(snrEstimateDb(rms)).toBe(41);
    expect(snrEstimateDb(new Float32Array(100).fill(-120))).toBe(0);
  });
});

describe('lengthDistribution', () => {
  it('summarises lengths into the brief’s 2 s buckets, the last one closed', () => {
    expect(lengthDistribution([9.5, 5, 15, 6.99, 7, 12])).toEqual({
      count: 6,
      minSec: 5,
      medianSec: 8.25,
      maxSec: 15,
      histogram: [
        { fromSec: 5, toSec: 7, count: 2 },
        { fromSec: 7, toSec: 9, count: 1 },
        { fromSec: 9, toSec: 11, count: 1 },
        { fromSec: 11, toSec: 13, count: 1 },
        { fromSec: 13, toSec: 15, count: 1 },
      ],
    });
  });

  it('takes the middle value for an odd count and is all zeros when empty', () => {
    expect(lengthDistribution([14, 6, 8]).medianSec).toBe(8);
    const empty = lengthDistribution([]);
    expect(empty).toMatchObject({ count: 0, minSec: 0, medianSec: 0, maxSec: 0 });
    expect(empty.histogram.map((bucket) => bucket.count)).toEqual([0, 0, 0, 0, 0]);
  });
});

describe('buildSourceReport', () => {
  const source = { id: 'a1b2c3d4e5f6', path: 'vocals/take1.wav', kind: 'singing' as const };

  it('reports a clean source without warnings', () => {
    // 60 s: 30 % pauses at -70 dBFS, singing at -18 dBFS; 54 s kept in clips of 9, 10, 11, 12 and 12 s.
    const analysis = fakeAnalysis(levels(6001, 0.3, -70, -18), { integratedLufs: -19.5, peakDbfs: -2 });
    const kept = [
      [0, 9],
      [9, 19],
      [19, 30],
      [30, 42],
      [42, 54],
    ].map(([startSec, endSec]) => ({ startSec: startSec!, endSec: endSec! }));
    const sliced = { dropped: [], soundSec: 42, keptSoundSec: 42, lostSoundSec: noLostSound(), thresholdDb: -40, keptWhole: false };
    const report = buildSourceReport({ source, analysis, kept, sliced });
    expect(report).toMatchObject({
      sourceId: 'a1b2c3d4e5f6',
      path: 'vocals/take1.wav',
      kind: 'singing',
      durationSec: 60,
      keptSec: 54,
      droppedSec: 0,
      clippedShare: 0,
      peakDbfs: -2,
      noiseFloorDbfs: -70,
      snrDb: 52,
      loudnessLufs: -19.5,
      warnings: [],
    });
    expect(report.clips).toMatchObject({ count: 5, minSec: 9, medianSec: 11, maxSec: 12 });
  });

  it('warns about clipping, noise, low loudness and lost sound, with the figures', () => {
    // 60 s: noise floor -42 dBFS, voice -30 dBFS (SNR 12 dB), -38 LUFS, 1.2 % of samples clipped, 12 s kept.
    const analysis = fakeAnalysis(levels(6001, 0.3, -42, -30), { integratedLufs: -38, peakDbfs: 0 });
    analysis.clippedSamples = Math.round(0.012 * analysis.totalFrames);
    const sliced = {
      dropped: [
        { startSec: 6, endSec: 18, reason: 'clipping' as const, detail: '2.1 % of samples clipped', soundSec: 11 },
        { startSec: 26, endSec: 29, reason: 'too_short' as const, detail: '3.0 s between long silences', soundSec: 2 },
      ],
      soundSec: 25,
      keptSoundSec: 12,
      lostSoundSec: { too_short: 2, clipping: 11, silence: 0 },
      thresholdDb: -32,
      keptWhole: false,
    };
    const kept = [
      { startSec: 0, endSec: 6 },
      { startSec: 20, endSec: 26 },
    ];
    const report = buildSourceReport({ source, analysis, kept, sliced });
    expect(report).toMatchObject({ keptSec: 12, droppedSec: 15, soundSec: 25, keptSoundSec: 12, noiseFloorDbfs: -42, snrDb: 12, silenceThresholdDb: -32 });
    expect(report.clippedShare).toBeCloseTo(0.012, 6);
    expect(codes(report.warnings)).toEqual(['source_clipping', 'source_noisy', 'source_quiet', 'source_sound_lost']);
    const [clipping, noisy, quiet, lost] = report.warnings;
    expect(clipping!.message).toBe('1.2 % of samples in vocals/take1.wav are clipped (1 clip dropped for clipping).');
    expect(clipping!.suggestion).toMatch(/lower input gain/);
    expect(noisy!.message).toContain('noise floor -42.0 dBFS, voice about 12.0 dB above it');
    expect(noisy!.suggestion).toMatch(/--denoise/);
    expect(quiet!.message).toContain('-38.0 LUFS');
    expect(lost!.message).toBe(
      '13.0 s of the 25.0 s of sound in vocals/take1.wav is not in any clip (52 %): 11.0 s in clipped passages, 2.0 s in phrases too short for a clip, between long silences.',
    );
    expect(lost!.suggestion).toMatch(/cleaner copy.*--min-clip/);
    for (const warning of report.warnings) expect(warning.scope).toBe('a1b2c3d4e5f6');
  });

  it('does not call digital silence noisy or quiet, nor lost', () => {
    const analysis = fakeAnalysis(new Float32Array(1001).fill(-120), { integratedLufs: -120, peakDbfs: -120 });
    const sliced = { dropped: [], soundSec: 0, keptSoundSec: 0, lostSoundSec: noLostSound(), thresholdDb: -40, keptWhole: false };
    expect(buildSourceReport({ source, analysis, kept: [], sliced }).warnings).toEqual([]);
  });

  it('does not take the voice of a take without pauses for its noise floor', () => {
    // A 3 s pre-cut take, all voice at -25 dBFS: kept whole, no noise floor to measure, no noise warning.
    const analysis = fakeAnalysis(new Float32Array(301).fill(-25));
    const sliced = { dropped: [], soundSec: 3, keptSoundSec: 3, lostSoundSec: noLostSound(), thresholdDb: -45, keptWhole: true };
    const report = buildSourceReport({ source, analysis, kept: [{ startSec: 0, endSec: 3 }], sliced });
    expect(report).toMatchObject({ noiseFloorDbfs: -120, keptWhole: true, warnings: [] });
  });

  it('reports the figures after denoising, and the recorded ones beside them', () => {
    const analysis = fakeAnalysis(levels(6001, 0.3, -45, -20));
    const sliced = { dropped: [], soundSec: 42, keptSoundSec: 42, lostSoundSec: noLostSound(), thresholdDb: -35, keptWhole: false };
    const clean = buildSourceReport({ source, analysis, kept: [], sliced, denoised: { noiseFloorDbfs: -68, signalLevelDbfs: -20, snrDb: 48 } });
    expect(clean).toMatchObject({ noiseFloorDbfs: -68, snrDb: 48, beforeDenoise: { noiseFloorDbfs: -45, snrDb: 25 } });
    expect(codes(clean.warnings)).not.toContain('source_noisy');
    const still = buildSourceReport({ source, analysis, kept: [], sliced, denoised: { noiseFloorDbfs: -44, signalLevelDbfs: -20, snrDb: 24 } });
    const [noisy] = still.warnings;
    expect(noisy!.message).toContain('even after --denoise');
    expect(noisy!.suggestion).not.toMatch(/Try --denoise/);
  });
});

describe('datasetMixWarnings', () => {
  const cases: [singingMin: number, speechMin: number, expected: string[]][] = [
    [6, 3, ['dataset_too_short']],
    [6.5, 3.5, []], // exactly 10 min, 65 % singing
    [39, 21, []], // exactly 60 min
    [45, 20, ['dataset_too_long']],
    [20, 25, ['singing_share_too_low']],
    [20, 20, ['singing_share_below_ideal']], // exactly 50 %
    [22, 18, ['singing_share_below_ideal']],
    [26, 14, []],
    [28, 12, []], // exactly 70 %
    [32, 8, ['speech_share_below_ideal']],
    [4, 0, ['dataset_too_short', 'speech_share_below_ideal']],
    [0, 0, ['dataset_too_short']],
  ];
  for (const [singingMin, speechMin, expected] of cases) {
    it(`${singingMin} min singing + ${speechMin} min speech → ${expected.join(', ') || 'no warning'}`, () => {
      expect(codes(datasetMixWarnings({ singingSec: minutes(singingMin), speechSec: minutes(speechMin) }))).toEqual(expected);
    });
  }

  it('states the figures and the brief, scoped to the dataset', () => {
    const [tooShort, tooLow] = datasetMixWarnings({ singingSec: minutes(3), speechSec: minutes(4.5) });
    expect(tooShort).toMatchObject({ code: 'dataset_too_short', scope: 'dataset', message: 'Only 7.5 min of audio; the brief asks for 10–60 min of clean vocals.' });
    expect(tooLow).toMatchObject({
      code: 'singing_share_too_low',
      scope: 'dataset',
      message: 'Singing is only 40 % of the audio (singing 3.0 min, speech 4.5 min); it must be at least 50 %.',
    });
    expect(tooLow!.suggestion).toMatch(/60–70 %/);
  });
});

describe('buildDatasetReport', () => {
  const settings: PreprocessSettings = { ...DEFAULT_PREPROCESS_SETTINGS, highpassHz: 60 };

  function report(overrides: Partial<SourceQualityReport>): SourceQualityReport {
    return {
      sourceId: 'x',
      path: 'x.wav',
      kind: 'singing',
      durationSec: 0,
      keptSec: 0,
      droppedSec: 0,
      soundSec: 0,
      keptSoundSec: 0,
      lostSoundSec: noLostSound(),
      silenceThresholdDb: -40,
      keptWhole: false,
      clips: lengthDistribution([]),
      dropped: [],
      clippedShare: 0,
      peakDbfs: -1,
      noiseFloorDbfs: -70,
      snrDb: 50,
      loudnessLufs: -18,
      warnings: [],
      ...overrides,
    };
  }

  it('totals the sources and checks the kept mix against the brief', () => {
    const singing = report({ sourceId: 's', kind: 'singing', durationSec: 600, keptSec: 500, droppedSec: 40, clippedShare: 0.002, clips: lengthDistribution([5, 8, 8, 14]) });
    const speech = report({ sourceId: 'p', kind: 'speech', durationSec: 300, keptSec: 200, droppedSec: 10, clippedShare: 0.0005, clips: lengthDistribution([6, 12, 13]) });
    const dataset = buildDatasetReport([singing, speech], settings, new Date('2026-09-01T12:00:00Z'));
    expect(dataset.generatedAt).toBe('2026-09-01T12:00:00.000Z');
    expect(dataset.settings).toEqual(settings);
    expect(dataset.sources).toEqual([singing, speech]);
    expect(dataset.total).toMatchObject({ durationSec: 900, keptSec: 700, droppedSec: 50, singingSec: 500, speechSec: 200 });
    expect(dataset.total.singingShare).toBeCloseTo(5 / 7, 12);
    expect(dataset.total.clippedShare).toBeCloseTo((0.002 * 600 + 0.0005 * 300) / 900, 12);
    // All lengths: 5 6 8 8 12 13 14. The median is estimated from the source medians (8 of 4 clips, 12 of 3).
    expect(dataset.total.clips).toMatchObject({ count: 7, minSec: 5, medianSec: 8, maxSec: 14 });
    expect(dataset.total.clips.histogram.map((bucket) => bucket.count)).toEqual([2, 2, 0, 1, 2]);
    // 11.7 min kept, 71 % singing: only the mix is off.
    expect(dataset.warnings).toEqual(datasetMixWarnings({ singingSec: 500, speechSec: 200 }));
    expect(codes(dataset.warnings)).toEqual(['speech_share_below_ideal']);
  });

  it('totals the sound, kept and lost, and notes sources kept whole once for all of them', () => {
    const take = (id: string, seconds: number): SourceQualityReport =>
      report({ sourceId: id, path: `takes/${id}.wav`, durationSec: seconds, keptSec: seconds, soundSec: seconds, keptSoundSec: seconds, keptWhole: true });
    const long = report({ sourceId: 'l', durationSec: 120, keptSec: 100, soundSec: 90, keptSoundSec: 87, lostSoundSec: { too_short: 2, clipping: 1, silence: 0 } });
    const dataset = buildDatasetReport([take('t1', 3), take('t2', 4.5), long], settings, new Date(0));
    expect(dataset.total).toMatchObject({ soundSec: 97.5, keptSoundSec: 94.5, lostSoundSec: { too_short: 2, clipping: 1, silence: 0 } });
    const notes = dataset.warnings.filter((warning) => warning.code === 'sources_kept_whole');
    expect(notes).toHaveLength(1);
    expect(notes[0]!.message).toBe('2 sources shorter than the 5 s minimum kept whole as one clip each, nothing cut (7.5 s: takes/t1.wav, takes/t2.wav).');
  });

  it('handles no sources', () => {
    const dataset = buildDatasetReport([], settings, new Date(0));
    expect(dataset.total).toMatchObject({ durationSec: 0, keptSec: 0, singingShare: 0, clippedShare: 0, clips: { count: 0 } });
    expect(codes(dataset.warnings)).toEqual(['dataset_too_short']);
  });
});
