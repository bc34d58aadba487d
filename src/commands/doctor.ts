/** `voicestudio doctor`: what voicestudio will use, and what is missing. */
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { ExitCode } from '../errors.js';
import { action, type CliIo, type RunState } from '../ui/context.js';
import type { Output } from '../ui/output.js';
import type { DoctorReport } from '../workflows/doctor.js';

function renderDoctor(report: DoctorReport, out: Output): string {
  const marks = { ok: out.style('green', 'ok  '), warn: out.style('yellow', 'warn'), fail: out.style('red', 'FAIL') };
  return report.checks
    .map((c) => `${marks[c.status]}  ${c.name.padEnd(8)} ${c.detail}${c.suggestion === undefined || c.status === 'ok' ? '' : `\n            → ${c.suggestion}`}`)
    .join('\n');
}

export function registerDoctor(program: CommandUnknownOpts, io: CliIo, state: RunState): void {
  program
    .command('doctor')
    .description('check FFmpeg, Node.js, settings, credentials and the endpoint (its workers and the worker image)')
    .option('--offline', 'local checks only; no requests to RunPod', false)
    .addHelpText('after', '\nThe endpoint checks run a small `info` job on the worker (a cold start may take a while).\nExit code 1 when a check fails (warnings do not fail).\n\nExamples:\n  $ voicestudio doctor\n  $ voicestudio doctor --json | jq \'.checks[] | select(.status != "ok")\'')
    .action(
      action(io, state, async (ctx, options) => {
        const { runFullDoctor } = await import('../workflows/doctor.js');
        if (!options.offline) ctx.out.spinner('checking');
        const report = await runFullDoctor(ctx.io.env, { offline: options.offline, signal: ctx.io.signal });
        ctx.out.stopSpinner();
        ctx.out.result(report, () => renderDoctor(report, ctx.out));
        return report.ok ? ExitCode.Success : ExitCode.Failure;
      }),
    );
}
