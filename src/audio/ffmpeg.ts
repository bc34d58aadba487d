/**
 * Everything that touches FFmpeg. fluent-ffmpeg is archived upstream, so it is imported here and nowhere
 * else, and only for ffprobe: FFmpeg itself runs through execa. (fluent-ffmpeg asks `-formats` and
 * `-encoders` before every run it starts: two more FFmpeg starts each time, for answers nothing here needs.)
 */
import { access, constants, mkdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import fluentFfmpeg from 'fluent-ffmpeg';
import { diskFullError, ErrorCode, notWritableError, VoicestudioError } from '../errors.js';
import { writeAtomically } from '../util/files.js';

export type ToolSource = 'env' | 'path' | 'bundled';

export interface ToolLocation {
  path: string;
  source: ToolSource;
}

export interface FfmpegTools {
  ffmpeg: ToolLocation;
  ffprobe: ToolLocation;
}

const TOOL_SPECS = {
  ffmpeg: { envVar: 'FFMPEG_PATH', bundledPackage: '@ffmpeg-installer/ffmpeg' },
  ffprobe: { envVar: 'FFPROBE_PATH', bundledPackage: '@ffprobe-installer/ffprobe' },
} as const;
type ToolName = keyof typeof TOOL_SPECS;

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const executable = process.platform === 'win32' ? `${name}.exe` : name;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, executable);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function bundledBinary(packageName: string): string | undefined {
  try {
    // Optional dependencies: absent on unsupported platforms or with --omit=optional.
    const installer = createRequire(import.meta.url)(packageName) as { path?: string };
    return installer.path;
  } catch {
    return undefined;
  }
}

async function locateTool(name: ToolName, env: NodeJS.ProcessEnv): Promise<ToolLocation> {
  const spec = TOOL_SPECS[name];
  const fromEnv = env[spec.envVar];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (await isExecutable(fromEnv)) return { path: fromEnv, source: 'env' };
    throw new VoicestudioError(ErrorCode.FfmpegMissing, `${spec.envVar} points to ${fromEnv}, which is not an executable file.`, {
      subject: spec.envVar,
      suggestion: `Fix ${spec.envVar} or unset it to use the ${name} on your PATH or the bundled one.`,
    });
  }
  const onPath = await findOnPath(name, env);
  if (onPath !== undefined) return { path: onPath, source: 'path' };
  const bundled = bundledBinary(spec.bundledPackage);
  if (bundled !== undefined && (await isExecutable(bundled))) return { path: bundled, source: 'bundled' };
  throw new VoicestudioError(ErrorCode.FfmpegMissing, `${name} was not found (${spec.envVar} is unset, it is not on PATH, and no bundled binary is installed).`, {
    subject: name,
    suggestion: `Install FFmpeg (e.g. "apt-get install ffmpeg" or "brew install ffmpeg"), or set ${spec.envVar}, or reinstall voicestudio with optional dependencies.`,
  });
}

/** Finds ffmpeg and ffprobe: FFMPEG_PATH/FFPROBE_PATH, then PATH, then the npm-bundled binaries. */
export async function locateFfmpeg(env: NodeJS.ProcessEnv = process.env): Promise<FfmpegTools> {
  const [ffmpeg, ffprobe] = await Promise.all([locateTool('ffmpeg', env), locateTool('ffprobe', env)]);
  return { ffmpeg, ffprobe };
}

/** The first line of `<tool> -version`, e.g. "ffmpeg version 5.1.6-0+deb12u1". */
export async function toolVersion(tool: ToolLocation): Promise<string> {
  const { stdout } = await execa(tool.path, ['-hide_banner', '-version'], { timeout: 10_000 });
  return stdout.split('\n')[0]?.replace(/\s+Copyright.*$/, '').trim() ?? 'unknown';
}

export interface AudioStreamInfo {
  /** Index among all streams of the container. */
  index: number;
  /** Index among the audio streams, as `-map 0:a:N` counts. */
  audioIndex: number;
  codec: string;
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  isDefault: boolean;
  /** The stream's own duration, when the container records one (it may differ from the other streams'). */
  durationSec: number | undefined;
}

