/** File helpers shared by the pipeline: hashing, project-relative paths, atomic placement. */
import { createHash } from 'node:crypto';
import { access, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * Hashes in a worker thread so the main thread can analyse audio meanwhile. The worker is inline
 * (eval) so it runs the same from dist/ and from the TypeScript sources under test.
 */
const HASH_WORKER_SOURCE = `
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const hash = createHash('sha256');
const buffer = Buffer.allocUnsafe(4 << 20);
const fd = openSync(workerData.file, 'r');
try {
  for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, n));
} finally {
  closeSync(fd);
}
parentPort.postMessage(hash.digest('hex'));
`;

export async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  signal?.throwIfAborted();
  const worker = new Worker(HASH_WORKER_SOURCE, { eval: true, workerData: { file } });
  const onAbort = (): void => void worker.terminate();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await new Promise<string>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(signal?.aborted ? signal.reason : new Error(`hashing ${file} stopped (exit ${code})`)));
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

export async function pathExists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

export function sha256Text(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A path as stored in the manifest: relative (with "/") when inside the project, else absolute. */
export function projectRelative(projectDir: string, file: string): string {
  const relative = path.relative(projectDir, file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? path.resolve(file) : relative.split(path.sep).join('/');
}

export function fromProject(projectDir: string, stored: string): string {
  return path.isAbsolute(stored) ? stored : path.join(projectDir, ...stored.split('/'));
}

/** A sibling temp name, so the final rename stays on one filesystem and is atomic. */
export function tempSibling(file: string): string {
  return `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Whether a process with this pid runs on this machine (EPERM: it runs, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the temp siblings of `file` (tempSibling's names) that a process no longer running left behind, e.g. after a kill -9. */
export async function removeDeadTemps(file: string): Promise<void> {
  const prefix = `${path.basename(file)}.tmp-`;
  const names = await readdir(path.dirname(file)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (Number.isInteger(pid) && pid !== process.pid && !processAlive(pid)) await rm(path.join(path.dirname(file), name), { force: true });
  }
}

/** Moves a finished temp file into place; on failure the temp file is removed, never left half-visible. */
export async function commitTemp(temp: string, final: string): Promise<void> {
  try {
    await rename(temp, final);
  } catch (error) {
    await rm(temp, { force: true, recursive: true });
    throw error;
  }
}
