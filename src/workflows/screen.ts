/**
 * `screen`: keep only the singer. Every clip the user has not kept out gets a speaker embedding on the GPU worker
 * (once per clip content: they are kept in .voicestudio/embeddings.json), is compared with the reference voice (the
 * user's reference recordings, the clips of named sources, or else the largest tight cluster of the singing clips),
 * and a clip below the threshold is kept out of training the way `sources exclude` keeps a clip out, marked as the
 * screen's: the next screen may give it back, and the user's own exclusions are never touched. Nothing is deleted.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, UsageError, VoicestudioError } from '../errors.js';
import { probeMedia, runEncode, type FfmpegTools } from '../audio/ffmpeg.js';
import { clipMemberName, packArchive, archiveKey, type ArchiveMember } from '../project/dataset-archive.js';
import { readEmbeddings, storeEmbeddings, type EmbeddingCache, type StoredEmbedding } from '../project/embeddings.js';
import { downloadsDir, screenReferencesDir } from '../project/layout.js';
import { updateJob } from '../project/ledger.js';
import { readManifest, updateManifest } from '../project/manifest.js';
import { applyScreen, screenCandidates } from '../project/sources.js';
import type { Manifest, Segment, SourceKind } from '../project/types.js';
import type { Backend } from '../runpod/backend.js';
import { ensureUploaded, saveWorkerFile } from '../runpod/transfer.js';
import type { WorkerProgress } from '../runpod/types.js';
import { screenEmbeddingsBlob, screenOutput, type ScreenEmbedding, type ScreenInput } from '../tasks/wire.js';
import { fromProject, produceAtomically, sha256File, tempSibling } from '../util/files.js';
import { shellQuote } from '../util/shell.js';
import { rewriteReportPage } from './preprocess.js';
import { followRemoteJob, jobCharges, runRemoteJob } from './remote-job.js';
import { estimateScreenSeconds, judge, largestCluster, meanVoice } from './screen-plan.js';

export interface ScreenOptions {
  projectDir: string;
  /** Recordings of the singer alone: their voice is the reference. */
  references?: string[];
  /** Sources (ids or paths) whose clips are the singer's: their voice is the reference. */
  referenceSources?: string[];
  threshold: number;
  /** Show the verdicts the cached embeddings allow, and what computing the rest would cost; change and send nothing. */
  dryRun: boolean;
  backend: Backend | undefined;
  tools: FfmpegTools;
  pricePerHour: number;
  cancelOnInterrupt: boolean;
  signal?: AbortSignal;
  onEvent?: (event: ScreenEvent) => void;
}

export type ScreenStage = 'preparing' | 'estimate' | 'packing' | 'uploading' | 'submitted' | 'reattached' | 'embedding' | 'downloading' | 'deciding';
export interface ScreenEvent {
  stage: ScreenStage;
  estimate?: ScreenEstimate;
  progress?: WorkerProgress;
}

export interface ScreenEstimate {
  /** Clips (and reference recordings) without an embedding yet. */
  missing: number;
  /** What the job is sent: the whole archive, so that training can use the very same blob. */
  members: number;
  audioSeconds: number;
  gpuSeconds: number;
  costUsd: number;
  pricePerHour: number;
}

export interface ScreenReference {
  kind: 'files' | 'sources' | 'cluster';
  /** For people: what the reference voice is. */
  description: string;
  /** The clips (or recordings) whose mean voice it is. */
  clips: string[];
}

export interface ScreenSourceShare {
  sourceId: string;
  path: string;
  kind: SourceKind;
  clips: number;
  kept: number;
  keptSec: number;
  totalSec: number;
}

export interface ScreenedClip {
  id: string;
  sourceId: string;
  startSec: number;
  endSec: number;
  similarity: number;
}

/** The job that computed the missing embeddings: its GPU time and cost, and what was uploaded for it. */
export interface ScreenJob {
  jobId: string;
  reattached: boolean;
  gpuSeconds?: number;
  costUsd?: number;
  bytesSent: number;
}

