/** The separation and mix options of `batch` and `convert`, and convert's path through the album workflow when they are set. */
import type { Command, OptionValues } from '@commander-js/extra-typings';
import { UsageError, type ExitCode } from '../../errors.js';
import type { CommandContext } from '../../ui/context.js';
import { albumProgress } from '../../ui/album-progress.js';
import type { BackendKind } from './backend-option.js';
import { addSettingOptions, type SettingOptionValues } from './setting-options.js';
import type { BatchResult, BatchTrack } from '../../workflows/album.js';
import type { ConvertSettings } from '../../tasks/convert.js';
import { ALBUM_SWITCHES, MIX_SETTINGS, mixSettingsOf, parseEq, type MixSettings } from '../../tasks/mix.js';
import type { SettingsPatch, TrackSettings } from '../../tasks/plan.js';
import type { ResolvedModel } from '../../project/models.js';

export type SeparationMixCliOptions = SettingOptionValues<typeof ALBUM_SWITCHES> & SettingOptionValues<typeof MIX_SETTINGS>;

/** `--separate`, `--mix` and the mix settings, for batch and convert alike. */
export function addSeparationMixOptions<Args extends unknown[], Opts extends OptionValues, GlobalOpts extends OptionValues>(command: Command<Args, Opts, GlobalOpts>) {
  return addSettingOptions(addSettingOptions(command, ALBUM_SWITCHES), MIX_SETTINGS);
}

/** The command line's separation and mix settings, and the subset given explicitly (for precedence over a plan). */
export function separationMixFromCli(options: SeparationMixCliOptions, explicit: (name: string) => boolean): { settings: Pick<TrackSettings, 'separate' | 'mix' | 'mixSettings'>; patch: SettingsPatch } {
  let eq: MixSettings['eq'] = [];
  if (options.eq !== undefined) {
    try {
      eq = parseEq(options.eq);
    } catch (error) {
      throw new UsageError(`--eq ${options.eq}: ${(error as Error).message}.`, 'Give bands as FREQ:GAIN[:Q] separated by commas, e.g. --eq 120:-3,3000:2:1.5');
    }
  }
  const mixSettings = mixSettingsOf(options, eq);
  const mixPatch: Partial<MixSettings> = {};
  for (const [option, setting] of Object.entries(MIX_SETTINGS)) if (explicit(option)) Object.assign(mixPatch, { [setting.plan]: mixSettings[setting.plan] });
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
    mix: ReturnType<typeof separationMixFromCli>['settings'];
    backend: BackendKind;
    concurrency: number;
    cancelOnInterrupt: boolean;
  },
): Promise<{ result: { model: string; items: BatchResult['tracks']; failed: number; gpuSeconds: number; costUsd: number }; exitCode: ExitCode }> {
  const { runBatch, batchExitCode, settingsConflict } = await import('../../workflows/album.js');
  const { locateFfmpeg } = await import('../../audio/ffmpeg.js');
  const { openBackend, gpuPricePerHour } = await import('../../runpod/connect.js');
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
