/**
 * The fixed lists of values some manifest fields take. Apart from the schema (which loads zod) so that commands can
 * offer them as choices at start-up.
 */

export const SOURCE_KINDS = ['singing', 'speech'] as const;

export const TRAINING_SAMPLE_RATES = [32000, 40000, 48000] as const;

/** Why a stretch of a source did not reach a clip. */
export const DROP_REASONS = ['silence', 'clipping', 'too_short'] as const;
