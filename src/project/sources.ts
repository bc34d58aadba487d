/**
 * The project's sources as the user manages them: which ones training uses, keeping a whole source or a single
 * clip out of training without deleting anything, and removing sources (never the user's own files).
 *
 * A clip exclusion is stored as a stretch of its source (start and end seconds), not as the clip's id: preprocess
 * renumbers a source's clips whenever it re-cuts them. A clip is out of training while it overlaps an excluded
 * stretch by at least half of itself or half of the stretch (`matchesStretch`), so a re-cut clip that holds most of
 * the excluded audio stays out, and a neighbour that only touches its edge does not.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, UsageError, VoicestudioError } from '../errors.js';
import { fromProject, pathExists, projectRelative } from '../util/files.js';
import { analysisPath, clipsDir } from './layout.js';
import { readManifest, requireProjectFolder, updateManifest } from './manifest.js';
import type { ClipExclusion, Exclusion, Manifest, Segment, Source, SourceKind } from './types.js';
import { shellQuote } from '../util/shell.js';

/** The share of a clip, or of an excluded stretch, that their overlap must reach to tie them. */
const MATCH_SHARE = 0.5;

interface Span {
  startSec: number;
  endSec: number;
}

/** Whether a clip is (a re-cut of) an excluded stretch: their overlap is at least half of either. */
export function matchesStretch(clip: Span, stretch: Span): boolean {
  const overlap = Math.min(clip.endSec, stretch.endSec) - Math.max(clip.startSec, stretch.startSec);
  if (overlap <= 0) return false;
  return overlap >= MATCH_SHARE * (clip.endSec - clip.startSec) || overlap >= MATCH_SHARE * (stretch.endSec - stretch.startSec);
}

/** Why a clip is out of training: its whole source is, or it matches an excluded stretch. */
export type ExclusionCause = { by: 'source'; exclusion: Exclusion } | { by: 'clip'; exclusion: ClipExclusion };

/** Why a clip of `source` is kept out of training, or undefined when training uses it. */
export function segmentExclusion(source: Source, segment: Span): ExclusionCause | undefined {
  if (source.excluded !== undefined) return { by: 'source', exclusion: source.excluded };
  const stretch = source.excludedClips.find((s) => matchesStretch(segment, s));
  return stretch === undefined ? undefined : { by: 'clip', exclusion: stretch };
}

type SourcesAndSegments = Pick<Manifest, 'sources' | 'segments'>;

/** Every clip kept out of training, by clip id, with why: for reports that show excluded clips. */
export function excludedSegments(manifest: SourcesAndSegments): Map<string, ExclusionCause> {
  const byId = new Map(manifest.sources.map((s) => [s.id, s]));
  const excluded = new Map<string, ExclusionCause>();
  for (const segment of manifest.segments) {
    const source = byId.get(segment.sourceId);
    const cause = source === undefined ? undefined : segmentExclusion(source, segment);
    if (cause !== undefined) excluded.set(segment.id, cause);
  }
  return excluded;
}

/** The clips not excluded, in manifest order (excluded sources and clips, and clips of no known source, left out). */
export function includedSegments(manifest: SourcesAndSegments): Segment[] {
  const byId = new Map(manifest.sources.map((s) => [s.id, s]));
  return manifest.segments.filter((segment) => {
    const source = byId.get(segment.sourceId);
    return source !== undefined && segmentExclusion(source, segment) === undefined;
  });
}

/** The sources and clips, and the clips the last preprocess held out for audition. */
type TrainingView = SourcesAndSegments & { preprocess?: { heldOut?: readonly string[] } };

/** The clips training uses, in manifest order: the included ones less those held out for audition. */
export function trainingSegments(manifest: TrainingView): Segment[] {
  const heldOut = new Set(manifest.preprocess?.heldOut ?? []);
  return includedSegments(manifest).filter((segment) => !heldOut.has(segment.id));
}

/** The clips held out of training for audition to score against, while they are not excluded. */
export function heldOutSegments(manifest: TrainingView): Segment[] {
  const heldOut = new Set(manifest.preprocess?.heldOut ?? []);
  return includedSegments(manifest).filter((segment) => heldOut.has(segment.id));
}

export interface TrainingTotals {
  clips: number;
  totalSec: number;
  singingSec: number;
  speechSec: number;
  /** Share (0..1) of totalSec that is singing; 0 when there is nothing. */
  singingShare: number;
  /** The clips held out for audition (not counted above). */
  heldOut: { clips: number; seconds: number };
}

