/** The settings of the worker's `train` task. */
import { defineSettings, type SettingsValues } from './settings.js';

export const TRAIN_SETTINGS = defineSettings({
  epochs: { type: 'integer', flag: '--epochs <n>', wire: 'epochs', min: 1, max: 10000, default: 300, help: 'total epochs (200 quick test, 300–500 final)' },
  batchSize: { type: 'integer', flag: '--batch-size <n>', wire: 'batch_size', min: 1, max: 50, default: 8, help: 'batch size (8 suits an RTX 4090)' },
  sampleRate: {
    type: 'choice',
    flag: '--sample-rate <hz>',
    wire: 'sample_rate',
    choices: [32000, 40000, 48000],
    default: 40000,
    inherited: "the project's last preprocess, else 40000",
    help: "model sample rate (re-cuts the clips when it differs from the project's)",
  },
  // Applio 3.6.4's hybrid methods are not implemented.
  f0Method: { type: 'choice', flag: '--f0-method <method>', wire: 'f0_method', choices: ['rmvpe', 'crepe', 'crepe-tiny', 'fcpe'], default: 'rmvpe', help: 'pitch extraction' },
  // The embedders the worker image bakes.
  embedder: {
    type: 'choice',
    flag: '--embedder <name>',
    wire: 'embedder',
    choices: ['contentvec', 'spin', 'spin-v2', 'chinese-hubert-base', 'japanese-hubert-base', 'korean-hubert-base'],
    default: 'contentvec',
    help: 'content embedder',
  },
  saveEvery: { type: 'integer', flag: '--save-every <n>', wire: 'save_every', min: 1, max: 100, default: 50, help: 'checkpoint every n epochs (a resumed run restarts from the last one)' },
  vocoder: { type: 'choice', flag: '--vocoder <name>', wire: 'vocoder', choices: ['HiFi-GAN', 'MRF HiFi-GAN', 'RefineGAN'], default: 'HiFi-GAN', help: 'vocoder' },
  indexAlgorithm: { type: 'choice', flag: '--index-algorithm <name>', wire: 'index_algorithm', choices: ['Auto', 'Faiss', 'KMeans'], default: 'Auto', help: 'feature index algorithm' },
});

export type TrainTaskSettings = SettingsValues<typeof TRAIN_SETTINGS>;
export type TrainingSampleRate = TrainTaskSettings['sampleRate'];
export const TRAINING_SAMPLE_RATES = TRAIN_SETTINGS.sampleRate.choices;
