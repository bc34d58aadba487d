/**
 * ingest → preprocess through bin/voicestudio on audio generated here: good takes, a video, speech,
 * a clipped take, and broken files. Checks the manifest, the clips on disk, the report and exit codes.
 */
import { copyFile, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest, DatasetQualityReport } from '../../src/project/types.js';
import { execa } from 'execa';
import { durationOf, testTools, writePhrases, writeSpeech, writeVideoWithoutAudio, writeVideoWithPhrases } from '../helpers/audio.js';
import { makeTempDir, parseJson, runCli } from '../helpers/cli.js';
import { CURRENT_MANIFEST_VERSION } from '../../src/project/manifest-migrations.js';

let root: string;
let cleanup: () => Promise<void>;
let project: string;
let inbox: string;
let hasSpeech = false;

async function manifestOf(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(dir, 'voicestudio.json'), 'utf8')) as Manifest;
}

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTempDir('e2e'));
  project = path.join(root, 'vocals');
  inbox = path.join(root, 'inbox');
  await Promise.all([
    import('node:fs/promises').then((fs) => fs.mkdir(path.join(project, 'takes'), { recursive: true })),
    import('node:fs/promises').then((fs) => fs.mkdir(inbox, { recursive: true })),
  ]);
  await Promise.all([
    writePhrases(path.join(project, 'takes', 'verse.wav'), { seconds: 48, phraseSec: 8, pauseSec: 1.2, channels: 2 }),
    writePhrases(path.join(project, 'takes', 'chorus.flac'), { seconds: 40, phraseSec: 21, pauseSec: 1, frequency: 330 }),
    writePhrases(path.join(project, 'hot-take.wav'), { seconds: 30, phraseSec: 9, pauseSec: 1, amplitude: 1.6 }),
    writeVideoWithPhrases(path.join(inbox, 'live.mp4'), { seconds: 24, phraseSec: 7, pauseSec: 1 }),
    writeVideoWithoutAudio(path.join(inbox, 'silent-film.mp4'), 3),
  ]);
  hasSpeech = await writeSpeech(
    path.join(inbox, 'interview.wav'),
    'I started singing in a church choir when I was seven. Later I toured with a band for ten years, and every night was different. Breathing is the part people forget about.',
  );
  await copyFile(path.join(project, 'takes', 'verse.wav'), path.join(inbox, 'verse-copy.wav'));
  await writeFile(path.join(inbox, 'empty.wav'), '');
  await writeFile(path.join(inbox, 'notes.mp3'), 'these are lyrics, not audio\n'.repeat(50));
  await writePhrases(path.join(inbox, 'cut-off.wav'), { seconds: 20 });
  await truncate(path.join(inbox, 'cut-off.wav'), Math.floor((await stat(path.join(inbox, 'cut-off.wav'))).size / 2));
});

afterAll(async () => {
  await cleanup();
});

