import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readModelZip, writeModelZip } from '../../../src/project/model-zip.js';

/** Writes a zip with python's zipfile: entries [name, file or null for a folder], deflated, names kept exactly. */
const PYTHON_ZIP = `
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for name, file in json.loads(sys.argv[2]):
        info = zipfile.ZipInfo(name, date_time=(2024, 5, 1, 12, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        data = b"" if file is None else open(file, "rb").read()
        z.writestr(info, data)
`;

/** The same, streamed to stdout: an unseekable output makes zipfile put sizes and CRC after the data (bit 3), as macOS does. */
const PYTHON_STREAMED_ZIP = PYTHON_ZIP.replace('zipfile.ZipFile(sys.argv[1], "w")', 'zipfile.ZipFile(sys.stdout.buffer, "w")');

/** What python's zipfile reads back from a zip: name, size and sha256 of every entry. */
const PYTHON_READ = `
import hashlib, json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    print(json.dumps([[i.filename, i.file_size, hashlib.sha256(z.read(i)).hexdigest()] for i in z.infolist()]))
`;

let dir: string;
/** The interpreter itself: going through a pyenv shim costs about a second per call. */
let python: string;
let work: string;
const pthData = Buffer.alloc(300_000, 'weights of a voice '); // compressible, so deflate really compresses
const indexData = randomBytes(50_000);
const checkpointData = randomBytes(400_000);
let pthFile: string;
let indexFile: string;
let checkpointFile: string;

beforeAll(async () => {
  python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  dir = await mkdtemp(path.join(tmpdir(), 'vs-zip-'));
  const fixture = async (name: string, data: Buffer): Promise<string> => {
    const file = path.join(dir, name);
    await writeFile(file, data);
    return file;
  };
  [pthFile, indexFile, checkpointFile] = await Promise.all([fixture('alice.pth', pthData), fixture('alice.index', indexData), fixture('G_2000.pth', checkpointData)]);
});

