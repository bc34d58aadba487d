/**
 * `audition`: which saved epoch sounds most like the singer. Every chosen epoch converts the same guide phrases on
 * the GPU worker, each result is scored against the singer's held-out clips (speaker similarity, F0 error, voicing,
 * a naturalness estimate), one epoch is recommended, and a page lets the user hear and compare them all:
 * `models/<name>/v<N>/audition/index.html`. The same audition (same epochs, guides, clips and settings) is never
 * paid for twice: its result is kept beside the page, and the job goes through the ledger like every paid job.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { probeMedia, runEncode, type FfmpegTools, type MediaProbe } from '../audio/ffmpeg.js';
import { pitchShiftFilters } from '../audio/mix.js';
import { writeAuditionPage, type AuditionEpoch, type AuditionPageInput } from '../audio/audition-page.js';
import { auditionDir } from '../project/layout.js';
import { updateJob } from '../project/ledger.js';
import { readManifest } from '../project/manifest.js';
import { findModel, missingModel, modelLabel, type ModelVersion, type SavedEpoch } from '../project/models.js';
import { heldOutSegments, trainingSegments } from '../project/sources.js';
import type { Segment } from '../project/types.js';
import type { Backend } from '../runpod/backend.js';
import { ensureUploaded, saveWorkerFile } from '../runpod/transfer.js';
import type { WorkerProgress } from '../runpod/types.js';
import { AUDITION_SETTINGS, type AuditionSettings } from '../tasks/audition.js';
import { wireValues } from '../tasks/settings.js';
import { auditionOutput, type AuditionInput, type AuditionOutput } from '../tasks/wire.js';
import { fromProject, pathExists, produceAtomically, sha256File, sha256Text, writeAtomically } from '../util/files.js';
import { chooseEpochs } from './audition-plan.js';
import { followRemoteJob, jobCharges, runRemoteJob } from './remote-job.js';
import { shellQuote } from '../util/shell.js';

/** Bump when what an audition produces for the same request changes. */
const AUDITION_VERSION = 1;
/** The worker converts guides of at most this length. */
const MAX_GUIDE_SECONDS = 60;
/** Without --guide: this many of the singer's clips, moved down this far (formants too), are the guides. */
const DEFAULT_GUIDES = 2;
const DEFAULT_GUIDE_SHIFT_SEMITONES = 3;
/** The worker takes at most this many of the singer's clips as the target voice. */
const MAX_SINGER_CLIPS = 32;
/** Without held-out clips: this many training clips stand in for the singer. */
const FALLBACK_SINGER_CLIPS = 8;
const RESULT_FILE = 'audition.json';

/**
 * Each audition (epochs, guides, clips, settings) keeps its scores and converted phrases in a folder of its own under
 * the model's audition folder, so asking for an earlier one again is answered from there; the page shows the latest.
 */
function runDir(dir: string, key: string): string {
  return path.join(dir, 'runs', key.slice(0, 16));
}
/**
 * The GPU time an audition takes, roughly: the worker's start and the singer's scores, then per epoch loading its
 * weights and per phrase the conversion and its scores (pYIN's F0 runs on the CPU at about three times real time).
 */
const ESTIMATE = { startSec: 20, perEpochSec: 3, perPhraseSec: 1, perGuideSecond: 0.6 } as const;

function estimateAuditionSeconds(epochs: number, guideSeconds: readonly number[]): number {
  const perEpoch = ESTIMATE.perEpochSec + guideSeconds.reduce((sum, g) => sum + ESTIMATE.perPhraseSec + g * ESTIMATE.perGuideSecond, 0);
  return Math.round(ESTIMATE.startSec + epochs * perEpoch);
}