/** What training would get: clips and seconds of the training clips, by the kind of their source. */
export function trainingTotals(manifest: TrainingView): TrainingTotals {
  const kindOf = new Map(manifest.sources.map((s) => [s.id, s.kind]));
  const seconds: Record<SourceKind, number> = { singing: 0, speech: 0 };
  const segments = trainingSegments(manifest);
  for (const segment of segments) seconds[kindOf.get(segment.sourceId)!] += segment.endSec - segment.startSec;
  const totalSec = seconds.singing + seconds.speech;
  const heldOut = heldOutSegments(manifest);
  return {
    clips: segments.length,
    totalSec,
    singingSec: seconds.singing,
    speechSec: seconds.speech,
    singingShare: totalSec === 0 ? 0 : seconds.singing / totalSec,
    heldOut: { clips: heldOut.length, seconds: secondsOf(heldOut) },
  };
}

// ------------------------------------------------------------------------------------------------ speaker screen ----

/** Whether an exclusion is the speaker screen's (which the next screen may lift) rather than the user's. */
export const isScreenExclusion = (exclusion: ClipExclusion): boolean => exclusion.screen !== undefined;

/**
 * The clips the speaker screen judges: every clip the user has not kept out (by source or by clip), held-out clips
 * included; a clip only the screen excluded is judged again, so another threshold can give it back.
 */
export function screenCandidates(manifest: SourcesAndSegments): Segment[] {
  const byId = new Map(manifest.sources.map((s) => [s.id, s]));
  return manifest.segments.filter((segment) => {
    const source = byId.get(segment.sourceId);
    if (source === undefined || source.excluded !== undefined) return false;
    return !source.excludedClips.some((stretch) => !isScreenExclusion(stretch) && matchesStretch(segment, stretch));
  });
}

export interface ScreenVerdict {
  segment: Segment;
  similarity: number;
}

/**
 * Replaces the screen's exclusions with `below` (the clips under `threshold`): clips the screen excluded before and
 * no longer does go back to training; the user's own exclusions are never touched. Mutates `manifest` (call it
 * inside updateManifest); returns the clip ids newly kept out and those given back.
 */
export function applyScreen(manifest: Manifest, below: readonly ScreenVerdict[], threshold: number, now: Date): { excluded: string[]; reincluded: string[] } {
  const before = new Set(includedSegments(manifest).map((s) => s.id));
  for (const source of manifest.sources) source.excludedClips = source.excludedClips.filter((stretch) => !isScreenExclusion(stretch));
  const byId = new Map(manifest.sources.map((s) => [s.id, s]));
  for (const { segment, similarity } of below) {
    const source = byId.get(segment.sourceId);
    if (source === undefined) continue;
    source.excludedClips.push({
      excludedAt: now.toISOString(),
      reason: 'speaker screen: not the reference voice',
      clipId: segment.id,
      startSec: segment.startSec,
      endSec: segment.endSec,
      screen: { similarity: Math.round(similarity * 1000) / 1000, threshold },
    });
  }
  const after = new Set(includedSegments(manifest).map((s) => s.id));
  return {
    excluded: [...before].filter((id) => !after.has(id)),
    reincluded: [...after].filter((id) => !before.has(id)),
  };
}

// ------------------------------------------------------------------------------------------------ list ----

export interface ClipExclusionListing extends ClipExclusion {
  /** The current clips it keeps out of training (none when a re-cut left nothing there). */
  matches: string[];
}

export interface SourceListing {
  id: string;
  path: string;
  aliases: string[];
  kind: SourceKind;
  durationSec: number;
  /** Clips preprocess cut from it, and their seconds; null before preprocess has run on it. */
  clips: number | null;
  keptSec: number | null;
  /** Seconds of its clips that training uses. */
  trainingSec: number;
  state: 'included' | 'excluded';
  /** Whether the user's file (or another name of it) is still there, and voicestudio's working copy. */
  original: 'present' | 'missing';
  workingCopy: 'present' | 'missing';
  excluded?: Exclusion;
  excludedClips: ClipExclusionListing[];
}

export interface SourcesList {
  project: string;
  sources: SourceListing[];
  training: TrainingTotals;
}

/** A source's original is missing when neither its path nor any other name it was ingested under exists. */
async function originalPresent(projectDir: string, source: Source): Promise<boolean> {
  for (const stored of [source.path, ...source.aliases]) if (await pathExists(fromProject(projectDir, stored))) return true;
  return false;
}

