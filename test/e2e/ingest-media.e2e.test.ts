/**
 * ingest through bin/voicestudio on the files real projects hold, made here with FFmpeg: videos whose sound is
 * shorter than their picture, text files with media extensions, MP3/M4A/AAC files cut short (with and without a
 * header that declares their length), and voicestudio's own renders found by a folder scan or named.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderTagOptions, runFfmpeg, type FfmpegTools } from '../../src/audio/ffmpeg.js';
import type { IngestResult } from '../../src/workflows/ingest.js';
import { updateManifest } from '../../src/project/manifest.js';
import type { Manifest } from '../../src/project/types.js';
import { durationOf, testTools, writePhrases } from '../helpers/audio.js';
import { makeTempDir, parseJson, runCli } from '../helpers/cli.js';
import { shellQuote } from '../../src/util/shell.js';

let root: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTempDir('ingest-media'));
});

afterAll(async () => {
  await cleanup();
});

async function ffmpeg(args: string[]): Promise<void> {
  await execa((await testTools()).ffmpeg.path, ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args]);
}

async function newProject(name: string): Promise<string> {
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

async function ingestJson(args: string[]): Promise<{ exitCode: number; result: IngestResult; stdout: string; stderr: string }> {
  const run = await runCli(['ingest', ...args, '--json']);
  return { exitCode: run.exitCode, result: parseJson<IngestResult>(run), stdout: run.stdout, stderr: run.stderr };
}

const byName = (result: IngestResult) => new Map(result.files.map((f) => [path.basename(f.path), f]));

async function manifestOf(project: string): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(project, 'voicestudio.json'), 'utf8')) as Manifest;
}

/** The first `bytes` of a file, optionally padded with zeros back to `padTo` bytes (an unfinished download). */
async function cutBytes(from: string, to: string, bytes: number, padTo?: number): Promise<void> {
  const data = (await readFile(from)).subarray(0, bytes);
  await writeFile(to, padTo === undefined ? data : Buffer.concat([data, Buffer.alloc(padTo - bytes)]));
}

describe('a video whose sound is shorter than its picture', () => {
  it('is taken in whole, its length judged on the audio stream (mp4, mov, mkv)', async () => {
    const project = await newProject('video');
    // Picture 12.1 s, sound 10.2 s, no -shortest: muxed the way phones and cameras do.
    await Promise.all(
      ['mp4', 'mov', 'mkv'].map((ext) =>
        ffmpeg([
          '-f', 'lavfi', '-i', 'color=c=blue:s=64x48:r=5:d=12.1',
          '-f', 'lavfi', '-i', `aevalsrc=0.4*sin(2*PI*220*t+3*sin(2*PI*5.5*t)):s=48000:d=10.2`,
          '-c:v', 'mpeg4', '-c:a', 'aac', path.join(project, `phone.${ext}`),
        ]),
      ),
    );
    const { exitCode, result, stderr } = await ingestJson([project]);
    expect(exitCode, stderr).toBe(0);
    expect(result.files.map((f) => [f.path, f.status])).toEqual([
      ['phone.mkv', 'added'],
      ['phone.mov', 'added'],
      ['phone.mp4', 'added'],
    ]);
    const manifest = await manifestOf(project);
    for (const source of manifest.sources) {
      expect(source.durationSec).toBeCloseTo(10.2, 1);
      // The working copy, measured by ffprobe, holds all of the sound.
      expect((await durationOf(path.join(project, source.workingFile))).durationSec).toBeCloseTo(10.2, 1);
    }
  });
});

