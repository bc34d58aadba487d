/** The separation and mix options of `batch` and `convert`, and convert's path through the album workflow when they are set. */
import { Option, type Command } from 'commander';
import type { ExitCode } from '../../errors.js';
import type { CommandContext } from '../../ui/context.js';
import { albumProgress } from '../../ui/album-progress.js';
import type { BackendKind } from './backend-option.js';
import { numberInRange } from './options.js';
import type { BatchResult, BatchTrack, SettingsPatch, TrackSettings } from '../../workflows/album.js';
import type { ConvertSettings } from '../../workflows/convert.js';
import type { MixSettings } from '../../audio/mix.js';
import type { ResolvedModel } from '../../project/models.js';

/** Kept here (not imported from audio/mix.js) so `--help` loads no audio code. */
const MIX_FORMATS = ['wav', 'flac', 'mp3'] as const;
const MIX_RATES = ['44100', '48000'] as const;

export interface SeparationMixCliOptions {
  separate: boolean;
  mix: boolean;
  vocalsGain: number;
  instrumentalGain: number;
  shiftInstrumental: boolean;
  reverb: number;
  compressor: boolean;
  eq?: string;
  deesser: boolean;
  targetLufs: number;
  mixFormat: MixSettings['format'];
  mixRate: (typeof MIX_RATES)[number];
}

/** `--separate`, `--mix` and the mix settings, for batch and convert alike. */
export function addSeparationMixOptions(command: Command): Command {
  return command
    .option('--separate', 'separate each input (a full song) into vocals and instrumental on the GPU first; the vocals are converted', false)
    .option('--mix', 'mix the converted vocals back with the instrumental here, with FFmpeg (needs --separate, or a plan track\'s "instrumental")', false)
    .addOption(new Option('--vocals-gain <dB>', 'mix: gain on the converted vocals').argParser(numberInRange(-60, 24)).default(0))
    .addOption(new Option('--instrumental-gain <dB>', 'mix: gain on the instrumental').argParser(numberInRange(-60, 24)).default(0))
    .option('--shift-instrumental', 'mix: transpose the instrumental by --pitch too (rubberband when FFmpeg has it)', false)
    .addOption(new Option('--reverb <0..1>', 'mix: room reverb on the vocals (0 = off)').argParser(numberInRange(0, 1)).default(0))
    .option('--compressor', 'mix: vocal compressor (3:1 from −20 dBFS)', false)
    .option('--eq <bands>', 'mix: EQ on the vocals, FREQ:GAIN[:Q] bands, e.g. 120:-3,3000:2:1.5')
    .option('--deesser', 'mix: tame sibilance on the vocals', false)
    .addOption(new Option('--target-lufs <LUFS>', 'mix: loudness of the result (true peak kept under −1 dBTP)').argParser(numberInRange(-40, -5)).default(-14))
    .addOption(new Option('--mix-format <format>', 'mix: output format').choices(MIX_FORMATS).default('wav'))
    .addOption(new Option('--mix-rate <hz>', 'mix: output sample rate').choices(MIX_RATES).default('44100'));
}

/** The command line's separation and mix settings, and the subset given explicitly (for precedence over a plan). */
export async function separationMixFromCli(options: SeparationMixCliOptions, explicit: (name: string) => boolean): Promise<{ settings: Pick<TrackSettings, 'separate' | 'mix' | 'mixSettings'>; patch: SettingsPatch }> {
  const { parseEq } = await import('../../audio/mix.js');
  const { UsageError } = await import('../../errors.js');
  let eq: MixSettings['eq'] = [];
  if (options.eq !== undefined) {
    try {
      eq = parseEq(options.eq);
    } catch (error) {
      throw new UsageError(`--eq ${options.eq}: ${(error as Error).message}.`, 'Give bands as FREQ:GAIN[:Q] separated by commas, e.g. --eq 120:-3,3000:2:1.5');
    }
  }
  const mixSettings: MixSettings = {
    vocalsGain: options.vocalsGain,
    instrumentalGain: options.instrumentalGain,
    shiftInstrumental: options.shiftInstrumental,
    reverb: options.reverb,
    compressor: options.compressor,
    eq,
    deesser: options.deesser,
    targetLufs: options.targetLufs,
    format: options.mixFormat,
    rate: Number(options.mixRate) as MixSettings['rate'],
  };
  const mixPatch: Partial<MixSettings> = {};
  const names: Record<keyof MixSettings, string> = {
    vocalsGain: 'vocalsGain',
    instrumentalGain: 'instrumentalGain',
    shiftInstrumental: 'shiftInstrumental',
    reverb: 'reverb',
    compressor: 'compressor',
    eq: 'eq',
    deesser: 'deesser',
    targetLufs: 'targetLufs',
    format: 'mixFormat',
    rate: 'mixRate',
  };
  for (const [field, option] of Object.entries(names) as [keyof MixSettings, string][]) if (explicit(option)) (mixPatch as Record<string, unknown>)[field] = mixSettings[field];
  const patch: SettingsPatch = {
    ...(explicit('separate') ? { separate: options.separate } : {}),
    ...(explicit('mix') ? { mix: options.mix } : {}),
    ...(Object.keys(mixPatch).length === 0 ? {} : { mixSettings: mixPatch }),
  };
  return { settings: { separate: options.separate, mix: options.mix, mixSettings }, patch };
}

/** `convert --separate/--mix`: the convert command's inputs and outputs as an album of its own. */
export async function convertWithSeparationMix(
  ctx: CommandContext,
  request: {
    projectDir: string;
    targets: { input: string; output: string }[];
    model: ResolvedModel;
    settings: ConvertSettings;
    mix: Awaited<ReturnType<typeof separationMixFromCli>>['settings'];
    backend: BackendKind;
    concurrency: number;
    cancelOnInterrupt: boolean;
  },
): Promise<{ result: { model: string; items: BatchResult['tracks']; failed: number; gpuSeconds: number; costUsd: number }; exitCode: ExitCode }> {
  const { runBatch, batchExitCode, settingsConflict } = await import('../../workflows/album.js');
  const { locateFfmpeg } = await import('../../audio/ffmpeg.js');
  const { openBackend, gpuPricePerHour } = await import('../../runpod/connect.js');
  const { UsageError } = await import('../../errors.js');
  const settings: TrackSettings = { ...request.settings, ...request.mix };
  if (settingsConflict(settings) !== undefined) {
    throw new UsageError('--mix needs --separate: the instrumental to mix with comes from separating the input.', 'Add --separate; to mix with an instrumental you already have, use voicestudio batch --plan with "instrumental".');
  }
  const tracks: BatchTrack[] = request.targets.map((t, index) => ({ index, input: t.input, output: t.output, settings, origin: t.input }));
  const model = request.model;
  const tools = await locateFfmpeg(ctx.io.env);
  const backend = await openBackend(request.backend, ctx.io.env, tools);
  const progress = albumProgress(ctx.out, tracks.length);
  let batch: BatchResult;
  try {
    batch = await runBatch({
      projectDir: request.projectDir,
      tracks,
      model,
      backend,
      tools,
      pricePerHour: gpuPricePerHour(ctx.io.env),
      concurrency: request.concurrency,
      retries: 2,
      failFast: false,
      cancelOnInterrupt: request.cancelOnInterrupt,
      signal: ctx.io.signal,
      onEvent: progress.onEvent,
    });
  } finally {
    progress.stop();
  }
  return { result: { model: batch.model, items: batch.tracks, failed: batch.failed, gpuSeconds: batch.gpuSeconds, costUsd: batch.costUsd }, exitCode: batchExitCode(batch) };
}
