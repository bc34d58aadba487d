/** File helpers shared by every layer: hashing, project-relative paths, atomic placement. */
import { createHash } from 'node:crypto';
import { access, open, readdir, rename, rm, stat } from 'node:fs/promises';
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

/** A sibling temp name, so the final rename stays on one filesystem and is atomic. It carries its owner's pid. */
export function tempSibling(file: string): string {
  return `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The pid in a name made by tempSibling; undefined for any other name. */
export function tempSiblingOwner(name: string): number | undefined {
  const match = /\.tmp-(\d+)-[a-z0-9]+$/.exec(name);
  return match === null ? undefined : Number(match[1]);
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH'; // EPERM: alive, but another user's
  }
}

/** A live owner's temp file this old is not its own any more: the pid was reused by another process. */
export const ABANDONED_TEMP_AGE_MS = 24 * 3_600_000;

/**
 * Removes temp files and folders a killed process left in `dir` (and its subfolders, `depth` levels down): those
 * whose owner (the pid `ownerOf` reads from the name) no longer runs, or that are older than a day. A running
 * process's temp file is never touched, however long its upload or download takes.
 */
export async function sweepAbandonedTemps(dir: string, ownerOf: (name: string) => number | undefined, depth: number): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    const owner = ownerOf(entry.name);
    if (owner === undefined) {
      if (entry.isDirectory() && depth > 0) await sweepAbandonedTemps(full, ownerOf, depth - 1);
      continue;
    }
    if (owner === process.pid) continue;
    if (isProcessAlive(owner)) {
      const info = await stat(full).catch(() => undefined);
      if (info === undefined || Date.now() - info.mtimeMs < ABANDONED_TEMP_AGE_MS) continue;
    }
    await rm(full, { recursive: true, force: true });
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

export interface WriteAtomicallyOptions {
  /** Flush the data and the rename to the disk before returning, so the new file survives a power cut. */
  durable?: boolean;
  /** The temp file to write first; a tempSibling of the target unless a caller's sweep looks for another name. */
  temp?: string;
}

/**
 * Replaces `file` whole or not at all: `data` goes to a temp sibling that is renamed over `file`, so a reader
 * sees the old file or the new one, never half of one. On failure the temp file is removed and `file` is as it was.
 */
export async function writeAtomically(file: string, data: string | Uint8Array, options: WriteAtomicallyOptions = {}): Promise<void> {
  await produceAtomically(
    file,
    async (temp) => {
      const handle = await open(temp, 'wx');
      try {
        await handle.writeFile(data);
        if (options.durable === true) await handle.sync();
      } finally {
        await handle.close();
      }
    },
    options.temp,
  );
  if (options.durable === true) await syncDirectory(path.dirname(file));
}

/**
 * writeAtomically for a file something else writes (FFmpeg, a download, an archive): `produce` fills the temp path it
 * is given, which then replaces `file`; if `produce` or the rename fails, the temp file is removed. Returns what
 * `produce` returns.
 */
export async function produceAtomically<T>(file: string, produce: (temp: string) => Promise<T>, temp: string = tempSibling(file)): Promise<T> {
  try {
    const result = await produce(temp);
    await rename(temp, file);
    return result;
  } catch (error) {
    await rm(temp, { force: true, recursive: true });
    throw error;
  }
}

/** Makes a rename durable. Some platforms (Windows) cannot open or fsync a directory: best effort. */
async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // The rename has happened; only its durability across a power cut is weaker here.
  }
}
