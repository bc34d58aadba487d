/**
 * Preprocess: per source, the analysis ingest saved (or one decode, if it is missing) gives the slicer
 * its RMS map; the kept clips are cut and encoded by the segment muxer (mono, high-pass, optional
 * denoise, loudness gain, training sample rate, FLAC). A long source is cut by one FFmpeg run per core,
 * each covering a stretch between clips, so a single hour-long take still uses every core.
 */
import { mkdir, rename, rm, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, VoicestudioError } from '../errors.js';
import { readAnalysisFile, writeAnalysisFile } from '../audio/analysis-cache.js';
import { ANALYZER_VERSION, levelStatistics, PcmAnalyzer, type LevelStatistics, type PcmAnalysis } from '../audio/analysis.js';
import { createLimiter, mapLimit } from '../util/concurrency.js';
import { setFlacTotalSamples } from '../audio/container-headers.js';
import { fastReadOptions, runEncode, streamPcm, type FfmpegTools } from '../audio/ffmpeg.js';
import { fromProject, projectRelative, sha256Text, tempSibling, pathExists, writeAtomically } from '../util/files.js';
import { analysisPath, clipsDir, qualityReportPath } from '../project/layout.js';
import { resolvePreprocessSettings } from '../audio/preprocess-settings.js';
import { readManifest, requireProjectFolder, updateManifest } from '../project/manifest.js';
import { buildDatasetReport, buildSourceReport, describeSlices, type ClipSpan, type SlicedClips } from '../audio/quality.js';
import { writeReportHtml } from '../audio/report-html.js';
import { excludedSegments, includedSegments, trainingTotals, type ExclusionCause } from '../project/sources.js';
import { chooseHoldout } from '../project/holdout.js';
import { sliceByRms, suggestSilenceThreshold } from '../audio/slicer.js';
import type { DatasetQualityReport, Manifest, PreprocessRecord, PreprocessSettings, Segment, Source, SourceQualityReport } from '../project/types.js';
import { shellQuote } from '../util/shell.js';

/** Bump when slicing or cutting changes, so existing clips are redone (analysis changes bump ANALYZER_VERSION). */
const CUT_VERSION = 3;
/**
 * The segment muxer cuts on encoder frames, so a clip can move by up to one frame at each end. Planning
 * clips this far inside the limits keeps every written clip within 5–15 s.
 */
const CUT_MARGIN_SEC = 0.1;
/** FLAC block size for clips: 2048 samples (≤ 64 ms) bounds how far a cut can move from its silence. */
const CLIP_BLOCK_SIZE = 2048;
/** The loudness gain never pushes the peak above this. */
const PEAK_CEILING_DBFS = -1;
/** Longer than any source: the segment muxer's segment length when a run holds a single clip. */
const ONE_SEGMENT_SEC = 1e7;
/** A source is split into parallel cut runs only when each run gets at least this much audio. */
const MIN_PART_SEC = 120;

export type SourceStage = 'analysing' | 'cutting' | 'cached' | 'done' | 'failed';

export interface SourceOutcome {
  sourceId: string;
  path: string;
  status: 'processed' | 'cached' | 'failed';
  clips: number;
  /** The source is kept out of training (`sources exclude`); it is still cut and reported. */
  excluded?: true;
  reason?: string;
  suggestion?: string;
}

export interface PreprocessResult {
  project: string;
  /** The settings this run used. */
  settings: PreprocessSettings;
  sources: SourceOutcome[];
  failed: number;
  report: DatasetQualityReport;
  /** The clips held out of training for audition (none with --no-holdout, or under 20 clips). */
  heldOut: { clips: number; seconds: number };
  reportFile: string;
  /** The same report as a page: waveforms with the clips marked, figures, a player per clip. */
  htmlReportFile: string;
}

export interface PreprocessOptions {
  projectDir: string;
  /** Settings given for this run; the rest come from the project's last run, else the defaults (resolvePreprocessSettings). */
  settings?: Partial<PreprocessSettings>;
  tools: FfmpegTools;
  /** Sources analysed and FFmpeg runs at once. */
  concurrency: number;
  signal?: AbortSignal;
  /** `finished` counts sources that are cached, done or failed, out of `total`. */
  onStage?: (source: Source, stage: SourceStage, finished: number, total: number) => void;
}

/** PreprocessOptions with every setting resolved. */
interface PreprocessRun extends Omit<PreprocessOptions, 'settings'> {
  settings: PreprocessSettings;
}

