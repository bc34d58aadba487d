/**
 * Material shaped like real recordings, made at test time: sung phrases with vibrato separated by breaths, held notes,
 * pre-cut takes, several rates and channel layouts, a phone-style video whose audio is shorter than its picture, speech
 * with natural pauses, and room noise under everything. Every file comes with its ground truth: the timeline of
 * phrases, breaths and silences in seconds.
 *
 * The PCM is synthesised here from a seeded PRNG (same seed, same bytes) and encoded by a real FFmpeg. Only Node
 * built-ins are imported (and types) and the syntax is erasable, so `node` itself can import this file: the benchmark
 * can write its realistic hour with writeSinging (about 6 s and 130 MB for 60 min of 44.1 kHz stereo on 2 cores).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FfmpegTools } from '../../src/audio/ffmpeg.js';

export type EventKind = 'phrase' | 'breath' | 'silence';

export interface Interval {
  startSec: number;
  endSec: number;
}

/** One stretch of the ground truth. A timeline's events are contiguous from 0 to the file's duration. */
export interface TimelineEvent extends Interval {
  kind: EventKind;
}

export interface Timeline {
  durationSec: number;
  events: TimelineEvent[];
}

/** What a writer needs of FFmpeg: only the ffmpeg binary. */
export type GeneratorTools = Pick<FfmpegTools, 'ffmpeg'>;

// ---------------------------------------------------------------------------------------------------------------
// Randomness

/** mulberry32: a small, fast, seedable PRNG; uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
type Range = readonly [number, number];

const uniform = (random: Random, [low, high]: Range): number => low + (high - low) * random();
/** Timeline instants are kept to the millisecond so that the ground truth reads cleanly. */
const ms = (seconds: number): number => Math.round(seconds * 1000) / 1000;

// ---------------------------------------------------------------------------------------------------------------
// Scores: the timeline plus what is needed to render each event

interface PhraseVoice {
  /** Note pitches (Hz) and the share of the phrase each lasts; the voice glides between them. */
  notesHz: number[];
  noteShares: number[];
  /** RMS level of the sustained voice, dBFS. */
  levelDb: number;
  attackSec: number;
  releaseSec: number;
  vibratoHz: number;
  vibratoCents: number;
}

interface ScoreEvent extends TimelineEvent {
  voice?: PhraseVoice;
  /** Breaths: RMS level (dBFS) and centre of the noise band. */
  breathLevelDb?: number;
  breathHz?: number;
}

interface Score {
  durationSec: number;
  events: ScoreEvent[];
}

export interface SingingOptions {
  /** The score ends with the first group that reaches this length (then a tail silence). */
  seconds: number;
  seed: number;
  phraseSec?: Range;
  breathSec?: Range;
  /** Span of a group of phrases joined by breaths; a slicer allowed 5–15 s clips can keep each group whole. */
  groupSec?: Range;
  /** Chance that a group is a single held note of heldSec instead. */
  heldChance?: number;
  heldSec?: Range;
  /** Held notes placed after the first groups, in this order, whatever heldChance draws. */
  heldNotesSec?: number[];
  /**
   * Every phrase of phraseSec and every gap a breath of breathSec, no groups, pauses or held notes: the even phrasing of
   * a vocal exercise or a strophic song (4.5–4.7 s phrases with 0.8 s breaths lost 97 % of a real session, issue 8).
   */
  steady?: boolean;
  /** Singer's range: notes are drawn from a pentatonic scale inside it. */
  pitchHz?: Range;
  /** RMS level of the singing, dBFS; each phrase varies around it by up to ±3 dB. */
  levelDb?: number;
}

const DEFAULT_PHRASE_SEC: Range = [1.5, 5];
const DEFAULT_BREATH_SEC: Range = [0.15, 0.9];
const DEFAULT_GROUP_SEC: Range = [6, 14];
const DEFAULT_HELD_SEC: Range = [6, 20];
const DEFAULT_PITCH_HZ: Range = [150, 500];
/** Breaths sit this far below the phrase before them (a close microphone hears them 25–35 dB down). */
const BREATH_BELOW_VOICE_DB: Range = [25, 35];
/** Room noise under everything: an ordinary quiet room through a home-studio microphone. */
const ROOM_NOISE_DBFS: Range = [-60, -55];
/** Silences between groups (no breath, only the room). */
const PAUSE_SEC: Range = [0.4, 1.5];
const PENTATONIC = [0, 2, 4, 7, 9];

class ScoreBuilder {
  readonly events: ScoreEvent[] = [];
  private cursor = 0;
  private readonly random: Random;
  private readonly pitchHz: Range;
  private readonly levelDb: number;

  // No parameter properties: Node's type stripping does not rewrite them.
  constructor(random: Random, pitchHz: Range, levelDb: number) {
    this.random = random;
    this.pitchHz = pitchHz;
    this.levelDb = levelDb;
  }

  get now(): number {
    return this.cursor;
  }

  silence(seconds: number): void {
    this.push({ kind: 'silence', startSec: 0, endSec: ms(seconds) });
  }

