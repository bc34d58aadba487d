/**
 * The project manifest: `<project>/voicestudio.json`, the one record of what a project holds.
 *
 * Reads need no lock: every write replaces the file by an atomic rename, so a reader sees a whole old
 * file or a whole new one. Writes go through `updateManifest`, which holds a cross-process lock file for
 * the read-modify-write section only. A manifest that fails validation is reported and never rewritten.
 */

import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ErrorCode, UsageError, VoicestudioError } from '../errors.js';
import { isProcessAlive, sweepAbandonedTemps, tempSiblingOwner } from '../util/files.js';
import { MANIFEST_FILE, manifestPath, MODELS_DIR, workDir } from './layout.js';
import {
  SOURCE_KINDS,
  TRAINING_SAMPLE_RATES,
  type DropReason,
  type ClipExclusion,
  type DroppedClip,
  type Exclusion,
  type JobRecord,
  type LengthDistribution,
  type LostSound,
  type Manifest,
  type ModelRecord,
  type PreprocessRecord,
  type PreprocessSettings,
  type QualityWarning,
  type Segment,
  type Source,
  type SourceQualityReport,
} from './types.js';

/**
 * Bumped whenever a field is added: a voicestudio that does not know a field keeps it but does not act on it, so an
 * older one must refuse a newer manifest (ManifestTooNew) rather than silently ignore, say, an exclusion.
 */
export const CURRENT_MANIFEST_VERSION = 2;
/** Lock file, inside WORK_DIR. */
export const LOCK_FILE = 'manifest.lock';
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
/** The lock only covers a short read-modify-write, so a lock this old is abandoned whoever holds it. */
export const LOCK_MAX_AGE_MS = 10 * 60_000;
/** A lock file without readable holder info is mid-creation for microseconds; older than this it is debris. */
const UNREADABLE_LOCK_MAX_AGE_MS = 10_000;
const MAX_BACKOFF_MS = 50;
/** Suffix of the file that lets one stale-lock breaker at a time have its turn. */
const BREAKER_SUFFIX = '.break';

/** Time source and sleep used by `updateManifest`; tests pass a fake one. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface UpdateManifestOptions {
  /** How long to wait for another process's lock before giving up (default 10 s). */
  timeoutMs?: number;
  /** Aborts waiting for the lock; once the lock is held the update runs to completion. */
  signal?: AbortSignal;
  /** Time source for lock waits and for createdAt/updatedAt; the system clock unless a test passes one. */
  clock?: Clock;
}

const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => delay(ms, undefined, { signal }),
};

export function emptyManifest(now: Date = new Date()): Manifest {
  const timestamp = now.toISOString();
  return {
    version: CURRENT_MANIFEST_VERSION,
    createdAt: timestamp,
    updatedAt: timestamp,
    sources: [],
    segments: [],
    preprocess: { records: [] },
    models: [],
    jobs: [],
  };
}

/** The project's manifest, migrated to the current version; undefined when the project has none yet. */
export async function readManifest(projectDir: string): Promise<Manifest | undefined> {
  const file = manifestPath(projectDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    if (errorCode(error) === 'ENOTDIR') throw notAFolderError(projectDir);
    throw error;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw damagedError(file, `it is not valid JSON (${(error as Error).message})`, error);
  }
  return migrateManifest(raw, file);
}

/**
 * For commands that need a project already there: a folder that does not exist is named as such (an
 * `ingest` of it would fail too), a file given for the folder is a usage error.
 */
export async function requireProjectFolder(projectDir: string): Promise<void> {
  const info = await stat(projectDir).catch((error: unknown) => {
    if (errorCode(error) === 'ENOENT') return undefined;
    if (errorCode(error) === 'ENOTDIR') throw notAFolderError(projectDir);
    throw error;
  });
  if (info === undefined) {
    throw new VoicestudioError(ErrorCode.ProjectMissing, `${projectDir} does not exist.`, {
      subject: projectDir,
      suggestion: 'Check the path: give the project folder, the one you took your recordings into with voicestudio ingest <folder>.',
    });
  }
  if (!info.isDirectory()) throw notAFolderError(projectDir);
}

