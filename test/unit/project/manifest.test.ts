import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, VoicestudioError } from '../../../src/errors.js';
import {
  CURRENT_MANIFEST_VERSION,
  DEFAULT_LOCK_TIMEOUT_MS,
  LOCK_FILE,
  LOCK_MAX_AGE_MS,
  emptyManifest,
  migrateManifest,
  readManifest,
  updateManifest,
  type Clock,
} from '../../../src/project/manifest.js';
import { MANIFEST_FILE, manifestPath, workDir, WORK_DIR } from '../../../src/project/layout.js';
import type { Manifest } from '../../../src/project/types.js';
import { ABANDONED_TEMP_AGE_MS } from '../../../src/util/files.js';

const FILE = '/projects/demo/voicestudio.json';
const SHA = 'ab'.repeat(32);
const DIST_MODULE = resolve(import.meta.dirname, '../../../dist/project/manifest.js');

let projectDir: string;

beforeEach(async () => {
  projectDir = await mkdtemp(join(tmpdir(), 'voicestudio-manifest-'));
});

afterEach(async () => {
  await rm(projectDir, { recursive: true, force: true });
});

function fullManifest(): Manifest {
  return {
    version: 2,
    createdAt: '2024-05-01T10:00:00.000Z',
    updatedAt: '2024-05-02T11:00:00.000Z',
    sources: [
      {
        id: SHA.slice(0, 12),
        sha256: SHA,
        path: 'takes/verse.wav',
        aliases: ['takes/verse copy.wav'],
        kind: 'singing',
        durationSec: 42.5,
        sampleRate: 48000,
        channels: 2,
        codec: 'pcm_s16le',
        streamIndex: 0,
        workingFile: '.voicestudio/sources/abababababab.flac',
        sizeBytes: 8_160_044,
        ingestedAt: '2024-05-01T10:00:00.000Z',
        excluded: { excludedAt: '2024-05-03T09:00:00.000Z', reason: 'guest singer' },
        excludedClips: [{ excludedAt: '2024-05-03T09:00:00.000Z', clipId: 'abababababab-0000', startSec: 0, endSec: 9.5 }],
      },
    ],
    segments: [
      {
        id: 'abababababab-0000',
        sourceId: 'abababababab',
        file: '.voicestudio/clips/abababababab-0000.wav',
        startSec: 0,
        endSec: 9.5,
      },
    ],
    preprocess: {
      settings: { sampleRate: 40000, denoise: true, highpassHz: 80, targetLufs: -20, minClipSec: 5, maxClipSec: 15, silenceThresholdDb: 'auto', minSilenceMs: 300 },
      records: [
        {
          sourceId: 'abababababab',
          key: 'k1',
          segmentIds: ['abababababab-0000'],
          report: {
            sourceId: 'abababababab',
            path: 'takes/verse.wav',
            kind: 'singing',
            durationSec: 42.5,
            keptSec: 9.5,
            droppedSec: 33,
            soundSec: 12,
            keptSoundSec: 9.5,
            lostSoundSec: { too_short: 0, silence: 2.5, clipping: 0 },
            silenceThresholdDb: -40,
            keptWhole: false,
            clips: {
              count: 1,
              minSec: 9.5,
              medianSec: 9.5,
              maxSec: 9.5,
              histogram: [{ fromSec: 9, toSec: 11, count: 1 }],
            },
            dropped: [{ startSec: 9.5, endSec: 42.5, reason: 'silence', detail: '33 s below -60 dBFS', soundSec: 2.5 }],
            clippedShare: 0.001,
            peakDbfs: -0.3,
            noiseFloorDbfs: -72,
            snrDb: 48,
            loudnessLufs: -18.2,
            warnings: [
              { code: 'short', scope: 'abababababab', message: 'Little audio kept.', suggestion: 'Add more takes.' },
            ],
          },
          processedAt: '2024-05-02T11:00:00.000Z',
        },
      ],
    },
    models: [{ name: 'alto', version: 2, epochs: 200, files: { index: 'm.index' } }],
    jobs: [{ id: 'job-1', kind: 'train', status: 'done' }],
  };
}

