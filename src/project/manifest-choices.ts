/**
 * The fixed lists of values some manifest fields take. Apart from the schema (which loads zod) so that commands can
 * offer them as choices at start-up.
 */

export const SOURCE_KINDS = ['singing', 'speech'] as const;

/** The train task's (tasks/train.ts): clips are cut at the rate the model is trained at. */
export { TRAINING_SAMPLE_RATES } from '../tasks/train.js';

/** Why a stretch of a source did not reach a clip. */
export const DROP_REASONS = ['silence', 'clipping', 'too_short'] as const;
