/** `voicestudio preprocess <project>`: clean training clips that keep all of the singer's sound, and a quality report. */
import { InvalidArgumentError, Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { ExitCode } from '../errors.js';
import { action, type CliIo, type RunState } from '../ui/context.js';
import { DEFAULT_JOBS, integerInRange, numberInRange, parseJobs } from './shared/options.js';
import type { Output } from '../ui/output.js';
import { formatPercent, formatSeconds, renderTable } from '../ui/table.js';
import { renderWarnings } from '../ui/warnings.js';
import type { PreprocessResult } from '../workflows/preprocess.js';
import { DEFAULT_PREPROCESS_SETTINGS, PREPROCESS_LIMITS } from '../audio/preprocess-settings.js';
import { TRAINING_SAMPLE_RATES, type PreprocessSettings } from '../project/types.js';
import { numberChoice } from './shared/setting-options.js';

function formatDb(value: number): string {
  return value <= -120 ? '–' : value.toFixed(1);
}

function silenceThreshold(raw: string): number | 'auto' {
  if (raw.trim() === 'auto') return 'auto';
  const { min, max } = PREPROCESS_LIMITS.silenceThresholdDb;
  try {
    return numberInRange(min, max)(raw);
  } catch {
    throw new InvalidArgumentError(`expected "auto" or a level in dBFS from ${min} to ${max}.`);
  }
}

function heldOutLine({ settings, heldOut }: PreprocessResult): string {
  if (!settings.holdout) return 'held out for audition: none (--no-holdout); training uses every clip';
  if (heldOut.clips === 0) return 'held out for audition: none (fewer than 20 clips to spare them from)';
  return `held out for audition: ${heldOut.clips} clips, ${formatSeconds(heldOut.seconds)} (not trained on; --no-holdout trains on them)`;
}

export function renderPreprocess(result: PreprocessResult, out: Output): string {
  const { report } = result;
  const bySource = new Map(report.sources.map((s) => [s.sourceId, s]));
  const rows = result.sources.map((outcome) => {
    const r = bySource.get(outcome.sourceId);
    const lost = r === undefined ? 0 : r.lostSoundSec.too_short + r.lostSoundSec.silence + r.lostSoundSec.clipping;
    return [
      outcome.path,
      `${r?.keptWhole === true ? 'kept whole' : outcome.status}${outcome.excluded === true ? ', excluded' : ''}`,
      outcome.clips,
      r === undefined ? '–' : formatSeconds(r.soundSec),
      r === undefined || r.soundSec === 0 ? '–' : formatPercent(r.keptSoundSec / r.soundSec),
      r === undefined ? '–' : formatSeconds(lost),
      r === undefined ? '–' : formatPercent(r.clippedShare, 2),
      r === undefined ? '–' : formatDb(r.noiseFloorDbfs),
      r === undefined || r.noiseFloorDbfs <= -120 ? '–' : formatDb(r.snrDb),
      r === undefined ? '–' : formatDb(r.loudnessLufs),
    ];
  });
  const lines = [renderTable(['source', 'status', 'clips', 'sound', 'kept', 'lost', 'clipped', 'noise dBFS', 'SNR dB', 'LUFS'], rows), ''];
  for (const failed of result.sources.filter((s) => s.status === 'failed')) {
    lines.push(`${out.style('red', 'failed:')} ${failed.reason ?? failed.path}${failed.suggestion === undefined ? '' : `\n  → ${failed.suggestion}`}`);
  }
  const t = report.total;
  const c = t.clips;
  const lost = t.lostSoundSec.too_short + t.lostSoundSec.silence + t.lostSoundSec.clipping;
  const s = result.settings;
  lines.push(
    `${c.count} clips, ${formatSeconds(t.keptSec)} (length ${c.count === 0 ? '–' : `${c.minSec.toFixed(1)}–${c.maxSec.toFixed(1)} s, median ${c.medianSec.toFixed(1)} s`})`,
    `sound: ${formatSeconds(t.keptSoundSec)} kept of ${formatSeconds(t.soundSec)} (${t.soundSec === 0 ? '–' : formatPercent(t.keptSoundSec / t.soundSec, 1)}), ${formatSeconds(lost)} lost; silence trimmed: ${formatSeconds(Math.max(0, t.durationSec - t.keptSec - t.droppedSec))}`,
    `singing ${formatSeconds(t.singingSec)}, speech ${formatSeconds(t.speechSec)} (singing ${formatPercent(t.singingShare)}), clipped samples ${formatPercent(t.clippedShare, 2)}`,
    `settings: clips ${s.minClipSec}–${s.maxClipSec} s, silence below ${s.silenceThresholdDb === 'auto' ? 'auto' : `${s.silenceThresholdDb} dBFS`} for ${s.minSilenceMs} ms, ${s.sampleRate} Hz, ${s.targetLufs} LUFS${s.denoise ? ', denoised' : ''}`,
    heldOutLine(result),
    ...renderWarnings([...report.sources.flatMap((r) => r.warnings), ...report.warnings], out),
    `report: ${result.reportFile}`,
    `page:   ${result.htmlReportFile}`,
  );
  return lines.join('\n');
}

export function registerPreprocess(program: CommandUnknownOpts, io: CliIo, state: RunState): void {
  const d = DEFAULT_PREPROCESS_SETTINGS;
  const limits = PREPROCESS_LIMITS;
  const sticky = "the project's last run, else";
  program
    .command('preprocess')
    .description('cut the sources into clean training clips that keep all of the sound, and write a quality report (re-runs redo only what changed)')
    .argument('<project>', 'project folder')
    .addOption(new Option('--sample-rate <hz>', 'clip sample rate (the model is trained at this rate)').choices(TRAINING_SAMPLE_RATES.map(String)).argParser(numberChoice(TRAINING_SAMPLE_RATES)).default(undefined, `${sticky} ${d.sampleRate}`))
    .addOption(new Option('--min-clip <seconds>', 'shortest clip; shorter phrases join their neighbours').argParser(numberInRange(limits.minClipSec.min, limits.minClipSec.max)).default(undefined, `${sticky} ${d.minClipSec}`))
    .addOption(new Option('--max-clip <seconds>', 'longest clip; longer phrases are split at their quietest point').argParser(numberInRange(limits.maxClipSec.min, limits.maxClipSec.max)).default(undefined, `${sticky} ${d.maxClipSec}`))
    .addOption(new Option('--silence-threshold <dBFS>', '"auto" or the level below which a frame is silence').argParser(silenceThreshold).default(undefined, `${sticky} auto: -40, adapted to the recording's noise and level`))
    .addOption(new Option('--min-silence <ms>', 'shortest silence a clip may be cut at; shorter pauses and breaths stay inside clips').argParser(integerInRange(limits.minSilenceMs.min, limits.minSilenceMs.max)).default(undefined, `${sticky} ${d.minSilenceMs}`))
    .addOption(new Option('--denoise', "reduce steady background noise (FFmpeg's afftdn)").default(undefined, `${sticky} off`))
    .addOption(new Option('--no-denoise', 'turn denoising off again'))
    .addOption(new Option('--holdout', 'hold a few clips out of training for audition to score the model against').default(undefined, `${sticky} on`))
    .addOption(new Option('--no-holdout', 'train on every clip (audition then scores against training clips)'))
    .addOption(new Option('--loudness <lufs>', 'integrated loudness every source is brought to').argParser(numberInRange(limits.targetLufs.min, limits.targetLufs.max)).default(undefined, `${sticky} ${d.targetLufs}`))
    .addOption(new Option('-j, --jobs <n>', 'sources processed at once').argParser(parseJobs).default(DEFAULT_JOBS, 'CPU cores'))
    .addHelpText(
      'after',
      `
Clips are mono FLAC in <project>/.voicestudio/clips/, high-passed at 50 Hz and normalised. Phrases, with the
breaths and short pauses between them, are grouped into clips of --min-clip to --max-clip seconds, cut only in
silences; long silences are trimmed. A source shorter than --min-clip is kept whole. Sound that cannot be kept
(a phrase too short for a clip between long silences, a clipped passage) is dropped, listed with its reason, and
counted in the "lost" column. Settings you give are remembered: later runs, and train, use them too.
The report is saved as <project>/.voicestudio/quality-report.json and as a page to open in a browser,
<project>/.voicestudio/report.html: per source a waveform with the kept clips, dropped stretches and
silences marked, the figures and warnings, and a player per clip. About 5 % of the clips (at least 3, from 20 clips
up, singing and speech in proportion) are held out of training, so that audition can score the model on material
it never heard; --no-holdout trains on them. Exit code 3 when some sources failed, 1 when all did.

Examples:
  $ voicestudio preprocess ./vocals
  $ voicestudio preprocess ./vocals --sample-rate 48000 --denoise
  $ voicestudio preprocess ./takes --min-clip 3                  # short pre-cut takes
  $ voicestudio preprocess ./vocals --json | jq '.report.total.lostSoundSec'
  $ xdg-open ./vocals/.voicestudio/report.html      # see and hear the clips (macOS: open)`,
    )
    .action(
      action(io, state, async (ctx, project, options) => {
        const { preprocess } = await import('../workflows/preprocess.js');
        const { locateFfmpeg } = await import('../audio/ffmpeg.js');
        const tools = await locateFfmpeg(ctx.io.env);
        ctx.out.debug(`ffmpeg: ${tools.ffmpeg.path} (${tools.ffmpeg.source})`);
        const given: Partial<PreprocessSettings> = {
          ...(options.sampleRate === undefined ? {} : { sampleRate: options.sampleRate }),
          ...(options.denoise === undefined ? {} : { denoise: options.denoise }),
          ...(options.loudness === undefined ? {} : { targetLufs: options.loudness }),
          ...(options.minClip === undefined ? {} : { minClipSec: options.minClip }),
          ...(options.maxClip === undefined ? {} : { maxClipSec: options.maxClip }),
          ...(options.silenceThreshold === undefined ? {} : { silenceThresholdDb: options.silenceThreshold }),
          ...(options.minSilence === undefined ? {} : { minSilenceMs: options.minSilence }),
          ...(options.holdout === undefined ? {} : { holdout: options.holdout }),
        };
        let bar: ReturnType<typeof ctx.out.progressBar> | undefined;
        const result = await preprocess({
          projectDir: project,
          settings: given,
          tools,
          concurrency: options.jobs,
          signal: ctx.io.signal,
          onStage: (source, stage, finished, total) => {
            bar ??= ctx.out.progressBar('preprocess', total, { eachEvent: true });
            bar.update(finished, `${stage} ${source.path}`);
          },
        });
        bar?.stop();
        ctx.out.result(result, () => renderPreprocess(result, ctx.out));
        // 3 only when some work was done: every source failing is a failure.
        if (result.failed === 0) return ExitCode.Success;
        return result.failed === result.sources.length ? ExitCode.Failure : ExitCode.Partial;
      }),
    );
}
