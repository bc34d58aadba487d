/** Preprocess settings: their defaults and ranges (one home for the CLI, train and the manifest), and how a run picks them. */
import { UsageError } from '../errors.js';
import { DEFAULT_MIN_SILENCE_SEC } from './slicer.js';
import type { PreprocessSettings } from '../project/types.js';

export const DEFAULT_PREPROCESS_SETTINGS: PreprocessSettings = {
  sampleRate: 40000,
  denoise: false,
  highpassHz: 50,
  targetLufs: -20,
  minClipSec: 5,
  maxClipSec: 15,
  silenceThresholdDb: 'auto',
  minSilenceMs: DEFAULT_MIN_SILENCE_SEC * 1000,
  holdout: true,
};

/** The ranges of the settings a user may change: the CLI's parsers and resolvePreprocessSettings read them here. */
export const PREPROCESS_LIMITS = {
  minClipSec: { min: 1, max: 30 },
  maxClipSec: { min: 2, max: 60 },
  silenceThresholdDb: { min: -90, max: -10 },
  minSilenceMs: { min: 50, max: 5000 },
  targetLufs: { min: -40, max: -10 },
} as const;

/**
 * The settings a preprocess runs with: what was given now, else what the project used last, else the defaults. So a
 * re-run, or train bringing the clips up to date, never silently undoes a setting the user chose.
 */
export function resolvePreprocessSettings(last: PreprocessSettings | undefined, given: Partial<PreprocessSettings>): PreprocessSettings {
  const defined = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined)) as Partial<PreprocessSettings>;
  const settings = { ...DEFAULT_PREPROCESS_SETTINGS, ...last, ...defined };
  if (!(settings.maxClipSec >= settings.minClipSec + 1)) {
    throw new UsageError(
      `The longest clip (${settings.maxClipSec} s) must be at least 1 s longer than the shortest (${settings.minClipSec} s).`,
      `Give both, e.g. --min-clip ${settings.minClipSec} --max-clip ${Math.max(settings.minClipSec * 3, settings.minClipSec + 1)}.`,
    );
  }
  if (settings.minSilenceMs / 1000 > settings.minClipSec) {
    throw new UsageError(`--min-silence (${settings.minSilenceMs} ms) must not be longer than the shortest clip (${settings.minClipSec} s).`, 'Use a shorter --min-silence (the default is 300 ms).');
  }
  return settings;
}
