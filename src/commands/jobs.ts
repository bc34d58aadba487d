/** `voicestudio jobs [project]`: the project's GPU jobs; attach to one, or cancel it. */
import path from 'node:path';
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { ErrorCode, ExitCode, UsageError, VoicestudioError } from '../errors.js';
import { action, type CliIo, type RunState } from '../ui/context.js';
import { formatDuration, formatUsd, renderTable } from '../ui/table.js';
import type { ConversionRequest } from '../workflows/convert.js';
import type { LedgerJob } from '../project/ledger.js';
import type { SeparationRequest } from '../workflows/separate.js';
import type { TrainingRequest } from '../workflows/train.js';
import { shellQuote } from '../util/shell.js';

function age(iso: string, now: number): string {
  return `${formatDuration((now - Date.parse(iso)) / 1000)} ago`;
}

export function renderJobs(jobs: LedgerJob[], now = Date.now()): string {
  if (jobs.length === 0) return 'No jobs yet.';
  return renderTable(
    ['job', 'task', 'for', 'status', 'submitted', 'GPU', 'cost'],
    jobs.map((j) => [j.id, j.task, j.label, j.status, age(j.submittedAt, now), j.executionMs === undefined ? '–' : formatDuration(j.executionMs / 1000), j.costUsd === undefined ? '–' : formatUsd(j.costUsd)]),
  );
}

export function registerJobs(program: CommandUnknownOpts, io: CliIo, state: RunState): void {
  program
    .command('jobs')
    .description("list the project's GPU jobs with state, GPU time and cost; attach to one or cancel it")
    .argument('[project]', 'project folder', '.')
    .option('--attach <id>', 'wait for a job and collect its result (the model, the converted file, or the separated stems)')
    .option('--cancel <id>', 'cancel a job on the endpoint')
    .addHelpText(
      'after',
      `
Examples:
  $ voicestudio jobs ./vocals
  $ voicestudio jobs ./vocals --attach 2f6b1c2e-…-e1
  $ voicestudio jobs ./vocals --cancel 2f6b1c2e-…-e1 --json`,
    )
    .action(
      action(io, state, async (ctx, project, options) => {
        const { readManifest } = await import('../project/manifest.js');
        const { ledger, recordFinished } = await import('../project/ledger.js');
        const projectDir = path.resolve(ctx.io.cwd, project);
        const manifest = await readManifest(projectDir);
        const jobs = manifest === undefined ? [] : ledger(manifest);
        const wanted = options.attach ?? options.cancel;
        if (wanted === undefined) {
          const newestFirst = [...jobs].reverse();
          ctx.out.result(newestFirst, () => renderJobs(newestFirst));
          return ExitCode.Success;
        }
        const job = jobs.find((j) => j.id === wanted);
        if (job === undefined) throw new VoicestudioError(ErrorCode.NothingToDo, `No job ${wanted} in ${projectDir}.`, { subject: wanted, suggestion: `See voicestudio jobs ${shellQuote(project)}.` });
        if (job.backend === 'local') throw new VoicestudioError(ErrorCode.NothingToDo, `Job ${wanted} ran locally and ended with the command that started it.`, { suggestion: 'Run that command again; training resumes from its checkpoints.' });
        const { openBackend, gpuPricePerHour } = await import('../runpod/connect.js');
        const backend = await openBackend('runpod', ctx.io.env);
        const pricePerHour = gpuPricePerHour(ctx.io.env);
        if (options.cancel !== undefined) {
          const executionMs = await backend.cancel(job.id);
          await recordFinished(projectDir, job.id, { status: 'CANCELLED', executionMs, pricePerHour, error: 'cancelled with voicestudio jobs --cancel' });
          ctx.out.result({ id: job.id, status: 'CANCELLED' }, () => `cancelled ${job.id}`);
          return ExitCode.Success;
        }
        ctx.out.spinner(`attached to ${job.id} (${job.task} ${job.label}); waiting`);
        const common = { pricePerHour, cancelOnInterrupt: false, signal: ctx.io.signal };
        let result: Record<string, unknown>;
        if (job.task === 'train') {
          const { collectTraining } = await import('../workflows/train.js');
          const collected = await collectTraining(backend, projectDir, job.id, job.request as unknown as TrainingRequest, { ...common, onStage: (m) => ctx.out.spinner(m) });
          result = { id: job.id, model: `${collected.model.name}@${collected.model.version}`, gpuSeconds: collected.gpuSeconds, costUsd: collected.costUsd };
        } else if (job.task === 'separate') {
          const { collectSeparation } = await import('../workflows/separate.js');
          const collected = await collectSeparation(backend, projectDir, job.id, job.request as unknown as SeparationRequest, common);
          result = { id: job.id, stems: collected.stems, gpuSeconds: collected.gpuSeconds, costUsd: collected.costUsd };
        } else if (job.task === 'audition') {
          // An audition's result is its page, which the audition command builds from the guides it prepared.
          throw new UsageError(`Job ${job.id} is an audition of ${job.label}.`, `Run the audition again (voicestudio audition ${shellQuote(project)} -m ${job.label}): it reattaches to this job and brings its result home without paying again.`);
        } else if (job.task === 'screen') {
          // The screen's result is its verdicts, which the screen command decides from the clips it packed.
          throw new UsageError(`Job ${job.id} is a speaker screen of ${job.label}.`, `Run the screen again (voicestudio screen ${shellQuote(project)}): it reattaches to this job and brings its result home without paying again.`);
        } else {
          const { collectConversion } = await import('../workflows/convert.js');
          const { locateFfmpeg } = await import('../audio/ffmpeg.js');
          const collected = await collectConversion(backend, projectDir, job.id, job.request as unknown as ConversionRequest, { ...common, tools: await locateFfmpeg(ctx.io.env) });
          result = { id: job.id, output: job.request?.output, ...collected };
        }
        ctx.out.stopSpinner();
        ctx.out.result(result, () => Object.entries(result).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${String(v)}`).join('\n'));
        return ExitCode.Success;
      }),
    );
}
