/**
 * Applio/RVC model zips: reading the one voice model (.pth) and its feature index out of a zip someone
 * shared, and writing such zips deterministically.
 *
 * Only what is needed is read: the central directory, then the two chosen entries, streamed through a
 * CRC-32 check. Entry names never decide where data lands: the files are extracted flat into destDir,
 * and a zip with any absolute, ".." or encrypted entry is refused as a whole.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, createInflateRaw, inflateRawSync } from 'node:zlib';
import { ErrorCode, VoicestudioError } from '../errors.js';
import { commitTemp, produceAtomically, tempSibling } from '../util/files.js';

export interface ModelZipContents {
  /** The extracted voice model. */
  pth: string;
  /** The extracted feature index, when the zip has one. */
  index?: string;
  /** Every entry name in the zip, in central-directory order. */
  entries: string[];
}

export interface ModelZipFile {
  /** Relative POSIX path inside the zip. */
  name: string;
  file: string;
}

const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const CENTRAL_HEADER_SIGNATURE = 0x02014b50;
const END_OF_CENTRAL_DIRECTORY = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const LOCAL_HEADER_BYTES = 30;
const CENTRAL_HEADER_BYTES = 46;
const EOCD_BYTES = 22;
const MAX_COMMENT_BYTES = 0xffff;
/** A 16- or 32-bit field at its maximum means "the real value is in the zip64 records". */
const ZIP64_MARK_16 = 0xffff;
const ZIP64_MARK_32 = 0xffffffff;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_STRONG_ENCRYPTION = 0x0040;
const FLAG_UTF8_NAME = 0x0800;
const VERSION_20 = 20;
/** "Made by" Unix (3), so the external attributes hold a Unix mode. */
const MADE_BY_UNIX = (3 << 8) | VERSION_20;
const REGULAR_FILE_0644 = (0o100644 << 16) >>> 0;
/** DOS date for 1980-01-01 (the earliest a zip can say) with time 00:00:00: deterministic bytes. */
const DOS_DATE_1980 = (1 << 5) | 1;
const COPY_BUFFER_BYTES = 1 << 20;

/** Applio's training checkpoints: large generator/discriminator states, not a model to convert with. */
const CHECKPOINT_NAME = /^[GD]_.*\.pth$/;
/** An IVF index before vectors were added: it finds nothing. */
const TRAINED_ONLY_INDEX = /^trained_/i;

