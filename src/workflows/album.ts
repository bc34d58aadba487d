/**
 * `batch`: an album through the GPU. Each track is an input with its own settings; tracks run concurrently, with
 * at most `concurrency` GPU jobs submitted at a time, while the next tracks are hashed and prepared locally so a
 * worker that frees up gets its next job at once. The model is uploaded once.
 *
 * Nothing is done twice: separations, conversions and mixes are cached by content and settings, and every GPU job
 * is in the ledger before it is waited on (remote-job.ts), so a re-run of a finished album submits no job
 * and a re-run after a crash or kill collects the jobs still running instead of paying for them again. Within one
 * run, two tracks that need the same work take turns, so the second finds it cached.
 *
 * A failing track does not stop the others (unless failFast); failures that may go away (a lost job, an outage, a
 * crashed worker) are retried.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, ExitCode, UsageError, VoicestudioError } from '../errors.js';
import type { Backend } from '../runpod/backend.js';
import type { WorkerProgress } from '../runpod/types.js';
import { OUTPUT_FORMATS } from '../tasks/convert.js';
import type { Plan, SettingsPatch, TrackSettings } from '../tasks/plan.js';
import { cachePath, conversionKey, convert, isTransientFailure, prepareModel, type ConvertSettings, type PreparedModel } from './convert.js';
import { isEndpointUnusable } from '../runpod/errors.js';
import { MASTER_FORMAT } from '../audio/deliver.js';
import { probeMedia, type FfmpegTools } from '../audio/ffmpeg.js';
import { sha256File, tempSibling } from '../util/files.js';
import { keyedTurns, semaphore } from '../util/concurrency.js';
import { AUDIO_EXTENSIONS, VIDEO_EXTENSIONS } from './ingest.js';
import { mixesDir } from '../project/layout.js';
import { mixTrack, type MixResult } from '../audio/mix.js';
import type { ResolvedModel } from '../project/models.js';
import { separate, type SeparationOutcome } from './separate.js';

// ------------------------------------------------------------------------------------------------ settings ----

export function applyPatch(base: TrackSettings, patch: SettingsPatch): TrackSettings {
  const { mixSettings, ...rest } = patch;
  const next: TrackSettings = { ...base, mixSettings: { ...base.mixSettings, ...mixSettings } };
  for (const [key, value] of Object.entries(rest)) if (value !== undefined) (next as unknown as Record<string, unknown>)[key] = value;
  return next;
}

/** The settings a track's result depends on, as reported (mix settings only when it is mixed). */
export function describeSettings(settings: TrackSettings): Record<string, unknown> {
  const { mixSettings, instrumental, ...rest } = settings;
  return { ...rest, ...(instrumental === undefined ? {} : { instrumental }), mixSettings: settings.mix ? mixSettings : null };
}

/** What is wrong with a combination of settings, or undefined. */
export function settingsConflict(settings: TrackSettings): string | undefined {
  if (settings.separate && settings.instrumental !== undefined) return 'both "separate" and "instrumental" are set: an instrumental you give is mixed as it is, so leave out "separate" (or "instrumental")';
  if (settings.mix && !settings.separate && settings.instrumental === undefined) return 'mixing needs an instrumental: separate the input ("separate": true, --separate) or name one ("instrumental": "<file>")';
  if (!settings.mix && settings.instrumental !== undefined) return '"instrumental" is only used for mixing: add "mix": true (or --mix), or leave it out';
  return undefined;
}

// ------------------------------------------------------------------------------------------ the track list ----

export interface BatchTrack {
  /** 0-based position in the album. */
  index: number;
  input: string;
  output: string;
  settings: TrackSettings;
  /** Where the track came from, for messages: "album.json tracks[2]" or the command line. */
  origin: string;
}

const MAX_PROBLEMS = 20;