export interface ScreenResult {
  project: string;
  dryRun: boolean;
  threshold: number;
  reference?: ScreenReference;
  /** Clips judged (with an embedding) and the share of each source kept. */
  judged: number;
  sources: ScreenSourceShare[];
  /** Below the threshold: kept out of training (or, in a dry run, would be). */
  excluded: ScreenedClip[];
  /** Of those, the clips this run took out of training; and the clips an earlier screen excluded that it gave back. */
  newlyExcluded: string[];
  reincluded: string[];
  /** Clips the worker could not embed (too little voice): not judged, they stay. */
  unjudged: { id: string; reason: string }[];
  /** Without a job (dry run): clips still lacking an embedding, not judged. */
  missing: number;
  estimate?: ScreenEstimate;
  job?: ScreenJob;
  /** The report page, written again with the screen's verdicts. */
  page?: string;
  notes: string[];
}

interface Member extends ArchiveMember {
  seconds: number;
  segment?: Segment;
}

interface Prepared {
  project: string;
  manifest: Manifest;
  clips: Member[];
  references: Member[];
  referenceSourceIds: string[];
}

/** The clips the screen judges, as archive members: `clips/<id>.flac`, the names train's dataset gives them. */
export async function screenClipMembers(projectDir: string, manifest: Manifest, signal?: AbortSignal): Promise<Member[]> {
  const candidates = screenCandidates(manifest).sort((a, b) => a.id.localeCompare(b.id));
  return await Promise.all(
    candidates.map(async (segment) => {
      const file = fromProject(projectDir, segment.file);
      return { name: clipMemberName(segment.id), file, sha256: await sha256File(file, signal), seconds: segment.endSec - segment.startSec, segment };
    }),
  );
}

/** A reference recording as the worker takes it: 16 kHz mono FLAC. */
async function writeReference(tools: FfmpegTools, input: string, output: string, signal?: AbortSignal): Promise<void> {
  await mkdir(path.dirname(output), { recursive: true });
  await produceAtomically(output, (temp) =>
    runEncode(tools, {
      input,
      outputOptions: ['-map', '0:a:0', '-vn', '-ac', '1', '-ar', '16000', '-c:a', 'flac', '-f', 'flac'],
      output: temp,
      ...(signal === undefined ? {} : { signal }),
    }),
  );
}

function resolveSources(manifest: Manifest, projectDir: string, given: readonly string[]): string[] {
  const ids: string[] = [];
  for (const name of given) {
    const source = manifest.sources.find((s) => s.id === name || s.path === name || s.aliases.includes(name) || fromProject(projectDir, s.path) === path.resolve(name));
    if (source === undefined) {
      throw new VoicestudioError(ErrorCode.SourceMissing, `--reference-source ${name}: no such source in ${projectDir}.`, { subject: name, suggestion: `See the ids with: voicestudio sources list ${projectDir}` });
    }
    ids.push(source.id);
  }
  return ids;
}

async function prepare(options: ScreenOptions): Promise<Prepared> {
  const project = path.resolve(options.projectDir);
  const manifest = await readManifest(project);
  if (manifest === undefined || manifest.segments.length === 0) {
    throw new VoicestudioError(ErrorCode.NothingToDo, `${project} has no clips to screen.`, { subject: project, suggestion: `Cut the recordings into clips first: voicestudio preprocess ${shellQuote(options.projectDir)}` });
  }
  if ((options.references?.length ?? 0) > 0 && (options.referenceSources?.length ?? 0) > 0) throw new UsageError('Give --reference or --reference-source, not both.', 'Name either recordings of the singer alone, or sources that are the singer alone.');
  const referenceSourceIds = resolveSources(manifest, project, options.referenceSources ?? []);
  const clips = await screenClipMembers(project, manifest, options.signal);
  if (clips.length === 0) throw new VoicestudioError(ErrorCode.NothingToDo, `Every clip of ${project} is excluded: nothing to screen.`, { subject: project, suggestion: `See voicestudio sources list ${options.projectDir}` });
  const references: Member[] = [];
  for (const [i, given] of (options.references ?? []).entries()) {
    const input = path.resolve(given);
    const probe = await probeMedia(options.tools, input).catch(() => undefined);
    if (probe === undefined || probe.audioStreams.length === 0) throw new UsageError(`--reference ${given}: not a readable recording.`, 'Name a recording of the singer alone (any format FFmpeg reads).');
    const file = path.join(screenReferencesDir(project), `${i + 1}.flac`);
    await writeReference(options.tools, input, file, options.signal);
    references.push({ name: `reference/${i + 1}.flac`, file, sha256: await sha256File(file, options.signal), seconds: probe.durationSec });
  }
  return { project, manifest, clips, references, referenceSourceIds };
}

