/**
 * Moving files through the worker's content-addressed blob store (gpu/README.md, "Blob store tasks").
 *
 * Uploads read each chunk from disk at its offset, so memory stays flat for any file size; they skip
 * blobs the store already has and resume partly staged ones. Downloads land in a temp sibling and appear
 * under their final name only after the whole file's sha256 matched.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, VoicestudioError } from '../errors.js';
import { mapLimit } from '../util/concurrency.js';
import { commitTemp, sha256File, tempSibling } from '../util/files.js';
import type { TaskRunner } from './types.js';
import type { FileRef, WorkerFile } from '../tasks/wire.js';

/** The worker's CHUNK_MAX_BYTES: raw bytes per blob_put / blob_get. */
export const CHUNK_BYTES = 4 * 1024 * 1024;
/** The worker's INLINE_MAX_BYTES: raw bytes of one `{"data"}` file reference. */
export const INLINE_MAX_BYTES = 4 * 1024 * 1024;
/** The worker's limit on `blob_has.hashes`. */
const BLOB_HAS_MAX_HASHES = 1000;
const DEFAULT_CONCURRENCY = 3;
/** Files hashed at once by ensureUploaded (the disk is the limit). */
const HASH_CONCURRENCY = 2;
/** Up to this size a file hashes in-process faster than a hashing thread starts (tens of ms). */
const IN_PROCESS_HASH_MAX_BYTES = CHUNK_BYTES;

export interface TransferOptions {
  /** Chunks in flight at once (default 3). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Raw chunk bytes moved so far by this call, of the total it has to move (which grows if a commit asks for ranges again). */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

export interface UploadOptions extends TransferOptions {
  /** The file's sha256 when the caller already knows it; skips hashing. */
  sha256?: string;
}

export interface UploadResult {
  file: string;
  sha256: string;
  size: number;
  /** False when the store already had the blob (or another file of this call had the same content). */
  uploaded: boolean;
  /** Raw bytes of chunk data sent for this file. */
  bytesSent: number;
}

export interface DownloadOptions extends TransferOptions {
  /** The blob's size when known (from a WorkerFile); otherwise one blob_has asks for it. */
  size?: number;
}

export interface DownloadResult {
  size: number;
  /** Raw bytes fetched with blob_get (0 for inline data). */
  bytesReceived: number;
}

/** Half-open byte range [start, end). */
type ByteRange = readonly [start: number, end: number];

/** A local file as it was when hashed; the stamp detects changes before the blob is committed. */
interface LocalBlob {
  file: string;
  sha256: string;
  size: number;
  mtimeNs: bigint;
}

/** What the store still needs of a blob: null when it already has the blob. */
interface UploadPlan {
  blob: LocalBlob;
  missing: ByteRange[] | null;
}

export async function uploadFile(run: TaskRunner, file: string, options: UploadOptions = {}): Promise<UploadResult> {
  const blob = await describeLocalFile(file, options.sha256, options.signal);
  const uploader = new Uploader(run, options);
  await uploader.upload([blob]);
  return uploader.resultFor(blob);
}

/** Uploads every file the store lacks, asking about all of them first (one blob_has per 1000 files). */
export async function ensureUploaded(run: TaskRunner, files: readonly string[], options: TransferOptions = {}): Promise<{ files: UploadResult[]; bytesSent: number }> {
  const blobs = await mapLimit(files, HASH_CONCURRENCY, (file) => describeLocalFile(file, undefined, options.signal), options.signal);
  const uploader = new Uploader(run, options);
  await uploader.upload(blobs);
  const results = blobs.map((blob) => uploader.resultFor(blob));
  return { files: results, bytesSent: results.reduce((sum, result) => sum + result.bytesSent, 0) };
}

class Uploader {
  private readonly sentBySha = new Map<string, number>();
  private readonly uploaded = new Set<LocalBlob>();
  private doneBytes = 0;
  private totalBytes = 0;

  constructor(
    private readonly run: TaskRunner,
    private readonly options: TransferOptions,
  ) {}

  async upload(blobs: readonly LocalBlob[]): Promise<void> {
    const pending = (await this.plan(firstOfEachContent(blobs))).filter((plan) => plan.missing !== null);
    await this.send(pending);
    for (const { blob } of pending) {
      await this.commit(blob);
      this.uploaded.add(blob);
    }
  }

  resultFor(blob: LocalBlob): UploadResult {
    const uploaded = this.uploaded.has(blob);
    return { file: blob.file, sha256: blob.sha256, size: blob.size, uploaded, bytesSent: uploaded ? (this.sentBySha.get(blob.sha256) ?? 0) : 0 };
  }