describe('a text file with a media extension', () => {
  it('is refused like any other non-media file, naming the file and what to do', async () => {
    const project = await newProject('text');
    await writeFile(path.join(project, 'lyrics.flac'), 'Verse one: these are lyrics, not audio\n');
    await writeFile(path.join(project, 'notes.wav'), 'Notes for the session, not audio\n');
    await writeFile(path.join(project, 'clip.mp4'), 'A shot list, not a video\n');
    const { exitCode, result } = await ingestJson([project]);
    // Every file failed: nothing was done, so it is a failure (1), not a partial success (3).
    expect(exitCode).toBe(1);
    for (const name of ['lyrics.flac', 'notes.wav', 'clip.mp4']) {
      expect(byName(result).get(name)).toMatchObject({
        status: 'failed',
        reason: 'not a readable audio or video file (FFmpeg found no audio or video data in it).',
        suggestion: expect.stringMatching(/re-export or re-download it\. If it is not a recording, move it out of the folder\./),
      });
    }
    const human = await runCli(['ingest', project]);
    expect(human.stdout).toContain('lyrics.flac: not a readable audio or video file');
    expect(human.stdout).not.toMatch(/sampleRate/);
  });
});

describe('a file cut short', () => {
  let project: string;
  let result: IngestResult;
  let exitCode: number;

  beforeAll(async () => {
    project = await newProject('cut');
    const whole = path.join(root, 'whole');
    await mkdir(whole, { recursive: true });
    const source = ['-f', 'lavfi', '-i', 'aevalsrc=0.4*sin(2*PI*220*t+3*sin(2*PI*5.5*t)):s=44100:d=81'];
    await Promise.all([
      ffmpeg([...source, '-c:a', 'libmp3lame', '-b:a', '128k', path.join(whole, 'xing.mp3')]),
      ffmpeg([...source, '-c:a', 'libmp3lame', '-b:a', '128k', '-write_xing', '0', path.join(whole, 'plain.mp3')]),
      ffmpeg([...source, '-c:a', 'aac', '-b:a', '128k', '-movflags', '+faststart', path.join(whole, 'song.m4a')]),
      ffmpeg([...source, '-c:a', 'aac', '-b:a', '128k', '-f', 'adts', path.join(whole, 'song.aac')]),
    ]);
    const size = async (name: string): Promise<number> => (await readFile(path.join(whole, name))).length;
    // 20 kB of 128 kbit/s MP3 is about 1.2 s of the 81 s.
    await cutBytes(path.join(whole, 'xing.mp3'), path.join(project, 'xing-cut.mp3'), 20_000);
    await cutBytes(path.join(whole, 'plain.mp3'), path.join(project, 'plain-unfinished.mp3'), 20_000, await size('plain.mp3'));
    await cutBytes(path.join(whole, 'plain.mp3'), path.join(project, 'plain-cut.mp3'), 20_000);
    await cutBytes(path.join(whole, 'song.m4a'), path.join(project, 'song-cut.m4a'), Math.floor((await size('song.m4a')) / 50));
    await cutBytes(path.join(whole, 'song.aac'), path.join(project, 'song-unfinished.aac'), 30_000, await size('song.aac'));
    ({ exitCode, result } = await ingestJson([project]));
  });

  it('is refused when its header declares the length: an MP3 with a Xing header, an M4A', () => {
    expect(exitCode).toBe(3);
    expect(byName(result).get('xing-cut.mp3')).toMatchObject({ status: 'failed', reason: expect.stringMatching(/^truncated: its MP3 header claims 81\.0 s but only 1\.[0-9] s can be decoded$/) });
    expect(byName(result).get('song-cut.m4a')).toMatchObject({ status: 'failed', reason: expect.stringMatching(/^truncated: its container claims 81\.0 s but only \d\.\d s can be decoded$/) });
  });

  it('is taken in with a warning when only the bitrate estimates the length: MP3 without a header, raw AAC', () => {
    for (const name of ['plain-unfinished.mp3', 'song-unfinished.aac']) {
      const file = byName(result).get(name);
      expect(file?.status).toBe('added');
      expect(file?.warnings).toEqual([
        {
          code: 'maybe_truncated',
          message: expect.stringMatching(/^only \d\.\d s can be decoded, but its size and bitrate suggest about 8\d\.\d s: it may be cut off or damaged$/),
          suggestion: expect.stringContaining(`voicestudio sources rm ${project} ${name}`),
        },
      ]);
    }
  });

  it('cannot be told from a short recording when nothing declares or implies more (an MP3 cut without a header)', () => {
    const file = byName(result).get('plain-cut.mp3');
    expect(file?.status).toBe('added');
    expect(file?.warnings).toBeUndefined();
  });
});

