/**
 * What a valid manifest is (a zod schema; the manifest's TypeScript types in types.ts are inferred from it) and how a
 * parsed file becomes one: migrated to the current version, then validated. A problem is reported with the file, the
 * field's path (`sources[3].excludedClips[0].startSec`), what it should be and what it is.
 *
 * zod is loaded with this module only, when a command first reads a manifest: `--help` never pays for it.
 */
import { z } from 'zod';
import { ErrorCode, VoicestudioError } from '../errors.js';
import { CURRENT_MANIFEST_VERSION, upgradeManifest } from './manifest-migrations.js';
import { DROP_REASONS, SOURCE_KINDS, TRAINING_SAMPLE_RATES } from './manifest-choices.js';

// ---------------------------------------------------------------------------------------------------
// Values. Every issue a value can raise carries the same message, what the value should be: a problem reads
// "<path> is not <message> (got <value>)".

const text = z.string({ error: 'a string' });
const nonEmptyText = z.string({ error: 'a non-empty string' }).min(1, { error: 'a non-empty string' });
const sha256 = z.string({ error: 'a sha256' }).regex(/^[0-9a-f]{64}$/, { error: 'a sha256' });
const timestamp = z.string({ error: 'a date' }).refine((value) => !Number.isNaN(Date.parse(value)), { error: 'a date' });
const boolean = z.boolean({ error: 'true or false' });
const finiteNumber = z.number({ error: 'a number' });
const nonNegativeNumber = z.number({ error: 'a number ≥ 0' }).min(0, { error: 'a number ≥ 0' });
const share = z.number({ error: 'a share between 0 and 1' }).min(0, { error: 'a share between 0 and 1' }).max(1, { error: 'a share between 0 and 1' });
const nonNegativeInteger = z.int({ error: 'a whole number ≥ 0' }).min(0, { error: 'a whole number ≥ 0' });
const positiveInteger = z.int({ error: 'a whole number > 0' }).min(1, { error: 'a whole number > 0' });
const list = <T extends z.ZodType>(item: T) => z.array(item, { error: 'a list' });
const OBJECT = { error: 'an object' };

const dropReason = z.enum(DROP_REASONS, { error: `one of ${DROP_REASONS.join(', ')}` });
const sourceKind = z.enum(SOURCE_KINDS, { error: `one of ${SOURCE_KINDS.join(', ')}` });
const trainingSampleRate = z.literal(TRAINING_SAMPLE_RATES, { error: `one of ${TRAINING_SAMPLE_RATES.join(', ')}` });

/**
 * An object that keeps the fields this version does not know after the known ones, as they were: a note a person added
 * by hand (or a field a newer voicestudio wrote) survives the next write. Its type names the known fields only: the
 * code acts on nothing else.
 */
function keepingUnknownFields<Shape extends z.ZodRawShape>(shape: Shape): z.ZodObject<Shape> {
  return z.looseObject(shape, OBJECT) as unknown as z.ZodObject<Shape>;
}

// ---------------------------------------------------------------------------------------------------
// The manifest, in the key order it is written in.

const exclusionShape = {
  excludedAt: timestamp,
  reason: text.optional(),
};

/** Why and when something was kept out of training. */
export const exclusionSchema = z.object(exclusionShape, OBJECT);

export const clipExclusionSchema = z.object(
  {
    ...exclusionShape,
    /** The clip's id when it was excluded (ids change when preprocess re-cuts; the times below decide). */
    clipId: nonEmptyText,
    startSec: nonNegativeNumber,
    endSec: nonNegativeNumber,
    /**
     * Set when the speaker screen excluded it (`voicestudio screen`): the clip's similarity to the reference voice and
     * the threshold it fell below. The next screen replaces these; the user's own exclusions it never touches.
     */
    screen: z.object({ similarity: finiteNumber, threshold: finiteNumber }, OBJECT).optional(),
  },
  OBJECT,
);

/** One distinct piece of audio the user gave us, identified by the sha256 of the original file. */
export const sourceSchema = keepingUnknownFields({
  /** Short stable id derived from sha256 (first 12 hex digits). */
  id: nonEmptyText,
  /** sha256 of the original file's bytes. */
  sha256,
  /** The original file: relative to the project when inside it, else absolute. Never modified. */
  path: nonEmptyText,
  /** Other paths whose content was identical (the same file under another name). */
  aliases: list(nonEmptyText),
  kind: sourceKind,
  durationSec: nonNegativeNumber,
  sampleRate: positiveInteger,
  channels: positiveInteger,
  /** Codec of the stream that was taken (e.g. "pcm_s16le", "aac"). */
  codec: nonEmptyText,
  /** Index of the audio stream taken from the container. */
  streamIndex: nonNegativeInteger,
  /** Lossless working copy, relative to the project (under .voicestudio/). */
  workingFile: nonEmptyText,
  sizeBytes: nonNegativeInteger,
  ingestedAt: timestamp,
  /** Set while the whole source is kept out of training (`sources exclude`); its files and clips stay. */
  excluded: exclusionSchema.optional(),
  /**
   * Stretches of this source kept out of training (`sources exclude <clip-id>`). Recorded by time, not by
   * clip id, because a re-cut renumbers the clips: a clip is out while it overlaps a stretch (see sources.ts).
   */
  excludedClips: list(clipExclusionSchema),
});

