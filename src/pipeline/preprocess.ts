/**
 * Preprocess: per source, one FFmpeg decode streams PCM into the analyzer (cached by content), the slicer
 * picks 5–15 s clips at silences, and one FFmpeg run cuts and encodes every kept clip with the segment
 * muxer (mono, high-pass, optional denoise, loudness gain, training sample rate, FLAC).
 */
import { mkdir, readFile, rename, rm, writeFile, access } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, VoicestudioError } from '../errors.js';
import { PcmAnalyzer, type PcmAnalysis } from './analysis.js';
import { mapLimit } from './concurrency.js';
import { setFlacTotalSamples } from './container-headers.js';
import { runEncode, streamPcm, type FfmpegTools } from './ffmpeg.js';
import { fromProject, projectRelative, sha256Text, tempSibling } from './files.js';
import { readManifest, updateManifest, WORK_DIR } from './manifest.js';
import { buildDatasetReport, buildSourceReport, lengthDistribution, screenSlices, type ClipSpan } from './quality.js';
import { sliceByRms, suggestSilenceThreshold } from './slicer.js';
import type { DatasetQualityReport, PreprocessRecord, PreprocessSettings, Segment, Source, SourceQualityReport } from './types.js';

/** Bump when analysis or slicing changes, so cached analyses and clips are redone. */
const ANALYSIS_VERSION = 1;
const CUT_VERSION = 1;
/**
 * The segment muxer cuts on encoder frames, so a clip can move by up to one frame at each end. Planning
 * clips this far inside the limits keeps every written clip within 5–15 s.
 */
const CUT_MARGIN_SEC = 0.1;
/** FLAC block size for clips: 2048 samples (≤ 64 ms) bounds how far a cut can move from its silence. */
const CLIP_BLOCK_SIZE = 2048;
/** The loudness gain never pushes the peak above this. */
const PEAK_CEILING_DBFS = -1;

export const DEFAULT_PREPROCESS_SETTINGS: PreprocessSettings = {
  sampleRate: 40000,
  denoise: false,
  highpassHz: 50,
  targetLufs: -20,
  minClipSec: 5,
  maxClipSec: 15,
};

export const QUALITY_REPORT_FILE = 'quality-report.json';

/**
 * What the analysis pass learned about a source, cached so a settings change only re-cuts: the clips to
 * keep, and the source's quality report (which depends on the analysis alone).
 */
export interface SourceAnalysis {
  version: number;
  sha256: string;
  durationSec: number;
  kept: ClipSpan[];
  loudnessLufs: number;
  peakDbfs: number;
  report: SourceQualityReport;
}

export type SourceStage = 'analysing' | 'cutting' | 'cached' | 'done' | 'failed';

export interface SourceOutcome {
  sourceId: string;
  path: string;
  status: 'processed' | 'cached' | 'failed';
  clips: number;
  reason?: string;
  suggestion?: string;
}

export interface PreprocessResult {
  project: string;
  sources: SourceOutcome[];
  failed: number;
  report: DatasetQualityReport;
  reportFile: string;
}

export interface PreprocessOptions {
  projectDir: string;
  settings: PreprocessSettings;
  tools: FfmpegTools;
  concurrency: number;
  signal?: AbortSignal;
  /** `finished` counts sources that are cached, done or failed, out of `total`. */
  onStage?: (source: Source, stage: SourceStage, finished: number, total: number) => void;
}

