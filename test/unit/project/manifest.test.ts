import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/errors.js';
import { MANIFEST_FILE, manifestPath, workDir, WORK_DIR } from '../../../src/project/layout.js';
import { readManifest, updateManifest } from '../../../src/project/manifest.js';
import { CURRENT_MANIFEST_VERSION } from '../../../src/project/manifest-migrations.js';
import { emptyManifest } from '../../../src/project/manifest-schema.js';
import type { Manifest } from '../../../src/project/types.js';
import { ABANDONED_TEMP_AGE_MS } from '../../../src/util/files.js';
import { appendJob, deadPid, fakeClock, fullManifest, rejection, v0Manifest } from '../../helpers/manifests.js';

const DIST_MODULE = resolve(import.meta.dirname, '../../../dist/project/manifest.js');

let projectDir: string;

beforeEach(async () => {
  projectDir = await mkdtemp(join(tmpdir(), 'voicestudio-manifest-'));
});

afterEach(async () => {
  await rm(projectDir, { recursive: true, force: true });
});

describe('readManifest', () => {
  it('returns undefined when the project has no manifest yet', async () => {
    expect(await readManifest(projectDir)).toBeUndefined();
  });

  it('reads and migrates a v0 manifest without rewriting it', async () => {
    const text = JSON.stringify(v0Manifest());
    await writeFile(manifestPath(projectDir), text);
    const manifest = await readManifest(projectDir);
    expect(manifest?.version).toBe(CURRENT_MANIFEST_VERSION);
    expect(manifest?.sources[0]?.streamIndex).toBe(0);
    expect(await readFile(manifestPath(projectDir), 'utf8')).toBe(text);
  });

  it('reports invalid JSON as a damaged manifest naming the file', async () => {
    await writeFile(manifestPath(projectDir), '{"version": 1, ');
    const error = await rejection(readManifest(projectDir));
    expect(error.code).toBe(ErrorCode.ManifestDamaged);
    expect(error.message).toMatch(/voicestudio\.json is damaged: it is not valid JSON/);
    expect(error.message).toContain(manifestPath(projectDir));
  });
});

