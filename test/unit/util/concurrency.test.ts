import { describe, expect, it } from 'vitest';
import { createLimiter, keyedTurns, mapLimit, semaphore } from '../../../src/util/concurrency.js';

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

describe('semaphore', () => {
  it('hands a freed slot to the next waiter, and a wait that is aborted takes none', async () => {
    const take = semaphore(1);
    const first = await take();
    const controller = new AbortController();
    const abandoned = take(controller.signal);
    const next = take();
    controller.abort(new Error('stop'));
    await expect(abandoned).rejects.toThrow('stop');
    first();
    first(); // a second release of the same slot frees nothing more
    const second = await next;
    let third = false;
    const waiting = take().then(() => (third = true));
    await new Promise((resolve) => setImmediate(resolve)); // every pending promise job has run
    expect(third).toBe(false);
    second();
    await waiting;
    expect(third).toBe(true);
  });
});

describe('keyedTurns', () => {
  it('runs work for one key in turn and work for other keys beside it', async () => {
    const turn = keyedTurns();
    const log: string[] = [];
    const gate = deferred();
    const a1 = turn('a', async () => {
      log.push('a1 start');
      await gate.promise;
      log.push('a1 end');
    });
    const a2 = turn('a', async () => void log.push('a2'));
    await turn('b', async () => void log.push('b'));
    expect(log).toEqual(['a1 start', 'b']);
    gate.resolve();
    await Promise.all([a1, a2]);
    expect(log).toEqual(['a1 start', 'b', 'a1 end', 'a2']);
  });

  it('lets the next turn run when the one before it failed', async () => {
    const turn = keyedTurns();
    const failed = turn('a', async () => Promise.reject(new Error('broken')));
    const next = turn('a', async () => 'ran');
    await expect(failed).rejects.toThrow('broken');
    expect(await next).toBe('ran');
  });
});