const MEDIA_EXTENSIONS: ReadonlySet<string> = new Set([...AUDIO_EXTENSIONS, ...VIDEO_EXTENSIONS]);
const natural = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** Media files under `dir`, recursively, in natural order ("2 …" before "10 …"); hidden entries and `skip` are left out. */
async function mediaFilesIn(dir: string, skip: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  const walk = async (current: string): Promise<void> => {
    const entries = await readdir(current, { withFileTypes: true });
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(current, entry.name);
      if (skip.includes(full)) continue;
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile() && MEDIA_EXTENSIONS.has(path.extname(entry.name).toLowerCase())) found.push(full);
    }
  };
  await walk(dir);
  return found.sort((a, b) => natural.compare(path.relative(dir, a), path.relative(dir, b)));
}

export interface TrackListOptions {
  /** Files or folders from the command line (relative to cwd). */
  inputs: string[];
  plan?: Plan;
  cwd: string;
  outDir: string;
  /** Built-in defaults with the command line's values. */
  base: TrackSettings;
  /** Only the options given explicitly on the command line: they win over a plan's defaults, not over a track's own. */
  explicit: SettingsPatch;
  /** Folders never scanned for inputs (the project's work folder is hidden anyway). */
  skipDirs?: string[];
}

function outputExtension(settings: TrackSettings): string {
  return settings.mix ? settings.mixSettings.format : settings.format;
}

/** `name` with the track's output extension (added, or checked when it has an audio extension already). */
function withExtension(name: string, settings: TrackSettings): string | { error: string } {
  const want = outputExtension(settings);
  const ext = path.extname(name).slice(1).toLowerCase();
  if (ext === want) return name;
  if ((OUTPUT_FORMATS as readonly string[]).includes(ext) || MEDIA_EXTENSIONS.has(`.${ext}`)) {
    return { error: `ends in .${ext} but the track is written as ${want}${settings.mix ? ' (the mix format)' : ''}; name it ${path.basename(name, path.extname(name))}.${want} or leave the extension out` };
  }
  return `${name}.${want}`;
}

/**
 * The album: plan tracks (plan defaults, then explicit command-line options, then the track's own settings) and
 * command-line inputs (folders expanded, in natural order), each with its output path in `outDir`. Throws a
 * UsageError for conflicting settings or two tracks writing one file.
 */
export async function buildTrackList(options: TrackListOptions): Promise<BatchTrack[]> {
  const tracks: BatchTrack[] = [];
  const problems: string[] = [];
  const outDir = path.resolve(options.cwd, options.outDir);
  const add = (input: string, name: string, settings: TrackSettings, origin: string): void => {
    const conflict = settingsConflict(settings);
    if (conflict !== undefined) {
      problems.push(`${origin}: ${conflict}`);
      return;
    }
    const file = withExtension(name, settings);
    if (typeof file !== 'string') {
      problems.push(`${origin}: the output name ${file.error}`);
      return;
    }
    tracks.push({ index: tracks.length, input, output: path.join(outDir, file), settings, origin });
  };

  if (options.plan !== undefined) {
    const plan = options.plan;
    const albumBase = applyPatch(applyPatch(options.base, plan.defaults), options.explicit);
    for (const track of plan.tracks) {
      const settings = applyPatch(albumBase, track.patch);
      add(track.input, track.output ?? path.basename(track.input, path.extname(track.input)), settings, `${path.basename(plan.file)} ${track.where}`);
    }
  }
  const skip = [outDir, ...(options.skipDirs ?? [])];
  for (const given of options.inputs) {
    const input = path.resolve(options.cwd, given);
    const info = await stat(input).catch(() => undefined);
    if (info?.isDirectory() === true) {
      const files = await mediaFilesIn(input, skip);
      if (files.length === 0) problems.push(`${given}: a folder with no audio or video files (${[...MEDIA_EXTENSIONS].join(' ')})`);
      for (const file of files) {
        const relative = path.relative(input, file);
        add(file, path.join(path.dirname(relative), path.basename(relative, path.extname(relative))), options.base, given);
      }
    } else {
      // A missing file is that track's failure, reported with the others, not a reason to stop the album.
      add(input, path.basename(input, path.extname(input)), options.base, given);
    }
  }
  const byOutput = new Map<string, BatchTrack>();
  for (const track of tracks) {
    const key = track.output.toLowerCase();
    const other = byOutput.get(key);
    if (other !== undefined) problems.push(`${track.origin} and ${other.origin} would both write ${path.relative(options.cwd, track.output) || track.output} (from ${path.basename(other.input)} and ${path.basename(track.input)}); give one an "output" name in a plan file`);
    else byOutput.set(key, track);
    if (path.resolve(track.input) === path.resolve(track.output)) problems.push(`${track.origin}: the output ${track.output} is the input itself; choose another --out-dir`);
  }
  if (problems.length > 0) {
    throw new UsageError(problems.length === 1 ? `${problems[0]}.` : `${problems.length} problems with the tracks:\n  ${problems.slice(0, MAX_PROBLEMS).join('\n  ')}`, 'Fix the inputs or the plan file and run the command again.');
  }
  if (tracks.length === 0) throw new UsageError('No tracks: give audio files or folders, or --plan <album.json>.', 'e.g. voicestudio batch ./songs --model alice --out-dir ./album');
  return tracks;
}

