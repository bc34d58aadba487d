/**
 * Mix-down on this machine: the converted vocals back over the instrumental with FFmpeg, optional effects on the
 * vocals, the instrumental optionally transposed with them, and the result normalised to a target loudness.
 *
 * Loudness is two-pass: pass 1 renders the mix (32-bit float, no clipping possible) and measures it with FFmpeg's
 * ebur128 (BS.1770 integrated loudness and true peak, over all channels, as streaming services measure it); pass 2
 * applies the gain that reaches the target and, only when that gain would push the true peak over −1 dBTP, a
 * limiter run at 4× the sample rate so it catches inter-sample peaks. The written file is measured again and the
 * figures reported are those of the file.
 *
 * Mixes run through ffmpeg.ts's runFfmpeg, not runEncode: a mix has two inputs.
 *
 * The bundled FFmpeg 4.1 has no deesser, and other builds may lack rubberband (ffmpegFeatures tells): missing
 * ones degrade with a warning that says what was done instead.
 */
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, VoicestudioError } from '../errors.js';
import { ffmpegFeatures, probeMedia, renderTagOptions, runFfmpeg, type FfmpegFeatures, type FfmpegTools } from './ffmpeg.js';
import { produceAtomically, sha256Text, tempSibling } from '../util/files.js';
import { mixesDir } from '../project/layout.js';
import type { MixFormat, MixRate, MixSettings } from '../tasks/mix.js';

/** The true-peak ceiling of every mix, dBTP (EBU R128 / streaming delivery specs ask for −1). */
export const TRUE_PEAK_CEILING_DB = -1;
/** The limiter's ceiling in the 4× oversampled domain, a little under the true-peak ceiling for the final resampling. */
const LIMITER_CEILING_DB = -1.3;
/** Bump when what a mix produces for the same inputs and settings changes. */
const MIX_CACHE_VERSION = 1;
/** Below this integrated loudness the mix is taken as silent and left as it is. */
const SILENT_LUFS = -69;
/** Most gain normalisation will apply (a near-silent mix is not blown up by 60 dB). */
const MAX_GAIN_DB = 40;
/** A limited mix further than this from the target gets another pass with more gain… */
const LOUDNESS_TOLERANCE_LU = 0.5;
/** …up to this many passes in all. */
const MAX_MASTER_PASSES = 4;

// ------------------------------------------------------------------------------------------ FFmpeg features ----

/** Filters every mix needs; an FFmpeg without them cannot mix at all. */
const REQUIRED_FILTERS = ['aformat', 'aresample', 'volume', 'apad', 'amerge', 'pan', 'atrim', 'asplit', 'ebur128', 'anullsink', 'alimiter'];
const ENCODERS: Record<MixFormat, string> = { wav: 'pcm_s16le', flac: 'flac', mp3: 'libmp3lame' };

/** Throws when this FFmpeg cannot mix to `format`, naming the binary and what it lacks. */
export function assertCanMix(tools: FfmpegTools, features: FfmpegFeatures, format: MixFormat): void {
  const missing = [...REQUIRED_FILTERS.filter((f) => !features.filters.has(f)), ...(features.encoders.has(ENCODERS[format]) ? [] : [`encoder ${ENCODERS[format]}`])];
  if (missing.length === 0) return;
  throw new VoicestudioError(ErrorCode.FfmpegMissing, `The FFmpeg at ${tools.ffmpeg.path} lacks what mixing needs: ${missing.join(', ')}.`, {
    subject: tools.ffmpeg.path,
    suggestion: 'Install a full FFmpeg build (e.g. "apt-get install ffmpeg" or "brew install ffmpeg") or point FFMPEG_PATH at one; or leave out --mix.',
  });
}

// --------------------------------------------------------------------------------------------- the graph ----

export interface MixGraph {
  /** The -filter_complex graph: inputs 0 (vocals) and 1 (instrumental); output [mix], with a loudness meter on the side. */
  graph: string;
  /** Effects this FFmpeg could not do as asked, and what was done instead. */
  warnings: string[];
  /** Which optional filters the graph uses (part of the cache key: another FFmpeg may give another result). */
  uses: string[];
}

const num = (value: number): string => String(Math.round(value * 1e6) / 1e6);