/** A training clip cut from a source. */
export const segmentSchema = keepingUnknownFields({
  /** `<sourceId>-<nnnn>` */
  id: nonEmptyText,
  sourceId: nonEmptyText,
  /** Relative to the project. */
  file: nonEmptyText,
  startSec: nonNegativeNumber,
  endSec: nonNegativeNumber,
});

export const preprocessSettingsSchema = z.object(
  {
    sampleRate: trainingSampleRate,
    denoise: boolean,
    highpassHz: nonNegativeNumber,
    /** Integrated loudness every source is normalised to. */
    targetLufs: finiteNumber,
    minClipSec: nonNegativeNumber,
    maxClipSec: nonNegativeNumber,
    /** Frames below this (dBFS) are silence; 'auto' derives it from the recording's levels (suggestSilenceThreshold). */
    silenceThresholdDb: z.union([z.literal('auto'), finiteNumber], { error: 'a number' }),
    /** Shortest silence (ms) where a clip may be cut; shorter pauses and breaths stay inside clips. */
    minSilenceMs: nonNegativeNumber,
    /** Whether a few clips are held out of training for audition to score against (holdout.ts). */
    holdout: boolean,
  },
  OBJECT,
);

export const droppedClipSchema = z.object(
  {
    startSec: nonNegativeNumber,
    endSec: nonNegativeNumber,
    reason: dropReason,
    /** Human explanation with the measured figure, e.g. "2.4 % of samples clipped". */
    detail: text,
    /** Seconds of sound (not silence) in the dropped stretch: what was lost. */
    soundSec: nonNegativeNumber,
  },
  OBJECT,
);

/** Seconds of sound that did not reach a clip, by reason. */
export const lostSoundSchema = z.object(
  {
    too_short: nonNegativeNumber,
    silence: nonNegativeNumber,
    clipping: nonNegativeNumber,
  },
  OBJECT,
) satisfies z.ZodType<Record<(typeof DROP_REASONS)[number], number>>;

export const qualityWarningSchema = z.object(
  {
    code: nonEmptyText,
    /** Which source (id) or "dataset". */
    scope: nonEmptyText,
    message: text,
    suggestion: text,
  },
  OBJECT,
);

export const lengthDistributionSchema = z.object(
  {
    count: nonNegativeInteger,
    minSec: nonNegativeNumber,
    medianSec: nonNegativeNumber,
    maxSec: nonNegativeNumber,
    /** Clip counts per bucket: [5,7), [7,9), [9,11), [11,13), [13,15]. */
    histogram: list(z.object({ fromSec: nonNegativeNumber, toSec: nonNegativeNumber, count: nonNegativeInteger }, OBJECT)),
  },
  OBJECT,
);

export const sourceQualityReportSchema = z.object(
  {
    sourceId: nonEmptyText,
    path: nonEmptyText,
    kind: sourceKind,
    durationSec: nonNegativeNumber,
    keptSec: nonNegativeNumber,
    droppedSec: nonNegativeNumber,
    /** Seconds of sound (frames at or above silenceThresholdDb) in the source. */
    soundSec: nonNegativeNumber,
    /** Seconds of that sound inside kept clips. */
    keptSoundSec: nonNegativeNumber,
    /** Seconds of sound lost, by reason: soundSec = keptSoundSec + the sum of these. */
    lostSoundSec: lostSoundSchema,
    /** The silence threshold used for this source (dBFS). */
    silenceThresholdDb: finiteNumber,
    /** The source is shorter than the minimum clip length and was kept whole as one clip. */
    keptWhole: boolean,
    clips: lengthDistributionSchema,
    dropped: list(droppedClipSchema),
    /** Share (0..1) of samples at or near full scale in the original. */
    clippedShare: share,
    peakDbfs: finiteNumber,
    /** After denoising when --denoise was on (see beforeDenoise). */
    noiseFloorDbfs: finiteNumber,
    snrDb: finiteNumber,
    /** With --denoise: the figures of the source as recorded. */
    beforeDenoise: z.object({ noiseFloorDbfs: finiteNumber, snrDb: finiteNumber }, OBJECT).optional(),
    loudnessLufs: finiteNumber,
    warnings: list(qualityWarningSchema),
  },
  OBJECT,
);