  breath(seconds: number): void {
    const previous = [...this.events].reverse().find((e) => e.voice !== undefined)?.voice?.levelDb ?? this.levelDb;
    this.push({
      kind: 'breath',
      startSec: 0,
      endSec: ms(seconds),
      breathLevelDb: previous - uniform(this.random, BREATH_BELOW_VOICE_DB),
      breathHz: uniform(this.random, [1200, 3200]),
    });
  }

  phrase(seconds: number, noteCount?: number): void {
    const random = this.random;
    const notes = noteCount ?? 1 + Math.floor(random() * Math.min(4, Math.max(1, seconds / 1.2)));
    const notesHz = Array.from({ length: notes }, () => this.scaleNote());
    const weights = notesHz.map(() => 0.5 + random());
    const total = weights.reduce((a, b) => a + b, 0);
    this.push({
      kind: 'phrase',
      startSec: 0,
      endSec: ms(seconds),
      voice: {
        notesHz,
        noteShares: weights.map((w) => w / total),
        levelDb: this.levelDb + uniform(random, [-3, 3]),
        attackSec: uniform(random, [0.04, 0.12]),
        releaseSec: uniform(random, [0.08, 0.2]),
        vibratoHz: uniform(random, [5.2, 5.9]),
        vibratoCents: uniform(random, [30, 50]),
      },
    });
  }

  /** Phrases joined by breaths (sometimes a short silence before the breath) filling exactly `seconds`. */
  phrasesFilling(seconds: number, phraseSec: Range, breathSec: Range): void {
    let left = seconds;
    while (left > phraseSec[1]) {
      const longest = Math.min(phraseSec[1], left - breathSec[1] - 0.1 - phraseSec[0]);
      const phrase = ms(uniform(this.random, [phraseSec[0], Math.max(phraseSec[0], longest)]));
      this.phrase(phrase);
      const hush = this.random() < 0.3 ? ms(uniform(this.random, [0.05, 0.1])) : 0;
      if (hush > 0) this.silence(hush);
      const breath = ms(uniform(this.random, breathSec));
      this.breath(breath);
      left -= phrase + hush + breath;
    }
    this.phrase(ms(left));
  }

  score(): Score {
    return { durationSec: this.cursor, events: this.events };
  }

  private push(event: ScoreEvent): void {
    const length = event.endSec - event.startSec;
    const startSec = this.cursor;
    this.cursor = ms(this.cursor + length);
    this.events.push({ ...event, startSec, endSec: this.cursor });
  }

  private scaleNote(): number {
    const [low, high] = this.pitchHz;
    for (;;) {
      const octaves = Math.log2(high / low);
      const semitone = Math.floor(this.random() * 12 * octaves);
      const candidate = low * 2 ** (semitone / 12);
      if (PENTATONIC.includes(semitone % 12) && candidate <= high) return candidate;
    }
  }
}

/**
 * Sung phrases of 1.5–5 s joined by breaths of 0.15–0.9 s into groups of 6–14 s; between groups a breath or a pause of
 * room tone; now and then a held note. Groups exist only in the construction (nothing marks them in the audio): they
 * prove that a cut into 5–15 s clips exists that never falls inside a phrase.
 */
function singingScore(o: SingingOptions): Score {
  const random = seededRandom(o.seed);
  const pitch = o.pitchHz ?? DEFAULT_PITCH_HZ;
  const low = uniform(random, [pitch[0], Math.max(pitch[0], pitch[1] / 2)]);
  const builder = new ScoreBuilder(random, [low, Math.min(pitch[1], low * 2)], o.levelDb ?? uniform(random, [-20, -16]));
  const phraseSec = o.phraseSec ?? DEFAULT_PHRASE_SEC;
  const breathSec = o.breathSec ?? DEFAULT_BREATH_SEC;
  const held = [...(o.heldNotesSec ?? [])];
  builder.silence(uniform(random, [0.3, 0.8]));
  for (let phrase = 0; o.steady === true && builder.now < o.seconds; phrase++) {
    if (phrase > 0) builder.breath(uniform(random, breathSec));
    builder.phrase(uniform(random, phraseSec));
  }
  for (let group = 0; o.steady !== true && builder.now < o.seconds; group++) {
    if (group > 0) {
      if (random() < 0.6) builder.breath(uniform(random, breathSec));
      else {
        builder.silence(uniform(random, PAUSE_SEC));
        if (random() < 0.5) builder.breath(uniform(random, breathSec));
      }
    }
    const placed = group > 0 && held.length > 0 && group % 2 === 1 ? held.shift() : undefined;
    if (placed !== undefined) builder.phrase(placed, 1);
    else if (random() < (o.heldChance ?? 0)) builder.phrase(uniform(random, o.heldSec ?? DEFAULT_HELD_SEC), 1 + Math.floor(random() * 2));
    else builder.phrasesFilling(uniform(random, o.groupSec ?? DEFAULT_GROUP_SEC), phraseSec, breathSec);
  }
  builder.silence(uniform(random, [0.4, 1.0]));
  return builder.score();
}

