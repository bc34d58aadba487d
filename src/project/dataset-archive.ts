/**
 * The archive of clips a worker job takes (train's dataset, the speaker screen's clips): an uncompressed tar (FLAC is
 * compressed already) named by what it holds, so the same members give the same file, the same bytes and the same
 * blob on the worker's volume: a dataset the screen uploaded is the one training then uses, nothing sent twice.
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { sha256File, sha256Text } from '../util/files.js';
import { datasetsDir } from './layout.js';
import { writeTar } from './tar.js';

export interface ArchiveMember {
  /** The name inside the archive, e.g. `clips/<segment id>.flac`. */
  name: string;
  file: string;
  /** The file's content; with the names it decides the archive. */
  sha256: string;
}

export interface PackedArchive {
  archive: string;
  sha256: string;
  bytes: number;
}

/** The name a clip has in every archive: the worker and the train task's `exclude` list speak of it by this. */
export const clipMemberName = (segmentId: string): string => `clips/${segmentId}.flac`;

/** What decides an archive: its members' names and contents, in order. */
export function archiveKey(members: readonly Pick<ArchiveMember, 'name' | 'sha256'>[]): string {
  return sha256Text(members.map((m) => `${m.name}:${m.sha256}`).join('\n')).slice(0, 16);
}

/** The members packed in a tar under the project's datasets folder, reused when it is there already. */
export async function packArchive(projectDir: string, members: readonly ArchiveMember[], signal?: AbortSignal): Promise<PackedArchive> {
  const dir = datasetsDir(projectDir);
  await mkdir(dir, { recursive: true });
  const name = `clips-${archiveKey(members)}.tar`;
  const archive = path.join(dir, name);
  if ((await stat(archive).catch(() => undefined)) === undefined) {
    // Older archives of this project are superseded: the clips they hold changed.
    for (const old of await readdir(dir)) if (old.startsWith('clips-') && old !== name) await rm(path.join(dir, old), { force: true });
    await writeTar(archive, members.map((m) => ({ name: m.name, file: m.file })), signal === undefined ? {} : { signal });
  }
  return { archive, sha256: await sha256File(archive, signal), bytes: (await stat(archive)).size };
}
