/**
 * `train`: prepare the data (ingest + preprocess), pack the clips into a deterministic archive, upload
 * what the endpoint's volume does not have, submit one training job (recorded before waiting), follow
 * it, and bring the model home as a new version in the project.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, VoicestudioError } from '../errors.js';
import type { Backend } from '../runpod/backend.js';
import { saveWorkerFile, ensureUploaded } from '../runpod/transfer.js';
import type { JobPolicy, WorkerProgress } from '../runpod/types.js';
import type { FfmpegTools } from '../audio/ffmpeg.js';
import { fromProject, sha256File, sha256Text, tempSibling } from '../util/files.js';
import { ingest } from './ingest.js';
import { followRemoteJob, runRemoteJob } from './remote-job.js';
import { ledger, updateJob } from '../project/ledger.js';
import { readManifest } from '../project/manifest.js';
import { downloadsDir } from '../project/layout.js';
import { addModelVersion, checkModelName, findModel, type ModelCard, type ModelVersion } from '../project/models.js';
import { preprocess, type PreprocessResult } from './preprocess.js';
import { DATASET_MIN_SEC, MIN_SINGING_SHARE } from '../audio/quality.js';
import { trainingSegments, trainingTotals } from '../project/sources.js';
import { clipMemberName, packArchive, type ArchiveMember } from '../project/dataset-archive.js';
import { screen, screenClipMembers, type ScreenOptions, type ScreenResult } from './screen.js';
import type { Manifest, QualityWarning } from '../project/types.js';
import { wireValues } from '../tasks/settings.js';
import { TRAIN_SETTINGS, type TrainingSampleRate, type TrainTaskSettings } from '../tasks/train.js';
import { trainOutput, type TrainInput } from '../tasks/wire.js';
import { shellQuote } from '../util/shell.js';

/** The model's name, and the train task's settings (tasks/train.ts). */
export type TrainSettings = { name: string } & TrainTaskSettings;

/**
 * GPU time per epoch per minute of clips, from the brief's RTX 4090 figures (300 epochs of 60 minutes take
 * about 5.3 hours), plus a fixed allowance for Applio's preprocess, feature extraction and index.
 */
const GPU_SECONDS_PER_EPOCH_MINUTE = (5.3 * 3600) / (300 * 60);
const FIXED_GPU_SECONDS = 10 * 60;
/** The execution timeout leaves room for a slower GPU or a cold start; RunPod's default of 10 minutes would kill training. */
const TIMEOUT_FACTOR = 3;
const MIN_TIMEOUT_MS = 60 * 60_000;
const MAX_POLICY_MS = 7 * 24 * 3_600_000;
/** Below this there is nothing meaningful to train on. */
const MIN_DATASET_SEC = 60;

export interface TrainEstimate {
  datasetMinutes: number;
  gpuSeconds: number;
  costUsd: number;
  pricePerHour: number;
  policy: Required<Pick<JobPolicy, 'executionTimeout' | 'ttl'>>;
}

export function estimateTraining(datasetSec: number, epochs: number, pricePerHour: number): TrainEstimate {
  const gpuSeconds = Math.round(epochs * (datasetSec / 60) * GPU_SECONDS_PER_EPOCH_MINUTE + FIXED_GPU_SECONDS);
  const executionTimeout = Math.min(MAX_POLICY_MS, Math.max(MIN_TIMEOUT_MS, gpuSeconds * 1000 * TIMEOUT_FACTOR));
  return {
    datasetMinutes: Math.round((datasetSec / 60) * 10) / 10,
    gpuSeconds,
    costUsd: Math.round((gpuSeconds / 3600) * pricePerHour * 100) / 100,
    pricePerHour,
    // The TTL covers time in the queue too: a day of queueing on top of the run.
    policy: { executionTimeout, ttl: Math.min(MAX_POLICY_MS, executionTimeout + 24 * 3_600_000) },
  };
}

/**
 * A run id the worker accepts, the same for the same model name and dataset (the archive, less the members it is
 * told to leave out): re-running resumes it, and another exclusion list is another run.
 */
export function trainingRunId(name: string, datasetSha256: string, exclude: readonly string[] = []): string {
  const data = exclude.length === 0 ? datasetSha256 : sha256Text(`${datasetSha256}\n${[...exclude].sort().join('\n')}`);
  return `${name.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 48)}-${data.slice(0, 12)}`.replace(/^[^A-Za-z0-9]+/, 'm');
}

