import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rm, truncate, utimes, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CHUNK_BYTES, downloadBlob, ensureUploaded, inlineOrBlobRef, saveWorkerFile, uploadFile } from '../../../src/runpod/transfer.js';
import type { TaskRunner, WorkerInput } from '../../../src/runpod/types.js';

const MIB = 1024 * 1024;
const BLOB_MAX_BYTES = 16 * 1024 * MIB;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

type Range = [start: number, end: number];

function mergeRanges(ranges: Range[]): Range[] {
  const merged: Range[] = [];
  for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0] || a[1] - b[1])) {
    const last = merged.at(-1);
    if (last !== undefined && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

function gapsOf(ranges: Range[], size: number): Range[] {
  const gaps: Range[] = [];
  let covered = 0;
  for (const [start, end] of mergeRanges(ranges)) {
    if (start > covered) gaps.push([covered, start]);
    covered = Math.max(covered, end);
  }
  if (covered < size) gaps.push([covered, size]);
  return gaps;
}

/** Validates a task's fields the way gpu/vsworker/validation.py does: unknown fields rejected, types strict. */
class Fields {
  private readonly used = new Set<string>(['task']);
  constructor(private readonly input: WorkerInput) {}

  private get(key: string, required: boolean): unknown {
    this.used.add(key);
    const value = this.input[key];
    if ((value === undefined || value === null) && required) throw new Error(`input.${key} is required`);
    return value ?? undefined;
  }

  sha256(key: string, required = true): string | undefined {
    const value = this.get(key, required);
    if (value !== undefined && (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value))) throw new Error(`input.${key} must be a sha256 hex digest`);
    return value as string | undefined;
  }

  integer(key: string, min: number, max: number, fallback?: number): number {
    const value = this.get(key, fallback === undefined) ?? fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) throw new Error(`input.${key} must be an integer from ${min} to ${max}`);
    return value;
  }

  base64(key: string, maxBytes: number): Buffer {
    const value = this.get(key, true);
    // Standard alphabet, '=' padding, no line breaks.
    if (typeof value !== 'string' || value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new Error(`input.${key} is not valid base64`);
    if (value.length > 4 * Math.ceil(maxBytes / 3)) throw new Error(`input.${key} is too large`);
    const data = Buffer.from(value, 'base64');
    if (data.length > maxBytes) throw new Error(`input.${key} is too large`);
    return data;
  }

  array(key: string, maxItems: number): unknown[] {
    const value = this.get(key, true);
    if (!Array.isArray(value) || value.length > maxItems) throw new Error(`input.${key} must be a list of at most ${maxItems} items`);
    return value;
  }

  finish(): void {
    const unknown = Object.keys(this.input).filter((key) => !this.used.has(key));
    if (unknown.length > 0) throw new Error(`input.${unknown[0]} is not a field of task '${this.input.task}'`);
  }
}

/** An in-memory worker blob store that follows gpu/README.md's blob protocol (and gpu/vsworker/blobstore.py) exactly. */
class FakeBlobWorker {
  readonly blobs = new Map<string, Buffer>();
  /** Staged chunks by `${sha}-${size}`, then by `${offset}-${length}`. */
  readonly staging = new Map<string, Map<string, { offset: number; data: Buffer }>>();
  readonly calls: WorkerInput[] = [];
  /** The byte range and chunk_sha256 of every chunk blob_put received. */
  readonly puts: { range: Range; chunkSha256Matched: boolean }[] = [];
  putsInFlight = 0;
  peakPutsInFlight = 0;
  /** Runs before each task: lets a test change files, drop staged chunks, or fail a task. */
  beforeTask: (input: WorkerInput) => void | Promise<void> = () => {};
  corruptDownloads = false;
  /**
   * When set, each blob_put waits until this many are in flight at once (then the gate stays open): overlapping
   * calls become certain, whatever the machine's load, and a limit below it never lets the test finish.
   */
  putsMeet: number | undefined;
  private gateOpened: (() => void) | undefined;
  private readonly gate = new Promise<void>((resolve) => (this.gateOpened = resolve));

  readonly run: TaskRunner = async (input, options) => {
    options?.signal?.throwIfAborted();
    this.calls.push(input);
    await this.beforeTask(input);
    if (input.task !== 'blob_put') return this.handle(input);
    this.putsInFlight += 1;
    this.peakPutsInFlight = Math.max(this.peakPutsInFlight, this.putsInFlight);
    try {
      if (this.putsMeet !== undefined) {
        if (this.putsInFlight >= this.putsMeet) this.gateOpened?.();
        await this.gate;
      }
      return this.handle(input);
    } finally {
      this.putsInFlight -= 1;
    }
  };

  tasks(task: WorkerInput['task']): WorkerInput[] {
    return this.calls.filter((call) => call.task === task);
  }

  /** Stages chunks as an earlier, interrupted client would have (declaring `size` for the whole blob). */
  stage(data: Buffer, ranges: Range[], size = data.length): void {
    const key = `${sha256(data)}-${size}`;
    const chunks = this.staging.get(key) ?? new Map();
    for (const [start, end] of ranges) chunks.set(`${start}-${end - start}`, { offset: start, data: data.subarray(start, end) });
    this.staging.set(key, chunks);
  }

  private handle(input: WorkerInput): Record<string, unknown> {
    const fields = new Fields(input);
    switch (input.task) {
      case 'blob_has':
        return this.has(fields);
      case 'blob_put':
        return this.put(fields);
      case 'blob_commit':
        return this.commit(fields);
      case 'blob_get':
        return this.get(fields);
      default:
        throw new Error(`unexpected task ${input.task}`);
    }
  }

  private stagedRanges(key: string): Range[] {
    return mergeRanges([...(this.staging.get(key)?.values() ?? [])].map(({ offset, data }) => [offset, offset + data.length]));
  }

  private has(fields: Fields): Record<string, unknown> {
    const hashes = fields.array('hashes', 1000);
    fields.finish();
    for (const [i, hash] of hashes.entries()) if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) throw new Error(`input.hashes[${i}] must be a sha256 hex digest`);
    const present: string[] = [];
    const missing: string[] = [];
    const sizes: Record<string, number> = {};
    const uploads: Record<string, { size: number; ranges: Range[] }[]> = {};
    for (const sha of new Set(hashes as string[])) {
      const blob = this.blobs.get(sha);
      if (blob !== undefined) {
        present.push(sha);
        sizes[sha] = blob.length;
        continue;
      }
      missing.push(sha);
      const staged = [...this.staging.keys()].filter((key) => key.startsWith(`${sha}-`)).map((key) => ({ size: Number(key.slice(65)), ranges: this.stagedRanges(key) }));
      if (staged.length > 0) uploads[sha] = staged.sort((a, b) => a.size - b.size);
    }
    return { present, missing, sizes, uploads };
  }

  private put(fields: Fields): Record<string, unknown> {
    const sha = fields.sha256('sha256') as string;
    const size = fields.integer('size', 0, BLOB_MAX_BYTES);
    const offset = fields.integer('offset', 0, BLOB_MAX_BYTES);
    const data = fields.base64('data', CHUNK_BYTES);
    const chunkSha = fields.sha256('chunk_sha256', false);
    fields.finish();
    if (data.length === 0) throw new Error('input.data is empty; a chunk carries at least one byte');
    if (offset + data.length > size) throw new Error(`input.offset + chunk length (${offset} + ${data.length}) exceeds input.size (${size})`);
    if (chunkSha !== undefined && sha256(data) !== chunkSha) throw new Error('input.chunk_sha256 does not match the decoded input.data');
    this.puts.push({ range: [offset, offset + data.length], chunkSha256Matched: chunkSha !== undefined });
    if (this.blobs.has(sha)) return { sha256: sha, offset, length: data.length, status: 'exists' };
    const key = `${sha}-${size}`;
    const chunks = this.staging.get(key) ?? new Map();
    chunks.set(`${offset}-${data.length}`, { offset, data });
    this.staging.set(key, chunks);
    const received = this.stagedRanges(key).reduce((sum, [start, end]) => sum + end - start, 0);
    return { sha256: sha, offset, length: data.length, status: 'stored', received, complete: received === size };
  }

  private commit(fields: Fields): Record<string, unknown> {
    const sha = fields.sha256('sha256') as string;
    const size = fields.integer('size', 0, BLOB_MAX_BYTES);
    fields.finish();
    const existing = this.blobs.get(sha);
    if (existing !== undefined) {
      if (existing.length !== size) throw new Error(`blob ${sha} already exists with ${existing.length} bytes, not ${size}`);
      return { sha256: sha, size, status: 'exists' };
    }
    if (size === 0 && sha !== EMPTY_SHA256) throw new Error('input.sha256 does not match an empty blob (size 0)');
    const key = `${sha}-${size}`;
    const gaps = gapsOf(this.stagedRanges(key), size);
    if (gaps.length > 0) {
      throw new Error(`blob ${sha} is incomplete: missing byte ranges ${gaps.map(([a, b]) => `[${a}, ${b})`).join(', ')}; upload them with blob_put and commit again`);
    }
    const assembled = Buffer.alloc(size);
    let position = 0;
    // Overlaps: the first chunk by offset supplies the bytes, as in blobstore.py.
    for (const { offset, data } of [...(this.staging.get(key)?.values() ?? [])].sort((a, b) => a.offset - b.offset || a.data.length - b.data.length)) {
      if (offset + data.length <= position) continue;
      data.subarray(position - offset).copy(assembled, position);
      position = offset + data.length;
    }
    const actual = sha256(assembled);
    this.staging.delete(key);
    if (actual !== sha) throw new Error(`blob ${sha}: the uploaded chunks hash to ${actual}, not to the expected sha256; the staged chunks were discarded, upload the blob again`);
    this.blobs.set(sha, assembled);
    return { sha256: sha, size, status: 'committed' };
  }

  private get(fields: Fields): Record<string, unknown> {
    const sha = fields.sha256('sha256') as string;
    const offset = fields.integer('offset', 0, BLOB_MAX_BYTES, 0);
    const length = fields.integer('length', 1, CHUNK_BYTES, CHUNK_BYTES);
    fields.finish();
    const blob = this.blobs.get(sha);
    if (blob === undefined) throw new Error(`blob ${sha} is not in the store`);
    if (offset > blob.length) throw new Error(`input.offset ${offset} is beyond the end of blob ${sha} (${blob.length} bytes)`);
    const data = Buffer.from(blob.subarray(offset, offset + length));
    if (this.corruptDownloads && data.length > 0) data[0] = (data[0] as number) ^ 0xff;
    return { sha256: sha, offset, length: data.length, size: blob.length, eof: offset + data.length >= blob.length, data: data.toString('base64') };
  }
}