export function preprocessKey(source: Source, settings: PreprocessSettings): string {
  return sha256Text(JSON.stringify({ analyzer: ANALYZER_VERSION, cut: CUT_VERSION, sha256: source.sha256, settings })).slice(0, 16);
}


/** The analysis ingest saved; when it is missing or stale, one decode of the working copy remakes it. */
async function loadAnalysis(projectDir: string, source: Source, options: PreprocessRun, onAnalysing: () => void): Promise<PcmAnalysis> {
  const file = analysisPath(projectDir, source.id);
  const cached = await readAnalysisFile(file);
  if (cached !== undefined) return cached;
  onAnalysing();
  const analyzer = new PcmAnalyzer({ sampleRate: source.sampleRate, channels: source.channels });
  // The working copy holds only the chosen stream, so it is always stream 0.
  await streamPcm(options.tools, fromProject(projectDir, source.workingFile), (chunk) => analyzer.push(chunk), {
    inputOptions: await fastReadOptions(options.tools, source.workingFile.endsWith('.wav')),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const analysis = analyzer.finish();
  await mkdir(path.dirname(file), { recursive: true });
  await writeAnalysisFile(file, analysis);
  return analysis;
}

export function planClips(analysis: PcmAnalysis, settings: PreprocessSettings): SlicedClips {
  const thresholdDb = settings.silenceThresholdDb === 'auto' ? suggestSilenceThreshold(analysis.rmsDb) : settings.silenceThresholdDb;
  const sliced = sliceByRms(analysis.rmsDb, {
    hopSec: analysis.hopSec,
    thresholdDb,
    minClipSec: settings.minClipSec + CUT_MARGIN_SEC,
    maxClipSec: settings.maxClipSec - CUT_MARGIN_SEC,
    minSilenceSec: settings.minSilenceMs / 1000,
    clipping: { perFrame: analysis.clippedPerHop, samplesPerFrame: analysis.hopSamples * analysis.channels },
  });
  return describeSlices(analysis, sliced, { thresholdDb, minClipSec: settings.minClipSec });
}

function exclusionText(cause: ExclusionCause): string {
  if (cause.by === 'clip' && cause.exclusion.screen !== undefined) {
    const { similarity, threshold } = cause.exclusion.screen;
    return `speaker screen: ${similarity.toFixed(2)} below ${threshold.toFixed(2)}, not the singer's voice?`;
  }
  const why = cause.exclusion.reason === undefined ? '' : ` (${cause.exclusion.reason})`;
  return cause.by === 'source' ? `its source is excluded${why}` : `excluded${why}`;
}

/** Why each clip the page shows is not trained on: excluded (by the user or the screen), or held out for audition. */
function notTrainedOn(manifest: Manifest): Map<string, string> {
  const excluded = new Map([...excludedSegments(manifest)].map(([id, cause]) => [id, exclusionText(cause)]));
  for (const id of manifest.preprocess.heldOut) if (!excluded.has(id)) excluded.set(id, 'held out for audition: not trained on, scored against');
  return excluded;
}

/**
 * The report page written again after exclusions changed (the speaker screen), from the last preprocess's report;
 * undefined when preprocess has not written one. Sources that failed to preprocess are listed by preprocess only.
 */
export async function rewriteReportPage(projectDir: string): Promise<string | undefined> {
  const text = await readFile(qualityReportPath(projectDir), 'utf8').catch(() => undefined);
  const manifest = await readManifest(projectDir);
  if (text === undefined || manifest === undefined) return undefined;
  const report = JSON.parse(text) as DatasetQualityReport;
  return await writeReportHtml(projectDir, { report, segments: manifest.segments, excluded: notTrainedOn(manifest) });
}

/** The cut times for the segment muxer and, for each clip, which output segment it becomes. */
export function planSegments(clips: readonly ClipSpan[], durationSec: number): { times: number[]; clipSegments: number[] } {
  const boundaries = [...new Set(clips.flatMap((c) => [c.startSec, c.endSec]).map(round3))].filter((t) => t > 0 && t < durationSec).sort((a, b) => a - b);
  const clipSegments = clips.map((c) => boundaries.filter((b) => b <= round3(c.startSec)).length);
  return { times: boundaries, clipSegments };
}

/** Splits time-ordered clips into at most `parts` runs of consecutive clips with about equal audio in each. */
export function partitionClips(clips: readonly ClipSpan[], parts: number): ClipSpan[][] {
  const total = clips.reduce((sum, c) => sum + (c.endSec - c.startSec), 0);
  const groups: ClipSpan[][] = [[]];
  let filled = 0;
  for (const clip of clips) {
    const current = groups.at(-1)!;
    if (current.length > 0 && filled >= (total * groups.length) / parts && groups.length < parts) groups.push([]);
    groups.at(-1)!.push(clip);
    filled += clip.endSec - clip.startSec;
  }
  return groups.filter((g) => g.length > 0);
}

/**
 * Downmix first so every later filter works on one channel, to the plain mean of the channels that the
 * analyzer measured. For mono and stereo FFmpeg's own conversion is that mean (and faster than pan).
 */
export function monoDownmix(channels: number): string {
  if (channels <= 2) return 'aformat=channel_layouts=mono';
  const weight = (1 / channels).toFixed(6);
  return `pan=mono|c0=${Array.from({ length: channels }, (_, i) => `${weight}*c${i}`).join('+')}`;
}

/** What every clip goes through before its loudness gain: mono, the training rate, high-pass and optional denoising. */
function cleaningFilters(source: Source, settings: PreprocessSettings): string[] {
  return [monoDownmix(source.channels), `aresample=${settings.sampleRate}`, `highpass=f=${settings.highpassHz}`, ...(settings.denoise ? ['afftdn=tn=1'] : [])];
}

/** The noise floor and SNR of a source after denoising: one more decode, only with --denoise. */
async function denoisedLevels(projectDir: string, source: Source, options: PreprocessRun): Promise<LevelStatistics> {
  const analyzer = new PcmAnalyzer({ sampleRate: options.settings.sampleRate, channels: 1 });
  await streamPcm(options.tools, fromProject(projectDir, source.workingFile), (chunk) => analyzer.push(chunk), {
    inputOptions: await fastReadOptions(options.tools, source.workingFile.endsWith('.wav')),
    audioFilters: cleaningFilters(source, options.settings),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  return levelStatistics(analyzer.finish().rmsDb);
}

/** Gain to the target loudness, held back so the peak stays under the ceiling. */
export function normalisationGainDb(analysis: Pick<PcmAnalysis, 'integratedLufs' | 'peakDbfs'>, targetLufs: number): number {
  if (analysis.integratedLufs <= -70) return 0; // nothing measurable to normalise
  return Math.min(targetLufs - analysis.integratedLufs, PEAK_CEILING_DBFS - analysis.peakDbfs);
}

async function readSegmentList(file: string): Promise<Map<string, { startSec: number; endSec: number }>> {
  const spans = new Map<string, { startSec: number; endSec: number }>();
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    const [name, start, end] = line.trim().split(',');
    if (name !== undefined && start !== undefined && end !== undefined) spans.set(name, { startSec: Number(start), endSec: Number(end) });
  }
  return spans;
}

interface CutContext {
  projectDir: string;
  source: Source;
  analysis: PcmAnalysis;
  stagingDir: string;
  options: PreprocessRun;
  runLimited: <T>(task: () => Promise<T>) => Promise<T>;
}

/**
 * One FFmpeg run over a stretch of the source [first clip's start, last clip's end): every clip in it
 * becomes a segment file; the gaps between clips are segments too, deleted afterwards. Returns the
 * kept clips' files and where they really start and end in the source.
 */
async function cutPart(ctx: CutContext, part: number, clips: ClipSpan[]): Promise<{ file: string; startSec: number; endSec: number }[]> {
  const { settings, tools, signal } = ctx.options;
  const offset = clips[0]!.startSec;
  const end = clips.at(-1)!.endSec;
  const relative = clips.map((c) => ({ startSec: c.startSec - offset, endSec: c.endSec - offset }));
  const { times, clipSegments } = planSegments(relative, end - offset);
  const prefix = `part${part}-`;
  const listFile = path.join(ctx.stagingDir, `${prefix}segments.csv`);
  const readOptions = await fastReadOptions(tools, ctx.source.workingFile.endsWith('.wav'));
  await ctx.runLimited(() =>
    runEncode(tools, {
      input: fromProject(ctx.projectDir, ctx.source.workingFile),
      // Input seeking in a WAV or FLAC working copy is sample-accurate.
      inputOptions: [...readOptions, '-ss', offset.toFixed(6), '-to', end.toFixed(6)],
      audioFilters: [...cleaningFilters(ctx.source, settings), `volume=${normalisationGainDb(ctx.analysis, settings.targetLufs).toFixed(2)}dB`],
      outputOptions: [
        '-map', '0:a:0',
        '-c:a', 'flac', '-sample_fmt', 's16', '-frame_size', String(CLIP_BLOCK_SIZE),
        '-f', 'segment', '-segment_format', 'flac', '-reset_timestamps', '1',
        // Without -segment_times the muxer falls back to 2 s segments: a single clip must get none at all.
        ...(times.length > 0 ? ['-segment_times', times.map((t) => t.toFixed(3)).join(',')] : ['-segment_time', String(ONE_SEGMENT_SEC)]),
        '-segment_list', listFile, '-segment_list_type', 'csv',
      ],
      output: path.join(ctx.stagingDir, `${prefix}%05d.flac`),
      ...(signal === undefined ? {} : { signal }),
    }),
  );
  const written = await readSegmentList(listFile);
  const kept = new Set<string>();
  const cut = clipSegments.map((segment) => {
    const name = `${prefix}${String(segment).padStart(5, '0')}.flac`;
    const span = written.get(name);
    if (span === undefined) throw new Error(`FFmpeg's segment list has no ${name}`);
    kept.add(name);
    return { file: path.join(ctx.stagingDir, name), startSec: round3(offset + span.startSec), endSec: round3(offset + span.endSec), samples: Math.round((span.endSec - span.startSec) * settings.sampleRate) };
  });
  for (const c of cut) await setFlacTotalSamples(c.file, c.samples);
  for (const name of written.keys()) if (!kept.has(name)) await rm(path.join(ctx.stagingDir, name), { force: true });
  await rm(listFile, { force: true });
  return cut;
}

/** Cuts all kept clips into a staging folder, then swaps it in place of the source's old clips. */
async function cutSource(ctx: Omit<CutContext, 'stagingDir'>, kept: ClipSpan[], parts: number): Promise<Segment[]> {
  const finalDir = clipsDir(ctx.projectDir, ctx.source.id);
  const stagingDir = tempSibling(finalDir);
  await mkdir(stagingDir, { recursive: true });
  try {
    const groups = partitionClips(kept, parts);
    const cutGroups = await Promise.all(groups.map((clips, part) => cutPart({ ...ctx, stagingDir }, part, clips)));
    const segments: Segment[] = [];
    for (const [index, clip] of cutGroups.flat().entries()) {
      const id = `${ctx.source.id}-${String(index + 1).padStart(4, '0')}`;
      await rename(clip.file, path.join(stagingDir, `${id}.flac`));
      segments.push({ id, sourceId: ctx.source.id, file: projectRelative(ctx.projectDir, path.join(finalDir, `${id}.flac`)), startSec: clip.startSec, endSec: clip.endSec });
    }
    const retired = tempSibling(finalDir);
    await rename(finalDir, retired).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await rename(stagingDir, finalDir);
    await rm(retired, { recursive: true, force: true });
    return segments;
  } catch (error) {
    await rm(stagingDir, { recursive: true, force: true });
    throw error;
  }
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

async function segmentsPresent(projectDir: string, segments: Segment[]): Promise<boolean> {
  for (const segment of segments) if (!(await pathExists(fromProject(projectDir, segment.file)))) return false;
  return true;
}

/** How many parallel cut runs each source gets: long sources share the cores when few sources need work. */
function cutParts(stale: Source[], concurrency: number): Map<string, number> {
  const totalSec = stale.reduce((sum, s) => sum + s.durationSec, 0);
  return new Map(
    stale.map((s) => [s.id, Math.max(1, Math.min(concurrency, Math.round((concurrency * s.durationSec) / Math.max(totalSec, 1)), Math.floor(s.durationSec / MIN_PART_SEC)))]),
  );
}

export async function preprocess(given: PreprocessOptions): Promise<PreprocessResult> {
  const projectDir = path.resolve(given.projectDir);
  await requireProjectFolder(projectDir);
  const manifest = await readManifest(projectDir);
  if (manifest === undefined || manifest.sources.length === 0) {
    throw new VoicestudioError(ErrorCode.NothingToDo, `${projectDir} has no sources yet.`, {
      subject: projectDir,
      suggestion: `Take recordings in first: voicestudio ingest ${shellQuote(given.projectDir)}`,
    });
  }
  const options: PreprocessRun = { ...given, settings: resolvePreprocessSettings(manifest.preprocess.settings, given.settings ?? {}) };
  const total = manifest.sources.length;
  let finished = 0;
  const announce = (source: Source, stage: SourceStage): void => {
    if (stage === 'cached' || stage === 'done' || stage === 'failed') finished += 1;
    options.onStage?.(source, stage, finished, total);
  };
  const isCurrent = async (source: Source): Promise<boolean> => {
    const record = manifest.preprocess.records.find((r) => r.sourceId === source.id);
    return record?.key === preprocessKey(source, options.settings) && (await segmentsPresent(projectDir, manifest.segments.filter((s) => s.sourceId === source.id)));
  };
  const current = new Set<string>();
  for (const source of manifest.sources) if (await isCurrent(source)) current.add(source.id);
  const parts = cutParts(manifest.sources.filter((s) => !current.has(s.id)), options.concurrency);
  const runLimited = createLimiter(options.concurrency);

  const outcomes = await mapLimit(
    manifest.sources,
    options.concurrency,
    async (source): Promise<{ outcome: SourceOutcome; report?: SourceQualityReport }> => {
      if (current.has(source.id)) {
        const record = manifest.preprocess.records.find((r) => r.sourceId === source.id)!;
        announce(source, 'cached');
        return { outcome: { sourceId: source.id, path: source.path, status: 'cached', clips: record.segmentIds.length }, report: { ...record.report, kind: source.kind } };
      }
      try {
        if (!(await pathExists(fromProject(projectDir, source.workingFile)))) {
          throw new VoicestudioError(ErrorCode.MediaUnreadable, `${source.path}: its working copy ${source.workingFile} is missing.`, {
            subject: source.path,
            suggestion: `Ingest the file again: voicestudio ingest ${shellQuote(options.projectDir)} ${shellQuote(source.path)}`,
          });
        }
        const analysis = await loadAnalysis(projectDir, source, options, () => announce(source, 'analysing'));
        const plan = planClips(analysis, options.settings);
        announce(source, 'cutting');
        const [segments, denoised] = await Promise.all([
          plan.kept.length === 0 ? [] : cutSource({ projectDir, source, analysis, options, runLimited }, plan.kept, parts.get(source.id) ?? 1),
          options.settings.denoise ? runLimited(() => denoisedLevels(projectDir, source, options)) : undefined,
        ]);
        // The report counts the clips as they were really cut.
        const report = buildSourceReport({ source, analysis, kept: segments, sliced: plan, ...(denoised === undefined ? {} : { denoised }) });
        const record: PreprocessRecord = { sourceId: source.id, key: preprocessKey(source, options.settings), segmentIds: segments.map((s) => s.id), report, processedAt: new Date().toISOString() };
        await updateManifest(projectDir, (m) => {
          m.segments = [...m.segments.filter((s) => s.sourceId !== source.id), ...segments];
          m.preprocess.records = [...m.preprocess.records.filter((r) => r.sourceId !== source.id), record];
        });
        announce(source, 'done');
        return { outcome: { sourceId: source.id, path: source.path, status: 'processed', clips: segments.length }, report };
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (!(error instanceof VoicestudioError)) throw error;
        announce(source, 'failed');
        return {
          outcome: { sourceId: source.id, path: source.path, status: 'failed', clips: 0, reason: error.message, ...(error.suggestion === undefined ? {} : { suggestion: error.suggestion }) },
        };
      }
    },
    options.signal,
  );
  const report = buildDatasetReport(
    outcomes.flatMap((o) => (o.report === undefined ? [] : [o.report])),
    options.settings,
    new Date(),
  );
  const reportFile = qualityReportPath(projectDir);
  await writeAtomically(reportFile, `${JSON.stringify(report, null, 2)}\n`);
  // The manifest as this run left it: its clips and exclusions are what the page shows.
  const { manifest: after } = await updateManifest(projectDir, (m) => {
    m.preprocess.settings = options.settings;
    m.preprocess.heldOut = options.settings.holdout ? [...chooseHoldout(includedSegments(m), m.sources)].sort() : [];
  });
  const excludedSources = new Set(after.sources.filter((source) => source.excluded !== undefined).map((source) => source.id));
  const sources = outcomes.map((o): SourceOutcome => (excludedSources.has(o.outcome.sourceId) ? { ...o.outcome, excluded: true } : o.outcome));
  const failed = sources.filter((s) => s.status === 'failed');
  const htmlReportFile = await writeReportHtml(projectDir, { report, segments: after.segments, failed, excluded: notTrainedOn(after) });
  const { heldOut } = trainingTotals(after);
  return { project: projectDir, settings: options.settings, sources, failed: failed.length, report, heldOut, reportFile, htmlReportFile };
}