/** Splits a tempo factor into atempo stages within [0.5, 2] (what every FFmpeg version accepts). */
export function atempoChain(factor: number): string[] {
  const stages: string[] = [];
  let rest = factor;
  while (rest < 0.5) {
    stages.push('atempo=0.5');
    rest /= 0.5;
  }
  while (rest > 2) {
    stages.push('atempo=2');
    rest /= 2;
  }
  if (Math.abs(rest - 1) > 1e-9) stages.push(`atempo=${num(rest)}`);
  return stages;
}

/** The instrumental transposed by `semitones`, tempo kept: rubberband when present, else resample + tempo stretch. */
export function pitchShiftFilters(semitones: number, rate: number, filters: ReadonlySet<string>): { chain: string[]; uses: string[] } {
  if (semitones === 0) return { chain: [], uses: [] };
  const ratio = 2 ** (semitones / 12);
  if (filters.has('rubberband')) return { chain: [`rubberband=pitch=${num(ratio)}`], uses: ['rubberband'] };
  return { chain: [`asetrate=${Math.round(rate * ratio)}`, `aresample=${rate}`, ...atempoChain(1 / ratio)], uses: ['asetrate'] };
}

/** A room-like reverb from early reflections (aecho taps), `amount` 0..1 setting their level; the dry signal is kept. */
function reverbFilter(amount: number): string {
  const delays = [23, 37, 53, 71, 97, 131, 173];
  const decays = delays.map((_, i) => 0.45 * amount * 0.78 ** i);
  const outGain = 1 / (1 + decays.reduce((a, b) => a + b, 0) / 2);
  return `aecho=1:${num(outGain)}:${delays.join('|')}:${decays.map(num).join('|')}`;
}

/**
 * The filter graph of a mix (pure: what the FFmpeg has is passed in). Both stems become stereo float at the mix
 * rate; the vocals get de-esser, EQ, compressor and reverb in that order, then their gain; the instrumental its
 * transposition, then its gain. The sum lasts `durationSec` (the longer stem).
 */
export function buildMixGraph(settings: MixSettings, pitch: number, durationSec: number, filters: ReadonlySet<string>): MixGraph {
  const warnings: string[] = [];
  const uses: string[] = [];
  const rate = settings.rate;
  const prepare = `aformat=sample_fmts=fltp:channel_layouts=stereo,aresample=${rate}`;

  const vocal: string[] = [];
  if (settings.deesser) {
    if (filters.has('deesser')) {
      vocal.push('deesser=i=0.5:m=0.5:f=0.5:s=o');
      uses.push('deesser');
    } else {
      vocal.push('equalizer=f=7000:t=q:w=2:g=-4');
      warnings.push('this FFmpeg has no deesser filter (it came with FFmpeg 4.2); the vocals got a fixed −4 dB cut around 7 kHz instead. Point FFMPEG_PATH at a newer FFmpeg for a real de-esser.');
    }
  }
  for (const band of settings.eq) vocal.push(`equalizer=f=${num(band.freq)}:t=q:w=${num(band.q)}:g=${num(band.gain)}`);
  if (settings.compressor) vocal.push('acompressor=threshold=-20dB:ratio=3:attack=10:release=120:makeup=2');
  if (settings.reverb > 0) vocal.push(reverbFilter(settings.reverb));
  vocal.push(`volume=${num(settings.vocalsGain)}dB`);

  const instrumental: string[] = [];
  if (settings.shiftInstrumental && pitch !== 0) {
    const shift = pitchShiftFilters(pitch, rate, filters);
    instrumental.push(...shift.chain);
    uses.push(...shift.uses);
    if (!filters.has('rubberband')) {
      warnings.push(`this FFmpeg has no rubberband filter; the instrumental was transposed by ${pitch} semitones with resampling and atempo, which sounds grainier. Point FFMPEG_PATH at an FFmpeg built with librubberband for better quality.`);
    }
  }
  instrumental.push(`volume=${num(settings.instrumentalGain)}dB`);

  // Effects may change the sample format; amerge needs both inputs alike, so each branch ends in one format.
  const settle = `aformat=sample_fmts=fltp:sample_rates=${rate}:channel_layouts=stereo`;
  const graph = [
    `[0:a]${[prepare, ...vocal, settle, 'apad'].join(',')}[v]`,
    `[1:a]${[prepare, ...instrumental, settle, 'apad'].join(',')}[i]`,
    `[v][i]amerge=inputs=2,pan=stereo|c0=c0+c2|c1=c1+c3,atrim=duration=${num(durationSec)},asplit=2[mix][meter]`,
    '[meter]ebur128=peak=true:framelog=verbose,anullsink',
  ].join(';');
  return { graph, warnings, uses };
}