export interface MediaProbe {
  formatName: string;
  /** The container's duration: the longest of its streams, or an estimate from the bitrate for MP3 and raw AAC. */
  durationSec: number;
  audioStreams: AudioStreamInfo[];
  hasVideo: boolean;
  /** All streams of the container (audio, video, subtitles, data). */
  streamCount: number;
  /** The container's and its streams' metadata tags, keys in lower case (the container's win). */
  tags: Record<string, string>;
}

function toNumber(value: unknown): number {
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : 0;
}

/** "00:01:00.200000000", as Matroska's muxers tag each stream's duration. */
function parseClockDuration(value: unknown): number | undefined {
  const match = typeof value === 'string' ? /^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(value.trim()) : null;
  return match === null ? undefined : Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3]);
}

/** A stream's own duration: ffprobe's, else duration_ts × time_base, else Matroska's DURATION tag. */
function streamDurationSec(stream: fluentFfmpeg.FfprobeStream): number | undefined {
  const direct = Number(stream.duration);
  if (Number.isFinite(direct) && direct > 0) return direct;
  const [num, den] = String(stream.time_base ?? '').split('/').map(Number);
  const ticks = Number(stream.duration_ts);
  if (Number.isFinite(ticks) && ticks > 0 && num !== undefined && den !== undefined && num > 0 && den > 0) return (ticks * num) / den;
  const tags = (stream.tags ?? {}) as Record<string, unknown>;
  const tagged = Object.entries(tags).find(([key]) => key.toUpperCase() === 'DURATION')?.[1];
  return parseClockDuration(tagged);
}

function lowerCaseTags(...sources: unknown[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const source of sources) {
    if (source === null || typeof source !== 'object') continue;
    for (const [key, value] of Object.entries(source)) if (typeof value === 'string' || typeof value === 'number') tags[key.toLowerCase()] = String(value);
  }
  return tags;
}

function unreadableError(file: string, reason: string, cause?: unknown): VoicestudioError {
  return new VoicestudioError(ErrorCode.MediaUnreadable, `${file}: not a readable audio or video file (${reason}).`, {
    subject: file,
    ...(cause === undefined ? {} : { cause }),
    suggestion: 'Check that the file is complete and plays in a media player; re-export or re-download it. If it is not a recording, move it out of the folder.',
  });
}

/** Probes a media file. Throws MediaUnreadable with ffprobe's own words when it is not media. */
export async function probeMedia(tools: FfmpegTools, file: string): Promise<MediaProbe> {
  const data = await new Promise<fluentFfmpeg.FfprobeData>((resolve, reject) => {
    fluentFfmpeg(file)
      .setFfprobePath(tools.ffprobe.path)
      .ffprobe((error: Error | null, result: fluentFfmpeg.FfprobeData) => (error ? reject(error) : resolve(result)));
  }).catch((error: unknown) => {
    throw unreadableError(file, ffprobeReason(error), error);
  });
  let audioIndex = 0;
  const audioStreams: AudioStreamInfo[] = [];
  for (const stream of data.streams) {
    if (stream.codec_type !== 'audio') continue;
    audioStreams.push({
      index: stream.index,
      audioIndex: audioIndex++,
      codec: stream.codec_name ?? 'unknown',
      sampleRate: toNumber(stream.sample_rate),
      channels: toNumber(stream.channels),
      bitsPerSample: toNumber(stream.bits_per_raw_sample) || toNumber(stream.bits_per_sample),
      isDefault: toNumber(stream.disposition?.default) === 1,
      durationSec: streamDurationSec(stream),
    });
  }
  const hasVideo = data.streams.some((s) => s.codec_type === 'video' && toNumber(s.disposition?.attached_pic) !== 1);
  // Some demuxers accept any bytes by the file's extension (text named .flac "is" FLAC with no sample rate):
  // an audio stream FFmpeg could not read the parameters of holds no audio.
  const readable = audioStreams.filter((a) => a.sampleRate > 0 && a.channels > 0);
  if (audioStreams.length > 0 && readable.length === 0 && !hasVideo) throw unreadableError(file, 'FFmpeg found no audio or video data in it');
  return {
    formatName: data.format.format_name ?? 'unknown',
    durationSec: toNumber(data.format.duration),
    audioStreams: readable,
    hasVideo,
    streamCount: data.streams.length,
    tags: lowerCaseTags(...data.streams.map((s) => s.tags), data.format.tags),
  };
}

