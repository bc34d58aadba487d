/**
 * Spectrogram pictures of audio files, as PNG files in one folder, each named by the content of its audio and the
 * picture's settings: drawing again what is already drawn costs a hash of the audio, not an FFmpeg run.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, VoicestudioError } from '../errors.js';
import { mapLimit } from '../util/concurrency.js';
import { commitTemp, pathExists, sha256File, sha256Text, tempSibling, tempSiblingOwner, sweepAbandonedTemps } from '../util/files.js';
import { runFfmpeg, type FfmpegTools } from './ffmpeg.js';

export const SPECTROGRAM_WIDTH = 480;
export const SPECTROGRAM_HEIGHT = 160;
/**
 * Part of each picture's name: a change here draws every picture anew. Resampled to 22.05 kHz first, so the picture
 * spans 0–11 kHz (harmonics, formants and sibilants; above is air the eye cannot compare at this size), which FFmpeg
 * 4.1's showspectrumpic has no option for; the fourth-root scale keeps the noise floor dark and the harmonics apart.
 */
const SPECTROGRAM_FILTER = `aresample=22050,showspectrumpic=s=${SPECTROGRAM_WIDTH}x${SPECTROGRAM_HEIGHT}:legend=0:scale=4thrt`;
/** A picture's name: these many hex digits of its key, then .png; only such files are pruned. */
const NAME_DIGITS = 16;
const PICTURE_NAME = new RegExp(`^[0-9a-f]{${NAME_DIGITS}}\\.png$`);
/** Hashing runs in worker threads; two keep the disk busy without taking every core from FFmpeg. */
const HASH_CONCURRENCY = 2;

export interface SpectrogramOptions {
  /** FFmpeg runs at once. */
  concurrency: number;
  signal?: AbortSignal;
}

/**
 * Draws a spectrogram of each audio file into `dir` (created if missing) unless a picture of the same audio is already
 * there, removes the pictures no file of `files` needs any more, and returns each file's picture path.
 */
export async function writeSpectrograms(tools: FfmpegTools, files: readonly string[], dir: string, options: SpectrogramOptions): Promise<Map<string, string>> {
  const unique = [...new Set(files)];
  await mkdir(dir, { recursive: true });
  await sweepAbandonedTemps(dir, tempSiblingOwner, 0);
  const pictures = await mapLimit(
    unique,
    HASH_CONCURRENCY,
    async (file) => {
      if (!(await pathExists(file))) {
        throw new VoicestudioError(ErrorCode.MediaUnreadable, `${file}: the audio to draw a spectrogram of does not exist.`, {
          subject: file,
          suggestion: 'Run the audition again so that its converted phrases are fetched again.',
        });
      }
      const key = sha256Text(`${SPECTROGRAM_FILTER}\n${await sha256File(file, options.signal)}`);
      return path.join(dir, `${key.slice(0, NAME_DIGITS)}.png`);
    },
    options.signal,
  );
  // By picture: files of the same content are drawn once.
  const toDraw = new Map<string, string>();
  for (const [index, picture] of pictures.entries()) {
    if (!toDraw.has(picture) && !(await pathExists(picture))) toDraw.set(picture, unique[index]!);
  }
  await mapLimit([...toDraw], options.concurrency, ([picture, file]) => drawSpectrogram(tools, file, picture, options.signal), options.signal);
  const wanted = new Set(pictures.map((picture) => path.basename(picture)));
  for (const name of await readdir(dir)) {
    if (PICTURE_NAME.test(name) && !wanted.has(name)) await rm(path.join(dir, name), { force: true });
  }
  return new Map(unique.map((file, index) => [file, pictures[index]!]));
}

async function drawSpectrogram(tools: FfmpegTools, file: string, picture: string, signal: AbortSignal | undefined): Promise<void> {
  const temp = tempSibling(picture);
  try {
    // The temp name has no image extension, so the muxer and codec are named; -update: one picture, not a sequence.
    await runFfmpeg(tools, ['-i', file, '-lavfi', SPECTROGRAM_FILTER, '-frames:v', '1', '-f', 'image2', '-c:v', 'png', '-update', '1', temp], {
      subject: file,
      doing: 'drawing its spectrogram',
      suggestion: 'Check that the file plays in a media player; run the audition again to fetch it anew.',
      ...(signal === undefined ? {} : { signal }),
    });
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await commitTemp(temp, picture);
}
