/**
 * `voicestudio batch` (and `convert --separate --mix`) through bin/voicestudio against the RunPod emulator, which
 * runs the real gpu/handler.py with the Applio stand-in and the audio-separator stand-in: a mixed album with a
 * broken file, a re-run with nothing to do, a SIGKILL mid-album and the re-run that finishes it without converting
 * any track twice, per-track settings from a plan file, separation and mix-down, and a retried lost job.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchResult } from '../../src/workflows/album.js';
import type { LedgerJob } from '../../src/project/ledger.js';
import type { Manifest } from '../../src/project/types.js';
import { startEmulator, type Emulator } from '../emulator/runpod-emulator.js';
import { durationOf, testTools, writePhrases } from '../helpers/audio.js';
import { BIN, makeTempDir, parseJson, REPO_ROOT, runCli } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';

let root: string;
let cleanup: () => Promise<void>;
let model: string;
const stops: (() => Promise<void>)[] = [];

function envFor(target: Emulator, configDir: string): NodeJS.ProcessEnv {
  return { RUNPOD_API_KEY: target.apiKey, RUNPOD_ENDPOINT_ID: target.endpointId, RUNPOD_ENDPOINT_BASE_URL: target.url, VOICESTUDIO_CONFIG_DIR: configDir };
}

const jobsOf = (target: Emulator, task: string) => target.jobs().filter((j) => j.input.task === task);

async function ledgerOf(project: string): Promise<LedgerJob[]> {
  const manifest = JSON.parse(await readFile(path.join(project, 'voicestudio.json'), 'utf8')) as Manifest;
  return manifest.jobs as LedgerJob[];
}

/** A file's comment tag, read with ffprobe: voicestudio marks what it renders ("voicestudio conversion"). */
async function commentOf(file: string): Promise<string> {
  const tools = await testTools();
  const { stdout } = await execa(tools.ffprobe.path, ['-v', 'error', '-show_entries', 'format_tags=comment', '-of', 'csv=p=0', file]);
  return stdout.trim();
}

/** Integrated loudness of a file, measured with FFmpeg's ebur128 here (independently of the code under test). */
async function loudnessOf(file: string): Promise<number> {
  const tools = await testTools();
  const { stderr } = await execa(tools.ffmpeg.path, ['-hide_banner', '-nostdin', '-nostats', '-i', file, '-af', 'ebur128=framelog=verbose', '-f', 'null', '-']);
  const summary = stderr.slice(stderr.lastIndexOf('Summary:'));
  return Number(/I:\s+(-?[\d.]+) LUFS/.exec(summary)?.[1]);
}

async function songs(dir: string, count: number, options: { seconds?: number; channels?: 1 | 2; first?: number } = {}): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files = Array.from({ length: count }, (_, i) => path.join(dir, `${String((options.first ?? 1) + i).padStart(2, '0')} song.wav`));
  await Promise.all(files.map((file, i) => writePhrases(file, { seconds: options.seconds ?? 4, phraseSec: 1.5, pauseSec: 0.5, frequency: 180 + 37 * ((options.first ?? 1) + i), channels: options.channels ?? 1 })));
  return files;
}

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTempDir('batch'));
  // A voice model in Applio's inference layout, made by the worker tests' own helper (as train would bring one home).
  const made = await execa('python3', ['-c', 'import sys\nfrom tests.test_convert import model_bytes\nmodel_bytes(sys.argv[1], name="alice")', root], { cwd: path.join(REPO_ROOT, 'gpu') });
  expect(made.exitCode).toBe(0);
  model = path.join(root, 'alice-40000-contentvec-300.pth');
});

afterAll(async () => {
  for (const stop of stops) await stop();
  await cleanup?.();
});

/** Each scenario has an emulator of its own, so scenarios run side by side and count their own jobs. */
async function emulatorFor(options: Parameters<typeof startEmulator>[0] = {}): Promise<Emulator> {
  const started = await startEmulator({ workers: 2, ...options });
  stops.push(() => started.stop());
  return started;
}

