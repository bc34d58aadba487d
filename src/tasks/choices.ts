/**
 * The values commands offer as --option choices. Kept free of imports so a command can declare its options
 * without loading the pipeline behind it (start-up time).
 */

/** Applio 3.6.4's pitch extractors for training (its hybrid methods are not implemented). */
export const F0_METHODS = ['rmvpe', 'crepe', 'crepe-tiny', 'fcpe'] as const;
/** Content embedders the worker image bakes. */
export const EMBEDDERS = ['contentvec', 'spin', 'spin-v2', 'chinese-hubert-base', 'japanese-hubert-base', 'korean-hubert-base'] as const;
export const VOCODERS = ['HiFi-GAN', 'MRF HiFi-GAN', 'RefineGAN'] as const;
export const INDEX_ALGORITHMS = ['Auto', 'Faiss', 'KMeans'] as const;

/** Pitch extractors for conversion. */
export const CONVERT_F0_METHODS = ['rmvpe', 'fcpe', 'crepe', 'crepe-tiny'] as const;
export const OUTPUT_FORMATS = ['wav', 'flac', 'mp3'] as const;
