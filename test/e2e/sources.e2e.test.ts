/**
 * `voicestudio sources` through bin/voicestudio on a project ingested and preprocessed here: listing, excluding and
 * including sources and clips, removing sources (by name and --missing), errors and exit codes.
 */
import { mkdir, readFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExclusionResult, RemoveResult, SourcesList } from '../../src/project/sources.js';
import type { Manifest } from '../../src/project/types.js';
import { writePhrases } from '../helpers/audio.js';
import { makeTempDir, parseJson, runCli } from '../helpers/cli.js';

let root: string;
let cleanup: () => Promise<void>;
let project: string;
let verseId: string;
let bridgeId: string;

async function manifestOf(): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(project, 'voicestudio.json'), 'utf8')) as Manifest;
}

async function list(): Promise<SourcesList> {
  const run = await runCli(['sources', 'list', project, '--json']);
  expect(run.exitCode, run.stderr).toBe(0);
  return parseJson<SourcesList>(run);
}

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTempDir('sources'));
  project = path.join(root, 'vocals');
  await mkdir(path.join(project, 'takes'), { recursive: true });
  await Promise.all([
    writePhrases(path.join(project, 'takes', 'verse.wav'), { seconds: 36, phraseSec: 8, pauseSec: 1 }),
    writePhrases(path.join(project, 'takes', 'bridge.flac'), { seconds: 27, phraseSec: 8, pauseSec: 1, frequency: 330 }),
  ]);
  for (const args of [['ingest', project], ['preprocess', project]]) {
    const run = await runCli([...args, '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
  }
  const manifest = await manifestOf();
  verseId = manifest.sources.find((s) => s.path === 'takes/verse.wav')!.id;
  bridgeId = manifest.sources.find((s) => s.path === 'takes/bridge.flac')!.id;
});

afterAll(async () => {
  await cleanup();
});

describe('sources list', () => {
  it('shows each source with its clips, seconds kept and used, and state', async () => {
    const listed = await list();
    const manifest = await manifestOf();
    const verse = listed.sources.find((s) => s.id === verseId);
    const verseClips = manifest.segments.filter((s) => s.sourceId === verseId);
    expect(verse).toMatchObject({ path: 'takes/verse.wav', kind: 'singing', clips: verseClips.length, state: 'included', original: 'present', workingCopy: 'present', excludedClips: [] });
    expect(verse?.durationSec).toBeCloseTo(36, 1);
    expect(verse?.keptSec).toBeCloseTo(verse?.trainingSec ?? -1, 6);
    expect(verse?.keptSec).toBeGreaterThan(25);
    expect(listed.training.clips).toBe(manifest.segments.length);

    const human = await runCli(['sources', 'list', project]);
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`^${verseId}\\s+singing\\s+36s\\s+${verseClips.length}\\s.*included\\s+takes/verse\\.wav$`, 'm'));
    expect(human.stdout).toMatch(/^training: \d+ clips, /m);
  });
});

