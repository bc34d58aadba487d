/**
 * The settings the worker receives, as JSON: gpu/vsworker/task_settings.json, which the worker validates its input
 * with (task_settings.py). `npm run export:settings` writes it; a test fails when the committed file differs.
 */
import { CONVERT_SETTINGS } from './convert.js';
import { SEPARATE_SETTINGS } from './separate.js';
import type { Setting, SettingsTable } from './settings.js';
import { TRAIN_SETTINGS } from './train.js';

/** Where the JSON lives, relative to the repository (and package) root. */
export const TASK_SETTINGS_FILE = 'gpu/vsworker/task_settings.json';

interface ExportedSetting {
  name: string;
  wire: string;
  type: Setting['type'];
  min?: number;
  max?: number;
  choices?: readonly (string | number)[];
  default?: string | number | boolean;
  help: string;
}

function exported(table: SettingsTable): { settings: ExportedSetting[] } {
  const settings: ExportedSetting[] = [];
  for (const [name, setting] of Object.entries(table)) {
    if (setting.wire === undefined) continue;
    const rule = setting.type === 'integer' || setting.type === 'number' ? { min: setting.min, max: setting.max } : setting.type === 'choice' ? { choices: setting.choices } : {};
    settings.push({ name, wire: setting.wire, type: setting.type, ...rule, ...(setting.default === undefined ? {} : { default: setting.default }), help: setting.help });
  }
  return { settings };
}

/** The file's text: stable key order, two-space indent, final newline. */
export function taskSettingsJson(): string {
  const document = { version: 1, tasks: { train: exported(TRAIN_SETTINGS), convert: exported(CONVERT_SETTINGS), separate: exported(SEPARATE_SETTINGS) } };
  return `${JSON.stringify(document, null, 2)}\n`;
}
