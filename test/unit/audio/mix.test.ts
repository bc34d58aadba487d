/**
 * The mix-down: the graph and the FFmpeg arguments it builds, table by table without running FFmpeg; then a few
 * real mixes, with the system FFmpeg and the bundled FFmpeg 4.1, for what only FFmpeg can tell (the loudness
 * reached, the true peak, the length kept, the pitch heard), checked by measuring the files written.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegFeatures, ffmpegReason, parseFeatureList, type FfmpegTools } from '../../../src/audio/ffmpeg.js';
import {
  atempoChain,
  buildMixGraph,
  loudnessArgs,
  masterChain,
  masterPassArgs,
  measureLoudness,
  mixKey,
  mixPassArgs,
  mixTrack,
  parseEbur128Summary,
  TRUE_PEAK_CEILING_DB,
} from '../../../src/audio/mix.js';
import { DEFAULT_MIX_SETTINGS, type MixSettings } from '../../../src/tasks/mix.js';
import { durationOf, testTools } from '../../helpers/audio.js';
import { makeTempDir } from '../../helpers/cli.js';

const ALL = new Set(['rubberband', 'deesser', 'aecho', 'acompressor', 'equalizer']);
const NONE = new Set<string>();
const settings = (patch: Partial<MixSettings> = {}): MixSettings => ({ ...DEFAULT_MIX_SETTINGS, ...patch });

describe('the graph', () => {
  it('splits tempo factors into stages every FFmpeg accepts', () => {
    expect(atempoChain(1)).toEqual([]);
    expect(atempoChain(0.25)).toEqual(['atempo=0.5', 'atempo=0.5']);
    expect(atempoChain(3)).toEqual(['atempo=2', 'atempo=1.5']);
    const product = atempoChain(1 / 2 ** (19 / 12)).reduce((p, stage) => p * Number(stage.split('=')[1]), 1);
    expect(product).toBeCloseTo(1 / 2 ** (19 / 12), 5);
  });

  it('never holds a space: nothing for a shell or an option parser to split', () => {
    const all = settings({ deesser: true, eq: [{ freq: 200, gain: -2, q: 1 }], compressor: true, reverb: 0.5, shiftInstrumental: true });
    for (const filters of [ALL, NONE]) expect(buildMixGraph(all, -3, 61.5, filters).graph).not.toMatch(/\s/);
  });
});

/** The graph's parts: each stem's chain between its shared preparation and its settling, the sum, the meter. */
function chainsOf(graph: string, rate: number): { vocal: string[]; instrumental: string[]; sum: string; meter: string } {
  const [vocal, instrumental, sum, meter, ...rest] = graph.split(';');
  expect(rest).toEqual([]);
  const prepare = ['aformat=sample_fmts=fltp:channel_layouts=stereo', `aresample=${rate}`];
  const settle = [`aformat=sample_fmts=fltp:sample_rates=${rate}:channel_layouts=stereo`, 'apad'];
  const chain = (branch: string | undefined, input: string, output: string): string[] => {
    expect(branch?.startsWith(input) && branch.endsWith(output), branch).toBe(true);
    const filters = (branch ?? '').slice(input.length, -output.length).split(',');
    expect(filters.slice(0, 2)).toEqual(prepare);
    expect(filters.slice(-2)).toEqual(settle);
    return filters.slice(2, -2);
  };
  return { vocal: chain(vocal, '[0:a]', '[v]'), instrumental: chain(instrumental, '[1:a]', '[i]'), sum: sum ?? '', meter: meter ?? '' };
}

const DEESSER = 'deesser=i=0.5:m=0.5:f=0.5:s=o';
const FIXED_SIBILANCE_CUT = 'equalizer=f=7000:t=q:w=2:g=-4';
const COMPRESSOR = 'acompressor=threshold=-20dB:ratio=3:attack=10:release=120:makeup=2';
const REVERB = expect.stringMatching(/^aecho=1:0\.\d+:23\|37\|53\|71\|97\|131\|173:/);
const NO_DEESSER = expect.stringMatching(/no deesser filter.*7 kHz/);
const NO_RUBBERBAND = (semitones: number) => expect.stringMatching(new RegExp(`no rubberband filter.*transposed by ${semitones} semitones`));

