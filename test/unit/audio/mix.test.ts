/**
 * The mix-down: the graph it builds (pure), and real mixes with the system FFmpeg and the bundled FFmpeg 4.1,
 * including what happens without rubberband and deesser, checked by measuring the files written.
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
  masterChain,
  measureLoudness,
  mixTrack,
  parseEbur128Summary,
  pitchShiftFilters,
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

  it('transposes with rubberband when present, else resample + atempo keeping the tempo', () => {
    expect(pitchShiftFilters(0, 44100, ALL).chain).toEqual([]);
    expect(pitchShiftFilters(12, 44100, ALL).chain).toEqual(['rubberband=pitch=2']);
    expect(pitchShiftFilters(12, 44100, NONE).chain).toEqual(['asetrate=88200', 'aresample=44100', 'atempo=0.5']);
    expect(pitchShiftFilters(-24, 48000, NONE).chain).toEqual(['asetrate=12000', 'aresample=48000', 'atempo=2', 'atempo=2']);
  });

  it('puts the vocal effects in order, and the gains, and lasts as long as the longer stem', () => {
    const { graph, warnings, uses } = buildMixGraph(settings({ vocalsGain: -1.5, instrumentalGain: 2, deesser: true, eq: [{ freq: 200, gain: -2, q: 1 }], compressor: true, reverb: 0.5, shiftInstrumental: true }), -3, 61.5, ALL);
    const vocal = graph.split(';')[0] ?? '';
    const order = ['deesser', 'equalizer', 'acompressor', 'aecho', 'volume=-1.5dB'].map((f) => vocal.indexOf(f));
    expect(order.every((at, i) => at > 0 && (i === 0 || at > (order[i - 1] ?? 0)))).toBe(true);
    expect(graph.split(';')[1]).toMatch(/rubberband=pitch=0\.840896.*volume=2dB/);
    expect(graph).toContain('atrim=duration=61.5');
    expect(graph).not.toMatch(/ /); // no spaces: nothing for a shell or an option parser to split
    expect(warnings).toEqual([]);
    expect(uses.sort()).toEqual(['deesser', 'rubberband']);
  });

  it('degrades without deesser and rubberband, and says what it did instead', () => {
    const { graph, warnings, uses } = buildMixGraph(settings({ deesser: true, shiftInstrumental: true }), 2, 10, NONE);
    expect(graph).toContain('equalizer=f=7000:t=q:w=2:g=-4');
    expect(graph).toContain('asetrate=49501');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/no deesser filter.*7 kHz/);
    expect(warnings[1]).toMatch(/no rubberband filter.*transposed by 2 semitones/);
    expect(uses).toEqual(['asetrate']);
  });

  it('does not transpose when asked not to, or when the pitch is 0', () => {
    expect(buildMixGraph(settings({ shiftInstrumental: false }), 5, 10, ALL).graph).not.toContain('rubberband');
    expect(buildMixGraph(settings({ shiftInstrumental: true }), 0, 10, ALL).graph).not.toContain('rubberband');
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

  it('limits a hot mix to −1 dBTP and still lands near the target', async () => {
    const output = path.join(dir, `hot-${name.replace(/\W+/g, '-')}.wav`);
    const result = await mixTrack({ projectDir: path.join(dir, 'hot'), tools: tools(), vocals: hot, vocalsId: `hot-${name}`, instrumental, instrumentalId: 'i1', settings: settings({ targetLufs: -8, instrumentalGain: -20, format: 'wav', rate: 44100 }), pitch: 0, output });
    expect(result.limited).toBe(true);
    const measured = await measureLoudness(system, output);
    expect(measured.truePeakDb).toBeLessThanOrEqual(TRUE_PEAK_CEILING_DB + 0.3);
    expect(Math.abs(measured.integratedLufs - -8)).toBeLessThanOrEqual(1);
    expect(await durationOf(output)).toMatchObject({ codec: 'pcm_s16le', sampleRate: 44100 });
  });

  it('transposes the instrumental by the pitch, tempo kept, with or without rubberband', async () => {
    const project = path.join(dir, `shift-${name.replace(/\W+/g, '-')}`);
    const features = await ffmpegFeatures(tools());
    for (const filters of features.filters.has('rubberband') ? [features.filters, new Set([...features.filters].filter((f) => f !== 'rubberband'))] : [features.filters]) {
      // Without the vocals (−60 dB) the instrumental's tone is what is measured.
      const mix = settings({ shiftInstrumental: true, vocalsGain: -60, format: 'wav', rate: 44100 });
      const { graph } = buildMixGraph(mix, 12, 4.5, filters);
      expect(graph).toMatch(filters.has('rubberband') ? /rubberband/ : /asetrate/);
      const output = path.join(dir, `shifted-${name.replace(/\W+/g, '-')}-${filters.has('rubberband') ? 'rb' : 'fallback'}.wav`);
      await execa(tools().ffmpeg.path, ['-hide_banner', '-nostdin', '-v', 'error', '-y', '-i', vocals, '-i', instrumental, '-filter_complex', graph, '-map', '[mix]', output]);
      const frequency = await toneFrequency(output, 1);
      expect(frequency).toBeGreaterThan(860);
      expect(frequency).toBeLessThan(900);
      expect((await durationOf(output)).durationSec).toBeCloseTo(4.5, 1);
    }
    // And through mixTrack, which records the transposition in the cache key.
    const shifted = await mixTrack({ projectDir: project, tools: tools(), vocals, vocalsId: 'v', instrumental, instrumentalId: 'i', settings: settings({ shiftInstrumental: true, format: 'mp3' }), pitch: -5, output: path.join(dir, `shift-${name.replace(/\W+/g, '-')}.mp3`) });
    expect(shifted.cached).toBe(false);
    expect(await durationOf(shifted.output)).toMatchObject({ codec: 'mp3', sampleRate: 44100 });
  });
});

describe('the mix cache', () => {
  it('makes the same mix once; other settings or other stems make another', async () => {
    const project = path.join(dir, 'cache');
    const base = { projectDir: project, tools: system, vocals, vocalsId: 'v', instrumental, instrumentalId: 'i', pitch: 3, settings: settings() };
    const first = await mixTrack({ ...base, output: path.join(dir, 'c1.wav') });
    const again = await mixTrack({ ...base, output: path.join(dir, 'c2.wav') });
    expect(first.cached).toBe(false);
    expect(again).toMatchObject({ cached: true, cache: first.cache, lufs: first.lufs });
    expect(await readFile(path.join(dir, 'c2.wav'))).toEqual(await readFile(path.join(dir, 'c1.wav')));
    // The pitch only matters when the instrumental is transposed.
    expect((await mixTrack({ ...base, pitch: 5, output: path.join(dir, 'c3.wav') })).cached).toBe(true);
    expect((await mixTrack({ ...base, settings: settings({ vocalsGain: 1 }), output: path.join(dir, 'c4.wav') })).cached).toBe(false);
    expect((await mixTrack({ ...base, instrumentalId: 'other', output: path.join(dir, 'c5.wav') })).cached).toBe(false);
  });

  it('names the file FFmpeg could not read', async () => {
    const broken = path.join(dir, 'broken.wav');
    await execa('sh', ['-c', `printf 'RIFF....WAVEnope' > '${broken}'`]);
    await expect(mixTrack({ projectDir: path.join(dir, 'broken'), tools: system, vocals: broken, vocalsId: 'b', instrumental, instrumentalId: 'i', pitch: 0, settings: settings(), output: path.join(dir, 'b.wav') })).rejects.toThrow(
      /broken\.wav/,
    );
  });
});
