/** The worker's copy of the settings tables (gpu/vsworker/task_settings.json) is the tables' export, to the byte. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TASK_SETTINGS_FILE, taskSettingsJson } from '../../../src/tasks/export.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('task_settings.json', () => {
  it('is what the settings tables export', async () => {
    const committed = await readFile(path.join(root, TASK_SETTINGS_FILE), 'utf8');
    expect(committed === taskSettingsJson(), `${TASK_SETTINGS_FILE} differs from the settings tables in src/tasks/: run npm run export:settings and commit it`).toBe(true);
  });

  it('holds every setting the worker is sent, with its wire name', () => {
    const document = JSON.parse(taskSettingsJson()) as { version: number; tasks: Record<string, { settings: { name: string; wire: string; type: string }[] }> };
    expect(document.version).toBe(1);
    expect(Object.keys(document.tasks)).toEqual(['train', 'convert', 'separate']);
    expect(document.tasks.convert?.settings.map((s) => s.wire)).toEqual(['pitch', 'index_rate', 'protect', 'volume_envelope', 'f0_method']);
    expect(document.tasks.train?.settings.find((s) => s.name === 'f0Method')).toMatchObject({ wire: 'f0_method', type: 'choice', choices: ['rmvpe', 'crepe', 'crepe-tiny', 'fcpe'], default: 'rmvpe' });
  });
});