/** The earliest prototype's manifest: no version, segments, preprocess, models or jobs; no aliases/streamIndex. */
function v0Manifest(): Record<string, unknown> {
  const { aliases: _aliases, streamIndex: _streamIndex, excluded: _excluded, excludedClips: _excludedClips, ...source } = fullManifest().sources[0]!;
  return { createdAt: '2023-01-01T00:00:00.000Z', updatedAt: '2023-01-02T00:00:00.000Z', sources: [source] };
}

/** fullManifest's source as it migrates from before exclusions existed: included, no clip excluded. */
function v1Source(): Manifest['sources'][number] {
  const { excluded: _excluded, ...source } = fullManifest().sources[0]!;
  return { ...source, excludedClips: [] };
}

/** Version 1: sources without exclusions. */
function v1Manifest(): Record<string, unknown> {
  const manifest = fullManifest();
  const { excluded: _excluded, excludedClips: _excludedClips, ...source } = manifest.sources[0]!;
  return { ...manifest, version: 1, sources: [source] };
}

/** A clock whose sleep only advances time, so lock waits take no real time. */
function fakeClock(start = Date.now()): Clock & { elapsedMs(): number } {
  let now = start;
  return {
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
    elapsedMs: () => now - start,
  };
}

async function rejection(promise: Promise<unknown>): Promise<VoicestudioError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(VoicestudioError);
  return error as VoicestudioError;
}

function thrownBy(action: () => unknown): VoicestudioError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(VoicestudioError);
    return error as VoicestudioError;
  }
  throw new Error('expected an error');
}

const lockPath = (): string => join(workDir(projectDir), LOCK_FILE);

async function writeLock(holder: { pid: number; hostname: string; startedAt: string }): Promise<string> {
  await mkdir(workDir(projectDir), { recursive: true });
  const text = JSON.stringify(holder);
  await writeFile(lockPath(), text);
  return text;
}

function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  if (child.pid === undefined) throw new Error('could not start a child process');
  return child.pid;
}

const appendJob = (id: string) => (manifest: Manifest) => {
  manifest.jobs.push({ id });
};

describe('paths and constants', () => {
  it('puts the manifest and the work folder in the project', () => {
    expect(MANIFEST_FILE).toBe('voicestudio.json');
    expect(WORK_DIR).toBe('.voicestudio');
    expect(CURRENT_MANIFEST_VERSION).toBe(2);
    expect(manifestPath('/p')).toBe(join('/p', 'voicestudio.json'));
    expect(workDir('/p')).toBe(join('/p', '.voicestudio'));
  });

  it('starts an empty manifest at the current version', () => {
    const now = new Date('2024-06-01T12:00:00.000Z');
    expect(emptyManifest(now)).toStrictEqual({
      version: CURRENT_MANIFEST_VERSION,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      sources: [],
      segments: [],
      preprocess: { records: [] },
      models: [],
      jobs: [],
    });
    expect(migrateManifest(emptyManifest(now), FILE)).toStrictEqual(emptyManifest(now));
  });
});

