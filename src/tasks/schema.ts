/** The zod schema of a setting's value (kept apart from the tables, so that declaring options loads no zod). */
import { z } from 'zod';
import { expectation, type Setting, type ValueOf } from './settings.js';

function schemaOf(setting: Setting): z.ZodType {
  const error = (issue: { input?: unknown }): string => `${expectation(setting)}, got ${JSON.stringify(issue.input) ?? 'nothing'}`;
  switch (setting.type) {
    case 'integer':
      return z.int({ error }).gte(setting.min, { error }).lte(setting.max, { error });
    case 'number':
      return z.number({ error }).gte(setting.min, { error }).lte(setting.max, { error });
    case 'boolean':
      return z.boolean({ error });
    case 'choice':
      return z.literal(setting.choices, { error });
    case 'string':
      return z.string({ error }).trim().min(1, { error });
  }
}

/** The zod schema of one setting's value; any failure says what is expected and what was given. */
export function settingSchema<S extends Setting>(setting: S): z.ZodType<ValueOf<S>> {
  return schemaOf(setting) as z.ZodType<ValueOf<S>>;
}