describe('updateManifest', () => {
  it('creates the manifest and the work folder, and leaves nothing else behind', async () => {
    const clock = fakeClock(Date.parse('2024-06-01T12:00:00.000Z'));
    const { manifest, result } = await updateManifest(
      projectDir,
      (m) => {
        m.jobs.push({ id: 'job-1' });
        return 'done';
      },
      { clock },
    );
    expect(result).toBe('done');
    expect(manifest).toStrictEqual({ ...emptyManifest(new Date(clock.now())), jobs: [{ id: 'job-1' }] });
    expect((await readdir(projectDir)).sort()).toStrictEqual([WORK_DIR, MANIFEST_FILE].sort());
    expect(await readdir(workDir(projectDir))).toStrictEqual([]);
    expect(await readManifest(projectDir)).toStrictEqual(manifest);
  });

  it('writes pretty JSON with a trailing newline in the key order of the type', async () => {
    await updateManifest(projectDir, (m) => {
      Object.assign(m, fullManifest());
    });
    const text = await readFile(manifestPath(projectDir), 'utf8');
    const parsed = JSON.parse(text) as Manifest;
    expect(text).toBe(`${JSON.stringify(parsed, null, 2)}\n`);
    expect(Object.keys(parsed)).toStrictEqual(Object.keys(fullManifest()));
    expect(Object.keys(parsed.sources[0]!)).toStrictEqual(Object.keys(fullManifest().sources[0]!));
  });

  it('keeps createdAt, sets updatedAt and builds on what is on disk', async () => {
    const first = fakeClock(Date.parse('2024-06-01T12:00:00.000Z'));
    await updateManifest(projectDir, appendJob('a'), { clock: first });
    const second = fakeClock(Date.parse('2024-06-03T08:30:00.000Z'));
    const { manifest } = await updateManifest(projectDir, appendJob('b'), { clock: second });
    expect(manifest.createdAt).toBe('2024-06-01T12:00:00.000Z');
    expect(manifest.updatedAt).toBe('2024-06-03T08:30:00.000Z');
    expect(manifest.jobs.map((job) => job.id)).toStrictEqual(['a', 'b']);
  });

  it('writes a migrated v0 manifest back as the current version', async () => {
    await writeFile(manifestPath(projectDir), JSON.stringify(v0Manifest()));
    await updateManifest(projectDir, () => undefined);
    const onDisk = JSON.parse(await readFile(manifestPath(projectDir), 'utf8')) as Manifest;
    expect(onDisk.version).toBe(CURRENT_MANIFEST_VERSION);
    expect(onDisk.sources[0]).toMatchObject({ aliases: [], streamIndex: 0 });
  });

  it('keeps fields added by hand (top level, source, segment, preprocess record) through the next write', async () => {
    const manifest = fullManifest();
    const segment = { id: 'seg-1', sourceId: manifest.sources[0]!.id, file: '.voicestudio/clips/seg-1.flac', startSec: 0, endSec: 9 };
    const handEdited = {
      ...manifest,
      notes: 'recorded in the small room',
      sources: [{ ...manifest.sources[0]!, comment: 'best take' }],
      segments: [{ ...segment, comment: 'breathy' }],
      preprocess: { ...manifest.preprocess, records: manifest.preprocess.records.map((r) => ({ ...r, reviewedBy: 'ann' })) },
    };
    await writeFile(manifestPath(projectDir), JSON.stringify(handEdited));
    await updateManifest(projectDir, appendJob('after-edit'));
    const onDisk = JSON.parse(await readFile(manifestPath(projectDir), 'utf8')) as Record<string, any>;
    expect(onDisk.notes).toBe('recorded in the small room');
    expect(onDisk.sources[0].comment).toBe('best take');
    expect(onDisk.segments[0].comment).toBe('breathy');
    expect(manifest.preprocess.records.length).toBeGreaterThan(0);
    expect(onDisk.preprocess.records.map((r: Record<string, unknown>) => r.reviewedBy)).toStrictEqual(manifest.preprocess.records.map(() => 'ann'));
    // Known fields keep the type's order; the hand-added one follows them.
    expect(Object.keys(onDisk).at(-1)).toBe('notes');
    expect(onDisk.jobs.at(-1).id).toBe('after-edit');
  });

  it('writes nothing and releases the lock when mutate throws', async () => {
    await updateManifest(projectDir, appendJob('kept'));
    const before = await readFile(manifestPath(projectDir), 'utf8');
    const failure = new Error('mutate failed');
    await expect(
      updateManifest(projectDir, (m) => {
        m.jobs.push({ id: 'lost' });
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await readFile(manifestPath(projectDir), 'utf8')).toBe(before);
    expect(await readdir(workDir(projectDir))).toStrictEqual([]);
  });

  it('never overwrites a damaged manifest', async () => {
    const damaged = '{"version": 1, "createdAt": "2024-01-01T00:00:00Z", "sources": [';
    await writeFile(manifestPath(projectDir), damaged);
    let called = false;
    const error = await rejection(
      updateManifest(projectDir, () => {
        called = true;
      }),
    );
    expect(error.code).toBe(ErrorCode.ManifestDamaged);
    expect(error.message).toContain(manifestPath(projectDir));
    expect(called).toBe(false);
    expect(await readFile(manifestPath(projectDir), 'utf8')).toBe(damaged);
    expect((await readdir(projectDir)).sort()).toStrictEqual([WORK_DIR, MANIFEST_FILE].sort());
    expect(await readdir(workDir(projectDir))).toStrictEqual([]);
  });

  it('never overwrites a manifest from a newer voicestudio', async () => {
    const newer = JSON.stringify({ ...fullManifest(), version: CURRENT_MANIFEST_VERSION + 1 });
    await writeFile(manifestPath(projectDir), newer);
    const error = await rejection(updateManifest(projectDir, appendJob('x')));
    expect(error.code).toBe(ErrorCode.ManifestTooNew);
    expect(await readFile(manifestPath(projectDir), 'utf8')).toBe(newer);
  });

  it('refuses to write a manifest it could not read back', async () => {
    await updateManifest(projectDir, appendJob('kept'));
    const before = await readFile(manifestPath(projectDir), 'utf8');
    const error = await rejection(
      updateManifest(projectDir, (m) => {
        m.sources.push({ ...fullManifest().sources[0]!, durationSec: Number.NaN });
      }),
    );
    expect(error.code).toBe(ErrorCode.Internal);
    expect(error.message).toContain('sources[0].durationSec is not a number ≥ 0 (got null)');
    expect(await readFile(manifestPath(projectDir), 'utf8')).toBe(before);
    expect(await readdir(projectDir)).toContain(MANIFEST_FILE);
    expect((await readdir(projectDir)).length).toBe(2);
  });

  it('loses no update when 20 run at once in one process', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `job-${i}`);
    await Promise.all(ids.map((id) => updateManifest(projectDir, appendJob(id))));
    const manifest = await readManifest(projectDir);
    expect(manifest?.jobs.map((job) => job.id).sort()).toStrictEqual([...ids].sort());
    expect(await readdir(workDir(projectDir))).toStrictEqual([]);
    expect((await readdir(projectDir)).length).toBe(2);
  });

  it('loses no update when several processes update at once', async (context) => {
    context.skip(!existsSync(DIST_MODULE), `${DIST_MODULE} is missing: run \`npm run build\` (npm test does) first`);
    const childScript = join(projectDir, 'child.mjs');
    await writeFile(
      childScript,
      [
        `import { updateManifest } from ${JSON.stringify(pathToFileURL(DIST_MODULE).href)};`,
        'const [project, name, count] = process.argv.slice(2);',
        'for (let i = 0; i < Number(count); i++) {',
        '  await updateManifest(project, (m) => { m.jobs.push({ id: `${name}-${i}` }); });',
        '}',
      ].join('\n'),
    );
    const run = promisify(execFile);
    const project = join(projectDir, 'shared');
    const children = ['a', 'b', 'c'];
    const perChild = 15;
    await Promise.all(children.map((name) => run(process.execPath, [childScript, project, name, String(perChild)])));
    const manifest = await readManifest(project);
    const expected = children.flatMap((name) => Array.from({ length: perChild }, (_, i) => `${name}-${i}`));
    expect(manifest?.jobs.map((job) => job.id).sort()).toStrictEqual(expected.sort());
    expect(await readdir(workDir(project))).toStrictEqual([]);
  });
});