export interface DatasetInfo {
  archive: string;
  sha256: string;
  bytes: number;
  clips: number;
  seconds: number;
  singingSec: number;
  speechSec: number;
  /** Members of the archive the worker leaves out (after a screen: the clips it excluded, and the held-out ones). */
  exclude?: string[];
}

export type TrainEvent =
  | { type: 'stage'; message: string }
  | { type: 'upload'; sentBytes: number; totalBytes: number }
  | { type: 'submitted'; jobId: string; reattached: boolean }
  | { type: 'progress'; progress: WorkerProgress; costSoFarUsd: number };

export interface TrainOptions {
  projectDir: string;
  /** Without a sample rate, the project's clips keep the rate of its last preprocess. */
  settings: Omit<TrainSettings, 'sampleRate'> & { sampleRate?: TrainingSampleRate };
  /** Train even when the dataset is below the brief's minimums (see DatasetVerdict). */
  force: boolean;
  backend: Backend | undefined;
  pricePerHour: number;
  tools: FfmpegTools;
  concurrency: number;
  dryRun: boolean;
  cancelOnInterrupt: boolean;
  /** Screen the clips by voice first (voicestudio screen), and train on what it keeps. */
  screen?: Pick<ScreenOptions, 'threshold' | 'references' | 'referenceSources'>;
  signal?: AbortSignal;
  onEvent?: (event: TrainEvent) => void;
}

/** Whether the dataset meets the brief's minimums (10 minutes of clips, at least half of them singing). */
export interface DatasetVerdict {
  ok: boolean;
  /** What falls short, each with its figure; empty when ok. */
  problems: string[];
  /** Trained anyway (--force) although problems were found. */
  forced: boolean;
}

export function datasetVerdict(dataset: Pick<DatasetInfo, 'seconds' | 'singingSec'>, force: boolean): DatasetVerdict {
  const problems: string[] = [];
  if (dataset.seconds < DATASET_MIN_SEC) problems.push(`${(dataset.seconds / 60).toFixed(1)} min of clips, the brief's minimum is ${DATASET_MIN_SEC / 60} min`);
  const singingShare = dataset.seconds > 0 ? dataset.singingSec / dataset.seconds : 0;
  if (singingShare < MIN_SINGING_SHARE) problems.push(`singing is ${Math.round(singingShare * 100)} % of the clips, the brief's minimum is ${MIN_SINGING_SHARE * 100} %`);
  return { ok: problems.length === 0, problems, forced: force && problems.length > 0 };
}

export interface TrainResult {
  /** The project folder. */
  project: string;
  dryRun: boolean;
  /** The settings trained with (the sample rate resolved from the project when not given). */
  settings: TrainSettings;
  verdict: DatasetVerdict;
  /** The clips were re-cut for this run, with why (a sample rate other than the project's). */
  recut?: string;
  /** The same name, clips and settings were trained before: that model is returned and nothing is sent. */
  alreadyTrained?: boolean;
  runId: string;
  dataset: DatasetInfo;
  estimate: TrainEstimate;
  /** Quality warnings about clips cut in this run (the dataset's too, when any were): new to the user. */
  warnings: QualityWarning[];
  /** How many warnings an earlier preprocess already reported about the clips this run kept as they were. */
  earlierWarnings: number;
  upload?: { bytesSent: number; alreadyThere: boolean };
  /** The speaker screen run before training (train --screen). */
  screen?: ScreenResult;
  jobId?: string;
  reattached?: boolean;
  model?: ModelVersion;
  gpuSeconds?: number;
  costUsd?: number;
}