/** Samples in a file's first audio stream, counted by decoding it with FFmpeg here. */
async function samplesOf(file: string): Promise<number> {
  const tools = await testTools();
  const { stdout } = await execa(tools.ffmpeg.path, ['-v', 'error', '-i', file, '-map', '0:a:0', '-ac', '1', '-f', 's16le', '-'], { encoding: 'buffer' });
  return stdout.length / 2;
}

describe('batch', () => {
  it('convert: the vocals come at the guide\'s rate and exact length; another format is encoded from the cache, with no new GPU job', async () => {
    const emulator = await emulatorFor();
    const project = path.join(root, 'deliver-project');
    await mkdir(project);
    // 48 kHz and not a whole number of the model's (40 kHz) frames, as a DAW bounce is.
    const guide = path.join(root, 'deliver-guide.wav');
    await writePhrases(guide, { seconds: 5.01237, phraseSec: 1.5, pauseSec: 0.5, sampleRate: 48000 });
    const env = envFor(emulator, path.join(project, '.config'));
    const wav = path.join(root, 'deliver-out', 'guide.wav');
    const first = await runCli(['convert', guide, '-m', model, '-p', project, '-o', wav], { env });
    expect(first.exitCode, first.stderr).toBe(0);
    expect(await durationOf(wav)).toMatchObject({ sampleRate: 48000, codec: 'pcm_s16le' });
    expect(await samplesOf(wav)).toBe(await samplesOf(guide));

    const flac = path.join(root, 'deliver-out', 'guide.flac');
    const again = await runCli(['convert', guide, '-m', model, '-p', project, '-o', flac, '--format', 'flac', '--json'], { env });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(jobsOf(emulator, 'convert')).toHaveLength(1);
    expect(await durationOf(flac)).toMatchObject({ sampleRate: 48000, codec: 'flac' });
    expect(await samplesOf(flac)).toBe(await samplesOf(guide));
    expect(await commentOf(flac)).toBe('voicestudio conversion');
  });

  it('a wrong endpoint id fails the album up front, with the 404 said once, not once per track', async () => {
    const emulator = await emulatorFor();
    const project = path.join(root, 'wrong-endpoint-project');
    await mkdir(project);
    const tracks = await songs(path.join(root, 'wrong-endpoint'), 4);
    const env = { ...envFor(emulator, path.join(project, '.config')), RUNPOD_ENDPOINT_ID: 'no-such-endpoint' };
    const run = await runCli(['batch', ...tracks, '-m', model, '-p', project, '-o', path.join(root, 'wrong-endpoint-out')], { env });
    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.stderr.match(/no endpoint "no-such-endpoint"/g), run.stderr).toHaveLength(1);
    expect(run.stderr).toMatch(/^ {2}→ Copy the id from the RunPod console/m);
  });

  // ---- an album
  it('an album: the good tracks are converted and the broken one reported (exit 3); a re-run sends nothing; exit 0 and 1; --fail-fast', async () => {
    const emulator = await emulatorFor();
    const project = path.join(root, 'album-project');
    const env = envFor(emulator, path.join(root, 'config'));
    const dir = path.join(root, 'album');
    await songs(dir, 3, { seconds: 2 });
    await writeFile(path.join(dir, '04 broken.wav'), 'RIFF\0\0\0\0WAVE this is not audio');
    const args = ['batch', dir, '-m', model, '-p', project, '-o', path.join(root, 'album-out'), '--concurrency', '2', '--json'];

    // The album: three good tracks and a broken file.
    const run = await runCli(args, { env });
    expect(run.exitCode, run.stderr).toBe(3);
    const result = parseJson<BatchResult>(run);
    expect(result).toMatchObject({ total: 4, converted: 3, cached: 0, failed: 1, skipped: 0, concurrency: 2 });
    expect(result.tracks.map((t) => [path.basename(t.input), t.status])).toEqual([
      ['01 song.wav', 'converted'],
      ['02 song.wav', 'converted'],
      ['03 song.wav', 'converted'],
      ['04 broken.wav', 'failed'],
    ]);
    const broken = result.tracks[3];
    expect(broken?.error).toMatch(/04 broken\.wav: not a readable audio or video file/);
    expect(broken?.errorCode).toBe('media_unreadable');
    for (const track of result.tracks.slice(0, 3)) {
      expect(track).toMatchObject({ cached: false, attempts: 1, jobs: [{ task: 'convert', reattached: false }] });
      expect(track.gpuSeconds).toBeGreaterThan(0);
      expect(track.costUsd).toBeGreaterThan(0);
      expect((await durationOf(track.output)).durationSec).toBeGreaterThan(1.5);
    }
    expect(result.gpuSeconds).toBeGreaterThan(0);
    expect(jobsOf(emulator, 'convert')).toHaveLength(3);
    // The outputs are marked as voicestudio's renders: a folder scan by ingest takes none of them for a recording.
    expect(await commentOf(result.tracks[0]!.output)).toBe('voicestudio conversion');
    const scan = await runCli(['ingest', project, path.join(root, 'album-out'), '--json']);
    expect(scan.exitCode, scan.stderr).toBe(0);
    expect(parseJson<{ files: { status: string }[] }>(scan).files.map((f) => f.status)).toEqual(['skipped', 'skipped', 'skipped']);
    // The model went up once: one blob_commit (the model has no index).
    expect(jobsOf(emulator, 'blob_commit')).toHaveLength(1);
    // Progress went to stderr, one line per event (no terminal here).
    expect(run.stderr).toMatch(/\[4\/4\] 04 broken\.wav failed: /);
    expect(run.stderr).toMatch(/\[1\/4\] 01 song\.wav converted, GPU [\d.]+ s → /);

    // The same command again: every finished track comes from the cache, and no job at all is submitted.
    const jobsBefore = emulator.jobs().length;
    const again = await runCli(args, { env });
    expect(again.exitCode, again.stderr).toBe(3);
    expect(parseJson<BatchResult>(again)).toMatchObject({ converted: 0, cached: 3, failed: 1, gpuSeconds: 0, costUsd: 0 });
    expect(parseJson<BatchResult>(again).tracks.slice(0, 3).every((t) => t.cached && t.jobs.length === 0)).toBe(true);
    expect(emulator.jobs().length).toBe(jobsBefore);

    // Exit 0 when every track succeeded, 1 when none did.
    const good = await runCli(['batch', path.join(dir, '01 song.wav'), path.join(dir, '02 song.wav'), '-m', model, '-p', project, '-o', path.join(root, 'album-out'), '--json'], { env });
    expect(good.exitCode, good.stderr).toBe(0);
    expect(parseJson<BatchResult>(good)).toMatchObject({ total: 2, cached: 2 });
    const bad = await runCli(['batch', path.join(dir, '04 broken.wav'), path.join(dir, 'missing.wav'), '-m', model, '-p', project, '-o', path.join(root, 'album-out'), '--json'], { env });
    expect(bad.exitCode, bad.stderr).toBe(1);
    expect(parseJson<BatchResult>(bad).failed).toBe(2);
    expect(parseJson<BatchResult>(bad).tracks[1]?.error).toMatch(/missing\.wav: no such file/);

    // --fail-fast: after the first failure no more tracks are started, and as nothing was done the exit code is 1.
    const fast = await runCli(['batch', ...['04 broken.wav', '01 song.wav', '02 song.wav', '03 song.wav'].map((f) => path.join(dir, f)), '-m', model, '-p', project, '-o', path.join(root, 'ff-out'), '--concurrency', '1', '--fail-fast', '--json'], { env });
    expect(fast.exitCode, fast.stderr).toBe(1);
    const stopped = parseJson<BatchResult>(fast);
    expect(stopped).toMatchObject({ failed: 1, skipped: 3 });
    expect(stopped.tracks.slice(1).every((t) => t.status === 'skipped' && /--fail-fast/.test(t.error ?? ''))).toBe(true);
  });

  // ---- a bad plan file
  it('a bad plan file is a usage error naming the track and field, as one JSON document', async () => {
    const plan = path.join(root, 'bad-plan.json');
    await writeFile(plan, JSON.stringify({ tracks: [{ input: 'album/01 song.wav', pitch: 40 }, { input: 'album/02 song.wav', mix: { reverb: 2 } }] }));
    // Nothing is sent anywhere: the plan is checked first.
    const run = await runCli(['batch', '--plan', plan, '-m', model, '-p', path.join(root, 'bad-plan-project'), '-o', path.join(root, 'x'), '--json'], { env: { VOICESTUDIO_CONFIG_DIR: path.join(root, 'config') } });
    expect(run.exitCode).toBe(2);
    const { error } = parseJson<{ error: { code: string; message: string } }>(run);
    expect(error.code).toBe('usage');
    expect(error.message).toContain('tracks[0].pitch (album/01 song.wav): must be a whole number from -24 to 24, got 40');
    expect(error.message).toContain('tracks[1].mix.reverb (album/02 song.wav): must be a number from 0 to 1, got 2');
  });

  // ---- a command killed mid-album
  it('a command killed mid-album finishes on the re-run with no track converted twice: running jobs are reattached, not resubmitted', async () => {
    const emulator = await emulatorFor();
    const project = path.join(root, 'killed-project');
    const env = envFor(emulator, path.join(root, 'config-killed'));
    const dir = path.join(root, 'killed');
    const files = await songs(dir, 5, { seconds: 2, first: 11 });
    const args = ['batch', dir, '-m', model, '-p', project, '-o', path.join(root, 'killed-out'), '--concurrency', '2'];
    // Two tracks are done before the album starts; then Applio is held, so the album's first two jobs stay
    // running (no timing involved), and the rest wait.
    const done = await runCli(['batch', ...files.slice(0, 2), '-m', model, '-p', project, '-o', path.join(root, 'killed-out'), '--json'], { env });
    expect(done.exitCode, done.stderr).toBe(0);
    emulator.holdApplio();
    const child = execa(process.execPath, [BIN, ...args], { env: { ...env, CI: 'true' }, reject: false, stdin: 'ignore' });
    // The kill comes once both held jobs run on the endpoint and the ledger names them: from then on nothing moves
    // until Applio is released, so what the re-run finds does not depend on when the kill lands.
    await until('both held jobs running and in the ledger', async () => {
      const active = (await ledgerOf(project)).filter((j) => j.task === 'convert' && (j.status === 'IN_QUEUE' || j.status === 'IN_PROGRESS'));
      const running = jobsOf(emulator, 'convert').filter((j) => j.status === 'IN_PROGRESS' || j.status === 'IN_QUEUE');
      return active.length === 2 && running.length === 2 && running.every((r) => active.some((a) => a.id === r.id));
    }, child);
    child.kill('SIGKILL');
    expect((await child).signal).toBe('SIGKILL');
    const inFlight = jobsOf(emulator, 'convert').filter((j) => j.status !== 'COMPLETED').map((j) => j.id);
    expect(inFlight).toHaveLength(2);
    emulator.releaseApplio();

    const again = await runCli([...args, '--json'], { env });
    expect(again.exitCode, again.stderr).toBe(0);
    const result = parseJson<BatchResult>(again);
    expect(result).toMatchObject({ total: 5, cached: 2, failed: 0 });
    const reattached = result.tracks.flatMap((t) => t.jobs.filter((j) => j.reattached).map((j) => j.id));
    expect(reattached.sort()).toEqual([...inFlight].sort());
    // One conversion job per track, in all: nothing was paid twice.
    expect(jobsOf(emulator, 'convert')).toHaveLength(files.length);
    for (const track of result.tracks) expect((await stat(track.output)).size).toBeGreaterThan(0);
  });

  // ---- per-track settings from a plan file
  it('a plan file: each track is converted with its own settings and output name; paths resolve against the plan', async () => {
    const emulator = await emulatorFor();
    const project = path.join(root, 'plan-project');
    const env = envFor(emulator, path.join(root, 'config'));
    const dir = path.join(root, 'plan');
    await songs(path.join(dir, 'takes'), 3, { first: 21, seconds: 2 });
    const plan = path.join(dir, 'album.json');
    await writeFile(
      plan,
      JSON.stringify({
        version: 1,
        defaults: { pitch: -2, indexRate: 0.5 },
        tracks: [
          'takes/21 song.wav',
          { input: 'takes/22 song.wav', output: 'Second (high)', pitch: 4, format: 'flac' },
          { input: 'takes/23 song.wav', output: 'third', protect: 0.2, f0Method: 'fcpe', format: 'mp3' },
          // The first track again, mixed with an instrumental the user has: the same conversion, made once.
          { input: 'takes/21 song.wav', output: 'first with band', instrumental: 'takes/22 song.wav', mix: { format: 'flac', rate: 48000, targetLufs: -18 } },
        ],
      }),
    );
    // Run from elsewhere: the plan's paths are relative to its own folder.
    const run = await runCli(['batch', '--plan', plan, '-m', model, '-p', project, '-o', path.join(root, 'plan-out'), '--index-rate', '0.7', '--json'], { env, cwd: root });
    expect(run.exitCode, run.stderr).toBe(0);
    const result = parseJson<BatchResult>(run);
    expect(result.tracks.map((t) => path.basename(t.output))).toEqual(['21 song.wav', 'Second (high).flac', 'third.mp3', 'first with band.flac']);
    // Explicit --index-rate wins over the plan's defaults; a track's own settings win over both.
    expect(result.tracks.map((t) => t.settings)).toMatchObject([
      { pitch: -2, indexRate: 0.7, format: 'wav', mix: false },
      { pitch: 4, indexRate: 0.7, format: 'flac' },
      { pitch: -2, indexRate: 0.7, protect: 0.2, f0Method: 'fcpe', format: 'mp3' },
      { pitch: -2, indexRate: 0.7, format: 'wav', mix: true, instrumental: path.join(dir, 'takes', '22 song.wav'), mixSettings: { format: 'flac', rate: 48000, targetLufs: -18 } },
    ]);
    expect(await Promise.all(result.tracks.map(async (t) => (await durationOf(t.output)).codec))).toEqual(['pcm_s16le', 'flac', 'mp3', 'flac']);
    expect((await durationOf(result.tracks[3]?.output ?? '')).sampleRate).toBe(48000);
    expect(Math.abs((await loudnessOf(result.tracks[3]?.output ?? '')) - -18)).toBeLessThanOrEqual(1);
    // Tracks 1 and 4 share one conversion: it ran once, for one of them.
    expect(jobsOf(emulator, 'convert')).toHaveLength(3);
    expect([result.tracks[0], result.tracks[3]].map((t) => t?.jobs.length).sort()).toEqual([0, 1]);
  });

  // ---- separation and mix-down
  it('separation and mix-down: stems from the worker, a mix at the requested format, rate and loudness; a re-run sends nothing; convert --separate --mix', async () => {
    const emulator = await emulatorFor();
    const project = path.join(root, 'mix-project');
    const env = envFor(emulator, path.join(root, 'config'));
    const dir = path.join(root, 'full-songs');
    await songs(dir, 2, { channels: 2, first: 31, seconds: 3 });
    const args = ['batch', dir, '-m', model, '-p', project, '-o', path.join(root, 'mix-out'), '--separate', '--mix', '--pitch', '2', '--shift-instrumental', '--reverb', '0.2', '--compressor', '--deesser', '--eq', '200:-2,3000:1.5', '--target-lufs', '-16', '--mix-format', 'flac', '--mix-rate', '48000', '--json'];
    const run = await runCli(args, { env });
    expect(run.exitCode, run.stderr).toBe(0);
    const result = parseJson<BatchResult>(run);
    expect(jobsOf(emulator, 'separate')).toHaveLength(2);
    expect(jobsOf(emulator, 'convert')).toHaveLength(2);
    for (const track of result.tracks) {
      expect(track.output).toMatch(/\.flac$/);
      expect(track.jobs.map((j) => j.task)).toEqual(['separate', 'convert']);
      expect(track.stems?.status).toBe('separated');
      expect((await stat(track.stems?.instrumental ?? '')).size).toBeGreaterThan(0);
      expect(await durationOf(track.output)).toMatchObject({ codec: 'flac', sampleRate: 48000, channels: 2 });
      expect((await durationOf(track.output)).durationSec).toBeCloseTo(3, 0);
      expect(Math.abs((await loudnessOf(track.output)) - -16)).toBeLessThanOrEqual(1);
      expect(track.mix).toMatchObject({ format: 'flac', sampleRate: 48000, cached: false });
      expect(track.mix?.truePeakDb).toBeLessThanOrEqual(-0.7);
      expect(await commentOf(track.output)).toBe('voicestudio mix');
    }

    // The same command again: stems, conversions and mixes all come from the cache; no job is submitted.
    const jobsBefore = emulator.jobs().length;
    const again = await runCli(args, { env });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(parseJson<BatchResult>(again).tracks.every((t) => t.cached && t.stems?.status === 'cached' && t.mix?.cached === true)).toBe(true);
    expect(emulator.jobs().length).toBe(jobsBefore);

    // convert --separate --mix on one of the songs, separated and converted above: only the mix (another format and
    // loudness) is new. --mix alone is refused.
    const song = path.join(dir, '31 song.wav');
    const output = path.join(root, 'one-song.mp3');
    const converted = await runCli(['convert', song, '-m', model, '-p', project, '--pitch', '2', '--separate', '--mix', '--mix-format', 'mp3', '-o', output, '--json'], { env });
    expect(converted.exitCode, converted.stderr).toBe(0);
    const one = parseJson<{ model: string; items: { status: string; output: string; stems: { status: string }; mix: { lufs: number; cached: boolean } }[]; failed: number }>(converted);
    expect(one.items).toMatchObject([{ output, status: 'cached', stems: { status: 'cached' }, mix: { cached: false } }]);
    expect(emulator.jobs().length).toBe(jobsBefore);
    expect(one.items[0]?.mix.lufs).toBeCloseTo(-14, 0);
    expect(await durationOf(output)).toMatchObject({ codec: 'mp3', sampleRate: 44100 });
    expect(Math.abs((await loudnessOf(output)) - -14)).toBeLessThanOrEqual(1);

    const alone = await runCli(['convert', song, '-m', model, '-p', project, '--mix', '--json'], { env });
    expect(alone.exitCode).toBe(2);
    expect(parseJson<{ error: { message: string } }>(alone).error.message).toMatch(/--mix needs --separate/);
  });

  // ---- a lost job
  it('a lost job is retried: the track succeeds on its second attempt', async () => {
    // The first conversion hangs (held back for good) and so ends TIMED_OUT, as when a worker hangs. Only that job
    // gets a short execution timeout: the model's upload and the second conversion keep the default 10 minutes,
    // however slowly a loaded machine runs them.
    let converts = 0;
    let hung: string | undefined;
    const target = await emulatorFor({
      workers: 1,
      defaultExecutionTimeoutMs: ({ task }) => (task === 'convert' && ++converts === 1 ? 2_000 : 600_000),
      completionDelayMs: ({ id, task }) => (task === 'convert' && (hung ??= id) === id ? 24 * 3_600_000 : 0),
    });
    const project = path.join(root, 'retry-project');
    const [song] = await songs(path.join(root, 'retry'), 1, { seconds: 2, first: 41 });
    const run = await runCli(['batch', song ?? '', '-m', model, '-p', project, '-o', path.join(root, 'retry-out'), '--json'], { env: envFor(target, path.join(root, 'config-retry')) });
    expect(run.exitCode, run.stderr).toBe(0);
    const result = parseJson<BatchResult>(run);
    expect(result.tracks[0]).toMatchObject({ status: 'converted', attempts: 2 });
    expect(jobsOf(target, 'convert').map((j) => j.status)).toEqual(['TIMED_OUT', 'COMPLETED']);
    expect(run.stderr).toMatch(/timed out.*trying again in [\d.]+ s \(attempt 2 of 3\)/);
  });
});