function notAFolderError(projectDir: string): UsageError {
  return new UsageError(
    `${projectDir} is not a folder: a project is the folder that holds ${MANIFEST_FILE}.`,
    `Give the project folder instead, e.g. ${dirname(projectDir)}.`,
  );
}

/**
 * Read, change and write the manifest under the project lock. `mutate` changes the manifest in place;
 * if it throws, nothing is written. Keep `mutate` short (no FFmpeg, no network): other voicestudio
 * processes wait for it, and a lock held past LOCK_MAX_AGE_MS is treated as abandoned. It must not call
 * updateManifest itself.
 */
export async function updateManifest<T>(
  projectDir: string,
  mutate: (manifest: Manifest) => T | Promise<T>,
  options: UpdateManifestOptions = {},
): Promise<{ manifest: Manifest; result: T }> {
  const clock = options.clock ?? systemClock;
  const file = manifestPath(projectDir);
  await mkdir(workDir(projectDir), { recursive: true });
  await sweepOnce(projectDir);
  const lockFile = join(workDir(projectDir), LOCK_FILE);
  const lock = await acquireLock(lockFile, file, clock, options);
  try {
    const manifest = (await readManifest(projectDir)) ?? emptyManifest(new Date(clock.now()));
    const result = await mutate(manifest);
    manifest.updatedAt = new Date(clock.now()).toISOString();
    return { manifest: await writeManifest(file, manifest), result };
  } finally {
    // If our lock was broken as abandoned, the file there now is someone else's: leave it.
    await removeLockIfUnchanged(lockFile, lock);
  }
}

/** Projects whose abandoned temp files this process has swept already. */
const swept = new Set<string>();

/**
 * The first time a process writes to a project, it removes the temp files killed processes left there: staged
 * clips, downloads, conversions, incoming sources (all named by tempSibling, under WORK_DIR and models/) and
 * half-written manifests. Best effort: a temp file that cannot be removed now is tried again next time.
 */
async function sweepOnce(projectDir: string): Promise<void> {
  const key = resolve(projectDir);
  if (swept.has(key)) return;
  swept.add(key);
  await Promise.all([
    sweepAbandonedTemps(workDir(projectDir), tempSiblingOwner, 2),
    sweepAbandonedTemps(join(projectDir, MODELS_DIR), tempSiblingOwner, 1),
    sweepAbandonedTemps(projectDir, manifestTempOwner, 0),
  ]).catch(() => {});
}

/** writeFileAtomically's temp file for the manifest: `.voicestudio.json.<pid>.<uuid>.tmp`. */
const MANIFEST_TEMP = new RegExp(`^\\.${MANIFEST_FILE.replaceAll('.', '\\.')}\\.(\\d+)\\.[0-9a-f-]{36}\\.tmp$`);

function manifestTempOwner(name: string): number | undefined {
  const match = MANIFEST_TEMP.exec(name);
  return match === null ? undefined : Number(match[1]);
}

/**
 * Validate a parsed manifest and bring it to CURRENT_MANIFEST_VERSION. Pure: returns a new object with
 * the keys in the order of the `Manifest` type; fields this version does not know (at the top level, in
 * sources, segments and preprocess records) are kept after them, unchanged.
 */
