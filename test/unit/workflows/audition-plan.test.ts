import { describe, expect, it } from 'vitest';
import { chooseEpochs, MAX_AUDITION_EPOCHS } from '../../../src/workflows/audition-plan.js';
import type { SavedEpoch } from '../../../src/project/models.js';

const saved = (epochs: number[]): SavedEpoch[] => epochs.map((epoch) => ({ epoch, step: epoch * 10, sha256: String(epoch).padStart(64, '0'), size: 1, filename: `a_${epoch}e_${epoch * 10}s.pth` }));
const every = (step: number, last: number) => Array.from({ length: last / step }, (_, i) => (i + 1) * step);

describe('chooseEpochs', () => {
  it('takes every saved epoch when there are few', () => {
    expect(chooseEpochs(saved([10, 20, 30])).map((s) => s.epoch)).toEqual([10, 20, 30]);
  });

  it('spreads at most 12 evenly from the first to the last saved', () => {
    const chosen = chooseEpochs(saved(every(10, 1000))).map((s) => s.epoch);
    expect(chosen).toHaveLength(MAX_AUDITION_EPOCHS);
    expect(chosen[0]).toBe(10);
    expect(chosen.at(-1)).toBe(1000);
    const gaps = chosen.slice(1).map((e, i) => e - chosen[i]!);
    expect(Math.max(...gaps) - Math.min(...gaps)).toBeLessThanOrEqual(10);
  });

  it('takes the epochs asked for, in order, once each', () => {
    expect(chooseEpochs(saved(every(50, 300)), [300, 100, 100]).map((s) => s.epoch)).toEqual([100, 300]);
  });

  it('refuses an epoch that was not saved and names the ones that were', () => {
    expect(() => chooseEpochs(saved([50, 100]), [75])).toThrow(/--epochs 75: not saved/);
    try {
      chooseEpochs(saved([50, 100]), [75]);
    } catch (error) {
      expect((error as { suggestion?: string }).suggestion).toBe('The saved epochs are 50, 100.');
    }
  });
});
