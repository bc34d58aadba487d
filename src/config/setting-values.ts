/**
 * Which values each user setting accepts, as zod schemas, and the parsing of a value typed on the command line or
 * found in an environment variable. Loaded with the conf store, when a setting is read or written.
 */
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { SETTINGS, type SettingKey, type SettingSpec } from './settings.js';

const PRICE = 'expected a price between 0 and 100 USD per hour';
const CONCURRENCY = 'expected a whole number from 1 to 64';

/**
 * Numbers are parsed from the text first: a word where a number belongs is "not a (whole) number". Every other issue
 * carries the message shown after "is not valid:".
 */
export const SETTING_VALUES = {
  'endpoint-id': z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'an endpoint id is 1 to 64 letters, digits, "-" and "_"' }),
  'gpu-price-per-hour': z.number().min(0, { error: PRICE }).max(100, { error: PRICE }),
  concurrency: z.int().min(1, { error: CONCURRENCY }).max(64, { error: CONCURRENCY }),
} satisfies Record<SettingKey, z.ZodString | z.ZodNumber>;

/** `raw` as `key`'s value; `envVar` names the variable it came from, for the error message. */
export function parseSetting(key: SettingKey, raw: string, envVar?: string): string | number {
  const schema: z.ZodString | z.ZodNumber = SETTING_VALUES[key];
  const where = envVar === undefined ? key : `${envVar} (${key})`;
  const text = raw.trim();
  const result = schema instanceof z.ZodNumber ? schema.safeParse(text === '' ? Number.NaN : Number(text)) : schema.safeParse(text);
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  if (schema instanceof z.ZodNumber && issue?.code === 'invalid_type') {
    const setting: SettingSpec = SETTINGS[key];
    throw new UsageError(`${where}: "${raw}" is not a ${schema.isInt ? 'whole number' : 'number'}.`, `Example: voicestudio config set ${key} ${setting.default ?? 1}`);
  }
  throw new UsageError(`${where}: "${raw}" is not valid: ${issue?.message ?? 'not accepted'}.`, 'See: voicestudio config list');
}