export function migrateManifest(raw: unknown, file: string): Manifest {
  try {
    const fields = checkObject(raw, '');
    const version = fields.version === undefined ? 0 : nonNegativeInteger(fields.version, 'version');
    if (version > CURRENT_MANIFEST_VERSION) throw tooNewError(file, version);
    return checkManifest(upgrade(fields, version));
  } catch (error) {
    if (error instanceof ShapeError) throw damagedError(file, error.message, error);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------
// Migrations

type Fields = Record<string, unknown>;

/** MIGRATIONS[n] turns a version-n manifest into version n+1. They tolerate damage: validation comes after. */
const MIGRATIONS: readonly ((manifest: Fields) => Fields)[] = [migrateV0ToV1, migrateV1ToV2];

function upgrade(manifest: Fields, version: number): Fields {
  let upgraded = manifest;
  for (let from = version; from < CURRENT_MANIFEST_VERSION; from++) {
    const migration = MIGRATIONS[from];
    if (migration === undefined) throw new Error(`No migration from manifest version ${from}`);
    upgraded = migration(upgraded);
  }
  return upgraded;
}

/** v0, the prototype's: no `version`, maybe no segments/preprocess/models/jobs; sources lack aliases/streamIndex. */
function migrateV0ToV1(manifest: Fields): Fields {
  const { sources } = manifest;
  return {
    ...manifest,
    version: 1,
    sources: Array.isArray(sources) ? sources.map(fillV0SourceFields) : sources,
    segments: manifest.segments ?? [],
    preprocess: manifest.preprocess ?? { records: [] },
    models: manifest.models ?? [],
    jobs: manifest.jobs ?? [],
  };
}

function fillV0SourceFields(source: unknown): unknown {
  if (!isFields(source)) return source;
  // v0 did not record which audio stream was taken; assume the first.
  return { ...source, aliases: source.aliases ?? [], streamIndex: source.streamIndex ?? 0 };
}

/**
 * v1 to v2: sources gain exclusions (`excluded`, `excludedClips`). v1's clips came from a slicer that lost short sources
 * and sung phrases, and its reports lack the sound figures: the preprocess records go, so the next preprocess (or train)
 * cuts every source again. The settings gain the silence settings.
 */
function migrateV1ToV2(manifest: Fields): Fields {
  const { sources } = manifest;
  const preprocess = isFields(manifest.preprocess) ? manifest.preprocess : {};
  const settings = isFields(preprocess.settings) ? { ...preprocess.settings, silenceThresholdDb: 'auto', minSilenceMs: 300 } : undefined;
  return {
    ...manifest,
    version: 2,
    sources: Array.isArray(sources) ? sources.map((source: unknown) => (isFields(source) ? { ...source, excludedClips: source.excludedClips ?? [] } : source)) : sources,
    preprocess: { ...preprocess, ...(settings === undefined ? {} : { settings }), records: [] },
  };
}

// ---------------------------------------------------------------------------------------------------
// Validation: each check returns the value in its typed, key-ordered form or throws a ShapeError that
// names the field, e.g. "sources[3].sha256 is not a sha256 (got "abc")".

class ShapeError extends Error {}

type Check<T> = (value: unknown, path: string) => T;

function checkManifest(fields: Fields): Manifest {
  const manifest: Manifest = withUnknownFields(fields, {
    version: CURRENT_MANIFEST_VERSION,
    createdAt: field(fields, 'createdAt', '', timestamp),
    updatedAt: field(fields, 'updatedAt', '', timestamp),
    sources: field(fields, 'sources', '', listOf(checkSource)),
    segments: field(fields, 'segments', '', listOf(checkSegment)),
    preprocess: field(fields, 'preprocess', '', checkPreprocess),
    models: field(fields, 'models', '', listOf(checkModel)),
    jobs: field(fields, 'jobs', '', listOf(checkJob)),
  });
  requireUniqueIds(manifest.sources, 'sources');
  requireUniqueIds(manifest.segments, 'segments');
  return manifest;
}

const checkSource: Check<Source> = (value, path) => {
  const fields = checkObject(value, path);
  const excluded = optionalField(fields, 'excluded', path, checkExclusion);
  return withUnknownFields(fields, {
    id: field(fields, 'id', path, nonEmptyText),
    sha256: field(fields, 'sha256', path, sha256),
    path: field(fields, 'path', path, nonEmptyText),
    aliases: field(fields, 'aliases', path, listOf(nonEmptyText)),
    kind: field(fields, 'kind', path, oneOf(SOURCE_KINDS)),
    durationSec: field(fields, 'durationSec', path, nonNegativeNumber),
    sampleRate: field(fields, 'sampleRate', path, positiveInteger),
    channels: field(fields, 'channels', path, positiveInteger),
    codec: field(fields, 'codec', path, nonEmptyText),
    streamIndex: field(fields, 'streamIndex', path, nonNegativeInteger),
    workingFile: field(fields, 'workingFile', path, nonEmptyText),
    sizeBytes: field(fields, 'sizeBytes', path, nonNegativeInteger),
    ingestedAt: field(fields, 'ingestedAt', path, timestamp),
    ...(excluded === undefined ? {} : { excluded }),
    excludedClips: field(fields, 'excludedClips', path, listOf(checkClipExclusion)),
  });
};

const checkExclusion: Check<Exclusion> = (value, path) => {
  const fields = checkObject(value, path);
  const reason = optionalField(fields, 'reason', path, text);
  return { excludedAt: field(fields, 'excludedAt', path, timestamp), ...(reason === undefined ? {} : { reason }) };
};

const checkClipExclusion: Check<ClipExclusion> = (value, path) => {
  const fields = checkObject(value, path);
  const reason = optionalField(fields, 'reason', path, text);
  return {
    excludedAt: field(fields, 'excludedAt', path, timestamp),
    ...(reason === undefined ? {} : { reason }),
    clipId: field(fields, 'clipId', path, nonEmptyText),
    startSec: field(fields, 'startSec', path, nonNegativeNumber),
    endSec: field(fields, 'endSec', path, nonNegativeNumber),
  };
};

const checkSegment: Check<Segment> = (value, path) => {
  const fields = checkObject(value, path);
  return withUnknownFields(fields, {
    id: field(fields, 'id', path, nonEmptyText),
    sourceId: field(fields, 'sourceId', path, nonEmptyText),
    file: field(fields, 'file', path, nonEmptyText),
    startSec: field(fields, 'startSec', path, nonNegativeNumber),
    endSec: field(fields, 'endSec', path, nonNegativeNumber),
  });
};

const checkPreprocess: Check<Manifest['preprocess']> = (value, path) => {
  const fields = checkObject(value, path);
  const settings = optionalField(fields, 'settings', path, checkSettings);
  const records = field(fields, 'records', path, listOf(checkPreprocessRecord));
  return withUnknownFields(fields, settings === undefined ? { records } : { settings, records });
};

const checkSettings: Check<PreprocessSettings> = (value, path) => {
  const fields = checkObject(value, path);
  return {
    sampleRate: field(fields, 'sampleRate', path, oneOf(TRAINING_SAMPLE_RATES)),
    denoise: field(fields, 'denoise', path, boolean),
    highpassHz: field(fields, 'highpassHz', path, nonNegativeNumber),
    targetLufs: field(fields, 'targetLufs', path, finiteNumber),
    minClipSec: field(fields, 'minClipSec', path, nonNegativeNumber),
    maxClipSec: field(fields, 'maxClipSec', path, nonNegativeNumber),
    silenceThresholdDb: field(fields, 'silenceThresholdDb', path, autoOrNumber),
    minSilenceMs: field(fields, 'minSilenceMs', path, nonNegativeNumber),
  };
};

const autoOrNumber: Check<number | 'auto'> = (value, path) => (value === 'auto' ? 'auto' : finiteNumber(value, path));

const checkPreprocessRecord: Check<PreprocessRecord> = (value, path) => {
  const fields = checkObject(value, path);
  return withUnknownFields(fields, {
    sourceId: field(fields, 'sourceId', path, nonEmptyText),
    key: field(fields, 'key', path, nonEmptyText),
    segmentIds: field(fields, 'segmentIds', path, listOf(nonEmptyText)),
    report: field(fields, 'report', path, checkSourceReport),
    processedAt: field(fields, 'processedAt', path, timestamp),
  });
};

const checkSourceReport: Check<SourceQualityReport> = (value, path) => {
  const fields = checkObject(value, path);
  return {
    sourceId: field(fields, 'sourceId', path, nonEmptyText),
    path: field(fields, 'path', path, nonEmptyText),
    kind: field(fields, 'kind', path, oneOf(SOURCE_KINDS)),
    durationSec: field(fields, 'durationSec', path, nonNegativeNumber),
    keptSec: field(fields, 'keptSec', path, nonNegativeNumber),
    droppedSec: field(fields, 'droppedSec', path, nonNegativeNumber),
    soundSec: field(fields, 'soundSec', path, nonNegativeNumber),
    keptSoundSec: field(fields, 'keptSoundSec', path, nonNegativeNumber),
    lostSoundSec: field(fields, 'lostSoundSec', path, checkLostSound),
    silenceThresholdDb: field(fields, 'silenceThresholdDb', path, finiteNumber),
    keptWhole: field(fields, 'keptWhole', path, boolean),
    clips: field(fields, 'clips', path, checkLengthDistribution),
    dropped: field(fields, 'dropped', path, listOf(checkDroppedClip)),
    clippedShare: field(fields, 'clippedShare', path, share),
    peakDbfs: field(fields, 'peakDbfs', path, finiteNumber),
    noiseFloorDbfs: field(fields, 'noiseFloorDbfs', path, finiteNumber),
    snrDb: field(fields, 'snrDb', path, finiteNumber),
    ...optionalObject('beforeDenoise', optionalField(fields, 'beforeDenoise', path, checkLevels)),
    loudnessLufs: field(fields, 'loudnessLufs', path, finiteNumber),
    warnings: field(fields, 'warnings', path, listOf(checkWarning)),
  };
};

/**
 * The checked fields in their order, then the fields this version does not know, as they were: a note a person
 * added by hand (or a field a newer voicestudio wrote) survives the next write.
 */
function withUnknownFields<T extends object>(fields: Fields, checked: T): T {
  const unknown = Object.entries(fields).filter(([key]) => !(key in checked));
  return unknown.length === 0 ? checked : { ...checked, ...Object.fromEntries(unknown) };
}

function optionalObject<K extends string, T>(key: K, value: T | undefined): Partial<Record<K, T>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, T>);
}

