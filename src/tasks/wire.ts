/**
 * The wire format of the worker's paid tasks (gpu/README.md, "Job protocol"), in one place: what each task is sent
 * (its settings under their wire names, from the tables) and what it returns, checked with zod when it arrives.
 */
import { z } from 'zod';
import { ErrorCode, VoicestudioError } from '../errors.js';
import type { AUDITION_SETTINGS } from './audition.js';
import type { CONVERT_SETTINGS } from './convert.js';
import type { SEPARATE_SETTINGS } from './separate.js';
import type { WireValues } from './settings.js';
import type { TRAIN_SETTINGS } from './train.js';

/** A file input of a worker job: in the worker's blob store, or inline as base64. */
export type FileRef = { blob: string } | { data: string };

const workerFileSchema = z.union([
  z.looseObject({ sha256: z.string(), size: z.number(), blob: z.string() }),
  z.looseObject({ sha256: z.string(), size: z.number(), data: z.string() }),
]);

/** A file the worker produced: in the blob store, or inline. */
export type WorkerFile = { sha256: string; size: number; blob: string } | { sha256: string; size: number; data: string };

/** `exclude`: members of the dataset archive the worker leaves out when it unpacks it (the speaker screen's verdicts, held-out clips). */
export type TrainInput = { task: 'train'; run_id: string; dataset: FileRef; exclude?: string[]; if_busy: 'wait' | 'report' } & WireValues<typeof TRAIN_SETTINGS>;

/** `request_key`: the worker runs one job per key, so a duplicate submit costs no second job's work. */
export type ConvertInput = { task: 'convert'; request_key: string; model: FileRef; index?: FileRef; input: FileRef; output_format: 'flac' | 'wav' | 'mp3' } & WireValues<typeof CONVERT_SETTINGS>;

export type SeparateInput = { task: 'separate'; request_key: string; input: FileRef } & WireValues<typeof SEPARATE_SETTINGS>;

/** An epoch the worker kept on the volume (its checkpoint's file and hash). */
const savedEpochSchema = z.object({ epoch: z.int(), step: z.int(), sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.int(), filename: z.string() });

const trainOutputSchema = z.looseObject({
  model: workerFileSchema,
  index: workerFileSchema.nullish(),
  training: z.record(z.string(), z.unknown()),
  timings: z.record(z.string(), z.unknown()),
  // An older worker lists none; an entry that is not understood is left out rather than failing the whole result.
  saved_epochs: z.unknown().transform((entries) =>
    (Array.isArray(entries) ? entries : []).flatMap((entry: unknown) => {
      const parsed = savedEpochSchema.safeParse(entry);
      return parsed.success ? [parsed.data] : [];
    }),
  ),
});

/** The converted file, under "output" (or, from a worker of an older protocol, the file itself). */
const convertOutputSchema = z.union([z.looseObject({ output: workerFileSchema }), workerFileSchema.transform((output) => ({ output }))]);

const separateOutputSchema = z.looseObject({ stems: z.object({ vocals: workerFileSchema, instrumental: workerFileSchema }) });
export type SeparateOutput = z.output<typeof separateOutputSchema>;

/**
 * `audition`: every listed epoch converts every guide; `singer_clips` are the target voice. Conversion settings as
 * for convert (autotune, splitting and cleaning stay off on the worker: they would change what is measured).
 */
export type AuditionInput = {
  task: 'audition';
  request_key: string;
  epochs: { epoch: number; model: FileRef }[];
  index?: FileRef;
  guides: FileRef[];
  singer_clips: FileRef[];
  output_mode: 'auto' | 'inline' | 'blob';
} & WireValues<typeof AUDITION_SETTINGS>;

