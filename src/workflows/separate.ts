/**
 * Vocal separation on the worker (task `separate`, gpu/README.md): a full mix in, vocals and instrumental stems
 * out. Stems are cached in the project by the input's content (`.voicestudio/separations/<key>/`), so a song is
 * separated once however often it is converted. Like conversions, every job is written to the ledger before it is
 * waited on, and a later run reattaches to it instead of paying twice.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Backend } from '../runpod/backend.js';
import { saveWorkerFile } from '../runpod/transfer.js';
import type { WorkerProgress } from '../runpod/types.js';
import { SEPARATE_SETTINGS } from '../tasks/separate.js';
import { wireValues } from '../tasks/settings.js';
import { separateOutput, type SeparateInput, type SeparateOutput } from '../tasks/wire.js';
import { probeMedia, runEncode, type FfmpegTools, type MediaProbe } from '../audio/ffmpeg.js';
import { separationInputJob } from '../audio/separation-input.js';
import { sha256File, sha256Text } from '../util/files.js';
import { followRemoteJob, jobCharges, runRemoteJob, sendInput } from './remote-job.js';
import { ledger, updateJob } from '../project/ledger.js';
import { readManifest } from '../project/manifest.js';
import { separationsDir } from '../project/layout.js';
import type { Manifest } from '../project/types.js';

/** Bump when what a separation produces for the same input changes (e.g. another model in the image). */
const SEPARATION_CACHE_VERSION = 1;
const STEM_FORMAT = SEPARATE_SETTINGS.outputFormat.default;

export interface Stems {
  vocals: string;
  instrumental: string;
}

export interface SeparationOutcome {
  key: string;
  stems: Stems;
  /**
   * separated: a job ran now; reattached: a job an earlier run started was collected; recovered: an earlier job's
   * stems were fetched from the worker's store; cached: nothing was needed.
   */
  status: 'separated' | 'reattached' | 'recovered' | 'cached';
  jobId?: string;
  gpuSeconds?: number;
  costUsd?: number;
  bytesSent?: number;
}

/** What a separation job was asked for, kept in its ledger record so any later run can collect it. */
export interface SeparationRequest {
  key: string;
  input: string;
}

export interface SeparateOptions {
  projectDir: string;
  input: string;
  /** The input's sha256, when the caller has it already. */
  inputSha?: string;
  /** The input's probe, when the caller has it already. */
  probe?: MediaProbe;
  backend: Backend;
  tools: FfmpegTools;
  pricePerHour: number;
  cancelOnInterrupt: boolean;
  signal?: AbortSignal;
  onEvent?: (event: { stage: 'cached' | 'recovered' | 'preparing' | 'submitted' | 'reattached' | 'separating' | 'downloading' | 'done'; progress?: WorkerProgress }) => void;
}

export function separationKey(inputSha: string): string {
  return sha256Text(JSON.stringify({ v: SEPARATION_CACHE_VERSION, task: 'separate', inputSha, stems: 'both', format: STEM_FORMAT })).slice(0, 32);
}

export function separationStems(projectDir: string, key: string): Stems {
  const dir = path.join(separationsDir(projectDir), key);
  return { vocals: path.join(dir, `vocals.${STEM_FORMAT}`), instrumental: path.join(dir, `instrumental.${STEM_FORMAT}`) };
}

async function exists(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined)) !== undefined;
}

/** Both stems of an earlier separation, if the cache has them. */
export async function cachedStems(projectDir: string, key: string): Promise<Stems | undefined> {
  const stems = separationStems(projectDir, key);
  return (await exists(stems.vocals)) && (await exists(stems.instrumental)) ? stems : undefined;
}

/** The file to send: the input itself, or the encode separationInputJob asks for. */
async function prepareInput(tools: FfmpegTools, input: string, probe: MediaProbe, dest: string, signal?: AbortSignal): Promise<string> {
  const job = separationInputJob(input, probe, dest);
  if (job === undefined) return input;
  await runEncode(tools, { ...job, ...(signal === undefined ? {} : { signal }) });
  return dest;
}

type ProducedStems = SeparateOutput['stems'];

function producedStems(output: unknown, jobId: string, input: string): ProducedStems {
  return separateOutput(output, { jobId, subject: input }).stems;
}

/** Fetches both stems into the cache (each checked against its sha256 and put in place atomically). */
async function downloadStems(backend: Backend, projectDir: string, key: string, produced: ProducedStems, signal?: AbortSignal): Promise<Stems> {
  const stems = separationStems(projectDir, key);
  for (const stem of ['vocals', 'instrumental'] as const) await saveWorkerFile(backend.runTask, produced[stem], stems[stem], signal === undefined ? {} : { signal });
  return stems;
}

/**
 * Follows a separation job to its end: what it produced is written to the ledger first (the stems stay in the
 * worker's blob store, so a failed download never needs the GPU again), then both stems go into the cache.
 */
