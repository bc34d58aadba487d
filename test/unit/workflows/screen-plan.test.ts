import { describe, expect, it } from 'vitest';
import { cosine, judge, largestCluster, meanVoice, SCREEN_THRESHOLD } from '../../../src/workflows/screen-plan.js';

/** A unit vector at `degrees` in the plane of the first two axes (cosine of two is the cosine of their angle). */
const at = (degrees: number): number[] => {
  const r = (degrees * Math.PI) / 180;
  return [Math.cos(r), Math.sin(r), 0, 0];
};

describe('the screen\'s arithmetic', () => {
  it('cosine and the normalised mean voice', () => {
    expect(cosine(at(0), at(60))).toBeCloseTo(0.5, 10);
    expect(cosine([2, 0], [5, 0])).toBeCloseTo(1, 10);
    expect(cosine([0, 0], [1, 0])).toBe(0);
    const mean = meanVoice([at(-30), [0, 2 * Math.sin(Math.PI / 6), 0, 0].map((v, i) => (i === 0 ? 2 * Math.cos(Math.PI / 6) : v))]);
    expect(mean[0]).toBeCloseTo(1, 10);
    expect(Math.hypot(...mean)).toBeCloseTo(1, 10);
  });

  it('the reference is the largest tight cluster: its most-connected clip and that clip\'s neighbours', () => {
    // Voice A: five clips within 20° of each other (cosine ≥ 0.94); voice B: three clips around 90°; one clip between,
    // nearer B than A: it joins neither A's cluster nor outnumbers it.
    const clips = [
      { id: 'b1', embedding: at(88) },
      { id: 'a1', embedding: at(-10) },
      { id: 'a2', embedding: at(-5) },
      { id: 'a3', embedding: at(0) },
      { id: 'b2', embedding: at(92) },
      { id: 'a4', embedding: at(5) },
      { id: 'a5', embedding: at(10) },
      { id: 'b3', embedding: at(95) },
      { id: 'mid', embedding: at(60) },
    ];
    const cluster = largestCluster(clips);
    expect([...cluster.members].sort()).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    expect(cosine(cluster.voice, at(0))).toBeCloseTo(1, 6);
    // At 0.75 (41°), 'mid' (50° from a5, the nearest of A) is no neighbour of voice A's clips.
    expect(cluster.members).not.toContain('mid');
  });

  it('a clip below the threshold is out, at it stays, and one without an embedding is not judged', () => {
    const reference = at(0);
    const threshold = 0.75;
    const verdicts = judge(
      [
        { id: 'same', embedding: at(10) },
        { id: 'edge', embedding: at((Math.acos(threshold) * 180) / Math.PI - 1e-6) },
        { id: 'other', embedding: at(60) },
        { id: 'silent', embedding: null },
      ],
      reference,
      threshold,
    );
    expect(verdicts.map((v) => [v.id, v.kept])).toEqual([['same', true], ['edge', true], ['other', false], ['silent', true]]);
    expect(verdicts[2]!.similarity).toBeCloseTo(0.5, 10);
    expect(verdicts[3]!.similarity).toBeNull();
  });

  it('the default threshold lies within its range', () => {
    expect(SCREEN_THRESHOLD.default).toBeGreaterThan(SCREEN_THRESHOLD.min);
    expect(SCREEN_THRESHOLD.default).toBeLessThan(SCREEN_THRESHOLD.max);
  });
});