const graphCases: {
  name: string;
  patch: Partial<MixSettings>;
  pitch?: number;
  filters: ReadonlySet<string>;
  vocal: unknown[];
  instrumental: unknown[];
  uses?: string[];
  warnings?: unknown[];
}[] = [
  { name: 'the defaults: both stems at unity gain', patch: {}, filters: ALL, vocal: ['volume=0dB'], instrumental: ['volume=0dB'] },
  { name: 'gains, at 48 kHz', patch: { vocalsGain: -1.5, instrumentalGain: 2, rate: 48000 }, filters: ALL, vocal: ['volume=-1.5dB'], instrumental: ['volume=2dB'] },
  { name: 'the de-esser', patch: { deesser: true }, filters: ALL, vocal: [DEESSER, 'volume=0dB'], instrumental: ['volume=0dB'], uses: ['deesser'] },
  { name: 'no deesser filter: a fixed cut around 7 kHz, said', patch: { deesser: true }, filters: NONE, vocal: [FIXED_SIBILANCE_CUT, 'volume=0dB'], instrumental: ['volume=0dB'], warnings: [NO_DEESSER] },
  {
    name: 'EQ bands in the order given',
    patch: { eq: [{ freq: 200, gain: -2, q: 1 }, { freq: 3000, gain: 1.5, q: 0.7 }] },
    filters: ALL,
    vocal: ['equalizer=f=200:t=q:w=1:g=-2', 'equalizer=f=3000:t=q:w=0.7:g=1.5', 'volume=0dB'],
    instrumental: ['volume=0dB'],
  },
  { name: 'the compressor', patch: { compressor: true }, filters: ALL, vocal: [COMPRESSOR, 'volume=0dB'], instrumental: ['volume=0dB'] },
  { name: 'the reverb', patch: { reverb: 0.5 }, filters: ALL, vocal: [REVERB, 'volume=0dB'], instrumental: ['volume=0dB'] },
  {
    name: 'every vocal effect: de-esser, EQ, compressor, reverb, then the gain',
    patch: { deesser: true, eq: [{ freq: 250, gain: -2, q: 1 }], compressor: true, reverb: 0.3, vocalsGain: 2 },
    filters: ALL,
    vocal: [DEESSER, 'equalizer=f=250:t=q:w=1:g=-2', COMPRESSOR, REVERB, 'volume=2dB'],
    instrumental: ['volume=0dB'],
    uses: ['deesser'],
  },
  { name: 'the instrumental transposed with rubberband', patch: { shiftInstrumental: true, instrumentalGain: -3 }, pitch: -3, filters: ALL, vocal: ['volume=0dB'], instrumental: ['rubberband=pitch=0.840896', 'volume=-3dB'], uses: ['rubberband'] },
  {
    name: 'no rubberband: resampled and stretched back to tempo, said',
    patch: { shiftInstrumental: true },
    pitch: 12,
    filters: NONE,
    vocal: ['volume=0dB'],
    instrumental: ['asetrate=88200', 'aresample=44100', 'atempo=0.5', 'volume=0dB'],
    uses: ['asetrate'],
    warnings: [NO_RUBBERBAND(12)],
  },
  {
    name: 'no rubberband at 48 kHz, two octaves down',
    patch: { shiftInstrumental: true, rate: 48000 },
    pitch: -24,
    filters: NONE,
    vocal: ['volume=0dB'],
    instrumental: ['asetrate=12000', 'aresample=48000', 'atempo=2', 'atempo=2', 'volume=0dB'],
    uses: ['asetrate'],
    warnings: [NO_RUBBERBAND(-24)],
  },
  { name: 'a pitch, but the instrumental not to be transposed', patch: { shiftInstrumental: false }, pitch: 5, filters: ALL, vocal: ['volume=0dB'], instrumental: ['volume=0dB'] },
  { name: 'to be transposed, but by 0', patch: { shiftInstrumental: true }, pitch: 0, filters: NONE, vocal: ['volume=0dB'], instrumental: ['volume=0dB'] },
];

