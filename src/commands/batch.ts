/**
 * `voicestudio batch [inputs...] --model M --out-dir DIR`: an album through the GPU, every track with its own
 * settings, nothing done twice. Also home of the separation and mix options `convert` shares.
 */
import path from 'node:path';
import { Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { action, type CliIo, type CommandContext, type RunState } from '../ui/context.js';
import { backendOption, type BackendKind } from './shared/backend-option.js';
import { integerInRange } from './shared/options.js';
import { addSettingOptions, settingValues } from './shared/setting-options.js';
import { addSeparationMixOptions, separationMixFromCli } from './shared/separation-mix.js';
import { albumProgress } from '../ui/album-progress.js';
import type { Output } from '../ui/output.js';
import { formatUsd, renderTable } from '../ui/table.js';
import type { BatchResult } from '../workflows/album.js';
import { CONVERT_SETTINGS } from '../tasks/convert.js';
import type { SettingsPatch, TrackSettings } from '../tasks/plan.js';

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

export function registerBatch(program: CommandUnknownOpts, io: CliIo, state: RunState): void {
  const command = program
    .command('batch')
    .description('convert an album: many tracks, each with its own settings, run concurrently; finished tracks are never converted again')
    .argument('[inputs...]', 'audio or video files, and folders (searched recursively)')
    .requiredOption('-m, --model <model>', 'a project model (name or name@version), a .pth (with its .index beside it) or an RVC model .zip')
    .requiredOption('-o, --out-dir <dir>', 'where the tracks are written (<input name>.<format>; folders keep their sub-folders)')
    .option('--plan <file>', 'a JSON plan: tracks with their own input, output name and settings (see below)')
    .option('-p, --project <dir>', 'project folder holding models, caches and job records', '.');
  addSeparationMixOptions(addSettingOptions(command, CONVERT_SETTINGS, { format: 'format of the converted vocals (the output, unless mixed)' }))
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
      action(io, state, async (ctx, inputs, options) => {
        const { buildTrackList, runBatch, batchExitCode } = await import('../workflows/album.js');
        const { readPlan } = await import('../tasks/plan.js');
        const { resolveModel } = await import('../project/models.js');
        const { locateFfmpeg } = await import('../audio/ffmpeg.js');
        const { openBackend, gpuPricePerHour } = await import('../runpod/connect.js');
        const { WORK_DIR } = await import('../project/layout.js');
        const explicit = (name: string): boolean => {
          const source = command.getOptionValueSource(name);
          return source === 'cli' || source === 'env';
        };
        const projectDir = path.resolve(ctx.io.cwd, options.project);
        const mix = separationMixFromCli(options, explicit);
        const convertSettings = settingValues(CONVERT_SETTINGS, options);
        const base: TrackSettings = { ...convertSettings, ...mix.settings };
        const convertPatch: SettingsPatch = Object.fromEntries(Object.entries(convertSettings).filter(([name]) => explicit(name)));
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
        const progress = albumProgress(ctx.out, tracks.length);
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