interface CentralEntry {
  name: string;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export async function readModelZip(zipFile: string, destDir: string): Promise<ModelZipContents> {
  const zip = await open(zipFile, 'r');
  try {
    const directory = await readCentralDirectory(zip, zipFile);
    const files = directory.entries.filter((entry) => !entry.name.endsWith('/') && !isClutter(entry.name));
    const pth = choosePth(files, zipFile);
    const index = chooseIndex(files, zipFile);
    await mkdir(destDir, { recursive: true });
    const contents: ModelZipContents = { pth: await extractEntry(zip, zipFile, pth, directory.offset, destDir), entries: directory.entries.map((entry) => entry.name) };
    if (index !== undefined) contents.index = await extractEntry(zip, zipFile, index, directory.offset, destDir);
    return contents;
  } finally {
    await zip.close();
  }
}

/**
 * The bytes of the first entry whose name `wanted` accepts, read into memory (for small entries such as a
 * .pth's data.pkl), CRC-checked; undefined when there is none.
 */
export async function readZipEntry(zipFile: string, wanted: (name: string) => boolean, maxBytes: number): Promise<Buffer | undefined> {
  const zip = await open(zipFile, 'r');
  try {
    const directory = await readCentralDirectory(zip, zipFile);
    const entry = directory.entries.find((e) => wanted(e.name));
    if (entry === undefined) return undefined;
    if (entry.size > maxBytes || entry.compressedSize > maxBytes) throw damagedError(zipFile, `entry "${entry.name}" is larger than expected (${entry.size} bytes)`);
    if (entry.method !== METHOD_STORED && entry.method !== METHOD_DEFLATE) throw damagedError(zipFile, `entry "${entry.name}" uses compression method ${entry.method}`);
    const stored = await readAt(zip, await entryDataStart(zip, zipFile, entry), entry.compressedSize);
    let data: Buffer;
    try {
      data = entry.method === METHOD_DEFLATE ? inflateRawSync(stored, { maxOutputLength: maxBytes }) : stored;
    } catch (error) {
      throw damagedError(zipFile, `entry "${entry.name}" does not inflate (${(error as Error).message})`);
    }
    if (data.length !== entry.size || crc32(data) !== entry.crc32) throw damagedError(zipFile, `entry "${entry.name}" fails its size or CRC-32 check`);
    return data;
  } finally {
    await zip.close();
  }
}

async function readCentralDirectory(handle: FileHandle, zipFile: string): Promise<{ entries: CentralEntry[]; offset: number }> {
  const { size: fileSize } = await handle.stat();
  const tailBytes = Math.min(fileSize, EOCD_BYTES + MAX_COMMENT_BYTES);
  const tail = await readAt(handle, fileSize - tailBytes, tailBytes);
  const eocdAt = tail.lastIndexOf(END_OF_CENTRAL_DIRECTORY);
  if (eocdAt < 0 || eocdAt + EOCD_BYTES > tail.length) {
    throw zipError(zipFile, `${zipFile} is not a zip file (it has no end-of-central-directory record)`, 'Check that the download finished, and download the model zip again.');
  }
  const eocd = tail.subarray(eocdAt, eocdAt + EOCD_BYTES);
  const count = eocd.readUInt16LE(10);
  const length = eocd.readUInt32LE(12);
  const offset = eocd.readUInt32LE(16);
  const hasZip64Locator = eocdAt >= 20 && tail.readUInt32LE(eocdAt - 20) === ZIP64_LOCATOR_SIGNATURE;
  if (hasZip64Locator || count === ZIP64_MARK_16 || length === ZIP64_MARK_32 || offset === ZIP64_MARK_32) throw zip64Error(zipFile);
  if (eocd.readUInt16LE(4) !== 0 || eocd.readUInt16LE(6) !== 0) {
    throw zipError(zipFile, `${zipFile} is one part of a zip split across several files`, 'Join the parts into one zip first, or give the .pth file itself as --model.');
  }
  if (offset + length > fileSize - tailBytes + eocdAt) throw damagedError(zipFile, 'its central directory lies outside the file');
  return { entries: parseCentralDirectory(await readAt(handle, offset, length), count, zipFile), offset };
}

function parseCentralDirectory(directory: Buffer, count: number, zipFile: string): CentralEntry[] {
  const entries: CentralEntry[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + CENTRAL_HEADER_BYTES > directory.length || directory.readUInt32LE(at) !== CENTRAL_HEADER_SIGNATURE) throw damagedError(zipFile, 'its central directory is truncated');
    const flags = directory.readUInt16LE(at + 8);
    const nameLength = directory.readUInt16LE(at + 28);
    const skipLength = directory.readUInt16LE(at + 30) + directory.readUInt16LE(at + 32); // extra field and comment
    const rawName = directory.subarray(at + CENTRAL_HEADER_BYTES, at + CENTRAL_HEADER_BYTES + nameLength);
    // Names without the UTF-8 flag are CP437; outside ASCII that is rare in model zips and read as Latin-1.
    const entry: CentralEntry = {
      name: rawName.toString(flags & FLAG_UTF8_NAME ? 'utf8' : 'latin1').replaceAll('\\', '/'),
      flags,
      method: directory.readUInt16LE(at + 10),
      crc32: directory.readUInt32LE(at + 16),
      compressedSize: directory.readUInt32LE(at + 20),
      size: directory.readUInt32LE(at + 24),
      localHeaderOffset: directory.readUInt32LE(at + 42),
    };
    assertSafeEntry(entry, zipFile);
    entries.push(entry);
    at += CENTRAL_HEADER_BYTES + nameLength + skipLength;
  }
  return entries;
}