let dir: string;
let worker: FakeBlobWorker;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vs-transfer-'));
  worker = new FakeBlobWorker();
});

afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

async function fileWith(name: string, data: Buffer): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, data);
  return file;
}

function putRanges(): Range[] {
  return worker.puts.map((put) => put.range);
}

describe('uploadFile', () => {
  it('sends a 9 MiB file in three chunks with their sha256, and the worker verifies the whole on commit', async () => {
    const data = randomBytes(9 * MIB);
    const file = await fileWith('dataset.tar', data);
    const progress: [number, number][] = [];
    const result = await uploadFile(worker.run, file, { onProgress: (sent, total) => progress.push([sent, total]) });

    expect(result).toEqual({ file, sha256: sha256(data), size: data.length, uploaded: true, bytesSent: data.length });
    expect(worker.calls.map((call) => call.task)).toEqual(['blob_has', 'blob_put', 'blob_put', 'blob_put', 'blob_commit']);
    expect(putRanges().sort((a, b) => a[0] - b[0])).toEqual([
      [0, 4 * MIB],
      [4 * MIB, 8 * MIB],
      [8 * MIB, 9 * MIB],
    ]);
    expect(worker.puts.every((put) => put.chunkSha256Matched)).toBe(true);
    expect(worker.blobs.get(result.sha256)?.equals(data)).toBe(true);
    expect(progress.at(-1)).toEqual([data.length, data.length]);
  });

  it('skips a blob the store already has', async () => {
    const file = await fileWith('model.pth', randomBytes(1000));
    await uploadFile(worker.run, file);
    worker.calls.length = 0;
    const again = await uploadFile(worker.run, file);
    expect(again).toMatchObject({ uploaded: false, bytesSent: 0, size: 1000 });
    expect(worker.calls.map((call) => call.task)).toEqual(['blob_has']);
  });

  it('resumes a partly staged upload by sending only the missing ranges', async () => {
    const data = randomBytes(6 * MIB);
    worker.stage(data, [
      [0, 1 * MIB],
      [1 * MIB, 2 * MIB],
      [5 * MIB, 6 * MIB],
    ]);
    // A staging area of another declared size belongs to another upload and is ignored.
    worker.stage(data, [[2 * MIB, 5 * MIB]], 7 * MIB);
    const file = await fileWith('dataset.tar', data);
    const result = await uploadFile(worker.run, file);
    expect(putRanges()).toEqual([[2 * MIB, 5 * MIB]]);
    expect(result).toMatchObject({ uploaded: true, bytesSent: 3 * MIB });
    expect(worker.blobs.get(sha256(data))?.equals(data)).toBe(true);
  });

  it('commits an upload whose chunks are all staged already without sending any', async () => {
    const data = randomBytes(3000);
    worker.stage(data, [[0, 3000]]);
    const result = await uploadFile(worker.run, await fileWith('a.bin', data));
    expect(result).toMatchObject({ uploaded: true, bytesSent: 0 });
    expect(worker.tasks('blob_put')).toHaveLength(0);
    expect(worker.blobs.has(sha256(data))).toBe(true);
  });


  it('reads each chunk from disk at its offset, never more than CHUNK_BYTES at once', async () => {
    const data = randomBytes(5 * MIB + 123);
    const file = await fileWith('big.bin', data);
    const probe = await open(file, 'r');
    const fileHandlePrototype = Object.getPrototypeOf(probe) as FileHandle;
    await probe.close();
    const reads = vi.spyOn(fileHandlePrototype, 'read');

    await uploadFile(worker.run, file, { sha256: sha256(data) });
    const lengths = reads.mock.calls.map((args) => (args as unknown[])[2] as number);
    expect(Math.max(...lengths)).toBeLessThanOrEqual(CHUNK_BYTES);
    expect(lengths.reduce((sum, length) => sum + length, 0)).toBe(data.length);
  });

  it('uploads an empty file as an empty blob without chunks', async () => {
    const result = await uploadFile(worker.run, await fileWith('empty', Buffer.alloc(0)));
    expect(result).toMatchObject({ sha256: EMPTY_SHA256, size: 0, uploaded: true, bytesSent: 0 });
    expect(worker.blobs.get(EMPTY_SHA256)?.length).toBe(0);
  });

  it('reports a file that becomes shorter during the upload, naming it', async () => {
    const file = await fileWith('clip.flac', randomBytes(5 * MIB));
    worker.beforeTask = async (input) => {
      if (input.task === 'blob_put') await truncate(file, 1 * MIB);
    };
    const failure = uploadFile(worker.run, file, { concurrency: 1 });
    await expect(failure).rejects.toThrow(`${file} changed while it was being uploaded.`);
    await expect(failure).rejects.toMatchObject({ code: 'transfer_failed', subject: file });
    expect(worker.tasks('blob_commit')).toHaveLength(0);
  });

  it('reports a file rewritten in place during the upload before committing it', async () => {
    const file = await fileWith('clip.flac', randomBytes(1000));
    worker.beforeTask = async (input) => {
      if (input.task === 'blob_put') {
        await writeFile(file, randomBytes(1000));
        await utimes(file, new Date(), new Date(Date.now() + 60_000));
      }
    };
    await expect(uploadFile(worker.run, file)).rejects.toThrow(`${file} changed while it was being uploaded.`);
    expect(worker.tasks('blob_commit')).toHaveLength(0);
  });

  it('sends the ranges a commit finds missing once more, then commits again', async () => {
    const data = randomBytes(5 * MIB);
    const sha = sha256(data);
    let dropped = false;
    worker.beforeTask = (input) => {
      if (input.task === 'blob_commit' && !dropped) {
        dropped = true; // as if the staged chunk had expired
        worker.staging.get(`${sha}-${data.length}`)?.delete(`${4 * MIB}-${1 * MIB}`);
      }
    };
    const result = await uploadFile(worker.run, await fileWith('dataset.tar', data));
    expect(worker.calls.map((call) => call.task)).toEqual(['blob_has', 'blob_put', 'blob_put', 'blob_commit', 'blob_has', 'blob_put', 'blob_commit']);
    expect(putRanges().at(-1)).toEqual([4 * MIB, 5 * MIB]);
    expect(result).toMatchObject({ uploaded: true, bytesSent: 6 * MIB });
    expect(worker.blobs.get(sha)?.equals(data)).toBe(true);
  });

  it("propagates the worker's errors, such as a commit whose bytes do not hash to the given sha256", async () => {
    const file = await fileWith('a.bin', randomBytes(100));
    await expect(uploadFile(worker.run, file, { sha256: sha256(Buffer.from('something else')) })).rejects.toThrow(/the uploaded chunks hash to [0-9a-f]{64}, not to the expected sha256/);
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stopped by the user'));
    await expect(uploadFile(worker.run, await fileWith('a.bin', randomBytes(10)), { signal: controller.signal })).rejects.toThrow('stopped by the user');
  });
});

