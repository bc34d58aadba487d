/** Command-line options built from a settings table (tasks/): each flag, range, choice list and default declared once there. */
import { InvalidArgumentError, Option, type Command, type OptionValues } from '@commander-js/extra-typings';
import type { Setting, SettingsTable, ValueOf } from '../../tasks/settings.js';
import { integerInRange, numberInRange } from './options.js';

/** What commander parses for each setting that has a flag: undefined when it has no default, or takes it from elsewhere. */
export type SettingOptionValues<T extends SettingsTable> = {
  -readonly [K in keyof T as T[K] extends { flag: string } ? K : never]: T[K] extends { inherited: string } ? ValueOf<T[K]> | undefined : T[K] extends { default: unknown } ? ValueOf<T[K]> : ValueOf<T[K]> | undefined;
};

/** A choice among numbers: typed on the command line as text, held as the number (after .choices(), which lists them in --help). */
export function numberChoice<C extends number>(choices: readonly C[]): (raw: string) => C {
  return (raw: string) => {
    const value = choices.find((c) => String(c) === raw);
    if (value === undefined) throw new InvalidArgumentError(`Allowed choices are ${choices.join(', ')}.`);
    return value;
  };
}

function settingOption(flag: string, setting: Setting, help: string): Option {
  const option = new Option(flag, help);
  switch (setting.type) {
    case 'integer':
      option.argParser(integerInRange(setting.min, setting.max));
      break;
    case 'number':
      option.argParser(numberInRange(setting.min, setting.max));
      break;
    case 'choice':
      option.choices(setting.choices.map(String));
      // After choices(): the parser replaces its check, the help keeps listing the choices.
      if (setting.choices.every((c) => typeof c === 'number')) option.argParser(numberChoice(setting.choices.filter((c) => typeof c === 'number')));
      if (setting.inherited !== undefined) return option.default(undefined, setting.inherited);
      break;
    case 'boolean':
    case 'string':
      break;
  }
  return setting.default === undefined ? option : option.default(setting.default);
}

/**
 * Adds an option for each setting of `table` that has a flag, in the table's order; `help` replaces a setting's help
 * where a command says it differently.
 */
export function addSettingOptions<Args extends unknown[], Opts extends OptionValues, GlobalOpts extends OptionValues, T extends SettingsTable>(
  command: Command<Args, Opts, GlobalOpts>,
  table: T,
  help: { [K in keyof T]?: string } = {},
): Command<Args, Opts & SettingOptionValues<T>, GlobalOpts> {
  for (const [name, setting] of Object.entries(table)) {
    if (setting.flag === undefined) continue;
    const option = settingOption(setting.flag, setting, help[name] ?? setting.help);
    // The table's name is the key commander stores the value under: the typed options depend on it.
    if (option.attributeName() !== name) throw new Error(`settings table: ${setting.flag} is stored as ${option.attributeName()}, not ${name}`);
    command.addOption(option);
  }
  return command as Command<Args, Opts & SettingOptionValues<T>, GlobalOpts>;
}

/** A table's values from the parsed options, in the table's order; a setting left undefined (taken from elsewhere) is left out. */
export function settingValues<T extends SettingsTable>(table: T, options: SettingOptionValues<T>): SettingOptionValues<T> {
  const given: Record<string, unknown> = options;
  const values: Record<string, unknown> = {};
  for (const name of Object.keys(table)) if (given[name] !== undefined) values[name] = given[name];
  return values as SettingOptionValues<T>;
}
