/**
 * The realistic material of test/helpers/realistic.ts checked against independent tools: ffprobe for formats and
 * durations, FFmpeg's silencedetect and astats for where the sound is and how loud the room is.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTools } from '../../helpers/audio.js';
import { makeTempDir } from '../../helpers/cli.js';
import { cutsInsidePhrases, measureSound, overlapSec, probeAudio, soundCoverage, totalSec, type ProbedAudio, type SoundMeasure } from '../../helpers/measure.js';
import {
  REALISTIC_SET,
  TAKE_SECONDS,
  cleanCut,
  runTwoAtATime,
  writeRealisticSet,
  writeSinging,
  writeTake,
  type RealisticSet,
  type RealisticSource,
  type Timeline,
} from '../../helpers/realistic.js';

/** What the brief asks of each file, written out here rather than read back from the generator. */
const EXPECTED_FORMAT: Record<string, { sampleRate: number; channels: number; codec: string }> = {
  'melody-44k-stereo.wav': { sampleRate: 44100, channels: 2, codec: 'pcm_s16le' },
  'even-phrases-44k-stereo.wav': { sampleRate: 44100, channels: 2, codec: 'pcm_s16le' },
  'held-notes-48k-stereo.flac': { sampleRate: 48000, channels: 2, codec: 'flac' },
  'melody-24k-mono.wav': { sampleRate: 24000, channels: 1, codec: 'pcm_s16le' },
  'phone-video.mp4': { sampleRate: 48000, channels: 2, codec: 'aac' },
  'speech-24k-mono.wav': { sampleRate: 24000, channels: 1, codec: 'pcm_s16le' },
  ...Object.fromEntries(TAKE_SECONDS.map((_, i) => [`takes/take-${String(i + 1).padStart(2, '0')}.wav`, { sampleRate: 44100, channels: 2, codec: 'pcm_s16le' }])),
};

let dir: string;
let cleanup: () => Promise<void>;
let material: RealisticSet;
const probes = new Map<string, ProbedAudio>();
const measures = new Map<string, SoundMeasure>();

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('realistic'));
  const tools = await testTools();
  material = await writeRealisticSet(tools, dir, 1);
  await runTwoAtATime(
    material.sources.map((source) => async () => {
      probes.set(source.name, await probeAudio(tools, source.file));
      measures.set(source.name, await measureSound(tools, source.file));
    }),
  );
}, 180_000);

afterAll(async () => {
  await cleanup();
});

const phrasesOf = (t: Timeline) => t.events.filter((e) => e.kind === 'phrase');
const lengthOf = (e: { startSec: number; endSec: number }) => e.endSec - e.startSec;