describe('ensureUploaded', () => {
  it('asks about all files in one blob_has, then uploads each missing content once', async () => {
    const shared = randomBytes(2 * MIB);
    const present = await fileWith('present.bin', randomBytes(500));
    await uploadFile(worker.run, present);
    worker.calls.length = 0;
    const first = await fileWith('first.bin', shared);
    const sameContent = await fileWith('same.bin', shared);
    const other = await fileWith('other.bin', randomBytes(1 * MIB));
    const progress: [number, number][] = [];

    const result = await ensureUploaded(worker.run, [present, first, sameContent, other], { concurrency: 2, onProgress: (sent, total) => progress.push([sent, total]) });
    expect(result.files.map(({ file, uploaded, bytesSent }) => ({ file, uploaded, bytesSent }))).toEqual([
      { file: present, uploaded: false, bytesSent: 0 },
      { file: first, uploaded: true, bytesSent: 2 * MIB },
      { file: sameContent, uploaded: false, bytesSent: 0 },
      { file: other, uploaded: true, bytesSent: 1 * MIB },
    ]);
    expect(result.bytesSent).toBe(3 * MIB);
    expect(worker.tasks('blob_has')).toHaveLength(1);
    expect(worker.tasks('blob_has')[0]?.hashes).toHaveLength(3);
    expect(progress.at(-1)).toEqual([3 * MIB, 3 * MIB]);
  });

  it('reports no progress when the store already has everything (no "0.0/0.0 MB")', async () => {
    const present = await fileWith('present.bin', randomBytes(500));
    await uploadFile(worker.run, present);
    const progress: [number, number][] = [];
    const result = await ensureUploaded(worker.run, [present], { onProgress: (sent, total) => progress.push([sent, total]) });
    expect(result.files[0]?.uploaded).toBe(false);
    expect(progress).toEqual([]);
  });

  it('keeps at most `concurrency` chunks in flight (default 3), across files too', async () => {
    const files = await Promise.all(Array.from({ length: 6 }, (_, i) => fileWith(`clip${i}.flac`, randomBytes(1000))));
    worker.putsMeet = 2;
    await ensureUploaded(worker.run, files, { concurrency: 2 });
    expect(worker.peakPutsInFlight).toBe(2);

    const other = new FakeBlobWorker();
    other.putsMeet = 3;
    await ensureUploaded(other.run, files);
    expect(other.peakPutsInFlight).toBe(3);
    expect(other.blobs.size).toBe(6);
  });
});