// ----------------------------------------------------------------------------------------------- running ----

export type TrackStatus = 'converted' | 'cached' | 'failed' | 'skipped';

export interface TrackJob {
  task: 'separate' | 'convert';
  id: string;
  /** Collected from an earlier run instead of being submitted now. */
  reattached: boolean;
  gpuSeconds?: number;
  costUsd?: number;
}

export interface TrackResult {
  /** 1-based position in the album. */
  track: number;
  input: string;
  output: string;
  status: TrackStatus;
  /** True when no GPU job was submitted or collected for this track: everything came from the cache. */
  cached: boolean;
  attempts: number;
  gpuSeconds: number;
  costUsd: number;
  jobs: TrackJob[];
  settings: Record<string, unknown>;
  /** The separated stems in the project's cache. */
  stems?: { vocals: string; instrumental: string; status: SeparationOutcome['status'] };
  mix?: Omit<MixResult, 'output'>;
  warnings: string[];
  error?: string;
  errorCode?: string;
}

export interface BatchResult {
  model: string;
  /** Endpoint id, or "local". */
  target: string;
  concurrency: number;
  total: number;
  converted: number;
  cached: number;
  failed: number;
  skipped: number;
  gpuSeconds: number;
  costUsd: number;
  wallSeconds: number;
  tracks: TrackResult[];
}

export type BatchStage = 'start' | 'probe' | 'separate' | 'convert' | 'mix' | 'retry' | 'done' | 'failed' | 'skipped';

export interface BatchEvent {
  track: BatchTrack;
  stage: BatchStage;
  /** Words for a person, e.g. "reattached to job …", "from cache". */
  detail: string;
  /** Steps of this track done so far, of `steps`. */
  step: number;
  steps: number;
  progress?: WorkerProgress;
  result?: TrackResult;
}

export interface BatchOptions {
  projectDir: string;
  tracks: BatchTrack[];
  model: ResolvedModel;
  backend: Backend;
  tools: FfmpegTools;
  pricePerHour: number;
  /** GPU jobs in flight at once. */
  concurrency: number;
  /** Further attempts of a track after a failure that may go away. */
  retries: number;
  /** First pause before a retry; it doubles with each (default 1 s). */
  retryDelayMs?: number;
  failFast: boolean;
  cancelOnInterrupt: boolean;
  signal?: AbortSignal;
  onEvent?: (event: BatchEvent) => void;
}

/**
 * The backend with GPU jobs (convert, separate) limited to `limit` at once: a slot is taken before the submit and
 * given back when waiting on the job ends; a job an earlier run started takes one when waited on. Small tasks
 * (blob transfers) pass freely.
 */
