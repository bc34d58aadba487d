/** The conversion settings `convert` and `batch` share, declared once. */
import { Option, type Command } from 'commander';
import { CONVERT_F0_METHODS, OUTPUT_FORMATS } from '../../tasks/choices.js';
import type { ConvertSettings } from '../../workflows/convert.js';
import { integerInRange, numberInRange } from './options.js';

/** What commander parses from addConversionOptions. */
export interface ConversionCliOptions {
  pitch: number;
  indexRate: number;
  protect: number;
  volumeEnvelope: number;
  f0Method: ConvertSettings['f0Method'];
  format: ConvertSettings['format'];
}

export function addConversionOptions(command: Command, formatHelp: string): Command {
  return command
    .addOption(new Option('--pitch <semitones>', 'transpose').argParser(integerInRange(-24, 24)).default(0))
    .addOption(new Option('--index-rate <0..1>', 'how much of the training voice the index pulls in').argParser(numberInRange(0, 1)).default(0.3))
    .addOption(new Option('--protect <0..0.5>', 'keeps breaths and consonants (0.5 = off)').argParser(numberInRange(0, 0.5)).default(0.33))
    .addOption(new Option('--volume-envelope <0..1>', '1 keeps the converted loudness; lower follows the input').argParser(numberInRange(0, 1)).default(1))
    .addOption(new Option('--f0-method <method>', 'pitch extraction').choices(CONVERT_F0_METHODS).default('rmvpe'))
    .addOption(new Option('--format <format>', formatHelp).choices(OUTPUT_FORMATS).default('wav'));
}
