/** `voicestudio train <project>`: a voice model from the project's recordings, trained on the GPU endpoint. */
import path from 'node:path';
import { Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { ExitCode } from '../errors.js';
import { action, type CliIo, type RunState } from '../ui/context.js';
import { backendOption } from './shared/backend-option.js';
import { DEFAULT_JOBS, parseJobs } from './shared/options.js';
import type { Output } from '../ui/output.js';
import { countOf, formatDuration, formatUsd } from '../ui/table.js';
import type { TrainOptions, TrainResult } from '../workflows/train.js';
import { TRAIN_SETTINGS } from '../tasks/train.js';
import { renderWarnings } from '../ui/warnings.js';
import { renderAudition } from '../ui/audition.js';
import { VoicestudioError } from '../errors.js';
import type { AuditionResult } from '../workflows/audition.js';
import { addSettingOptions, settingValues } from './shared/setting-options.js';
import { shellQuote } from '../util/shell.js';
import { screenOptions } from './shared/screen-options.js';
import { renderScreen } from '../ui/screen.js';

export function renderTrain(result: TrainResult, out: Output): string {
  const d = result.dataset;
  const e = result.estimate;
  const lines = [
    ...(result.screen === undefined ? [] : ['speaker screen:', renderScreen(result.screen, out).replace(/^/gm, '  '), '']),
    ...(result.recut === undefined ? [] : [`note: ${result.recut}.`]),
    `dataset: ${d.clips} clips, ${(d.seconds / 60).toFixed(1)} min (singing ${(d.singingSec / 60).toFixed(1)}, speech ${(d.speechSec / 60).toFixed(1)}), ${(d.bytes / 1e6).toFixed(1)} MB, sha256 ${d.sha256.slice(0, 12)}`,
    `estimate: ${formatDuration(e.gpuSeconds)} of GPU time, ${formatUsd(e.costUsd)} at ${formatUsd(e.pricePerHour)}/h (execution timeout ${formatDuration(e.policy.executionTimeout / 1000)})`,
    `run: ${result.runId}${d.exclude === undefined ? '' : ` (the worker leaves out ${countOf(d.exclude.length, 'clip')} of the archive: screened out or held out)`}`,
  ];
  if (result.upload !== undefined) lines.push(`upload: ${result.upload.alreadyThere ? 'the endpoint already had the dataset' : `${(result.upload.bytesSent / 1e6).toFixed(1)} MB sent`}`);
  const v = result.verdict;
  if (!v.ok) {
    lines.push(
      v.forced
        ? `${out.style('yellow', 'dataset below the minimums, trained anyway (--force):')} ${v.problems.join('; ')}`
        : `${out.style('red', 'dataset below the minimums, training would be refused:')} ${v.problems.join('; ')}\n  → add recordings (ingest; --kind speech for speech), or train anyway with --force`,
    );
  }
  if (result.dryRun) lines.push('dry run: nothing was uploaded and no job was sent.');
  if (result.alreadyTrained === true) lines.push('already trained with these clips and settings: nothing was sent (change --epochs or a setting to train more).');
  if (result.model !== undefined) {
    const m = result.model;
    lines.push(
      `model: ${m.name}@${m.version} in ${path.dirname(m.pth.file)}/ (${(m.pth.size / 1e6).toFixed(1)} MB${m.index === undefined ? '' : `, index ${(m.index.size / 1e6).toFixed(1)} MB`})`,
      `job ${result.jobId}${result.reattached === true ? ' (reattached)' : ''}: ${result.gpuSeconds === undefined ? 'GPU time unknown' : `${formatDuration(result.gpuSeconds)} of GPU time`}${result.costUsd === undefined ? '' : `, ${formatUsd(result.costUsd)}`}`,
    );
  }
  lines.push(...renderWarnings(result.warnings, out));
  if (result.earlierWarnings > 0) lines.push(`note: ${countOf(result.earlierWarnings, 'quality warning')} from an earlier preprocess: voicestudio preprocess ${shellQuote(result.project)} shows them again.`);
  return lines.join('\n');
}

export function registerTrain(program: CommandUnknownOpts, io: CliIo, state: RunState): void {
  const command = program
    .command('train')
    .description('train a voice model on the GPU endpoint (prepares the data first; resumable)')
    .argument('<project>', 'project folder')
    .option('--name <name>', 'model name (default: the project folder name)');
  addSettingOptions(screenOptions(command.option('--screen', 'first keep only the singer: screen the clips by voice (voicestudio screen; --reference, --reference-source, --threshold) and train on what it keeps', false)), TRAIN_SETTINGS)
    .option('--dry-run', 'show what would be uploaded, the estimated GPU time and cost, and whether the data meets the minimums; send nothing', false)
    .option('--force', "train even when the data is below the brief's minimums (10 min of clips, half of it singing)", false)
    .addOption(backendOption())
    .option('--cancel-on-interrupt', 'Ctrl-C cancels the remote job (default: detach; it keeps running and the next run collects it)', false)
    .addOption(new Option('-j, --jobs <n>', 'local preprocessing in parallel').argParser(parseJobs).default(DEFAULT_JOBS, 'CPU cores'))
    .option('--audition', 'after training, audition every saved epoch (voicestudio audition) and recommend one', false)
    .addOption(new Option('--guide <files...>', 'with --audition: guide phrases sung by the album\'s vocalist (default: the singer\'s held-out clips)'))
    .addHelpText(
      'after',
      `
Needs RUNPOD_API_KEY and RUNPOD_ENDPOINT_ID (or the config), unless --backend local.
Before anything is uploaded the data is checked against the brief's minimums (10 minutes of clips, at least half
of them singing): below them train stops with exit 1 unless --force; --dry-run shows the same verdict and exits
the same way. The clips keep the settings of the project's last preprocess (sample rate included).
The job is recorded in voicestudio.json before waiting: after Ctrl-C or a crash, run the same command
again (or voicestudio jobs <project> --attach ID) to collect it. The same name and clips resume the same run;
more --epochs continue from the last checkpoint. The model lands in <project>/models/<name>/v<N>/.

Examples:
  $ voicestudio train ./vocals --dry-run
  $ voicestudio train ./vocals --name alice --epochs 300
  $ voicestudio train ./vocals --name alice --epochs 500      # continue the same run to 500 epochs
  $ voicestudio train ./vocals --name alice --audition --guide guide.wav   # then score every saved epoch
  $ voicestudio train ./interviews --name alice --screen                  # first keep only the singer's clips`,
    )
    .action(
      action(io, state, async (ctx, project, options) => {
        const { train } = await import('../workflows/train.js');
        const { locateFfmpeg } = await import('../audio/ffmpeg.js');
        const { openBackend, gpuPricePerHour } = await import('../runpod/connect.js');
        const projectDir = path.resolve(ctx.io.cwd, project);
        const settings: TrainOptions['settings'] = { name: options.name ?? path.basename(projectDir), ...settingValues(TRAIN_SETTINGS, options) };
        const tools = await locateFfmpeg(ctx.io.env);
        const backend = options.dryRun ? undefined : await openBackend(options.backend, ctx.io.env, tools);
        let bar: ReturnType<typeof ctx.out.progressBar> | undefined;
        let lastStage = '';
        const result = await train({
          projectDir,
          settings,
          backend,
          pricePerHour: gpuPricePerHour(ctx.io.env),
          tools,
          concurrency: options.jobs,
          dryRun: options.dryRun,
          force: options.force,
          cancelOnInterrupt: options.cancelOnInterrupt,
          ...(options.screen
            ? {
                screen: {
                  threshold: options.threshold,
                  ...(options.reference === undefined ? {} : { references: options.reference.map((f) => path.resolve(ctx.io.cwd, f)) }),
                  ...(options.referenceSource === undefined ? {} : { referenceSources: options.referenceSource }),
                },
              }
            : {}),
          signal: ctx.io.signal,
          onEvent: (event) => {
            if (event.type === 'stage') ctx.out.spinner(event.message);
            else if (event.type === 'upload') ctx.out.spinner(`uploading ${(event.sentBytes / 1e6).toFixed(1)}/${(event.totalBytes / 1e6).toFixed(1)} MB`);
            else if (event.type === 'submitted') ctx.out.spinner(`${event.reattached ? 'reattached to' : 'submitted'} job ${event.jobId}; waiting for a GPU worker`);
            else {
              const p = event.progress;
              if (p.stage === 'train' && typeof p.epoch === 'number' && typeof p.epochs === 'number') {
                bar ??= ctx.out.progressBar('epoch', p.epochs);
                const perEpoch = typeof p.seconds_per_epoch === 'number' ? `${p.seconds_per_epoch.toFixed(1)} s/epoch` : '';
                const left = typeof p.eta_seconds === 'number' ? `${formatDuration(p.eta_seconds)} left` : '';
                bar.update(p.epoch, [perEpoch, left, `${formatUsd(event.costSoFarUsd)} so far`].filter((s) => s !== '').join(' · '));
              } else if (p.stage !== lastStage) {
                ctx.out.spinner(`${p.stage}: ${typeof p.message === 'string' ? p.message : ''}`);
              }
              lastStage = p.stage;
            }
          },
        });
        bar?.stop();
        ctx.out.stopSpinner();
        if (options.audition && result.model !== undefined) {
          const trained = `${result.model.name}@${result.model.version}`;
          // The model is home and paid for: an audition that fails is reported beside it (exit 3), not instead of it.
          let audition: AuditionResult | { error: { code: string; message: string; suggestion?: string } };
          try {
            const { audition: runAudition } = await import('../workflows/audition.js');
            const { AUDITION_SETTINGS } = await import('../tasks/audition.js');
            const { defaultValues } = await import('../tasks/settings.js');
            ctx.out.spinner(`auditioning the saved epochs of ${trained}`);
            audition = await runAudition({
              projectDir,
              spec: trained,
              ...(options.guide === undefined ? {} : { guides: options.guide.map((g) => path.resolve(ctx.io.cwd, g)) }),
              settings: defaultValues(AUDITION_SETTINGS),
              pitchGiven: false,
              backend: backend!,
              tools,
              pricePerHour: gpuPricePerHour(ctx.io.env),
              cancelOnInterrupt: options.cancelOnInterrupt,
              signal: ctx.io.signal,
              onEvent: (event) => ctx.out.spinner(`audition: ${event.stage}`),
            });
          } catch (error) {
            if (!(error instanceof VoicestudioError)) throw error;
            audition = { error: { code: error.code, message: error.message, ...(error.suggestion === undefined ? {} : { suggestion: error.suggestion }) } };
          }
          ctx.out.stopSpinner();
          const both = { ...result, audition };
          ctx.out.result(both, () =>
            [renderTrain(result, ctx.out), '', 'error' in audition ? `${ctx.out.style('red', 'audition failed:')} ${audition.error.message}${audition.error.suggestion === undefined ? '' : `\n  → ${audition.error.suggestion}`}\n  the model is home; audition it again with: voicestudio audition ${shellQuote(project)} -m ${trained}` : renderAudition(audition, ctx.out)].join('\n'),
          );
          return 'error' in audition ? ExitCode.Partial : ExitCode.Success;
        }
        ctx.out.result(result, () => renderTrain(result, ctx.out));
        // A dry run answers what the real run would do: refuse a dataset below the minimums.
        return result.verdict.ok || options.force ? ExitCode.Success : ExitCode.Failure;
      }),
    );
}