export async function listSources(projectDir: string): Promise<SourcesList> {
  const project = path.resolve(projectDir);
  await requireProjectFolder(project);
  const manifest = await readManifest(project);
  if (manifest === undefined) return { project, sources: [], training: trainingTotals({ sources: [], segments: [] }) };
  const training = new Set(trainingSegments(manifest).map((s) => s.id));
  const sources = await Promise.all(
    manifest.sources.map(async (source): Promise<SourceListing> => {
      const segments = manifest.segments.filter((s) => s.sourceId === source.id);
      const preprocessed = manifest.preprocess.records.some((r) => r.sourceId === source.id);
      return {
        id: source.id,
        path: source.path,
        aliases: source.aliases,
        kind: source.kind,
        durationSec: source.durationSec,
        clips: preprocessed ? segments.length : null,
        keptSec: preprocessed ? secondsOf(segments) : null,
        trainingSec: secondsOf(segments.filter((s) => training.has(s.id))),
        state: source.excluded === undefined ? 'included' : 'excluded',
        original: (await originalPresent(project, source)) ? 'present' : 'missing',
        workingCopy: (await pathExists(fromProject(project, source.workingFile))) ? 'present' : 'missing',
        ...(source.excluded === undefined ? {} : { excluded: source.excluded }),
        excludedClips: source.excludedClips.map((stretch) => ({ ...stretch, matches: segments.filter((s) => matchesStretch(s, stretch)).map((s) => s.id) })),
      };
    }),
  );
  return { project, sources, training: trainingTotals(manifest) };
}

function secondsOf(segments: readonly Segment[]): number {
  return segments.reduce((sum, s) => sum + (s.endSec - s.startSec), 0);
}

// ------------------------------------------------------------------------------------------------ references ----

type Target = { given: string; source: Source; segment?: Segment };

/**
 * What the user named: a source id, a clip id (`<sourceId>-0001`), or a source's file (relative to the current
 * folder, or as `sources list` shows it). Every name must resolve, or nothing is changed.
 */
function resolveTargets(manifest: Manifest, projectDir: string, cwd: string, given: string[]): Target[] {
  const targets: Target[] = [];
  const unknown: string[] = [];
  for (const name of given) {
    const target = resolveTarget(manifest, projectDir, cwd, name);
    if (target === undefined) unknown.push(name);
    else targets.push(target);
  }
  if (unknown.length > 0) {
    const list = unknown.map((n) => `"${n}"`).join(', ');
    throw new VoicestudioError(ErrorCode.SourceMissing, `No source or clip ${list} in ${projectDir}; nothing was changed.`, {
      subject: unknown[0],
      suggestion: `See the ids and paths with: voicestudio sources list ${projectDir}. Clip ids change when preprocess re-cuts a source.`,
    });
  }
  return targets;
}

function resolveTarget(manifest: Manifest, projectDir: string, cwd: string, name: string): Target | undefined {
  const byId = manifest.sources.find((s) => s.id === name);
  if (byId !== undefined) return { given: name, source: byId };
  const segment = manifest.segments.find((s) => s.id === name);
  const ofSegment = segment === undefined ? undefined : manifest.sources.find((s) => s.id === segment.sourceId);
  if (segment !== undefined && ofSegment !== undefined) return { given: name, source: ofSegment, segment };
  const stored = new Set([projectRelative(projectDir, path.resolve(cwd, name)), name.split(path.sep).join('/')]);
  const byPath = manifest.sources.find((s) => [s.path, ...s.aliases].some((p) => stored.has(p)));
  return byPath === undefined ? undefined : { given: name, source: byPath };
}

function clipsOf(manifest: Manifest, source: Source): Segment[] {
  return manifest.segments.filter((s) => s.sourceId === source.id);
}

// ------------------------------------------------------------------------------------------------ exclude / include ----

export interface ExclusionChange {
  /** The name as the user gave it. */
  given: string;
  sourceId: string;
  path: string;
  /** For a clip: its id and where it lies in the source. */
  clip?: { id: string; startSec: number; endSec: number };
  status: 'excluded' | 'already excluded' | 'included' | 'not excluded';
  /** The current clips this change took out of (exclude) or gave back to (include) training. */
  clips: string[];
  note?: string;
}

export interface ExclusionResult {
  project: string;
  changes: ExclusionChange[];
  /** What training gets after the change. */
  training: TrainingTotals;
}

export interface ExclusionOptions {
  /** Where relative paths among the names are resolved from. */
  cwd: string;
  /** Why, kept in the manifest (exclude only). */
  reason?: string;
  now?: Date;
}