beforeEach(async () => {
  work = await mkdtemp(path.join(dir, 'case-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function pythonZip(entries: [name: string, file: string | null][]): string {
  const zipFile = path.join(work, 'python.zip');
  execFileSync(python, ['-c', PYTHON_ZIP, zipFile, JSON.stringify(entries)]);
  return zipFile;
}

function hasUnzip(): boolean {
  try {
    execFileSync('unzip', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const INDEX_NAME = 'added_IVF123_Flat_nprobe_1_alice_v2.index';

describe('writeModelZip and readModelZip', () => {
  it('round-trip the model and its index, flattened, with the same bytes', async () => {
    const zipFile = path.join(work, 'alice.zip');
    await writeModelZip(zipFile, [
      { name: 'alice/alice.pth', file: pthFile },
      { name: `alice/${INDEX_NAME}`, file: indexFile },
    ]);
    const dest = path.join(work, 'out');
    const contents = await readModelZip(zipFile, dest);
    expect(contents).toEqual({ pth: path.join(dest, 'alice.pth'), index: path.join(dest, INDEX_NAME), entries: ['alice/alice.pth', `alice/${INDEX_NAME}`] });
    expect((await readFile(contents.pth)).equals(pthData)).toBe(true);
    expect((await readFile(contents.index!)).equals(indexData)).toBe(true);
    expect((await readdir(dest)).sort()).toEqual([INDEX_NAME, 'alice.pth'].sort());
    expect((await readdir(work)).sort()).toEqual(['alice.zip', 'out']); // no temp files left
  });

  it('writes zips that python (zipfile -t) and unzip -t accept, the same bytes every time', async () => {
    const zipFile = path.join(work, 'alice.zip');
    const { bytes } = await writeModelZip(zipFile, [
      { name: 'alice.pth', file: pthFile },
      { name: 'café/alice.index', file: indexFile },
    ]);
    expect(bytes).toBe((await readFile(zipFile)).length);
    expect(execFileSync(python, ['-m', 'zipfile', '-t', zipFile], { encoding: 'utf8' })).toContain('Done testing');
    expect(JSON.parse(execFileSync(python, ['-c', PYTHON_READ, zipFile], { encoding: 'utf8' }))).toEqual([
      ['alice.pth', pthData.length, sha256(pthData)],
      ['café/alice.index', indexData.length, sha256(indexData)],
    ]);
    if (hasUnzip()) expect(execFileSync('unzip', ['-t', zipFile], { encoding: 'utf8' })).toContain('No errors detected');

    const first = sha256(await readFile(zipFile));
    await utimes(pthFile, new Date(2001, 1, 1), new Date(2002, 2, 2));
    await writeModelZip(zipFile, [
      { name: 'alice.pth', file: pthFile },
      { name: 'café/alice.index', file: indexFile },
    ]);
    expect(sha256(await readFile(zipFile))).toBe(first);
  });

  it('refuses entry names that are not relative paths', async () => {
    const zipFile = path.join(work, 'bad.zip');
    for (const name of ['../alice.pth', '/alice.pth', 'a//alice.pth', 'a\\alice.pth']) {
      await expect(writeModelZip(zipFile, [{ name, file: pthFile }]), name).rejects.toThrow(`entry name "${name}" is not a relative POSIX path`);
    }
    await expect(
      writeModelZip(zipFile, [
        { name: 'a.pth', file: pthFile },
        { name: 'a.pth', file: indexFile },
      ]),
    ).rejects.toThrow('two entries have the same name');
    expect(await readdir(work)).toEqual([]);
  });
});

describe('readModelZip', () => {
  it('reads a deflated zip made by python with nested folders, checkpoints and macOS clutter', async () => {
    const zipFile = pythonZip([
      ['alice/', null],
      ['alice/logs/G_2000.pth', checkpointFile],
      ['alice/logs/D_2000.pth', checkpointFile],
      ['alice/alice.pth', pthFile],
      ['alice/trained_IVF123_Flat_nprobe_1_alice_v2.index', indexFile],
      [`alice/${INDEX_NAME}`, indexFile],
      ['__MACOSX/alice/._alice.pth', indexFile],
    ]);
    const dest = path.join(work, 'out');
    const contents = await readModelZip(zipFile, dest);
    expect(contents.pth).toBe(path.join(dest, 'alice.pth'));
    expect(contents.index).toBe(path.join(dest, INDEX_NAME));
    expect(contents.entries).toHaveLength(7);
    expect((await readFile(contents.pth)).equals(pthData)).toBe(true);
    expect((await readFile(contents.index!)).equals(indexData)).toBe(true);
    expect((await readdir(dest)).sort()).toEqual([INDEX_NAME, 'alice.pth'].sort());
  });

  it('reads a zip whose sizes and CRCs follow the data (data descriptors)', async () => {
    const zipFile = path.join(work, 'streamed.zip');
    await writeFile(zipFile, execFileSync(python, ['-c', PYTHON_STREAMED_ZIP, '-', JSON.stringify([['alice/alice.pth', pthFile], [`alice/${INDEX_NAME}`, indexFile]])]));
    const local = await readFile(zipFile);
    expect(local.readUInt16LE(6) & 0x8).toBe(0x8); // the first entry really uses a data descriptor
    const contents = await readModelZip(zipFile, path.join(work, 'out'));
    expect((await readFile(contents.pth)).equals(pthData)).toBe(true);
    expect((await readFile(contents.index!)).equals(indexData)).toBe(true);
  });

  it('takes a zip without an index, and a lone index of another name', async () => {
    expect(await readModelZip(pythonZip([['alice.pth', pthFile]]), path.join(work, 'a'))).toEqual({ pth: path.join(work, 'a', 'alice.pth'), entries: ['alice.pth'] });
    const withIndex = await readModelZip(
      pythonZip([
        ['alice.pth', pthFile],
        ['alice.index', indexFile],
      ]),
      path.join(work, 'b'),
    );
    expect(withIndex.index).toBe(path.join(work, 'b', 'alice.index'));
  });

  it('refuses unsafe entries before extracting anything', async () => {
    const dest = path.join(work, 'out');
    await expect(
      readModelZip(
        pythonZip([
          ['alice.pth', pthFile],
          ['../../evil.index', indexFile],
        ]),
        dest,
      ),
    ).rejects.toThrow('entry "../../evil.index" contains ".." and would land outside the folder it is unpacked into');
    await expect(readModelZip(pythonZip([['/etc/alice.pth', pthFile]]), dest)).rejects.toThrow('entry "/etc/alice.pth" has an absolute path');
    await expect(readModelZip(pythonZip([['C:\\models\\alice.pth', pthFile]]), dest)).rejects.toThrow('entry "C:/models/alice.pth" has an absolute path');
    await expect(readdir(dest)).rejects.toThrow(/ENOENT/);
  });

  it('says clearly when there is no model, only checkpoints, or several candidates', async () => {
    const dest = path.join(work, 'out');
    const noModel = pythonZip([['alice.index', indexFile]]);
    await expect(readModelZip(noModel, dest)).rejects.toMatchObject({ code: 'archive_invalid', subject: noModel, message: `${noModel} contains no .pth voice model.` });
    await expect(
      readModelZip(
        pythonZip([
          ['G_2000.pth', checkpointFile],
          ['D_2000.pth', checkpointFile],
        ]),
        dest,
      ),
    ).rejects.toThrow('contains no .pth voice model (only training checkpoints: G_2000.pth, D_2000.pth)');
    await expect(
      readModelZip(
        pythonZip([
          ['alice_100e.pth', pthFile],
          ['alice_200e.pth', pthFile],
        ]),
        dest,
      ),
    ).rejects.toThrow('contains several .pth voice models (alice_100e.pth, alice_200e.pth)');
    await expect(
      readModelZip(
        pythonZip([
          ['alice.pth', pthFile],
          ['added_a.index', indexFile],
          ['added_b.index', indexFile],
        ]),
        dest,
      ),
    ).rejects.toThrow('contains several .index files (added_a.index, added_b.index)');
  });

  it('refuses encrypted entries, zip64 and files that are not zips', async () => {
    const zipFile = path.join(work, 'alice.zip');
    await writeModelZip(zipFile, [{ name: 'alice.pth', file: pthFile }]);
    const original = await readFile(zipFile);
    const directoryOffset = original.readUInt32LE(original.length - 22 + 16);

    const encrypted = Buffer.from(original);
    encrypted.writeUInt16LE(encrypted.readUInt16LE(directoryOffset + 8) | 1, directoryOffset + 8);
    await writeFile(zipFile, encrypted);
    await expect(readModelZip(zipFile, path.join(work, 'out'))).rejects.toThrow('entry "alice.pth" is encrypted');

    const zip64 = Buffer.from(original);
    zip64.writeUInt32LE(0xffffffff, zip64.length - 22 + 16);
    await writeFile(zipFile, zip64);
    await expect(readModelZip(zipFile, path.join(work, 'out'))).rejects.toThrow('needs zip64 (over 4 GiB or 65535 entries), which voicestudio does not support');

    await writeFile(zipFile, 'just some text');
    await expect(readModelZip(zipFile, path.join(work, 'out'))).rejects.toThrow(`${zipFile} is not a zip file`);
  });

  it('refuses an entry whose bytes fail the CRC-32 check and leaves no file behind', async () => {
    const zipFile = path.join(work, 'alice.zip');
    await writeModelZip(zipFile, [{ name: 'alice.pth', file: pthFile }]);
    const damaged = await readFile(zipFile);
    const inData = 30 + 'alice.pth'.length + 1000;
    damaged.writeUInt8(damaged.readUInt8(inData) ^ 0xff, inData);
    await writeFile(zipFile, damaged);
    const dest = path.join(work, 'out');
    await expect(readModelZip(zipFile, dest)).rejects.toThrow(`${zipFile} is damaged: entry "alice.pth" fails its CRC-32 check.`);
    expect(await readdir(dest)).toEqual([]);

    // Bytes that are not a deflate stream at all.
    const deflated = await readFile(pythonZip([['alice.pth', pthFile]]));
    deflated.fill(0xff, 30 + 'alice.pth'.length, 30 + 'alice.pth'.length + 20);
    await writeFile(zipFile, deflated);
    await mkdir(dest, { recursive: true });
    await expect(readModelZip(zipFile, dest)).rejects.toThrow(/is damaged: entry "alice.pth" does not inflate/);
    expect(await readdir(dest)).toEqual([]);
  });
});