const missingOf = (members: readonly Member[], cache: EmbeddingCache): Member[] => members.filter((m) => cache.clips[m.sha256] === undefined);

function estimateOf(p: Prepared, missing: number, pricePerHour: number): ScreenEstimate {
  const members = [...p.clips, ...p.references];
  const audioSeconds = members.reduce((sum, m) => sum + m.seconds, 0);
  const gpuSeconds = estimateScreenSeconds(audioSeconds);
  return { missing, members: members.length, audioSeconds: Math.round(audioSeconds), gpuSeconds, costUsd: (gpuSeconds / 3600) * pricePerHour, pricePerHour };
}

/** The reference voice, or why there is none yet (a dry run whose reference lacks embeddings). */
function referenceVoice(p: Prepared, cache: EmbeddingCache): { reference: ScreenReference; voice: number[] } | { lacking: string } {
  const embeddingOf = (m: Member): number[] | null | undefined => cache.clips[m.sha256]?.embedding;
  if (p.references.length > 0) {
    const lacking = p.references.filter((r) => embeddingOf(r) === undefined);
    if (lacking.length > 0) return { lacking: 'the reference recordings have no embedding yet' };
    const silent = p.references.filter((r) => embeddingOf(r) === null);
    if (silent.length > 0) throw new UsageError(`No voice found in the reference recording ${silent.map((r) => r.name).join(', ')}.`, 'Give a recording of the singer alone, at least a few seconds of voice.');
    const files = p.references.map((r) => r.name);
    return { reference: { kind: 'files', description: `the voice of the ${files.length === 1 ? 'reference recording' : `${files.length} reference recordings`}`, clips: files }, voice: meanVoice(p.references.map((r) => embeddingOf(r)!)) };
  }
  if (p.referenceSourceIds.length > 0) {
    const own = p.clips.filter((c) => p.referenceSourceIds.includes(c.segment!.sourceId));
    const embedded = own.filter((c) => embeddingOf(c) != null);
    if (embedded.length === 0) {
      if (own.some((c) => embeddingOf(c) === undefined)) return { lacking: "the reference sources' clips have no embedding yet" };
      throw new UsageError(`The reference sources ${p.referenceSourceIds.join(', ')} have no clip with voice to take the reference from.`, 'Name sources of the singer alone that preprocess cut clips from.');
    }
    return {
      reference: { kind: 'sources', description: `the voice of ${embedded.length} clips of ${p.referenceSourceIds.join(', ')}`, clips: embedded.map((c) => c.segment!.id) },
      voice: meanVoice(embedded.map((c) => embeddingOf(c)!)),
    };
  }
  const kindOf = new Map(p.manifest.sources.map((s) => [s.id, s.kind]));
  const embedded = p.clips.filter((c) => embeddingOf(c) != null);
  const singing = embedded.filter((c) => kindOf.get(c.segment!.sourceId) === 'singing');
  const pool = singing.length > 0 ? singing : embedded;
  if (pool.length === 0) return { lacking: 'no clip has an embedding yet' };
  const cluster = largestCluster(pool.map((c) => ({ id: c.segment!.id, embedding: embeddingOf(c)! })));
  const of = singing.length > 0 ? 'singing clips' : 'clips (the project has no singing clips)';
  return { reference: { kind: 'cluster', description: `the largest group of like-sounding ${of}: ${cluster.members.length} of ${pool.length}`, clips: cluster.members }, voice: cluster.voice };
}

