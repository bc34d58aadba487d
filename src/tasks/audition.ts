/** The settings of the worker's `audition` task: convert's, less the delivered format (its outputs are FLAC, played on its page). */
import { CONVERT_SETTINGS } from './convert.js';
import type { SettingsValues } from './settings.js';

const { format: _deliveredFormat, ...conversion } = CONVERT_SETTINGS;
export const AUDITION_SETTINGS = conversion;

export type AuditionSettings = SettingsValues<typeof AUDITION_SETTINGS>;