describe('sources exclude and include', () => {
  it('keeps one clip out of training, says which clip it matched, and remembers the reason', async () => {
    const clip = `${verseId}-0002`;
    const run = await runCli(['sources', 'exclude', project, clip, '--reason', 'cough', '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const result = parseJson<ExclusionResult>(run);
    expect(result.changes).toEqual([expect.objectContaining({ given: clip, sourceId: verseId, status: 'excluded', clips: [clip] })]);
    const manifest = await manifestOf();
    expect(result.training.clips).toBe(manifest.segments.length - 1);
    const stretch = manifest.sources.find((s) => s.id === verseId)?.excludedClips[0];
    const segment = manifest.segments.find((s) => s.id === clip);
    expect(stretch).toMatchObject({ clipId: clip, startSec: segment?.startSec, endSec: segment?.endSec, reason: 'cough' });
    // Nothing was deleted.
    expect((await stat(path.join(project, segment!.file))).size).toBeGreaterThan(0);
  });

  it('keeps the clip out when preprocess re-cuts the source', async () => {
    const recut = await runCli(['preprocess', project, '--sample-rate', '48000', '--json']);
    expect(recut.exitCode, recut.stderr).toBe(0);
    const verse = (await list()).sources.find((s) => s.id === verseId);
    expect(verse?.excludedClips).toEqual([expect.objectContaining({ clipId: `${verseId}-0002`, reason: 'cough', matches: [`${verseId}-0002`] })]);
    expect(verse?.trainingSec).toBeLessThan((verse?.keptSec ?? 0) - 5);
    const human = await runCli(['sources', 'list', project]);
    expect(human.stdout).toMatch(new RegExp(`excluded as clip ${verseId}-0002 — cough; now clip ${verseId}-0002`));
    // preprocess still cuts and reports the clip, and its page says it is not used for training.
    const page = await readFile(path.join(project, '.voicestudio', 'report.html'), 'utf8');
    expect(page).toContain(`<tr id="clip-${verseId}-0002" class="kept excluded">`);
    expect(page).toContain('<b>not used for training</b>: excluded (cough)');
  });

  it('excludes a whole source named by its path, and includes it again by id', async () => {
    const excluded = await runCli(['sources', 'exclude', project, path.join(project, 'takes', 'bridge.flac'), '--json']);
    expect(excluded.exitCode, excluded.stderr).toBe(0);
    const bridgeClips = (await manifestOf()).segments.filter((s) => s.sourceId === bridgeId).map((s) => s.id);
    expect(parseJson<ExclusionResult>(excluded).changes[0]).toMatchObject({ sourceId: bridgeId, status: 'excluded', clips: bridgeClips });
    const listed = await list();
    expect(listed.sources.find((s) => s.id === bridgeId)).toMatchObject({ state: 'excluded', trainingSec: 0 });
    const reported = await runCli(['preprocess', project, '--json']);
    expect(parseJson<{ sources: { sourceId: string; excluded?: boolean }[] }>(reported).sources.find((s) => s.sourceId === bridgeId)?.excluded).toBe(true);

    const human = await runCli(['sources', 'include', project, bridgeId]);
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toContain(`included source ${bridgeId} (takes/bridge.flac)`);
    expect((await list()).sources.find((s) => s.id === bridgeId)?.state).toBe('included');
  });

  it('refuses an unknown name with exit 1, changing nothing', async () => {
    const before = await readFile(path.join(project, 'voicestudio.json'), 'utf8');
    const run = await runCli(['sources', 'exclude', project, bridgeId, 'no-such-take.wav', '--json']);
    expect(run.exitCode).toBe(1);
    expect(parseJson<{ error: { code: string; message: string; suggestion: string } }>(run).error).toMatchObject({
      code: 'source_missing',
      message: expect.stringContaining('"no-such-take.wav"'),
      suggestion: expect.stringContaining('voicestudio sources list'),
    });
    expect(run.stderr).toMatch(/error: No source or clip "no-such-take\.wav"/);
    expect(await readFile(path.join(project, 'voicestudio.json'), 'utf8')).toBe(before);
  });

  it('treats a missing name as a usage error (exit 2)', async () => {
    const run = await runCli(['sources', 'exclude', project]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/missing required argument/);
  });
});

describe('sources rm', () => {
  it('refuses a clip id and a request naming nothing with exit 2', async () => {
    expect((await runCli(['sources', 'rm', project, `${verseId}-0001`])).exitCode).toBe(2);
    const bare = await runCli(['sources', 'rm', project]);
    expect(bare.exitCode).toBe(2);
    expect(bare.stderr).toMatch(/--missing/);
  });

  it('--missing removes the sources whose file is gone, with their clips and files, and nothing else', async () => {
    const moved = path.join(root, 'bridge-moved.flac');
    await rename(path.join(project, 'takes', 'bridge.flac'), moved);
    const listed = await list();
    expect(listed.sources.find((s) => s.id === bridgeId)).toMatchObject({ original: 'missing', workingCopy: 'present' });
    const human = await runCli(['sources', 'list', project]);
    expect(human.stdout).toMatch(/included, file missing\s+takes\/bridge\.flac/);
    expect(human.stdout).toContain(`voicestudio sources rm ${project} --missing`);

    const before = await manifestOf();
    const workingCopy = path.join(project, before.sources.find((s) => s.id === bridgeId)!.workingFile);
    const run = await runCli(['sources', 'rm', project, '--missing', '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const result = parseJson<RemoveResult>(run);
    expect(result.removed).toEqual([expect.objectContaining({ id: bridgeId, path: 'takes/bridge.flac', why: 'original missing' })]);
    expect(result.removed[0]?.deleted).toEqual(expect.arrayContaining([`.voicestudio/clips/${bridgeId}`, `.voicestudio/analysis/${bridgeId}.vsan`]));

    const after = await manifestOf();
    expect(after.sources.map((s) => s.id)).toEqual([verseId]);
    expect(after.segments.every((s) => s.sourceId === verseId)).toBe(true);
    expect(after.preprocess.records.map((r) => r.sourceId)).toEqual([verseId]);
    await expect(stat(workingCopy)).rejects.toThrow(/ENOENT/);
    await expect(stat(path.join(project, '.voicestudio', 'clips', bridgeId))).rejects.toThrow(/ENOENT/);
    expect((await stat(moved)).size).toBeGreaterThan(0);
    expect((await runCli(['sources', 'rm', project, '--missing'])).stdout).toMatch(/Nothing removed/);
  });

  it('removes a source named by its path and warns that a scan of the folder would take it in again', async () => {
    const run = await runCli(['sources', 'rm', project, 'takes/verse.wav'], { cwd: project });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^removed ${verseId} \\(takes/verse\\.wav\\): singing, 36s, \\d+ clips; deleted `, 'm'));
    expect(run.stdout).toMatch(/note: takes\/verse\.wav is still in the project folder/);
    expect((await manifestOf()).sources).toEqual([]);
    expect((await stat(path.join(project, 'takes', 'verse.wav'))).size).toBeGreaterThan(0);
    expect((await runCli(['sources', 'list', project])).stdout).toMatch(/^No sources in /);
  });
});