describe('buildMixGraph', () => {
  it.each(graphCases)('$name', ({ patch, pitch = 0, filters, vocal, instrumental, uses = [], warnings = [] }) => {
    const mix = settings(patch);
    const built = buildMixGraph(mix, pitch, 61.5, filters);
    const chains = chainsOf(built.graph, mix.rate);
    expect(chains.vocal).toEqual(vocal);
    expect(chains.instrumental).toEqual(instrumental);
    // The sum lasts as long as the longer stem, and a meter listens beside it.
    expect(chains.sum).toBe('[v][i]amerge=inputs=2,pan=stereo|c0=c0+c2|c1=c1+c3,atrim=duration=61.5,asplit=2[mix][meter]');
    expect(chains.meter).toBe('[meter]ebur128=peak=true:framelog=verbose,anullsink');
    expect([...built.uses].sort()).toEqual(uses);
    expect(built.warnings).toEqual(warnings);
  });
});

describe('the FFmpeg arguments of each pass', () => {
  const TAGS = ['-metadata', 'encoded_by=voicestudio', '-metadata', 'comment=voicestudio mix'];
  const DITHER = 'aresample=osf=s16:dither_method=triangular';

  it('pass 1: both stems through the graph into 32-bit float WAV', () => {
    expect(mixPassArgs('/v/vocals 1.flac', '/i/band.mp3', '[0:a]anull[v];…', '/p/key.premaster.wav')).toEqual([
      '-i', '/v/vocals 1.flac', '-i', '/i/band.mp3', '-filter_complex', '[0:a]anull[v];…', '-map', '[mix]', '-c:a', 'pcm_f32le', '-f', 'wav', '/p/key.premaster.wav',
    ]);
  });

  const limiter = masterChain({ integratedLufs: -20, truePeakDb: -3 }, -14, 48000).filters;
  const masterCases: { name: string; master: string[]; format: MixSettings['format']; rate: MixSettings['rate']; filter: string | undefined; encode: string[] }[] = [
    { name: 'wav, nothing to master: dither only', master: [], format: 'wav', rate: 44100, filter: DITHER, encode: ['-c:a', 'pcm_s16le', '-f', 'wav'] },
    { name: 'mp3, nothing to master: no filter at all', master: [], format: 'mp3', rate: 44100, filter: undefined, encode: ['-c:a', 'libmp3lame', '-b:a', '320k', '-f', 'mp3'] },
    { name: 'flac with a gain: gain, then dither', master: ['volume=6dB'], format: 'flac', rate: 48000, filter: `volume=6dB,${DITHER}`, encode: ['-c:a', 'flac', '-sample_fmt', 's16', '-f', 'flac'] },
    { name: 'mp3 with the oversampled limiter', master: limiter, format: 'mp3', rate: 48000, filter: limiter.join(','), encode: ['-c:a', 'libmp3lame', '-b:a', '320k', '-f', 'mp3'] },
  ];

  it.each(masterCases)('pass 2, $name', ({ master, format, rate, filter, encode }) => {
    expect(masterPassArgs('/p/pre.wav', '/p/key.mp3.tmp', master, { format, rate })).toEqual([
      '-i', '/p/pre.wav', ...(filter === undefined ? [] : ['-filter:a', filter]), '-ar', String(rate), '-ac', '2', ...TAGS, ...encode, '/p/key.mp3.tmp',
    ]);
  });

  it('the measurement: the first audio stream through ebur128, written nowhere', () => {
    expect(loudnessArgs('/o/a b.flac')).toEqual(['-i', '/o/a b.flac', '-map', '0:a:0', '-filter:a', 'ebur128=peak=true:framelog=verbose', '-f', 'null', '-']);
  });
});

