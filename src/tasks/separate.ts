/** The settings of the worker's `separate` task: none a user chooses; the values voicestudio always asks for are declared here. */
import { defineSettings, type SettingsValues } from './settings.js';

export const SEPARATE_SETTINGS = defineSettings({
  stems: { type: 'choice', wire: 'stems', choices: ['both', 'vocals', 'instrumental'], default: 'both', help: 'which stems the worker returns' },
  outputFormat: { type: 'choice', wire: 'output_format', choices: ['flac', 'wav'], default: 'flac', help: 'format of the stems' },
});

export type SeparateSettings = SettingsValues<typeof SEPARATE_SETTINGS>;