const checkLevels: Check<{ noiseFloorDbfs: number; snrDb: number }> = (value, path) => {
  const fields = checkObject(value, path);
  return { noiseFloorDbfs: field(fields, 'noiseFloorDbfs', path, finiteNumber), snrDb: field(fields, 'snrDb', path, finiteNumber) };
};

const checkLostSound: Check<LostSound> = (value, path) => {
  const fields = checkObject(value, path);
  return {
    too_short: field(fields, 'too_short', path, nonNegativeNumber),
    silence: field(fields, 'silence', path, nonNegativeNumber),
    clipping: field(fields, 'clipping', path, nonNegativeNumber),
  };
};

const checkLengthDistribution: Check<LengthDistribution> = (value, path) => {
  const fields = checkObject(value, path);
  return {
    count: field(fields, 'count', path, nonNegativeInteger),
    minSec: field(fields, 'minSec', path, nonNegativeNumber),
    medianSec: field(fields, 'medianSec', path, nonNegativeNumber),
    maxSec: field(fields, 'maxSec', path, nonNegativeNumber),
    histogram: field(fields, 'histogram', path, listOf(checkHistogramBucket)),
  };
};

const checkHistogramBucket: Check<LengthDistribution['histogram'][number]> = (value, path) => {
  const fields = checkObject(value, path);
  return {
    fromSec: field(fields, 'fromSec', path, nonNegativeNumber),
    toSec: field(fields, 'toSec', path, nonNegativeNumber),
    count: field(fields, 'count', path, nonNegativeInteger),
  };
};

