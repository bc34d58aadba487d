/**
 * `convert`: guide vocals into the model's voice. Each conversion is keyed by (input content, model,
 * settings): one done before is copied from the project's cache without a GPU job. Inputs travel as 16 kHz
 * mono FLAC — Applio analyses its input at 16 kHz, so nothing it uses is lost — inline when small.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, VoicestudioError } from '../errors.js';
import type { Backend } from '../runpod/backend.js';
import { isEndpointUnusable, JobFailedError } from '../runpod/errors.js';
import { ensureUploaded, saveWorkerFile } from '../runpod/transfer.js';
import type { WorkerProgress } from '../runpod/types.js';
import { mapLimit } from '../util/concurrency.js';
import { runEncode, type FfmpegTools } from '../audio/ffmpeg.js';
import { CONVERT_SETTINGS, type ConvertSettings } from '../tasks/convert.js';
import { wireValues } from '../tasks/settings.js';
import { convertOutput, type ConvertInput, type FileRef } from '../tasks/wire.js';
import { produceAtomically, sha256File, sha256Text, pathExists } from '../util/files.js';
import { followRemoteJob, jobCharges, runRemoteJob, sendInput } from './remote-job.js';
import { updateJob } from '../project/ledger.js';
import { conversionsDir } from '../project/layout.js';
import type { ResolvedModel } from '../project/models.js';
import { deliverConversion, guideTiming, MASTER_FORMAT } from '../audio/deliver.js';

/** Bump when what a conversion produces for the same key changes. 2: the cache keeps a FLAC master, whatever the format. */
const CONVERT_CACHE_VERSION = 2;

export type { ConvertSettings };

export interface ConvertItem {
  input: string;
  output: string;
  status: 'converted' | 'cached' | 'failed';
  jobId?: string;
  gpuSeconds?: number;
  costUsd?: number;
  bytesSent?: number;
  error?: string;
  /** The conversion's cache key, and its file in the project's cache (set once the key is known). */
  key?: string;
  cache?: string;
  /** For a failed item: the error's code, and whether running it again may succeed (a lost job, an outage). */
  code?: string;
  transient?: boolean;
}

export interface ConvertOptions {
  projectDir: string;
  /** `sha256`: the input's, when the caller has hashed it already. */
  inputs: { input: string; output: string; sha256?: string }[];
  model: ResolvedModel;
  settings: ConvertSettings;
  backend: Backend;
  pricePerHour: number;
  tools: FfmpegTools;
  concurrency: number;
  cancelOnInterrupt: boolean;
  signal?: AbortSignal;
  onEvent?: (event: { input: string; stage: string; progress?: WorkerProgress }) => void;
  /** A model already hashed (and uploaded on first use) by the caller, shared by several convert() calls. */
  preparedModel?: PreparedModel;
}

export interface ConvertResult {
  model: string;
  items: ConvertItem[];
  failed: number;
  gpuSeconds: number;
  costUsd: number;
}

/** The GPU work's key: the output format is not part of it, since every format is encoded here from the cached master. */
export function conversionKey(inputSha: string, modelSha: string, indexSha: string | undefined, settings: ConvertSettings): string {
  const { format: _deliveredAs, ...gpuSettings } = settings;
  return sha256Text(JSON.stringify({ v: CONVERT_CACHE_VERSION, inputSha, modelSha, indexSha: indexSha ?? null, settings: gpuSettings })).slice(0, 32);
}

/** `key`: the conversion's cache key, sent as the worker's request key so that a duplicate submit costs no second conversion. */
export function convertInput(settings: ConvertSettings, model: FileRef, index: FileRef | undefined, input: FileRef, key: string): ConvertInput {
  return {
    task: 'convert',
    request_key: key,
    model,
    ...(index === undefined ? {} : { index }),
    input,
    ...wireValues(CONVERT_SETTINGS, settings),
    output_format: MASTER_FORMAT,
  };
}

/** The worker's references to a model's files, once they are in its blob store. */
export interface ModelRefs {
  model: FileRef;
  index?: FileRef;
}

/** A model's hashes, and its upload: done once, on first use, and tried again on a later use if it failed. */
export interface PreparedModel {
  modelSha: string;
  indexSha: string | undefined;
  upload(): Promise<ModelRefs>;
}

/**
 * Without a network volume nothing can be stored on the endpoint, but a job whose files all travel inline
 * still runs: a model this small leaves room in the worker's 6 MiB inline budget for a 4 MiB input.
 */
const INLINE_MODEL_MAX_BYTES = 2 * 1024 * 1024;

function isNoVolumeError(error: unknown): boolean {
  return error instanceof JobFailedError && /network volume/i.test(error.workerMessage);
}

