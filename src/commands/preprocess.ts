/** `voicestudio preprocess <project>`: clean 5–15 s training clips and a quality report. */
import { Option, type Command } from 'commander';
import { ExitCode } from '../errors.js';
import { action, type CliIo, type RunState } from '../cli/context.js';
import { DEFAULT_JOBS, numberInRange, parseJobs } from '../cli/options.js';
import type { Output } from '../cli/output.js';
import { formatMinutes, formatPercent, renderTable } from '../cli/table.js';
import type { PreprocessResult } from '../pipeline/preprocess.js';
import { TRAINING_SAMPLE_RATES, type TrainingSampleRate } from '../pipeline/types.js';
import { renderWarnings } from './ingest.js';

interface PreprocessCliOptions {
  sampleRate: string;
  denoise: boolean;
  loudness: number;
  jobs: number;
}

function formatDb(value: number): string {
  return value <= -120 ? '–' : value.toFixed(1);
}

export function renderPreprocess(result: PreprocessResult, out: Output): string {
  const { report } = result;
  const bySource = new Map(report.sources.map((s) => [s.sourceId, s]));
  const rows = result.sources.map((outcome) => {
    const r = bySource.get(outcome.sourceId);
    return [
      outcome.path,
      outcome.status,
      outcome.clips,
      r === undefined ? '–' : formatMinutes(r.keptSec),
      r === undefined ? '–' : formatMinutes(r.droppedSec),
      r === undefined ? '–' : formatPercent(r.clippedShare, 2),
      r === undefined ? '–' : formatDb(r.noiseFloorDbfs),
      r === undefined ? '–' : formatDb(r.snrDb),
      r === undefined ? '–' : formatDb(r.loudnessLufs),
    ];
  });
  const lines = [renderTable(['source', 'status', 'clips', 'kept', 'dropped', 'clipped', 'noise dBFS', 'SNR dB', 'LUFS'], rows), ''];
  for (const failed of result.sources.filter((s) => s.status === 'failed')) {
    lines.push(`${out.style('red', 'failed:')} ${failed.reason ?? failed.path}${failed.suggestion === undefined ? '' : `\n  → ${failed.suggestion}`}`);
  }
  const drops = report.sources.flatMap((s) => s.dropped.map((d) => ({ ...d, path: s.path })));
  if (drops.length > 0) {
    const byReason = new Map<string, number>();
    for (const d of drops) byReason.set(d.reason, (byReason.get(d.reason) ?? 0) + 1);
    lines.push(`dropped clips: ${[...byReason].map(([reason, count]) => `${count} ${reason.replace('_', ' ')}`).join(', ')} (details: --json or the report file)`);
  }
  const t = report.total;
  const c = t.clips;
  lines.push(
    `${c.count} clips, ${formatMinutes(t.keptSec)} kept of ${formatMinutes(t.durationSec)}` +
      (c.count === 0 ? '' : ` (length ${c.minSec.toFixed(1)}–${c.maxSec.toFixed(1)} s, median ${c.medianSec.toFixed(1)} s)`),
    `singing ${formatMinutes(t.singingSec)}, speech ${formatMinutes(t.speechSec)} (singing ${formatPercent(t.singingShare)}), clipped samples ${formatPercent(t.clippedShare, 2)}`,
    ...renderWarnings([...report.sources.flatMap((s) => s.warnings), ...report.warnings], out),
    `report: ${result.reportFile}`,
    `page:   ${result.htmlReportFile}`,
  );
  return lines.join('\n');
}

export function registerPreprocess(program: Command, io: CliIo, state: RunState): void {
  program
    .command('preprocess')
    .description('cut the sources into clean 5–15 s clips and write a quality report (re-runs redo only what changed)')
    .argument('<project>', 'project folder')
    .addOption(new Option('--sample-rate <hz>', 'clip sample rate (the model is trained at this rate)').choices(TRAINING_SAMPLE_RATES.map(String)).default('40000'))
    .addOption(new Option('--denoise', "reduce steady background noise (FFmpeg's afftdn)").default(false))
    .addOption(new Option('--loudness <lufs>', 'integrated loudness every source is brought to').argParser(numberInRange(-40, -10)).default(-20))
    .addOption(new Option('-j, --jobs <n>', 'sources processed at once').argParser(parseJobs).default(DEFAULT_JOBS, 'CPU cores'))
    .addHelpText(
      'after',
      `
Clips are mono FLAC in <project>/.voicestudio/clips/, cut at silences, high-passed at 50 Hz and normalised.
Clips that are mostly silence or clipped are dropped and listed. The report is saved as
<project>/.voicestudio/quality-report.json and as a page to open in a browser,
<project>/.voicestudio/report.html: per source a waveform with the kept clips, dropped stretches and
silences marked, the figures and warnings, and a player per clip. Exit code 3 when some sources failed.

Examples:
  $ voicestudio preprocess ./vocals
  $ voicestudio preprocess ./vocals --sample-rate 48000 --denoise
  $ voicestudio preprocess ./vocals --json | jq '.report.warnings'
  $ xdg-open ./vocals/.voicestudio/report.html      # see and hear the clips (macOS: open)`,
    )
    .action(
      action(io, state, async (ctx, project: string, options: PreprocessCliOptions) => {
        const { preprocess, DEFAULT_PREPROCESS_SETTINGS } = await import('../pipeline/preprocess.js');
        const { locateFfmpeg } = await import('../pipeline/ffmpeg.js');
        const tools = await locateFfmpeg(ctx.io.env);
        ctx.out.debug(`ffmpeg: ${tools.ffmpeg.path} (${tools.ffmpeg.source})`);
        let bar: ReturnType<typeof ctx.out.progressBar> | undefined;
        const result = await preprocess({
          projectDir: project,
          settings: {
            ...DEFAULT_PREPROCESS_SETTINGS,
            sampleRate: Number(options.sampleRate) as TrainingSampleRate,
            denoise: options.denoise,
            targetLufs: options.loudness,
          },
          tools,
          concurrency: options.jobs,
          signal: ctx.io.signal,
          onStage: (source, stage, finished, total) => {
            if (!ctx.out.interactive && (stage === 'analysing' || stage === 'cutting')) ctx.out.info(`${stage} ${source.path}`);
            bar ??= ctx.out.progressBar('preprocess', total);
            bar.update(finished, `${stage} ${source.path}`);
          },
        });
        bar?.stop();
        ctx.out.result(result, () => renderPreprocess(result, ctx.out));
        return result.failed > 0 ? ExitCode.Partial : ExitCode.Success;
      }),
    );
}
