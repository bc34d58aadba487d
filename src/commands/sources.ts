/** `voicestudio sources list|exclude|include|rm <project>`: which recordings training uses, and removing them. */
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { ExitCode } from '../errors.js';
import { action, type CliIo, type RunState } from '../ui/context.js';
import type { Output } from '../ui/output.js';
import { formatDuration, formatMinutes, formatPercent, renderTable } from '../ui/table.js';
import type { ExclusionChange, ExclusionResult, RemoveResult, SourceListing, SourcesList, TrainingTotals } from '../project/sources.js';
import { shellQuote } from '../util/shell.js';

function formatSpan(startSec: number, endSec: number): string {
  return `${startSec.toFixed(1)}–${endSec.toFixed(1)} s`;
}

function renderTraining(training: TrainingTotals): string {
  return `training: ${training.clips} clip${training.clips === 1 ? '' : 's'}, ${formatMinutes(training.totalSec)} (singing ${formatMinutes(training.singingSec)}, speech ${formatMinutes(training.speechSec)}; singing ${formatPercent(training.singingShare)})`;
}

function stateOf(s: SourceListing): string {
  return [s.state, ...(s.original === 'missing' ? ['file missing'] : []), ...(s.workingCopy === 'missing' ? ['working copy missing'] : [])].join(', ');
}

export function renderSourcesList(list: SourcesList): string {
  if (list.sources.length === 0) return `No sources in ${list.project} yet. Take recordings in with: voicestudio ingest ${shellQuote(list.project)}`;
  const rows = list.sources.map((s) => [
    s.id,
    s.kind,
    formatDuration(s.durationSec),
    s.clips ?? '–',
    s.keptSec === null ? '–' : formatDuration(s.keptSec),
    formatDuration(s.trainingSec),
    new Set(s.excludedClips.flatMap((c) => c.matches)).size,
    stateOf(s),
    s.path,
  ]);
  const lines = [renderTable(['id', 'kind', 'length', 'clips', 'kept', 'training', 'excluded clips', 'state', 'file'], rows)];
  const details = list.sources.flatMap((s) => [
    ...(s.excluded === undefined ? [] : [`  ${s.id} (${s.path}): whole source excluded${s.excluded.reason === undefined ? '' : ` — ${s.excluded.reason}`}`]),
    ...s.excludedClips.map(
      (c) =>
        `  ${s.id} (${s.path}): ${formatSpan(c.startSec, c.endSec)}, excluded as clip ${c.clipId}${c.reason === undefined ? '' : ` — ${c.reason}`}; ` +
        (c.matches.length === 0 ? 'no current clip is there' : `now clip${c.matches.length === 1 ? '' : 's'} ${c.matches.join(', ')}`),
    ),
  ]);
  if (details.length > 0) lines.push('', 'excluded from training:', ...details);
  const missing = list.sources.filter((s) => s.original === 'missing').length;
  lines.push('', renderTraining(list.training));
  if (missing > 0) lines.push(`${missing} source${missing === 1 ? "'s file is" : "s' files are"} gone; remove ${missing === 1 ? 'it' : 'them'} with: voicestudio sources rm ${list.project} --missing`);
  return lines.join('\n');
}

function renderChange(c: ExclusionChange): string {
  const what = c.clip === undefined ? `source ${c.sourceId} (${c.path})` : `clip ${c.clip.id} (${formatSpan(c.clip.startSec, c.clip.endSec)} of ${c.path})`;
  const direction = c.status === 'excluded' ? 'out of' : 'back in';
  const clips = c.clips.length === 0 ? '' : `: ${c.clips.length === 1 ? 'clip' : `${c.clips.length} clips`} ${c.clips.join(', ')} ${direction} training`;
  const verb = { excluded: 'excluded', 'already excluded': 'already excluded:', included: 'included', 'not excluded': 'not excluded, nothing to include:' }[c.status];
  return `${verb} ${what}${clips}${c.note === undefined ? '' : ` (${c.note})`}`;
}

