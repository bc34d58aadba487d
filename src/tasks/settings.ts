/**
 * The shape of a settings table: each setting of a task declared once, with its type, range or choices, default,
 * command-line flag, wire name (its key in the worker's input) and plan-file key. The tables (train.ts, convert.ts,
 * separate.ts, mix.ts) build the commander options (commands/shared/setting-options.ts), the plan-file checks
 * (plan.ts, with the zod schemas of schema.ts), the worker input (wire.ts) and the JSON the worker validates with
 * (export.ts). Light on purpose (no zod here): every command declares its options from here at start-up.
 */
interface Common {
  /** The command-line flag with its argument, e.g. '--index-rate <0..1>'; absent for a setting only the worker sees. */
  flag?: string;
  /** The key in the worker's input; absent for a setting that stays on this machine. */
  wire?: string;
  /** The key in a batch plan file's defaults or track (inside "mix" for a mix setting); absent when a plan cannot set it. */
  plan?: string;
  help: string;
}

export interface IntegerSetting extends Common {
  type: 'integer';
  min: number;
  max: number;
  default?: number;
}

export interface NumberSetting extends Common {
  type: 'number';
  min: number;
  max: number;
  default?: number;
}

export interface BooleanSetting extends Common {
  type: 'boolean';
  default: boolean;
}

export interface ChoiceSetting<C extends string | number = string | number> extends Common {
  type: 'choice';
  choices: readonly C[];
  default?: C;
  /**
   * When the command line leaves the setting out, it is taken from elsewhere (this says where, for --help), and
   * `default` is only the worker's fallback.
   */
  inherited?: string;
}

export interface StringSetting extends Common {
  type: 'string';
  default?: string;
}

export type Setting = IntegerSetting | NumberSetting | BooleanSetting | ChoiceSetting | StringSetting;
export type SettingsTable = Readonly<Record<string, Setting>>;

/** Declares a table; `const` keeps its choices and keys literal, so the types below are exact. */
export function defineSettings<const T extends SettingsTable>(table: T): T {
  return table;
}

/** The value a setting holds. */
export type ValueOf<S> = S extends { type: 'integer' | 'number' } ? number : S extends { type: 'boolean' } ? boolean : S extends { choices: readonly (infer C)[] } ? C : string;

/** A complete set of a table's values, keyed by setting name. */
export type SettingsValues<T extends SettingsTable> = { -readonly [K in keyof T]: ValueOf<T[K]> };

/** The settings of a table that go to the worker, keyed by their wire names. */
export type WireValues<T extends SettingsTable> = { -readonly [K in keyof T as T[K] extends { wire: infer W extends string } ? W : never]: ValueOf<T[K]> };

/** The names of a table's settings that a plan file can set. */
export type PlanNames<T extends SettingsTable> = { [K in keyof T]: T[K] extends { plan: string } ? K : never }[keyof T];

/** What a value must be, as the plan file's and the worker's messages say it. */
export function expectation(setting: Setting): string {
  switch (setting.type) {
    case 'integer':
      return `must be a whole number from ${setting.min} to ${setting.max}`;
    case 'number':
      return `must be a number from ${setting.min} to ${setting.max}`;
    case 'boolean':
      return 'must be true or false';
    case 'choice':
      return `must be one of ${setting.choices.map((c) => JSON.stringify(c)).join(', ')}`;
    case 'string':
      return 'must be a non-empty string';
  }
}

/** The wire form of a table's values: each setting that goes to the worker under its wire name. */
export function wireValues<T extends SettingsTable>(table: T, values: SettingsValues<T>): WireValues<T> {
  const wire: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(table)) if (setting.wire !== undefined) wire[setting.wire] = values[name];
  return wire as WireValues<T>;
}

/** Every setting of a table at its default; a setting without one is an error in the table, named here. */
export function defaultValues<T extends SettingsTable>(table: T): SettingsValues<T> {
  const values: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(table)) {
    if (setting.default === undefined) throw new Error(`settings table: ${name} has no default`);
    values[name] = setting.default;
  }
  return values as SettingsValues<T>;
}
