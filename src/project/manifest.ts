/**
 * The project manifest: `<project>/voicestudio.json`, the one record of what a project holds. This module reads it
 * and writes it; what a valid manifest is lives in manifest-schema.ts (with its migrations), the lock that serialises
 * writers in manifest-lock.ts.
 *
 * Reads need no lock: every write replaces the file by an atomic rename, so a reader sees a whole old file or a whole
 * new one. Writes go through `updateManifest`, which holds the cross-process lock for the read-modify-write section
 * only. A manifest that fails validation is reported and never rewritten.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ErrorCode, UsageError, VoicestudioError } from '../errors.js';
import { sweepAbandonedTemps, tempSiblingOwner, writeAtomically } from '../util/files.js';
import { MANIFEST_FILE, manifestPath, MODELS_DIR, workDir } from './layout.js';
import { systemClock, withManifestLock, type LockOptions } from './manifest-lock.js';
import type { Manifest } from './types.js';

/** The clock also dates createdAt and updatedAt. */
export type UpdateManifestOptions = LockOptions;

/** The schema pulls in zod: loaded when a manifest is first read, so commands that never read one start faster. */
const loadSchema = () => import('./manifest-schema.js');

/** The project's manifest, migrated to the current version; undefined when the project has none yet. */
export async function readManifest(projectDir: string): Promise<Manifest | undefined> {
  const file = manifestPath(projectDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    if (errorCode(error) === 'ENOTDIR') throw notAFolderError(projectDir);
    throw error;
  }
  const schema = await loadSchema();
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw schema.damagedManifestError(file, `it is not valid JSON (${(error as Error).message})`, error);
  }
  return schema.migrateManifest(raw, file);
}

/**
 * For commands that need a project already there: a folder that does not exist is named as such (an
 * `ingest` of it would fail too), a file given for the folder is a usage error.
 */
export async function requireProjectFolder(projectDir: string): Promise<void> {
  const info = await stat(projectDir).catch((error: unknown) => {
    if (errorCode(error) === 'ENOENT') return undefined;
    if (errorCode(error) === 'ENOTDIR') throw notAFolderError(projectDir);
    throw error;
  });
  if (info === undefined) {
    throw new VoicestudioError(ErrorCode.ProjectMissing, `${projectDir} does not exist.`, {
      subject: projectDir,
      suggestion: 'Check the path: give the project folder, the one you took your recordings into with voicestudio ingest <folder>.',
    });
  }
  if (!info.isDirectory()) throw notAFolderError(projectDir);
}

function notAFolderError(projectDir: string): UsageError {
  return new UsageError(
    `${projectDir} is not a folder: a project is the folder that holds ${MANIFEST_FILE}.`,
    `Give the project folder instead, e.g. ${dirname(projectDir)}.`,
  );
}

/**
 * Read, change and write the manifest under the project lock. `mutate` changes the manifest in place;
 * if it throws, nothing is written. Keep `mutate` short (no FFmpeg, no network): other voicestudio
 * processes wait for it, and a lock held past LOCK_MAX_AGE_MS is treated as abandoned. It must not call
 * updateManifest itself.
 */
export async function updateManifest<T>(
  projectDir: string,
  mutate: (manifest: Manifest) => T | Promise<T>,
  options: UpdateManifestOptions = {},
): Promise<{ manifest: Manifest; result: T }> {
  const clock = options.clock ?? systemClock;
  const file = manifestPath(projectDir);
  await mkdir(workDir(projectDir), { recursive: true });
  await sweepOnce(projectDir);
  const schema = await loadSchema();
  return withManifestLock(projectDir, options, async () => {
    const manifest = (await readManifest(projectDir)) ?? schema.emptyManifest(new Date(clock.now()));
    const result = await mutate(manifest);
    manifest.updatedAt = new Date(clock.now()).toISOString();
    const written = schema.manifestAsWritten(manifest, file);
    await writeAtomically(file, `${JSON.stringify(written, null, 2)}\n`, { durable: true, temp: manifestTemp(file) });
    return { manifest: written, result };
  });
}

/** Projects whose abandoned temp files this process has swept already. */
const swept = new Set<string>();

/**
 * The first time a process writes to a project, it removes the temp files killed processes left there: staged
 * clips, downloads, conversions, incoming sources (all named by tempSibling, under WORK_DIR and models/) and
 * half-written manifests. Best effort: a temp file that cannot be removed now is tried again next time.
 */
async function sweepOnce(projectDir: string): Promise<void> {
  const key = resolve(projectDir);
  if (swept.has(key)) return;
  swept.add(key);
  await Promise.all([
    sweepAbandonedTemps(workDir(projectDir), tempSiblingOwner, 2),
    sweepAbandonedTemps(join(projectDir, MODELS_DIR), tempSiblingOwner, 1),
    sweepAbandonedTemps(projectDir, manifestTempOwner, 0),
  ]).catch(() => {});
}

/** The manifest's temp file, `.voicestudio.json.<pid>.<uuid>.tmp`, in the project folder: sweepOnce knows it by this name. */
function manifestTemp(file: string): string {
  return join(dirname(file), `.${MANIFEST_FILE}.${process.pid}.${randomUUID()}.tmp`);
}

const MANIFEST_TEMP = new RegExp(`^\\.${MANIFEST_FILE.replaceAll('.', '\\.')}\\.(\\d+)\\.[0-9a-f-]{36}\\.tmp$`);

function manifestTempOwner(name: string): number | undefined {
  const match = MANIFEST_TEMP.exec(name);
  return match === null ? undefined : Number(match[1]);
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