async function prepareData(options: TrainOptions): Promise<PreprocessResult> {
  const { projectDir } = options;
  options.onEvent?.({ type: 'stage', message: 'bringing ingest and preprocess up to date' });
  try {
    await ingest({ projectDir, paths: [], tools: options.tools, concurrency: options.concurrency, ...(options.signal === undefined ? {} : { signal: options.signal }) }, projectDir);
  } catch (error) {
    // A project whose recordings were ingested from elsewhere has no media in its own folder.
    if (!(error instanceof VoicestudioError && error.code === ErrorCode.NothingToDo)) throw error;
  }
  const result = await preprocess({
    projectDir,
    // Every other setting is the project's own, from its last preprocess.
    settings: options.settings.sampleRate === undefined ? {} : { sampleRate: options.settings.sampleRate },
    tools: options.tools,
    concurrency: options.concurrency,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  if (result.failed > 0) {
    throw new VoicestudioError(ErrorCode.MediaUnreadable, `${result.failed} source${result.failed === 1 ? '' : 's'} could not be preprocessed.`, {
      suggestion: `See voicestudio preprocess ${shellQuote(projectDir)}; fix or remove those files before paying for training.`,
    });
  }
  return result;
}

/**
 * Packs the clips training uses (excluded sources and clips left out) into an uncompressed tar, the same bytes for
 * the same clips. After a speaker screen (`fromScreen`) the archive is the one the screen sent (every clip it judged)
 * and the clips training does not use are listed in `exclude`, which the worker leaves out: nothing is sent twice.
 */
async function packDataset(projectDir: string, fromScreen: boolean, signal?: AbortSignal): Promise<DatasetInfo> {
  const manifest = await readManifest(projectDir);
  const segments = (manifest === undefined ? [] : trainingSegments(manifest)).sort((a, b) => a.id.localeCompare(b.id));
  const totals = trainingTotals(manifest ?? { sources: [], segments: [] });
  if (manifest === undefined || segments.length === 0 || totals.totalSec < MIN_DATASET_SEC) {
    throw new VoicestudioError(ErrorCode.NothingToDo, `Only ${totals.totalSec.toFixed(0)} s of usable clips to train on in ${projectDir}; training needs at least ${MIN_DATASET_SEC} s (the brief asks for 10–60 minutes).`, {
      subject: projectDir,
      suggestion: 'Add recordings with voicestudio ingest, and check the quality report of voicestudio preprocess.',
    });
  }
  let members: ArchiveMember[];
  let exclude: string[] = [];
  if (fromScreen) {
    members = await screenClipMembers(projectDir, manifest, signal);
    const used = new Set(segments.map((s) => clipMemberName(s.id)));
    exclude = members.filter((m) => !used.has(m.name)).map((m) => m.name);
  } else {
    members = await Promise.all(
      segments.map(async (s) => {
        const file = fromProject(projectDir, s.file);
        return { name: clipMemberName(s.id), file, sha256: await sha256File(file, signal) };
      }),
    );
  }
  const packed = await packArchive(projectDir, members, signal);
  return {
    ...packed,
    clips: segments.length,
    seconds: totals.totalSec,
    singingSec: totals.singingSec,
    speechSec: totals.speechSec,
    ...(exclude.length === 0 ? {} : { exclude }),
  };
}

export function insufficientDataset(projectDir: string, verdict: DatasetVerdict): VoicestudioError {
  return new VoicestudioError(ErrorCode.DatasetInsufficient, `The dataset is below the brief's minimums: ${verdict.problems.join('; ')}. Nothing was uploaded.`, {
    subject: projectDir,
    suggestion: `Add recordings (voicestudio ingest ${shellQuote(projectDir)} FILES; --kind speech for speech), see what preprocess kept in ${projectDir}/.voicestudio/quality-report.json, or train anyway with --force.`,
  });
}

/** A model this project already trained from the same run and settings, still present in the manifest. */
function finishedTraining(manifest: Manifest, runId: string, settings: TrainSettings): { jobId: string; model: ModelVersion } | undefined {
  for (const job of ledger(manifest).filter((j) => j.task === 'train' && j.key === runId && j.status === 'COMPLETED').reverse()) {
    const asked = (job.request as Partial<TrainingRequest> | undefined)?.settings;
    const label = typeof job.result?.model === 'string' ? job.result.model : undefined;
    const model = label === undefined ? undefined : findModel(manifest, label);
    if (model !== undefined && JSON.stringify(asked) === JSON.stringify(settings)) return { jobId: job.id, model };
  }
  return undefined;
}

export function trainInput(settings: TrainSettings, runId: string, datasetSha256: string, exclude: readonly string[] = []): TrainInput {
  const { name: _modelName, ...taskSettings } = settings;
  return {
    task: 'train',
    run_id: runId,
    dataset: { blob: datasetSha256 },
    ...(exclude.length === 0 ? {} : { exclude: [...exclude] }),
    ...wireValues(TRAIN_SETTINGS, taskSettings),
    // If another job already trains this run (say, one whose submit we could not confirm), follow it.
    if_busy: 'report',
  };
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const { projectDir } = options;
  checkModelName(options.settings.name);
  const lastRate = (await readManifest(projectDir))?.preprocess.settings?.sampleRate;
  const prepared = await prepareData(options);
  const report = prepared.report;
  const settings: TrainSettings = { ...options.settings, sampleRate: prepared.settings.sampleRate };
  const recut = lastRate !== undefined && lastRate !== settings.sampleRate ? `the clips were re-cut at ${settings.sampleRate} Hz (the project's were at ${lastRate} Hz)` : undefined;
  let screened: ScreenResult | undefined;
  if (options.screen !== undefined) {
    options.onEvent?.({ type: 'stage', message: 'screening the clips by voice' });
    screened = await screen({
      projectDir,
      ...options.screen,
      dryRun: options.dryRun,
      backend: options.backend,
      tools: options.tools,
      pricePerHour: options.pricePerHour,
      cancelOnInterrupt: options.cancelOnInterrupt,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onEvent: (event) => options.onEvent?.({ type: 'stage', message: `screen: ${event.stage}` }),
    });
  }
  options.onEvent?.({ type: 'stage', message: 'packing the clips' });
  const dataset = await packDataset(projectDir, screened !== undefined, options.signal);
  const runId = trainingRunId(settings.name, dataset.sha256, dataset.exclude);
  const estimate = estimateTraining(dataset.seconds, settings.epochs, options.pricePerHour);
  const verdict = datasetVerdict(dataset, options.force);
  // Warnings about clips this run did not touch were reported when they were cut: not again on every train.
  const cutNow = new Set(prepared.sources.filter((s) => s.status === 'processed').map((s) => s.sourceId));
  const allWarnings = [...report.sources.flatMap((s) => s.warnings), ...report.warnings];
  const warnings = allWarnings.filter((w) => (w.scope === 'dataset' ? cutNow.size > 0 : cutNow.has(w.scope)));
  const base: TrainResult = {
    project: projectDir,
    dryRun: options.dryRun,
    settings,
    verdict,
    ...(recut === undefined ? {} : { recut }),
    runId,
    dataset,
    estimate,
    ...(screened === undefined ? {} : { screen: screened }),
    warnings,
    earlierWarnings: allWarnings.length - warnings.length,
  };
  if (options.dryRun) return base;
  if (!verdict.ok && !options.force) throw insufficientDataset(projectDir, verdict);
  const backend = options.backend;
  if (backend === undefined) throw new VoicestudioError(ErrorCode.Config, 'No backend to train on.', { suggestion: 'Set RUNPOD_ENDPOINT_ID and RUNPOD_API_KEY, or use --backend local.' });

  const signalOption = options.signal === undefined ? {} : { signal: options.signal };
  const request: TrainingRequest = { settings, dataset, runId, ...(screened?.reference === undefined ? {} : { screen: screenSummary(screened) }) };
  let upload: TrainResult['upload'];
  return await runRemoteJob<TrainResult>({
    projectDir,
    backend,
    job: { task: 'train', key: runId, label: settings.name, request: { ...request } },
    ...signalOption,
    finished: async (claimed) => {
      const manifest = claimed ?? (await readManifest(projectDir));
      const finished = manifest === undefined ? undefined : finishedTraining(manifest, runId, settings);
      return finished === undefined ? undefined : { ...base, jobId: finished.jobId, reattached: false, model: finished.model, alreadyTrained: true };
    },
    submit: async (sending) => {
      options.onEvent?.({ type: 'stage', message: `uploading the dataset (${(dataset.bytes / 1e6).toFixed(1)} MB) unless the volume has it` });
      const { files: [uploaded] } = await ensureUploaded(backend.runTask, [dataset.archive], {
        ...signalOption,
        onProgress: (sentBytes: number, totalBytes: number) => options.onEvent?.({ type: 'upload', sentBytes, totalBytes }),
      });
      upload = { bytesSent: uploaded?.bytesSent ?? 0, alreadyThere: uploaded?.uploaded === false };
      sending();
      return await backend.submit(trainInput(settings, runId, dataset.sha256, dataset.exclude), { policy: estimate.policy, ...signalOption });
    },
    onJob: (jobId, reattached) => options.onEvent?.({ type: 'submitted', jobId, reattached }),
    collect: async (jobId, reattached) => {
      const collected = await collectTraining(backend, projectDir, jobId, request, {
        pricePerHour: options.pricePerHour,
        cancelOnInterrupt: options.cancelOnInterrupt,
        ...signalOption,
        onProgress: (progress, costSoFarUsd) => options.onEvent?.({ type: 'progress', progress, costSoFarUsd }),
        onStage: (message) => options.onEvent?.({ type: 'stage', message }),
      });
      // `collected.jobId` is the job that trained the model: ours, or the one our submit found already running.
      return { ...base, ...(upload === undefined ? {} : { upload }), reattached, ...collected };
    },
  });
}

/** What a training job was asked to do, kept in its ledger record so any later run can collect it. */
export interface TrainingRequest {
  settings: TrainSettings;
  dataset: DatasetInfo;
  runId: string;
  /** The speaker screen this training followed (train --screen), for the model card. */
  screen?: ModelCard['screen'];
}

function screenSummary(result: ScreenResult): NonNullable<ModelCard['screen']> {
  return { threshold: result.threshold, reference: result.reference?.description ?? 'none', judgedClips: result.judged, excludedClips: result.excluded.map((c) => c.id) };
}

export interface CollectOptions {
  pricePerHour: number;
  cancelOnInterrupt: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: WorkerProgress, costSoFarUsd: number) => void;
  onStage?: (message: string) => void;
}

/** Follows a training job to its end and brings the model home as a new version. */
export async function collectTraining(
  backend: Backend,
  projectDir: string,
  jobId: string,
  request: TrainingRequest,
  options: CollectOptions,
): Promise<{ model: ModelVersion; jobId: string; gpuSeconds?: number; costUsd?: number }> {
  const { settings, dataset, runId, screen: screened } = request;
  const signalOption = options.signal === undefined ? {} : { signal: options.signal };
  const completed = await followRemoteJob(backend, projectDir, jobId, { task: 'train', key: runId, label: settings.name, request: { ...request } }, {
    long: true,
    pricePerHour: options.pricePerHour,
    cancelOnInterrupt: options.cancelOnInterrupt,
    resumeHint: `voicestudio train ${shellQuote(projectDir)} --name ${settings.name} --epochs ${settings.epochs}`,
    ...signalOption,
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    // Our submit was a duplicate: the run is already training in that job, which we follow instead.
    onAdopted: (holder) => options.onStage?.(`following job ${holder}, which is already training this run`),
  });
  const output = trainOutput(completed.output, { jobId: completed.jobId, subject: settings.name });
  options.onStage?.('bringing the model home');
  const downloads = downloadsDir(projectDir);
  await mkdir(downloads, { recursive: true });
  const pth = tempSibling(path.join(downloads, `${runId}.pth`));
  const index = tempSibling(path.join(downloads, `${runId}.index`));
  try {
    await saveWorkerFile(backend.runTask, output.model, pth, signalOption);
    const producedIndex = output.index ?? undefined;
    const hasIndex = producedIndex !== undefined;
    if (producedIndex !== undefined) await saveWorkerFile(backend.runTask, producedIndex, index, signalOption);
    const gpuSeconds = completed.executionMs === undefined ? undefined : Math.round(completed.executionMs / 1000);
    const costUsd = completed.costUsd;
    const model = await addModelVersion(
      projectDir,
      settings.name,
      { pth, ...(hasIndex ? { index } : {}) },
      {
        settings: { ...settings },
        dataset: {
          sha256: dataset.sha256,
          clips: dataset.clips,
          minutes: Math.round((dataset.seconds / 60) * 10) / 10,
          singingMinutes: Math.round((dataset.singingSec / 60) * 10) / 10,
          speechMinutes: Math.round((dataset.speechSec / 60) * 10) / 10,
        },
        training: output.training,
        savedEpochs: output.saved_epochs,
        ...(screened === undefined ? {} : { screen: screened }),
        timings: output.timings,
        ...(gpuSeconds === undefined ? {} : { gpuSeconds }),
        ...(costUsd === undefined ? {} : { costUsd }),
        jobId: completed.jobId,
        runId,
      },
      'trained',
    );
    await updateJob(projectDir, completed.jobId, { result: { model: `${model.name}@${model.version}` } });
    return { model, jobId: completed.jobId, ...(gpuSeconds === undefined ? {} : { gpuSeconds }), ...(costUsd === undefined ? {} : { costUsd }) };
  } finally {
    await rm(pth, { force: true });
    await rm(index, { force: true });
  }
}

