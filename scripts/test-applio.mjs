#!/usr/bin/env node
// Opt-in: the GPU worker against a real Applio 3.6.4 on the CPU (gpu/tests/applio_real/suite.py).
//   npm run test:applio -- --applio <checkout> [--python <its python>] [--keep]
// Without an Applio (no --applio, no VOICESTUDIO_APPLIO_DIR) it prints one line and passes.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { locateFfmpeg } from '../dist/audio/ffmpeg.js';

const USAGE = 'npm run test:applio -- --applio DIR [--python PYTHON] [--keep]';
let values;
try {
  ({ values } = parseArgs({
    options: { applio: { type: 'string' }, python: { type: 'string' }, keep: { type: 'boolean' } },
  }));
} catch (error) {
  console.error(`error: ${error.message}\n  → Usage: ${USAGE}`);
  process.exit(2);
}

const applio = values.applio ?? process.env.VOICESTUDIO_APPLIO_DIR;
if (!applio) {
  console.log(`test:applio skipped: no Applio given (${USAGE}, or set VOICESTUDIO_APPLIO_DIR)`);
  process.exit(0);
}

const env = { ...process.env, VOICESTUDIO_APPLIO_DIR: path.resolve(applio) };
const applioPython = values.python ?? process.env.VOICESTUDIO_APPLIO_PYTHON;
// A path is made absolute (the suite runs in gpu/); a bare command is looked up on PATH.
if (applioPython) env.VOICESTUDIO_APPLIO_PYTHON = applioPython.includes('/') ? path.resolve(applioPython) : applioPython;
if (values.keep) env.VOICESTUDIO_APPLIO_KEEP = '1';
try {
  const tools = await locateFfmpeg(env);
  env.FFMPEG_PATH = tools.ffmpeg.path;
  env.FFPROBE_PATH = tools.ffprobe.path;
} catch {
  // The suite names what is missing.
}

const gpuDir = fileURLToPath(new URL('../gpu/', import.meta.url));
const python = process.env.PYTHON ?? 'python3';
const result = spawnSync(python, ['-m', 'unittest', '-v', 'tests.applio_real.suite'], { stdio: 'inherit', env, cwd: gpuDir });
if (result.error) {
  console.error(`error: could not run ${python}: ${result.error.message}\n  → Install Python 3.11+ or set PYTHON.`);
  process.exitCode = 1;
} else {
  process.exitCode = result.status ?? 1;
}
