import { describe, expect, it } from 'vitest';
import { parseSetting } from '../../../src/config/setting-values.js';
import { maskSecret, SETTING_KEYS, SETTINGS, type SettingSpec } from '../../../src/config/settings.js';
import { UsageError } from '../../../src/errors.js';

function usageError(action: () => unknown): UsageError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error('expected a usage error');
}

describe('settings', () => {
  it('parses and checks values, naming the setting', () => {
    expect(parseSetting('gpu-price-per-hour', '0.69')).toBe(0.69);
    expect(parseSetting('endpoint-id', ' abc-123 ')).toBe('abc-123');
    expect(parseSetting('concurrency', ' 8 ')).toBe(8);
    expect(() => parseSetting('concurrency', '0')).toThrow(/concurrency: "0" is not valid/);
    expect(() => parseSetting('endpoint-id', 'a/b', 'RUNPOD_ENDPOINT_ID')).toThrow(/RUNPOD_ENDPOINT_ID \(endpoint-id\)/);
  });

  it.each([
    ['concurrency', '65', 'concurrency: "65" is not valid: expected a whole number from 1 to 64.', 'See: voicestudio config list'],
    ['gpu-price-per-hour', '-1', 'gpu-price-per-hour: "-1" is not valid: expected a price between 0 and 100 USD per hour.', 'See: voicestudio config list'],
    ['endpoint-id', 'x'.repeat(65), `endpoint-id: "${'x'.repeat(65)}" is not valid: an endpoint id is 1 to 64 letters, digits, "-" and "_".`, 'See: voicestudio config list'],
    ['concurrency', 'many', 'concurrency: "many" is not a whole number.', 'Example: voicestudio config set concurrency 4'],
    ['concurrency', '2.5', 'concurrency: "2.5" is not a whole number.', 'Example: voicestudio config set concurrency 4'],
    ['gpu-price-per-hour', '', 'gpu-price-per-hour: "" is not a number.', 'Example: voicestudio config set gpu-price-per-hour 0.34'],
    ['gpu-price-per-hour', 'Infinity', 'gpu-price-per-hour: "Infinity" is not a number.', 'Example: voicestudio config set gpu-price-per-hour 0.34'],
  ] as const)('%s "%s" is refused with what to do', (key, raw, message, suggestion) => {
    const error = usageError(() => parseSetting(key, raw));
    expect(error.message).toBe(message);
    expect(error.suggestion).toBe(suggestion);
  });

  it('has defaults its own checks accept', () => {
    for (const key of SETTING_KEYS) {
      const spec: SettingSpec = SETTINGS[key];
      if (spec.default !== undefined) expect(parseSetting(key, String(spec.default))).toBe(spec.default);
    }
  });

  it('masks secrets', () => {
    expect(maskSecret('rpa_ABCDEFGHIJKL1234')).toBe('rpa…1234');
    expect(maskSecret('short')).toBe('****');
  });
});
