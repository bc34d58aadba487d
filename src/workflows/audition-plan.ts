/** What an audition compares, decided before anything is sent: which saved epochs, and the key that caches the result. */
import { UsageError } from '../errors.js';
import type { SavedEpoch } from '../project/models.js';

/** More epochs than this make a page nobody listens through and a job that runs long. */
export const MAX_AUDITION_EPOCHS = 12;

/**
 * The epochs to audition: those asked for (each must have been saved), else every saved one — at most
 * MAX_AUDITION_EPOCHS, spread evenly from the first to the last saved, the last always included.
 */
export function chooseEpochs(saved: readonly SavedEpoch[], requested?: readonly number[]): SavedEpoch[] {
  const byEpoch = new Map(saved.map((s) => [s.epoch, s]));
  if (requested !== undefined && requested.length > 0) {
    const missing = requested.filter((e) => !byEpoch.has(e));
    if (missing.length > 0) {
      throw new UsageError(`--epochs ${missing.join(',')}: not saved by this training.`, `The saved epochs are ${saved.map((s) => s.epoch).join(', ')}.`);
    }
    return [...new Set(requested)].sort((a, b) => a - b).map((e) => byEpoch.get(e)!);
  }
  const ordered = [...saved].sort((a, b) => a.epoch - b.epoch);
  if (ordered.length <= MAX_AUDITION_EPOCHS) return ordered;
  const last = ordered.length - 1;
  const picks = new Set(Array.from({ length: MAX_AUDITION_EPOCHS }, (_, i) => Math.round((i * last) / (MAX_AUDITION_EPOCHS - 1))));
  return [...picks].sort((a, b) => a - b).map((i) => ordered[i]!);
}
