/**
 * Batch plan files: an album's tracks with their own settings, as plain data. The fields and their checks come from
 * the settings tables (convert.ts, mix.ts) through zod; every problem is reported at once, naming the file, the
 * track, the field and what it must be.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { CONVERT_SETTINGS, type ConvertSettings } from './convert.js';
import { ALBUM_SWITCHES, checkEqBand, EQ_MAX_BANDS, MIX_SETTINGS, parseEq, type EqBand, type MixSettings } from './mix.js';
import { settingSchema } from './schema.js';
import type { SettingsTable, ValueOf } from './settings.js';

/** Everything that decides what a track becomes. */
export interface TrackSettings extends ConvertSettings {
  /** Separate the input into vocals and instrumental on the worker; the vocals are converted. */
  separate: boolean;
  /** Mix the converted vocals with the instrumental (the separated one, or `instrumental`). */
  mix: boolean;
  mixSettings: MixSettings;
  /** An instrumental the user already has (absolute path): mixed without separating. */
  instrumental?: string;
}

/** A change to settings: from the command line, a plan's defaults, or one track. */
export interface SettingsPatch extends Partial<ConvertSettings> {
  separate?: boolean;
  mix?: boolean;
  mixSettings?: Partial<MixSettings>;
  instrumental?: string;
}

/** The parsed form of one plan track before defaults are applied. */
export interface PlanTrack {
  input: string;
  output?: string;
  patch: SettingsPatch;
  /** "tracks[2]" */
  where: string;
}

export interface Plan {
  file: string;
  defaults: SettingsPatch;
  tracks: PlanTrack[];
}

const MAX_PROBLEMS = 20;

type PlanShape<T extends SettingsTable> = { [K in keyof T as T[K] extends { plan: infer P extends string } ? P : never]: z.ZodOptional<z.ZodType<ValueOf<T[K]>>> };

/** The plan fields of a table's settings, each optional, under its plan key. */
function planShape<T extends SettingsTable>(table: T): PlanShape<T> {
  const shape: Record<string, z.ZodOptional> = {};
  for (const setting of Object.values(table)) if (setting.plan !== undefined) shape[setting.plan] = settingSchema(setting).optional();
  return shape as PlanShape<T>;
}

const got = (value: unknown): string => JSON.stringify(value) ?? 'nothing';

/** Bands as "120:-3,3000:2:1.5" or a list of {"freq", "gain", "q"}. */
const eqSchema = z.unknown().transform((value, ctx): EqBand[] => {
  const fail = (message: string): never => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  if (!(typeof value === 'string' || Array.isArray(value))) return fail(`must be a string like "120:-3,3000:2:1.5" or a list of {"freq", "gain", "q"}, got ${got(value)}`);
  if (Array.isArray(value) && value.length > EQ_MAX_BANDS) return fail(`has ${value.length} bands; at most ${EQ_MAX_BANDS}`);
  try {
    if (typeof value === 'string') return parseEq(value);
    return value.map((band: unknown, i) => {
      if (!isObject(band)) throw new Error(`band ${i + 1} must be an object {"freq", "gain", "q"}`);
      const unknown = Object.keys(band).filter((k) => !['freq', 'gain', 'q'].includes(k));
      if (unknown.length > 0) throw new Error(`band ${i + 1} has unknown field "${unknown[0]}" (fields: freq, gain, q)`);
      return checkEqBand({ freq: band.freq, gain: band.gain, q: band.q }, `band ${i + 1}`);
    });
  } catch (error) {
    return fail(`is not valid: ${(error as Error).message}`);
  }
});

const mixSchema = z.strictObject({ ...planShape(MIX_SETTINGS), eq: eqSchema.optional() });
const MIX_FIELDS = Object.keys(mixSchema.shape);

const nonEmptyString = (required?: string) => z.string({ error: (issue) => (issue.input === undefined && required !== undefined ? required : `must be a non-empty string, got ${got(issue.input)}`) }).refine((s) => s.trim() !== '', { error: 'must be a non-empty string, got ""' });

const settingsShape = {
  ...planShape(CONVERT_SETTINGS),
  ...planShape({ separate: ALBUM_SWITCHES.separate }),
  instrumental: nonEmptyString().optional(),
  mix: z.union([z.boolean(), mixSchema], { error: (issue) => `must be true, false or an object of mix settings (${MIX_FIELDS.join(', ')}), got ${got(issue.input)}` }).optional(),
};

/** An output name: a file inside --out-dir, sub-folders allowed. */
const outputName = nonEmptyString().superRefine((name, ctx) => {
  const normal = path.normalize(name);
  if (path.isAbsolute(name)) ctx.addIssue({ code: 'custom', message: 'must be a name inside --out-dir, not an absolute path' });
  else if (normal === '..' || normal.startsWith(`..${path.sep}`) || normal === '.' || normal.endsWith(path.sep)) ctx.addIssue({ code: 'custom', message: 'must be a file name inside --out-dir (it may have sub-folders, not "..")' });
});

const trackSchema = z.strictObject({ input: nonEmptyString('is required: the audio file of this track'), output: outputName.optional(), ...settingsShape });

const planSchema = z.strictObject({
  $schema: z.string().optional(),
  version: z.literal(1, { error: (issue) => `must be 1, got ${got(issue.input)}` }).optional(),
  defaults: z.strictObject(settingsShape, { error: (issue) => `must be an object of settings, got ${got(issue.input)}` }).optional(),
  tracks: z
    .array(
      z.union([z.string().refine((s) => s.trim() !== '', { error: 'an input path must not be empty' }), trackSchema], {
        error: (issue) => `must be an object {"input": "<file>", ...} or a path, got ${got(issue.input)}`,
      }),
      { error: (issue) => `must be a non-empty list of tracks, each {"input": "<file>", ...} or just "<file>", got ${got(issue.input)}` },
    )
    .min(1, { error: 'must be a non-empty list of tracks, each {"input": "<file>", ...} or just "<file>", got []' }),
});

