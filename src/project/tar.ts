/**
 * A streaming POSIX ustar writer for the training dataset archive.
 *
 * The output is deterministic (mode 0644, mtime 0, uid/gid 0, no user names): the same clips give the
 * same bytes and so the same sha256, which lets the blob store recognise a dataset it already has.
 * Headers match what python's tarfile writes in USTAR_FORMAT; the worker reads the archive with it.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { ErrorCode, VoicestudioError } from '../errors.js';
import { produceAtomically } from '../util/files.js';

export interface TarEntry {
  /** Relative POSIX path inside the archive. */
  name: string;
  /** The regular file whose bytes it holds. */
  file: string;
}

const BLOCK = 512;
const NAME_MAX = 100;
const PREFIX_MAX = 155;
/** The largest size an 11-digit octal field holds. */
const SIZE_MAX = 8 ** 11 - 1;
const COPY_BUFFER_BYTES = 1 << 20;

export async function writeTar(dest: string, entries: readonly TarEntry[], options: { signal?: AbortSignal } = {}): Promise<{ bytes: number }> {
  const headerNames = entries.map((entry) => splitUstarName(entry.name, dest));
  assertUniqueNames(entries, dest);
  return produceAtomically(dest, async (temp) => {
    const out = await open(temp, 'w');
    let bytes = 0;
    try {
      for (const [i, entry] of entries.entries()) {
        options.signal?.throwIfAborted();
        bytes = await appendEntry(out, bytes, entry, headerNames[i] as UstarName, options.signal);
      }
      await out.write(Buffer.alloc(2 * BLOCK), 0, 2 * BLOCK, bytes); // end-of-archive marker
      bytes += 2 * BLOCK;
    } finally {
      await out.close();
    }
    return { bytes };
  });
}

interface UstarName {
  name: Buffer;
  prefix: Buffer;
}

/** Writes header, contents and padding at `position`; returns the position after them. */
async function appendEntry(out: FileHandle, position: number, entry: TarEntry, headerName: UstarName, signal: AbortSignal | undefined): Promise<number> {
  const stats = await stat(entry.file);
  if (!stats.isFile()) throw archiveError(entry.file, `${entry.file} is not a regular file, so it cannot go into the dataset archive`, 'Only audio files can be archived; check the clip list.');
  if (stats.size > SIZE_MAX) throw archiveError(entry.file, `${entry.file} is larger than a tar archive entry can be (8 GiB)`, 'Use shorter clips.');
  const header = ustarHeader(headerName, stats.size);
  await out.write(header, 0, BLOCK, position);
  await copyContents(out, position + BLOCK, entry.file, stats.size, signal);
  const padding = (BLOCK - (stats.size % BLOCK)) % BLOCK;
  if (padding > 0) await out.write(Buffer.alloc(padding), 0, padding, position + BLOCK + stats.size);
  return position + BLOCK + stats.size + padding;
}

/** Copies exactly `size` bytes (the size in the header) in bounded reads; a file that ended early changed meanwhile. */
async function copyContents(out: FileHandle, position: number, file: string, size: number, signal: AbortSignal | undefined): Promise<void> {
  const source = await open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(Math.min(COPY_BUFFER_BYTES, size));
    for (let copied = 0; copied < size; ) {
      signal?.throwIfAborted();
      const { bytesRead } = await source.read(buffer, 0, Math.min(buffer.length, size - copied), copied);
      if (bytesRead === 0) throw archiveError(file, `${file} became shorter while it was being archived`, 'Wait until nothing writes to it any more, then run the command again.');
      await out.write(buffer, 0, bytesRead, position + copied);
      copied += bytesRead;
    }
  } finally {
    await source.close();
  }
}

/** The 512-byte ustar header, laid out exactly as python's tarfile writes it. */
function ustarHeader({ name, prefix }: UstarName, size: number): Buffer {
  const header = Buffer.alloc(BLOCK);
  name.copy(header, 0);
  header.write('0000644\0', 100, 'ascii'); // mode
  header.write('0000000\0', 108, 'ascii'); // uid
  header.write('0000000\0', 116, 'ascii'); // gid
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  header.write('00000000000\0', 136, 'ascii'); // mtime 0: deterministic bytes
  header.write('        ', 148, 'ascii'); // checksum counts its own field as spaces
  header.write('0', 156, 'ascii'); // regular file
  header.write('ustar\0' + '00', 257, 'ascii');
  // uname, gname, devmajor and devminor stay empty (NUL), as python leaves them for regular files
  prefix.copy(header, 345);
  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  header.write(`${checksum.toString(8).padStart(6, '0')}\0`, 148, 'ascii'); // the 8th byte stays a space
  return header;
}

/**
 * Validates a member name and splits it into ustar's name (≤ 100 bytes) and prefix (≤ 155 bytes) fields,
 * choosing the shortest prefix that fits, as python's tarfile does.
 */
function splitUstarName(name: string, dest: string): UstarName {
  const problem = nameProblem(name);
  if (problem !== undefined) throw archiveError(dest, `${dest}: archive entry "${name}" ${problem}`, 'Entry names must be relative POSIX paths such as clips/0001.flac.');
  const encoded = Buffer.from(name, 'utf8');
  if (encoded.length <= NAME_MAX) return { name: encoded, prefix: Buffer.alloc(0) };
  const parts = name.split('/');
  for (let i = 1; i < parts.length; i++) {
    const prefix = Buffer.from(parts.slice(0, i).join('/'), 'utf8');
    const rest = Buffer.from(parts.slice(i).join('/'), 'utf8');
    if (prefix.length <= PREFIX_MAX && rest.length <= NAME_MAX) return { name: rest, prefix };
  }
  throw archiveError(dest, `${dest}: archive entry "${name}" is too long for a ustar header (at most 100 bytes after the last fitting "/", 255 in all)`, 'Use shorter folder and clip names.');
}

function nameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name.includes('\0')) return 'contains a NUL byte';
  if (name.includes('\\')) return 'contains a backslash';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'is an absolute path';
  const parts = name.split('/');
  if (parts.includes('..')) return 'contains ".."';
  if (parts.includes('') || parts.includes('.')) return 'has an empty or "." path segment';
  // The worker skips hidden files, so such a clip would silently not be trained on.
  if (parts.some((part) => part.startsWith('.'))) return 'has a segment starting with "." (the worker skips hidden files)';
  return undefined;
}

function assertUniqueNames(entries: readonly TarEntry[], dest: string): void {
  const seen = new Set<string>();
  for (const { name } of entries) {
    if (seen.has(name)) throw archiveError(dest, `${dest}: archive entry "${name}" appears twice`, 'Give every clip its own name.');
    seen.add(name);
  }
}

function archiveError(subject: string, message: string, suggestion: string): VoicestudioError {
  return new VoicestudioError(ErrorCode.ArchiveInvalid, `${message}.`, { subject, suggestion });
}