/** FFmpeg's generic verdicts, in words that say what is wrong with the file. */
const PROBE_VERDICTS: [RegExp, string][] = [
  [/Invalid data found when processing input|Invalid argument/i, 'FFmpeg found no audio or video data in it'],
  [/No such file or directory/i, 'the file does not exist'],
  [/Permission denied/i, 'permission denied'],
  [/moov atom not found/i, 'the video is incomplete (its index, the moov atom, is missing)'],
];

function ffprobeReason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // fluent-ffmpeg prefixes ffprobe's stderr with its own words; ffprobe's verdict is in its last lines.
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  for (const [pattern, words] of PROBE_VERDICTS) if (lines.some((l) => pattern.test(l))) return words;
  return (lines.at(-1) ?? text).replace(/^.*?: /, '');
}

/** The best audio stream: the default one, else the one with most channels, then highest rate. */
export function pickAudioStream(probe: MediaProbe): AudioStreamInfo | undefined {
  return [...probe.audioStreams].sort(
    (a, b) => Number(b.isDefault) - Number(a.isDefault) || b.channels - a.channels || b.sampleRate - a.sampleRate,
  )[0];
}

/**
 * FFmpeg's WAV demuxer reads 4 KiB packets by default: an hour of stereo is ~155k packets, and their
 * per-packet overhead costs more than the data. 64 KiB packets make WAV reads several times faster.
 * FFmpeg before 4.3 has no such option, so support is asked of each binary (see capabilities).
 */
const WAV_PACKET_BYTES = 65536;

/** Input options that speed up reading a WAV file (none for other formats or older FFmpeg). */
export async function fastReadOptions(tools: FfmpegTools, isWav: boolean): Promise<string[]> {
  return isWav && (await capabilities(tools.ffmpeg)).wavPacketSize ? ['-max_size', String(WAV_PACKET_BYTES)] : [];
}

export interface PcmStreamOptions {
  /** Which audio stream (`0:a:N`). */
  audioIndex?: number;
  /** Options placed before `-i`, e.g. from fastReadOptions. */
  inputOptions?: string[];
  /** Also write that stream to a file in the same run (one read and decode serve both). */
  alsoWrite?: { file: string; outputOptions: string[] };
  /** Filters applied to the PCM stream (not to alsoWrite's file); it then has the channels and rate they give. */
  audioFilters?: string[];
  signal?: AbortSignal;
}

/**
 * Decodes a file to signed 16-bit little-endian PCM at its native rate and channel count and hands
 * each chunk to `onChunk`. One decode; nothing is held in memory beyond the current chunk.
 */
export async function streamPcm(
  tools: FfmpegTools,
  file: string,
  onChunk: (chunk: Buffer) => void,
  options: PcmStreamOptions = {},
): Promise<void> {
  options.signal?.throwIfAborted();
  const map = ['-map', `0:a:${options.audioIndex ?? 0}`];
  const args = [
    '-hide_banner', '-nostdin', '-v', 'error', ...(options.inputOptions ?? []), '-i', file,
    ...(options.alsoWrite === undefined ? [] : [...map, ...options.alsoWrite.outputOptions, '-y', options.alsoWrite.file]),
    ...map, ...(options.audioFilters === undefined ? [] : ['-af', options.audioFilters.join(',')]), '-f', 's16le', '-acodec', 'pcm_s16le', 'pipe:1',
  ];
  const child = execa(tools.ffmpeg.path, args, {
    buffer: { stdout: false, stderr: true },
    stdin: 'ignore',
    ...(options.signal === undefined ? {} : { cancelSignal: options.signal }),
    forceKillAfterDelay: 1_000,
    reject: false,
  });
  child.stdout.on('data', onChunk);
  const result = await child;
  if (options.signal?.aborted) throw options.signal.reason;
  if (result.exitCode !== 0) {
    if (options.alsoWrite !== undefined) throwIfOutputRefused(String(result.stderr), options.alsoWrite.file);
    throw new VoicestudioError(ErrorCode.FfmpegFailed, `${file}: FFmpeg could not decode the audio (${ffmpegReason(String(result.stderr)) ?? 'no error message'}).`, {
      subject: file,
      suggestion: 'Check that the file plays in a media player; re-export it as WAV or FLAC if it does not.',
    });
  }
}