/** Gain and limiter of pass 2, from pass 1's measurement. */
export function masterChain(measured: Loudness, targetLufs: number, rate: number): { filters: string[]; gainDb: number; limited: boolean; warnings: string[] } {
  const warnings: string[] = [];
  if (measured.integratedLufs <= SILENT_LUFS) {
    warnings.push('the mix is silent (or nearly): it was not normalised.');
    return { filters: [], gainDb: 0, limited: false, warnings };
  }
  let gainDb = targetLufs - measured.integratedLufs;
  if (gainDb > MAX_GAIN_DB) {
    warnings.push(`the mix is very quiet (${measured.integratedLufs.toFixed(1)} LUFS); it was raised by ${MAX_GAIN_DB} dB only.`);
    gainDb = MAX_GAIN_DB;
  }
  const limited = measured.truePeakDb + gainDb > TRUE_PEAK_CEILING_DB;
  const filters = [`volume=${num(gainDb)}dB`];
  if (limited) {
    const limit = 10 ** (LIMITER_CEILING_DB / 20);
    filters.push(`aresample=${rate * 4}`, `alimiter=limit=${num(limit)}:attack=5:release=50:level=0`, `aresample=${rate}`);
  }
  return { filters, gainDb, limited, warnings };
}

// ------------------------------------------------------------------------------------------- measurement ----

export interface Loudness {
  integratedLufs: number;
  truePeakDb: number;
}

/** The last ebur128 summary in FFmpeg's stderr; -inf (silence) becomes -120. */
export function parseEbur128Summary(stderr: string): Loudness | undefined {
  const at = stderr.lastIndexOf('Summary:');
  if (at < 0) return undefined;
  const summary = stderr.slice(at);
  const value = (pattern: RegExp): number | undefined => {
    const match = pattern.exec(summary);
    if (match?.[1] === undefined) return undefined;
    return /inf/i.test(match[1]) ? -120 : Math.max(-120, Number(match[1]));
  };
  const integratedLufs = value(/\bI:\s+(-?inf|-?\d+(?:\.\d+)?) LUFS/i);
  const truePeakDb = value(/\bPeak:\s+(-?inf|-?\d+(?:\.\d+)?) dBFS/i);
  return integratedLufs === undefined || truePeakDb === undefined ? undefined : { integratedLufs, truePeakDb };
}

/** Mix-down's FFmpeg runs: failures say what to check for a mix. */
function runMixFfmpeg(tools: FfmpegTools, args: string[], subject: string, signal?: AbortSignal): Promise<string> {
  return runFfmpeg(tools, args, {
    subject,
    doing: 'mixing',
    suggestion: 'Check that both stems play; re-run with --verbose for details. If the FFmpeg is old, point FFMPEG_PATH at a newer one.',
    ...(signal === undefined ? {} : { signal }),
  });
}

/** FFmpeg's arguments that measure a file's loudness (the summary lands on stderr). */
export function loudnessArgs(file: string): string[] {
  return ['-i', file, '-map', '0:a:0', '-filter:a', 'ebur128=peak=true:framelog=verbose', '-f', 'null', '-'];
}

/** Integrated loudness (BS.1770, all channels) and true peak of a file. */
export async function measureLoudness(tools: FfmpegTools, file: string, signal?: AbortSignal): Promise<Loudness> {
  const stderr = await runMixFfmpeg(tools, loudnessArgs(file), file, signal);
  const loudness = parseEbur128Summary(stderr);
  if (loudness === undefined) throw measureError(file);
  return loudness;
}

function measureError(subject: string): VoicestudioError {
  return new VoicestudioError(ErrorCode.FfmpegFailed, `${subject}: FFmpeg printed no loudness summary.`, {
    subject,
    suggestion: 'Point FFMPEG_PATH at a full FFmpeg build (its ebur128 filter measures the loudness).',
  });
}

