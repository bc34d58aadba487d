/** Runs `worker` over `items` with at most `limit` in flight, keeping results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, worker: (item: T, index: number) => Promise<R>, signal?: AbortSignal): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      signal?.throwIfAborted();
      const index = next++;
      results[index] = await worker(items[index] as T, index);
    }
  });
  await Promise.all(lanes);
  return results;
}

/** A counting semaphore whose waits end on abort. */
export function semaphore(limit: number): (signal?: AbortSignal) => Promise<() => void> {
  let free = limit;
  const waiting: { grant: () => void; reject: (reason: unknown) => void }[] = [];
  const release = (): void => {
    const next = waiting.shift();
    if (next === undefined) free += 1;
    else next.grant();
  };
  return async (signal) => {
    signal?.throwIfAborted();
    if (free > 0) {
      free -= 1;
    } else {
      await new Promise<void>((resolve, reject) => {
        const entry = {
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          reject,
        };
        const onAbort = (): void => {
          const at = waiting.indexOf(entry);
          if (at >= 0) waiting.splice(at, 1);
          reject(signal?.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        waiting.push(entry);
      });
    }
    let released = false;
    return () => {
      if (!released) {
        released = true;
        release();
      }
    };
  };
}

/** A gate that lets at most `limit` tasks run at once, shared by callers that start work independently. */
export function createLimiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  const take = semaphore(limit);
  return async <T>(task: () => Promise<T>): Promise<T> => {
    const release = await take();
    try {
      return await task();
    } finally {
      release();
    }
  };
}

/** Runs `work` for one key at a time: callers that need the same work take turns, so the later one finds it done. */
export function keyedTurns(): <T>(key: string, work: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const before = tails.get(key) ?? Promise.resolve();
    const mine = before.catch(() => {}).then(work);
    tails.set(key, mine);
    try {
      return await mine;
    } finally {
      if (tails.get(key) === mine) tails.delete(key);
    }
  };
}