export interface AuditionOptions {
  projectDir: string;
  /** name or name@version */
  spec: string;
  /** Guide phrases sung by the album's vocalist; without them two of the singer's training clips, moved down in pitch, are used. */
  guides?: string[];
  /** Epochs to try; default every saved one, at most 12, spread evenly. */
  epochs?: number[];
  settings: AuditionSettings;
  /** Whether `settings.pitch` was given: the default guides otherwise get the pitch that undoes their shift. */
  pitchGiven: boolean;
  backend: Backend;
  tools: FfmpegTools;
  pricePerHour: number;
  cancelOnInterrupt: boolean;
  signal?: AbortSignal;
  onEvent?: (event: AuditionEvent) => void;
}

export type AuditionStage = 'preparing' | 'estimate' | 'uploading' | 'submitted' | 'reattached' | 'auditioning' | 'downloading' | 'writing page' | 'cached' | 'done';
export interface AuditionEvent {
  stage: AuditionStage;
  progress?: WorkerProgress;
  estimate?: AuditionEstimate;
}

export interface AuditionEstimate {
  epochs: number[];
  guides: number;
  gpuSeconds: number;
  costUsd: number;
  pricePerHour: number;
}

/** What `--dry-run` answers: the plan, and nothing sent. */
export interface AuditionPlan {
  model: string;
  status: 'planned';
  estimate: AuditionEstimate;
  guides: { label: string; file: string }[];
  singer: { clips: number; seconds: number; heldOut: boolean };
  notes: string[];
}

export interface AuditionEpochRow {
  epoch: number;
  step: number;
  similarity: number;
  f0RmseCents: number | null;
  voicingAgreement: number;
  naturalness?: number;
}

export interface AuditionResult {
  model: string;
  /** The project folder, for the commands a user is told to run next. */
  project: string;
  page: string;
  status: 'auditioned' | 'reattached' | 'cached';
  estimate: AuditionEstimate;
  /** `isModel`: the recommended epoch is the version's own weights (its last epoch): nothing to pick. */
  recommended: { epoch: number; reason: string; withinF0Bound: boolean; isModel: boolean };
  plateauEpoch: number | null;
  epochs: AuditionEpochRow[];
  guides: { label: string; file: string; baselineSimilarity: number }[];
  singer: { clips: number; seconds: number; heldOut: boolean };
  notes: string[];
  bytesSent: number;
  jobId?: string;
  gpuSeconds?: number;
  costUsd?: number;
}

/** What the result file keeps: the worker's scores and where each converted phrase was put. */
interface KeptAudition {
  key: string;
  model: string;
  createdAt: string;
  guides: { label: string; file: string }[];
  singer: { clips: number; seconds: number; heldOut: boolean };
  notes: string[];
  epochs: SavedEpoch[];
  output: AuditionOutput;
  /** epoch → guide index → file, relative to this audition's own folder (runDir). */
  files: Record<string, string[]>;
  jobId?: string;
}

interface Prepared {
  model: ModelVersion;
  label: string;
  dir: string;
  epochs: SavedEpoch[];
  guides: { label: string; file: string }[];
  singerFiles: string[];
  singer: { clips: number; seconds: number; heldOut: boolean };
  settings: AuditionSettings;
  notes: string[];
  key: string;
  guideSeconds: number[];
}

const secondsOf = (segments: readonly Segment[]): number => segments.reduce((sum, s) => sum + s.endSec - s.startSec, 0);

/** Up to `count` clips, taken in turn from each source, so one long take does not speak for the singer alone. */
function spread(segments: readonly Segment[], count: number): Segment[] {
  const bySource = new Map<string, Segment[]>();
  for (const s of segments) bySource.set(s.sourceId, [...(bySource.get(s.sourceId) ?? []), s]);
  const queues = [...bySource.values()];
  const picked: Segment[] = [];
  for (let round = 0; picked.length < count && queues.some((q) => q.length > round); round += 1) {
    for (const queue of queues) if (queue[round] !== undefined && picked.length < count) picked.push(queue[round]!);
  }
  return picked;
}

/**
 * A guide as the worker takes it: 16 kHz mono FLAC, at most MAX_GUIDE_SECONDS, moved by `shift` semitones when asked.
 * Guides are named by their source's content, so one written before is the same file: it is not encoded again.
 */