export function renderExclusions(result: ExclusionResult): string {
  return [...result.changes.map(renderChange), renderTraining(result.training)].join('\n');
}

export function renderRemoved(result: RemoveResult, out: Output): string {
  if (result.removed.length === 0) return "Nothing removed: every source's file is still there.";
  return result.removed
    .map((r) => {
      const line = `removed ${r.id} (${r.path}${r.why === 'original missing' ? ', file missing' : ''}): ${r.kind}, ${formatDuration(r.durationSec)}, ${r.clips} clip${r.clips === 1 ? '' : 's'}${r.deleted.length === 0 ? '' : `; deleted ${r.deleted.join(', ')}`}`;
      return r.note === undefined ? line : `${line}\n  ${out.style('yellow', 'note:')} ${r.note}`;
    })
    .join('\n');
}

export function registerSources(program: CommandUnknownOpts, io: CliIo, state: RunState): void {
  const sources = program
    .command('sources')
    .description('list the sources, keep sources or clips out of training, remove sources')
    .addHelpText(
      'after',
      `
A source or clip is named by its id (sources list shows them), a clip by its id (<source id>-0001), a source
also by its file path. Excluding keeps everything on disk and in the quality report; only training leaves it
out. An excluded clip is remembered by where it lies in its source, so it stays excluded when preprocess
re-cuts the source with new settings (and new clip ids). rm never touches your own files.

Examples:
  $ voicestudio sources list ./vocals
  $ voicestudio sources exclude ./vocals takes/guest-verse.wav --reason "not the singer"
  $ voicestudio sources exclude ./vocals 3f2a9c0e1b7d-0004 --reason cough
  $ voicestudio sources include ./vocals 3f2a9c0e1b7d
  $ voicestudio sources rm ./vocals --missing          # sources whose file was deleted or moved
  $ voicestudio sources list ./vocals --json | jq '.sources[] | select(.state == "excluded") | .path'`,
    );

  sources
    .command('list')
    .description('every source: length, clips, seconds kept and used for training, state, excluded clips')
    .argument('<project>', 'project folder')
    .action(
      action(io, state, async (ctx, project) => {
        const { listSources } = await import('../project/sources.js');
        const list = await listSources(project);
        ctx.out.result(list, () => renderSourcesList(list));
        return ExitCode.Success;
      }),
    );

  sources
    .command('exclude')
    .description('keep sources or single clips out of training (nothing is deleted)')
    .argument('<project>', 'project folder')
    .argument('<names...>', 'source ids, clip ids or source file paths')
    .option('--reason <text>', 'why, kept in the manifest and shown by sources list')
    .action(
      action(io, state, async (ctx, project, names, options) => {
        const { excludeFromTraining } = await import('../project/sources.js');
        const result = await excludeFromTraining(project, names, { cwd: ctx.io.cwd, ...(options.reason === undefined ? {} : { reason: options.reason }) });
        ctx.out.result(result, () => renderExclusions(result));
        return ExitCode.Success;
      }),
    );

  sources
    .command('include')
    .description('give excluded sources (with all their clips) or clips back to training')
    .argument('<project>', 'project folder')
    .argument('<names...>', 'source ids, clip ids or source file paths')
    .action(
      action(io, state, async (ctx, project, names) => {
        const { includeInTraining } = await import('../project/sources.js');
        const result = await includeInTraining(project, names, { cwd: ctx.io.cwd });
        ctx.out.result(result, () => renderExclusions(result));
        return ExitCode.Success;
      }),
    );

  sources
    .command('rm')
    .description('remove sources from the project: entries, working copies, analyses, clips (never your own files)')
    .argument('<project>', 'project folder')
    .argument('[names...]', 'source ids or source file paths')
    .option('--missing', 'also remove every source whose original file is gone', false)
    .action(
      action(io, state, async (ctx, project, names, options) => {
        const { removeSources } = await import('../project/sources.js');
        const result = await removeSources(project, names, { cwd: ctx.io.cwd, missing: options.missing });
        ctx.out.result(result, () => renderRemoved(result, ctx.out));
        return ExitCode.Success;
      }),
    );
}
