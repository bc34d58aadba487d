#!/usr/bin/env node
// Runs the GPU worker's stdlib unittest suite with the same FFmpeg the CLI would use, so the
// worker's conversions are tested on machines without a system FFmpeg too.
import { spawnSync } from 'node:child_process';
import { locateFfmpeg } from '../dist/pipeline/ffmpeg.js';

const env = { ...process.env };
try {
  const tools = await locateFfmpeg(env);
  env.FFMPEG_PATH = tools.ffmpeg.path;
} catch {
  // No FFmpeg at all: the worker tests that need it skip themselves with a reason.
}
const python = process.env.PYTHON ?? 'python3';
const result = spawnSync(python, ['-m', 'unittest', 'discover', '-s', 'gpu/tests', '-t', 'gpu'], { stdio: 'inherit', env });
if (result.error) {
  console.error(`error: could not run ${python}: ${result.error.message}\n  → Install Python 3.11+ or set PYTHON.`);
  process.exitCode = 1;
} else {
  process.exitCode = result.status ?? 1;
}