describe('downloadBlob', () => {
  it('fetches the chunks, verifies the sha256 and puts the file in place', async () => {
    const data = randomBytes(5 * MIB + 5);
    const sha = sha256(data);
    worker.blobs.set(sha, data);
    const dest = path.join(dir, 'out', 'model.pth');

    const result = await downloadBlob(worker.run, sha, dest);
    expect(result).toEqual({ size: data.length, bytesReceived: data.length });
    expect((await readFile(dest)).equals(data)).toBe(true);
    expect(worker.calls.map(({ task, offset, length }) => ({ task, offset, length }))).toEqual([
      { task: 'blob_has', offset: undefined, length: undefined },
      { task: 'blob_get', offset: 0, length: 4 * MIB },
      { task: 'blob_get', offset: 4 * MIB, length: 1 * MIB + 5 },
    ]);
    expect(await readdir(path.dirname(dest))).toEqual(['model.pth']);

    worker.calls.length = 0;
    await downloadBlob(worker.run, sha, dest, { size: data.length });
    expect(worker.tasks('blob_has')).toHaveLength(0);
  });

  it('deletes a download whose bytes do not match the sha256 and says so', async () => {
    const data = randomBytes(100_000);
    const sha = sha256(data);
    worker.blobs.set(sha, data);
    worker.corruptDownloads = true;
    const dest = path.join(dir, 'model.pth');
    const failure = downloadBlob(worker.run, sha, dest);
    await expect(failure).rejects.toThrow(`${dest}: the downloaded bytes hash to`);
    await expect(failure).rejects.toMatchObject({ code: 'transfer_failed', subject: dest });
    expect(await readdir(dir)).toEqual([]);
  });

  it('says clearly when the blob is not in the store', async () => {
    const dest = path.join(dir, 'model.pth');
    await expect(downloadBlob(worker.run, sha256(Buffer.from('gone')), dest)).rejects.toThrow(`${dest}: blob ${sha256(Buffer.from('gone'))} is not in the worker's store.`);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('file references', () => {
  it('inlines small files and uploads larger (or empty) ones', async () => {
    const small = randomBytes(1000);
    expect(await inlineOrBlobRef(worker.run, await fileWith('small.wav', small), { inlineMaxBytes: 4 * MIB })).toEqual({ data: small.toString('base64') });
    expect(worker.calls).toHaveLength(0);

    const large = randomBytes(5 * MIB);
    expect(await inlineOrBlobRef(worker.run, await fileWith('large.wav', large), { inlineMaxBytes: 8 * MIB })).toEqual({ blob: sha256(large) });
    expect(worker.blobs.get(sha256(large))?.equals(large)).toBe(true);

    expect(await inlineOrBlobRef(worker.run, await fileWith('tiny.wav', small), { inlineMaxBytes: 999 })).toEqual({ blob: sha256(small) });
    expect(await inlineOrBlobRef(worker.run, await fileWith('empty.wav', Buffer.alloc(0)), { inlineMaxBytes: 4 * MIB })).toEqual({ blob: EMPTY_SHA256 });
  });

  it('saves inline and blob worker files after checking their sha256', async () => {
    const inline = randomBytes(2000);
    const inlineDest = path.join(dir, 'inline.wav');
    expect(await saveWorkerFile(worker.run, { sha256: sha256(inline), size: inline.length, data: inline.toString('base64') }, inlineDest)).toEqual({ size: 2000, bytesReceived: 0 });
    expect((await readFile(inlineDest)).equals(inline)).toBe(true);

    const stored = randomBytes(100_000);
    worker.blobs.set(sha256(stored), stored);
    const storedDest = path.join(dir, 'stored.wav');
    expect(await saveWorkerFile(worker.run, { sha256: sha256(stored), size: stored.length, blob: sha256(stored) }, storedDest)).toEqual({ size: stored.length, bytesReceived: stored.length });
    expect((await readFile(storedDest)).equals(stored)).toBe(true);
    expect(worker.tasks('blob_has')).toHaveLength(0);
  });

  it('refuses inline data that does not match its sha256 and writes nothing', async () => {
    const dest = path.join(dir, 'sub', 'bad.wav');
    await mkdir(path.dirname(dest));
    await expect(saveWorkerFile(worker.run, { sha256: sha256(Buffer.from('x')), size: 1, data: Buffer.from('y').toString('base64') }, dest)).rejects.toThrow(`${dest}: the downloaded bytes hash to`);
    expect(await readdir(path.dirname(dest))).toEqual([]);
  });
});