/** The fields an object at `at` may have, for "did you mean". */
function knownFields(at: readonly PropertyKey[]): readonly string[] {
  const last = at.at(-1);
  if (last === undefined) return Object.keys(planSchema.shape);
  if (last === 'mix') return MIX_FIELDS;
  if (last === 'defaults') return Object.keys(settingsShape);
  return Object.keys(trackSchema.shape);
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] ?? 0;
      row[j] = Math.min(current + 1, (row[j - 1] ?? 0) + 1, previous + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] ?? 0;
}

function didYouMean(field: string, known: readonly string[]): string {
  const best = known.map((k) => ({ k, d: levenshtein(field, k) })).sort((x, y) => x.d - y.d)[0];
  return best !== undefined && best.d <= Math.max(2, Math.floor(field.length / 3)) ? ` (did you mean "${best.k}"?)` : ` (known fields: ${known.join(', ')})`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function valueAt(raw: unknown, at: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const key of at) value = isObject(value) || Array.isArray(value) ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  return value;
}

/**
 * Where a problem is, as the user reads it: "tracks[1].mix.rate (b.wav)", the track's input named when it has one
 * and the problem is in one of its fields.
 */
function where(raw: unknown, at: readonly PropertyKey[]): string {
  const text = at.map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`)).join('');
  const input = at[0] === 'tracks' && at.length > 2 && at[2] !== 'input' ? valueAt(raw, [...at.slice(0, 2), 'input']) : undefined;
  return typeof input === 'string' ? `${text} (${input})` : text;
}

/** zod's issues as "where: what", one per field; a union (a path or a track, a switch or mix settings) is read by the value's kind. */
function problemsOf(issues: readonly z.core.$ZodIssue[], raw: unknown, prefix: readonly PropertyKey[] = []): string[] {
  const problems: string[] = [];
  for (const issue of issues) {
    const at = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.push(`${where(raw, [...at, key])}: unknown field${didYouMean(key, knownFields(at))}`);
    } else if (issue.code === 'invalid_union') {
      // The branch that takes values of this kind says what is wrong inside it; with none, the union says what it takes.
      const branch = issue.errors.find((errors) => !errors.some((e) => e.path.length === 0 && e.code === 'invalid_type'));
      problems.push(...(branch === undefined ? [`${where(raw, at)}: ${issue.message}`] : problemsOf(branch, raw, at)));
    } else {
      problems.push(`${where(raw, at)}: ${issue.message}`);
    }
  }
  // A value can fail more than one check (30.5 is neither whole nor in range): the first says enough.
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const field = problem.slice(0, problem.indexOf(': '));
    if (seen.has(field)) return false;
    seen.add(field);
    return true;
  });
}

function planError(file: string, problems: string[]): UsageError {
  const shown = problems.slice(0, MAX_PROBLEMS);
  const more = problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : '';
  const message = problems.length === 1 ? `${file}: ${problems[0]}.` : `${file} has ${problems.length} problems:\n  ${shown.join('\n  ')}${more}`;
  return new UsageError(message, 'Fix the plan file; `voicestudio batch --help` describes its fields, and the README has an example.');
}

type PlanSettings = z.output<z.ZodObject<typeof settingsShape>>;

/** A plan object's settings as a patch; relative instrumental paths resolve against the plan's folder. */
function patchOf(settings: PlanSettings, planDir: string): SettingsPatch {
  const { mix, instrumental, ...rest } = settings;
  const patch: SettingsPatch = { ...rest };
  if (instrumental !== undefined) patch.instrumental = path.resolve(planDir, instrumental);
  if (typeof mix === 'boolean') patch.mix = mix;
  else if (mix !== undefined) {
    patch.mix = true;
    patch.mixSettings = mix;
  }
  return patch;
}

/**
 * Parses and strictly checks a plan file's text. Relative paths (inputs, instrumentals) resolve against the
 * plan file's folder. Throws a UsageError listing every problem, each with the track index and field.
 */
export function parsePlan(text: string, file: string): Plan {
  const planDir = path.dirname(path.resolve(file));
  const name = path.basename(file);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw planError(name, [`not valid JSON (${(error as Error).message})`]);
  }
  if (!isObject(raw)) throw planError(name, [`must be a JSON object with a "tracks" list, e.g. {"tracks": [{"input": "01.wav"}]}`]);
  const parsed = planSchema.safeParse(raw);
  if (!parsed.success) throw planError(name, problemsOf(parsed.error.issues, raw));
  const tracks = parsed.data.tracks.map((entry, i): PlanTrack => {
    if (typeof entry === 'string') return { input: path.resolve(planDir, entry), patch: {}, where: `tracks[${i}]` };
    const { input, output, ...settings } = entry;
    return { input: path.resolve(planDir, input), ...(output === undefined ? {} : { output }), patch: patchOf(settings, planDir), where: `tracks[${i}] (${input})` };
  });
  return { file: path.resolve(file), defaults: parsed.data.defaults === undefined ? {} : patchOf(parsed.data.defaults, planDir), tracks };
}

export async function readPlan(file: string): Promise<Plan> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`--plan ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a plan file' : (error as Error).message}.`, 'Give the path of a JSON plan file (see voicestudio batch --help).');
  }
  return parsePlan(text, file);
}
