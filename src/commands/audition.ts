/** `voicestudio audition <project> -m MODEL`: hear every saved epoch, scored against the singer, and pick the best. */
import path from 'node:path';
import { Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { ExitCode } from '../errors.js';
import { action, type CliIo, type RunState } from '../ui/context.js';
import { backendOption } from './shared/backend-option.js';
import { epochList } from './shared/options.js';
import { addSettingOptions, settingValues } from './shared/setting-options.js';
import { AUDITION_SETTINGS } from '../tasks/audition.js';
import { renderAudition, renderEstimate } from '../ui/audition.js';

export function registerAudition(program: CommandUnknownOpts, io: CliIo, state: RunState): void {
  const command = program
    .command('audition')
    .description('convert the same phrases with every saved epoch, score each against the singer, recommend one, and write a page to listen and compare')
    .argument('<project>', 'project folder')
    .requiredOption('-m, --model <model>', 'a trained project model (name or name@version)')
    .addOption(new Option('--guide <files...>', 'guide phrases (≤ 60 s each), ideally sung by the vocalist who will sing the album; default: two of the singer\'s clips, moved 3 semitones down'))
    .addOption(new Option('--epochs <list>', 'epochs to try, e.g. 50,100,150 (default: every saved one, at most 12, spread evenly)').argParser(epochList));
  addSettingOptions(command, AUDITION_SETTINGS, { pitch: 'transpose the guides (with the default guides +3, undoing their shift, unless given)' })
    .addOption(backendOption())
    .option('--dry-run', 'prepare the guides and show the plan and its estimated cost; send nothing', false)
    .option('--cancel-on-interrupt', 'Ctrl-C cancels the job (default: detach; the next run collects it)', false)
    .addHelpText(
      'after',
      `
Scores: speaker similarity (Resemblyzer embeddings, cosine against the mean of the singer's held-out clips; the
brief's target is above 85 %), F0 error in cents against the guide moved by --pitch, voicing agreement, and a DNSMOS
naturalness estimate. The recommended epoch has the highest similarity among those within 50 cents of F0 error.
The page, models/<name>/v<N>/audition/index.html, plays every phrase of every epoch with its spectrogram and scores,
charts the scores over the epochs, and switches A/B between guide and epochs at the same position. The same
audition is never paid twice: run it again and the page is rewritten from the kept result.

Examples:
  $ voicestudio audition ./vocals -m alice
  $ voicestudio audition ./vocals -m alice@2 --guide guide-verse.wav guide-chorus.wav --epochs 100,200,300
  $ voicestudio audition ./vocals -m alice --json | jq '.recommended'
  $ voicestudio models pick alice --epoch 200 -p ./vocals`,
    )
    .action(
      action(io, state, async (ctx, project, options) => {
        const { audition, planAudition } = await import('../workflows/audition.js');
        const { locateFfmpeg } = await import('../audio/ffmpeg.js');
        const { openBackend, gpuPricePerHour } = await import('../runpod/connect.js');
        const tools = await locateFfmpeg(ctx.io.env);
        const request = {
          projectDir: path.resolve(ctx.io.cwd, project),
          spec: options.model,
          ...(options.guide === undefined ? {} : { guides: options.guide.map((g) => path.resolve(ctx.io.cwd, g)) }),
          ...(options.epochs === undefined ? {} : { epochs: options.epochs }),
          settings: settingValues(AUDITION_SETTINGS, options),
          pitchGiven: command.getOptionValueSource('pitch') === 'cli',
          tools,
          pricePerHour: gpuPricePerHour(ctx.io.env),
          cancelOnInterrupt: options.cancelOnInterrupt,
          signal: ctx.io.signal,
        };
        if (options.dryRun) {
          const plan = await planAudition(request);
          ctx.out.result(plan, () => renderAudition(plan, ctx.out));
          return ExitCode.Success;
        }
        const backend = await openBackend(options.backend, ctx.io.env, tools);
        let shown = '';
        const result = await audition({
          ...request,
          backend,
          onEvent: (event) => {
            if (event.stage === 'estimate' && event.estimate !== undefined) {
              ctx.out.stopSpinner();
              ctx.out.info(renderEstimate(event.estimate));
              return;
            }
            const line = event.stage === 'auditioning' && event.progress !== undefined ? `auditioning: ${event.progress.message ?? event.progress.stage}` : event.stage;
            // The worker repeats its progress while a step runs: a new line only when it says something new.
            if (line !== shown) ctx.out.spinner(line);
            shown = line;
          },
        });
        ctx.out.stopSpinner();
        ctx.out.result(result, () => renderAudition(result, ctx.out));
        return ExitCode.Success;
      }),
    );
}
