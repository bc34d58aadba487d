/**
 * What a separation job is sent: lossy audio-only files travel as they are (decoding them to FLAC would only make
 * them bigger); anything else sends its best audio stream as FLAC (lossless, about half a WAV), at most stereo.
 */
import { ErrorCode, VoicestudioError } from '../errors.js';
import { pickAudioStream, type EncodeJob, type MediaProbe } from './ffmpeg.js';

const SEND_AS_IS_CODECS: ReadonlySet<string> = new Set(['mp3', 'aac', 'vorbis', 'opus']);

/**
 * The encode that prepares `input` for separation into `dest`, or undefined when the input is sent as it is.
 * Throws MediaUnreadable when the input has no audio stream.
 */
export function separationInputJob(input: string, probe: MediaProbe, dest: string): Omit<EncodeJob, 'signal'> | undefined {
  const stream = pickAudioStream(probe);
  if (stream === undefined) {
    throw new VoicestudioError(ErrorCode.MediaUnreadable, `${input} has no audio stream to separate.`, { subject: input, suggestion: 'Give an audio file, or a video with a soundtrack.' });
  }
  if (!probe.hasVideo && probe.audioStreams.length === 1 && SEND_AS_IS_CODECS.has(stream.codec)) return undefined;
  return {
    input,
    outputOptions: ['-map', `0:a:${stream.audioIndex}`, '-vn', ...(stream.channels > 2 ? ['-ac', '2'] : []), '-c:a', 'flac', '-sample_fmt', 's16', '-compression_level', '5', '-f', 'flac'],
    output: dest,
  };
}