describe('the mix cache key', () => {
  const base = { vocalsId: 'v', instrumentalId: 'i', pitch: 3, settings: settings() };
  const key = mixKey(base, []);
  const cases: { name: string; options: typeof base; uses?: string[]; same: boolean }[] = [
    { name: 'the same inputs and settings', options: { ...base }, same: true },
    { name: 'another pitch, the instrumental not transposed', options: { ...base, pitch: 5 }, same: true },
    { name: 'another pitch, the instrumental transposed', options: { ...base, pitch: 5, settings: settings({ shiftInstrumental: true }) }, same: false },
    { name: 'another vocal gain', options: { ...base, settings: settings({ vocalsGain: 1 }) }, same: false },
    { name: 'another format', options: { ...base, settings: settings({ format: 'flac' }) }, same: false },
    { name: 'other vocals', options: { ...base, vocalsId: 'v2' }, same: false },
    { name: 'another instrumental', options: { ...base, instrumentalId: 'other' }, same: false },
    { name: 'another FFmpeg filter used', options: { ...base }, uses: ['rubberband'], same: false },
  ];
  it.each(cases)('$name: same key $same', ({ options, uses = [], same }) => {
    expect(mixKey(options, uses) === key).toBe(same);
  });

  it('does not depend on the order the filters were listed in', () => {
    expect(mixKey(base, ['rubberband', 'deesser'])).toBe(mixKey(base, ['deesser', 'rubberband']));
  });
});

describe('normalisation', () => {
  it('is a plain gain when the true peak stays under −1 dBTP', () => {
    const chain = masterChain({ integratedLufs: -20, truePeakDb: -8 }, -14, 44100);
    expect(chain).toMatchObject({ gainDb: 6, limited: false, filters: ['volume=6dB'] });
  });

  it('adds an oversampled limiter when the gain would push the true peak over the ceiling', () => {
    const chain = masterChain({ integratedLufs: -20, truePeakDb: -3 }, -14, 48000);
    expect(chain.limited).toBe(true);
    expect(chain.filters).toEqual(['volume=6dB', 'aresample=192000', expect.stringMatching(/^alimiter=limit=0\.86\d*:attack=5:release=50:level=0$/), 'aresample=48000']);
  });

  it('leaves a silent mix alone and caps the gain of a very quiet one', () => {
    expect(masterChain({ integratedLufs: -70, truePeakDb: -120 }, -14, 44100)).toMatchObject({ gainDb: 0, filters: [], warnings: [expect.stringMatching(/silent/)] });
    expect(masterChain({ integratedLufs: -60, truePeakDb: -50 }, -14, 44100)).toMatchObject({ gainDb: 40, warnings: [expect.stringMatching(/raised by 40 dB only/)] });
  });

  it("reads ebur128's summary, the last one when FFmpeg printed several", () => {
    const stderr = `[Parsed_ebur128_0 @ 0x1] Summary:\n\n  Integrated loudness:\n    I:         -70.0 LUFS\n  True peak:\n    Peak:       -inf dBFS\n[Parsed_ebur128_0 @ 0x2] Summary:\n\n  Integrated loudness:\n    I:         -19.1 LUFS\n    Threshold: -29.1 LUFS\n\n  True peak:\n    Peak:      -18.3 dBFS\n`;
    expect(parseEbur128Summary(stderr)).toEqual({ integratedLufs: -19.1, truePeakDb: -18.3 });
    expect(parseEbur128Summary('no summary here')).toBeUndefined();
  });

  it("quotes FFmpeg's own reason rather than its closing words", () => {
    expect(ffmpegReason('Stream mapping: ...\n[AVFilterGraph @ 0x1] No such filter: \'deesser\'\nError initializing complex filters.\nConversion failed!\n')).toBe('Error initializing complex filters.');
  });
});

describe('feature lists', () => {
  it('reads names from `ffmpeg -filters` and `-encoders` of either version', () => {
    const text = ' T.. acompressor       A->A       Audio compressor.\n ..C rubberband        A->A       Apply time-stretching.\n ... aecho             A->A       Add echoing.\n A....D libmp3lame           libmp3lame MP3\n ------\n = Source or sink filter\n';
    expect([...parseFeatureList(text)].sort()).toEqual(['acompressor', 'aecho', 'libmp3lame', 'rubberband']);
  });
});

// ------------------------------------------------------------------------------------------------ real mixes ----

const bundledFfmpeg = ((): string | undefined => {
  try {
    const found = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path?: string }).path;
    return found !== undefined && existsSync(found) ? found : undefined;
  } catch {
    return undefined;
  }
})();