  /** Asks the store which blobs it has, and which byte ranges of partly staged uploads it still needs. */
  private async plan(blobs: readonly LocalBlob[]): Promise<UploadPlan[]> {
    const plans: UploadPlan[] = [];
    for (let i = 0; i < blobs.length; i += BLOB_HAS_MAX_HASHES) {
      const batch = blobs.slice(i, i + BLOB_HAS_MAX_HASHES);
      const output = await this.run({ task: 'blob_has', hashes: batch.map((blob) => blob.sha256) }, { signal: this.options.signal });
      if (!Array.isArray(output.present)) throw malformedOutput(batch[0]?.file ?? '', 'blob_has', 'no present list');
      const present = new Set<unknown>(output.present);
      const uploads = (output.uploads ?? {}) as Record<string, unknown>;
      for (const blob of batch) {
        plans.push({ blob, missing: present.has(blob.sha256) ? null : missingRanges(stagedRanges(uploads[blob.sha256], blob), blob.size) });
      }
    }
    return plans;
  }

  private async send(plans: readonly UploadPlan[]): Promise<void> {
    const chunks = plans.flatMap(({ blob, missing }) => splitIntoChunks(missing ?? []).map((range) => ({ blob, range })));
    // Nothing to send (the store has it all, or all of it is staged): no "0.0/0.0 MB" progress.
    if (chunks.length === 0) return;
    this.totalBytes += chunks.reduce((sum, { range }) => sum + rangeLength(range), 0);
    this.options.onProgress?.(this.doneBytes, this.totalBytes);
    await forEachLimited(chunks, this.options.concurrency ?? DEFAULT_CONCURRENCY, this.options.signal, async ({ blob, range }) => {
      await sendChunk(this.run, blob, range, this.options.signal);
      this.sentBySha.set(blob.sha256, (this.sentBySha.get(blob.sha256) ?? 0) + rangeLength(range));
      this.doneBytes += rangeLength(range);
      this.options.onProgress?.(this.doneBytes, this.totalBytes);
    });
  }

  /** Commits; if staged chunks went missing meanwhile (expired, discarded), sends what is missing once more. */
  private async commit(blob: LocalBlob): Promise<void> {
    await assertUnchanged(blob);
    try {
      await this.commitOnce(blob);
    } catch (error) {
      if (!isIncompleteUpload(error)) throw error;
      // The error text lists at most 20 ranges; blob_has reports all of them.
      await this.send(await this.plan([blob]));
      await assertUnchanged(blob);
      await this.commitOnce(blob);
    }
  }

