import { describe, expect, it } from 'vitest';
import { normalisationGainDb, partitionClips, planSegments, preprocessKey } from '../../../src/workflows/preprocess.js';
import { DEFAULT_PREPROCESS_SETTINGS, resolvePreprocessSettings } from '../../../src/audio/preprocess-settings.js';
import type { Source } from '../../../src/project/types.js';

describe('planSegments', () => {
  it('puts a boundary at each clip edge and maps clips to the segments between them', () => {
    const plan = planSegments([{ startSec: 0.5, endSec: 8 }, { startSec: 9, endSec: 20 }, { startSec: 20, endSec: 31.25 }], 40);
    expect(plan.times).toEqual([0.5, 8, 9, 20, 31.25]);
    // segment 0 is the lead-in [0, 0.5); clip 1 starts at boundary 0.5 → segment 1.
    expect(plan.clipSegments).toEqual([1, 3, 4]);
  });

  it('needs no boundary at the very start or end', () => {
    const plan = planSegments([{ startSec: 0, endSec: 10 }, { startSec: 12, endSec: 25 }], 25);
    expect(plan.times).toEqual([10, 12]);
    expect(plan.clipSegments).toEqual([0, 2]);
  });
});

describe('normalisationGainDb', () => {
  it('brings the source to the target loudness', () => {
    expect(normalisationGainDb({ integratedLufs: -30, peakDbfs: -15 }, -20)).toBe(10);
  });

  it('holds back so the peak stays at -1 dBFS', () => {
    expect(normalisationGainDb({ integratedLufs: -30, peakDbfs: -4 }, -20)).toBe(3);
  });

  it('leaves silence alone', () => {
    expect(normalisationGainDb({ integratedLufs: -120, peakDbfs: -120 }, -20)).toBe(0);
  });
});

describe('preprocessKey', () => {
  const source = { sha256: 'a'.repeat(64) } as Source;
  it('changes with any setting and with the content', () => {
    const base = preprocessKey(source, DEFAULT_PREPROCESS_SETTINGS);
    expect(preprocessKey(source, { ...DEFAULT_PREPROCESS_SETTINGS })).toBe(base);
    expect(preprocessKey(source, { ...DEFAULT_PREPROCESS_SETTINGS, sampleRate: 48000 })).not.toBe(base);
    expect(preprocessKey(source, { ...DEFAULT_PREPROCESS_SETTINGS, denoise: true })).not.toBe(base);
    expect(preprocessKey(source, { ...DEFAULT_PREPROCESS_SETTINGS, minSilenceMs: 500 })).not.toBe(base);
    expect(preprocessKey(source, { ...DEFAULT_PREPROCESS_SETTINGS, silenceThresholdDb: -50 })).not.toBe(base);
    expect(preprocessKey({ sha256: 'b'.repeat(64) } as Source, DEFAULT_PREPROCESS_SETTINGS)).not.toBe(base);
  });
});

describe('partitionClips', () => {
  const clips = Array.from({ length: 10 }, (_, i) => ({ startSec: i * 10, endSec: i * 10 + 8 }));

  it('splits consecutive clips into runs of about equal audio', () => {
    const groups = partitionClips(clips, 2);
    expect(groups.map((g) => g.length)).toEqual([5, 5]);
    expect(groups.flat()).toEqual(clips);
  });

  it('never makes more runs than clips, nor empty ones', () => {
    expect(partitionClips(clips.slice(0, 1), 4)).toEqual([clips.slice(0, 1)]);
    expect(partitionClips(clips, 1)).toEqual([clips]);
  });
});

describe('resolvePreprocessSettings', () => {
  it('takes what is given, else the project’s last settings, else the defaults', () => {
    const last = { ...DEFAULT_PREPROCESS_SETTINGS, sampleRate: 48000 as const, denoise: true };
    expect(resolvePreprocessSettings(undefined, {})).toEqual(DEFAULT_PREPROCESS_SETTINGS);
    expect(resolvePreprocessSettings(last, {})).toEqual(last);
    expect(resolvePreprocessSettings(last, { denoise: false, minClipSec: 3 })).toEqual({ ...last, denoise: false, minClipSec: 3 });
    expect(resolvePreprocessSettings(last, { sampleRate: undefined })).toEqual(last);
  });

  it('refuses a longest clip not longer than the shortest, and a minimum silence longer than a clip, as usage errors', () => {
    expect(() => resolvePreprocessSettings(undefined, { minClipSec: 10, maxClipSec: 10 })).toThrow(/longest clip \(10 s\) must be at least 1 s longer/);
    expect(() => resolvePreprocessSettings(undefined, { minClipSec: 1, minSilenceMs: 2000 })).toThrow(/--min-silence \(2000 ms\)/);
  });
});
