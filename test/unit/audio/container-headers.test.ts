import { readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declaredMp3DurationSec, declaredWavDurationSec, setFlacTotalSamples } from '../../../src/audio/container-headers.js';
import { testTools } from '../../helpers/audio.js';
import { makeTempDir } from '../../helpers/cli.js';

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

describe('declaredMp3DurationSec', () => {
  async function mp3(name: string, seconds: number, options: string[]): Promise<string> {
    const tools = await testTools();
    const file = path.join(dir, name);
    await execa(tools.ffmpeg.path, ['-v', 'error', '-f', 'lavfi', '-i', `sine=f=440:d=${seconds}`, '-c:a', 'libmp3lame', ...options, '-y', file]);
    return file;
  }

  // The header counts whole frames: the encoder's delay and padding add a few (under 0.1 s).
  const withinFewFrames = (seconds: number | undefined, expected: number): void => expect(Math.abs((seconds ?? 0) - expected)).toBeLessThan(0.11);

  it('reads the frame count of a LAME Info (CBR) or Xing (VBR) header, after an ID3v2 tag, MPEG-1 and MPEG-2', async () => {
    withinFewFrames(await declaredMp3DurationSec(await mp3('cbr.mp3', 6, ['-b:a', '128k', '-metadata', 'title=A song'])), 6);
    withinFewFrames(await declaredMp3DurationSec(await mp3('vbr-mpeg2.mp3', 5, ['-ac', '1', '-ar', '22050', '-q:a', '4'])), 5);
  });

  it('still reads the header of a file cut short: that is how truncation shows', async () => {
    const file = await mp3('long.mp3', 30, ['-b:a', '128k']);
    await truncate(file, 16_000);
    withinFewFrames(await declaredMp3DurationSec(file), 30);
  });

  it('is undefined without such a header, and for files that are not MPEG audio', async () => {
    expect(await declaredMp3DurationSec(await mp3('plain.mp3', 3, ['-b:a', '128k', '-write_xing', '0']))).toBeUndefined();
    const text = path.join(dir, 'text.mp3');
    await writeFile(text, 'lyrics, not audio');
    expect(await declaredMp3DurationSec(text)).toBeUndefined();
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