export function gatedBackend(inner: Backend, limit: number): Backend & { busy: Promise<void> } {
  const take = semaphore(limit);
  const held = new Map<string, () => void>();
  let markBusy: () => void = () => {};
  const busy = new Promise<void>((resolve) => (markBusy = resolve));
  let inUse = 0;
  const acquire = async (signal?: AbortSignal): Promise<() => void> => {
    const release = await take(signal);
    if (++inUse >= limit) markBusy();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      inUse -= 1;
      release();
    };
  };
  return {
    /** Resolves the first time every slot is taken. */
    busy,
    kind: inner.kind,
    target: inner.target,
    runTask: inner.runTask,
    cancel: (jobId) => inner.cancel(jobId),
    async submit(input, options = {}) {
      if (input.task !== 'convert' && input.task !== 'separate') return inner.submit(input, options);
      const release = await acquire(options.signal);
      try {
        const id = await inner.submit(input, options);
        held.set(id, release);
        return id;
      } catch (error) {
        release();
        throw error;
      }
    },
    async wait(jobId, options = {}) {
      let release = held.get(jobId);
      held.delete(jobId);
      release ??= await acquire(options.signal);
      try {
        return await inner.wait(jobId, options);
      } finally {
        release();
      }
    },
  };
}

/** A failed conversion, rebuilt from convert()'s item so its code and transience survive. */
class ConversionFailure extends VoicestudioError {
  readonly transient: boolean;
  constructor(message: string, code: string | undefined, transient: boolean) {
    super((code ?? ErrorCode.JobFailed) as ErrorCode, message);
    this.name = 'ConversionFailure';
    this.transient = transient;
  }
}

function transient(error: unknown): boolean {
  return error instanceof ConversionFailure ? error.transient : isTransientFailure(error);
}

function describeError(error: unknown): { message: string; code: string } {
  if (error instanceof ConversionFailure) return { message: error.message, code: error.code };
  if (error instanceof VoicestudioError) return { message: `${error.message}${error.suggestion === undefined ? '' : ` (${error.suggestion})`}`, code: error.code };
  return { message: `internal error: ${error instanceof Error ? error.message : String(error)} (this is a bug in voicestudio; re-run with --verbose and report it)`, code: ErrorCode.Internal };
}