// ------------------------------------------------------------------------------------------------ the mix ----

export interface MixOptions {
  projectDir: string;
  tools: FfmpegTools;
  /** The converted vocals, and what identifies their content (e.g. the conversion's cache key). */
  vocals: string;
  vocalsId: string;
  instrumental: string;
  instrumentalId: string;
  settings: MixSettings;
  /** The conversion's transposition, used when settings.shiftInstrumental. */
  pitch: number;
  output: string;
  signal?: AbortSignal;
}

export interface MixResult {
  output: string;
  /** The mix in the project's cache. */
  cache: string;
  /** True when the same mix was made before and only copied. */
  cached: boolean;
  format: MixFormat;
  sampleRate: MixRate;
  durationSec: number;
  /** Of the written file. */
  lufs: number;
  truePeakDb: number;
  /** The normalisation gain, and whether the limiter was needed. */
  gainDb: number;
  limited: boolean;
  warnings: string[];
}

type MixRecord = Omit<MixResult, 'output' | 'cache' | 'cached'>;

/** How each output format is encoded: mixes and delivered conversions alike. */
export const ENCODE_OPTIONS: Record<MixFormat, string[]> = {
  wav: ['-c:a', 'pcm_s16le', '-f', 'wav'],
  flac: ['-c:a', 'flac', '-sample_fmt', 's16', '-f', 'flac'],
  mp3: ['-c:a', 'libmp3lame', '-b:a', '320k', '-f', 'mp3'],
};
/** 16-bit outputs get triangular dither on the way down from float. */
export const DITHER: Record<MixFormat, string[]> = { wav: ['aresample=osf=s16:dither_method=triangular'], flac: ['aresample=osf=s16:dither_method=triangular'], mp3: [] };

export function mixKey(options: Pick<MixOptions, 'vocalsId' | 'instrumentalId' | 'settings' | 'pitch'>, uses: readonly string[]): string {
  const { settings } = options;
  const pitch = settings.shiftInstrumental ? options.pitch : 0;
  return sha256Text(JSON.stringify({ v: MIX_CACHE_VERSION, vocals: options.vocalsId, instrumental: options.instrumentalId, settings, pitch, uses: [...uses].sort() })).slice(0, 32);
}

async function durationOf(tools: FfmpegTools, file: string): Promise<number> {
  const probe = await probeMedia(tools, file);
  if (probe.audioStreams.length === 0) {
    throw new VoicestudioError(ErrorCode.MediaUnreadable, `${file} has no audio stream to mix.`, { subject: file, suggestion: 'Give an audio file as the instrumental.' });
  }
  return probe.durationSec;
}