/** A pre-cut take of exactly `seconds`: a little room tone, one to three phrases with breaths, a little room tone. */
function takeScore(seconds: number, seed: number): Score {
  const random = seededRandom(seed);
  const low = uniform(random, [150, 250]);
  const builder = new ScoreBuilder(random, [low, low * 2], uniform(random, [-20, -16]));
  const lead = ms(uniform(random, [0.05, 0.35]));
  const tail = ms(uniform(random, [0.1, 0.4]));
  builder.silence(lead);
  builder.phrasesFilling(ms(seconds - lead - tail), [1.5, 4], [0.15, 0.6]);
  builder.silence(ms(seconds - builder.now));
  return builder.score();
}

function timelineOf(score: Score): Timeline {
  return { durationSec: score.durationSec, events: score.events.map(({ kind, startSec, endSec }) => ({ kind, startSec, endSec })) };
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering

const SINE_SIZE = 4096;
const SINE = Float32Array.from({ length: SINE_SIZE }, (_, i) => Math.sin((2 * Math.PI * i) / SINE_SIZE));
const WAVE_SIZE = 2048;

/** One period of a voice-like tone: harmonics falling off with a bump near the first formants, at RMS 1. */
function voiceWavetable(random: Random, harmonics: number): Float32Array {
  const table = new Float32Array(WAVE_SIZE);
  const amplitudes = Array.from({ length: harmonics }, (_, k) => (1 / (k + 1) ** 1.1) * (k >= 1 && k <= 3 ? 1.6 : 1));
  const phases = amplitudes.map(() => random() * 2 * Math.PI);
  for (let i = 0; i < WAVE_SIZE; i++) {
    let value = 0;
    for (let k = 0; k < harmonics; k++) value += amplitudes[k]! * Math.sin(((k + 1) * 2 * Math.PI * i) / WAVE_SIZE + phases[k]!);
    table[i] = value;
  }
  const rms = Math.sqrt(table.reduce((sum, v) => sum + v * v, 0) / WAVE_SIZE);
  for (let i = 0; i < WAVE_SIZE; i++) table[i]! /= rms;
  return table;
}

const dbToGain = (db: number): number => 10 ** (db / 20);

/** Raised-cosine fade in over `attack` samples and out over `release` samples. */
function envelopeAt(i: number, length: number, attack: number, release: number): number {
  if (i < attack) return 0.5 - 0.5 * Math.cos((Math.PI * i) / attack);
  const fromEnd = length - 1 - i;
  if (fromEnd < release) return 0.5 - 0.5 * Math.cos((Math.PI * Math.max(0, fromEnd)) / release);
  return 1;
}

function renderPhrase(out: Float32Array, voice: PhraseVoice, rate: number, wave: Float32Array, random: Random): void {
  const length = out.length;
  const attack = Math.max(1, Math.round(voice.attackSec * rate));
  const release = Math.max(1, Math.round(voice.releaseSec * rate));
  // Note boundaries in samples; the pitch glides to each new note with a ~30 ms time constant.
  const noteEnds: number[] = [];
  let acc = 0;
  for (const share of voice.noteShares) noteEnds.push(Math.round((acc += share) * length));
  const glide = 1 - Math.exp(-1 / (0.03 * rate));
  const vibratoStep = (voice.vibratoHz / rate) * SINE_SIZE;
  const vibratoDepth = (voice.vibratoCents / 1200) * Math.LN2;
  const vibratoOnset = 0.3 * rate;
  const driftStep = (uniform(random, [0.3, 0.9]) / rate) * SINE_SIZE;
  const gain = dbToGain(voice.levelDb);
  let note = 0;
  let hz = voice.notesHz[0]!;
  let phase = random();
  let vibratoPhase = random() * SINE_SIZE;
  let driftPhase = random() * SINE_SIZE;
  for (let i = 0; i < length; i++) {
    if (i >= noteEnds[note]! && note < voice.notesHz.length - 1) note++;
    hz += (voice.notesHz[note]! - hz) * glide;
    const depth = i < vibratoOnset ? (vibratoDepth * i) / vibratoOnset : vibratoDepth;
    // 2^(cents/1200) ≈ 1 + x·ln2 for the few tens of cents of a vibrato.
    const instantHz = hz * (1 + depth * SINE[vibratoPhase | 0]!);
    vibratoPhase += vibratoStep;
    if (vibratoPhase >= SINE_SIZE) vibratoPhase -= SINE_SIZE;
    phase += instantHz / rate;
    if (phase >= 1) phase -= 1;
    driftPhase += driftStep;
    if (driftPhase >= SINE_SIZE) driftPhase -= SINE_SIZE;
    const level = gain * (1 + 0.1 * SINE[driftPhase | 0]!) * envelopeAt(i, length, attack, release);
    out[i] = level * wave[(phase * WAVE_SIZE) | 0]!;
  }
}

/** White noise through a band-pass biquad (RBJ cookbook, constant 0 dB peak), shaped like an inhalation. */
function renderBreath(out: Float32Array, levelDb: number, centreHz: number, rate: number, random: Random): void {
  const w0 = (2 * Math.PI * Math.min(centreHz, 0.4 * rate)) / rate;
  const alpha = Math.sin(w0) / (2 * 0.8);
  const a0 = 1 + alpha;
  const b0 = alpha / a0;
  const b2 = -alpha / a0;
  const a1 = (-2 * Math.cos(w0)) / a0;
  const a2 = (1 - alpha) / a0;
  let x1 = 0;
  let x2 = 0;
  let y1 = 0;
  let y2 = 0;
  let energy = 0;
  for (let i = 0; i < out.length; i++) {
    const x = random() * 2 - 1;
    const y = b0 * x + b2 * x2 - a1 * y1 - a2 * y2;
    x2 = x1;
    x1 = x;
    y2 = y1;
    y1 = y;
    const shaped = y * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / out.length));
    out[i] = shaped;
    energy += shaped * shaped;
  }
  const scale = dbToGain(levelDb) / Math.sqrt(energy / Math.max(1, out.length) || 1);
  for (let i = 0; i < out.length; i++) out[i]! *= scale;
}

