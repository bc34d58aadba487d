/** `voicestudio convert <inputs...> --model M -o OUT`: guide vocals into the model's voice. */
import path from 'node:path';
import { Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { ExitCode, UsageError } from '../errors.js';
import { action, type CliIo, type RunState } from '../ui/context.js';
import { backendOption } from './shared/backend-option.js';
import { integerInRange } from './shared/options.js';
import { addSettingOptions, settingValues } from './shared/setting-options.js';
import { CONVERT_SETTINGS } from '../tasks/convert.js';
import type { Output } from '../ui/output.js';
import { formatUsd, renderTable } from '../ui/table.js';
import type { ConvertResult } from '../workflows/convert.js';
import { addSeparationMixOptions, convertWithSeparationMix, separationMixFromCli } from './shared/separation-mix.js';

/** Where each input's conversion goes: `-o` is a file for one input, a folder for several (or when it ends in /). */
export function outputPaths(inputs: string[], output: string | undefined, modelLabel: string, format: string, cwd: string): { input: string; output: string }[] {
  const resolved = inputs.map((i) => path.resolve(cwd, i));
  const stem = (input: string): string => `${path.basename(input, path.extname(input))}.${modelLabel.replace(/[@/\\]/g, '-').replace(/\.(pth|zip)$/i, '')}.${format}`;
  if (output === undefined) return resolved.map((input) => ({ input, output: path.join(cwd, stem(input)) }));
  const target = path.resolve(cwd, output);
  const asFolder = resolved.length > 1 || output.endsWith('/') || output.endsWith(path.sep);
  if (!asFolder && path.extname(target).slice(1).toLowerCase() !== format) {
    throw new UsageError(`-o ${output} does not end in .${format}.`, `Name the output ${path.basename(target, path.extname(target))}.${format}, or pass --format ${path.extname(target).slice(1) || 'wav'}.`);
  }
  return resolved.map((input) => ({ input, output: asFolder ? path.join(target, stem(input)) : target }));
}

/** What renderConvert needs: a ConvertResult, or the items of convert --separate/--mix. */
type ConvertSummary = Pick<ConvertResult, 'model' | 'failed' | 'gpuSeconds' | 'costUsd'> & { items: { input: string; output: string; status: string; gpuSeconds?: number; error?: string }[] };

export function renderConvert(result: ConvertSummary, out: Output): string {
  const rows = result.items.map((i) => [path.basename(i.input), i.status, i.output, i.gpuSeconds === undefined || (i.gpuSeconds === 0 && i.status !== 'converted') ? '–' : `${i.gpuSeconds.toFixed(1)} s`]);
  const lines = [renderTable(['input', 'status', 'output', 'GPU'], rows), ''];
  for (const failed of result.items.filter((i) => i.status === 'failed')) lines.push(`${out.style('red', 'failed:')} ${path.basename(failed.input)}: ${failed.error ?? ''}`);
  const converted = result.items.filter((i) => i.status === 'converted').length;
  const cached = result.items.filter((i) => i.status === 'cached').length;
  lines.push(`model ${result.model}: ${converted} converted, ${cached} from cache, ${result.failed} failed; GPU ${result.gpuSeconds.toFixed(1)} s, ${formatUsd(result.costUsd)}`);
  return lines.join('\n');
}

export function registerConvert(program: CommandUnknownOpts, io: CliIo, state: RunState): void {
  const command = program
    .command('convert')
    .description("turn guide vocals into the model's voice (results are cached: the same conversion is never paid twice)")
    .argument('<inputs...>', 'audio or video files (a guide vocal, ideally dry and solo)')
    .requiredOption('-m, --model <model>', 'a project model (name or name@version), a .pth (with its .index beside it) or an RVC model .zip')
    .option('-o, --output <path>', 'output file (one input) or folder (several); default: <input>.<model>.<format> here')
    .option('-p, --project <dir>', 'project folder holding models, cache and job records', '.');
  const withSettings = addSettingOptions(command, CONVERT_SETTINGS)
    .addOption(backendOption())
    .addOption(new Option('--concurrency <n>', 'conversions at once (default: config concurrency)').argParser(integerInRange(1, 64)))
    .option('--cancel-on-interrupt', 'Ctrl-C cancels running jobs (default: detach; the next run collects them)', false);
  addSeparationMixOptions(withSettings)
    .addHelpText(
      'after',
      `
Inputs are sent as 16 kHz mono FLAC (what Applio analyses), inline when small. The output has the guide's
sample rate and exact length; the GPU result is cached, so another --format is only encoded here.
Exit code 3 when some inputs failed and the rest were converted.
With --separate a full song is split into vocals and instrumental on the GPU first (cached by content);
with --mix the output is the converted vocals mixed back with the instrumental, in --mix-format.

Examples:
  $ voicestudio convert guide.wav --model alice -o alice-take1.wav
  $ voicestudio convert takes/*.wav --model alice@2 --pitch -2 --format flac -o out/
  $ voicestudio convert song.mp3 --model alice --separate --mix --reverb 0.2 -o song-alice.wav
  $ voicestudio convert guide.wav --model ~/models/alice.zip --json`,
    )
    .action(
      action(io, state, async (ctx, inputs, options) => {
        const { convert } = await import('../workflows/convert.js');
        const { resolveModel } = await import('../project/models.js');
        const { locateFfmpeg } = await import('../audio/ffmpeg.js');
        const { openBackend, gpuPricePerHour } = await import('../runpod/connect.js');
        const { ConfigStore } = await import('../config/store.js');
        const projectDir = path.resolve(ctx.io.cwd, options.project);
        const settings = settingValues(CONVERT_SETTINGS, options);
        const concurrency = options.concurrency ?? Number(new ConfigStore({ env: ctx.io.env }).resolve('concurrency').value ?? 4);
        const model = await resolveModel(projectDir, options.model, ctx.io.cwd);
        if (options.separate || options.mix) {
          const mix = separationMixFromCli(options, () => false);
          const targets = outputPaths(inputs, options.output, model.label, options.mix ? options.mixFormat : settings.format, ctx.io.cwd);
          const done = await convertWithSeparationMix(ctx, { projectDir, targets, model, settings, mix: mix.settings, backend: options.backend, concurrency, cancelOnInterrupt: options.cancelOnInterrupt });
          ctx.out.result(done.result, () => renderConvert(done.result, ctx.out));
          return done.exitCode;
        }
        const targets = outputPaths(inputs, options.output, model.label, settings.format, ctx.io.cwd);
        const tools = await locateFfmpeg(ctx.io.env);
        const backend = await openBackend(options.backend, ctx.io.env, tools);
        const result = await convert({
          projectDir,
          inputs: targets,
          model,
          settings,
          backend,
          pricePerHour: gpuPricePerHour(ctx.io.env),
          tools,
          concurrency,
          cancelOnInterrupt: options.cancelOnInterrupt,
          signal: ctx.io.signal,
          onEvent: (event) => {
            if (event.stage !== 'converting' || event.progress === undefined) ctx.out.info(`${event.stage} ${path.basename(event.input)}`);
          },
        });
        ctx.out.result(result, () => renderConvert(result, ctx.out));
        return result.failed > 0 ? (result.failed === result.items.length ? ExitCode.Failure : ExitCode.Partial) : ExitCode.Success;
      }),
    );
}
