/** The EQ notation of --eq and plan files. */
import { describe, expect, it } from 'vitest';
import { parseEq } from '../../../src/tasks/mix.js';

describe('--eq bands', () => {
  it('reads FREQ:GAIN[:Q] bands', () => {
    expect(parseEq('120:-3, 3000:+2:1.5')).toEqual([
      { freq: 120, gain: -3, q: 1 },
      { freq: 3000, gain: 2, q: 1.5 },
    ]);
    expect(parseEq('none')).toEqual([]);
  });

  it('says which band is wrong and why', () => {
    expect(() => parseEq('120:-3,abc')).toThrow(/band 2 \("abc"\) is not FREQ:GAIN/);
    expect(() => parseEq('5:1')).toThrow(/band 1 \("5:1"\): frequency \(Hz\) must be a number from 20 to 20000, got 5/);
    expect(() => parseEq('100:40')).toThrow(/gain \(dB\) must be a number from -24 to 24/);
    expect(() => parseEq(Array.from({ length: 9 }, () => '100:1').join(','))).toThrow(/at most 8/);
  });
});