describe('the standard realistic set', () => {
  it('writes every source it lists, or says why not', () => {
    const written = [...material.sources.map((s) => s.name), ...material.skipped.map((s) => s.name)].sort();
    expect(written).toEqual(REALISTIC_SET.map((e) => e.name).sort());
    for (const skipped of material.skipped) expect(skipped.reason).toMatch(/espeak-ng/);
  });

  it('writes each file at the rate, channel count and codec asked', () => {
    for (const source of material.sources) {
      const probe = probes.get(source.name)!;
      expect({ name: source.name, sampleRate: probe.sampleRate, channels: probe.channels, codec: probe.codec }).toEqual({
        name: source.name,
        ...EXPECTED_FORMAT[source.name],
      });
    }
  });

  it('writes files exactly as long as their timelines', () => {
    for (const source of material.sources) {
      // AAC frames round the end to 1024 samples (21 ms at 48 kHz).
      const tolerance = source.codec === 'aac' ? 0.03 : 0.001;
      expect(Math.abs(probes.get(source.name)!.durationSec - source.durationSec), source.name).toBeLessThanOrEqual(tolerance);
    }
  });

  it('gives the video a picture 2 s longer than its audio', () => {
    const probe = probes.get('phone-video.mp4')!;
    expect(probe.videoDurationSec).toBeDefined();
    // Whole video frames (0.1 s) and AAC frames (21 ms) round each end.
    expect(Math.abs(probe.videoDurationSec! - probe.durationSec - 2)).toBeLessThan(0.1);
    expect(probe.containerDurationSec - probe.durationSec).toBeGreaterThan(1.9);
  });

  it('lays each timeline end to end from 0 to the duration', () => {
    for (const source of material.sources) {
      const events = source.events;
      expect(events[0]?.startSec, source.name).toBe(0);
      expect(events.at(-1)?.endSec, source.name).toBeCloseTo(source.durationSec, 9);
      for (let i = 1; i < events.length; i++) expect(events[i]!.startSec, source.name).toBe(events[i - 1]!.endSec);
      expect(events.every((e) => e.endSec > e.startSec)).toBe(true);
    }
  });

  it('sings phrases of 1.5–5 s and breathes for 0.15–0.9 s, with a held note over the 15 s clip maximum', () => {
    const singing = material.sources.filter((s) => s.kind === 'singing' && !s.name.startsWith('takes/'));
    for (const source of singing) {
      const phrases = phrasesOf(source).map(lengthOf);
      const ordinary = source.name.startsWith('held-') ? phrases.filter((l) => l <= 5) : phrases;
      expect(Math.min(...ordinary), source.name).toBeGreaterThanOrEqual(1.5 - 1e-9);
      expect(Math.max(...ordinary), source.name).toBeLessThanOrEqual(5 + 1e-9);
      for (const breath of source.events.filter((e) => e.kind === 'breath').map(lengthOf)) {
        expect(breath).toBeGreaterThanOrEqual(0.15 - 1e-9);
        expect(breath).toBeLessThanOrEqual(0.9 + 1e-9);
      }
      expect(source.events.some((e) => e.kind === 'breath')).toBe(true);
    }
    const held = phrasesOf(material.sources.find((s) => s.name === 'held-notes-48k-stereo.flac')!).map(lengthOf);
    expect(Math.max(...held)).toBeGreaterThan(15);
    expect(Math.max(...held)).toBeLessThanOrEqual(20);
  });

  it('phrases the exercise evenly: 4.5–4.7 s phrases, 0.7–0.9 s breaths, nothing else between them', () => {
    const even = material.sources.find((s) => s.name === 'even-phrases-44k-stereo.wav')!;
    const inner = even.events.slice(1, -1);
    expect(inner.map((e) => e.kind)).toEqual(inner.map((_, i) => (i % 2 === 0 ? 'phrase' : 'breath')));
    for (const phrase of phrasesOf(even)) expect(lengthOf(phrase)).toBeGreaterThanOrEqual(4.5 - 1e-9);
    for (const phrase of phrasesOf(even)) expect(lengthOf(phrase)).toBeLessThanOrEqual(4.7 + 1e-9);
    for (const breath of inner.filter((e) => e.kind === 'breath')) expect(lengthOf(breath)).toBeGreaterThanOrEqual(0.7 - 1e-9);
  });

  it('makes pre-cut takes of 2–10 s', () => {
    const takes = material.sources.filter((s) => s.name.startsWith('takes/'));
    expect(takes.map((t) => t.durationSec)).toEqual(TAKE_SECONDS);
    for (const take of takes) expect(take.durationSec).toBeGreaterThanOrEqual(2);
  });

  it('runs room noise of -60..-55 dBFS under everything, as astats measures it in the pauses', () => {
    for (const source of material.sources) {
      expect(source.noiseDbfs).toBeGreaterThanOrEqual(-60);
      expect(source.noiseDbfs).toBeLessThanOrEqual(-55);
      // The floor is the 5th percentile of 50 ms windows: room noise alone, give or take the windows' spread.
      expect(Math.abs(measures.get(source.name)!.levels.floorDb - source.noiseDbfs), source.name).toBeLessThan(2.5);
    }
  });

  it('has silencedetect hear every phrase of the timeline as sound', () => {
    for (const source of material.sources) {
      const sound = measures.get(source.name)!.sound;
      const phrases = phrasesOf(source);
      // Attack and release ramps (speech: its softest consonants) fall under the threshold for a few tens of ms.
      const leastPerPhrase = source.kind === 'speech' ? 0.85 : 0.95;
      for (const phrase of phrases) {
        expect(overlapSec([phrase], sound) / lengthOf(phrase), `${source.name} ${phrase.startSec}–${phrase.endSec}`).toBeGreaterThan(leastPerPhrase);
      }
      expect(overlapSec(phrases, sound) / totalSec(phrases), source.name).toBeGreaterThan(0.95);
    }
  });

  it('has silencedetect hear nothing in the pauses of room tone', () => {
    for (const source of material.sources) {
      const sound = measures.get(source.name)!.sound;
      // Pauses long enough for silencedetect's 0.1 s, less 50 ms at each edge for the voice's ramps.
      const pauses = source.events
        .filter((e) => e.kind === 'silence' && lengthOf(e) >= 0.3)
        .map((e) => ({ startSec: e.startSec + 0.05, endSec: e.endSec - 0.05 }));
      expect(overlapSec(pauses, sound), source.name).toBe(0);
    }
  });

  it('has every sound silencedetect finds belong to a phrase or a breath of the timeline', () => {
    for (const source of material.sources) {
      const voiced = source.events.filter((e) => e.kind !== 'silence');
      const stray = measures.get(source.name)!.sound.filter((interval) => overlapSec([interval], voiced) === 0);
      expect(stray, source.name).toEqual([]);
    }
  });

  it('can be cut into 5–15 s clips that keep its sound without cutting a phrase (so the e2e acceptance test is fair)', () => {
    for (const source of material.sources) {
      const clips = cleanCut(source, 5, 15);
      expect(clips, source.name).toBeDefined();
      const phrases = phrasesOf(source);
      const wholeShortSource = phrases.at(-1)!.endSec - phrases[0]!.startSec < 5;
      for (const clip of clips!) {
        if (wholeShortSource) expect(clip).toEqual({ startSec: 0, endSec: source.durationSec });
        else expect(lengthOf(clip), `${source.name} ${clip.startSec}–${clip.endSec}`).toBeGreaterThanOrEqual(5 - 1e-9);
        expect(lengthOf(clip)).toBeLessThanOrEqual(15 + 1e-9);
      }
      expect(cutsInsidePhrases(phrases.filter((p) => lengthOf(p) <= 15), clips!, 0), source.name).toEqual([]);
      // What the e2e test asks of voicestudio, with the same measurement: at least 95 % of the sound kept.
      expect(soundCoverage(measures.get(source.name)!.sound, clips!).share, source.name).toBeGreaterThanOrEqual(0.95);
    }
  });

  it('makes speech with espeak-ng, with pauses between its phrases', (context) => {
    const skipped = material.skipped.find((s) => s.name === 'speech-24k-mono.wav');
    if (skipped !== undefined) context.skip(skipped.reason);
    const speech = material.sources.find((s) => s.name === 'speech-24k-mono.wav') as RealisticSource;
    expect(speech.kind).toBe('speech');
    expect(phrasesOf(speech).length).toBeGreaterThanOrEqual(6);
    expect(speech.durationSec).toBeGreaterThan(20);
  });
});