describe('temp files left by killed processes', () => {
  it('are swept when a process first writes to the project; a running process\'s temp files are kept', async () => {
    const dead = deadPid();
    const work = workDir(projectDir);
    const parent = process.ppid; // another process that certainly runs while this test does
    const abandoned = [
      join(work, 'conversions', `k1.wav.tmp-${dead}-a1b2c3`),
      join(work, 'downloads', `run1.pth.tmp-${dead}-d4e5f6`),
      join(work, 'sources', `incoming.wav.tmp-${dead}-g7h8i9`),
      join(work, 'clips', `src1.tmp-${dead}-j0k1l2`),
      join(projectDir, 'models', 'alice', `v2.tmp-${dead}-m3n4o5`),
      join(projectDir, `.voicestudio.json.${dead}.${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}.tmp`),
    ];
    const oldButLive = join(work, 'downloads', `run2.pth.tmp-${parent}-p6q7r8`);
    const kept = [
      join(work, 'conversions', `k2.wav.tmp-${parent}-s9t0u1`), // a concurrent process's download in progress
      join(work, 'conversions', 'k3.wav'),
      join(work, 'clips', 'src1', '000001.flac'),
    ];
    for (const file of [...abandoned, oldButLive, ...kept]) {
      const isFolder = (file.includes('clips') && file.includes('.tmp-')) || file.includes('models');
      await mkdir(isFolder ? file : join(file, '..'), { recursive: true });
      await writeFile(isFolder ? join(file, 'part.flac') : file, 'x');
    }
    const longAgo = new Date(Date.now() - 2 * ABANDONED_TEMP_AGE_MS);
    await utimes(oldButLive, longAgo, longAgo);

    await updateManifest(projectDir, appendJob('first-write'));
    for (const file of [...abandoned, oldButLive]) expect(existsSync(file), file).toBe(false);
    for (const file of kept) expect(existsSync(file), file).toBe(true);
  });
});

