/**
 * The user settings voicestudio knows, how their values are checked, and how secrets are shown. Kept free of
 * the conf store so commands can describe settings without loading it (start-up time).
 */
import { UsageError } from '../errors.js';

export const DEFAULT_ENDPOINT_BASE_URL = 'https://api.runpod.ai/v2';

export interface SettingSpec {
  description: string;
  type: 'string' | 'number' | 'integer';
  env?: string;
  default?: string | number;
  /** Returns an error message when the value is not acceptable. */
  check?: (value: string | number) => string | undefined;
}

export const SETTINGS = {
  'endpoint-id': {
    description: 'RunPod Serverless endpoint id that runs the voicestudio worker',
    type: 'string',
    env: 'RUNPOD_ENDPOINT_ID',
    check: (v) => (/^[A-Za-z0-9_-]{1,64}$/.test(String(v)) ? undefined : 'an endpoint id is letters, digits, "-" and "_" only'),
  },
  'gpu-price-per-hour': {
    description: "USD per GPU hour of your endpoint, for cost estimates (the brief's RTX 4090 figure by default)",
    type: 'number',
    default: 0.34,
    check: (v) => (Number(v) >= 0 && Number(v) <= 100 ? undefined : 'expected a price between 0 and 100 USD per hour'),
  },
  concurrency: {
    description: 'Conversions run at once by batch (default for --concurrency)',
    type: 'integer',
    default: 4,
    check: (v) => (Number(v) >= 1 && Number(v) <= 64 ? undefined : 'expected a whole number from 1 to 64'),
  },
} satisfies Record<string, SettingSpec>;

export type SettingKey = keyof typeof SETTINGS;
export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];
/** Not stored in conf: kept in the credentials file. */
export const API_KEY_SETTING = 'api-key' as const;

export type ValueSource = 'env' | 'config' | 'default' | 'file' | 'unset';

export interface ResolvedSetting {
  key: string;
  value: string | number | undefined;
  source: ValueSource;
  description: string;
}

export function isSettingKey(key: string): key is SettingKey {
  return Object.hasOwn(SETTINGS, key);
}

export function parseSetting(key: SettingKey, raw: string, envVar?: string): string | number {
  const spec: SettingSpec = SETTINGS[key];
  const where = envVar === undefined ? key : `${envVar} (${key})`;
  let value: string | number = raw.trim();
  if (spec.type !== 'string') {
    const number = Number(value);
    if (value === '' || !Number.isFinite(number) || (spec.type === 'integer' && !Number.isInteger(number))) {
      throw new UsageError(`${where}: "${raw}" is not a ${spec.type === 'integer' ? 'whole number' : 'number'}.`, `Example: voicestudio config set ${key} ${spec.default ?? 1}`);
    }
    value = number;
  }
  const problem = spec.check?.(value);
  if (problem !== undefined) throw new UsageError(`${where}: "${raw}" is not valid: ${problem}.`, `See: voicestudio config list`);
  return value;
}

/** Shows enough of a secret to tell two keys apart, never enough to use it. */
export function maskSecret(secret: string): string {
  if (secret.length <= 8) return '****';
  return `${secret.slice(0, 3)}…${secret.slice(-4)}`;
}
