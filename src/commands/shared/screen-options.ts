/** The speaker screen's options, shared by `screen` and `train --screen`. */
import { Option, type Command, type OptionValues } from '@commander-js/extra-typings';
import { SCREEN_THRESHOLD } from '../../workflows/screen-plan.js';
import { numberInRange } from './options.js';

export function screenOptions<Args extends unknown[], Opts extends OptionValues, GlobalOpts extends OptionValues>(command: Command<Args, Opts, GlobalOpts>) {
  return command
    .addOption(new Option('--reference <files...>', "recordings of the singer alone: their voice is the reference (default: the largest group of like-sounding singing clips)"))
    .addOption(new Option('--reference-source <ids...>', "sources (ids or paths) that are the singer alone: their clips' voice is the reference"))
    .addOption(
      new Option('--threshold <x>', `cosine similarity to the reference below which a clip is excluded (${SCREEN_THRESHOLD.min}–${SCREEN_THRESHOLD.max})`)
        .argParser(numberInRange(SCREEN_THRESHOLD.min, SCREEN_THRESHOLD.max))
        .default(SCREEN_THRESHOLD.default as number),
    );
}