/** What preprocess last did for one source, so a re-run can skip it. */
export const preprocessRecordSchema = keepingUnknownFields({
  sourceId: nonEmptyText,
  /** Hash of (source sha256, settings): a different key means the clips are stale. */
  key: nonEmptyText,
  segmentIds: list(nonEmptyText),
  report: sourceQualityReportSchema,
  processedAt: timestamp,
});

/** Models and jobs belong to the training code: only their keys are checked here, the rest is kept as is. */
export const modelRecordSchema = z.looseObject({ name: nonEmptyText, version: nonNegativeInteger }, OBJECT);
export const jobRecordSchema = z.looseObject({ id: nonEmptyText }, OBJECT);

export const manifestSchema = keepingUnknownFields({
  version: nonNegativeInteger,
  createdAt: timestamp,
  updatedAt: timestamp,
  sources: list(sourceSchema),
  segments: list(segmentSchema),
  preprocess: keepingUnknownFields({
    settings: preprocessSettingsSchema.optional(),
    records: list(preprocessRecordSchema),
    /** The clips held out of training for audition, by id (chosen by the last preprocess; holdout.ts). */
    heldOut: list(nonEmptyText),
  }),
  models: list(modelRecordSchema),
  jobs: list(jobRecordSchema),
}).superRefine((manifest, context) => {
  for (const key of ['sources', 'segments'] as const) {
    const firstIndex = new Map<string, number>();
    manifest[key].forEach(({ id }, index) => {
      const earlier = firstIndex.get(id);
      if (earlier === undefined) firstIndex.set(id, index);
      else context.addIssue({ code: 'custom', path: [key, index, 'id'], message: `duplicates ${key}[${earlier}].id (${JSON.stringify(id)})`, params: { sentence: true } });
    });
  }
});

type Manifest = z.output<typeof manifestSchema>;

/** What is read before migrating: a JSON object, and its version when it has one (v0 had none). */
const manifestHeader = z.looseObject({ version: nonNegativeInteger.optional() }, OBJECT);

// ---------------------------------------------------------------------------------------------------
// Reading and writing

export function emptyManifest(now: Date = new Date()): Manifest {
  const timestamp = now.toISOString();
  return {
    version: CURRENT_MANIFEST_VERSION,
    createdAt: timestamp,
    updatedAt: timestamp,
    sources: [],
    segments: [],
    preprocess: { records: [], heldOut: [] },
    models: [],
    jobs: [],
  };
}

/**
 * Validate a parsed manifest and bring it to CURRENT_MANIFEST_VERSION. Pure: returns a new object with the keys in
 * the schema's order; fields this version does not know (at the top level, in sources, segments, preprocess and its
 * records, models and jobs) are kept after them, unchanged.
 */
export function migrateManifest(raw: unknown, file: string): Manifest {
  const header = manifestHeader.safeParse(raw);
  if (!header.success) throw damagedManifestError(file, describeProblem(header.error, raw), header.error);
  const version = header.data.version ?? 0;
  if (version > CURRENT_MANIFEST_VERSION) throw tooNewError(file, version);
  const upgraded = upgradeManifest(header.data, version);
  const manifest = manifestSchema.safeParse(upgraded);
  if (!manifest.success) throw damagedManifestError(file, describeProblem(manifest.error, upgraded), manifest.error);
  return manifest.data;
}

/**
 * The manifest as it will read back from `file`. Round-tripping through JSON and validation catches values JSON
 * cannot hold (NaN, -Infinity turn into null) before they make the project unreadable.
 */
export function manifestAsWritten(manifest: Manifest, file: string): Manifest {
  const written: unknown = JSON.parse(JSON.stringify(manifest));
  const result = manifestSchema.safeParse(written);
  if (result.success) return result.data;
  const message = `Refusing to write ${file}: the updated manifest would not read back (${describeProblem(result.error, written)}).`;
  throw new VoicestudioError(ErrorCode.Internal, message, {
    subject: file,
    suggestion: 'This is a bug in voicestudio; please report it with the command you ran. The manifest was left as it was.',
    cause: result.error,
  });
}

export function damagedManifestError(file: string, problem: string, cause: unknown): VoicestudioError {
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

/** The first problem zod found in `input`, e.g. `sources[3].sha256 is not a sha256 (got "abc")`. */
function describeProblem(error: z.ZodError, input: unknown): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'it does not match the manifest format';
  const where = issue.path.length === 0 ? 'the manifest' : formatPath(issue.path);
  if (issue.code === 'custom' && issue.params?.sentence === true) return `${where} ${issue.message}`;
  const value = valueAt(input, issue.path);
  return value === undefined ? `${where} is missing` : `${where} is not ${issue.message} (got ${describeValue(value)})`;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`)).join('');
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) value = value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  return value;
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value !== null && typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}
