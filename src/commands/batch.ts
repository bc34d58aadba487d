/**
 * `voicestudio batch [inputs...] --model M --out-dir DIR`: an album through the GPU, every track with its own
 * settings, nothing done twice. Also home of the separation and mix options `convert` shares.
 */
import path from 'node:path';
import { Option, type Command } from 'commander';
import { ExitCode } from '../errors.js';
import { action, type CliIo, type CommandContext, type RunState } from '../ui/context.js';
import { backendOption, type BackendKind } from './shared/backend-option.js';
import { addConversionOptions, type ConversionCliOptions } from './shared/conversion-options.js';
import { integerInRange, numberInRange } from './shared/options.js';
import type { Output } from '../ui/output.js';
import { formatUsd, renderTable } from '../ui/table.js';
import type { BatchEvent, BatchResult, BatchTrack, SettingsPatch, TrackSettings } from '../workflows/album.js';
import type { ConvertSettings } from '../workflows/convert.js';
import type { MixSettings } from '../audio/mix.js';
import type { ResolvedModel } from '../project/models.js';

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

interface BatchCliOptions extends SeparationMixCliOptions, ConversionCliOptions {
  model: string;
  outDir: string;
  plan?: string;
  project: string;
  backend: BackendKind;
  concurrency?: number;
  retries: number;
  failFast: boolean;
  cancelOnInterrupt: boolean;
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
  const { parseEq } = await import('../audio/mix.js');
  const { UsageError } = await import('../errors.js');
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

/** --concurrency, else the `concurrency` setting if the user set it, else the endpoint's current worker count, else the setting's default. */
async function resolveConcurrency(ctx: CommandContext, explicit: number | undefined, backend: BackendKind): Promise<{ value: number; source: string }> {
  if (explicit !== undefined) return { value: explicit, source: '--concurrency' };
  if (backend === 'local') return { value: 1, source: 'one local GPU' };
  const { ConfigStore } = await import('../config/store.js');
  const store = new ConfigStore({ env: ctx.io.env });
  const setting = store.resolve('concurrency');
  if (setting.source === 'env' || setting.source === 'config') return { value: Number(setting.value), source: 'config concurrency' };
  try {
    const { resolveRunpodSettings, RunpodClient } = await import('../runpod/client.js');
    const client = new RunpodClient(await resolveRunpodSettings(store));
    const { workers } = await client.health({ signal: AbortSignal.any([ctx.io.signal, AbortSignal.timeout(5_000)]) });
    const count = workers.idle + workers.running + (workers.initializing ?? 0);
    if (count > 0) return { value: Math.min(64, count), source: "the endpoint's workers" };
  } catch {
    // No answer: the default below; the first job reports a real problem with the endpoint.
  }
  return { value: Number(setting.value ?? 4), source: 'default' };
}

const shortName = (track: BatchTrack): string => path.basename(track.input);

/** Progress: a bar per running track and an overall bar on a terminal; one line per event elsewhere. */
export function batchProgress(out: Output, total: number): { onEvent: (event: BatchEvent) => void; stop: () => void } {
  const progress = out.multiProgress('album', total);
  const bars = new Map<number, ReturnType<typeof progress.task>>();
  const lastDetail = new Map<number, string>();
  const counts = { converted: 0, cached: 0, failed: 0, skipped: 0 };
  const summary = (): string => `${counts.converted} converted · ${counts.cached} cached · ${counts.failed} failed`;
  return {
    onEvent: (event) => {
      const { track } = event;
      const label = `[${track.index + 1}/${total}] ${shortName(track)}`;
      if (event.stage === 'start') {
        bars.set(track.index, progress.task(shortName(track).slice(0, 28).padEnd(28), event.steps));
        return;
      }
      if (event.stage === 'done' || event.stage === 'failed' || event.stage === 'skipped') {
        const status = event.result?.status ?? 'failed';
        counts[status] += 1;
        bars.get(track.index)?.stop();
        bars.delete(track.index);
        const result = event.result;
        const note =
          status === 'failed' || status === 'skipped'
            ? `${status}: ${event.detail}`
            : `${status}${result?.mix === undefined ? '' : `, ${result.mix.lufs.toFixed(1)} LUFS`}${result !== undefined && result.gpuSeconds > 0 ? `, GPU ${result.gpuSeconds.toFixed(1)} s` : ''} → ${result?.output ?? ''}`;
        progress.log(`${label} ${note}`);
        progress.overall(counts.converted + counts.cached + counts.failed + counts.skipped, summary());
        return;
      }
      if (event.stage === 'retry') {
        progress.log(`${label} ${event.detail}`);
        return;
      }
      bars.get(track.index)?.update(event.step, event.detail);
      if (lastDetail.get(track.index) !== event.detail) {
        lastDetail.set(track.index, event.detail);
        if (!out.interactive) progress.log(`${label} ${event.detail}`);
      }
    },
    stop: () => progress.stop(),
  };
}

export function renderBatch(result: BatchResult, out: Output, cwd: string): string {
  const shown = (file: string): string => {
    const relative = path.relative(cwd, file);
    return relative.startsWith('..') ? file : relative;
  };
  const mixed = result.tracks.some((t) => t.mix !== undefined);
  const rows = result.tracks.map((t) => [
    String(t.track),
    path.basename(t.input),
    t.status,
    t.status === 'failed' || t.status === 'skipped' ? '–' : shown(t.output),
    t.gpuSeconds > 0 ? `${t.gpuSeconds.toFixed(1)} s` : '–',
    ...(mixed ? [t.mix === undefined ? '–' : `${t.mix.lufs.toFixed(1)} LUFS`] : []),
  ]);
  const lines = [renderTable(['#', 'input', 'status', 'output', 'GPU', ...(mixed ? ['mix'] : [])], rows), ''];
  for (const t of result.tracks.filter((x) => x.status === 'failed')) lines.push(`${out.style('red', 'failed:')} ${path.basename(t.input)}: ${t.error ?? ''}`);
  const warnings = [...new Set(result.tracks.flatMap((t) => t.warnings))];
  for (const warning of warnings) lines.push(`${out.style('yellow', 'warning:')} ${warning}`);
  lines.push(
    `model ${result.model}: ${result.converted} converted, ${result.cached} from cache, ${result.failed} failed${result.skipped > 0 ? `, ${result.skipped} skipped` : ''}; ` +
      `GPU ${result.gpuSeconds.toFixed(1)} s, ${formatUsd(result.costUsd)}; ${result.wallSeconds.toFixed(1)} s with ${result.concurrency} at a time`,
  );
  return lines.join('\n');
}

export function registerBatch(program: Command, io: CliIo, state: RunState): void {
  const command = program
    .command('batch')
    .description('convert an album: many tracks, each with its own settings, run concurrently; finished tracks are never converted again')
    .argument('[inputs...]', 'audio or video files, and folders (searched recursively)')
    .requiredOption('-m, --model <model>', 'a project model (name or name@version), a .pth (with its .index beside it) or an RVC model .zip')
    .requiredOption('-o, --out-dir <dir>', 'where the tracks are written (<input name>.<format>; folders keep their sub-folders)')
    .option('--plan <file>', 'a JSON plan: tracks with their own input, output name and settings (see below)')
    .option('-p, --project <dir>', 'project folder holding models, caches and job records', '.');
  addConversionOptions(command, 'format of the converted vocals (the output, unless mixed)');
  addSeparationMixOptions(command)
    .addOption(new Option('--concurrency <n>', "GPU jobs at once (default: config concurrency if set, else the endpoint's workers)").argParser(integerInRange(1, 64)))
    .addOption(new Option('--retries <n>', 'further attempts of a track after a failure that may go away (lost job, outage, crashed worker)').argParser(integerInRange(0, 10)).default(2))
    .option('--fail-fast', 'after the first failed track start no more (running ones finish)', false)
    .addOption(backendOption())
    .option('--cancel-on-interrupt', 'Ctrl-C cancels running jobs (default: detach; the next run collects them)', false)
    .addHelpText(
      'after',
      `
Settings on the command line apply to every track; a plan's "defaults" apply unless given on the command
line; a plan track's own settings win over both. Re-running the same command converts nothing that was
converted before (same input content, model and settings); after a crash, kill or Ctrl-C it collects the
jobs still running instead of paying for them again. Exit code 0 when every track succeeded, 3 when some
failed (listed with their reasons), 1 when all failed, 130 when interrupted.

Plan file (relative paths resolve against the plan's folder):
  {
    "version": 1,
    "defaults": { "pitch": -2, "separate": true, "mix": { "targetLufs": -14 } },
    "tracks": [
      "01 intro.wav",
      { "input": "02 verse.flac", "output": "02 Verse (alice)", "pitch": 0, "indexRate": 0.5 },
      { "input": "03 acapella.wav", "separate": false, "instrumental": "03 instrumental.wav",
        "mix": { "vocalsGain": 1.5, "reverb": 0.2, "eq": "120:-3,3000:2", "format": "flac", "rate": 48000 } },
      { "input": "04 outro.mp3", "mix": false, "format": "flac" }
    ]
  }
  Track fields: input (required), output (a name in --out-dir; the extension is added), pitch, indexRate,
  protect, volumeEnvelope, f0Method, format, separate, instrumental, mix (true, false, or an object of
  vocalsGain, instrumentalGain, shiftInstrumental, reverb, compressor, eq, deesser, targetLufs, format, rate).

Examples:
  $ voicestudio batch ./songs --model alice --out-dir ./album
  $ voicestudio batch ./songs -m alice -o ./album --separate --mix --pitch -2 --shift-instrumental
  $ voicestudio batch --plan album.json -m alice@2 -o ./album --json     # CI: one JSON summary, honest exit code`,
    )
    .action(
      action(io, state, async (ctx, inputs: string[], options: BatchCliOptions) => {
        const { buildTrackList, readPlan, runBatch, batchExitCode } = await import('../workflows/album.js');
        const { resolveModel } = await import('../project/models.js');
        const { locateFfmpeg } = await import('../audio/ffmpeg.js');
        const { openBackend, gpuPricePerHour } = await import('../runpod/connect.js');
        const { WORK_DIR } = await import('../project/manifest.js');
        const explicit = (name: string): boolean => {
          const source = command.getOptionValueSource(name);
          return source === 'cli' || source === 'env';
        };
        const projectDir = path.resolve(ctx.io.cwd, options.project);
        const mix = await separationMixFromCli(options, explicit);
        const base: TrackSettings = {
          pitch: options.pitch,
          indexRate: options.indexRate,
          protect: options.protect,
          volumeEnvelope: options.volumeEnvelope,
          f0Method: options.f0Method,
          format: options.format,
          ...mix.settings,
        };
        const convertPatch: SettingsPatch = {};
        for (const field of ['pitch', 'indexRate', 'protect', 'volumeEnvelope', 'f0Method', 'format'] as const) if (explicit(field)) (convertPatch as Record<string, unknown>)[field] = options[field];
        const plan = options.plan === undefined ? undefined : await readPlan(path.resolve(ctx.io.cwd, options.plan));
        const tracks = await buildTrackList({
          inputs,
          ...(plan === undefined ? {} : { plan }),
          cwd: ctx.io.cwd,
          outDir: options.outDir,
          base,
          explicit: { ...convertPatch, ...mix.patch },
          skipDirs: [path.join(projectDir, WORK_DIR)],
        });
        const model = await resolveModel(projectDir, options.model, ctx.io.cwd);
        const tools = await locateFfmpeg(ctx.io.env);
        const [backend, concurrency] = await Promise.all([openBackend(options.backend, ctx.io.env, tools), resolveConcurrency(ctx, options.concurrency, options.backend)]);
        ctx.out.info(`${tracks.length} track${tracks.length === 1 ? '' : 's'} with model ${model.label}, ${concurrency.value} GPU job${concurrency.value === 1 ? '' : 's'} at a time (${concurrency.source})`);
        const progress = batchProgress(ctx.out, tracks.length);
        let result: BatchResult;
        try {
          result = await runBatch({
            projectDir,
            tracks,
            model,
            backend,
            tools,
            pricePerHour: gpuPricePerHour(ctx.io.env),
            concurrency: concurrency.value,
            retries: options.retries,
            failFast: options.failFast,
            cancelOnInterrupt: options.cancelOnInterrupt,
            signal: ctx.io.signal,
            onEvent: progress.onEvent,
          });
        } finally {
          progress.stop();
        }
        ctx.out.result(result, () => renderBatch(result, ctx.out, ctx.io.cwd));
        return batchExitCode(result);
      }),
    );
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
  const { runBatch, batchExitCode, settingsConflict } = await import('../workflows/album.js');
  const { locateFfmpeg } = await import('../audio/ffmpeg.js');
  const { openBackend, gpuPricePerHour } = await import('../runpod/connect.js');
  const { UsageError } = await import('../errors.js');
  const settings: TrackSettings = { ...request.settings, ...request.mix };
  if (settingsConflict(settings) !== undefined) {
    throw new UsageError('--mix needs --separate: the instrumental to mix with comes from separating the input.', 'Add --separate; to mix with an instrumental you already have, use voicestudio batch --plan with "instrumental".');
  }
  const tracks: BatchTrack[] = request.targets.map((t, index) => ({ index, input: t.input, output: t.output, settings, origin: t.input }));
  const model = request.model;
  const tools = await locateFfmpeg(ctx.io.env);
  const backend = await openBackend(request.backend, ctx.io.env, tools);
  const progress = batchProgress(ctx.out, tracks.length);
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
