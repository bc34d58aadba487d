/**
 * Ingest: take the user's audio and video files into a project as content-addressed sources, each with a
 * lossless working copy of its best audio stream. The user's own files are only read.
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, fileSystemError, VoicestudioError } from '../errors.js';
import { mapLimit } from '../util/concurrency.js';
import { writeAnalysisFile } from '../audio/analysis-cache.js';
import { PcmAnalyzer, type PcmAnalysis } from '../audio/analysis.js';
import { fastReadOptions, pickAudioStream, probeMedia, renderKindOf, streamPcm, type AudioStreamInfo, type FfmpegTools, type MediaProbe } from '../audio/ffmpeg.js';
import { declaredMp3DurationSec, declaredWavDurationSec } from '../audio/container-headers.js';
import { ledger } from '../project/ledger.js';
import { commitTemp, projectRelative, sha256File, tempSibling } from '../util/files.js';
import { analysisPath, sourcesDir as sourcesDirOf, WORK_DIR } from '../project/layout.js';
import { readManifest, updateManifest } from '../project/manifest.js';
import { datasetMixWarnings } from '../audio/quality.js';
import type { Manifest, QualityWarning, Source, SourceKind } from '../project/types.js';
import { shellQuote } from '../util/shell.js';

export const AUDIO_EXTENSIONS = ['.wav', '.flac', '.mp3', '.m4a', '.aac', '.ogg', '.oga', '.opus', '.aiff', '.aif', '.aifc'];
export const VIDEO_EXTENSIONS = ['.mp4', '.mov', '.mkv', '.webm', '.m4v'];
const MEDIA_EXTENSIONS = new Set([...AUDIO_EXTENSIONS, ...VIDEO_EXTENSIONS]);
/** Folders of ours inside a project that a scan must not take as the user's recordings. */
const SKIPPED_DIRS = new Set([WORK_DIR, 'models', 'node_modules']);
/** PCM codecs that a WAV file can hold as they are: copied, not re-encoded. */
const WAV_COPYABLE = new Set(['pcm_s16le', 'pcm_s24le', 'pcm_s32le', 'pcm_f32le', 'pcm_u8']);
/** A working copy this much shorter than the file's header declares means the file is truncated. */
const TRUNCATION_TOLERANCE_SEC = 1;
const TRUNCATION_TOLERANCE_SHARE = 0.02;
/**
 * Where the duration is only estimated from the bitrate (MP3 without a Xing/VBRI header, raw AAC), a decode shorter
 * than this share of the estimate is reported: variable bitrates make the estimate loose, so the file is kept.
 */
const ESTIMATE_SHORTFALL_SHARE = 0.5;

/** skipped: a folder scan found one of voicestudio's own renders (the reason says which). */
export type IngestStatus = 'added' | 'known' | 'duplicate' | 'updated' | 'skipped' | 'failed';

export interface IngestWarning {
  code: 'maybe_truncated' | 'voicestudio_render';
  message: string;
  suggestion: string;
}

export interface IngestFileResult {
  path: string;
  status: IngestStatus;
  sourceId?: string;
  /** For a duplicate: the path of the source it is identical to. */
  duplicateOf?: string;
  /** Why it failed or was skipped. */
  reason?: string;
  suggestion?: string;
  /** Taken in, with something the user should know. */
  warnings?: IngestWarning[];
}

export interface IngestSummary {
  sources: number;
  totalSec: number;
  singingSec: number;
  speechSec: number;
  singingShare: number;
}

export interface IngestResult {
  project: string;
  files: IngestFileResult[];
  failed: number;
  skipped: number;
  summary: IngestSummary;
  warnings: QualityWarning[];
}

export interface IngestOptions {
  projectDir: string;
  /** Files or folders; empty means the media inside the project folder. */
  paths: string[];
  /** Given explicitly: applied to new sources and to known ones. Absent: new sources are singing. */
  kind?: SourceKind;
  tools: FfmpegTools;
  concurrency: number;
  signal?: AbortSignal;
  onFile?: (result: IngestFileResult, done: number, total: number) => void;
}

export async function assertProjectDir(projectDir: string): Promise<void> {
  const info = await stat(projectDir).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) {
    throw new VoicestudioError(ErrorCode.ProjectMissing, `${projectDir} is not a folder.`, {
      subject: projectDir,
      suggestion: 'Give the project folder (it holds, or will hold, voicestudio.json), e.g. voicestudio ingest ./vocals',
    });
  }
}