/** Keeps sources or single clips out of training; their files, analysis and clips stay. */
export async function excludeFromTraining(projectDir: string, names: string[], options: ExclusionOptions): Promise<ExclusionResult> {
  return changeExclusions(projectDir, names, options, (manifest, target, exclusion) => (target.segment === undefined ? excludeSource(manifest, target, exclusion) : excludeClip(manifest, target, target.segment, exclusion)));
}

/** Gives sources (with all their clips) or single clips back to training. */
export async function includeInTraining(projectDir: string, names: string[], options: ExclusionOptions): Promise<ExclusionResult> {
  return changeExclusions(projectDir, names, options, (manifest, target) => (target.segment === undefined ? includeSource(manifest, target) : includeClip(manifest, target, target.segment)));
}

async function changeExclusions(
  projectDir: string,
  names: string[],
  options: ExclusionOptions,
  change: (manifest: Manifest, target: Target, exclusion: Exclusion) => ExclusionChange,
): Promise<ExclusionResult> {
  const project = await existingProject(projectDir);
  const exclusion: Exclusion = { excludedAt: (options.now ?? new Date()).toISOString(), ...(options.reason === undefined ? {} : { reason: options.reason }) };
  const { manifest, result } = await updateManifest(project, (m) => resolveTargets(m, project, options.cwd, names).map((target) => change(m, target, exclusion)));
  return { project, changes: result, training: trainingTotals(manifest) };
}

async function existingProject(projectDir: string): Promise<string> {
  const project = path.resolve(projectDir);
  await requireProjectFolder(project);
  if ((await readManifest(project)) === undefined) {
    throw new VoicestudioError(ErrorCode.ProjectMissing, `${project} has no voicestudio.json: it is not a voicestudio project yet.`, {
      subject: project,
      suggestion: `Take recordings in first: voicestudio ingest ${shellQuote(projectDir)}`,
    });
  }
  return project;
}

function subjectOf(target: Target, segment?: Segment): Pick<ExclusionChange, 'given' | 'sourceId' | 'path' | 'clip'> {
  return {
    given: target.given,
    sourceId: target.source.id,
    path: target.source.path,
    ...(segment === undefined ? {} : { clip: { id: segment.id, startSec: segment.startSec, endSec: segment.endSec } }),
  };
}

function excludeSource(manifest: Manifest, target: Target, exclusion: Exclusion): ExclusionChange {
  const { source } = target;
  const before = new Set(trainingSegments(manifest).map((s) => s.id));
  const already = source.excluded !== undefined;
  if (source.excluded === undefined) source.excluded = exclusion;
  else if (exclusion.reason !== undefined) source.excluded.reason = exclusion.reason; // excluding again records a new reason
  return { ...subjectOf(target), status: already ? 'already excluded' : 'excluded', clips: clipsOf(manifest, source).filter((s) => before.has(s.id)).map((s) => s.id) };
}

function excludeClip(manifest: Manifest, target: Target, segment: Segment, exclusion: Exclusion): ExclusionChange {
  const { source } = target;
  const before = new Set(trainingSegments(manifest).map((s) => s.id));
  const same = source.excludedClips.find((s) => s.startSec === segment.startSec && s.endSec === segment.endSec);
  if (same !== undefined) {
    if (exclusion.reason !== undefined) same.reason = exclusion.reason;
    return { ...subjectOf(target, segment), status: 'already excluded', clips: [] };
  }
  const covering = source.excludedClips.find((s) => matchesStretch(segment, s));
  if (covering !== undefined) {
    return { ...subjectOf(target, segment), status: 'already excluded', clips: [], note: `it lies in the stretch ${formatSpan(covering)} excluded as clip ${covering.clipId}` };
  }
  const stretch: ClipExclusion = { ...exclusion, clipId: segment.id, startSec: segment.startSec, endSec: segment.endSec };
  source.excludedClips.push(stretch);
  return {
    ...subjectOf(target, segment),
    status: 'excluded',
    clips: clipsOf(manifest, source).filter((s) => before.has(s.id) && matchesStretch(s, stretch)).map((s) => s.id),
    ...(source.excluded === undefined ? {} : { note: 'its whole source is excluded too; the clip stays out if you include the source again' }),
  };
}

function includeSource(manifest: Manifest, target: Target): ExclusionChange {
  const { source } = target;
  const before = new Set(trainingSegments(manifest).map((s) => s.id));
  const changed = source.excluded !== undefined || source.excludedClips.length > 0;
  delete source.excluded;
  source.excludedClips = [];
  const back = clipsOf(manifest, source).filter((s) => !before.has(s.id)).map((s) => s.id);
  return { ...subjectOf(target), status: changed ? 'included' : 'not excluded', clips: back };
}

