/** Asking before something that cannot be undone. */
import { createInterface } from 'node:readline/promises';
import { UsageError } from '../errors.js';
import type { CliIo } from './context.js';

/**
 * Resolves true when `--yes` was given or the person at the terminal answers y/yes. Without a terminal to
 * ask on (a pipe, a script) and without `--yes`, it refuses with a usage error: nothing is deleted unasked.
 */
export async function confirmed(io: CliIo, question: string, yes: boolean): Promise<boolean> {
  if (yes) return true;
  if (io.stdin.isTTY !== true || io.stderr.isTTY !== true) {
    throw new UsageError(`Not confirmed: ${question} (there is no terminal to ask on).`, 'Add --yes to confirm.');
  }
  const prompt = createInterface({ input: io.stdin, output: io.stderr, terminal: true });
  try {
    return /^y(es)?$/i.test((await prompt.question(`${question} [y/N] `, { signal: io.signal })).trim());
  } finally {
    prompt.close();
  }
}
