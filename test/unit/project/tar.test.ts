import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTar, type TarEntry } from '../../../src/project/tar.js';

/** Reads the archive with tarfile in streaming mode, then with the worker's own unpack() (gpu/vsworker/archive.py). */
const PYTHON_READER = `
import hashlib, json, os, sys, tarfile, tempfile
sys.path.insert(0, sys.argv[2])
from vsworker.archive import unpack
members = []
with tarfile.open(sys.argv[1], "r|") as tar:
    for m in tar:
        data = tar.extractfile(m).read()
        members.append({"name": m.name, "size": m.size, "mode": m.mode, "mtime": m.mtime, "uid": m.uid, "gid": m.gid,
                        "uname": m.uname, "gname": m.gname, "regular": m.isreg(), "sha256": hashlib.sha256(data).hexdigest()})
with tempfile.TemporaryDirectory() as out:
    written, skipped = unpack(sys.argv[1], lambda parts: os.path.join(out, hashlib.sha256("/".join(parts).encode()).hexdigest()))
print(json.dumps({"members": members, "unpacked": len(written), "skipped": skipped}))
`;
const GPU_DIR = path.resolve(import.meta.dirname, '../../../gpu');

/** python's own ustar writer with the same fixed attributes, as a byte-for-byte reference. */
const PYTHON_WRITER = `
import json, os, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.USTAR_FORMAT) as tar:
    for name, file in json.loads(sys.argv[2]):
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = os.path.getsize(file), 0o644, 0, 0, 0, "", ""
        with open(file, "rb") as fh:
            tar.addfile(info, fh)
`;

const LONG_DIR = 'd'.repeat(120);
const LONG_NAME = `${LONG_DIR}/${'n'.repeat(95)}.flac`; // 221 bytes: needs the prefix field

let dir: string;
/** The interpreter itself: going through a pyenv shim costs about a second per call. */
let python: string;
let entries: (TarEntry & { data: Buffer })[];

beforeAll(async () => {
  python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  dir = await mkdtemp(path.join(tmpdir(), 'vs-tar-'));
  await mkdir(path.join(dir, 'src'));
  const contents: [string, Buffer][] = [
    ['clips/0001.flac', randomBytes(1000)],
    ['clips/0002.flac', randomBytes(1024)], // a whole number of blocks: no padding
    ['clips/empty.flac', Buffer.alloc(0)],
    [`${'a'.repeat(95)}.flac`, randomBytes(70_000)], // exactly 100 bytes: fills the name field without a NUL
    [LONG_NAME, randomBytes(513)],
    ['clips/café.flac', randomBytes(10)],
  ];
  entries = await Promise.all(
    contents.map(async ([name, data], i) => {
      const file = path.join(dir, 'src', `${i}.bin`);
      await writeFile(file, data);
      return { name, file, data };
    }),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('writeTar', () => {
  it('writes an archive that GNU tar lists and extracts byte for byte', async () => {
    const archive = path.join(dir, 'gnu.tar');
    const { bytes } = await writeTar(archive, entries);
    expect(bytes).toBe((await readFile(archive)).length);
    expect(bytes % 512).toBe(0);

    const listing = execFileSync('tar', ['-tvf', archive], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8', TZ: 'UTC' } }).trim().split('\n');
    expect(listing).toHaveLength(entries.length);
    for (const [i, line] of listing.entries()) {
      const entry = entries[i]!;
      expect(line).toMatch(/^-rw-r--r-- 0\/0 +\d+ 1970-01-01 00:00 /);
      expect(line.split(/\s+/)[2]).toBe(String(entry.data.length));
      expect(line.endsWith(` ${entry.name}`)).toBe(true);
    }

    const out = path.join(dir, 'gnu-out');
    await mkdir(out);
    execFileSync('tar', ['-xf', archive, '-C', out]);
    for (const entry of entries) expect((await readFile(path.join(out, entry.name))).equals(entry.data)).toBe(true);
  });

  it("is read by python's tarfile (the worker's reader) and matches python's own ustar bytes", async () => {
    const archive = path.join(dir, 'python.tar');
    const { bytes } = await writeTar(archive, entries);
    const read = JSON.parse(execFileSync(python, ['-c', PYTHON_READER, archive, GPU_DIR], { encoding: 'utf8' })) as { members: unknown[]; unpacked: number; skipped: string[] };
    expect(read.members).toEqual(
      entries.map(({ name, data }) => ({ name, size: data.length, mode: 0o644, mtime: 0, uid: 0, gid: 0, uname: '', gname: '', regular: true, sha256: sha256(data) })),
    );
    expect(read).toMatchObject({ unpacked: entries.length, skipped: [] });

    const reference = path.join(dir, 'reference.tar');
    execFileSync(python, ['-c', PYTHON_WRITER, reference, JSON.stringify(entries.map(({ name, file }) => [name, file]))]);
    const expected = await readFile(reference);
    // python pads the end to a 10 KiB record; the two zero blocks that end an archive are what counts.
    expect((await readFile(archive)).equals(expected.subarray(0, bytes))).toBe(true);
    expect(expected.subarray(bytes).every((byte) => byte === 0)).toBe(true);
  });

  it('gives the same bytes for the same clips, whatever their timestamps', async () => {
    const first = path.join(dir, 'first.tar');
    const second = path.join(dir, 'second.tar');
    await writeTar(first, entries);
    for (const { file } of entries) await utimes(file, new Date(2001, 1, 1), new Date(2002, 2, 2));
    await writeTar(second, entries);
    expect(sha256(await readFile(second))).toBe(sha256(await readFile(first)));
  });

  it('refuses names the worker would reject or skip, and leaves nothing behind', async () => {
    const out = path.join(dir, 'rejects');
    await mkdir(out);
    const archive = path.join(out, 'bad.tar');
    const file = entries[0]!.file;
    const cases: [string, RegExp][] = [
      ['/etc/passwd', /is an absolute path/],
      ['C:/clips/a.flac', /is an absolute path/],
      ['clips/../../a.flac', /contains "\.\."/],
      ['clips//a.flac', /empty or "\." path segment/],
      ['clips/.hidden.flac', /the worker skips hidden files/],
      ['clips\\a.flac', /backslash/],
      ['', /is empty/],
      [`${'x'.repeat(101)}.flac`, /too long for a ustar header/],
      [`${'p'.repeat(156)}/a.flac`, /too long for a ustar header/],
    ];
    for (const [name, problem] of cases) {
      await expect(writeTar(archive, [{ name, file }]), name).rejects.toThrow(problem);
    }
    await expect(
      writeTar(archive, [
        { name: 'a.flac', file },
        { name: 'a.flac', file },
      ]),
    ).rejects.toThrow('archive entry "a.flac" appears twice');
    await expect(writeTar(archive, [{ name: 'a.flac', file }])).resolves.toEqual({ bytes: 512 + 1024 + 1024 });
    await rm(archive);

    await expect(writeTar(archive, [{ name: 'a.flac', file }, { name: 'folder.flac', file: out }])).rejects.toMatchObject({
      code: 'archive_invalid',
      message: `${out} is not a regular file, so it cannot go into the dataset archive.`,
    });
    expect(await readdir(out)).toEqual([]);
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stopped'));
    await expect(writeTar(path.join(dir, 'aborted.tar'), entries, { signal: controller.signal })).rejects.toThrow('stopped');
    expect((await readdir(dir)).filter((name) => name.startsWith('aborted'))).toEqual([]);
  });
});
