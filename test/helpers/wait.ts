/**
 * Waiting on what a test can observe (a job's state, a file's content, a line on a child's stderr) instead of on
 * time: the outcome never depends on how loaded the machine is, only how long it takes. The limits here are a
 * safety net that names what never happened; they are no timing window.
 */
import type { Readable } from 'node:stream';

/** Longer than any test may run: reaching it means the event will not come. */
const SAFETY_NET_MS = 10 * 60_000;
/** How often a probe is asked again. Only latency depends on it, never the result. */
const PROBE_EVERY_MS = 20;

/**
 * Resolves with the probe's first value that is not undefined or false. Rejects, naming `what`, when `givingUp`
 * settles first (e.g. the child process that should bring the event exited) or past the safety net.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, givingUp?: PromiseLike<unknown>): Promise<T> {
  const deadline = Date.now() + SAFETY_NET_MS;
  let gaveUp: unknown;
  let hasGivenUp = false;
  void givingUp?.then(
    (value) => {
      hasGivenUp = true;
      gaveUp = value;
    },
    (error: unknown) => {
      hasGivenUp = true;
      gaveUp = error;
    },
  );
  let last: unknown;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    last = value;
    if (hasGivenUp) throw new Error(`gave up waiting for ${what}: ${describe(gaveUp)}`);
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${SAFETY_NET_MS / 60_000} minutes (last probe: ${JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
  }
}

function describe(value: unknown): string {
  if (typeof value === 'object' && value !== null && 'stderr' in value) {
    const { exitCode, signal, stderr } = value as { exitCode?: unknown; signal?: unknown; stderr?: unknown };
    return `the process ended first (exit ${String(exitCode)}${signal ? `, ${String(signal)}` : ''}):\n${String(stderr)}`;
  }
  return value instanceof Error ? value.message : String(value);
}

/**
 * Resolves once `stream` (a child's stderr) has printed text matching `pattern`, however the text was split into
 * chunks; rejects if the stream ends first.
 */
export function printed(stream: Readable, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer | string): void => {
      text += chunk.toString();
      const match = pattern.exec(text);
      if (match === null) return;
      stream.off('data', onData);
      stream.off('end', onEnd);
      resolve(match[0]);
    };
    const onEnd = (): void => reject(new Error(`the stream ended without printing ${String(pattern)}:\n${text}`));
    stream.on('data', onData);
    stream.once('end', onEnd);
  });
}