async function writeGuide(tools: FfmpegTools, input: string, probe: MediaProbe, output: string, shift: number, signal?: AbortSignal): Promise<void> {
  if (await pathExists(output)) return;
  const rate = probe.audioStreams[0]?.sampleRate ?? 44100;
  // asetrate moves the formants with the pitch: the guide then sounds like another, deeper voice, which is the point.
  const { chain } = pitchShiftFilters(shift, rate, new Set<string>());
  await mkdir(path.dirname(output), { recursive: true });
  await produceAtomically(output, (temp) =>
    runEncode(tools, {
      input,
      audioFilters: chain,
      outputOptions: ['-map', '0:a:0', '-vn', '-t', String(MAX_GUIDE_SECONDS), '-ac', '1', '-ar', '16000', '-c:a', 'flac', '-f', 'flac'],
      output: temp,
      ...(signal === undefined ? {} : { signal }),
    }),
  );
}

async function prepare(options: PlanOptions): Promise<Prepared> {
  const projectDir = path.resolve(options.projectDir);
  const manifest = await readManifest(projectDir);
  const model = manifest === undefined ? undefined : findModel(manifest, options.spec);
  if (model === undefined) throw missingModel(projectDir, options.spec);
  const label = modelLabel(model);
  const saved = model.card.savedEpochs ?? [];
  if (saved.length === 0) {
    throw new UsageError(`${label} has no saved epochs to audition.`, 'Models trained by this voicestudio keep every --save-every epoch; train again to audition them.');
  }
  const epochs = chooseEpochs(saved, options.epochs);
  const dir = auditionDir(projectDir, model.name, model.version);
  const notes: string[] = [];

  const heldOut = heldOutSegments(manifest!);
  let guides: { label: string; file: string }[];
  let guideSources: Segment[] = [];
  let settings = options.settings;
  if (options.guides !== undefined && options.guides.length > 0) {
    guides = [];
    for (const given of options.guides) {
      const input = path.resolve(given);
      if (!(await pathExists(input))) throw new UsageError(`--guide ${given}: no such file.`, 'Name a recording of the guide vocal (a dry, solo phrase up to 60 s).');
      const probe = await probeMedia(options.tools, input);
      if (probe.durationSec > MAX_GUIDE_SECONDS) notes.push(`${path.basename(input)} is ${probe.durationSec.toFixed(0)} s long: its first ${MAX_GUIDE_SECONDS} s are used.`);
      // Named by content: an earlier audition's guide is never overwritten by another file of the same name.
      const file = path.join(dir, 'guides', `${(await sha256File(input)).slice(0, 16)}.flac`);
      await writeGuide(options.tools, input, probe, file, 0, options.signal);
      guides.push({ label: path.basename(input), file });
    }
  } else {
    // From the training clips: the held-out ones stay whole as the singer's reference (the shift down makes a
    // trained phrase another voice's guide anyway).
    const training = trainingSegments(manifest!);
    const pool = training.length > 0 ? training : heldOut;
    const kindOf = new Map(manifest!.sources.map((s) => [s.id, s.kind]));
    const sung = pool.filter((s) => kindOf.get(s.sourceId) === 'singing');
    guideSources = spread(sung.length > 0 ? sung : pool, DEFAULT_GUIDES);
    if (guideSources.length === 0) throw new UsageError(`The project has no clips to audition ${label} with.`, 'Give guide phrases: --guide FILE...');
    guides = [];
    for (const clip of guideSources) {
      const source = fromProject(projectDir, clip.file);
      const file = path.join(dir, 'guides', `${(await sha256File(source)).slice(0, 16)}-down${DEFAULT_GUIDE_SHIFT_SEMITONES}.flac`);
      await writeGuide(options.tools, source, await probeMedia(options.tools, source), file, -DEFAULT_GUIDE_SHIFT_SEMITONES, options.signal);
      guides.push({ label: `${clip.id}, ${DEFAULT_GUIDE_SHIFT_SEMITONES} semitones down`, file });
    }
    if (!options.pitchGiven) settings = { ...settings, pitch: DEFAULT_GUIDE_SHIFT_SEMITONES };
    notes.push(
      `No --guide: ${guides.length} of the singer's own clips, moved ${DEFAULT_GUIDE_SHIFT_SEMITONES} semitones down (formants too) and converted ${settings.pitch >= 0 ? '+' : ''}${settings.pitch}, are the guides. A guide sung by the vocalist who will sing the album gives the fair score.`,
    );
  }

  let singerClips = heldOut;
  const usingHeldOut = singerClips.length > 0;
  if (!usingHeldOut) {
    // Not the guides' own clips: a guide would then be scored against itself.
    const others = trainingSegments(manifest!).filter((s) => !guideSources.includes(s));
    singerClips = spread(others.length > 0 ? others : guideSources, FALLBACK_SINGER_CLIPS);
    notes.push('The project holds no clips out of training (fewer than 20 clips, or --no-holdout): the singer is represented by training clips, which flatters every epoch.');
  }
  singerClips = singerClips.slice(0, MAX_SINGER_CLIPS);
  if (singerClips.length === 0) throw new UsageError(`The project has no clips of the singer to score ${label} against.`, `Run voicestudio preprocess ${shellQuote(options.projectDir)} first.`);
  const singerFiles = singerClips.map((s) => fromProject(projectDir, s.file));

  const guideSeconds = await Promise.all(guides.map(async (g) => (await probeMedia(options.tools, g.file)).durationSec));
  const [guideShas, singerShas] = await Promise.all([Promise.all(guides.map((g) => sha256File(g.file))), Promise.all(singerFiles.map((f) => sha256File(f)))]);
  const key = sha256Text(
    JSON.stringify({ v: AUDITION_VERSION, epochs: epochs.map((e) => e.sha256), index: model.index?.sha256 ?? null, guides: guideShas, singer: singerShas, settings }),
  ).slice(0, 32);
  return {
    model,
    label,
    dir,
    epochs,
    guides,
    singerFiles,
    singer: { clips: singerClips.length, seconds: secondsOf(singerClips), heldOut: usingHeldOut },
    settings,
    notes,
    key,
    guideSeconds,
  };
}