/** Length of the room-noise loop: about 11 s at 48 kHz, long enough that nothing hears it repeat. */
const ROOM_LOOP = 1 << 19;

/**
 * Pink noise (Paul Kellet's economy filter) at an RMS level, computed once into a loop that is then read on and on:
 * reading a table keeps an hour of stereo noise to a second or two.
 */
class RoomNoise {
  /** In 16-bit sample units. */
  readonly loop = new Float32Array(ROOM_LOOP);
  /** Where the next block starts reading. */
  position = 0;

  constructor(random: Random, levelDb: number) {
    let b0 = 0;
    let b1 = 0;
    let b2 = 0;
    let energy = 0;
    // The first 4096 samples let the filter settle before the loop is recorded.
    for (let i = -4096; i < ROOM_LOOP; i++) {
      const white = random() * 2 - 1;
      b0 = 0.99765 * b0 + white * 0.099046;
      b1 = 0.963 * b1 + white * 0.2965164;
      b2 = 0.57 * b2 + white * 1.0526913;
      if (i < 0) continue;
      const value = b0 + b1 + b2 + white * 0.1848;
      this.loop[i] = value;
      energy += value * value;
    }
    const gain = (32767 * dbToGain(levelDb)) / Math.sqrt(energy / ROOM_LOOP);
    for (let i = 0; i < ROOM_LOOP; i++) this.loop[i]! *= gain;
  }
}

interface RenderFormat {
  sampleRate: number;
  channels: 1 | 2;
}

/** Fills a block of the voice track that starts at sample `startSample` of the file (speech brings its own). */
type VoiceTrack = (startSample: number, out: Float32Array) => void;

/**
 * The score as interleaved 16-bit PCM, one block per event (at most one held note long), so that an hour streams
 * through a few megabytes. Voice and breaths are the same in both channels (the right a little quieter, as a mono
 * microphone panned slightly); the room noise is independent per channel.
 */
function* pcmBlocks(score: Score, format: RenderFormat, seed: number, noiseDbfs: number, track?: VoiceTrack): Generator<Buffer> {
  const { sampleRate: rate, channels } = format;
  const random = seededRandom(seed ^ 0x5bd1e995);
  const harmonics = Math.max(4, Math.min(10, Math.floor((0.45 * rate) / 560)));
  const wave = voiceWavetable(random, harmonics);
  const noise = Array.from({ length: channels }, (_, c) => new RoomNoise(seededRandom(seed + 101 + c), noiseDbfs));
  let written = 0;
  for (const event of score.events) {
    const end = Math.round(event.endSec * rate);
    const mono = new Float32Array(end - written);
    if (track !== undefined) track(written, mono);
    else if (event.voice !== undefined) renderPhrase(mono, event.voice, rate, wave, random);
    else if (event.kind === 'breath') renderBreath(mono, event.breathLevelDb ?? -60, event.breathHz ?? 2000, rate, random);
    written = end;
    yield withRoomNoise(mono, noise);
  }
}

/** Right channel 1 dB under the left, as a mono microphone panned slightly. */
const CHANNEL_GAIN = [1, 0.9];

/** Interleaved 16-bit PCM: the mono voice in every channel plus that channel's room noise. */
function withRoomNoise(mono: Float32Array, noise: RoomNoise[]): Buffer {
  const channels = noise.length;
  const pcm = new Int16Array(mono.length * channels);
  for (let c = 0; c < channels; c++) {
    const gain = CHANNEL_GAIN[c]! * 32767;
    const room = noise[c]!;
    const loop = room.loop;
    let position = room.position;
    for (let i = 0, out = c; i < mono.length; i++, out += channels) {
      const value = gain * mono[i]! + loop[position]!;
      position = (position + 1) & (ROOM_LOOP - 1);
      // Rounded to the nearest step; the typed array's own conversion would truncate.
      pcm[out] = value >= 32767 ? 32767 : value <= -32768 ? -32768 : Math.floor(value + 0.5);
    }
    room.position = position;
  }
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

interface ToolRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  /** Set when the program could not be started at all. */
  spawnError?: Error;
}

