import { readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declaredWavDurationSec, setFlacTotalSamples } from '../../src/pipeline/container-headers.js';
import { testTools } from '../helpers/audio.js';
import { makeTempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('headers'));
});
afterAll(async () => {
  await cleanup();
});

function wav(seconds: number, sampleRate = 8000): Buffer {
  const data = seconds * sampleRate * 2;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + data, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(data, 40);
  return Buffer.concat([header, Buffer.alloc(data)]);
}

describe('declaredWavDurationSec', () => {
  it('reads what the data chunk declares, even when the file was cut off', async () => {
    const file = path.join(dir, 'cut.wav');
    await writeFile(file, wav(4));
    await truncate(file, 44 + 8000 * 2);
    expect(await declaredWavDurationSec(file)).toBe(4);
  });

  it('is undefined for files that are not plain WAV', async () => {
    const file = path.join(dir, 'not.wav');
    await writeFile(file, 'ID3 not a wave file at all');
    expect(await declaredWavDurationSec(file)).toBeUndefined();
  });
});

describe('setFlacTotalSamples', () => {
  it('makes readers see the clip length and clears the stream MD5', async () => {
    const tools = await testTools();
    const file = path.join(dir, 'clip.flac');
    await execa(tools.ffmpeg.path, ['-v', 'error', '-f', 'lavfi', '-i', 'sine=f=440:d=2:r=40000', '-c:a', 'flac', '-y', file]);
    await setFlacTotalSamples(file, 30000);
    const bytes = await readFile(file);
    expect(bytes.subarray(8 + 18, 8 + 34).every((b) => b === 0)).toBe(true);
    const { stdout } = await execa(tools.ffprobe.path, ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]);
    expect(Number(stdout)).toBeCloseTo(0.75, 3);
  });
});