const round = (value: number, digits: number): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** Runs the album. Rejects when interrupted (exit 130), when the endpoint itself is unusable (wrong id or key, no balance), or on a bug; track failures are in the result. */
export async function runBatch(options: BatchOptions): Promise<BatchResult> {
  const started = Date.now();
  const { tracks, signal, tools, projectDir } = options;
  const backend = gatedBackend(options.backend, options.concurrency);
  const turns = keyedTurns();
  const emit = options.onEvent ?? (() => {});
  const signalOption = signal === undefined ? {} : { signal };
  let model: Promise<PreparedModel> | undefined;
  const preparedModel = (): Promise<PreparedModel> => (model ??= prepareModel(backend, options.model, signal).catch((error: unknown) => {
    model = undefined;
    throw error;
  }));

  const attemptTrack = async (track: BatchTrack, result: TrackResult, report: (stage: BatchStage, detail: string, progress?: WorkerProgress) => void): Promise<void> => {
    const { settings } = track;
    report('probe', 'checking the input');
    if ((await stat(track.input).catch(() => undefined))?.isFile() !== true) {
      throw new VoicestudioError(ErrorCode.MediaUnreadable, `${track.input}: no such file.`, { subject: track.input, suggestion: 'Check the path (plan paths are relative to the plan file).' });
    }
    const [probe, inputSha] = await Promise.all([probeMedia(tools, track.input), sha256File(track.input, signal)]);
    if (probe.audioStreams.length === 0) {
      throw new VoicestudioError(ErrorCode.MediaUnreadable, `${track.input} has no audio stream.`, { subject: track.input, suggestion: 'Give an audio file, or a video with a soundtrack.' });
    }

    let vocals = track.input;
    let vocalsSha = inputSha;
    let instrumental: { file: string; id: string } | undefined;
    if (settings.separate) {
      report('separate', 'separating vocals and instrumental');
      const outcome = await turns(`separate:${inputSha}`, () =>
        separate({
          projectDir,
          input: track.input,
          inputSha,
          probe,
          backend,
          tools,
          pricePerHour: options.pricePerHour,
          cancelOnInterrupt: options.cancelOnInterrupt,
          ...signalOption,
          onEvent: (event) => {
            if (event.stage === 'cached') report('separate', 'stems from cache');
            else if (event.stage === 'recovered') report('separate', 'stems fetched from an earlier job');
            else if (event.stage === 'reattached') report('separate', 'reattached to a running separation job');
            else if (event.stage === 'submitted') report('separate', 'separation job submitted');
            else if (event.stage === 'separating' && event.progress !== undefined) report('separate', `separating: ${event.progress.message ?? event.progress.stage}`, event.progress);
            else if (event.stage === 'downloading') report('separate', 'fetching the stems');
          },
        }),
      );
      result.stems = { ...outcome.stems, status: outcome.status };
      if (outcome.jobId !== undefined && (outcome.status === 'separated' || outcome.status === 'reattached')) {
        result.jobs.push({ task: 'separate', id: outcome.jobId, reattached: outcome.status === 'reattached', ...(outcome.gpuSeconds === undefined ? {} : { gpuSeconds: outcome.gpuSeconds }), ...(outcome.costUsd === undefined ? {} : { costUsd: outcome.costUsd }) });
      }
      vocals = outcome.stems.vocals;
      vocalsSha = await sha256File(vocals, signal);
      instrumental = { file: outcome.stems.instrumental, id: `separation:${outcome.key}` };
    } else if (settings.mix && settings.instrumental !== undefined) {
      const file = settings.instrumental;
      if ((await stat(file).catch(() => undefined))?.isFile() !== true) {
        throw new VoicestudioError(ErrorCode.MediaUnreadable, `${file} (the instrumental of ${path.basename(track.input)}): no such file.`, { subject: file, suggestion: 'Check the path (plan paths are relative to the plan file).' });
      }
      instrumental = { file, id: `file:${await sha256File(file, signal)}` };
    }

    const prepared = await preparedModel();
    const convertSettings: ConvertSettings = { pitch: settings.pitch, indexRate: settings.indexRate, protect: settings.protect, volumeEnvelope: settings.volumeEnvelope, f0Method: settings.f0Method, format: settings.format };
    const key = conversionKey(vocalsSha, prepared.modelSha, prepared.indexSha, convertSettings);
    // A conversion the cache lacks needs the model on the worker: its upload starts now, alongside the input's preparation.
    if ((await stat(cachePath(projectDir, key, MASTER_FORMAT)).catch(() => undefined)) === undefined) prepared.upload().catch(() => {});
    // With a mix the converted vocals are an intermediate: they stay in the cache, and a temp copy is mixed.
    const convertOutput = settings.mix ? tempSibling(path.join(mixesDir(projectDir), `${key}.vocals.${settings.format}`)) : track.output;
    try {
      report('convert', 'converting');
      let reattached = false;
      const item = await turns(`convert:${key}`, async () =>
        (
          await convert({
            projectDir,
            inputs: [{ input: vocals, output: convertOutput, sha256: vocalsSha }],
            model: options.model,
            settings: convertSettings,
            backend,
            pricePerHour: options.pricePerHour,
            tools,
            concurrency: 1,
            cancelOnInterrupt: options.cancelOnInterrupt,
            ...signalOption,
            preparedModel: prepared,
            onEvent: (event) => {
              if (event.stage === 'cached') report('convert', 'conversion from cache');
              else if (event.stage === 'reattached') {
                reattached = true;
                report('convert', 'reattached to a running conversion job');
              } else if (event.stage === 'preparing') report('convert', 'preparing the input');
              else if (event.stage === 'converting') report('convert', event.progress === undefined ? 'waiting for a GPU worker' : `converting: ${event.progress.message ?? event.progress.stage}`, event.progress);
            },
          })
        ).items[0],
      );
      if (item === undefined) throw new Error('convert() returned no item');
      if (item.status === 'failed') throw new ConversionFailure(item.error ?? 'the conversion failed', item.code, item.transient === true);
      if (item.status === 'converted' && item.jobId !== undefined) {
        result.jobs.push({ task: 'convert', id: item.jobId, reattached, ...(item.gpuSeconds === undefined ? {} : { gpuSeconds: item.gpuSeconds }), ...(item.costUsd === undefined ? {} : { costUsd: item.costUsd }) });
      }
      if (settings.mix && instrumental !== undefined) {
        report('mix', 'mixing');
        const mixed = await turns(`mix:${track.output}`, () =>
          mixTrack({
            projectDir,
            tools,
            vocals: item.cache ?? convertOutput,
            vocalsId: `conversion:${item.key ?? key}`,
            instrumental: instrumental.file,
            instrumentalId: instrumental.id,
            settings: settings.mixSettings,
            pitch: settings.pitch,
            output: track.output,
            ...signalOption,
          }),
        );
        const { output: _output, ...mix } = mixed;
        result.mix = mix;
        result.warnings.push(...mixed.warnings);
        report('mix', mixed.cached ? 'mix from cache' : `mixed: ${mixed.lufs.toFixed(1)} LUFS, true peak ${mixed.truePeakDb.toFixed(1)} dBTP`);
      }
    } finally {
      if (settings.mix) await rm(convertOutput, { force: true });
    }
  };

  const runTrack = async (track: BatchTrack): Promise<TrackResult> => {
    const steps = 2 + (track.settings.separate ? 1 : 0) + (track.settings.mix ? 1 : 0);
    const order: BatchStage[] = ['probe', ...(track.settings.separate ? (['separate'] as const) : []), 'convert', ...(track.settings.mix ? (['mix'] as const) : [])];
    const report = (stage: BatchStage, detail: string, progress?: WorkerProgress): void => {
      const at = order.indexOf(stage);
      emit({ track, stage, detail, step: at < 0 ? 0 : at, steps, ...(progress === undefined ? {} : { progress }) });
    };
    const result: TrackResult = { track: track.index + 1, input: track.input, output: track.output, status: 'converted', cached: false, attempts: 0, gpuSeconds: 0, costUsd: 0, jobs: [], settings: describeSettings(track.settings), warnings: [] };
    emit({ track, stage: 'start', detail: 'started', step: 0, steps });
    for (;;) {
      result.attempts += 1;
      try {
        await attemptTrack(track, result, report);
        break;
      } catch (error) {
        // Ends the album (runBatch rethrows it once) rather than being reported against every track.
        if (signal?.aborted || isEndpointUnusable(error)) throw error;
        const { message, code } = describeError(error);
        if (transient(error) && result.attempts <= options.retries) {
          const delayMs = (options.retryDelayMs ?? 1_000) * 2 ** (result.attempts - 1);
          emit({ track, stage: 'retry', detail: `${message} — trying again in ${Math.round(delayMs / 100) / 10} s (attempt ${result.attempts + 1} of ${options.retries + 1})`, step: 0, steps });
          await sleep(delayMs, undefined, signalOption);
          continue;
        }
        result.status = 'failed';
        result.error = message;
        result.errorCode = code;
        break;
      }
    }
    result.gpuSeconds = round(result.jobs.reduce((sum, j) => sum + (j.gpuSeconds ?? 0), 0), 1);
    result.costUsd = round(result.jobs.reduce((sum, j) => sum + (j.costUsd ?? 0), 0), 6);
    if (result.status !== 'failed') {
      result.cached = result.jobs.length === 0;
      result.status = result.cached ? 'cached' : 'converted';
    }
    emit({ track, stage: result.status === 'failed' ? 'failed' : 'done', detail: result.status === 'failed' ? (result.error ?? '') : result.status, step: steps, steps, result });
    return result;
  };

  const results: (TrackResult | undefined)[] = new Array(tracks.length).fill(undefined);
  let next = 0;
  let stop = false;
  let interruption: unknown;
  let unusable: VoicestudioError | undefined;
  // More lanes than GPU slots: the extra ones hash, probe and prepare the next tracks while the GPU works. They
  // start once the GPU is busy (or the first tracks are over), so the first tracks get the CPU to themselves.
  const lanes = Math.max(1, Math.min(tracks.length, options.concurrency * 2));
  let firstRound = Math.min(lanes, options.concurrency);
  let startLookahead: () => void = () => {};
  const lookahead = new Promise<void>((resolve) => (startLookahead = resolve));
  void backend.busy.then(startLookahead);
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      if (lane >= options.concurrency) await Promise.race([lookahead, ...(signal === undefined ? [] : [new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))])]);
      let first = lane < options.concurrency;
      while (!stop && interruption === undefined && unusable === undefined && next < tracks.length) {
        const track = tracks[next++] as BatchTrack;
        if (signal?.aborted) break;
        try {
          const result = await runTrack(track);
          results[track.index] = result;
          if (result.status === 'failed' && options.failFast) stop = true;
        } catch (error) {
          if (isEndpointUnusable(error) && !(signal?.aborted ?? false)) unusable ??= error;
          else interruption ??= error;
        } finally {
          if (first && --firstRound === 0) startLookahead();
          first = false;
        }
      }
      if (first && --firstRound === 0) startLookahead();
    }),
  );
  if (interruption !== undefined || signal?.aborted) throw interruptedError(interruption, results, options);
  if (unusable !== undefined) throw unusable;

  const finished = tracks.map((track, i) => {
    const result = results[i];
    if (result !== undefined) return result;
    const skipped: TrackResult = {
      track: track.index + 1,
      input: track.input,
      output: track.output,
      status: 'skipped',
      cached: false,
      attempts: 0,
      gpuSeconds: 0,
      costUsd: 0,
      jobs: [],
      settings: describeSettings(track.settings),
      warnings: [],
      error: 'not started: --fail-fast stopped the album after a failure',
    };
    emit({ track, stage: 'skipped', detail: skipped.error ?? '', step: 0, steps: 1, result: skipped });
    return skipped;
  });
  const count = (status: TrackStatus): number => finished.filter((t) => t.status === status).length;
  return {
    model: options.model.label,
    target: options.backend.target,
    concurrency: options.concurrency,
    total: finished.length,
    converted: count('converted'),
    cached: count('cached'),
    failed: count('failed'),
    skipped: count('skipped'),
    gpuSeconds: round(finished.reduce((sum, t) => sum + t.gpuSeconds, 0), 1),
    costUsd: round(finished.reduce((sum, t) => sum + t.costUsd, 0), 6),
    wallSeconds: round((Date.now() - started) / 1000, 1),
    tracks: finished,
  };
}