export function preprocessKey(source: Source, settings: PreprocessSettings): string {
  return sha256Text(JSON.stringify({ analysis: ANALYSIS_VERSION, cut: CUT_VERSION, sha256: source.sha256, settings })).slice(0, 16);
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

function analysisFile(projectDir: string, source: Source): string {
  return path.join(projectDir, WORK_DIR, 'analysis', `${source.id}.json`);
}

async function readCachedAnalysis(projectDir: string, source: Source): Promise<SourceAnalysis | undefined> {
  try {
    const cached = JSON.parse(await readFile(analysisFile(projectDir, source), 'utf8')) as SourceAnalysis;
    return cached.version === ANALYSIS_VERSION && cached.sha256 === source.sha256 ? cached : undefined;
  } catch {
    return undefined; // missing or unreadable: analyse again
  }
}

function summarizeAnalysis(source: Source, analysis: PcmAnalysis, settings: PreprocessSettings): SourceAnalysis {
  const thresholdDb = suggestSilenceThreshold(analysis.rmsDb);
  const sliced = sliceByRms(analysis.rmsDb, {
    hopSec: analysis.hopSec,
    thresholdDb,
    minClipSec: settings.minClipSec + CUT_MARGIN_SEC,
    maxClipSec: settings.maxClipSec - CUT_MARGIN_SEC,
  });
  const { kept, dropped } = screenSlices(analysis, sliced, { thresholdDb, minClipSec: settings.minClipSec });
  return {
    version: ANALYSIS_VERSION,
    sha256: source.sha256,
    durationSec: analysis.durationSec,
    kept,
    loudnessLufs: analysis.integratedLufs,
    peakDbfs: analysis.peakDbfs,
    report: buildSourceReport({ source, analysis, kept, dropped }),
  };
}

async function analyseSource(projectDir: string, source: Source, options: PreprocessOptions, onAnalysing: () => void): Promise<SourceAnalysis> {
  const cached = await readCachedAnalysis(projectDir, source);
  if (cached !== undefined) return cached;
  onAnalysing();
  const analyzer = new PcmAnalyzer({ sampleRate: source.sampleRate, channels: source.channels });
  // The working copy holds only the chosen stream, so it is always stream 0.
  await streamPcm(options.tools, fromProject(projectDir, source.workingFile), (chunk) => analyzer.push(chunk), {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const result = summarizeAnalysis(source, analyzer.finish(), options.settings);
  const file = analysisFile(projectDir, source);
  await mkdir(path.dirname(file), { recursive: true });
  const temp = tempSibling(file);
  await writeFile(temp, `${JSON.stringify(result)}\n`);
  await rename(temp, file);
  return result;
}

/** The cut times for the segment muxer and, for each clip, which output segment it becomes. */
export function planSegments(clips: readonly ClipSpan[], durationSec: number): { times: number[]; clipSegments: number[] } {
  const boundaries = [...new Set(clips.flatMap((c) => [c.startSec, c.endSec]).map((t) => Math.round(t * 1000) / 1000))]
    .filter((t) => t > 0 && t < durationSec)
    .sort((a, b) => a - b);
  const clipSegments = clips.map((c) => boundaries.filter((b) => b <= Math.round(c.startSec * 1000) / 1000).length);
  return { times: boundaries, clipSegments };
}

function channelDownmix(channels: number): string {
  if (channels <= 1) return 'anull';
  const share = (1 / channels).toFixed(6);
  return `pan=mono|c0=${Array.from({ length: channels }, (_, i) => `${share}*c${i}`).join('+')}`;
}

/** Gain to the target loudness, held back so the peak stays under the ceiling. */
export function normalisationGainDb(analysis: Pick<SourceAnalysis, 'loudnessLufs' | 'peakDbfs'>, targetLufs: number): number {
  if (analysis.loudnessLufs <= -70) return 0; // nothing measurable to normalise
  return Math.min(targetLufs - analysis.loudnessLufs, PEAK_CEILING_DBFS - analysis.peakDbfs);
}

async function readSegmentList(file: string): Promise<Map<string, { startSec: number; endSec: number }>> {
  const spans = new Map<string, { startSec: number; endSec: number }>();
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    const [name, start, end] = line.trim().split(',');
    if (name !== undefined && start !== undefined && end !== undefined) spans.set(name, { startSec: Number(start), endSec: Number(end) });
  }
  return spans;
}

/** One FFmpeg run writes every clip; the kept ones are renamed into place, the gaps deleted. */
async function cutClips(projectDir: string, source: Source, analysis: SourceAnalysis, options: PreprocessOptions): Promise<Segment[]> {
  const finalDir = path.join(projectDir, WORK_DIR, 'clips', source.id);
  const stagingDir = tempSibling(finalDir);
  await mkdir(stagingDir, { recursive: true });
  try {
    const segments: Segment[] = [];
    if (analysis.kept.length > 0) {
      const { times, clipSegments } = planSegments(analysis.kept, analysis.durationSec);
      const settings = options.settings;
      const gainDb = normalisationGainDb(analysis, settings.targetLufs);
      const listFile = path.join(stagingDir, 'segments.csv');
      await runEncode(options.tools, {
        input: fromProject(projectDir, source.workingFile),
        audioFilters: [
          channelDownmix(source.channels),
          `highpass=f=${settings.highpassHz}`,
          ...(settings.denoise ? ['afftdn=tn=1'] : []),
          `volume=${gainDb.toFixed(2)}dB`,
        ],
        outputOptions: [
          '-map', '0:a:0',
          '-ar', String(settings.sampleRate),
          '-c:a', 'flac', '-sample_fmt', 's16', '-frame_size', String(CLIP_BLOCK_SIZE),
          '-f', 'segment', '-segment_format', 'flac', '-reset_timestamps', '1',
          ...(times.length > 0 ? ['-segment_times', times.map((t) => t.toFixed(3)).join(',')] : []),
          '-segment_list', listFile, '-segment_list_type', 'csv',
        ],
        output: path.join(stagingDir, 'seg%05d.flac'),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      const written = await readSegmentList(listFile);
      for (const index of analysis.kept.keys()) {
        const segmentName = `seg${String(clipSegments[index]).padStart(5, '0')}.flac`;
        const id = `${source.id}-${String(index + 1).padStart(4, '0')}`;
        const span = written.get(segmentName);
        if (span === undefined) throw new Error(`FFmpeg's segment list has no ${segmentName}`);
        await setFlacTotalSamples(path.join(stagingDir, segmentName), Math.round((span.endSec - span.startSec) * settings.sampleRate));
        await rename(path.join(stagingDir, segmentName), path.join(stagingDir, `${id}.flac`));
        segments.push({
          id,
          sourceId: source.id,
          file: projectRelative(projectDir, path.join(finalDir, `${id}.flac`)),
          // Where FFmpeg actually cut (on encoder frames), from its segment list.
          startSec: round3(span.startSec),
          endSec: round3(span.endSec),
        });
      }
      // Gaps between kept clips (silence, dropped material) were written as segments too.
      for (const name of written.keys()) await rm(path.join(stagingDir, name), { force: true });
      await rm(listFile, { force: true });
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

/** The cached report, with what may have changed since: the source's kind, and where the clips really fell. */
function sourceReport(source: Source, analysis: SourceAnalysis, segments: Segment[]): SourceQualityReport {
  const lengths = segments.map((s) => s.endSec - s.startSec);
  return { ...analysis.report, kind: source.kind, keptSec: round3(lengths.reduce((a, b) => a + b, 0)), clips: lengthDistribution(lengths) };
}

async function segmentsPresent(projectDir: string, segments: Segment[]): Promise<boolean> {
  for (const segment of segments) if (!(await exists(fromProject(projectDir, segment.file)))) return false;
  return true;
}

export async function preprocess(options: PreprocessOptions): Promise<PreprocessResult> {
  const projectDir = path.resolve(options.projectDir);
  const manifest = await readManifest(projectDir);
  if (manifest === undefined || manifest.sources.length === 0) {
    throw new VoicestudioError(ErrorCode.NothingToDo, `${projectDir} has no sources yet.`, {
      subject: projectDir,
      suggestion: `Take recordings in first: voicestudio ingest ${options.projectDir}`,
    });
  }
  const total = manifest.sources.length;
  let finished = 0;
  const announce = (source: Source, stage: SourceStage): void => {
    if (stage === 'cached' || stage === 'done' || stage === 'failed') finished += 1;
    options.onStage?.(source, stage, finished, total);
  };
  const outcomes = await mapLimit(
    manifest.sources,
    options.concurrency,
    async (source): Promise<{ outcome: SourceOutcome; report?: SourceQualityReport }> => {
      const key = preprocessKey(source, options.settings);
      const record = manifest.preprocess.records.find((r) => r.sourceId === source.id);
      const recordSegments = manifest.segments.filter((s) => s.sourceId === source.id);
      if (record?.key === key && (await segmentsPresent(projectDir, recordSegments))) {
        announce(source, 'cached');
        return { outcome: { sourceId: source.id, path: source.path, status: 'cached', clips: recordSegments.length }, report: { ...record.report, kind: source.kind } };
      }
      try {
        if (!(await exists(fromProject(projectDir, source.workingFile)))) {
          throw new VoicestudioError(ErrorCode.MediaUnreadable, `${source.path}: its working copy ${source.workingFile} is missing.`, {
            subject: source.path,
            suggestion: `Ingest the file again: voicestudio ingest ${options.projectDir} ${source.path}`,
          });
        }
        const analysis = await analyseSource(projectDir, source, options, () => announce(source, 'analysing'));
        announce(source, 'cutting');
        const segments = await cutClips(projectDir, source, analysis, options);
        const report = sourceReport(source, analysis, segments);
        const newRecord: PreprocessRecord = { sourceId: source.id, key, segmentIds: segments.map((s) => s.id), report, processedAt: new Date().toISOString() };
        await updateManifest(projectDir, (m) => {
          m.segments = [...m.segments.filter((s) => s.sourceId !== source.id), ...segments];
          m.preprocess.records = [...m.preprocess.records.filter((r) => r.sourceId !== source.id), newRecord];
        });
        announce(source, 'done');
        return { outcome: { sourceId: source.id, path: source.path, status: 'processed', clips: segments.length }, report };
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (!(error instanceof VoicestudioError)) throw error;
        announce(source, 'failed');
        return {
          outcome: {
            sourceId: source.id,
            path: source.path,
            status: 'failed',
            clips: 0,
            reason: error.message,
            ...(error.suggestion === undefined ? {} : { suggestion: error.suggestion }),
          },
        };
      }
    },
    options.signal,
  );
  const datasetReport = buildDatasetReport(
    outcomes.flatMap((o) => (o.report === undefined ? [] : [o.report])),
    options.settings,
    new Date(),
  );
  const reportFile = path.join(projectDir, WORK_DIR, QUALITY_REPORT_FILE);
  const temp = tempSibling(reportFile);
  await writeFile(temp, `${JSON.stringify(datasetReport, null, 2)}\n`);
  await rename(temp, reportFile);
  await updateManifest(projectDir, (m) => {
    m.preprocess.settings = options.settings;
  });
  const sources = outcomes.map((o) => o.outcome);
  return { project: projectDir, sources, failed: sources.filter((s) => s.status === 'failed').length, report: datasetReport, reportFile };
}