function assertSafeEntry(entry: CentralEntry, zipFile: string): void {
  const untrusted = 'Use model zips only from sources you trust; to use this one, unzip it yourself and give the .pth file as --model.';
  if (entry.name.startsWith('/') || /^[A-Za-z]:/.test(entry.name)) throw zipError(zipFile, `${zipFile}: entry "${entry.name}" has an absolute path`, untrusted);
  if (entry.name.split('/').includes('..')) throw zipError(zipFile, `${zipFile}: entry "${entry.name}" contains ".." and would land outside the folder it is unpacked into`, untrusted);
  if (entry.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) {
    throw zipError(zipFile, `${zipFile}: entry "${entry.name}" is encrypted`, 'Unzip it with its password and give the .pth file as --model, or zip the model again without a password.');
  }
  if (entry.size === ZIP64_MARK_32 || entry.compressedSize === ZIP64_MARK_32 || entry.localHeaderOffset === ZIP64_MARK_32) throw zip64Error(zipFile);
}

/** macOS and Windows clutter (AppleDouble "._x.pth" files, __MACOSX folders), which must not count as models. */
function isClutter(name: string): boolean {
  return name.split('/').some((part) => part.startsWith('.') || part === '__MACOSX');
}

function baseName(entry: CentralEntry): string {
  return path.posix.basename(entry.name);
}

function choosePth(files: readonly CentralEntry[], zipFile: string): CentralEntry {
  const pths = files.filter((entry) => /\.pth$/i.test(entry.name));
  const models = pths.filter((entry) => !CHECKPOINT_NAME.test(baseName(entry)));
  if (models.length > 1) throw ambiguousError(zipFile, '.pth voice models', models);
  const [model] = models;
  if (model !== undefined) return model;
  const checkpoints = pths.length === 0 ? '' : ` (only training checkpoints: ${pths.map((entry) => entry.name).join(', ')})`;
  throw zipError(zipFile, `${zipFile} contains no .pth voice model${checkpoints}`, 'Export the model from Applio (its .pth and .index), or give the .pth file itself as --model.');
}

/** The feature index: an `added_*.index` wins over other names; a `trained_*` one (no vectors) never counts. */
function chooseIndex(files: readonly CentralEntry[], zipFile: string): CentralEntry | undefined {
  const indexes = files.filter((entry) => /\.index$/i.test(entry.name) && !TRAINED_ONLY_INDEX.test(baseName(entry)));
  const added = indexes.filter((entry) => /^added_/i.test(baseName(entry)));
  const candidates = added.length > 0 ? added : indexes;
  if (candidates.length > 1) throw ambiguousError(zipFile, '.index files', candidates);
  return candidates[0];
}

function ambiguousError(zipFile: string, what: string, entries: readonly CentralEntry[]): VoicestudioError {
  return zipError(zipFile, `${zipFile} contains several ${what} (${entries.map((entry) => entry.name).join(', ')}) and it is not clear which belongs to the model`, 'Make a zip with only the .pth and .index you want, or give the .pth file itself as --model.');
}

/** Streams one entry (inflating if needed) into destDir under its base name, checking size and CRC-32; returns the path. */
async function extractEntry(zip: FileHandle, zipFile: string, entry: CentralEntry, directoryOffset: number, destDir: string): Promise<string> {
  if (entry.method !== METHOD_STORED && entry.method !== METHOD_DEFLATE) {
    throw zipError(zipFile, `${zipFile}: entry "${entry.name}" uses compression method ${entry.method}; only stored and deflate are supported`, 'Zip the model again with a standard zip tool.');
  }
  const dataStart = await entryDataStart(zip, zipFile, entry);
  if (dataStart + entry.compressedSize > directoryOffset) throw damagedError(zipFile, `entry "${entry.name}" runs past the central directory`);
  const dest = path.join(destDir, baseName(entry));
  const temp = tempSibling(dest);
  const check = new CrcCheck(entry, zipFile);
  try {
    const source = entry.compressedSize === 0 ? Readable.from([]) : createReadStream(zipFile, { start: dataStart, end: dataStart + entry.compressedSize - 1 });
    const stages = entry.method === METHOD_DEFLATE ? [source, createInflateRaw(), check, createWriteStream(temp)] : [source, check, createWriteStream(temp)];
    await pipeline(stages);
    check.assertComplete();
  } catch (error) {
    await rm(temp, { force: true });
    throw isZlibError(error) ? damagedError(zipFile, `entry "${entry.name}" does not inflate (${(error as Error).message})`) : error;
  }
  await commitTemp(temp, dest);
  return dest;
}

