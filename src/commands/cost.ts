/** `voicestudio cost [project]`: GPU time and money spent, by model and by command. */
import path from 'node:path';
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { ExitCode } from '../errors.js';
import { action, type CliIo, type RunState } from '../ui/context.js';
import { countOf, formatDuration, formatUsd, renderTable } from '../ui/table.js';
import type { CostLine, CostSummary } from '../project/costs.js';

function rows(lines: CostLine[]): (string | number)[][] {
  return lines.map((l) => [l.key, l.jobs, formatDuration(l.gpuSeconds), formatUsd(l.costUsd)]);
}

export function renderCost(summary: CostSummary): string {
  return [
    renderTable(['model or song', 'jobs', 'GPU time', 'cost'], rows(summary.byModel)),
    '',
    renderTable(['command', 'jobs', 'GPU time', 'cost'], rows(summary.byCommand)),
    '',
    `total: ${countOf(summary.total.jobs, 'job')}, ${formatDuration(summary.total.gpuSeconds)} of GPU time, ${formatUsd(summary.total.costUsd)}`,
  ].join('\n');
}

export function registerCost(program: CommandUnknownOpts, io: CliIo, state: RunState): void {
  program
    .command('cost')
    .description('GPU time and cost of the project so far, by model and by command')
    .argument('[project]', 'project folder', '.')
    .addHelpText('after', '\nCosts are each job\'s execution time × gpu-price-per-hour at the time it ended; failed and cancelled jobs count\ntoo, as RunPod bills the time they ran. Separations are listed under their song.\n\nExamples:\n  $ voicestudio cost ./vocals\n  $ voicestudio cost ./vocals --json | jq .total.costUsd')
    .action(
      action(io, state, async (ctx, project) => {
        const { readManifest } = await import('../project/manifest.js');
        const { summarizeCosts } = await import('../project/costs.js');
        const manifest = await readManifest(path.resolve(ctx.io.cwd, project));
        const summary = summarizeCosts(manifest ?? { jobs: [] });
        ctx.out.result(summary, () => renderCost(summary));
        return ExitCode.Success;
      }),
    );
}