const DROP_REASONS: readonly DropReason[] = ['silence', 'clipping', 'too_short'];

const checkDroppedClip: Check<DroppedClip> = (value, path) => {
  const fields = checkObject(value, path);
  return {
    startSec: field(fields, 'startSec', path, nonNegativeNumber),
    endSec: field(fields, 'endSec', path, nonNegativeNumber),
    reason: field(fields, 'reason', path, oneOf(DROP_REASONS)),
    detail: field(fields, 'detail', path, text),
    soundSec: field(fields, 'soundSec', path, nonNegativeNumber),
  };
};

const checkWarning: Check<QualityWarning> = (value, path) => {
  const fields = checkObject(value, path);
  return {
    code: field(fields, 'code', path, nonEmptyText),
    scope: field(fields, 'scope', path, nonEmptyText),
    message: field(fields, 'message', path, text),
    suggestion: field(fields, 'suggestion', path, text),
  };
};

/** Models and jobs belong to the training code: only their keys are checked, the rest is kept as is. */
const checkModel: Check<ModelRecord> = (value, path) => {
  const fields = checkObject(value, path);
  // Checked keys first; the spread then re-sets them to the same values and appends the rest.
  return {
    name: field(fields, 'name', path, nonEmptyText),
    version: field(fields, 'version', path, nonNegativeInteger),
    ...fields,
  };
};

