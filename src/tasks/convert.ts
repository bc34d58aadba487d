/** The settings of the worker's `convert` task, and the output format delivered here. */
import { defineSettings, type SettingsValues } from './settings.js';

export const CONVERT_SETTINGS = defineSettings({
  pitch: { type: 'integer', flag: '--pitch <semitones>', wire: 'pitch', plan: 'pitch', min: -24, max: 24, default: 0, help: 'transpose' },
  indexRate: { type: 'number', flag: '--index-rate <0..1>', wire: 'index_rate', plan: 'indexRate', min: 0, max: 1, default: 0.3, help: 'how much of the training voice the index pulls in' },
  protect: { type: 'number', flag: '--protect <0..0.5>', wire: 'protect', plan: 'protect', min: 0, max: 0.5, default: 0.33, help: 'keeps breaths and consonants (0.5 = off)' },
  volumeEnvelope: { type: 'number', flag: '--volume-envelope <0..1>', wire: 'volume_envelope', plan: 'volumeEnvelope', min: 0, max: 1, default: 1, help: '1 keeps the converted loudness; lower follows the input' },
  f0Method: { type: 'choice', flag: '--f0-method <method>', wire: 'f0_method', plan: 'f0Method', choices: ['rmvpe', 'fcpe', 'crepe', 'crepe-tiny'], default: 'rmvpe', help: 'pitch extraction' },
  // Not sent: the worker always returns a FLAC master, and every format is encoded here from it.
  format: { type: 'choice', flag: '--format <format>', plan: 'format', choices: ['wav', 'flac', 'mp3'], default: 'wav', help: 'output format' },
});

export type ConvertSettings = SettingsValues<typeof CONVERT_SETTINGS>;
export const OUTPUT_FORMATS = CONVERT_SETTINGS.format.choices;
