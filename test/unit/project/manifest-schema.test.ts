import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/errors.js';
import { MANIFEST_FILE, manifestPath, workDir, WORK_DIR } from '../../../src/project/layout.js';
import { CURRENT_MANIFEST_VERSION } from '../../../src/project/manifest-migrations.js';
import { emptyManifest, migrateManifest } from '../../../src/project/manifest-schema.js';
import type { Manifest } from '../../../src/project/types.js';
import { fullManifest, thrownBy, v0Manifest, v1Manifest, v1Source, v2Manifest, v3Manifest } from '../../helpers/manifests.js';

const FILE = '/projects/demo/voicestudio.json';

describe('paths and constants', () => {
  it('puts the manifest and the work folder in the project', () => {
    expect(MANIFEST_FILE).toBe('voicestudio.json');
    expect(WORK_DIR).toBe('.voicestudio');
    expect(CURRENT_MANIFEST_VERSION).toBe(4);
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
      preprocess: { records: [], heldOut: [] },
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
      preprocess: { records: [], heldOut: [] },
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
    expect(migrated).toStrictEqual({ ...full, sources: [v1Source()], preprocess: { settings: full.preprocess.settings, records: [], heldOut: [] } });
    expect(migrated.sources[0]).not.toHaveProperty('excluded');
  });

  it('migrates a v2 manifest: holdout on, no clip held out until the next preprocess chooses them', () => {
    const full = fullManifest();
    const migrated = migrateManifest(v2Manifest(), FILE);
    expect(migrated).toStrictEqual({ ...full, preprocess: { ...full.preprocess, heldOut: [] } });
  });

  it('migrates a v3 manifest: every clip exclusion stays the user\'s, and a screened one reads back as the screen\'s', () => {
    const v3 = v3Manifest();
    const migrated = migrateManifest(v3, FILE);
    expect(migrated.version).toBe(4);
    expect(migrated.sources[0]!.excludedClips).toStrictEqual((v3.sources as Manifest['sources'])[0]!.excludedClips);
    expect(migrated.sources[0]!.excludedClips.some((c) => c.screen !== undefined)).toBe(false);
    expect(migrateManifest(structuredClone(fullManifest()), FILE).sources[0]!.excludedClips[1]!.screen).toStrictEqual({ similarity: 0.52, threshold: 0.75 });
  });

  it('refuses a screen mark without its threshold', () => {
    const manifest = fullManifest();
    const raw = structuredClone(manifest) as unknown as { sources: { excludedClips: Record<string, unknown>[] }[] };
    raw.sources[0]!.excludedClips[1]!.screen = { similarity: 0.5 };
    const error = thrownBy(() => migrateManifest(raw as unknown as Record<string, unknown>, FILE));
    expect(error.message).toContain('sources[0].excludedClips[1].screen.threshold');
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
    ['sources[0].excludedClips[0].clipId is not a non-empty string (got "")', edit((m) => (m.sources[0].excludedClips[0].clipId = ''))],
    ['segments[0].endSec is missing', edit((m) => delete m.segments[0].endSec)],
    ['segments[1].id duplicates segments[0].id ("abababababab-0000")', edit((m) => m.segments.push({ ...m.segments[0] }))],
    ['preprocess is missing', edit((m) => delete m.preprocess)],
    [
      'preprocess.settings.sampleRate is not one of 32000, 40000, 48000 (got 44100)',
      edit((m) => (m.preprocess.settings.sampleRate = 44100)),
    ],
    [
      'preprocess.settings.silenceThresholdDb is not a number (got "loud")',
      edit((m) => (m.preprocess.settings.silenceThresholdDb = 'loud')),
    ],
    [
      'preprocess.records[0].report.clippedShare is not a share between 0 and 1 (got 1.5)',
      edit((m) => (m.preprocess.records[0].report.clippedShare = 1.5)),
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

  it('keeps unknown fields of models and jobs, and drops them inside exclusions, settings and reports', () => {
    const manifest: Record<string, any> = fullManifest();
    manifest.models[0].note = 'best so far';
    manifest.jobs[0].extra = { nested: true };
    manifest.sources[0].excluded.by = 'ann';
    manifest.preprocess.settings.legacy = 1;
    manifest.preprocess.records[0].report.extra = 2;
    const migrated = migrateManifest(manifest, FILE);
    expect(migrated.models[0]).toStrictEqual({ ...fullManifest().models[0], note: 'best so far' });
    expect(migrated.jobs[0]).toStrictEqual({ ...fullManifest().jobs[0], extra: { nested: true } });
    expect(migrated.sources[0]!.excluded).toStrictEqual(fullManifest().sources[0]!.excluded);
    expect(migrated.preprocess.settings).toStrictEqual(fullManifest().preprocess.settings);
    expect(migrated.preprocess.records[0]!.report).toStrictEqual(fullManifest().preprocess.records[0]!.report);
  });

  it('validates a v0 manifest after migrating it, so damage is still named', () => {
    const error = thrownBy(() => migrateManifest({ ...v0Manifest(), sources: 'none' }, FILE));
    expect(error.code).toBe(ErrorCode.ManifestDamaged);
    expect(error.message).toContain('sources is not a list (got "none")');
  });
});

