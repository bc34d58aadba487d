/**
 * What a separation job is sent, decided from the input's probe: the FFmpeg arguments of the encode (or none),
 * table by table, without running FFmpeg.
 */
import { describe, expect, it } from 'vitest';
import { encodeArgs, type AudioStreamInfo, type MediaProbe } from '../../../src/audio/ffmpeg.js';
import { separationInputJob } from '../../../src/audio/separation-input.js';
import { ErrorCode } from '../../../src/errors.js';

const INPUT = '/music/song one.m4a';
const DEST = '/p/.voicestudio/separations/key.input.flac.tmp-1';

function stream(patch: Partial<AudioStreamInfo> = {}): AudioStreamInfo {
  return { index: 0, audioIndex: 0, codec: 'pcm_s16le', sampleRate: 44100, channels: 2, bitsPerSample: 16, isDefault: true, durationSec: 180, ...patch };
}

function probe(audioStreams: AudioStreamInfo[], patch: Partial<MediaProbe> = {}): MediaProbe {
  return { formatName: 'wav', durationSec: 180, audioStreams, hasVideo: false, streamCount: audioStreams.length, tags: {}, ...patch };
}

const flacOf = (map: string, extra: string[] = []): string[] => ['-i', INPUT, '-map', map, '-vn', ...extra, '-c:a', 'flac', '-sample_fmt', 's16', '-compression_level', '5', '-f', 'flac', DEST];

const cases: { name: string; probe: MediaProbe; args: string[] | undefined }[] = [
  { name: 'an MP3 goes as it is', probe: probe([stream({ codec: 'mp3' })], { formatName: 'mp3' }), args: undefined },
  { name: 'an AAC file goes as it is', probe: probe([stream({ codec: 'aac' })], { formatName: 'mov,mp4,m4a,3gp,3g2,mj2' }), args: undefined },
  { name: 'Ogg Vorbis goes as it is', probe: probe([stream({ codec: 'vorbis' })], { formatName: 'ogg' }), args: undefined },
  { name: 'Opus goes as it is', probe: probe([stream({ codec: 'opus' })], { formatName: 'ogg' }), args: undefined },
  { name: 'a WAV becomes FLAC', probe: probe([stream()]), args: flacOf('0:a:0') },
  { name: 'a 24-bit mono WAV becomes 16-bit FLAC, still mono', probe: probe([stream({ codec: 'pcm_s24le', channels: 1, bitsPerSample: 24 })]), args: flacOf('0:a:0') },
  { name: 'a 5.1 FLAC is folded to stereo', probe: probe([stream({ codec: 'flac', channels: 6 })], { formatName: 'flac' }), args: flacOf('0:a:0', ['-ac', '2']) },
  {
    name: 'a video with an AAC soundtrack: the soundtrack alone, as FLAC',
    probe: probe([stream({ index: 1, codec: 'aac' })], { formatName: 'mov,mp4,m4a,3gp,3g2,mj2', hasVideo: true, streamCount: 2 }),
    args: flacOf('0:a:0'),
  },
  {
    name: 'two MP3 streams: the default one, as FLAC',
    probe: probe([stream({ codec: 'mp3', isDefault: false }), stream({ index: 1, audioIndex: 1, codec: 'mp3', isDefault: true })], { formatName: 'matroska,webm' }),
    args: flacOf('0:a:1'),
  },
  {
    name: 'no default stream: the one with most channels',
    probe: probe([stream({ channels: 1, isDefault: false }), stream({ index: 1, audioIndex: 1, channels: 8, isDefault: false })], { formatName: 'matroska,webm' }),
    args: flacOf('0:a:1', ['-ac', '2']),
  },
];

describe('separationInputJob', () => {
  it.each(cases)('$name', ({ probe: probed, args }) => {
    const job = separationInputJob(INPUT, probed, DEST);
    expect(job === undefined ? undefined : encodeArgs(job)).toEqual(args);
  });

  it('refuses an input with no audio stream, naming it', () => {
    expect(() => separationInputJob(INPUT, probe([], { hasVideo: true, streamCount: 1 }), DEST)).toThrow(
      expect.objectContaining({ code: ErrorCode.MediaUnreadable, message: `${INPUT} has no audio stream to separate.` }),
    );
  });
});