describe('writing single sources', () => {
  it('writes the same bytes for the same seed and other bytes for another', async () => {
    const tools = await testTools();
    const sha = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');
    const take = (name: string, seed: number) => writeTake(tools, path.join(dir, name), { seconds: 3, seed, sampleRate: 16000, channels: 1 });
    await Promise.all([take('a.wav', 5), take('b.wav', 5), take('c.wav', 6)]);
    const [a, b, c] = await Promise.all(['a.wav', 'b.wav', 'c.wav'].map((name) => sha(path.join(dir, name))));
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });

  it('holds notes of up to 20 s when asked to, and the file is as long as its timeline', async () => {
    const tools = await testTools();
    const file = path.join(dir, 'held.flac');
    const written = await writeSinging(tools, file, { seconds: 90, seed: 3, sampleRate: 16000, channels: 1, heldChance: 0.5, heldSec: [12, 20] });
    const phrases = phrasesOf(written).map(lengthOf);
    expect(phrases.some((l) => l >= 12)).toBe(true);
    expect(Math.max(...phrases)).toBeLessThanOrEqual(20);
    expect((await probeAudio(tools, file)).durationSec).toBeCloseTo(written.durationSec, 3);
  });

  it('knows a timeline that cannot be cut cleanly', () => {
    // 4 s, a 0.2 s breath, then 12 s: together over 15 s, the 4 s phrase alone under 5 s.
    const timeline: Timeline = {
      durationSec: 16.6,
      events: [
        { kind: 'silence', startSec: 0, endSec: 0.2 },
        { kind: 'phrase', startSec: 0.2, endSec: 4.2 },
        { kind: 'breath', startSec: 4.2, endSec: 4.4 },
        { kind: 'phrase', startSec: 4.4, endSec: 16.4 },
        { kind: 'silence', startSec: 16.4, endSec: 16.6 },
      ],
    };
    expect(cleanCut(timeline, 5, 15)).toBeUndefined();
    // A 16 s note standing alone can: two halves of 8 s.
    const held: Timeline = {
      durationSec: 17,
      events: [
        { kind: 'silence', startSec: 0, endSec: 0.5 },
        { kind: 'phrase', startSec: 0.5, endSec: 16.5 },
        { kind: 'silence', startSec: 16.5, endSec: 17 },
      ],
    };
    expect(cleanCut(held, 5, 15)).toEqual([
      { startSec: 0.5, endSec: 8.5 },
      { startSec: 8.5, endSec: 16.5 },
    ]);
  });

  it('cuts in the middle of the gaps, reaching no further than the clip maximum allows', () => {
    // Phrases of 6 s and 8 s, 1 s apart, a 1 s lead and a 2 s tail.
    const timeline: Timeline = {
      durationSec: 18,
      events: [
        { kind: 'silence', startSec: 0, endSec: 1 },
        { kind: 'phrase', startSec: 1, endSec: 7 },
        { kind: 'breath', startSec: 7, endSec: 8 },
        { kind: 'phrase', startSec: 8, endSec: 16 },
        { kind: 'silence', startSec: 16, endSec: 18 },
      ],
    };
    // Both fit one 15 s clip, with no room to reach into the lead or tail.
    expect(cleanCut(timeline, 5, 15)).toEqual([{ startSec: 1, endSec: 16 }]);
    // Under 12 s they meet mid-breath; the second takes the whole tail.
    expect(cleanCut(timeline, 5, 12)).toEqual([
      { startSec: 0, endSec: 7.5 },
      { startSec: 7.5, endSec: 18 },
    ]);
    // Under 9.5 s the second reaches only 1 s into the tail.
    expect(cleanCut(timeline, 5, 9.5)).toEqual([
      { startSec: 0, endSec: 7.5 },
      { startSec: 7.5, endSec: 17 },
    ]);
  });
});