export interface EncodeJob {
  input: string;
  /** Input-side options, e.g. ['-map', '0:a:1']. */
  inputOptions?: string[];
  /** FFmpeg audio filter chain entries, applied in order. */
  audioFilters?: string[];
  outputOptions: string[];
  output: string;
  signal?: AbortSignal;
}

/** FFmpeg's arguments for one encode (after the options every run gets). */
export function encodeArgs(job: Omit<EncodeJob, 'signal'>): string[] {
  const filters = job.audioFilters !== undefined && job.audioFilters.length > 0 ? ['-filter:a', job.audioFilters.join(',')] : [];
  return [...(job.inputOptions ?? []), '-i', job.input, ...filters, ...job.outputOptions, job.output];
}

/** Runs one FFmpeg encode. Rejects with FfmpegFailed quoting FFmpeg's last error line. */
export async function runEncode(tools: FfmpegTools, job: EncodeJob): Promise<void> {
  const { exitCode, stderr } = await execFfmpeg(tools, encodeArgs(job), job.signal);
  if (exitCode !== 0) {
    throwIfOutputRefused(stderr, job.output);
    throw new VoicestudioError(ErrorCode.FfmpegFailed, `${job.input}: FFmpeg failed (${ffmpegReason(stderr) ?? 'no error message'}).`, {
      subject: job.input,
      suggestion: 'Re-run with --verbose to see the FFmpeg command; check free disk space and that the file plays.',
    });
  }
}

/**
 * Runs FFmpeg to its end and returns its exit code and stderr (where it reports progress and what filters measure);
 * an abort stops it and rejects with the signal's reason. -nostats: FFmpeg still prints its final progress line.
 */
async function execFfmpeg(tools: FfmpegTools, args: string[], signal: AbortSignal | undefined): Promise<{ exitCode: number | undefined; stderr: string }> {
  signal?.throwIfAborted();
  const result = await execa(tools.ffmpeg.path, ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info', '-y', ...args], {
    reject: false,
    stdin: 'ignore',
    buffer: { stdout: false, stderr: true },
    ...(signal === undefined ? {} : { cancelSignal: signal }),
    forceKillAfterDelay: 1_000,
  });
  if (signal?.aborted) throw signal.reason;
  return { exitCode: result.exitCode, stderr: String(result.stderr) };
}

/** FFmpeg failing to write its output for want of space or permission: the disk's fault, not the recording's. */
function throwIfOutputRefused(stderr: string, output: string): void {
  if (/No space left on device/i.test(stderr)) throw diskFullError(output);
  if (/Disk quota exceeded/i.test(stderr)) throw diskFullError(output, 'EDQUOT');
  if (/Read-only file system/i.test(stderr)) throw notWritableError(path.dirname(output), output, 'EROFS');
}

/** FFmpeg's own reason: the last line that names a problem, not its generic "Conversion failed!". */
export function ffmpegReason(stderr: string): string | undefined {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^Conversion failed!?$/i.test(l));
  return [...lines].reverse().find((l) => /error|invalid|could not|cannot|no such|not found|failed|unable/i.test(l)) ?? lines.at(-1);
}

export interface FfmpegFeatures {
  filters: ReadonlySet<string>;
  encoders: ReadonlySet<string>;
}

/** What an FFmpeg binary can do, as far as voicestudio asks. */
interface FfmpegCapabilities extends FfmpegFeatures {
  /** Its WAV demuxer takes `-max_size` (see fastReadOptions). */
  wavPacketSize: boolean;
}

