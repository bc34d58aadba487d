/** `voicestudio ingest <project> [paths...]`: take recordings into a project. */
import { Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { ExitCode } from '../errors.js';
import { action, type CliIo, type RunState } from '../ui/context.js';
import { DEFAULT_JOBS, parseJobs } from './shared/options.js';
import type { Output } from '../ui/output.js';
import { formatMinutes, formatPercent, renderTable } from '../ui/table.js';
import type { IngestFileResult, IngestResult } from '../workflows/ingest.js';
import { SOURCE_KINDS } from '../project/types.js';
import { renderWarnings } from '../ui/warnings.js';

function noteOf(f: IngestFileResult): string {
  if (f.duplicateOf !== undefined) return `same audio as ${f.duplicateOf}`;
  if (f.status === 'skipped') return "voicestudio's own render";
  return f.warnings === undefined ? '' : f.warnings.map((w) => (w.code === 'voicestudio_render' ? "voicestudio's own render" : 'may be cut off')).join('; ');
}

export function renderIngest(result: IngestResult, out: Output): string {
  const lines: string[] = [];
  const rows = result.files.map((f) => [f.path, f.status, f.sourceId ?? '–', noteOf(f)]);
  if (rows.length > 0) lines.push(renderTable(['file', 'status', 'source', 'note'], rows), '');
  const explained = (f: IngestFileResult): string => `  ${f.path}: ${f.reason ?? f.status}${f.suggestion === undefined ? '' : `\n    → ${f.suggestion}`}`;
  const failed = result.files.filter((f) => f.status === 'failed');
  if (failed.length > 0) {
    lines.push(out.style('red', `${failed.length} file${failed.length === 1 ? '' : 's'} could not be ingested:`), ...failed.map(explained), '');
  }
  const skipped = result.files.filter((f) => f.status === 'skipped');
  if (skipped.length > 0) lines.push(`${skipped.length} file${skipped.length === 1 ? '' : 's'} skipped:`, ...skipped.map(explained), '');
  const warned = result.files.flatMap((f) => (f.warnings ?? []).map((w) => `${out.style('yellow', 'warning:')} ${f.path}: ${w.message}\n  → ${w.suggestion}`));
  if (warned.length > 0) lines.push(...warned, '');
  const s = result.summary;
  lines.push(
    `${s.sources} source${s.sources === 1 ? '' : 's'}, ${formatMinutes(s.totalSec)}: singing ${formatMinutes(s.singingSec)}, speech ${formatMinutes(s.speechSec)} (singing ${formatPercent(s.singingShare)})`,
  );
  lines.push(...renderWarnings(result.warnings, out));
  return lines.join('\n');
}

export function registerIngest(program: CommandUnknownOpts, io: CliIo, state: RunState): void {
  program
    .command('ingest')
    .description('take audio and video files into a project (lossless working copies; your files are never changed)')
    .argument('<project>', 'project folder (created manifest: <project>/voicestudio.json)')
    .argument('[paths...]', 'files or folders to take in (default: the media inside the project folder)')
    .addOption(new Option('--kind <kind>', 'what the recordings are (new files default to singing)').choices(SOURCE_KINDS))
    .addOption(new Option('-j, --jobs <n>', 'files processed at once').argParser(parseJobs).default(DEFAULT_JOBS, 'CPU cores'))
    .addHelpText(
      'after',
      `
Audio: wav flac mp3 m4a aac ogg opus aiff. Video: mp4 mov mkv webm (the best audio stream is taken).
The same content under two names is one source. Unreadable files are reported and the rest are ingested (exit 3;
exit 1 when no file could be ingested).
A truncated file is refused; one whose length can only be estimated (MP3 without a Xing header, raw AAC)
and decodes to much less is taken in with a warning. voicestudio's own renders (conversions and mixes, which
it tags, and outputs its job records name) are skipped when a folder scan finds them, and taken in with a
warning when you name the file.

Examples:
  $ voicestudio ingest ./vocals
  $ voicestudio ingest ./vocals ~/Recordings/interviews --kind speech
  $ voicestudio ingest ./vocals live.mp4 --json | jq .summary`,
    )
    .action(
      action(io, state, async (ctx, project, paths, options) => {
        const { ingest } = await import('../workflows/ingest.js');
        const { locateFfmpeg } = await import('../audio/ffmpeg.js');
        const tools = await locateFfmpeg(ctx.io.env);
        ctx.out.debug(`ffmpeg: ${tools.ffmpeg.path} (${tools.ffmpeg.source}); ffprobe: ${tools.ffprobe.path} (${tools.ffprobe.source})`);
        let bar: ReturnType<typeof ctx.out.progressBar> | undefined;
        const result = await ingest(
          {
            projectDir: project,
            paths,
            ...(options.kind === undefined ? {} : { kind: options.kind }),
            tools,
            concurrency: options.jobs,
            signal: ctx.io.signal,
            onFile: (file, done, total) => {
              bar ??= ctx.out.progressBar('ingest', total);
              bar.update(done, `${file.status} ${file.path}`);
            },
          },
          ctx.io.cwd,
        );
        bar?.stop();
        ctx.out.result(result, () => renderIngest(result, ctx.out));
        if (result.failed === 0) return ExitCode.Success;
        return result.failed === result.files.length ? ExitCode.Failure : ExitCode.Partial;
      }),
    );
}