/** The model as inline data when the endpoint has no volume and it is small enough; otherwise a clear error. */
async function inlineModelRefs(model: ResolvedModel, cause: unknown): Promise<ModelRefs> {
  const files = [model.pth, ...(model.index === undefined ? [] : [model.index])];
  const bytes = (await Promise.all(files.map(async (f) => (await stat(f)).size))).reduce((a, b) => a + b, 0);
  if (bytes > INLINE_MODEL_MAX_BYTES) {
    throw new VoicestudioError(ErrorCode.Config, `The endpoint has no network volume, and model ${model.label} (${(bytes / 1e6).toFixed(1)} MB) is too large to send inside a job (${INLINE_MODEL_MAX_BYTES / 2 ** 20} MiB at most).`, {
      subject: model.label,
      suggestion: 'Attach a network volume to the endpoint (gpu/README.md, "Create the endpoint"); voicestudio doctor shows whether it is mounted.',
      cause,
    });
  }
  const [pth, index] = await Promise.all(files.map(async (f) => ({ data: (await readFile(f)).toString('base64') })));
  return { model: pth!, ...(index === undefined ? {} : { index }) };
}

export async function prepareModel(backend: Backend, model: ResolvedModel, signal?: AbortSignal): Promise<PreparedModel> {
  const [modelSha, indexSha] = await Promise.all([sha256File(model.pth, signal), model.index === undefined ? undefined : sha256File(model.index, signal)]);
  let refs: Promise<ModelRefs> | undefined;
  const files = [model.pth, ...(model.index === undefined ? [] : [model.index])];
  return {
    modelSha,
    indexSha,
    upload: () =>
      (refs ??= ensureUploaded(backend.runTask, files, signal === undefined ? {} : { signal }).then(
        () => ({ model: { blob: modelSha }, ...(indexSha === undefined ? {} : { index: { blob: indexSha } }) }),
        (error: unknown) => {
          if (isNoVolumeError(error)) return inlineModelRefs(model, error);
          refs = undefined;
          throw error;
        },
      )),
  };
}

/** Error codes after which the same work may succeed when simply done again: the job or its result was lost, or the API was out. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  ErrorCode.JobTimedOut,
  ErrorCode.JobOutputMissing,
  ErrorCode.RunpodJobExpired,
  ErrorCode.RunpodServerError,
  ErrorCode.RunpodConnection,
  ErrorCode.RunpodTimeout,
  ErrorCode.RunpodRateLimited,
  ErrorCode.RunpodWorkersThrottled,
  ErrorCode.WaitDeadline,
  // Every paid job is idempotent on the worker (run id, request key): sending it again costs no second job's work.
  ErrorCode.JobSubmitUnknown,
]);

/**
 * Whether a failure may go away when the same work is done again: an outage, a lost or timed-out job, or a
 * worker that crashed (runpod-python reports a raised exception with its traceback). A worker's own verdict on
 * the input or an auth error is final.
 */
export function isTransientFailure(error: unknown): boolean {
  if (!(error instanceof VoicestudioError)) return false;
  if (TRANSIENT_CODES.has(error.code)) return true;
  return error.code === ErrorCode.JobFailed && (error as { traceback?: unknown }).traceback !== undefined;
}

/** Where a finished conversion is kept in the project. */
export function cachePath(projectDir: string, key: string, format: string): string {
  return path.join(conversionsDir(projectDir), `${key}.${format}`);
}


/** The analysis input Applio needs: 16 kHz mono FLAC (a 4-minute vocal is about 3 MB). */
async function prepareInput(tools: FfmpegTools, input: string, dest: string, signal?: AbortSignal): Promise<void> {
  await runEncode(tools, {
    input,
    outputOptions: ['-map', '0:a:0', '-vn', '-ac', '1', '-ar', '16000', '-c:a', 'flac', '-compression_level', '8', '-f', 'flac'],
    output: dest,
    ...(signal === undefined ? {} : { signal }),
  });
}

/** What a conversion job was asked for, kept in its ledger record so any later run can collect it. */
export interface ConversionRequest {
  key: string;
  output: string;
  format: ConvertSettings['format'];
  /** The guide: the output gets its sample rate and exact length (absent in records of older versions). */
  input?: string;
  /** The model's label, for cost summaries. */
  model: string;
}

/**
 * Follows a conversion job to its end: the result goes into the project's cache, marked as voicestudio's render
 * (so ingest does not take it for a recording), then to `output`.
 */