/** The audition this request made before, when its result and every converted phrase are still there. */
async function keptAudition(dir: string, key: string): Promise<KeptAudition | undefined> {
  const text = await readFile(path.join(runDir(dir, key), RESULT_FILE), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  let kept: KeptAudition;
  try {
    kept = JSON.parse(text) as KeptAudition;
  } catch {
    return undefined;
  }
  if (kept.key !== key) return undefined;
  for (const files of Object.values(kept.files)) for (const file of files) if (!(await pathExists(path.join(runDir(dir, key), file)))) return undefined;
  return kept;
}

/** Each epoch's training step, and each guide's own similarity to the singer (the baseline), from the kept result. */
function stepsAndBaselines(kept: KeptAudition): { stepOf: Map<number, number>; baseline: (guide: number) => number } {
  const stepOf = new Map(kept.epochs.map((e) => [e.epoch, e.step]));
  const baselines = new Map(kept.output.guides.map((g) => [g.guide, g.similarity]));
  return { stepOf, baseline: (guide) => baselines.get(guide) ?? Number.NaN };
}

/** The page's view of the kept result. */
function pageInput(kept: KeptAudition, dir: string): AuditionPageInput {
  const { output } = kept;
  const { stepOf, baseline } = stepsAndBaselines(kept);
  const epochs: AuditionEpoch[] = output.epochs.map((e) => ({
    epoch: e.epoch,
    ...(stepOf.has(e.epoch) ? { step: stepOf.get(e.epoch)! } : {}),
    similarity: e.similarity,
    f0RmseCents: e.f0_rmse_cents ?? Number.NaN,
    voicingAgreement: e.voicing_agreement,
    ...(e.dnsmos_ovrl == null ? {} : { naturalness: e.dnsmos_ovrl }),
    phrases: e.phrases.map((p) => ({
      guideId: String(p.guide),
      file: path.join(runDir(dir, kept.key), kept.files[String(e.epoch)]![p.guide]!),
      similarity: p.similarity,
      f0RmseCents: p.f0_rmse_cents ?? Number.NaN,
      voicingAgreement: p.voicing_agreement,
      ...(p.dnsmos == null ? {} : { naturalness: p.dnsmos.ovrl }),
    })),
  }));
  const rec = output.recommendation;
  return {
    model: kept.model,
    createdAt: kept.createdAt,
    guides: kept.guides.map((g, i) => ({ id: String(i), label: g.label, file: g.file, baselineSimilarity: baseline(i) })),
    epochs,
    recommended: { epoch: rec.epoch, reason: rec.reason },
    ...(rec.plateau_epoch === null ? {} : { plateau: { epoch: rec.plateau_epoch, reason: `similarity gains less than a point after epoch ${rec.plateau_epoch}` } }),
    naturalness: output.epochs.some((e) => e.dnsmos_ovrl != null) ? { available: true, note: 'DNSMOS is made for speech; for singing it is indicative.' } : { available: false, note: 'the worker measured no naturalness' },
    ...(kept.notes.length === 0 ? {} : { guideNote: kept.notes.join(' ') }),
  };
}

function resultOf(kept: KeptAudition, page: string, model: { project: string; sha256: string }, extra: Pick<AuditionResult, 'status' | 'bytesSent' | 'estimate'> & Partial<Pick<AuditionResult, 'jobId' | 'gpuSeconds' | 'costUsd'>>): AuditionResult {
  const { output } = kept;
  const { stepOf, baseline } = stepsAndBaselines(kept);
  const recommended = kept.epochs.find((e) => e.epoch === output.recommendation.epoch);
  return {
    model: kept.model,
    project: model.project,
    page,
    recommended: { epoch: output.recommendation.epoch, reason: output.recommendation.reason, withinF0Bound: output.recommendation.within_f0_bound, isModel: recommended?.sha256 === model.sha256 },
    plateauEpoch: output.recommendation.plateau_epoch,
    epochs: output.epochs.map((e) => ({
      epoch: e.epoch,
      step: stepOf.get(e.epoch) ?? 0,
      similarity: e.similarity,
      f0RmseCents: e.f0_rmse_cents,
      voicingAgreement: e.voicing_agreement,
      ...(e.dnsmos_ovrl == null ? {} : { naturalness: e.dnsmos_ovrl }),
    })),
    guides: kept.guides.map((g, i) => ({ ...g, baselineSimilarity: baseline(i) })),
    singer: kept.singer,
    notes: kept.notes,
    ...extra,
  };
}

type PlanOptions = Omit<AuditionOptions, 'backend' | 'cancelOnInterrupt' | 'onEvent'>;

function estimateOf(p: Prepared, pricePerHour: number): AuditionEstimate {
  const gpuSeconds = estimateAuditionSeconds(p.epochs.length, p.guideSeconds);
  return { epochs: p.epochs.map((e) => e.epoch), guides: p.guides.length, gpuSeconds, costUsd: (gpuSeconds / 3600) * pricePerHour, pricePerHour };
}

/** `--dry-run`: the guides prepared, and what would be sent and what it would cost; nothing is sent. */
export async function planAudition(options: PlanOptions): Promise<AuditionPlan> {
  const p = await prepare(options);
  return { model: p.label, status: 'planned', estimate: estimateOf(p, options.pricePerHour), guides: p.guides, singer: p.singer, notes: p.notes };
}

export async function audition(options: AuditionOptions): Promise<AuditionResult> {
  const event = options.onEvent ?? (() => {});
  const signalOption = options.signal === undefined ? {} : { signal: options.signal };
  event({ stage: 'preparing' });
  const p = await prepare(options);
  const estimate = estimateOf(p, options.pricePerHour);
  const projectDir = path.resolve(options.projectDir);
  const request = { key: p.key, model: p.label };
  let bytesSent = 0;

  const finish = async (kept: KeptAudition, extra: Parameters<typeof resultOf>[3]): Promise<AuditionResult> => {
    event({ stage: 'writing page' });
    const page = await writeAuditionPage(p.dir, pageInput(kept, p.dir), options.tools, signalOption);
    return resultOf(kept, page, { project: projectDir, sha256: p.model.pth.sha256 }, extra);
  };

  return await runRemoteJob<AuditionResult>({
    projectDir,
    backend: options.backend,
    job: { task: 'audition', key: p.key, label: p.label, request },
    ...signalOption,
    finished: async () => {
      const kept = await keptAudition(p.dir, p.key);
      if (kept === undefined) return undefined;
      event({ stage: 'cached' });
      return await finish(kept, { status: 'cached', bytesSent: 0, estimate });
    },
    submit: async (sending) => {
      event({ stage: 'estimate', estimate });
      event({ stage: 'uploading' });
      const files = [...(p.model.index === undefined ? [] : [fromProject(projectDir, p.model.index.file)]), ...p.guides.map((g) => g.file), ...p.singerFiles];
      const uploaded = await ensureUploaded(options.backend.runTask, files, signalOption);
      bytesSent = uploaded.bytesSent;
      const ref = (file: string): { blob: string } => ({ blob: uploaded.files.find((u) => u.file === file)!.sha256 });
      const input: AuditionInput = {
        task: 'audition',
        request_key: p.key,
        // The epochs' weights are already on the volume: training left them there as blobs.
        epochs: p.epochs.map((e) => ({ epoch: e.epoch, model: { blob: e.sha256 } })),
        ...(p.model.index === undefined ? {} : { index: ref(fromProject(projectDir, p.model.index.file)) }),
        guides: p.guides.map((g) => ref(g.file)),
        singer_clips: p.singerFiles.map(ref),
        output_mode: 'blob',
        ...wireValues(AUDITION_SETTINGS, p.settings),
      };
      sending();
      return await options.backend.submit(input, signalOption);
    },
    onJob: (_jobId, reattached) => event({ stage: reattached ? 'reattached' : 'submitted' }),
    collect: async (jobId, reattached) => {
      const done = await followRemoteJob(options.backend, projectDir, jobId, { task: 'audition', key: p.key, label: p.label, request }, {
        long: false,
        pricePerHour: options.pricePerHour,
        cancelOnInterrupt: options.cancelOnInterrupt,
        resumeHint: 'the same voicestudio audition command',
        ...signalOption,
        onProgress: (progress: WorkerProgress) => event({ stage: 'auditioning', progress }),
      });
      const output = auditionOutput(done.output, { jobId: done.jobId, subject: p.label });
      event({ stage: 'downloading' });
      const files: Record<string, string[]> = {};
      for (const e of output.epochs) {
        files[String(e.epoch)] = [];
        for (const phrase of e.phrases) {
          const relative = path.join(`epoch-${e.epoch}`, `guide-${phrase.guide + 1}.${phrase.output.format}`);
          await saveWorkerFile(options.backend.runTask, phrase.output, path.join(runDir(p.dir, p.key), relative), signalOption);
          files[String(e.epoch)]![phrase.guide] = relative;
        }
      }
      const kept: KeptAudition = {
        key: p.key,
        model: p.label,
        createdAt: new Date().toISOString(),
        guides: p.guides,
        singer: p.singer,
        notes: p.notes,
        epochs: p.epochs,
        output,
        files,
        jobId: done.jobId,
      };
      await writeAtomically(path.join(runDir(p.dir, p.key), RESULT_FILE), `${JSON.stringify(kept, null, 2)}\n`);
      await updateJob(projectDir, done.jobId, { result: { page: path.join(p.dir, 'index.html'), recommended: output.recommendation.epoch } });
      event({ stage: 'done' });
      return await finish(kept, { status: reattached ? 'reattached' : 'auditioned', bytesSent, estimate, jobId: done.jobId, ...jobCharges(done) });
    },
  });
}