/** The local header repeats the name and may carry a different extra field, so its own lengths locate the data. */
async function entryDataStart(zip: FileHandle, zipFile: string, entry: CentralEntry): Promise<number> {
  const header = await readAt(zip, entry.localHeaderOffset, LOCAL_HEADER_BYTES);
  if (header.length < LOCAL_HEADER_BYTES || header.readUInt32LE(0) !== LOCAL_HEADER_SIGNATURE) throw damagedError(zipFile, `the local header of entry "${entry.name}" is missing`);
  return entry.localHeaderOffset + LOCAL_HEADER_BYTES + header.readUInt16LE(26) + header.readUInt16LE(28);
}

/** Passes bytes through while computing their CRC-32; stops as soon as an entry unpacks to more than its header says. */
class CrcCheck extends Transform {
  private crc = 0;
  private bytes = 0;

  constructor(
    private readonly entry: CentralEntry,
    private readonly zipFile: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > this.entry.size) {
      callback(damagedError(this.zipFile, `entry "${this.entry.name}" unpacks to more than the ${this.entry.size} bytes its header says`));
      return;
    }
    this.crc = crc32(chunk, this.crc);
    callback(null, chunk);
  }

  assertComplete(): void {
    if (this.bytes !== this.entry.size) throw damagedError(this.zipFile, `entry "${this.entry.name}" unpacks to ${this.bytes} bytes, not the ${this.entry.size} its header says`);
    if (this.crc !== this.entry.crc32) throw damagedError(this.zipFile, `entry "${this.entry.name}" fails its CRC-32 check`);
  }
}

function isZlibError(error: unknown): boolean {
  return error instanceof Error && typeof (error as { errno?: unknown }).errno === 'number' && String((error as { code?: unknown }).code).startsWith('Z_');
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}

/**
 * Writes a zip of stored entries (the .pth and .index are binary and barely compress) with fixed
 * timestamps, so the same files always give the same bytes. Written to a temp sibling, then renamed.
 */
export async function writeModelZip(zipFile: string, files: readonly ModelZipFile[]): Promise<{ bytes: number }> {
  const names = files.map((entry) => encodeEntryName(entry.name, zipFile));
  if (new Set(files.map((entry) => entry.name)).size !== files.length) throw zipError(zipFile, `${zipFile}: two entries have the same name`, 'Give every file in the zip its own name.');
  if (files.length >= ZIP64_MARK_16) throw zip64Error(zipFile);
  return produceAtomically(zipFile, async (temp) => {
    const out = await open(temp, 'w');
    try {
      return { bytes: await writeZipEntries(out, files, names, zipFile) };
    } finally {
      await out.close();
    }
  });
}

interface WrittenEntry {
  name: Buffer;
  crc32: number;
  size: number;
  localHeaderOffset: number;
}

async function writeZipEntries(out: FileHandle, files: readonly ModelZipFile[], names: readonly Buffer[], zipFile: string): Promise<number> {
  const written: WrittenEntry[] = [];
  let position = 0;
  for (const [i, { file }] of files.entries()) {
    const name = names[i] as Buffer;
    const { size } = await stat(file);
    const entry: WrittenEntry = { name, crc32: 0, size, localHeaderOffset: position };
    const header = localHeader(entry);
    await out.write(header, 0, header.length, position);
    // The CRC is known only after the bytes went by: patch it into the header (no data descriptor needed).
    entry.crc32 = await copyWithCrc(out, position + header.length, file, size);
    await out.write(uint32(entry.crc32), 0, 4, entry.localHeaderOffset + 14);
    position += header.length + size;
    if (position >= ZIP64_MARK_32) throw zip64Error(zipFile);
    written.push(entry);
  }
  const directory = Buffer.concat(written.map(centralHeader));
  const end = endOfCentralDirectory(written.length, directory.length, position);
  if (position + directory.length >= ZIP64_MARK_32) throw zip64Error(zipFile);
  await out.write(Buffer.concat([directory, end]), 0, directory.length + end.length, position);
  return position + directory.length + end.length;
}