function includeClip(manifest: Manifest, target: Target, segment: Segment): ExclusionChange {
  const { source } = target;
  const before = new Set(trainingSegments(manifest).map((s) => s.id));
  const kept = source.excludedClips.filter((s) => !matchesStretch(segment, s));
  const changed = kept.length !== source.excludedClips.length;
  source.excludedClips = kept;
  const after = new Set(trainingSegments(manifest).map((s) => s.id));
  return {
    ...subjectOf(target, segment),
    status: changed ? 'included' : 'not excluded',
    clips: clipsOf(manifest, source).filter((s) => !before.has(s.id) && after.has(s.id)).map((s) => s.id),
    ...(source.excluded === undefined ? {} : { note: `its whole source is excluded: include ${source.id} to train on any of it` }),
  };
}

function formatSpan(span: Span): string {
  return `${span.startSec.toFixed(1)}–${span.endSec.toFixed(1)} s`;
}

// ------------------------------------------------------------------------------------------------ remove ----

export interface RemovedSource {
  id: string;
  path: string;
  kind: SourceKind;
  durationSec: number;
  clips: number;
  why: 'named' | 'original missing';
  /** What was deleted, relative to the project: the working copy, the analysis, the clips folder. */
  deleted: string[];
  /** Said when the original is still where a folder scan (ingest, train) would take it in again. */
  note?: string;
}

export interface RemoveResult {
  project: string;
  removed: RemovedSource[];
}

export interface RemoveOptions {
  cwd: string;
  /** Also remove every source whose original file is gone. */
  missing: boolean;
}

/**
 * Removes sources from the project: their manifest entries, clips, preprocess records, working copies and
 * analyses. The user's own files are never touched. The manifest is written first, so an interruption leaves at
 * worst unreferenced files under .voicestudio/, never a manifest that points at deleted ones.
 */
export async function removeSources(projectDir: string, names: string[], options: RemoveOptions): Promise<RemoveResult> {
  if (names.length === 0 && !options.missing) throw new UsageError('Name the sources to remove, or pass --missing.', 'e.g. voicestudio sources rm ./vocals takes/old.wav, or voicestudio sources rm ./vocals --missing');
  const project = await existingProject(projectDir);
  const missing = new Set<string>();
  if (options.missing) {
    for (const source of (await readManifest(project))?.sources ?? []) if (!(await originalPresent(project, source))) missing.add(source.id);
  }
  const { result: removed } = await updateManifest(project, (manifest) => {
    const targets = resolveTargets(manifest, project, options.cwd, names);
    const clip = targets.find((t) => t.segment !== undefined);
    if (clip !== undefined) {
      throw new UsageError(`${clip.given} is a clip, and rm removes whole sources.`, `To keep a clip out of training: voicestudio sources exclude ${projectDir} ${clip.given}`);
    }
    const why = new Map<string, RemovedSource['why']>([...[...missing].map((id) => [id, 'original missing'] as const), ...targets.map((t) => [t.source.id, 'named'] as const)]);
    const gone = manifest.sources.filter((s) => why.has(s.id));
    const ids = new Set(gone.map((s) => s.id));
    const clipCount = (id: string): number => manifest.segments.filter((s) => s.sourceId === id).length;
    const entries = gone.map((s) => ({ source: s, why: why.get(s.id)!, clips: clipCount(s.id) }));
    manifest.sources = manifest.sources.filter((s) => !ids.has(s.id));
    manifest.segments = manifest.segments.filter((s) => !ids.has(s.sourceId));
    manifest.preprocess.records = manifest.preprocess.records.filter((r) => !ids.has(r.sourceId));
    return entries;
  });
  const results: RemovedSource[] = [];
  for (const { source, why, clips } of removed) {
    const deleted: string[] = [];
    for (const file of [fromProject(project, source.workingFile), analysisPath(project, source.id), clipsDir(project, source.id)]) {
      if (await pathExists(file)) {
        await rm(file, { recursive: true, force: true });
        deleted.push(projectRelative(project, file));
      }
    }
    const stillInProject = why === 'named' && !path.isAbsolute(source.path) && (await pathExists(fromProject(project, source.path)));
    results.push({
      id: source.id,
      path: source.path,
      kind: source.kind,
      durationSec: source.durationSec,
      clips,
      why,
      deleted,
      ...(stillInProject ? { note: `${source.path} is still in the project folder: the next ingest or train of the folder takes it in again. Move it out, or use sources exclude to keep it without training on it.` } : {}),
    });
  }
  return { project, removed: results };
}
