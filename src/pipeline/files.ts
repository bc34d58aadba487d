/** File helpers shared by the pipeline: hashing, project-relative paths, atomic placement. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';

export async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20, ...(signal === undefined ? {} : { signal }) })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
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

/** Moves a finished temp file into place; on failure the temp file is removed, never left half-visible. */
export async function commitTemp(temp: string, final: string): Promise<void> {
  try {
    await rename(temp, final);
  } catch (error) {
    await rm(temp, { force: true, recursive: true });
    throw error;
  }
}