function localHeader({ name, crc32: crc, size }: WrittenEntry): Buffer {
  const header = Buffer.alloc(LOCAL_HEADER_BYTES + name.length);
  header.writeUInt32LE(LOCAL_HEADER_SIGNATURE, 0);
  header.writeUInt16LE(VERSION_20, 4);
  header.writeUInt16LE(FLAG_UTF8_NAME, 6);
  header.writeUInt16LE(METHOD_STORED, 8);
  header.writeUInt16LE(0, 10); // time 00:00:00
  header.writeUInt16LE(DOS_DATE_1980, 12);
  header.writeUInt32LE(crc, 14);
  header.writeUInt32LE(size, 18); // compressed size: stored
  header.writeUInt32LE(size, 22);
  header.writeUInt16LE(name.length, 26);
  header.writeUInt16LE(0, 28); // no extra field
  name.copy(header, LOCAL_HEADER_BYTES);
  return header;
}

function centralHeader({ name, crc32: crc, size, localHeaderOffset }: WrittenEntry): Buffer {
  const header = Buffer.alloc(CENTRAL_HEADER_BYTES + name.length);
  header.writeUInt32LE(CENTRAL_HEADER_SIGNATURE, 0);
  header.writeUInt16LE(MADE_BY_UNIX, 4);
  header.writeUInt16LE(VERSION_20, 6);
  header.writeUInt16LE(FLAG_UTF8_NAME, 8);
  header.writeUInt16LE(METHOD_STORED, 10);
  header.writeUInt16LE(0, 12);
  header.writeUInt16LE(DOS_DATE_1980, 14);
  header.writeUInt32LE(crc, 16);
  header.writeUInt32LE(size, 20);
  header.writeUInt32LE(size, 24);
  header.writeUInt16LE(name.length, 28);
  // extra length, comment length, disk number and internal attributes (30–37) stay 0
  header.writeUInt32LE(REGULAR_FILE_0644, 38);
  header.writeUInt32LE(localHeaderOffset, 42);
  name.copy(header, CENTRAL_HEADER_BYTES);
  return header;
}

function endOfCentralDirectory(count: number, length: number, offset: number): Buffer {
  const end = Buffer.alloc(EOCD_BYTES);
  END_OF_CENTRAL_DIRECTORY.copy(end, 0);
  // this disk and the directory's disk (4–7) stay 0
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(length, 12);
  end.writeUInt32LE(offset, 16);
  return end;
}

function uint32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value, 0);
  return buffer;
}

/** Copies exactly `size` bytes in bounded reads and returns their CRC-32; a file that ended early changed meanwhile. */
async function copyWithCrc(out: FileHandle, position: number, file: string, size: number): Promise<number> {
  const source = await open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(Math.min(COPY_BUFFER_BYTES, size));
    let crc = 0;
    for (let copied = 0; copied < size; ) {
      const { bytesRead } = await source.read(buffer, 0, Math.min(buffer.length, size - copied), copied);
      if (bytesRead === 0) throw zipError(file, `${file} became shorter while it was being zipped`, 'Wait until nothing writes to it any more, then run the command again.');
      crc = crc32(buffer.subarray(0, bytesRead), crc);
      await out.write(buffer, 0, bytesRead, position + copied);
      copied += bytesRead;
    }
    return crc;
  } finally {
    await source.close();
  }
}

function encodeEntryName(name: string, zipFile: string): Buffer {
  const parts = name.split('/');
  if (name.startsWith('/') || name.includes('\\') || name.includes('\0') || parts.some((part) => part === '' || part === '.' || part === '..')) {
    throw zipError(zipFile, `${zipFile}: entry name "${name}" is not a relative POSIX path`, 'Use names such as alice/alice.pth.');
  }
  const encoded = Buffer.from(name, 'utf8');
  if (encoded.length > ZIP64_MARK_16) throw zipError(zipFile, `${zipFile}: entry name "${name}" is longer than a zip allows`, 'Use a shorter name.');
  return encoded;
}

function zip64Error(zipFile: string): VoicestudioError {
  return zipError(zipFile, `${zipFile} needs zip64 (over 4 GiB or 65535 entries), which voicestudio does not support`, 'Zip only the model .pth and its .index, or give the .pth file itself as --model.');
}

function damagedError(zipFile: string, problem: string): VoicestudioError {
  return zipError(zipFile, `${zipFile} is damaged: ${problem}`, 'Check that the download finished, and download the model zip again.');
}

function zipError(subject: string, message: string, suggestion: string): VoicestudioError {
  return new VoicestudioError(ErrorCode.ArchiveInvalid, `${message}.`, { subject, suggestion });
}