/** Brings the embeddings of a finished screen job home, into the cache by each member's content. */
async function storeJobEmbeddings(p: Prepared, backend: Backend, jobId: string, output: unknown, signal?: AbortSignal): Promise<void> {
  const subject = { jobId, subject: p.project };
  const parsed = screenOutput(output, subject);
  let embeddings: ScreenEmbedding[];
  if ('embeddings' in parsed) {
    embeddings = parsed.embeddings;
  } else {
    const dir = downloadsDir(p.project);
    await mkdir(dir, { recursive: true });
    const file = tempSibling(path.join(dir, `screen-${jobId}.json`));
    try {
      await saveWorkerFile(backend.runTask, parsed.embeddingsBlob, file, signal === undefined ? {} : { signal });
      embeddings = screenEmbeddingsBlob(JSON.parse(await readFile(file, 'utf8')), subject);
    } finally {
      await rm(file, { force: true });
    }
  }
  const shaOf = new Map([...p.clips, ...p.references].map((m) => [m.name, m.sha256]));
  const added: Record<string, StoredEmbedding> = {};
  for (const e of embeddings) {
    const sha = shaOf.get(e.name);
    if (sha === undefined) continue;
    added[sha] = { embedding: e.embedding, voiceSeconds: e.voice_seconds, ...(e.reason == null ? {} : { reason: e.reason }), model: parsed.model };
  }
  await storeEmbeddings(p.project, added);
}

