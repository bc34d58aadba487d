import { describe, expect, it } from 'vitest';
import { createLimiter, mapLimit } from '../../../src/util/concurrency.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('createLimiter', () => {
  it('never runs more than the limit, even when new work arrives as a slot frees', async () => {
    const limit = createLimiter(2);
    let running = 0;
    let peak = 0;
    const gates = Array.from({ length: 6 }, deferred);
    const task = (i: number) => async () => {
      running += 1;
      peak = Math.max(peak, running);
      await gates[i]!.promise;
      running -= 1;
      return i;
    };
    const first = [0, 1, 2].map((i) => limit(task(i)));
    gates[0]!.resolve();
    // Arrives exactly while task 2 is being handed task 0's slot.
    const late = [3, 4, 5].map((i) => limit(task(i)));
    for (const gate of gates.slice(1)) gate.resolve();
    expect(await Promise.all([...first, ...late])).toEqual([0, 1, 2, 3, 4, 5]);
    expect(peak).toBe(2);
  });
});

describe('mapLimit', () => {
  it('keeps input order and stops when aborted', async () => {
    expect(await mapLimit([3, 1, 2], 2, async (n) => n * 10)).toEqual([30, 10, 20]);
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(mapLimit([1], 1, async (n) => n, controller.signal)).rejects.toThrow('stop');
  });
});