/** Filter or encoder names from `ffmpeg -filters` / `-encoders` (lines "<flags> <name> ..."). */
export function parseFeatureList(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Z.|]{3,6})\s+(\S+)\s/.exec(line);
    if (match?.[2] !== undefined && match[2] !== '=') names.add(match[2]);
  }
  return names;
}

/** Bump when the questions or the file's layout change. */
const CAPABILITIES_FILE_VERSION = 1;

interface StoredCapabilities {
  size: number;
  mtimeMs: number;
  wavPacketSize: boolean;
  filters: string[];
  encoders: string[];
}

function isStoredCapabilities(value: unknown): value is StoredCapabilities {
  const record = value as Partial<StoredCapabilities> | null;
  const isNames = (names: unknown): boolean => Array.isArray(names) && names.every((name) => typeof name === 'string');
  return (
    typeof record === 'object' && record !== null && typeof record.size === 'number' && typeof record.mtimeMs === 'number' &&
    typeof record.wavPacketSize === 'boolean' && isNames(record.filters) && isNames(record.encoders)
  );
}

/** The user's cache folder for voicestudio (XDG_CACHE_HOME on Linux, ~/Library/Caches on macOS, LOCALAPPDATA on Windows). */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (process.platform === 'win32') return path.join(env.LOCALAPPDATA ?? path.join(homedir(), 'AppData', 'Local'), 'voicestudio', 'Cache');
  if (process.platform === 'darwin') return path.join(homedir(), 'Library', 'Caches', 'voicestudio');
  const xdg = env.XDG_CACHE_HOME;
  return path.join(xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(homedir(), '.cache'), 'voicestudio');
}

/**
 * Each FFmpeg binary's answers to voicestudio's questions (`-h demuxer=wav`, `-filters`, `-encoders`), asked once and
 * kept in a JSON file keyed by the binary's path, size and modification time: every FFmpeg start costs about 0.05–0.1 s of
 * CPU before it does anything, and each command used to ask again. The file belongs in the user's cache folder, not in a
 * project: the answers are the binary's, the same for every project (and for convert and batch, which may have none), and
 * a project copied to another machine would meet another FFmpeg. Only clean answers (exit 0) are stored; without the file
 * (undefined, unreadable or unwritable) the binary is asked once per process.
 */
export class CapabilityCache {
  private readonly inProcess = new Map<string, Promise<FfmpegCapabilities>>();
  /** Writes one at a time, so two binaries' answers stored at once do not overwrite each other. */
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly file: string | undefined) {}

  get(tool: ToolLocation): Promise<FfmpegCapabilities> {
    let answers = this.inProcess.get(tool.path);
    if (answers === undefined) {
      answers = this.load(tool.path);
      this.inProcess.set(tool.path, answers);
    }
    return answers;
  }

  private async load(binary: string): Promise<FfmpegCapabilities> {
    const identity = await stat(binary).then((info) => ({ size: info.size, mtimeMs: info.mtimeMs }), () => undefined);
    const stored = (await this.readAll())[binary];
    if (identity !== undefined && isStoredCapabilities(stored) && stored.size === identity.size && stored.mtimeMs === identity.mtimeMs) {
      return { wavPacketSize: stored.wavPacketSize, filters: new Set(stored.filters), encoders: new Set(stored.encoders) };
    }
    const ask = (args: string[]) => execa(binary, ['-hide_banner', ...args], { reject: false, timeout: 15_000, stdin: 'ignore' });
    const [wavHelp, filters, encoders] = await Promise.all([ask(['-h', 'demuxer=wav']), ask(['-filters']), ask(['-encoders'])]);
    const answers = { wavPacketSize: String(wavHelp.stdout).includes('-max_size'), filters: parseFeatureList(String(filters.stdout)), encoders: parseFeatureList(String(encoders.stdout)) };
    if (identity !== undefined && [wavHelp, filters, encoders].every((run) => run.exitCode === 0)) {
      const record: StoredCapabilities = { ...identity, wavPacketSize: answers.wavPacketSize, filters: [...answers.filters], encoders: [...answers.encoders] };
      this.writing = this.writing.then(() => this.store(binary, record)).catch(() => {});
      await this.writing;
    }
    return answers;
  }

  private async readAll(): Promise<Record<string, unknown>> {
    if (this.file === undefined) return {};
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as { version?: unknown; binaries?: unknown };
      return parsed.version === CAPABILITIES_FILE_VERSION && typeof parsed.binaries === 'object' && parsed.binaries !== null ? (parsed.binaries as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  }

  /** Adds one binary's answers and drops those of binaries that are gone, then replaces the file atomically. */
  private async store(binary: string, record: StoredCapabilities): Promise<void> {
    if (this.file === undefined) return;
    const binaries: Record<string, unknown> = {};
    for (const [other, answers] of Object.entries(await this.readAll())) {
      if (other !== binary && (await isExecutable(other))) binaries[other] = answers;
    }
    binaries[binary] = record;
    await mkdir(path.dirname(this.file), { recursive: true });
    await writeAtomically(this.file, `${JSON.stringify({ version: CAPABILITIES_FILE_VERSION, binaries })}\n`);
  }
}