/** A file to try; `named`: given on the command line rather than found by a folder scan. */
interface Candidate {
  file: string;
  named: boolean;
}

async function scanFolder(dir: string, found: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    if (entry.name.startsWith('.') || SKIPPED_DIRS.has(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await scanFolder(full, found);
    else if (entry.isFile() && MEDIA_EXTENSIONS.has(path.extname(entry.name).toLowerCase())) found.push(full);
  }
}

interface Candidates {
  files: Candidate[];
  missing: IngestFileResult[];
}

/** Files named explicitly are always tried (FFmpeg decides); folders contribute their media files. */
async function collectCandidates(projectDir: string, paths: string[], cwd: string): Promise<Candidates> {
  const named = new Set<string>();
  const scanned: string[] = [];
  const missing: IngestFileResult[] = [];
  for (const given of paths.length === 0 ? [projectDir] : paths) {
    const full = path.resolve(cwd, given);
    const info = await stat(full).catch(() => undefined);
    if (info === undefined) missing.push({ path: given, status: 'failed', reason: 'no such file or folder', suggestion: 'Check the path.' });
    else if (info.isDirectory()) await scanFolder(full, scanned);
    else named.add(full);
  }
  const files = [...named].map((file) => ({ file, named: true }));
  for (const file of new Set(scanned)) if (!named.has(file)) files.push({ file, named: false });
  return { files, missing };
}

/**
 * What voicestudio wrote where, as its job ledger records it: each conversion's output file. Files made before
 * voicestudio marked its renders (see renderTagOptions) are known this way.
 */
function recordedRenders(manifest: Manifest | undefined): Map<string, string> {
  const renders = new Map<string, string>();
  for (const job of manifest === undefined ? [] : ledger(manifest)) {
    const output = job.request?.output;
    if (job.task === 'convert' && typeof output === 'string') renders.set(path.resolve(output), `the output of conversion job ${job.id} (${job.label})`);
  }
  return renders;
}

function renderSkipped(project: string, candidate: Candidate, storedPath: string, what: string): IngestFileResult {
  return {
    path: storedPath,
    status: 'skipped',
    reason: `voicestudio made it (${what}), so it is no recording of the singer`,
    suggestion: `To train on it anyway, name the file: voicestudio ingest ${shellQuote(project)} ${shellQuote(candidate.file)}`,
  };
}

function renderWarning(project: string, storedPath: string, what: string): IngestWarning {
  return {
    code: 'voicestudio_render',
    message: `voicestudio made it (${what}): a model trained on its own output learns its own artefacts`,
    suggestion: `If that was not meant: voicestudio sources rm ${project} ${storedPath}`,
  };
}

function workingCopyPlan(stream: AudioStreamInfo): { extension: string; codecOptions: string[] } {
  if (stream.codec === 'flac') return { extension: '.flac', codecOptions: ['-c:a', 'copy'] };
  if (WAV_COPYABLE.has(stream.codec)) return { extension: '.wav', codecOptions: ['-c:a', 'copy', '-rf64', 'auto'] };
  // Lossy or exotic: decode once into FLAC, so later passes never decode the lossy stream again.
  return { extension: '.flac', codecOptions: ['-c:a', 'flac', ...(stream.bitsPerSample > 16 ? ['-sample_fmt', 's32'] : [])] };
}

function mediaError(file: string, message: string, suggestion: string): VoicestudioError {
  return new VoicestudioError(ErrorCode.MediaUnreadable, `${file}: ${message}`, { subject: file, suggestion });
}

/** Formats whose headers give ffprobe an exact duration, so a shorter decode means truncation. */
const EXACT_DURATION_FORMATS = /^(wav|flac|aiff|ogg|mov,mp4,m4a,3gp,3g2,mj2|matroska,webm|caf|w64)$/;
/** Formats whose duration ffprobe can only estimate from the bitrate when no header declares it. */
const ESTIMATED_DURATION_FORMATS = /^(mp3|aac)$/;

/** How long a file says its audio is, where that is said, and whether it is a declaration or an estimate. */
interface ClaimedDuration {
  seconds: number;
  exact: boolean;
  by: string;
}

async function claimedDuration(file: string, probe: MediaProbe, stream: AudioStreamInfo): Promise<ClaimedDuration | undefined> {
  const wav = await declaredWavDurationSec(file);
  if (wav !== undefined) return { seconds: wav, exact: true, by: 'its WAV header' };
  if (probe.formatName === 'mp3') {
    const declared = await declaredMp3DurationSec(file);
    if (declared !== undefined) return { seconds: declared, exact: true, by: 'its MP3 header' };
  }
  if (ESTIMATED_DURATION_FORMATS.test(probe.formatName)) return { seconds: probe.durationSec, exact: false, by: 'its size and bitrate' };
  if (!EXACT_DURATION_FORMATS.test(probe.formatName)) return undefined;
  // The audio stream's own duration: a video's sound often ends before its picture (phones and cameras mux them so),
  // and the container's duration is the longer of the two. It speaks for the audio only when the audio is alone.
  const seconds = stream.durationSec ?? (probe.streamCount === 1 ? probe.durationSec : undefined);
  return seconds === undefined ? undefined : { seconds, exact: true, by: probe.streamCount === 1 ? 'its container' : 'its audio stream' };
}

type Extraction =
  | {
      skipped?: undefined;
      stream: AudioStreamInfo;
      /** The finished working copy's temp file (the caller moves it into place once the content is known to be new). */
      temp: string;
      extension: string;
      analysis: PcmAnalysis;
      warnings: IngestWarning[];
    }
  /** A render of voicestudio's found by a folder scan: nothing was extracted. */
  | { skipped: string };

/**
 * One FFmpeg run reads the file once: it writes the working copy and streams the same audio as PCM
 * into the analyzer, so preprocess never has to decode the source for analysis again.
 */
async function extractAndAnalyse(candidate: Candidate, storedPath: string, sourcesDir: string, options: IngestOptions, signal: AbortSignal): Promise<Extraction> {
  const { file } = candidate;
  const probe = await probeMedia(options.tools, file);
  const render = renderKindOf(probe);
  const what = render === undefined ? undefined : `its tags mark it as a voicestudio ${render}`;
  if (what !== undefined && !candidate.named) return { skipped: what };
  const warnings = what === undefined ? [] : [renderWarning(options.projectDir, storedPath, what)];
  const stream = pickAudioStream(probe);
  if (stream === undefined) {
    throw mediaError(file, probe.hasVideo ? 'the video has no audio stream' : 'no audio stream found', "Use a file that contains the recording's audio.");
  }
  const plan = workingCopyPlan(stream);
  const temp = tempSibling(path.join(sourcesDir, `incoming${plan.extension}`));
  const analyzer = new PcmAnalyzer({ sampleRate: stream.sampleRate, channels: stream.channels });
  try {
    await streamPcm(options.tools, file, (chunk) => analyzer.push(chunk), {
      audioIndex: stream.audioIndex,
      inputOptions: await fastReadOptions(options.tools, probe.formatName === 'wav'),
      alsoWrite: { file: temp, outputOptions: ['-vn', '-sn', '-dn', '-map_metadata', '-1', ...plan.codecOptions, '-f', plan.extension === '.wav' ? 'wav' : 'flac'] },
      signal,
    });
    const analysis = analyzer.finish();
    if (analysis.totalFrames === 0) throw mediaError(file, 'no decodable audio (0 s)', 'The file is damaged or empty; export it again.');
    const claimed = await claimedDuration(file, probe, stream);
    const actual = analysis.durationSec;
    if (claimed?.exact === true && claimed.seconds - actual > Math.max(TRUNCATION_TOLERANCE_SEC, claimed.seconds * TRUNCATION_TOLERANCE_SHARE)) {
      throw mediaError(file, `truncated: ${claimed.by} claims ${claimed.seconds.toFixed(1)} s but only ${actual.toFixed(1)} s can be decoded`, 'Copy or export the file again; it was cut off.');
    }
    if (claimed?.exact === false && actual < claimed.seconds * ESTIMATE_SHORTFALL_SHARE) {
      warnings.push({
        code: 'maybe_truncated',
        message: `only ${actual.toFixed(1)} s can be decoded, but ${claimed.by} suggest about ${claimed.seconds.toFixed(1)} s: it may be cut off or damaged`,
        suggestion: `If it should be longer, copy or download it again and ingest that; remove this one with: voicestudio sources rm ${options.projectDir} ${storedPath}`,
      });
    }
    return { stream, temp, extension: plan.extension, analysis, warnings };
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

function failure(file: string, error: unknown): IngestFileResult {
  if (error instanceof VoicestudioError) {
    const prefix = `${error.subject ?? ''}: `;
    const reason = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    return { path: file, status: 'failed', reason, ...(error.suggestion === undefined ? {} : { suggestion: error.suggestion }) };
  }
  const known = fileSystemError(error);
  if (known !== undefined) return failure(file, known);
  return { path: file, status: 'failed', reason: (error as Error).message, suggestion: 'Check that the file is readable.' };
}

export function summarizeSources(sources: Source[]): IngestSummary {
  const singingSec = sources.filter((s) => s.kind === 'singing').reduce((sum, s) => sum + s.durationSec, 0);
  const speechSec = sources.filter((s) => s.kind === 'speech').reduce((sum, s) => sum + s.durationSec, 0);
  const totalSec = singingSec + speechSec;
  return { sources: sources.length, totalSec, singingSec, speechSec, singingShare: totalSec === 0 ? 0 : singingSec / totalSec };
}

/** Records a file whose content the manifest already has: the same file, another name for it, or a new kind. */
function recordKnown(source: Source, storedPath: string, kind: SourceKind | undefined): IngestFileResult {
  const samePath = source.path === storedPath || source.aliases.includes(storedPath);
  if (!samePath) source.aliases.push(storedPath);
  if (kind !== undefined && source.kind !== kind) {
    source.kind = kind;
    return { path: storedPath, status: 'updated', sourceId: source.id };
  }
  return samePath
    ? { path: storedPath, status: 'known', sourceId: source.id }
    : { path: storedPath, status: 'duplicate', sourceId: source.id, duplicateOf: source.path };
}

function recordKnownBySha(manifest: Manifest, sha256: string, storedPath: string, kind: SourceKind | undefined): IngestFileResult {
  const source = manifest.sources.find((s) => s.sha256 === sha256);
  // Only reachable if another process removed the source between our read and our update.
  if (source === undefined) return { path: storedPath, status: 'failed', reason: 'its source was removed from the manifest meanwhile', suggestion: 'Run ingest again.' };
  return recordKnown(source, storedPath, kind);
}

export async function ingest(options: IngestOptions, cwd: string): Promise<IngestResult> {
  const projectDir = path.resolve(options.projectDir);
  await assertProjectDir(projectDir);
  const { files, missing } = await collectCandidates(projectDir, options.paths, cwd);
  if (files.length === 0 && missing.length === 0) {
    throw new VoicestudioError(ErrorCode.NothingToDo, `No audio or video files found in ${options.paths.length === 0 ? projectDir : options.paths.join(', ')}.`, {
      suggestion: `Put recordings (${[...AUDIO_EXTENSIONS, ...VIDEO_EXTENSIONS].join(' ')}) in the folder, or name files: voicestudio ingest ./project take1.wav interview.mp4`,
    });
  }
  const sourcesDir = sourcesDirOf(projectDir);
  await mkdir(sourcesDir, { recursive: true });
  const results: IngestFileResult[] = [...missing];
  const total = files.length + missing.length;
  missing.forEach((result, index) => options.onFile?.(result, index + 1, total));
  const manifest = await readManifest(projectDir);
  const existing = manifest?.sources ?? [];
  const known = new Set(existing.map((s) => s.sha256));
  // Sizes of paths the manifest already has: on a re-run these are hashed before any extraction starts.
  const knownSizes = new Map(existing.flatMap((s) => [s.path, ...s.aliases].map((p) => [p, s.sizeBytes] as const)));
  const renders = recordedRenders(manifest);
  // Within one run the first file with given content is ingested; identical ones wait for its outcome.
  const firstBySha = new Map<string, Promise<IngestFileResult>>();

  const ingestOne = async (candidate: Candidate): Promise<IngestFileResult> => {
    const { file } = candidate;
    const storedPath = projectRelative(projectDir, file);
    const recorded = renders.get(file);
    if (recorded !== undefined && !candidate.named) return renderSkipped(options.projectDir, candidate, storedPath, recorded);
    const extraction = new AbortController();
    const signal = options.signal === undefined ? extraction.signal : AbortSignal.any([options.signal, extraction.signal]);
    try {
      const info = await stat(file);
      if (info.size === 0) return { path: storedPath, status: 'failed', reason: 'empty file (0 bytes)', suggestion: 'Copy or export the file again.' };
      // A new file is hashed (worker thread) while it is extracted; a duplicate stops the extraction.
      const extract = (): Promise<Extraction> => extractAndAnalyse(candidate, storedPath, sourcesDir, options, signal);
      const extracting = knownSizes.get(storedPath) === info.size ? undefined : extract();
      extracting?.catch(() => {}); // awaited below, or deliberately abandoned for a duplicate
      const sha256 = await sha256File(file, options.signal);
      const earlier = firstBySha.get(sha256);
      if (known.has(sha256) || earlier !== undefined) {
        extraction.abort();
        await extracting?.then((x) => (x.skipped === undefined ? rm(x.temp, { force: true }) : undefined), () => {});
        const first = await earlier;
        if (first?.status === 'failed') {
          return { path: storedPath, status: 'failed', reason: 'identical to another file in this run that failed', suggestion: "See that file's error." };
        }
        if (first?.status === 'skipped') return { path: storedPath, status: 'skipped', reason: `identical to ${first.path}: ${first.reason ?? 'skipped'}`, ...(first.suggestion === undefined ? {} : { suggestion: first.suggestion }) };
        return (await updateManifest(projectDir, (m) => recordKnownBySha(m, sha256, storedPath, options.kind))).result;
      }
      let settle: (outcome: IngestFileResult) => void = () => {};
      firstBySha.set(sha256, new Promise((resolve) => (settle = resolve)));
      try {
        const extracted = await (extracting ?? extract());
        if (extracted.skipped !== undefined) {
          const skipped = renderSkipped(options.projectDir, candidate, storedPath, extracted.skipped);
          settle(skipped);
          return skipped;
        }
        // A conversion voicestudio recorded but made before it marked its renders is known by its path only.
        const warnings = recorded !== undefined && !extracted.warnings.some((w) => w.code === 'voicestudio_render') ? [...extracted.warnings, renderWarning(options.projectDir, storedPath, recorded)] : extracted.warnings;
        const id = sha256.slice(0, 12);
        const workingFile = path.join(sourcesDir, `${id}${extracted.extension}`);
        await writeAnalysisFile(analysisPath(projectDir, id), extracted.analysis);
        await commitTemp(extracted.temp, workingFile);
        const source: Source = {
          id,
          sha256,
          path: storedPath,
          aliases: [],
          kind: options.kind ?? 'singing',
          durationSec: extracted.analysis.durationSec,
          sampleRate: extracted.stream.sampleRate,
          channels: extracted.stream.channels,
          codec: extracted.stream.codec,
          streamIndex: extracted.stream.audioIndex,
          workingFile: projectRelative(projectDir, workingFile),
          sizeBytes: info.size,
          ingestedAt: new Date().toISOString(),
          excludedClips: [],
        };
        await updateManifest(projectDir, (m) => {
          m.sources = [...m.sources.filter((s) => s.sha256 !== sha256), source];
        });
        const added: IngestFileResult = { path: storedPath, status: 'added', sourceId: id, ...(warnings.length === 0 ? {} : { warnings }) };
        settle(added);
        return added;
      } catch (error) {
        settle({ path: storedPath, status: 'failed' });
        throw error;
      }
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (error instanceof VoicestudioError && !(error.code === ErrorCode.MediaUnreadable || error.code === ErrorCode.FfmpegFailed)) throw error;
      return failure(storedPath, error);
    }
  };

  let done = missing.length;
  results.push(
    ...(await mapLimit(
      files,
      options.concurrency,
      async (file) => {
        const result = await ingestOne(file);
        options.onFile?.(result, ++done, total);
        return result;
      },
      options.signal,
    )),
  );
  const summary = summarizeSources((await readManifest(projectDir))?.sources ?? []);
  return {
    project: projectDir,
    files: results,
    failed: results.filter((r) => r.status === 'failed').length,
    skipped: results.filter((r) => r.status === 'skipped').length,
    summary,
    warnings: datasetMixWarnings({ singingSec: summary.singingSec, speechSec: summary.speechSec }),
  };
}
