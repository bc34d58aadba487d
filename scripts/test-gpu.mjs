#!/usr/bin/env node
// Runs the GPU worker's unittest suite with the same FFmpeg the CLI would use, so the worker's conversions
// are tested on machines without a system FFmpeg too, in the Python environment of gpu/requirements-test.txt
// (the real runpod SDK; built on first use by scripts/gpu-venv.mjs). PYTHON, when set, is used instead.
import { spawnSync } from 'node:child_process';
import { locateFfmpeg } from '../dist/audio/ffmpeg.js';
import { ensureGpuVenv, SETUP_HINT } from './gpu-venv.mjs';

const env = { ...process.env };
try {
  const tools = await locateFfmpeg(env);
  env.FFMPEG_PATH = tools.ffmpeg.path;
} catch {
  // No FFmpeg at all: the worker tests that need it skip themselves with a reason.
}
let python = process.env.PYTHON;
if (python === undefined) {
  try {
    python = ensureGpuVenv();
  } catch (error) {
    console.error(`error: no Python environment for the GPU worker tests: ${error.message}\n  → ${SETUP_HINT}`);
    process.exit(1);
  }
}
const result = spawnSync(python, ['-m', 'unittest', 'discover', '-s', 'gpu/tests', '-t', 'gpu'], { stdio: 'inherit', env });
if (result.error) {
  console.error(`error: could not run ${python}: ${result.error.message}\n  → ${SETUP_HINT}`);
  process.exitCode = 1;
} else {
  process.exitCode = result.status ?? 1;
}
