/**
 * Delivering a conversion: the FFmpeg arguments for each format, with and without a guide to fit, table by table
 * (no FFmpeg runs here; the e2e tests measure delivered files' rate and exact length with ffprobe).
 */
import { describe, expect, it } from 'vitest';
import { deliveryArgs, type GuideTiming } from '../../../src/audio/deliver.js';
import type { MixFormat } from '../../../src/tasks/mix.js';

const MASTER = '/p/.voicestudio/conversions/abc.flac';
const DEST = '/out/song.wav.tmp-1';
const TAGS = ['-metadata', 'encoded_by=voicestudio', '-metadata', 'comment=voicestudio conversion'];
const DITHER = 'aresample=osf=s16:dither_method=triangular';
const WAV = ['-c:a', 'pcm_s16le', '-f', 'wav'];
const FLAC = ['-c:a', 'flac', '-sample_fmt', 's16', '-f', 'flac'];
const MP3 = ['-c:a', 'libmp3lame', '-b:a', '320k', '-f', 'mp3'];

const cases: { name: string; format: MixFormat; guide: GuideTiming | undefined; filters: string | undefined; encode: string[] }[] = [
  { name: 'wav as the model made it: dithered to 16 bits', format: 'wav', guide: undefined, filters: DITHER, encode: WAV },
  { name: 'flac as the model made it', format: 'flac', guide: undefined, filters: DITHER, encode: FLAC },
  { name: 'mp3 as the model made it: no dither, the encoder takes float', format: 'mp3', guide: undefined, filters: undefined, encode: MP3 },
  {
    name: 'wav fitted to a 48 kHz guide of 240 594 samples',
    format: 'wav',
    guide: { sampleRate: 48000, samples: 240594 },
    filters: `aresample=48000,apad=whole_len=240594,atrim=end_sample=240594,${DITHER}`,
    encode: WAV,
  },
  {
    name: 'flac fitted to a 44.1 kHz guide',
    format: 'flac',
    guide: { sampleRate: 44100, samples: 441000 },
    filters: `aresample=44100,apad=whole_len=441000,atrim=end_sample=441000,${DITHER}`,
    encode: FLAC,
  },
  { name: 'mp3 at a 48 kHz guide keeps its rate', format: 'mp3', guide: { sampleRate: 48000, samples: 96000 }, filters: 'aresample=48000,apad=whole_len=96000,atrim=end_sample=96000', encode: MP3 },
  {
    name: 'mp3 at a 22.05 kHz guide goes to the nearest full-band rate (32 kHz), the length scaled with it',
    format: 'mp3',
    guide: { sampleRate: 22050, samples: 66150 },
    filters: 'aresample=32000,apad=whole_len=96000,atrim=end_sample=96000',
    encode: MP3,
  },
  {
    name: 'mp3 at a 96 kHz guide goes to 48 kHz, the length rounded to whole samples',
    format: 'mp3',
    guide: { sampleRate: 96000, samples: 100001 },
    filters: 'aresample=48000,apad=whole_len=50001,atrim=end_sample=50001',
    encode: MP3,
  },
  { name: 'wav at a 96 kHz guide keeps 96 kHz', format: 'wav', guide: { sampleRate: 96000, samples: 100001 }, filters: `aresample=96000,apad=whole_len=100001,atrim=end_sample=100001,${DITHER}`, encode: WAV },
];

describe('deliveryArgs', () => {
  it.each(cases)('$name', ({ format, guide, filters, encode }) => {
    expect(deliveryArgs(MASTER, DEST, format, guide)).toEqual(['-i', MASTER, '-map', '0:a:0', ...(filters === undefined ? [] : ['-filter:a', filters]), ...TAGS, ...encode, DEST]);
  });

  it('passes paths with spaces and quotes through as single arguments', () => {
    const args = deliveryArgs("/my music/it's.flac", '/out dir/a b.wav', 'wav', undefined);
    expect(args[1]).toBe("/my music/it's.flac");
    expect(args.at(-1)).toBe('/out dir/a b.wav');
  });
});