/** Starts a program and collects its output; never throws (a missing program comes back as spawnError). */
function runTool(command: string, args: string[], stdin?: (child: ReturnType<typeof spawn>) => Promise<void>): Promise<ToolRun> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', (spawnError) => resolve({ code: null, stdout: Buffer.alloc(0), stderr, spawnError }));
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(chunks), stderr }));
    // A write that fails because FFmpeg stopped reading shows up as FFmpeg's own exit status and message.
    child.stdin?.on('error', () => undefined);
    if (stdin !== undefined) void stdin(child);
  });
}

/** Feeds raw s16le PCM to FFmpeg's stdin with back-pressure; rejects with FFmpeg's own words if it fails. */
async function encode(tools: GeneratorTools, format: RenderFormat, blocks: Iterable<Buffer>, args: { before?: string[]; after: string[] }): Promise<void> {
  const ffmpegArgs = [
    '-hide_banner', '-nostdin', '-v', 'error', '-y',
    ...(args.before ?? []),
    '-f', 's16le', '-ar', String(format.sampleRate), '-ac', String(format.channels), '-i', 'pipe:0',
    ...args.after,
  ];
  const result = await runTool(tools.ffmpeg.path, ffmpegArgs, async (child) => {
    const stdin = child.stdin!;
    const closed = once(child, 'close');
    for (const block of blocks) {
      if (stdin.destroyed) break;
      if (!stdin.write(block)) await Promise.race([once(stdin, 'drain'), closed]);
    }
    stdin.end();
  });
  if (result.code !== 0) throw new Error(`ffmpeg could not write ${args.after.at(-1)}: ${result.spawnError?.message ?? result.stderr.trim()}`);
}