const checkJob: Check<JobRecord> = (value, path) => {
  const fields = checkObject(value, path);
  return { id: field(fields, 'id', path, nonEmptyText), ...fields };
};

function requireUniqueIds(items: readonly { id: string }[], path: string): void {
  const firstIndex = new Map<string, number>();
  items.forEach((item, index) => {
    const earlier = firstIndex.get(item.id);
    if (earlier !== undefined) {
      throw new ShapeError(`${path}[${index}].id duplicates ${path}[${earlier}].id (${JSON.stringify(item.id)})`);
    }
    firstIndex.set(item.id, index);
  });
}

function field<T>(fields: Fields, key: string, path: string, check: Check<T>): T {
  const fieldPath = path === '' ? key : `${path}.${key}`;
  if (fields[key] === undefined) throw new ShapeError(`${fieldPath} is missing`);
  return check(fields[key], fieldPath);
}

function optionalField<T>(fields: Fields, key: string, path: string, check: Check<T>): T | undefined {
  return fields[key] === undefined ? undefined : field(fields, key, path, check);
}

function listOf<T>(check: Check<T>): Check<T[]> {
  return (value, path) => {
    if (!Array.isArray(value)) mismatch(path, 'a list', value);
    return value.map((item, index) => check(item, `${path}[${index}]`));
  };
}

function oneOf<T extends string | number>(allowed: readonly T[]): Check<T> {
  return (value, path) =>
    allowed.includes(value as T) ? (value as T) : mismatch(path, `one of ${allowed.join(', ')}`, value);
}

function checkObject(value: unknown, path: string): Fields {
  return isFields(value) ? value : mismatch(path, 'an object', value);
}

const text: Check<string> = (value, path) => (typeof value === 'string' ? value : mismatch(path, 'a string', value));

const nonEmptyText: Check<string> = (value, path) =>
  typeof value === 'string' && value !== '' ? value : mismatch(path, 'a non-empty string', value);

const sha256: Check<string> = (value, path) =>
  typeof value === 'string' && /^[0-9a-f]{64}$/.test(value) ? value : mismatch(path, 'a sha256', value);

const timestamp: Check<string> = (value, path) =>
  typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? value : mismatch(path, 'a date', value);

const boolean: Check<boolean> = (value, path) =>
  typeof value === 'boolean' ? value : mismatch(path, 'true or false', value);

const finiteNumber: Check<number> = (value, path) =>
  Number.isFinite(value) ? (value as number) : mismatch(path, 'a number', value);

const nonNegativeNumber: Check<number> = (value, path) =>
  Number.isFinite(value) && (value as number) >= 0 ? (value as number) : mismatch(path, 'a number ≥ 0', value);

const share: Check<number> = (value, path) =>
  Number.isFinite(value) && (value as number) >= 0 && (value as number) <= 1
    ? (value as number)
    : mismatch(path, 'a share between 0 and 1', value);

const nonNegativeInteger: Check<number> = (value, path) =>
  Number.isInteger(value) && (value as number) >= 0 ? (value as number) : mismatch(path, 'a whole number ≥ 0', value);

const positiveInteger: Check<number> = (value, path) =>
  Number.isInteger(value) && (value as number) > 0 ? (value as number) : mismatch(path, 'a whole number > 0', value);

function mismatch(path: string, expected: string, value: unknown): never {
  throw new ShapeError(`${path === '' ? 'the manifest' : path} is not ${expected} (got ${describeValue(value)})`);
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value !== null && typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}