const score = z.number().nullable();
const dnsmosSchema = z.looseObject({ ovrl: z.number() }).nullish();
const auditionOutputSchema = z.looseObject({
  epochs: z.array(
    z.looseObject({
      epoch: z.int(),
      similarity: z.number(),
      f0_rmse_cents: score,
      voicing_agreement: z.number(),
      dnsmos_ovrl: z.number().nullish(),
      phrases: z.array(
        z.looseObject({
          guide: z.int(),
          similarity: z.number(),
          f0_rmse_cents: score,
          voicing_agreement: z.number(),
          dnsmos: dnsmosSchema,
          output: z.intersection(workerFileSchema, z.looseObject({ format: z.string() })),
        }),
      ),
    }),
  ),
  guides: z.array(z.looseObject({ guide: z.int(), similarity: z.number(), dnsmos: dnsmosSchema })),
  singer: z.looseObject({ clips: z.int(), seconds: z.number() }),
  recommendation: z.looseObject({ epoch: z.int(), within_f0_bound: z.boolean(), plateau_epoch: z.int().nullable(), reason: z.string() }),
  scoring: z.looseObject({ naturalness: z.unknown(), device: z.string() }),
});
export type AuditionOutput = z.output<typeof auditionOutputSchema>;

/** `screen`: a speaker embedding of every member of the dataset archive (clips, and the user's reference recordings). */
export type ScreenInput = { task: 'screen'; request_key: string; dataset: FileRef; output_mode: 'auto' | 'inline' | 'blob' };

const screenEmbeddingsSchema = z.array(
  z.looseObject({ name: z.string(), embedding: z.array(z.number()).nullable(), voice_seconds: z.number(), reason: z.string().nullish() }),
);
/** The embeddings inline, or (when large) in a JSON blob holding the same list. */
const screenOutputSchema = z.union([
  z.looseObject({ embeddings: screenEmbeddingsSchema, model: z.string(), dimensions: z.int() }).transform((o) => ({ model: o.model, embeddings: o.embeddings })),
  z.looseObject({ embeddings_blob: workerFileSchema, model: z.string(), dimensions: z.int() }).transform((o) => ({ model: o.model, embeddingsBlob: o.embeddings_blob })),
]);
/** The blob holds the list itself (gpu/README.md); an object holding it under "embeddings" is read too. */
const screenEmbeddingsDocumentSchema = z.union([screenEmbeddingsSchema.transform((embeddings) => ({ embeddings })), z.looseObject({ embeddings: screenEmbeddingsSchema })]);
export type ScreenOutput = z.output<typeof screenOutputSchema>;
export type ScreenEmbedding = z.output<typeof screenEmbeddingsSchema>[number];

/** A finished job's output, checked against its task's result format; a JobOutputMissing error names what is missing. */
function taskOutput<S extends z.ZodType>(schema: S, task: string, output: unknown, job: { jobId: string; subject: string }): z.output<S> {
  const parsed = schema.safeParse(output);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue === undefined || issue.path.length === 0 ? 'result' : issue.path.join('.');
  throw new VoicestudioError(ErrorCode.JobOutputMissing, `The ${task} job ${job.jobId} for ${job.subject} returned no usable ${field}.`, {
    subject: job.subject,
    suggestion: 'Check that the endpoint runs the voicestudio worker image that matches this version of voicestudio.',
  });
}

export const trainOutput = (output: unknown, job: { jobId: string; subject: string }) => taskOutput(trainOutputSchema, 'train', output, job);
export const convertOutput = (output: unknown, job: { jobId: string; subject: string }) => taskOutput(convertOutputSchema, 'convert', output, job);
export const separateOutput = (output: unknown, job: { jobId: string; subject: string }) => taskOutput(separateOutputSchema, 'separate', output, job);
export const screenOutput = (output: unknown, job: { jobId: string; subject: string }) => taskOutput(screenOutputSchema, 'screen', output, job);
/** The embeddings list of the JSON blob a screen job returned when they were too many to travel inline. */
export const screenEmbeddingsBlob = (document: unknown, job: { jobId: string; subject: string }): ScreenEmbedding[] =>
  taskOutput(screenEmbeddingsDocumentSchema, 'screen', document, job).embeddings;
export const auditionOutput = (output: unknown, job: { jobId: string; subject: string }) => taskOutput(auditionOutputSchema, 'audition', output, job);