export async function collectSeparation(
  backend: Backend,
  projectDir: string,
  jobId: string,
  request: SeparationRequest,
  options: { pricePerHour: number; cancelOnInterrupt: boolean; signal?: AbortSignal; onProgress?: (progress: WorkerProgress) => void; onDownload?: () => void },
): Promise<{ stems: Stems; jobId: string; gpuSeconds?: number; costUsd?: number }> {
  const done = await followRemoteJob(backend, projectDir, jobId, { task: 'separate', key: request.key, label: path.basename(request.input), request: { ...request } }, {
    long: false,
    pricePerHour: options.pricePerHour,
    cancelOnInterrupt: options.cancelOnInterrupt,
    resumeHint: 'the same voicestudio command',
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.onProgress === undefined ? {} : { onProgress: (progress: WorkerProgress) => options.onProgress?.(progress) }),
  });
  const produced = producedStems(done.output, done.jobId, request.input);
  await updateJob(projectDir, done.jobId, { result: { produced } });
  options.onDownload?.();
  const stems = await downloadStems(backend, projectDir, request.key, produced, options.signal);
  await updateJob(projectDir, done.jobId, { result: { produced, stems: { vocals: path.relative(projectDir, stems.vocals), instrumental: path.relative(projectDir, stems.instrumental) } } });
  return { stems, jobId: done.jobId, ...jobCharges(done) };
}

/** Separates `input` into vocals and instrumental, from the cache when it was done before. */
export async function separate(options: SeparateOptions): Promise<SeparationOutcome> {
  const { projectDir, backend, input } = options;
  const signalOption = options.signal === undefined ? {} : { signal: options.signal };
  const event = options.onEvent ?? (() => {});
  const key = separationKey(options.inputSha ?? (await sha256File(input, options.signal)));
  const request: SeparationRequest = { key, input };
  /** `manifest`: the project as a claim just left it; read here when not given. */
  const fromEarlier = async (manifest?: Manifest): Promise<SeparationOutcome | undefined> => {
    const cached = await cachedStems(projectDir, key);
    if (cached !== undefined) {
      event({ stage: 'cached' });
      return { key, stems: cached, status: 'cached' };
    }
    const jobs = manifest ?? (await readManifest(projectDir));
    // A job that finished before but whose stems never arrived (a failed download, a kill): fetch them from the store.
    const finished = jobs === undefined ? undefined : ledger(jobs).filter((j) => j.task === 'separate' && j.key === key && j.status === 'COMPLETED' && j.result?.produced !== undefined).at(-1);
    if (finished === undefined) return undefined;
    try {
      const stems = await downloadStems(backend, projectDir, key, producedStems({ stems: finished.result?.produced }, finished.id, input), options.signal);
      event({ stage: 'recovered' });
      return { key, stems, status: 'recovered', jobId: finished.id };
    } catch (error) {
      if (options.signal?.aborted) throw error;
      return undefined; // The blobs are gone from the volume: separate again.
    }
  };
  let bytesSent = 0;
  return await runRemoteJob<SeparationOutcome>({
    projectDir,
    backend,
    job: { task: 'separate', key, label: path.basename(input), request: { ...request } },
    ...signalOption,
    finished: fromEarlier,
    submit: async (sending) => {
      event({ stage: 'preparing' });
      const sent = await sendInput(backend, separationsDir(projectDir), key, async (dest) => prepareInput(options.tools, input, options.probe ?? (await probeMedia(options.tools, input)), dest, options.signal), options.signal);
      bytesSent = sent.bytesSent;
      sending();
      // The cache key is the worker's request key: a duplicate submit costs no second separation.
      const job: SeparateInput = { task: 'separate', input: sent.ref, ...wireValues(SEPARATE_SETTINGS, { stems: 'both', outputFormat: STEM_FORMAT }), request_key: key };
      return await backend.submit(job, signalOption);
    },
    onJob: (_jobId, reattached) => {
      event({ stage: reattached ? 'reattached' : 'submitted' });
      event({ stage: 'separating' });
    },
    collect: async (jobId, reattached) => {
      const collected = await collectSeparation(backend, projectDir, jobId, request, {
        pricePerHour: options.pricePerHour,
        cancelOnInterrupt: options.cancelOnInterrupt,
        ...signalOption,
        onProgress: (progress) => event({ stage: 'separating', progress }),
        onDownload: () => event({ stage: 'downloading' }),
      });
      event({ stage: 'done' });
      return { key, stems: collected.stems, status: reattached ? 'reattached' : 'separated', jobId: collected.jobId, bytesSent, ...(collected.gpuSeconds === undefined ? {} : { gpuSeconds: collected.gpuSeconds }), ...(collected.costUsd === undefined ? {} : { costUsd: collected.costUsd }) };
    },
  });
}