/** Output arguments for a file: the codec follows the extension (.wav 16-bit PCM, .flac, .mp4/.m4a AAC). */
function codecArgs(file: string): string[] {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.wav') return ['-c:a', 'pcm_s16le'];
  if (ext === '.flac') return ['-c:a', 'flac'];
  if (ext === '.m4a' || ext === '.mp4') return ['-c:a', 'aac', '-b:a', '160k'];
  throw new Error(`no codec chosen for ${file}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Files

export interface WrittenAudio extends Timeline {
  file: string;
  sampleRate: number;
  channels: 1 | 2;
  /** RMS level of the room noise under everything, dBFS. */
  noiseDbfs: number;
  /** Only for a video: how long its picture lasts. */
  videoDurationSec?: number;
}

export interface SingingFileOptions extends SingingOptions, RenderFormat {}

const roomNoiseDbfs = (seed: number): number => uniform(seededRandom(seed + 7), ROOM_NOISE_DBFS);

async function writeScore(tools: GeneratorTools, file: string, score: Score, format: RenderFormat, seed: number, track?: VoiceTrack): Promise<WrittenAudio> {
  const noiseDbfs = roomNoiseDbfs(seed);
  await mkdir(path.dirname(file), { recursive: true });
  await encode(tools, format, pcmBlocks(score, format, seed, noiseDbfs, track), { after: [...codecArgs(file), file] });
  return { file, ...timelineOf(score), sampleRate: format.sampleRate, channels: format.channels, noiseDbfs };
}

/**
 * Writes sung phrases, breaths and room noise to `file` (codec from its extension) and returns its ground truth.
 * Streams: an hour of 44.1 kHz stereo takes a few seconds and a few megabytes of memory.
 */
export async function writeSinging(tools: GeneratorTools, file: string, o: SingingFileOptions): Promise<WrittenAudio> {
  return writeScore(tools, file, singingScore(o), o, o.seed);
}

/** A pre-cut take of exactly `seconds` (2–10 s in a curated dataset). */
export async function writeTake(tools: GeneratorTools, file: string, o: RenderFormat & { seconds: number; seed: number }): Promise<WrittenAudio> {
  return writeScore(tools, file, takeScore(o.seconds, o.seed), o, o.seed);
}

/**
 * A phone-style video: tiny frames lasting `videoExtraSec` longer than its AAC audio (how phones and cameras often
 * mux), the audio being sung phrases.
 */
export async function writeSingingVideo(tools: GeneratorTools, file: string, o: SingingFileOptions & { videoExtraSec: number }): Promise<WrittenAudio> {
  const score = singingScore(o);
  const noiseDbfs = roomNoiseDbfs(o.seed);
  // Whole frames at 10 fps: the picture's length is exact to 0.1 s.
  const videoDurationSec = Math.round((score.durationSec + o.videoExtraSec) * 10) / 10;
  await mkdir(path.dirname(file), { recursive: true });
  await encode(tools, o, pcmBlocks(score, o, o.seed, noiseDbfs), {
    before: ['-f', 'lavfi', '-i', `color=c=0x406080:s=64x64:r=10:d=${videoDurationSec}`],
    after: ['-map', '0:v', '-map', '1:a', '-c:v', 'mpeg4', '-pix_fmt', 'yuv420p', ...codecArgs(file), file],
  });
  return { file, ...timelineOf(score), sampleRate: o.sampleRate, channels: o.channels, noiseDbfs, videoDurationSec };
}

/** Why espeak-ng cannot speak here, or undefined when it can. */
export async function espeakUnavailable(): Promise<string | undefined> {
  const run = await runTool('espeak-ng', ['--version']);
  if (run.spawnError !== undefined) return `espeak-ng is not installed (${run.spawnError.message})`;
  return run.code === 0 ? undefined : `espeak-ng --version exited ${String(run.code)}: ${run.stderr.trim()}`;
}

/** Text spoken by the speech sample (written for these tests). */
export const SPEECH_PARAGRAPHS = [
  'I started singing in a church choir when I was seven. My grandmother played the organ, and she let me sit beside her.',
  'Later I toured with a band for ten years. Every night was different, and some nights the monitors were so loud that I could barely hear myself.',
  'Breathing is the part people forget about. You plan where you breathe, just like you plan the notes.',
  'These days I record at home, in a small room with a rug and a lot of books on the walls.',
];

/** Quieter than this (dBFS) in the clean speech counts as a pause when the ground truth is read off the signal. */
const SPEECH_PAUSE_DBFS = -45;
/** Pauses of the clean speech shorter than this are part of a phrase (stops inside words, most commas). */
const SPEECH_MIN_PAUSE_SEC = 0.2;

/** espeak-ng reads `text` with `voice` (an espeak-ng voice name, e.g. `en`, `en-us+f4`) into mono float PCM at `rate`. */
async function speak(tools: GeneratorTools, text: string, rate: number, scratch: string, voice = 'en'): Promise<Float32Array> {
  const wav = path.join(scratch, 'speech.wav');
  const spoken = await runTool('espeak-ng', ['-w', wav, '-s', '155', '-v', voice, text]);
  if (spoken.code !== 0) throw new Error(`espeak-ng failed: ${spoken.spawnError?.message ?? spoken.stderr.trim()}`);
  const decoded = await runTool(tools.ffmpeg.path, ['-hide_banner', '-nostdin', '-v', 'error', '-i', wav, '-ac', '1', '-ar', String(rate), '-f', 'f32le', 'pipe:1']);
  if (decoded.code !== 0) throw new Error(`ffmpeg could not decode espeak-ng's output: ${decoded.stderr.trim()}`);
  return new Float32Array(decoded.stdout.buffer.slice(decoded.stdout.byteOffset, decoded.stdout.byteOffset + decoded.stdout.length));
}

/** Which espeak-ng voice read which stretch of a speech file. */
export interface SpokenTurn {
  voice: string;
  startSec: number;
  endSec: number;
}

/** Between paragraphs of different voices (a change of speaker): longer than any pause inside one speaker's turn. */
const TURN_PAUSE_SEC: [number, number] = [2, 2.5];

/**
 * Speech with natural pauses: espeak-ng reads each paragraph, paragraphs are separated by 0.6–1.4 s of room tone
 * (2–2.5 s where the speaker changes), and room noise runs under everything. `voices` are the espeak-ng voices that
 * read the paragraphs in turn (default `en` throughout), and `turns` says which voice read which stretch. The phrases
 * of the ground truth are read off the clean speech (sample peaks above −45 dBFS, pauses of at least 0.2 s) before
 * the noise is added. `{ skipped }` with the reason when espeak-ng is missing.
 */
export async function writeSpeech(
  tools: GeneratorTools,
  file: string,
  o: RenderFormat & { seed: number; paragraphs?: string[]; voices?: string[] },
): Promise<(WrittenAudio & { turns: SpokenTurn[] }) | { skipped: string }> {
  const missing = await espeakUnavailable();
  if (missing !== undefined) return { skipped: missing };
  const random = seededRandom(o.seed);
  const rate = o.sampleRate;
  const scratch = await mkdtemp(path.join(tmpdir(), 'vs-speech-'));
  const pieces: Float32Array[] = [];
  const pause = (seconds: number): void => void pieces.push(new Float32Array(Math.round(seconds * rate)));
  const samplesSoFar = (): number => pieces.reduce((n, p) => n + p.length, 0);
  const voices = o.voices ?? ['en'];
  const turns: SpokenTurn[] = [];
  try {
    pause(uniform(random, [0.3, 0.6]));
    for (const [index, text] of (o.paragraphs ?? SPEECH_PARAGRAPHS).entries()) {
      const voice = voices[index % voices.length]!;
      if (index > 0) pause(uniform(random, voice === turns.at(-1)?.voice ? [0.6, 1.4] : TURN_PAUSE_SEC));
      const spoken = await speak(tools, text, rate, scratch, voice);
      // espeak's level hardly varies; bring its peaks to about −4 dBFS.
      const gain = dbToGain(-4) / (spoken.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1);
      const startSec = samplesSoFar() / rate;
      pieces.push(spoken.map((v) => v * gain));
      turns.push({ voice, startSec, endSec: samplesSoFar() / rate });
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  pause(uniform(random, [0.5, 0.9]));
  const signal = new Float32Array(pieces.reduce((n, p) => n + p.length, 0));
  pieces.reduce((offset, piece) => (signal.set(piece, offset), offset + piece.length), 0);
  const written = await writeScore(tools, file, speechScore(signal, rate), o, o.seed, (start, out) => out.set(signal.subarray(start, start + out.length)));
  return { ...written, turns };
}

/** Phrases and pauses of a clean (noise-free) speech signal; event edges on whole samples. */
function speechScore(signal: Float32Array, rate: number): Score {
  const quiet = dbToGain(SPEECH_PAUSE_DBFS);
  const minPause = Math.round(SPEECH_MIN_PAUSE_SEC * rate);
  const phrases: ScoreEvent[] = [];
  let phraseStart = -1;
  let lastLoud = -1;
  for (let i = 0; i < signal.length; i++) {
    if (Math.abs(signal[i]!) < quiet) continue;
    if (phraseStart < 0) phraseStart = i;
    else if (i - lastLoud > minPause) {
      phrases.push({ kind: 'phrase', startSec: phraseStart / rate, endSec: (lastLoud + 1) / rate });
      phraseStart = i;
    }
    lastLoud = i;
  }
  if (phraseStart >= 0) phrases.push({ kind: 'phrase', startSec: phraseStart / rate, endSec: (lastLoud + 1) / rate });
  const events: ScoreEvent[] = [];
  let cursor = 0;
  for (const phrase of phrases) {
    if (phrase.startSec > cursor) events.push({ kind: 'silence', startSec: cursor, endSec: phrase.startSec });
    events.push(phrase);
    cursor = phrase.endSec;
  }
  const durationSec = signal.length / rate;
  if (cursor < durationSec) events.push({ kind: 'silence', startSec: cursor, endSec: durationSec });
  return { durationSec, events };
}

// ---------------------------------------------------------------------------------------------------------------
// The standard set

export interface RealisticSource extends WrittenAudio {
  /** Path relative to the folder the set was written to. */
  name: string;
  kind: 'singing' | 'speech';
  /** The audio codec ffprobe should report. */
  codec: string;
}

export interface RealisticSet {
  sources: RealisticSource[];
  /** Sources that could not be made here, with the reason (speech without espeak-ng). */
  skipped: { name: string; reason: string }[];
}

/** Pre-cut take lengths (s): three under the 5 s minimum clip, five between 5 and 10. */
export const TAKE_SECONDS = [2.3, 3.1, 4.4, 5.6, 6.2, 7.4, 8.5, 9.7];

interface SetEntry {
  name: string;
  kind: 'singing' | 'speech';
  codec: string;
  write: (tools: GeneratorTools, file: string, seed: number) => Promise<WrittenAudio | { skipped: string }>;
}

/**
 * The standard set, about 5 minutes of audio: phrases at 44.1 kHz stereo WAV (one file of varied phrasing, one of even
 * 4.5–4.7 s phrases with 0.8 s breaths), held notes of up to 20 s at 48 kHz stereo FLAC, phrases at 24 kHz mono, a phone
 * video whose audio ends 2 s before its picture, eight pre-cut takes of 2–10 s, and espeak-ng speech at 24 kHz mono.
 * Listed without writing anything, so tests can be declared per source.
 */
export const REALISTIC_SET: readonly SetEntry[] = [
  {
    name: 'melody-44k-stereo.wav',
    kind: 'singing',
    codec: 'pcm_s16le',
    write: (tools, file, seed) => writeSinging(tools, file, { seconds: 45, seed, sampleRate: 44100, channels: 2 }),
  },
  {
    name: 'even-phrases-44k-stereo.wav',
    kind: 'singing',
    codec: 'pcm_s16le',
    write: (tools, file, seed) =>
      writeSinging(tools, file, { seconds: 40, seed, sampleRate: 44100, channels: 2, steady: true, phraseSec: [4.5, 4.7], breathSec: [0.7, 0.9] }),
  },
  {
    name: 'held-notes-48k-stereo.flac',
    kind: 'singing',
    codec: 'flac',
    write: (tools, file, seed) =>
      writeSinging(tools, file, { seconds: 45, seed, sampleRate: 48000, channels: 2, heldNotesSec: [20, 12], pitchHz: [180, 420] }),
  },
  {
    name: 'melody-24k-mono.wav',
    kind: 'singing',
    codec: 'pcm_s16le',
    write: (tools, file, seed) => writeSinging(tools, file, { seconds: 30, seed, sampleRate: 24000, channels: 1, pitchHz: [250, 500] }),
  },
  {
    name: 'phone-video.mp4',
    kind: 'singing',
    codec: 'aac',
    write: (tools, file, seed) => writeSingingVideo(tools, file, { seconds: 22, seed, sampleRate: 48000, channels: 2, videoExtraSec: 2 }),
  },
  ...TAKE_SECONDS.map(
    (seconds, i): SetEntry => ({
      name: `takes/take-${String(i + 1).padStart(2, '0')}.wav`,
      kind: 'singing',
      codec: 'pcm_s16le',
      write: (tools, file, seed) => writeTake(tools, file, { seconds, seed, sampleRate: 44100, channels: 2 }),
    }),
  ),
  {
    name: 'speech-24k-mono.wav',
    kind: 'speech',
    codec: 'pcm_s16le',
    write: (tools, file, seed) => writeSpeech(tools, file, { seed, sampleRate: 24000, channels: 1 }),
  },
];

/** Runs async jobs two at a time (the machine these tests share has two cores), results in the jobs' order. */
export async function runTwoAtATime<T>(jobs: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < jobs.length; index = next++) results[index] = await jobs[index]!();
  };
  await Promise.all([worker(), worker()]);
  return results;
}

/** Writes the standard set into `dir`; the same `seed` writes the same bytes. */
export async function writeRealisticSet(tools: GeneratorTools, dir: string, seed = 1): Promise<RealisticSet> {
  const results = await runTwoAtATime(
    REALISTIC_SET.map(({ write, ...entry }, index) => async (): Promise<RealisticSource | { name: string; reason: string }> => {
      const written = await write(tools, path.join(dir, entry.name), seed * 1000 + index);
      return 'skipped' in written ? { name: entry.name, reason: written.skipped } : { ...entry, ...written };
    }),
  );
  return {
    sources: results.filter((r): r is RealisticSource => 'file' in r),
    skipped: results.filter((r): r is { name: string; reason: string } => !('file' in r)),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Ground-truth checks

/**
 * A cut of a timeline into clips of minSec..maxSec that never falls inside a phrase: every cut lies in a gap between
 * phrases (a phrase longer than maxSec stands alone and is split into equal pieces of at least minSec), or, when all the
 * sound spans less than minSec, one clip of the whole source. Undefined when no such cut exists. A test that asks a
 * slicer for this is fair only when one exists; the cut itself shows what a slicer that keeps everything would give.
 */
export function cleanCut(timeline: Timeline, minSec: number, maxSec: number): Interval[] | undefined {
  const phrases = timeline.events.filter((e) => e.kind === 'phrase');
  const n = phrases.length;
  if (n === 0) return [];
  if (phrases[n - 1]!.endSec - phrases[0]!.startSec < minSec) return [{ startSec: 0, endSec: timeline.durationSec }];
  // A clip may reach halfway into the gaps around it, and over the whole lead or tail at the ends of the source.
  const reachBefore = (i: number): number => (i === 0 ? phrases[0]!.startSec : (phrases[i]!.startSec - phrases[i - 1]!.endSec) / 2);
  const reachAfter = (j: number): number => (j === n - 1 ? timeline.durationSec - phrases[j]!.endSec : (phrases[j + 1]!.startSec - phrases[j]!.endSec) / 2);
  const pieces = (seconds: number): number => Math.ceil(seconds / maxSec);
  // cutBefore[j + 1] = i: phrases i..j form the last clip of a clean cut of phrases 0..j.
  const cutBefore = new Array<number | undefined>(n + 1).fill(undefined);
  cutBefore[0] = 0;
  for (let i = 0; i < n; i++) {
    if (cutBefore[i] === undefined) continue;
    for (let j = i; j < n; j++) {
      const span = phrases[j]!.endSec - phrases[i]!.startSec;
      if (span > maxSec) {
        if (i === j && span / pieces(span) >= minSec) cutBefore[j + 1] ??= i;
        break;
      }
      if (span + reachBefore(i) + reachAfter(j) >= minSec) cutBefore[j + 1] ??= i;
    }
  }
  if (cutBefore[n] === undefined) return undefined;
  const clips: Interval[] = [];
  for (let end = n; end > 0; end = cutBefore[end]!) {
    const i = cutBefore[end]!;
    const j = end - 1;
    const start = phrases[i]!.startSec;
    const span = phrases[j]!.endSec - start;
    if (span > maxSec) {
      const k = pieces(span);
      for (let piece = k - 1; piece >= 0; piece--) clips.push({ startSec: start + (span * piece) / k, endSec: start + (span * (piece + 1)) / k });
      continue;
    }
    // Reach into the gaps as far as they allow without passing maxSec, evenly on both sides.
    const extra = Math.min(reachBefore(i) + reachAfter(j), maxSec - span);
    const after = Math.min(reachAfter(j), Math.max(extra / 2, extra - reachBefore(i)));
    clips.push({ startSec: start - (extra - after), endSec: phrases[j]!.endSec + after });
  }
  return clips.reverse();
}
