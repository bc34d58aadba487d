#!/usr/bin/env node
// Writes gpu/vsworker/task_settings.json from the settings tables in src/tasks/ (run on dist/: npm run export:settings builds first).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TASK_SETTINGS_FILE, taskSettingsJson } from '../dist/tasks/export.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
writeFileSync(path.join(root, TASK_SETTINGS_FILE), taskSettingsJson());
console.log(`wrote ${TASK_SETTINGS_FILE}`);
