/** The pure parts of test/helpers/measure.ts: reading silencedetect's log, the threshold rule, sound kept by clips. */
import { describe, expect, it } from 'vitest';
import { mergeIntervals, overlapSec, silenceThresholdDb, soundCoverage, soundFromSilencedetect } from '../../helpers/measure.js';

const span = (startSec: number, endSec: number) => ({ startSec, endSec });

describe('soundFromSilencedetect', () => {
  it('turns silences into the sound between them, over the whole duration', () => {
    const log = [
      '[silencedetect @ 0x1] silence_start: 0',
      '[silencedetect @ 0x1] silence_end: 0.512 | silence_duration: 0.512',
      'size=N/A time=00:00:05.00 bitrate=N/A speed=900x',
      '[silencedetect @ 0x1] silence_start: 3.25',
      '[silencedetect @ 0x1] silence_end: 4.1 | silence_duration: 0.85',
    ].join('\n');
    expect(soundFromSilencedetect(log, 6)).toEqual([span(0.512, 3.25), span(4.1, 6)]);
  });

  it('closes a silence still open at the end of the file', () => {
    expect(soundFromSilencedetect('silence_start: 7.5\n', 9)).toEqual([span(0, 7.5)]);
  });

  it('takes a file without silence as all sound, and one without sound as none', () => {
    expect(soundFromSilencedetect('', 2.5)).toEqual([span(0, 2.5)]);
    expect(soundFromSilencedetect('silence_start: 0\nsilence_end: 2.5 | silence_duration: 2.5', 2.5)).toEqual([]);
  });

  it('ignores the rounding between the last timestamp of silencedetect and the duration of ffprobe', () => {
    expect(soundFromSilencedetect('silence_start: 58.1\nsilence_end: 58.499 | silence_duration: 0.399', 58.499002)).toEqual([span(0, 58.1)]);
  });

  it('clamps the negative start FFmpeg prints for a silence at the very beginning', () => {
    expect(soundFromSilencedetect('silence_start: -0.00133\nsilence_end: 1 | silence_duration: 1', 3)).toEqual([span(1, 3)]);
  });
});

describe('silenceThresholdDb', () => {
  it('sits 20 dB over the room when the source has pauses', () => {
    expect(silenceThresholdDb({ floorDb: -57, loudDb: -15 })).toBe(-37);
  });

  it('stays 20 dB under the loud parts when the quietest windows are voice', () => {
    expect(silenceThresholdDb({ floorDb: -30, loudDb: -14 })).toBe(-34);
  });

  it('never goes under -70 dBFS for digital silence', () => {
    expect(silenceThresholdDb({ floorDb: -200, loudDb: -12 })).toBe(-70);
  });
});

describe('soundCoverage', () => {
  const sound = [span(1, 5), span(6, 8)];

  it('counts the sound inside clips', () => {
    expect(soundCoverage(sound, [span(0.5, 4)])).toEqual({ soundSec: 6, keptSec: 3, share: 0.5 });
  });

  it('counts sound shared by overlapping clips once', () => {
    const coverage = soundCoverage(sound, [span(0, 5.5), span(4, 7), span(7, 9)]);
    expect(coverage.keptSec).toBeCloseTo(6, 9);
    expect(coverage.share).toBeCloseTo(1, 9);
  });

  it('keeps nothing with clips in the silences only', () => {
    expect(soundCoverage(sound, [span(5, 6), span(8, 20)])).toEqual({ soundSec: 6, keptSec: 0, share: 0 });
  });

  it('reports a source without sound as fully kept', () => {
    expect(soundCoverage([], [span(0, 5)]).share).toBe(1);
  });

  it('accepts intervals in any order', () => {
    expect(soundCoverage([span(6, 8), span(1, 5)], [span(7, 10), span(2, 3)]).keptSec).toBeCloseTo(2, 9);
  });
});

describe('interval helpers', () => {
  it('merges touching and overlapping intervals and drops empty ones', () => {
    expect(mergeIntervals([span(3, 4), span(0, 1), span(1, 2), span(3.5, 6), span(7, 7)])).toEqual([span(0, 2), span(3, 6)]);
  });

  it('measures the overlap of two sets', () => {
    expect(overlapSec([span(0, 10)], [span(2, 3), span(9, 12)])).toBeCloseTo(2, 9);
  });
});