  private async commitOnce(blob: LocalBlob): Promise<void> {
    const output = await this.run({ task: 'blob_commit', sha256: blob.sha256, size: blob.size }, { signal: this.options.signal });
    if (output.status !== 'committed' && output.status !== 'exists') throw malformedOutput(blob.file, 'blob_commit', `status ${JSON.stringify(output.status)}`);
  }
}

/** Two paths with the same content are one blob: it is uploaded once, for the first of them. */
function firstOfEachContent(blobs: readonly LocalBlob[]): LocalBlob[] {
  const bySha = new Map<string, LocalBlob>();
  for (const blob of blobs) if (!bySha.has(blob.sha256)) bySha.set(blob.sha256, blob);
  return [...bySha.values()];
}

async function describeLocalFile(file: string, knownSha256: string | undefined, signal: AbortSignal | undefined): Promise<LocalBlob> {
  signal?.throwIfAborted();
  // Stamped before hashing, so a change made while hashing is caught before the commit.
  const stats = await stat(file, { bigint: true });
  if (!stats.isFile()) {
    throw new VoicestudioError(ErrorCode.TransferFailed, `${file} is not a regular file, so it cannot be uploaded.`, {
      subject: file,
      suggestion: 'Pass the path of a file, not a folder or device.',
    });
  }
  const size = Number(stats.size);
  return { file, sha256: knownSha256 ?? (await hashFile(file, size, signal)), size, mtimeNs: stats.mtimeNs };
}

async function hashFile(file: string, size: number, signal: AbortSignal | undefined): Promise<string> {
  if (size > IN_PROCESS_HASH_MAX_BYTES) return sha256File(file, signal);
  return createHash('sha256')
    .update(await readFile(file, { signal }))
    .digest('hex');
}

async function assertUnchanged(blob: LocalBlob): Promise<void> {
  const stats = await stat(blob.file, { bigint: true });
  if (Number(stats.size) !== blob.size || stats.mtimeNs !== blob.mtimeNs) throw fileChangedError(blob.file);
}

function fileChangedError(file: string): VoicestudioError {
  return new VoicestudioError(ErrorCode.TransferFailed, `${file} changed while it was being uploaded.`, {
    subject: file,
    suggestion: 'Wait until nothing writes to it any more, then run the command again; the chunks already sent are not wasted if it is unchanged.',
  });
}

/** The ranges the worker already holds for an upload of this exact size (it keeps one staging area per declared size). */
function stagedRanges(uploads: unknown, blob: LocalBlob): ByteRange[] {
  if (uploads === undefined) return [];
  if (!Array.isArray(uploads)) throw malformedOutput(blob.file, 'blob_has', 'uploads entry is not a list');
  const staging = (uploads as { size?: unknown; ranges?: unknown }[]).find((entry) => entry?.size === blob.size);
  if (staging === undefined) return [];
  const ranges = staging.ranges;
  if (!Array.isArray(ranges) || !ranges.every(isByteRange)) throw malformedOutput(blob.file, 'blob_has', 'uploads ranges are not [start, end] pairs');
  return ranges;
}

function isByteRange(value: unknown): value is ByteRange {
  return Array.isArray(value) && value.length === 2 && value.every(Number.isSafeInteger) && value[0] < value[1];
}

/** The gaps between staged ranges (in any order, possibly overlapping) of an upload of `size` bytes. */
function missingRanges(staged: readonly ByteRange[], size: number): ByteRange[] {
  const gaps: ByteRange[] = [];
  let covered = 0;
  for (const [start, end] of [...staged].sort((a, b) => a[0] - b[0])) {
    if (start > covered) gaps.push([covered, start]);
    covered = Math.max(covered, end);
  }
  if (covered < size) gaps.push([covered, size]);
  return gaps;
}

function splitIntoChunks(ranges: readonly ByteRange[]): ByteRange[] {
  const chunks: ByteRange[] = [];
  for (const [start, end] of ranges) {
    for (let offset = start; offset < end; offset += CHUNK_BYTES) chunks.push([offset, Math.min(end, offset + CHUNK_BYTES)]);
  }
  return chunks;
}

function rangeLength([start, end]: ByteRange): number {
  return end - start;
}

async function sendChunk(run: TaskRunner, blob: LocalBlob, range: ByteRange, signal: AbortSignal | undefined): Promise<void> {
  const data = await readRange(blob.file, range);
  const output = await run(
    {
      task: 'blob_put',
      sha256: blob.sha256,
      size: blob.size,
      offset: range[0],
      data: data.toString('base64'),
      chunk_sha256: createHash('sha256').update(data).digest('hex'),
    },
    { signal },
  );
  if (output.status !== 'stored' && output.status !== 'exists') throw malformedOutput(blob.file, 'blob_put', `status ${JSON.stringify(output.status)}`);
}

/** Reads exactly one range; a file that ended early was shortened after it was hashed. */
async function readRange(file: string, range: ByteRange): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(rangeLength(range));
  const handle = await open(file, 'r');
  try {
    for (let filled = 0; filled < buffer.length; ) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, range[0] + filled);
      if (bytesRead === 0) throw fileChangedError(file);
      filled += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return buffer;
}

function isIncompleteUpload(error: unknown): boolean {
  return error instanceof Error && /is incomplete: missing byte ranges/.test(error.message);
}

function malformedOutput(file: string, task: string, detail: string): VoicestudioError {
  return new VoicestudioError(ErrorCode.TransferFailed, `${file}: the worker's ${task} output is not what the protocol promises (${detail}).`, {
    subject: file,
    suggestion: 'Check that the endpoint runs the voicestudio worker image that matches this version of voicestudio.',
  });
}

/**
 * Runs `work` over `items` with at most `limit` in flight. Unlike mapLimit, after the first failure it
 * starts nothing new and waits for the tasks still running, so none outlives the caller's cleanup.
 */
async function forEachLimited<T>(items: readonly T[], limit: number, signal: AbortSignal | undefined, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        signal?.throwIfAborted();
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failure !== undefined) throw failure.error;
}

