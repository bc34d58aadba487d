import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { produceAtomically, writeAtomically } from '../../../src/util/files.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'voicestudio-files-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeAtomically', () => {
  it('creates or replaces the file and leaves no temp file', async () => {
    const file = join(dir, 'a.json');
    await writeAtomically(file, 'first');
    await writeAtomically(file, new TextEncoder().encode('second'), { durable: true });
    expect(await readFile(file, 'utf8')).toBe('second');
    expect(await readdir(dir)).toStrictEqual(['a.json']);
  });

  it('writes through the temp file it is given', async () => {
    const file = join(dir, 'a.json');
    const temp = join(dir, '.a.json.tmp');
    await writeAtomically(file, 'x', { temp });
    expect(await readFile(file, 'utf8')).toBe('x');
    expect(await readdir(dir)).toStrictEqual(['a.json']);
  });

  it('removes its temp file when the rename fails, and leaves what was there', async () => {
    const target = join(dir, 'taken');
    await mkdir(join(target, 'inside'), { recursive: true });
    await expect(writeAtomically(target, 'x')).rejects.toMatchObject({ code: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST)$/) });
    expect(await readdir(dir)).toStrictEqual(['taken']);
    expect(await readdir(target)).toStrictEqual(['inside']);
  });
});

describe('produceAtomically', () => {
  it('puts what the producer wrote in place and returns its result', async () => {
    const file = join(dir, 'out.wav');
    const result = await produceAtomically(file, async (temp) => {
      await writeFile(temp, 'rendered');
      return 42;
    });
    expect(result).toBe(42);
    expect(await readFile(file, 'utf8')).toBe('rendered');
    expect(await readdir(dir)).toStrictEqual(['out.wav']);
  });

  it('removes the half-written temp file and keeps the old file when the producer fails', async () => {
    const file = join(dir, 'out.wav');
    await writeFile(file, 'old');
    const failure = new Error('encoder stopped');
    await expect(
      produceAtomically(file, async (temp) => {
        await writeFile(temp, 'half');
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await readFile(file, 'utf8')).toBe('old');
    expect(await readdir(dir)).toStrictEqual(['out.wav']);
  });
});
