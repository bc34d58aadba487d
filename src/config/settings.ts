/**
 * The user settings voicestudio knows: what each is for, its environment variable and its default, and how secrets
 * are shown. Kept free of the conf store and of zod so commands can describe settings without loading them (start-up
 * time); which values a setting accepts is in setting-values.ts.
 */

export const DEFAULT_ENDPOINT_BASE_URL = 'https://api.runpod.ai/v2';

export interface SettingSpec {
  description: string;
  env?: string;
  default?: string | number;
}

export const SETTINGS = {
  'endpoint-id': {
    description: 'RunPod Serverless endpoint id that runs the voicestudio worker',
    env: 'RUNPOD_ENDPOINT_ID',
  },
  'gpu-price-per-hour': {
    description: "USD per GPU hour of your endpoint, for cost estimates (the brief's RTX 4090 figure by default)",
    default: 0.34,
  },
  concurrency: {
    description: 'Conversions run at once by batch (default for --concurrency)',
    default: 4,
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

/** Shows enough of a secret to tell two keys apart, never enough to use it. */
export function maskSecret(secret: string): string {
  if (secret.length <= 8) return '****';
  return `${secret.slice(0, 3)}…${secret.slice(-4)}`;
}