let dir: string;
let cleanup: () => Promise<void>;
let system: FfmpegTools;
let vocals: string;
let instrumental: string;
/** Percussive: a high crest factor, so loud targets need the limiter. */
let hot: string;

async function ffmpeg(tools: FfmpegTools, args: string[]): Promise<void> {
  await execa(tools.ffmpeg.path, ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args]);
}

/** The dominant frequency of a file's first channel over 2 s from `startSec`, by zero crossings of a pure tone. */
async function toneFrequency(file: string, startSec: number): Promise<number> {
  const { stdout } = await execa(system.ffmpeg.path, ['-v', 'error', '-ss', String(startSec), '-t', '2', '-i', file, '-ac', '1', '-f', 'f32le', 'pipe:1'], { encoding: 'buffer' });
  const samples = new Float32Array(stdout.buffer, stdout.byteOffset, Math.floor(stdout.byteLength / 4));
  const { sampleRate } = await durationOf(file);
  let crossings = 0;
  for (let i = 1; i < samples.length; i++) if ((samples[i - 1] ?? 0) < 0 && (samples[i] ?? 0) >= 0) crossings++;
  return crossings / (samples.length / sampleRate);
}

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('mix'));
  system = await testTools();
  vocals = path.join(dir, 'vocals 1.wav'); // one space: the kind of name fluent-ffmpeg would split
  instrumental = path.join(dir, 'instrumental.flac');
  hot = path.join(dir, 'hot.wav');
  // Vocals: phrases of a 330 Hz tone at 40 kHz mono (a converted vocal's rate); instrumental: a steady 440 Hz tone, stereo 44.1 kHz, 0.5 s longer.
  await ffmpeg(system, ['-f', 'lavfi', '-i', "aevalsrc='0.4*sin(2*PI*330*t)*lt(mod(t,3),2.5)':s=40000:d=4", vocals]);
  await ffmpeg(system, ['-f', 'lavfi', '-i', "aevalsrc='0.25*sin(2*PI*440*t)|0.25*sin(2*PI*440*t)':s=44100:d=4.5", '-c:a', 'flac', instrumental]);
  await ffmpeg(system, ['-f', 'lavfi', '-i', "aevalsrc='0.9*sin(2*PI*200*t)*exp(-12*mod(t,0.5))':s=44100:d=6", hot]);
});

afterAll(async () => {
  await cleanup?.();
});

const variants: { name: string; tools: () => FfmpegTools }[] = [
  { name: 'system FFmpeg', tools: () => system },
  ...(bundledFfmpeg === undefined ? [] : [{ name: 'bundled FFmpeg 4.1', tools: (): FfmpegTools => ({ ffmpeg: { path: bundledFfmpeg, source: 'bundled' as const }, ffprobe: system.ffprobe }) }]),
];

describe.each(variants)('mixing with the $name', ({ name, tools }) => {
  it('writes the requested format and rate at the target loudness, true peak under the ceiling', async () => {
    const project = path.join(dir, `project-${name.replace(/\W+/g, '-')}`);
    const output = path.join(dir, `out ${name}.flac`);
    const result = await mixTrack({
      projectDir: project,
      tools: tools(),
      vocals,
      vocalsId: 'v1',
      instrumental,
      instrumentalId: 'i1',
      settings: settings({ format: 'flac', rate: 48000, targetLufs: -14, reverb: 0.3, compressor: true, eq: [{ freq: 250, gain: -2, q: 1 }], deesser: true, vocalsGain: 2, instrumentalGain: -3 }),
      pitch: 0,
      output,
    });
    const probe = await durationOf(output);
    expect(probe).toMatchObject({ codec: 'flac', sampleRate: 48000, channels: 2 });
    expect(probe.durationSec).toBeCloseTo(4.5, 1);
    const measured = await measureLoudness(system, output);
    expect(Math.abs(measured.integratedLufs - -14)).toBeLessThanOrEqual(0.5);
    expect(measured.truePeakDb).toBeLessThanOrEqual(TRUE_PEAK_CEILING_DB + 0.3);
    expect(result).toMatchObject({ cached: false, format: 'flac', sampleRate: 48000 });
    expect(result.lufs).toBeCloseTo(measured.integratedLufs, 0);
    const features = await ffmpegFeatures(tools());
    if (features.filters.has('deesser')) expect(result.warnings).toEqual([]);
    else expect(result.warnings).toEqual([expect.stringMatching(/no deesser filter/)]);
  });
});

