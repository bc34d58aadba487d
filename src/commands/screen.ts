/** `voicestudio screen <project>`: keep only the singer's voice in training (a speaker screen on the GPU endpoint). */
import path from 'node:path';
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { ExitCode } from '../errors.js';
import { action, type CliIo, type RunState } from '../ui/context.js';
import { backendOption } from './shared/backend-option.js';
import { screenOptions } from './shared/screen-options.js';
import { renderScreen, renderScreenEstimate } from '../ui/screen.js';

export function registerScreen(program: CommandUnknownOpts, io: CliIo, state: RunState): void {
  const command = program
    .command('screen')
    .description("keep only the singer: clips whose voice is not the reference voice are excluded from training (never deleted)")
    .argument('<project>', 'project folder');
  screenOptions(command)
    .option('--dry-run', 'show what would be excluded with the embeddings already computed, and what computing the rest would cost; change and send nothing', false)
    .addOption(backendOption())
    .option('--cancel-on-interrupt', 'Ctrl-C cancels the job (default: detach; the next run collects it)', false)
    .addHelpText(
      'after',
      `
Every clip the user has not excluded (held-out clips too) gets a speaker embedding (Resemblyzer) on the GPU
endpoint, once per clip: they are kept in <project>/.voicestudio/embeddings.json, so a re-run, another threshold
or another reference sends no job; only new clips need one. The reference voice is the --reference recordings,
else the clips of the --reference-source sources, else the largest group of like-sounding singing clips.
A clip whose cosine similarity to it is below the threshold is excluded like "sources exclude" excludes a clip,
marked as the screen's: the next screen decides it again (a lower threshold gives it back); clips you excluded
yourself stay excluded. The report page, <project>/.voicestudio/report.html, is written again: it plays each
excluded clip with its score.

Examples:
  $ voicestudio screen ./interviews --dry-run
  $ voicestudio screen ./interviews
  $ voicestudio screen ./interviews --reference alone.wav --threshold 0.7
  $ voicestudio screen ./interviews --reference-source 3f9c2a1b7d0e --json | jq '.excluded'
  $ voicestudio train ./interviews --screen       # screen, then train on what it keeps`,
    )
    .action(
      action(io, state, async (ctx, project, options) => {
        const { screen } = await import('../workflows/screen.js');
        const { locateFfmpeg } = await import('../audio/ffmpeg.js');
        const { openBackend, gpuPricePerHour } = await import('../runpod/connect.js');
        const tools = await locateFfmpeg(ctx.io.env);
        const result = await screen({
          projectDir: path.resolve(ctx.io.cwd, project),
          ...(options.reference === undefined ? {} : { references: options.reference.map((f) => path.resolve(ctx.io.cwd, f)) }),
          ...(options.referenceSource === undefined ? {} : { referenceSources: options.referenceSource }),
          threshold: options.threshold,
          dryRun: options.dryRun,
          // A dry run sends nothing and needs no endpoint.
          backend: options.dryRun ? undefined : await openBackend(options.backend, ctx.io.env, tools),
          tools,
          pricePerHour: gpuPricePerHour(ctx.io.env),
          cancelOnInterrupt: options.cancelOnInterrupt,
          signal: ctx.io.signal,
          onEvent: (event) => {
            if (event.stage === 'estimate' && event.estimate !== undefined) ctx.out.info(renderScreenEstimate(event.estimate));
            else if (event.stage === 'embedding' && event.progress !== undefined) ctx.out.spinner(`embedding: ${event.progress.message ?? event.progress.stage}`);
            else ctx.out.spinner(event.stage);
          },
        });
        ctx.out.stopSpinner();
        ctx.out.result(result, () => renderScreen(result, ctx.out));
        return ExitCode.Success;
      }),
    );
}
