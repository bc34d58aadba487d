/**
 * Domain types shared by the manifest, ingest, preprocess and the quality report. What the manifest holds is declared
 * once, as its schema (manifest-schema.ts, with each field's documentation); its types are inferred from that here.
 * Imports of the schema are type-only, so this module loads no zod.
 */
import type { z } from 'zod';
import type { DROP_REASONS, SOURCE_KINDS, TRAINING_SAMPLE_RATES } from './manifest-choices.js';
import type {
  clipExclusionSchema,
  droppedClipSchema,
  exclusionSchema,
  jobRecordSchema,
  lengthDistributionSchema,
  lostSoundSchema,
  manifestSchema,
  modelRecordSchema,
  preprocessRecordSchema,
  preprocessSettingsSchema,
  qualityWarningSchema,
  segmentSchema,
  sourceQualityReportSchema,
  sourceSchema,
} from './manifest-schema.js';

export { SOURCE_KINDS, TRAINING_SAMPLE_RATES } from './manifest-choices.js';
export type SourceKind = (typeof SOURCE_KINDS)[number];

export type TrainingSampleRate = (typeof TRAINING_SAMPLE_RATES)[number];

export type Manifest = z.output<typeof manifestSchema>;
export type Source = z.output<typeof sourceSchema>;
export type Exclusion = z.output<typeof exclusionSchema>;
export type ClipExclusion = z.output<typeof clipExclusionSchema>;
export type Segment = z.output<typeof segmentSchema>;
export type PreprocessSettings = z.output<typeof preprocessSettingsSchema>;
export type PreprocessRecord = z.output<typeof preprocessRecordSchema>;
export type SourceQualityReport = z.output<typeof sourceQualityReportSchema>;
export type DropReason = (typeof DROP_REASONS)[number];
export type DroppedClip = z.output<typeof droppedClipSchema>;
export type LostSound = z.output<typeof lostSoundSchema>;
export type QualityWarning = z.output<typeof qualityWarningSchema>;
export type LengthDistribution = z.output<typeof lengthDistributionSchema>;
/** Filled in by the training code (models.ts, ledger.ts); only the keys are typed here. */
export type ModelRecord = z.output<typeof modelRecordSchema>;
export type JobRecord = z.output<typeof jobRecordSchema>;

/** The preprocess quality report (quality-report.json); not part of the manifest. */
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