/** Exit code of a finished album: 0 all done, 3 some failed (or skipped), 1 none done. */
export function batchExitCode(result: Pick<BatchResult, 'total' | 'failed' | 'skipped'>): ExitCode {
  const notDone = result.failed + result.skipped;
  if (notDone === 0) return ExitCode.Success;
  return notDone === result.total ? ExitCode.Failure : ExitCode.Partial;
}

function interruptedError(cause: unknown, results: (TrackResult | undefined)[], options: BatchOptions): VoicestudioError {
  const done = results.filter((r) => r !== undefined && r.status !== 'failed').length;
  const detached = cause instanceof VoicestudioError && cause.code === ErrorCode.Detached;
  const jobs = detached ? `, and the GPU jobs already submitted keep running on ${options.backend.target}` : options.cancelOnInterrupt ? ', and the running GPU jobs were cancelled' : '';
  return new VoicestudioError(detached ? ErrorCode.Detached : ErrorCode.Interrupted, `Interrupted; ${done} of ${options.tracks.length} tracks were finished${jobs}.`, {
    exitCode: ExitCode.Interrupted,
    suggestion: 'Run the same command again: finished tracks are skipped and running jobs are collected, so none is converted twice.',
    ...(cause === undefined ? {} : { cause }),
  });
}