export async function screen(options: ScreenOptions): Promise<ScreenResult> {
  const event = options.onEvent ?? (() => {});
  const signalOption = options.signal === undefined ? {} : { signal: options.signal };
  event({ stage: 'preparing' });
  const p = await prepare(options);
  const members = [...p.clips, ...p.references];
  let cache = await readEmbeddings(p.project);
  const missing = missingOf(members, cache);
  const notes: string[] = [];
  let estimate: ScreenEstimate | undefined;
  let job: ScreenJob | undefined;

  if (missing.length > 0) {
    estimate = estimateOf(p, missing.length, options.pricePerHour);
    if (!options.dryRun) {
      const backend = options.backend;
      if (backend === undefined) throw new VoicestudioError(ErrorCode.Config, 'No backend to compute the embeddings on.', { suggestion: 'Set RUNPOD_ENDPOINT_ID and RUNPOD_API_KEY, or use --backend local.' });
      const key = archiveKey(members);
      const request = { key, clips: p.clips.length, references: p.references.length };
      const description = { task: 'screen' as const, key, label: path.basename(p.project), request };
      let bytesSent = 0;
      ({ job } = await runRemoteJob<{ job?: ScreenJob }>({
        projectDir: p.project,
        backend,
        job: description,
        ...signalOption,
        // Another run may have brought these embeddings home meanwhile.
        finished: async () => (missingOf(members, await readEmbeddings(p.project)).length === 0 ? {} : undefined),
        submit: async (sending) => {
          event({ stage: 'estimate', estimate: estimate! });
          event({ stage: 'packing' });
          const packed = await packArchive(p.project, members, options.signal);
          event({ stage: 'uploading' });
          bytesSent = (await ensureUploaded(backend.runTask, [packed.archive], signalOption)).bytesSent;
          const input: ScreenInput = { task: 'screen', request_key: key, dataset: { blob: packed.sha256 }, output_mode: 'auto' };
          sending();
          return await backend.submit(input, signalOption);
        },
        onJob: (_jobId, reattached) => event({ stage: reattached ? 'reattached' : 'submitted' }),
        collect: async (jobId, reattached) => {
          const done = await followRemoteJob(backend, p.project, jobId, description, {
            long: false,
            pricePerHour: options.pricePerHour,
            cancelOnInterrupt: options.cancelOnInterrupt,
            resumeHint: 'the same voicestudio screen command',
            ...signalOption,
            onProgress: (progress: WorkerProgress) => event({ stage: 'embedding', progress }),
          });
          event({ stage: 'downloading' });
          await storeJobEmbeddings(p, backend, done.jobId, done.output, options.signal);
          await updateJob(p.project, done.jobId, { result: { embedded: members.length } });
          return { job: { jobId: done.jobId, reattached, bytesSent, ...jobCharges(done) } };
        },
      }));
      cache = await readEmbeddings(p.project);
    }
  }

  event({ stage: 'deciding' });
  const chosen = referenceVoice(p, cache);
  const stillMissing = missingOf(members, cache).length;
  if ('lacking' in chosen) {
    notes.push(`No verdicts yet: ${chosen.lacking}.`);
    return { project: p.project, dryRun: options.dryRun, threshold: options.threshold, judged: 0, sources: [], excluded: [], newlyExcluded: [], reincluded: [], unjudged: [], missing: stillMissing, ...(estimate === undefined ? {} : { estimate }), notes };
  }
  const embedded = p.clips.filter((c) => cache.clips[c.sha256] !== undefined);
  const judged = judge(
    embedded.map((c) => ({ id: c.segment!.id, embedding: cache.clips[c.sha256]!.embedding })),
    chosen.voice,
    options.threshold,
  );
  const segmentOf = new Map(p.clips.map((c) => [c.segment!.id, c.segment!]));
  const below = judged.filter((j) => !j.kept).map((j) => ({ segment: segmentOf.get(j.id)!, similarity: j.similarity! }));
  const unjudged = embedded.filter((c) => cache.clips[c.sha256]!.embedding === null).map((c) => ({ id: c.segment!.id, reason: cache.clips[c.sha256]!.reason ?? 'too little voice' }));
  let change = { excluded: [] as string[], reincluded: [] as string[] };
  let page: string | undefined;
  if (!options.dryRun) {
    ({ result: change } = await updateManifest(p.project, (manifest) => applyScreen(manifest, below, options.threshold, new Date())));
    // The report page shows every excluded clip with its score and its player.
    page = await rewriteReportPage(p.project);
  }
  const belowIds = new Set(below.map((b) => b.segment.id));
  const judgedIds = new Set(judged.map((j) => j.id));
  const sources: ScreenSourceShare[] = [];
  for (const source of p.manifest.sources) {
    const own = p.clips.filter((c) => c.segment!.sourceId === source.id && judgedIds.has(c.segment!.id));
    if (own.length === 0) continue;
    const kept = own.filter((c) => !belowIds.has(c.segment!.id));
    sources.push({ sourceId: source.id, path: source.path, kind: source.kind, clips: own.length, kept: kept.length, keptSec: kept.reduce((s, c) => s + c.seconds, 0), totalSec: own.reduce((s, c) => s + c.seconds, 0) });
  }
  if (options.dryRun && stillMissing > 0) notes.push(`${stillMissing} clips have no embedding yet and are not judged: run without --dry-run to compute them.`);
  return {
    project: p.project,
    dryRun: options.dryRun,
    threshold: options.threshold,
    reference: chosen.reference,
    judged: judged.length,
    sources,
    excluded: below.map((b) => ({ id: b.segment.id, sourceId: b.segment.sourceId, startSec: b.segment.startSec, endSec: b.segment.endSec, similarity: b.similarity })).sort((a, b) => a.similarity - b.similarity),
    newlyExcluded: change.excluded,
    reincluded: change.reincluded,
    unjudged,
    missing: options.dryRun ? stillMissing : 0,
    ...(estimate === undefined ? {} : { estimate }),
    ...(job === undefined ? {} : { job }),
    ...(page === undefined ? {} : { page }),
    notes,
  };
}
