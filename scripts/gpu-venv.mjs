#!/usr/bin/env node
// The Python environment the GPU worker's tests run in: gpu/requirements-test.txt installed into a virtual
// environment under the user's cache folder, one per content of that file, so a changed file builds a new
// one and an unchanged file reuses it across clones and runs. `npm run setup:python` builds it and prints
// its interpreter; scripts/test-gpu.mjs builds it when it is missing.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REQUIREMENTS = path.join(ROOT, 'gpu', 'requirements-test.txt');
const PREFIX = 'gpu-test-venv-';
/** The worker and its tests need 3.11 (gpu/README.md); runpod 1.12.0 itself needs 3.10. */
const MIN_PYTHON = [3, 11];

export const SETUP_HINT =
  'It needs python3 3.11+ with venv, and PyPI: fix that and run `npm run setup:python`, or set PYTHON to a ' +
  'Python 3.11+ that has gpu/requirements-test.txt installed.';

function venvPython(dir) {
  return process.platform === 'win32' ? path.join(dir, 'Scripts', 'python.exe') : path.join(dir, 'bin', 'python');
}

/** Where the environment for the current gpu/requirements-test.txt lives. */
export function gpuVenvDir(env = process.env) {
  const hash = createHash('sha256').update(readFileSync(REQUIREMENTS)).digest('hex').slice(0, 16);
  const cache = env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(cache, 'voicestudio', PREFIX + hash);
}

function run(command, args, what) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error) throw new Error(`${what}: could not run ${command}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${what} failed (${command} exited ${result.status ?? result.signal})`);
}

/**
 * The interpreter of the environment, built first when it is missing. It is built in a temporary folder and
 * renamed into place only when complete, so an interrupted or concurrent build never leaves a half-made one.
 */
export function ensureGpuVenv({ log = (line) => console.error(line), env = process.env } = {}) {
  const dir = gpuVenvDir(env);
  const python = venvPython(dir);
  if (existsSync(python)) return python;

  const base = 'python3';
  const [major, minor] = MIN_PYTHON;
  run(base, ['-c', `import sys; sys.exit(0 if sys.version_info >= (${major}, ${minor}) else 1)`], `${base} ${major}.${minor} or newer`);
  log(`creating the Python environment for the GPU worker tests (once per version of gpu/requirements-test.txt): ${dir}`);
  mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    run(base, ['-m', 'venv', tmp], 'python3 -m venv');
    run(venvPython(tmp), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-input', '-r', REQUIREMENTS], 'pip install -r gpu/requirements-test.txt');
    try {
      renameSync(tmp, dir);
    } catch (error) {
      // Another run finished the same environment first: use that one.
      if (!existsSync(python)) throw error;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  // Environments of earlier versions of the file are no longer used.
  for (const name of readdirSync(path.dirname(dir))) {
    if (name.startsWith(PREFIX) && !name.includes('.tmp-') && name !== path.basename(dir)) {
      rmSync(path.join(path.dirname(dir), name), { recursive: true, force: true });
    }
  }
  return python;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    console.log(ensureGpuVenv());
  } catch (error) {
    console.error(`error: ${error.message}\n  → ${SETUP_HINT}`);
    process.exitCode = 1;
  }
}
