/**
 * Delivering a conversion. The project's cache keeps the worker's lossless master (FLAC, at the model's rate);
 * each output is encoded from it here, in the format asked for, at the guide's sample rate and to the guide's
 * exact length, so it lines up sample for sample with the guide in a DAW. Another format costs an encode,
 * never a GPU job.
 */
import { probeMedia, renderTagOptions, runFfmpeg, type FfmpegTools } from './ffmpeg.js';
import { produceAtomically } from '../util/files.js';
import { DITHER, ENCODE_OPTIONS } from './mix.js';
import type { MixFormat } from '../tasks/mix.js';

/** What the worker is asked for and the cache keeps. */
export const MASTER_FORMAT = 'flac';

/** Sample rates the MP3 encoder takes at full bandwidth; a guide at another rate gets the nearest. */
const MP3_RATES = [32000, 44100, 48000];

export interface GuideTiming {
  sampleRate: number;
  /** The guide's length in samples at its own rate. */
  samples: number;
}

/**
 * The rate and exact length of the guide's first audio stream; undefined when it has none or cannot be probed any more
 * (then the conversion is delivered as the model made it, whether it came from the GPU or from the cache).
 */
export async function guideTiming(tools: FfmpegTools, guide: string): Promise<GuideTiming | undefined> {
  const probe = await probeMedia(tools, guide).catch(() => undefined);
  if (probe === undefined) return undefined;
  const stream = probe.audioStreams[0];
  if (stream === undefined || stream.sampleRate <= 0) return undefined;
  return { sampleRate: stream.sampleRate, samples: Math.round((stream.durationSec ?? probe.durationSec) * stream.sampleRate) };
}

/**
 * FFmpeg's arguments that encode `master` into `dest` in `format`, fitted to the guide's rate and exact length when
 * `guide` is given (MP3 at the nearest rate its encoder takes at full bandwidth).
 */
export function deliveryArgs(master: string, dest: string, format: MixFormat, guide: GuideTiming | undefined): string[] {
  const filters: string[] = [];
  if (guide !== undefined) {
    const rate = format === 'mp3' && !MP3_RATES.includes(guide.sampleRate) ? nearest(MP3_RATES, guide.sampleRate) : guide.sampleRate;
    const samples = Math.round((guide.samples * rate) / guide.sampleRate);
    // The model's vocoder ends a few ms early or late: pad with silence, or trim, to the guide's length.
    filters.push(`aresample=${rate}`, `apad=whole_len=${samples}`, `atrim=end_sample=${samples}`);
  }
  filters.push(...DITHER[format]);
  return ['-i', master, '-map', '0:a:0', ...(filters.length === 0 ? [] : ['-filter:a', filters.join(',')]), ...renderTagOptions('conversion'), ...ENCODE_OPTIONS[format], dest];
}

/** Encodes `master` as `output` in `format`, fitted to the guide's rate and length when `guide` is given. */
export async function deliverConversion(tools: FfmpegTools, master: string, output: string, format: MixFormat, guide: GuideTiming | undefined, signal?: AbortSignal): Promise<void> {
  await produceAtomically(output, (temp) =>
    runFfmpeg(tools, deliveryArgs(master, temp, format, guide), {
      subject: master,
      doing: `encoding the conversion as ${format}`,
      suggestion: 'Run the same command again: the conversion is in the project cache, so no GPU job is needed.',
      ...(signal === undefined ? {} : { signal }),
    }),
  );
}

function nearest(candidates: readonly number[], value: number): number {
  return candidates.reduce((best, candidate) => (Math.abs(candidate - value) < Math.abs(best - value) ? candidate : best));
}