describe('ingest', () => {
  it('takes in the audio of the project folder itself', async () => {
    const run = await runCli(['ingest', project, '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const result = parseJson<{ files: { path: string; status: string }[]; summary: { sources: number; singingSec: number } }>(run);
    expect(result.files.map((f) => [f.path, f.status]).sort()).toEqual([
      ['hot-take.wav', 'added'],
      ['takes/chorus.flac', 'added'],
      ['takes/verse.wav', 'added'],
    ]);
    expect(result.summary.sources).toBe(3);
    expect(result.summary.singingSec).toBeCloseTo(118, 0);

    const manifest = await manifestOf(project);
    expect(manifest.version).toBe(CURRENT_MANIFEST_VERSION);
    const verse = manifest.sources.find((s) => s.path === 'takes/verse.wav');
    expect(verse).toMatchObject({ kind: 'singing', sampleRate: 44100, channels: 2, codec: 'pcm_s16le' });
    expect(verse?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(verse?.durationSec).toBeCloseTo(48, 1);
    // The working copy is lossless and the original untouched.
    const copy = await durationOf(path.join(project, verse?.workingFile ?? ''));
    expect(copy).toMatchObject({ sampleRate: 44100, channels: 2 });
  });

  it('reports every broken file with its reason, ingests the rest, and exits 3', async () => {
    const args = ['ingest', project, inbox, '--json', ...(hasSpeech ? [] : [])];
    const run = await runCli(args);
    expect(run.exitCode, run.stderr).toBe(3);
    const result = parseJson<{ files: { path: string; status: string; reason?: string; duplicateOf?: string }[]; failed: number }>(run);
    const byName = new Map(result.files.map((f) => [path.basename(f.path), f]));
    expect(byName.get('live.mp4')?.status).toBe('added');
    expect(byName.get('verse-copy.wav')).toMatchObject({ status: 'duplicate', duplicateOf: 'takes/verse.wav' });
    expect(byName.get('empty.wav')).toMatchObject({ status: 'failed', reason: 'empty file (0 bytes)' });
    expect(byName.get('silent-film.mp4')).toMatchObject({ status: 'failed', reason: 'the video has no audio stream' });
    expect(byName.get('notes.mp3')?.status).toBe('failed');
    expect(byName.get('notes.mp3')?.reason).toBe('not a readable audio or video file (FFmpeg found no audio or video data in it).');
    expect(byName.get('cut-off.wav')?.status).toBe('failed');
    expect(byName.get('cut-off.wav')?.reason).toMatch(/truncated: its WAV header claims 20\.0 s but only 10\.0 s/);
    expect(result.failed).toBe(4);

    const manifest = await manifestOf(project);
    const verse = manifest.sources.find((s) => s.path === 'takes/verse.wav');
    expect(verse?.aliases).toEqual([path.join(inbox, 'verse-copy.wav')]);
    expect(manifest.sources.some((s) => s.path.endsWith('cut-off.wav'))).toBe(false);
  });

  it('records speech with --kind and reports the singing share against the brief', async () => {
    if (!hasSpeech) {
      // espeak-ng is not installed: a tone labelled as speech stands in for the kind bookkeeping.
      await writePhrases(path.join(inbox, 'interview.wav'), { seconds: 12, frequency: 140 });
    }
    const run = await runCli(['ingest', project, path.join(inbox, 'interview.wav'), '--kind', 'speech', '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const result = parseJson<{ summary: { speechSec: number; singingShare: number }; warnings: { code: string }[] }>(run);
    expect(result.summary.speechSec).toBeGreaterThan(5);
    expect(result.summary.singingShare).toBeGreaterThan(0.5);
    // 2.5 minutes in total is far below the brief's 10 minutes.
    expect(result.warnings.map((w) => w.code)).toContain('dataset_too_short');
  });

  it('prints a human table without --json and nothing on stdout but the result', async () => {
    const run = await runCli(['ingest', project]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/takes\/verse\.wav\s+known/);
    expect(run.stdout).toMatch(/5 sources/);
    expect(run.stderr).toMatch(/ingest \d+\/\d+/);
  });

  it('names a missing project folder and exits 1', async () => {
    const run = await runCli(['ingest', path.join(root, 'nope'), '--json']);
    expect(run.exitCode).toBe(1);
    expect(parseJson<{ error: { code: string; message: string; suggestion: string } }>(run).error).toMatchObject({
      code: 'project_missing',
      message: expect.stringContaining('nope'),
    });
  });
});

describe('preprocess', () => {
  it('cuts clean 5–15 s clips and writes a quality report', async () => {
    const run = await runCli(['preprocess', project, '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const result = parseJson<{ sources: { path: string; status: string; clips: number }[]; report: DatasetQualityReport; reportFile: string }>(run);
    expect(result.sources.every((s) => s.status === 'processed')).toBe(true);

    const manifest = await manifestOf(project);
    expect(manifest.segments.length).toBeGreaterThan(8);
    for (const segment of manifest.segments) {
      const info = await durationOf(path.join(project, segment.file));
      expect(info).toMatchObject({ sampleRate: 40000, channels: 1, codec: 'flac' });
      expect(info.durationSec).toBeGreaterThanOrEqual(5);
      expect(info.durationSec).toBeLessThanOrEqual(15);
      expect(segment.endSec - segment.startSec).toBeCloseTo(info.durationSec, 1);
    }
    // The FLAC header's length matches what decodes (the segment muxer leaves it unset).
    const first = path.join(project, manifest.segments[0]?.file ?? '');
    const decoded = await execa((await testTools()).ffmpeg.path, ['-v', 'error', '-i', first, '-f', 's16le', '-'], { encoding: 'buffer' });
    expect(decoded.stdout.length / 2 / 40000).toBeCloseTo((await durationOf(first)).durationSec, 4);
    // chorus.flac sings 21 s phrases without a pause: each is split at its quietest point.
    const chorus = manifest.sources.find((s) => s.path === 'takes/chorus.flac');
    expect(manifest.segments.filter((s) => s.sourceId === chorus?.id).length).toBeGreaterThanOrEqual(2);

    const saved = JSON.parse(await readFile(result.reportFile, 'utf8')) as DatasetQualityReport;
    expect(saved.total.clips.count).toBe(manifest.segments.length);
    const hot = saved.sources.find((s) => s.path === 'hot-take.wav');
    expect(hot?.clippedShare).toBeGreaterThan(0.01);
    expect(hot?.dropped.some((d) => d.reason === 'clipping')).toBe(true);
    expect(hot?.warnings.map((w) => w.code)).toContain('source_clipping');
    const verse = saved.sources.find((s) => s.path === 'takes/verse.wav');
    expect(verse?.clippedShare).toBe(0);
    expect(verse?.noiseFloorDbfs).toBeLessThan(-50);
    expect(verse?.snrDb).toBeGreaterThan(30);
    expect(saved.total.singingSec).toBeGreaterThan(saved.total.speechSec);
  });

  it('does no audio work when nothing changed', async () => {
    const manifest = await manifestOf(project);
    const clipDir = path.join(project, '.voicestudio', 'clips');
    const before = await Promise.all(manifest.segments.map(async (s) => (await stat(path.join(project, s.file))).mtimeMs));
    const run = await runCli(['preprocess', project, '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(parseJson<{ sources: { status: string }[] }>(run).sources.every((s) => s.status === 'cached')).toBe(true);
    const after = await Promise.all(manifest.segments.map(async (s) => (await stat(path.join(project, s.file))).mtimeMs));
    expect(after).toEqual(before);
    expect((await readdir(clipDir)).some((name) => name.includes('.tmp-'))).toBe(false);
  });

  it('re-cuts for a new sample rate without analysing again', async () => {
    const run = await runCli(['preprocess', project, '--sample-rate', '48000']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/analysing/);
    // One line per source and stage, with the count: not a bare "cutting X" besides "preprocess 0/N cutting X".
    const cutting = run.stderr.split('\n').filter((line) => line.includes('cutting takes/verse.wav'));
    expect(cutting, run.stderr).toHaveLength(1);
    expect(cutting[0]).toMatch(/^preprocess \d+\/\d+ cutting takes\/verse\.wav$/);
    const manifest = await manifestOf(project);
    const first = manifest.segments[0];
    expect((await durationOf(path.join(project, first?.file ?? ''))).sampleRate).toBe(48000);
    expect(manifest.preprocess.settings?.sampleRate).toBe(48000);
    expect(run.stdout).toMatch(/report: .*quality-report\.json/);
  });

  it('analyses again from the working copy when the saved analysis is gone', async () => {
    await rm(path.join(project, '.voicestudio', 'analysis'), { recursive: true });
    const run = await runCli(['preprocess', project, '--sample-rate', '32000']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/analysing takes\/verse\.wav/);
    expect((await readdir(path.join(project, '.voicestudio', 'analysis'))).length).toBe((await manifestOf(project)).sources.length);
  });

  it('remembers the settings it was given: a plain re-run and train keep them', async () => {
    const again = await runCli(['preprocess', project, '--json']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(parseJson<{ settings: { sampleRate: number } }>(again).settings.sampleRate).toBe(32000);
    expect(parseJson<{ sources: { status: string }[] }>(again).sources.every((s) => s.status === 'cached')).toBe(true);
    // train --dry-run brings the clips up to date with the project's own settings, and says what the data lacks.
    const dry = await runCli(['train', project, '--dry-run', '--json']);
    const result = parseJson<{ settings: { sampleRate: number }; verdict: { ok: boolean; problems: string[] }; recut?: string }>(dry);
    expect(result.settings.sampleRate).toBe(32000);
    expect(result.recut).toBeUndefined();
    expect(result.verdict.ok).toBe(false);
    expect(result.verdict.problems.join('; ')).toMatch(/min of clips, the brief's minimum is 10 min/);
    // The real run would refuse: the dry run exits the same way, having uploaded nothing.
    expect(dry.exitCode).toBe(1);
    const forced = await runCli(['train', project, '--dry-run', '--force', '--sample-rate', '40000']);
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/note: the clips were re-cut at 40000 Hz \(the project's were at 32000 Hz\)/);
    expect(forced.stdout).toMatch(/trained anyway \(--force\)|training would be refused/);
    expect((await manifestOf(project)).preprocess.settings?.sampleRate).toBe(40000);
    // The re-cut produced the quality warnings anew, so they were shown; a run that re-cut nothing only points to them.
    const shown = forced.stdout.match(/^warning: /gm)?.length ?? 0;
    expect(shown).toBeGreaterThan(0);
    const same = await runCli(['train', project, '--dry-run', '--force']);
    expect(same.exitCode, same.stderr).toBe(0);
    expect(same.stdout).not.toMatch(/^warning: /m);
    expect(same.stdout).toMatch(new RegExp(`^note: ${shown} quality warnings? from an earlier preprocess: voicestudio preprocess .* shows them again\\.$`, 'm'));
  });

  it('refuses a clip range that cannot work, as a usage error', async () => {
    const run = await runCli(['preprocess', project, '--min-clip', '8', '--max-clip', '8']);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/longest clip \(8 s\) must be at least 1 s longer than the shortest \(8 s\)/);
    const bad = await runCli(['preprocess', project, '--silence-threshold', 'loud']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/"auto" or a level in dBFS/);
  });

  it('keeps short pre-cut takes whole and counts their sound', async () => {
    const { dir, cleanup: done } = await makeTempDir('takes');
    await Promise.all([
      writePhrases(path.join(dir, 'take1.wav'), { seconds: 3, phraseSec: 3, pauseSec: 0, channels: 2 }),
      writePhrases(path.join(dir, 'take2.wav'), { seconds: 7.2, phraseSec: 7.2, pauseSec: 0 }),
    ]);
    expect((await runCli(['ingest', dir])).exitCode).toBe(0);
    const run = await runCli(['preprocess', dir, '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const { report } = parseJson<{ report: DatasetQualityReport }>(run);
    const manifest = await manifestOf(dir);
    for (const source of manifest.sources) {
      const [clip, ...more] = manifest.segments.filter((s) => s.sourceId === source.id);
      expect(more).toEqual([]);
      // The whole take, as the file holds it (measured by ffprobe, not by voicestudio).
      expect((await durationOf(path.join(dir, clip!.file))).durationSec).toBeCloseTo((await durationOf(path.join(dir, source.path))).durationSec, 1);
    }
    expect(report.sources.find((s) => s.path === 'take1.wav')).toMatchObject({ keptWhole: true, noiseFloorDbfs: -120 });
    expect(report.total.keptSoundSec / report.total.soundSec).toBeGreaterThan(0.99);
    expect(report.warnings.map((w) => w.code)).toContain('sources_kept_whole');
    expect(report.sources.flatMap((s) => s.warnings.map((w) => w.code))).not.toContain('source_noisy');
    await done();
  });

  it('reports the noise after --denoise and stops suggesting it', async () => {
    const { dir, cleanup: done } = await makeTempDir('noisy');
    const tools = await testTools();
    // Phrases over steady hiss at about -45 dBFS.
    await execa(tools.ffmpeg.path, [
      '-v', 'error', '-f', 'lavfi', '-i', "aevalsrc='if(lt(mod(t,6),5),0.3*sin(2*PI*220*t),0)':s=44100:d=36",
      '-f', 'lavfi', '-i', 'anoisesrc=a=0.01:c=white:s=44100:d=36', '-filter_complex', 'amix=inputs=2:normalize=0', path.join(dir, 'hiss.wav'),
    ]);
    expect((await runCli(['ingest', dir])).exitCode).toBe(0);
    const plain = parseJson<{ report: DatasetQualityReport }>(await runCli(['preprocess', dir, '--json'])).report.sources[0]!;
    expect(plain.warnings.find((w) => w.code === 'source_noisy')?.suggestion).toMatch(/Try --denoise/);
    const run = await runCli(['preprocess', dir, '--denoise', '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const denoised = parseJson<{ report: DatasetQualityReport }>(run).report.sources[0]!;
    expect(denoised.beforeDenoise?.noiseFloorDbfs).toBeCloseTo(plain.noiseFloorDbfs, 1);
    expect(denoised.noiseFloorDbfs).toBeLessThan(plain.noiseFloorDbfs - 3);
    expect(denoised.warnings.map((w) => w.suggestion).join(' ')).not.toMatch(/Try --denoise/);
    await done();
  });

  it('exits 1, not 3, when its only source fails', async () => {
    const { dir, cleanup: done } = await makeTempDir('lost');
    await writePhrases(path.join(dir, 'take.wav'), { seconds: 8, phraseSec: 3, pauseSec: 1 });
    expect((await runCli(['ingest', dir])).exitCode).toBe(0);
    // The working copy goes missing: the one source cannot be preprocessed.
    await rm(path.join(dir, '.voicestudio', 'sources'), { recursive: true });
    const run = await runCli(['preprocess', dir, '--json']);
    expect(run.exitCode).toBe(1);
    expect(parseJson<{ failed: number; sources: unknown[] }>(run)).toMatchObject({ failed: 1, sources: [expect.objectContaining({ status: 'failed' })] });
    await done();
  });

  it('explains what to do when the project has no sources', async () => {
    const { dir, cleanup: done } = await makeTempDir('empty');
    const run = await runCli(['preprocess', dir]);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/has no sources yet/);
    expect(run.stderr).toMatch(/voicestudio ingest/);
    await done();
  });
});