function isFields(value: unknown): value is Fields {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------------
// Atomic write

/**
 * Write the manifest as it will be read back. Round-tripping through JSON and validation catches values
 * JSON cannot hold (NaN, -Infinity turn into null) before they make the project unreadable.
 */
async function writeManifest(file: string, manifest: Manifest): Promise<Manifest> {
  let canonical: Manifest;
  try {
    canonical = checkManifest(checkObject(JSON.parse(JSON.stringify(manifest)), ''));
  } catch (error) {
    if (!(error instanceof ShapeError)) throw error;
    const message = `Refusing to write ${file}: the updated manifest would not read back (${error.message}).`;
    throw new VoicestudioError(ErrorCode.Internal, message, {
      subject: file,
      suggestion:
        'This is a bug in voicestudio; please report it with the command you ran. The manifest was left as it was.',
      cause: error,
    });
  }
  await writeFileAtomically(file, `${JSON.stringify(canonical, null, 2)}\n`);
  return canonical;
}

/** Temp file in the same directory, fsync, rename over the target, fsync the directory. */
async function writeFileAtomically(file: string, contents: string): Promise<void> {
  const directory = dirname(file);
  const tempFile = join(directory, `.${basename(file)}.${process.pid}.${randomUUID()}.tmp`);
  try {
    const handle = await open(tempFile, 'wx');
    try {
      await handle.writeFile(contents, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tempFile, file);
  } catch (error) {
    await rm(tempFile, { force: true });
    throw error;
  }
  await syncDirectory(directory);
}

/** Makes the rename itself durable. Some platforms (Windows) cannot open or fsync a directory: best effort. */
async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // The rename has happened; only its durability across a power cut is weaker here.
  }
}

// ---------------------------------------------------------------------------------------------------
// Cross-process lock

interface LockHolder {
  pid: number;
  hostname: string;
  startedAt: string;
}

/** One look at a lock file. `identity` (device and inode) plus `text` tell two lock files apart. */
interface ObservedLock {
  identity: string;
  text: string;
  mtimeMs: number;
  holder: LockHolder | undefined;
}

async function acquireLock(
  lockFile: string,
  manifestFile: string,
  clock: Clock,
  options: UpdateManifestOptions,
): Promise<ObservedLock> {
  const deadline = clock.now() + (options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    const mine = await tryCreateLock(lockFile, clock.now());
    if (mine !== undefined) return mine;
    const current = await observeLock(lockFile);
    if (current === undefined) continue; // released between our two looks
    if (isStale(current, clock.now()) && (await breakStaleLock(lockFile, current, clock.now()))) continue;
    const remainingMs = deadline - clock.now();
    if (remainingMs <= 0) throw lockedError(manifestFile, lockFile, current);
    await clock.sleep(Math.min(backoffMs(attempt), remainingMs), options.signal);
  }
}

/** 1, 2, 4 … 50 ms with jitter, so waiting processes do not retry in step. */
function backoffMs(attempt: number): number {
  return Math.min(2 ** attempt, MAX_BACKOFF_MS) * (0.5 + Math.random());
}

async function tryCreateLock(lockFile: string, now: number): Promise<ObservedLock | undefined> {
  const holder: LockHolder = { pid: process.pid, hostname: hostname(), startedAt: new Date(now).toISOString() };
  const text = JSON.stringify(holder);
  let handle;
  try {
    handle = await open(lockFile, 'wx');
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return undefined;
    throw error;
  }
  try {
    await handle.writeFile(text, 'utf8');
    const stats = await handle.stat({ bigint: true });
    return { identity: `${stats.dev}:${stats.ino}`, text, mtimeMs: Number(stats.mtimeMs), holder };
  } catch (error) {
    await rm(lockFile, { force: true }); // ours alone: created exclusively a moment ago
    throw error;
  } finally {
    await handle.close();
  }
}