describe('migrateManifest', () => {
  it('passes a current-version manifest through unchanged, opaque model and job fields included', () => {
    const manifest = fullManifest();
    expect(migrateManifest(structuredClone(manifest), FILE)).toStrictEqual(manifest);
  });

  it('migrates a v0 manifest (no version field) by filling the fields it lacked', () => {
    const migrated = migrateManifest(v0Manifest(), FILE);
    expect(migrated).toStrictEqual({
      ...fullManifest(),
      createdAt: '2023-01-01T00:00:00.000Z',
      updatedAt: '2023-01-02T00:00:00.000Z',
      sources: [{ ...v1Source(), aliases: [], streamIndex: 0 }],
      segments: [],
      preprocess: { records: [] },
      models: [],
      jobs: [],
    });
  });

  it('keeps what a v0 manifest did record and treats an explicit version 0 the same way', () => {
    const v0 = v0Manifest();
    const [source] = v0.sources as Record<string, unknown>[];
    const raw = { ...v0, version: 0, sources: [{ ...source, aliases: ['dup.wav'] }], jobs: [{ id: 'old-job' }] };
    const migrated = migrateManifest(raw, FILE);
    expect(migrated.version).toBe(CURRENT_MANIFEST_VERSION);
    expect(migrated.jobs).toStrictEqual([{ id: 'old-job' }]);
    expect(migrated.sources[0]!.aliases).toStrictEqual(['dup.wav']);
  });

  it('migrates a v1 manifest: every source included, its clips cut again (records go), the silence settings added', () => {
    const v1 = v1Manifest();
    const full = fullManifest();
    const { silenceThresholdDb: _threshold, minSilenceMs: _minSilence, ...v1Settings } = full.preprocess.settings!;
    const migrated = migrateManifest({ ...v1, preprocess: { settings: v1Settings, records: full.preprocess.records } }, FILE);
    expect(migrated).toStrictEqual({ ...full, sources: [v1Source()], preprocess: { settings: full.preprocess.settings, records: [] } });
    expect(migrated.sources[0]).not.toHaveProperty('excluded');
  });

  it('does not modify its input', () => {
    const raw = v0Manifest();
    const before = structuredClone(raw);
    migrateManifest(raw, FILE);
    expect(raw).toStrictEqual(before);
  });

  it('writes keys in the order of the Manifest type whatever order the file had', () => {
    const { jobs, version, ...rest } = fullManifest();
    const source = fullManifest().sources[0]!;
    const shuffledSource = Object.fromEntries(Object.entries(source).reverse());
    const migrated = migrateManifest({ jobs, ...rest, sources: [shuffledSource], version }, FILE);
    expect(Object.keys(migrated)).toStrictEqual(Object.keys(fullManifest()));
    expect(Object.keys(migrated.sources[0]!)).toStrictEqual(Object.keys(source));
  });

  it('refuses a manifest from a newer voicestudio and says to upgrade', () => {
    const error = thrownBy(() => migrateManifest({ ...fullManifest(), version: CURRENT_MANIFEST_VERSION + 1 }, FILE));
    expect(error.code).toBe(ErrorCode.ManifestTooNew);
    expect(error.message).toContain(FILE);
    expect(error.message).toContain(`manifest version ${CURRENT_MANIFEST_VERSION + 1}`);
    expect(error.suggestion).toMatch(/upgrade voicestudio/i);
  });

  type Damage = [problem: string, damage: (m: Record<string, any>) => unknown];
  /** A damage made by changing the valid manifest in place. */
  const edit =
    (change: (m: Record<string, any>) => unknown) =>
    (m: Record<string, any>): unknown => {
      change(m);
      return m;
    };
  const damages: Damage[] = [
    ['the manifest is not an object (got a list)', () => []],
    ['the manifest is not an object (got null)', () => null],
    ['version is not a whole number ≥ 0 (got "1")', edit((m) => (m.version = '1'))],
    ['createdAt is missing', edit((m) => delete m.createdAt)],
    ['updatedAt is not a date (got "yesterday")', edit((m) => (m.updatedAt = 'yesterday'))],
    ['sources is not a list (got an object)', edit((m) => (m.sources = {}))],
    ['sources[0].sha256 is not a sha256 (got "abc")', edit((m) => (m.sources[0].sha256 = 'abc'))],
    ['sources[0].kind is not one of singing, speech (got "rap")', edit((m) => (m.sources[0].kind = 'rap'))],
    ['sources[0].durationSec is not a number ≥ 0 (got -1)', edit((m) => (m.sources[0].durationSec = -1))],
    ['sources[0].channels is not a whole number > 0 (got 1.5)', edit((m) => (m.sources[0].channels = 1.5))],
    ['sources[0].aliases[0] is not a non-empty string (got 7)', edit((m) => (m.sources[0].aliases = [7]))],
    ['sources[1].id duplicates sources[0].id ("abababababab")', edit((m) => m.sources.push({ ...m.sources[0] }))],
    ['sources[0].excludedClips is missing', edit((m) => delete m.sources[0].excludedClips)],
    ['sources[0].excluded.excludedAt is missing', edit((m) => delete m.sources[0].excluded.excludedAt)],
    ['sources[0].excludedClips[0].startSec is not a number ≥ 0 (got "0")', edit((m) => (m.sources[0].excludedClips[0].startSec = '0'))],
    ['segments[0].endSec is missing', edit((m) => delete m.segments[0].endSec)],
    ['preprocess is missing', edit((m) => delete m.preprocess)],
    [
      'preprocess.settings.sampleRate is not one of 32000, 40000, 48000 (got 44100)',
      edit((m) => (m.preprocess.settings.sampleRate = 44100)),
    ],
    [
      'preprocess.records[0].report.clips.histogram[0].count is not a whole number ≥ 0 (got -2)',
      edit((m) => (m.preprocess.records[0].report.clips.histogram[0].count = -2)),
    ],
    [
      'preprocess.records[0].report.peakDbfs is not a number (got null)',
      edit((m) => (m.preprocess.records[0].report.peakDbfs = null)),
    ],
    ['models[0].version is not a whole number ≥ 0 (got "v2")', edit((m) => (m.models[0].version = 'v2'))],
    ['jobs[0].id is missing', edit((m) => delete m.jobs[0].id)],
  ];

  it.each(damages)('reports damage in the file: %s', (problem, damage) => {
    const damaged = damage(fullManifest());
    const error = thrownBy(() => migrateManifest(damaged, FILE));
    expect(error.code).toBe(ErrorCode.ManifestDamaged);
    expect(error.message).toBe(`${FILE} is damaged: ${problem}.`);
    expect(error.subject).toBe(FILE);
    expect(error.suggestion).toContain(FILE);
  });

  it('validates a v0 manifest after migrating it, so damage is still named', () => {
    const error = thrownBy(() => migrateManifest({ ...v0Manifest(), sources: 'none' }, FILE));
    expect(error.code).toBe(ErrorCode.ManifestDamaged);
    expect(error.message).toContain('sources is not a list (got "none")');
  });
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

describe('manifest lock', () => {
  it('breaks a lock left by a process that no longer runs', async () => {
    await writeLock({ pid: deadPid(), hostname: hostname(), startedAt: new Date().toISOString() });
    const clock = fakeClock();
    const { manifest } = await updateManifest(projectDir, appendJob('after-crash'), { clock });
    expect(manifest.jobs).toStrictEqual([{ id: 'after-crash' }]);
    expect(clock.elapsedMs()).toBe(0);
    expect(await readdir(workDir(projectDir))).toStrictEqual([]);
  });

  it('lets only one of many waiting updaters break a dead lock, and loses none of their updates', async () => {
    await writeLock({ pid: deadPid(), hostname: hostname(), startedAt: new Date().toISOString() });
    const ids = Array.from({ length: 10 }, (_, i) => `job-${i}`);
    await Promise.all(ids.map((id) => updateManifest(projectDir, appendJob(id))));
    const manifest = await readManifest(projectDir);
    expect(manifest?.jobs.map((job) => job.id).sort()).toStrictEqual([...ids].sort());
    expect(await readdir(workDir(projectDir))).toStrictEqual([]);
  });

  it('clears the turn file of a breaker that died while breaking a dead lock', async () => {
    const dead = { pid: deadPid(), hostname: hostname(), startedAt: new Date().toISOString() };
    await writeLock(dead);
    await writeFile(`${lockPath()}.break`, JSON.stringify(dead));
    const { manifest } = await updateManifest(projectDir, appendJob('x'), { clock: fakeClock() });
    expect(manifest.jobs).toHaveLength(1);
    expect(await readdir(workDir(projectDir))).toStrictEqual([]);
  });

  it('breaks a lock older than the maximum age even if its holder cannot be checked', async () => {
    const startedAt = new Date(Date.now() - LOCK_MAX_AGE_MS - 1000).toISOString();
    await writeLock({ pid: 4242, hostname: 'some-other-host', startedAt });
    const { manifest } = await updateManifest(projectDir, appendJob('x'), { clock: fakeClock() });
    expect(manifest.jobs).toHaveLength(1);
  });

  it('breaks an old lock file that never got its holder written', async () => {
    await mkdir(workDir(projectDir), { recursive: true });
    await writeFile(lockPath(), '');
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await utimes(lockPath(), anHourAgo, anHourAgo);
    const { manifest } = await updateManifest(projectDir, appendJob('x'), { clock: fakeClock() });
    expect(manifest.jobs).toHaveLength(1);
  });

  it('waits the default 10 s for a live holder, then names it in ManifestLocked', async () => {
    const lockText = await writeLock({ pid: process.ppid, hostname: hostname(), startedAt: new Date().toISOString() });
    const clock = fakeClock();
    let called = false;
    const error = await rejection(
      updateManifest(
        projectDir,
        () => {
          called = true;
        },
        { clock },
      ),
    );
    expect(DEFAULT_LOCK_TIMEOUT_MS).toBe(10_000);
    expect(clock.elapsedMs()).toBeGreaterThanOrEqual(DEFAULT_LOCK_TIMEOUT_MS);
    expect(clock.elapsedMs()).toBeLessThan(DEFAULT_LOCK_TIMEOUT_MS + 1);
    expect(error.code).toBe(ErrorCode.ManifestLocked);
    expect(error.message).toContain(manifestPath(projectDir));
    expect(error.message).toContain(`process ${process.ppid} on host ${hostname()}`);
    expect(error.suggestion).toContain(lockPath());
    expect(called).toBe(false);
    expect(await readFile(lockPath(), 'utf8')).toBe(lockText);
    expect(existsSync(manifestPath(projectDir))).toBe(false);
  });

  it('does not break a recent lock held on another host, and honours timeoutMs', async () => {
    await writeLock({ pid: 4242, hostname: 'some-other-host', startedAt: new Date().toISOString() });
    const clock = fakeClock();
    const error = await rejection(updateManifest(projectDir, appendJob('x'), { clock, timeoutMs: 300 }));
    expect(error.code).toBe(ErrorCode.ManifestLocked);
    expect(error.message).toContain('process 4242 on host some-other-host');
    expect(clock.elapsedMs()).toBeGreaterThanOrEqual(300);
    expect(clock.elapsedMs()).toBeLessThan(301);
  });

  it('takes the lock as soon as the holder releases it', async () => {
    await writeLock({ pid: process.ppid, hostname: hostname(), startedAt: new Date().toISOString() });
    // The holder lets go while the update waits for it (its first pause), not after some real time.
    let pauses = 0;
    const clock: Clock = {
      now: () => Date.now(),
      sleep: async () => {
        if (++pauses === 1) await rm(lockPath());
      },
    };
    const { manifest } = await updateManifest(projectDir, appendJob('waited'), { clock });
    expect(manifest.jobs).toStrictEqual([{ id: 'waited' }]);
    expect(pauses).toBe(1);
  });

  it('stops waiting when the signal aborts', async () => {
    await writeLock({ pid: process.ppid, hostname: hostname(), startedAt: new Date().toISOString() });
    const controller = new AbortController();
    // The abort lands while the update waits out a pause far longer than the test may run: only the signal ends it.
    const clock: Clock = {
      now: () => Date.now(),
      sleep: (_ms, signal) => {
        const pausing = delay(60 * 60_000, undefined, signal === undefined ? {} : { signal });
        controller.abort();
        return pausing;
      },
    };
    await expect(updateManifest(projectDir, appendJob('x'), { signal: controller.signal, clock })).rejects.toMatchObject({ name: 'AbortError' });
    expect((await stat(lockPath())).isFile()).toBe(true);
  });
});