let capabilityCache: CapabilityCache | undefined;

/** What this FFmpeg binary can do: from the user's capability cache, else asked of the binary (three short runs, once). */
function capabilities(tool: ToolLocation): Promise<FfmpegCapabilities> {
  if (capabilityCache === undefined) {
    let file: string | undefined;
    try {
      file = path.join(userCacheDir(), 'ffmpeg-capabilities.json');
    } catch {
      file = undefined; // no home folder to find a cache folder in: ask once per process
    }
    capabilityCache = new CapabilityCache(file);
  }
  return capabilityCache.get(tool);
}

/** The filters and encoders of this FFmpeg binary. */
export async function ffmpegFeatures(tools: FfmpegTools): Promise<FfmpegFeatures> {
  const { filters, encoders } = await capabilities(tools.ffmpeg);
  return { filters, encoders };
}

export interface RunFfmpegOptions {
  /** The file the run is about, named in the error. */
  subject: string;
  /** What FFmpeg was doing, for the error: "mixing". */
  doing: string;
  suggestion: string;
  signal?: AbortSignal;
}

/**
 * Runs FFmpeg with the given arguments (several inputs and outputs allowed) and returns its stderr, where
 * filters such as ebur128 report. Rejects with FfmpegFailed quoting FFmpeg's own reason.
 */
export async function runFfmpeg(tools: FfmpegTools, args: string[], options: RunFfmpegOptions): Promise<string> {
  const { exitCode, stderr } = await execFfmpeg(tools, args, options.signal);
  if (exitCode !== 0) {
    throw new VoicestudioError(ErrorCode.FfmpegFailed, `${options.subject}: FFmpeg failed while ${options.doing} (${ffmpegReason(stderr) ?? `exit ${String(exitCode)}`}).`, {
      subject: options.subject,
      suggestion: options.suggestion,
    });
  }
  return stderr;
}

/**
 * voicestudio's mark on the files it renders (conversions, mixes), so that ingest can tell them from recordings
 * wherever they end up. `encoded_by` survives in WAV, FLAC and MP3; MP4/M4A keep only the comment, so both are set.
 */
const OUTPUT_MARK = 'voicestudio';
export type RenderKind = 'conversion' | 'mix';

/** FFmpeg output options that mark a render as voicestudio's. */
export function renderTagOptions(kind: RenderKind): string[] {
  return ['-metadata', `encoded_by=${OUTPUT_MARK}`, '-metadata', `comment=${OUTPUT_MARK} ${kind}`];
}

/** What kind of voicestudio render a probed file is, or undefined for anything else. */
export function renderKindOf(probe: Pick<MediaProbe, 'tags'>): RenderKind | 'render' | undefined {
  const kind = new RegExp(`^${OUTPUT_MARK} (conversion|mix)$`).exec(probe.tags.comment ?? '')?.[1] as RenderKind | undefined;
  return kind ?? (probe.tags.encoded_by === OUTPUT_MARK ? 'render' : undefined);
}