// What the FFmpeg in use does not change (the graph is the same, bar deesser and rubberband, covered above) is
// measured once, with the system FFmpeg.
describe('the limiter and the transposition, with the system FFmpeg', () => {
  it('limits a hot mix to −1 dBTP and still lands near the target', async () => {
    const output = path.join(dir, 'hot.wav');
    const result = await mixTrack({ projectDir: path.join(dir, 'hot'), tools: system, vocals: hot, vocalsId: 'hot', instrumental, instrumentalId: 'i1', settings: settings({ targetLufs: -8, instrumentalGain: -20, format: 'wav', rate: 44100 }), pitch: 0, output });
    expect(result.limited).toBe(true);
    const measured = await measureLoudness(system, output);
    expect(measured.truePeakDb).toBeLessThanOrEqual(TRUE_PEAK_CEILING_DB + 0.3);
    expect(Math.abs(measured.integratedLufs - -8)).toBeLessThanOrEqual(1);
    expect(await durationOf(output)).toMatchObject({ codec: 'pcm_s16le', sampleRate: 44100 });
  });

  it('transposes the instrumental by the pitch, tempo kept, with or without rubberband', async () => {
    const features = await ffmpegFeatures(system);
    for (const filters of features.filters.has('rubberband') ? [features.filters, new Set([...features.filters].filter((f) => f !== 'rubberband'))] : [features.filters]) {
      // Without the vocals (−60 dB) the instrumental's tone is what is measured.
      const mix = settings({ shiftInstrumental: true, vocalsGain: -60, format: 'wav', rate: 44100 });
      const { graph } = buildMixGraph(mix, 12, 4.5, filters);
      expect(graph).toMatch(filters.has('rubberband') ? /rubberband/ : /asetrate/);
      const output = path.join(dir, `shifted-${filters.has('rubberband') ? 'rb' : 'fallback'}.wav`);
      await execa(system.ffmpeg.path, ['-hide_banner', '-nostdin', '-v', 'error', '-y', '-i', vocals, '-i', instrumental, '-filter_complex', graph, '-map', '[mix]', output]);
      const frequency = await toneFrequency(output, 1);
      expect(frequency).toBeGreaterThan(860);
      expect(frequency).toBeLessThan(900);
      expect((await durationOf(output)).durationSec).toBeCloseTo(4.5, 1);
    }
  });
});

describe('the mix cache', () => {
  it('makes the same mix once, and copies it from the cache after (which settings make another: the cache key, above)', async () => {
    const project = path.join(dir, 'cache');
    const base = { projectDir: project, tools: system, vocals, vocalsId: 'v', instrumental, instrumentalId: 'i', pitch: 3, settings: settings() };
    const first = await mixTrack({ ...base, output: path.join(dir, 'c1.wav') });
    const again = await mixTrack({ ...base, pitch: 5, output: path.join(dir, 'c2.wav') });
    expect(first.cached).toBe(false);
    expect(again).toMatchObject({ cached: true, cache: first.cache, lufs: first.lufs });
    expect(await readFile(path.join(dir, 'c2.wav'))).toEqual(await readFile(path.join(dir, 'c1.wav')));
  });

  it('names the file FFmpeg could not read', async () => {
    const broken = path.join(dir, 'broken.wav');
    await execa('sh', ['-c', `printf 'RIFF....WAVEnope' > '${broken}'`]);
    await expect(mixTrack({ projectDir: path.join(dir, 'broken'), tools: system, vocals: broken, vocalsId: 'b', instrumental, instrumentalId: 'i', pitch: 0, settings: settings(), output: path.join(dir, 'b.wav') })).rejects.toThrow(
      /broken\.wav/,
    );
  });
});