export async function collectConversion(
  backend: Backend,
  projectDir: string,
  jobId: string,
  request: ConversionRequest,
  options: { tools: FfmpegTools; pricePerHour: number; cancelOnInterrupt: boolean; signal?: AbortSignal; onProgress?: (progress: WorkerProgress) => void },
): Promise<{ jobId: string; gpuSeconds?: number; costUsd?: number }> {
  const signalOption = options.signal === undefined ? {} : { signal: options.signal };
  const done = await followRemoteJob(backend, projectDir, jobId, { task: 'convert', key: request.key, label: path.basename(request.output), request: { ...request } }, {
    long: false,
    pricePerHour: options.pricePerHour,
    cancelOnInterrupt: options.cancelOnInterrupt,
    resumeHint: 'the same voicestudio convert command',
    ...signalOption,
    ...(options.onProgress === undefined ? {} : { onProgress: (progress: WorkerProgress) => options.onProgress?.(progress) }),
  });
  const cached = cachePath(projectDir, request.key, MASTER_FORMAT);
  const { output } = convertOutput(done.output, { jobId: done.jobId, subject: request.input ?? request.output });
  // In the cache first: the ledger already says the job completed, and a run stopped from here on finds the result
  // there instead of paying for it again. The cache is never scanned by ingest; the delivered copy carries the mark.
  await produceAtomically(cached, (fetched) => saveWorkerFile(backend.runTask, output, fetched, signalOption));
  await mkdir(path.dirname(request.output), { recursive: true });
  const guide = request.input === undefined ? undefined : await guideTiming(options.tools, request.input);
  await deliverConversion(options.tools, cached, request.output, request.format, guide, options.signal);
  await updateJob(projectDir, done.jobId, { result: { output: request.output, cache: path.relative(projectDir, cached) } });
  return { jobId: done.jobId, ...jobCharges(done) };
}

export async function convert(options: ConvertOptions): Promise<ConvertResult> {
  const { projectDir, backend, settings } = options;
  const signalOption = options.signal === undefined ? {} : { signal: options.signal };
  // The model goes up once, and only if some input actually needs the GPU.
  const prepared = options.preparedModel ?? (await prepareModel(backend, options.model, options.signal));
  const { modelSha, indexSha } = prepared;
  const uploadModel = (): Promise<ModelRefs> => prepared.upload();
  const work = conversionsDir(projectDir);
  await mkdir(work, { recursive: true });

  const convertOne = async ({ input, output, sha256 }: { input: string; output: string; sha256?: string }): Promise<ConvertItem> => {
    const event = (stage: string, progress?: WorkerProgress): void => options.onEvent?.({ input, stage, ...(progress === undefined ? {} : { progress }) });
    let known: { key: string; cache: string } | undefined;
    try {
      if (!(await pathExists(input))) throw new VoicestudioError(ErrorCode.MediaUnreadable, `${input}: no such file.`, { subject: input, suggestion: 'Check the path.' });
      const key = conversionKey(sha256 ?? (await sha256File(input, options.signal)), modelSha, indexSha, settings);
      const cached = cachePath(projectDir, key, MASTER_FORMAT);
      known = { key, cache: cached };
      const fromCache = async (): Promise<ConvertItem | undefined> => {
        if (!(await pathExists(cached))) return undefined;
        await mkdir(path.dirname(output), { recursive: true });
        await deliverConversion(options.tools, cached, output, settings.format, await guideTiming(options.tools, input), options.signal);
        event('cached');
        return { input, output, status: 'cached', ...known };
      };
      const request: ConversionRequest = { key, output, format: settings.format, input, model: options.model.label };
      let bytesSent = 0;
      return await runRemoteJob<ConvertItem>({
        projectDir,
        backend,
        job: { task: 'convert', key, label: path.basename(input), request: { ...request } },
        ...signalOption,
        finished: fromCache,
        submit: async (sending) => {
          event('preparing');
          // The model before the input: without a network volume, a model too large to travel inline is the error to report.
          const refs = await uploadModel();
          const input16k = await sendInput(backend, work, key, async (dest) => {
            await prepareInput(options.tools, input, dest, options.signal);
            return dest;
          }, options.signal);
          bytesSent = input16k.bytesSent;
          sending();
          return await backend.submit(convertInput(settings, refs.model, refs.index, input16k.ref, key), signalOption);
        },
        onJob: (_jobId, reattached) => {
          if (reattached) event('reattached');
          event('converting');
        },
        collect: async (jobId) => {
          const collected = await collectConversion(backend, projectDir, jobId, request, {
            tools: options.tools,
            pricePerHour: options.pricePerHour,
            cancelOnInterrupt: options.cancelOnInterrupt,
            ...signalOption,
            onProgress: (progress) => event('converting', progress),
          });
          event('done');
          return { input, output, status: 'converted', bytesSent, ...collected, ...known };
        },
      });
    } catch (error) {
      // An unusable endpoint ends the whole command once, instead of failing each input the same way.
      if (options.signal?.aborted || isEndpointUnusable(error)) throw error;
      if (!(error instanceof VoicestudioError)) throw error;
      event('failed');
      return {
        input,
        output,
        status: 'failed',
        error: `${error.message}${error.suggestion === undefined ? '' : ` (${error.suggestion})`}`,
        ...known,
        code: error.code,
        transient: isTransientFailure(error),
      };
    }
  };

  const items = await mapLimit(options.inputs, options.concurrency, convertOne, options.signal);
  return {
    model: options.model.label,
    items,
    failed: items.filter((i) => i.status === 'failed').length,
    gpuSeconds: Math.round(items.reduce((sum, i) => sum + (i.gpuSeconds ?? 0), 0) * 10) / 10,
    costUsd: Math.round(items.reduce((sum, i) => sum + (i.costUsd ?? 0), 0) * 1e6) / 1e6,
  };
}