/** Fetches a blob in parallel chunks into a temp sibling of `dest`; it is renamed into place only if its sha256 matches. */
export async function downloadBlob(run: TaskRunner, sha256: string, dest: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  options.signal?.throwIfAborted();
  const size = options.size ?? (await committedSize(run, sha256, dest, options.signal));
  await mkdir(path.dirname(dest), { recursive: true });
  const temp = tempSibling(dest);
  try {
    const bytesReceived = await fetchInto(run, sha256, size, temp, dest, options);
    await assertSha256(temp, size, sha256, dest, options.signal);
    await commitTemp(temp, dest);
    return { size, bytesReceived };
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

async function committedSize(run: TaskRunner, sha256: string, dest: string, signal: AbortSignal | undefined): Promise<number> {
  const output = await run({ task: 'blob_has', hashes: [sha256] }, { signal });
  const size = (output.sizes as Record<string, unknown> | undefined)?.[sha256];
  if (typeof size !== 'number' || !Number.isSafeInteger(size)) {
    throw new VoicestudioError(ErrorCode.TransferFailed, `${dest}: blob ${sha256} is not in the worker's store.`, {
      subject: dest,
      suggestion: 'Run the step that produces this file again; its result is no longer on the network volume.',
    });
  }
  return size;
}

async function fetchInto(run: TaskRunner, sha256: string, size: number, temp: string, dest: string, options: TransferOptions): Promise<number> {
  const handle = await open(temp, 'w');
  let received = 0;
  try {
    await forEachLimited(splitIntoChunks([[0, size]]), options.concurrency ?? DEFAULT_CONCURRENCY, options.signal, async (range) => {
      const data = await fetchChunk(run, sha256, size, range, dest, options.signal);
      await handle.write(data, 0, data.length, range[0]);
      received += data.length;
      options.onProgress?.(received, size);
    });
  } finally {
    await handle.close();
  }
  return received;
}

async function fetchChunk(run: TaskRunner, sha256: string, size: number, range: ByteRange, dest: string, signal: AbortSignal | undefined): Promise<Buffer> {
  const output = await run({ task: 'blob_get', sha256, offset: range[0], length: rangeLength(range) }, { signal });
  if (typeof output.data !== 'string') throw malformedOutput(dest, 'blob_get', 'no data');
  const data = Buffer.from(output.data, 'base64');
  if (output.offset !== range[0] || output.size !== size || data.length !== rangeLength(range)) {
    throw malformedOutput(dest, 'blob_get', `asked for ${rangeLength(range)} bytes at ${range[0]} of ${size}, got ${data.length} at ${String(output.offset)} of ${String(output.size)}`);
  }
  return data;
}

async function assertSha256(file: string, size: number, expected: string, dest: string, signal: AbortSignal | undefined): Promise<void> {
  const actual = await hashFile(file, size, signal);
  if (actual !== expected) throw downloadMismatchError(dest, expected, actual);
}

function downloadMismatchError(dest: string, expected: string, actual: string): VoicestudioError {
  return new VoicestudioError(ErrorCode.TransferFailed, `${dest}: the downloaded bytes hash to ${actual}, not to ${expected}; nothing was written.`, {
    subject: dest,
    suggestion: 'Run the command again to download it afresh; if this repeats, the copy on the network volume is damaged and the step that produced it must run again.',
  });
}

/**
 * A job input for `file`: inline base64 when it is at most `inlineMaxBytes` (capped at the worker's
 * 4 MiB), else uploaded and referenced by sha256. Empty files always go as blobs: the worker rejects empty inline data.
 */
export async function inlineOrBlobRef(run: TaskRunner, file: string, options: UploadOptions & { inlineMaxBytes: number }): Promise<FileRef> {
  const inlineMax = Math.min(options.inlineMaxBytes, INLINE_MAX_BYTES);
  const { size } = await stat(file);
  if (size > 0 && size <= inlineMax) {
    const data = await readFile(file, { signal: options.signal });
    if (data.length > 0 && data.length <= inlineMax) return { data: data.toString('base64') }; // else it grew since stat: upload it
  }
  const { sha256 } = await uploadFile(run, file, options);
  return { blob: sha256 };
}

/** Saves a file the worker produced to `dest`, checking its sha256 whether it came inline or from the store. */
export async function saveWorkerFile(run: TaskRunner, workerFile: WorkerFile, dest: string, options: TransferOptions = {}): Promise<DownloadResult> {
  if ('blob' in workerFile) {
    if (workerFile.blob !== workerFile.sha256) throw malformedOutput(dest, 'result', `file blob ${workerFile.blob} differs from its sha256 ${workerFile.sha256}`);
    return downloadBlob(run, workerFile.blob, dest, { ...options, size: workerFile.size });
  }
  const data = Buffer.from(workerFile.data, 'base64');
  const actual = createHash('sha256').update(data).digest('hex');
  if (actual !== workerFile.sha256 || data.length !== workerFile.size) throw downloadMismatchError(dest, workerFile.sha256, actual);
  await mkdir(path.dirname(dest), { recursive: true });
  const temp = tempSibling(dest);
  try {
    await writeFile(temp, data, { signal: options.signal });
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await commitTemp(temp, dest);
  return { size: data.length, bytesReceived: 0 };
}