async function observeLock(lockFile: string): Promise<ObservedLock | undefined> {
  let handle;
  try {
    handle = await open(lockFile, 'r');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  try {
    // Stat and read through one handle so the identity and the text belong to the same file.
    const stats = await handle.stat({ bigint: true });
    const text = await handle.readFile('utf8');
    return { identity: `${stats.dev}:${stats.ino}`, text, mtimeMs: Number(stats.mtimeMs), holder: parseHolder(text) };
  } finally {
    await handle.close();
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (!isFields(value)) return undefined;
    const { pid, hostname: host, startedAt } = value;
    const valid =
      Number.isInteger(pid) &&
      (pid as number) > 0 &&
      typeof host === 'string' &&
      typeof startedAt === 'string' &&
      !Number.isNaN(Date.parse(startedAt));
    return valid ? { pid: pid as number, hostname: host as string, startedAt: startedAt as string } : undefined;
  } catch {
    return undefined;
  }
}

function isStale(lock: ObservedLock, now: number): boolean {
  const { holder } = lock;
  if (holder === undefined) return now - lock.mtimeMs > UNREADABLE_LOCK_MAX_AGE_MS;
  if (holder.hostname === hostname() && !isProcessAlive(holder.pid)) return true;
  return now - Date.parse(holder.startedAt) > LOCK_MAX_AGE_MS;
}

/**
 * Remove a stale lock without ever removing a live one. A plain rename or unlink acts on whatever file
 * has the name by then, so a slow breaker could remove the lock a faster one had just taken. Breakers
 * therefore take turns through a second lock file and, holding it, remove the lock only if it is still
 * the very file judged stale. Returns false while another process has the turn.
 */
async function breakStaleLock(lockFile: string, stale: ObservedLock, now: number): Promise<boolean> {
  const turnFile = `${lockFile}${BREAKER_SUFFIX}`;
  const turn = await tryCreateLock(turnFile, now);
  if (turn === undefined) return removeAbandonedTurn(turnFile, now);
  try {
    await removeLockIfUnchanged(lockFile, stale);
  } finally {
    await removeLockIfUnchanged(turnFile, turn);
  }
  return true;
}

/** A breaker that died during its millisecond-long turn leaves the turn file behind; it is judged like a lock. */
async function removeAbandonedTurn(turnFile: string, now: number): Promise<boolean> {
  const other = await observeLock(turnFile);
  if (other === undefined) return true;
  if (!isStale(other, now)) return false;
  await removeLockIfUnchanged(turnFile, other);
  return true;
}

/** Remove the lock file only if it is still `expected`: ours at release, or the one judged stale. */
async function removeLockIfUnchanged(lockFile: string, expected: ObservedLock): Promise<void> {
  const current = await observeLock(lockFile);
  if (current !== undefined && isSameLock(current, expected)) await rm(lockFile, { force: true });
}

function isSameLock(a: ObservedLock, b: ObservedLock): boolean {
  return a.identity === b.identity && a.text === b.text;
}

// ---------------------------------------------------------------------------------------------------
// Errors

function damagedError(file: string, problem: string, cause: unknown): VoicestudioError {
  return new VoicestudioError(ErrorCode.ManifestDamaged, `${file} is damaged: ${problem}.`, {
    subject: file,
    suggestion:
      `Repair ${file} by hand or restore it from a backup, then run the command again. ` +
      'voicestudio will not change it while it is damaged; to start a new manifest instead, move it aside.',
    cause,
  });
}

function tooNewError(file: string, version: number): VoicestudioError {
  return new VoicestudioError(
    ErrorCode.ManifestTooNew,
    `${file} was written by a newer voicestudio (manifest version ${version}; ` +
      `this one reads up to version ${CURRENT_MANIFEST_VERSION}).`,
    {
      subject: file,
      suggestion: 'Upgrade voicestudio (in its clone: git pull, then npm install), then run the command again.',
    },
  );
}

function lockedError(manifestFile: string, lockFile: string, lock: ObservedLock): VoicestudioError {
  const { holder } = lock;
  const who =
    holder === undefined
      ? 'an unknown process'
      : `voicestudio process ${holder.pid} on host ${holder.hostname} (since ${holder.startedAt})`;
  return new VoicestudioError(ErrorCode.ManifestLocked, `${manifestFile} is locked by ${who}.`, {
    subject: manifestFile,
    suggestion:
      'Wait for that command to finish, then run this one again. ' +
      `If no voicestudio command is running, delete ${lockFile}.`,
  });
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