describe("voicestudio's own renders", () => {
  let project: string;

  beforeAll(async () => {
    project = await newProject('renders');
    const tools = await testTools();
    await mkdir(path.join(project, 'takes'), { recursive: true });
    await mkdir(path.join(project, 'album'), { recursive: true });
    await writePhrases(path.join(project, 'takes', 'verse.wav'), { seconds: 6 });
    // A conversion as collect leaves it (marked by the same call), a mix as mix-down encodes it, and an older
    // conversion without a mark that the job ledger names.
    await writePhrases(path.join(root, 'converted.wav'), { seconds: 5, frequency: 260 });
    await markRender(tools, path.join(root, 'converted.wav'), path.join(project, 'album', '01 song.wav'));
    await ffmpeg(['-f', 'lavfi', '-i', 'sine=f=330:d=5', ...renderTagOptions('mix'), '-c:a', 'libmp3lame', path.join(project, 'album', '02 song.mp3')]);
    await writePhrases(path.join(project, 'album', '03 song.wav'), { seconds: 5, frequency: 290 });
    await updateManifest(project, (m) => {
      m.jobs.push({ id: 'job-03', task: 'convert', label: '03 song.wav', status: 'COMPLETED', request: { output: path.join(project, 'album', '03 song.wav') } });
    });
  });

  it('are skipped by a folder scan, each with the reason, in the table and in --json (exit 0)', async () => {
    const { exitCode, result, stderr } = await ingestJson([project]);
    expect(exitCode, stderr).toBe(0);
    expect(result.files.map((f) => [f.path, f.status])).toEqual([
      ['album/01 song.wav', 'skipped'],
      ['album/02 song.mp3', 'skipped'],
      ['album/03 song.wav', 'skipped'],
      ['takes/verse.wav', 'added'],
    ]);
    expect(result.skipped).toBe(3);
    const files = byName(result);
    expect(files.get('01 song.wav')?.reason).toBe('voicestudio made it (its tags mark it as a voicestudio conversion), so it is no recording of the singer');
    expect(files.get('02 song.mp3')?.reason).toMatch(/voicestudio mix/);
    expect(files.get('03 song.wav')?.reason).toMatch(/the output of conversion job job-03/);
    expect(files.get('01 song.wav')?.suggestion).toBe(`To train on it anyway, name the file: voicestudio ingest ${shellQuote(project)} ${shellQuote(path.join(project, 'album', '01 song.wav'))}`);
    expect((await manifestOf(project)).sources.map((s) => s.path)).toEqual(['takes/verse.wav']);

    const human = await runCli(['ingest', project]);
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^album\/01 song\.wav\s+skipped\s+–\s+voicestudio's own render$/m);
    expect(human.stdout).toMatch(/^3 files skipped:$/m);
  });

  it('are taken in with a warning when named', async () => {
    const named = [path.join(project, 'album', '01 song.wav'), path.join(project, 'album', '03 song.wav')];
    const { exitCode, result, stderr } = await ingestJson([project, ...named]);
    expect(exitCode, stderr).toBe(0);
    expect(result.files.map((f) => [f.path, f.status, f.warnings?.map((w) => w.code)])).toEqual([
      ['album/01 song.wav', 'added', ['voicestudio_render']],
      ['album/03 song.wav', 'added', ['voicestudio_render']],
    ]);
    expect(result.files[0]?.warnings?.[0]?.suggestion).toBe(`If that was not meant: voicestudio sources rm ${project} album/01 song.wav`);
  });
});

/** A copy of a finished render with voicestudio's mark added, as convert and mix write their outputs. */
async function markRender(tools: FfmpegTools, input: string, output: string): Promise<void> {
  await runFfmpeg(tools, ['-i', input, '-map', '0', '-c', 'copy', ...renderTagOptions('conversion'), '-f', 'wav', output], {
    subject: input,
    doing: 'marking a test file as voicestudio output',
    suggestion: 'none: a test fixture',
  });
}
