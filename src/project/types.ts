/** Domain types shared by the manifest, ingest, preprocess and the quality report. */
import type { TrainingSampleRate } from '../tasks/train.js';

/** The sample rates are the train task's (tasks/train.ts): clips are cut at the rate the model is trained at. */
export { TRAINING_SAMPLE_RATES, type TrainingSampleRate } from '../tasks/train.js';

export type SourceKind = 'singing' | 'speech';
export const SOURCE_KINDS: readonly SourceKind[] = ['singing', 'speech'];

/** One distinct piece of audio the user gave us, identified by the sha256 of the original file. */
export interface Source {
  /** Short stable id derived from sha256 (first 12 hex digits). */
  id: string;
  /** sha256 of the original file's bytes. */
  sha256: string;
  /** The original file: relative to the project when inside it, else absolute. Never modified. */
  path: string;
  /** Other paths whose content was identical (the same file under another name). */
  aliases: string[];
  kind: SourceKind;
  durationSec: number;
  sampleRate: number;
  channels: number;
  /** Codec of the stream that was taken (e.g. "pcm_s16le", "aac"). */
  codec: string;
  /** Index of the audio stream taken from the container. */
  streamIndex: number;
  /** Lossless working copy, relative to the project (under .voicestudio/). */
  workingFile: string;
  sizeBytes: number;
  ingestedAt: string;
  /** Set while the whole source is kept out of training (`sources exclude`); its files and clips stay. */
  excluded?: Exclusion;
  /**
   * Stretches of this source kept out of training (`sources exclude <clip-id>`). Recorded by time, not by
   * clip id, because a re-cut renumbers the clips: a clip is out while it overlaps a stretch (see sources.ts).
   */
  excludedClips: ClipExclusion[];
}

/** Why and when something was kept out of training. */
export interface Exclusion {
  excludedAt: string;
  reason?: string;
}

export interface ClipExclusion extends Exclusion {
  /** The clip's id when it was excluded (ids change when preprocess re-cuts; the times below decide). */
  clipId: string;
  startSec: number;
  endSec: number;
}

/** A training clip cut from a source. */
export interface Segment {
  /** `<sourceId>-<nnnn>` */
  id: string;
  sourceId: string;
  /** Relative to the project. */
  file: string;
  startSec: number;
  endSec: number;
}

export interface PreprocessSettings {
  sampleRate: TrainingSampleRate;
  denoise: boolean;
  highpassHz: number;
  /** Integrated loudness every source is normalised to. */
  targetLufs: number;
  minClipSec: number;
  maxClipSec: number;
  /** Frames below this (dBFS) are silence; 'auto' derives it from the recording's levels (suggestSilenceThreshold). */
  silenceThresholdDb: number | 'auto';
  /** Shortest silence (ms) where a clip may be cut; shorter pauses and breaths stay inside clips. */
  minSilenceMs: number;
}

export type DropReason = 'silence' | 'clipping' | 'too_short';

export interface DroppedClip {
  startSec: number;
  endSec: number;
  reason: DropReason;
  /** Human explanation with the measured figure, e.g. "2.4 % of samples clipped". */
  detail: string;
  /** Seconds of sound (not silence) in the dropped stretch: what was lost. */
  soundSec: number;
}

/** Seconds of sound that did not reach a clip, by reason. */
export type LostSound = Record<DropReason, number>;

export interface QualityWarning {
  code: string;
  /** Which source (id) or "dataset". */
  scope: string;
  message: string;
  suggestion: string;
}

export interface LengthDistribution {
  count: number;
  minSec: number;
  medianSec: number;
  maxSec: number;
  /** Clip counts per bucket: [5,7), [7,9), [9,11), [11,13), [13,15]. */
  histogram: { fromSec: number; toSec: number; count: number }[];
}

export interface SourceQualityReport {
  sourceId: string;
  path: string;
  kind: SourceKind;
  durationSec: number;
  keptSec: number;
  droppedSec: number;
  /** Seconds of sound (frames at or above silenceThresholdDb) in the source. */
  soundSec: number;
  /** Seconds of that sound inside kept clips. */
  keptSoundSec: number;
  /** Seconds of sound lost, by reason: soundSec = keptSoundSec + the sum of these. */
  lostSoundSec: LostSound;
  /** The silence threshold used for this source (dBFS). */
  silenceThresholdDb: number;
  /** The source is shorter than the minimum clip length and was kept whole as one clip. */
  keptWhole: boolean;
  clips: LengthDistribution;
  dropped: DroppedClip[];
  /** Share (0..1) of samples at or near full scale in the original. */
  clippedShare: number;
  peakDbfs: number;
  /** After denoising when --denoise was on (see beforeDenoise). */
  noiseFloorDbfs: number;
  snrDb: number;
  /** With --denoise: the figures of the source as recorded. */
  beforeDenoise?: { noiseFloorDbfs: number; snrDb: number };
  loudnessLufs: number;
  warnings: QualityWarning[];
}

export interface DatasetQualityReport {
  generatedAt: string;
  settings: PreprocessSettings;
  sources: SourceQualityReport[];
  total: {
    durationSec: number;
    keptSec: number;
    droppedSec: number;
    soundSec: number;
    keptSoundSec: number;
    lostSoundSec: LostSound;
    clips: LengthDistribution;
    singingSec: number;
    speechSec: number;
    /** Share (0..1) of kept seconds that are singing. */
    singingShare: number;
    clippedShare: number;
  };
  warnings: QualityWarning[];
}

/** What preprocess last did for one source, so a re-run can skip it. */
export interface PreprocessRecord {
  sourceId: string;
  /** Hash of (source sha256, settings): a different key means the clips are stale. */
  key: string;
  segmentIds: string[];
  report: SourceQualityReport;
  processedAt: string;
}

/** Filled in by the training issue; kept opaque here so old manifests migrate cleanly. */
export interface ModelRecord {
  name: string;
  version: number;
  [field: string]: unknown;
}

export interface JobRecord {
  id: string;
  [field: string]: unknown;
}

export interface Manifest {
  version: number;
  createdAt: string;
  updatedAt: string;
  sources: Source[];
  segments: Segment[];
  preprocess: { settings?: PreprocessSettings; records: PreprocessRecord[] };
  models: ModelRecord[];
  jobs: JobRecord[];
}