/** Mixes, or copies the same mix made before from the project's cache. */
export async function mixTrack(options: MixOptions): Promise<MixResult> {
  const { tools, settings, signal } = options;
  const features = await ffmpegFeatures(tools);
  assertCanMix(tools, features, settings.format);
  const [vocalsSec, instrumentalSec] = await Promise.all([durationOf(tools, options.vocals), durationOf(tools, options.instrumental)]);
  const durationSec = Math.max(vocalsSec, instrumentalSec);
  const plan = buildMixGraph(settings, options.pitch, durationSec, features.filters);
  const key = mixKey(options, plan.uses);
  const dir = mixesDir(options.projectDir);
  const cache = path.join(dir, `${key}.${settings.format}`);
  const recordFile = path.join(dir, `${key}.json`);
  const deliver = async (record: MixRecord, cached: boolean): Promise<MixResult> => {
    await mkdir(path.dirname(options.output), { recursive: true });
    await produceAtomically(options.output, (temp) => copyFile(cache, temp));
    return { output: options.output, cache, cached, ...record };
  };

  const previous = await readRecord(recordFile);
  if (previous !== undefined && (await stat(cache).catch(() => undefined)) !== undefined) return deliver(previous, true);

  await mkdir(dir, { recursive: true });
  const premaster = tempSibling(path.join(dir, `${key}.premaster.wav`));
  const encoded = tempSibling(cache);
  try {
    // Pass 1: the mix in 32-bit float, measured on the way.
    const pass1 = await runMixFfmpeg(tools, mixPassArgs(options.vocals, options.instrumental, plan.graph, premaster), options.output, signal);
    const measured = parseEbur128Summary(pass1);
    if (measured === undefined) throw measureError(options.output);

    // Pass 2: gain (and limiter when needed) into the output format, and the file measured. Limiting costs
    // loudness, so a limited mix that fell short gets more gain, aimed by the secant through the tries so far.
    const warnings: string[] = [];
    let master = masterChain(measured, settings.targetLufs, settings.rate);
    warnings.push(...master.warnings);
    let final = await encodeMaster(tools, premaster, encoded, master.filters, settings, options.output, signal);
    let previous: { gainDb: number; lufs: number } | undefined;
    for (let attempt = 1; attempt < MAX_MASTER_PASSES && master.limited && Math.abs(final.integratedLufs - settings.targetLufs) > LOUDNESS_TOLERANCE_LU; attempt++) {
      const slope = previous === undefined ? 1 : Math.min(1, Math.max(0.1, (final.integratedLufs - previous.lufs) / (master.gainDb - previous.gainDb || 1)));
      previous = { gainDb: master.gainDb, lufs: final.integratedLufs };
      const gainDb = Math.min(master.gainDb + 12, master.gainDb + (settings.targetLufs - final.integratedLufs) / slope);
      master = masterChain({ ...measured, integratedLufs: settings.targetLufs - gainDb }, settings.targetLufs, settings.rate);
      final = await encodeMaster(tools, premaster, encoded, master.filters, settings, options.output, signal);
    }
    if (Math.abs(final.integratedLufs - settings.targetLufs) > LOUDNESS_TOLERANCE_LU && measured.integratedLufs > SILENT_LUFS) {
      warnings.push(`the mix reached ${final.integratedLufs.toFixed(1)} LUFS, not ${settings.targetLufs}: it is too dynamic to get there without squashing it harder under the −1 dBTP ceiling. Choose a lower --target-lufs.`);
    }
    const record: MixRecord = {
      format: settings.format,
      sampleRate: settings.rate,
      durationSec: Math.round(durationSec * 1000) / 1000,
      lufs: final.integratedLufs,
      truePeakDb: final.truePeakDb,
      gainDb: Math.round(master.gainDb * 100) / 100,
      limited: master.limited,
      warnings: [...plan.warnings, ...warnings],
    };
    await rename(encoded, cache);
    await writeFile(recordFile, `${JSON.stringify(record, null, 2)}\n`);
    return await deliver(record, false);
  } finally {
    await rm(premaster, { force: true });
    await rm(encoded, { force: true });
  }
}

/** Pass 1's FFmpeg arguments: both stems through the graph into a 32-bit float WAV, measured on the way. */
export function mixPassArgs(vocals: string, instrumental: string, graph: string, premaster: string): string[] {
  return ['-i', vocals, '-i', instrumental, '-filter_complex', graph, '-map', '[mix]', '-c:a', 'pcm_f32le', '-f', 'wav', premaster];
}

/** Pass 2's FFmpeg arguments: the pre-master through the master chain and dither, encoded as the mix's format, rate and tags. */
export function masterPassArgs(premaster: string, dest: string, master: readonly string[], settings: Pick<MixSettings, 'format' | 'rate'>): string[] {
  const chain = [...master, ...DITHER[settings.format]];
  return ['-i', premaster, ...(chain.length === 0 ? [] : ['-filter:a', chain.join(',')]), '-ar', String(settings.rate), '-ac', '2', ...renderTagOptions('mix'), ...ENCODE_OPTIONS[settings.format], dest];
}

async function encodeMaster(tools: FfmpegTools, premaster: string, dest: string, master: string[], settings: MixSettings, subject: string, signal?: AbortSignal): Promise<Loudness> {
  await runMixFfmpeg(tools, masterPassArgs(premaster, dest, master, settings), subject, signal);
  return measureLoudness(tools, dest, signal);
}

async function readRecord(file: string): Promise<MixRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(file, 'utf8')) as MixRecord;
    return typeof record.lufs === 'number' && typeof record.truePeakDb === 'number' ? record : undefined;
  } catch {
    return undefined;
  }
}
