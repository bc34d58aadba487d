// A long source shaped like a real vocal take, for the ingest bench: sung phrases of 1.5–5 s (now and then a held note
// of 6–20 s) on a few notes each, with vibrato, glides and a voice-like spectrum; a breath in each gap (band-passed noise
// 30–40 dB below the voice, 0.15–0.9 s); longer pauses between lines; low room noise under everything, independent in
// each channel. 44.1 kHz stereo 16-bit WAV. Deterministic: a seeded generator and fixed arithmetic, the same file every time.
import { closeSync, openSync, writeSync } from 'node:fs';
import { seededRandom } from '../test/helpers/realistic.ts';

const RATE = 44100;
const CHANNELS = 2;
const TABLE_SIZE = 4096;
/** Frequency and vibrato are updated every this many samples: 0.7 ms, far finer than a 6 Hz vibrato needs. */
const CONTROL_BLOCK = 32;
const ROOM_NOISE_RMS = 10 ** (-66 / 20);

/** One period of a vowel-like tone: harmonics falling off at about 6 dB/octave, lifted near two formants. */
function vowelTable(formant1, formant2, fundamental) {
  const table = new Float32Array(TABLE_SIZE + 1);
  let peak = 0;
  for (let k = 1; k <= 14; k++) {
    const f = k * fundamental;
    const lift = 1 + 2.5 * Math.exp(-(((f - formant1) / 250) ** 2)) + 1.5 * Math.exp(-(((f - formant2) / 400) ** 2));
    const amplitude = lift / k;
    for (let i = 0; i < TABLE_SIZE; i++) table[i] += amplitude * Math.sin((2 * Math.PI * k * i) / TABLE_SIZE + k * 0.7);
  }
  for (let i = 0; i < TABLE_SIZE; i++) peak = Math.max(peak, Math.abs(table[i]));
  for (let i = 0; i < TABLE_SIZE; i++) table[i] /= peak;
  table[TABLE_SIZE] = table[0]; // guard sample for interpolation
  return table;
}

const VOWELS = [
  vowelTable(730, 1090, 220), // a
  vowelTable(530, 1840, 220), // e
  vowelTable(300, 870, 220), // u
  vowelTable(570, 840, 220), // o
];

/** A sung phrase: notes with glides between them, vibrato that sets in after each onset, a phrase envelope. */
function renderPhrase(random, seconds, { held }) {
  const frames = Math.round(seconds * RATE);
  const out = new Float32Array(frames);
  const table = VOWELS[Math.floor(random() * VOWELS.length)];
  const level = 10 ** ((-16 - 8 * random()) / 20);
  const vibratoHz = 5 + 1.5 * random();
  const vibratoSemitones = 0.2 + 0.35 * random();
  let midi = 55 + Math.floor(random() * 18);
  const notes = [];
  for (let t = 0; t < seconds; ) {
    const length = held ? seconds : 0.3 + 0.9 * random();
    notes.push({ start: t, midi });
    t += length;
    midi = Math.min(76, Math.max(52, midi + Math.floor(random() * 9) - 4));
  }
  let phase = random();
  let increment = 0;
  let note = 0;
  let pitch = notes[0].midi;
  for (let block = 0; block < frames; block += CONTROL_BLOCK) {
    const t = block / RATE;
    while (note + 1 < notes.length && notes[note + 1].start <= t) note++;
    // Glide towards the note's pitch in about 40 ms; vibrato grows over the first 0.4 s of the note.
    pitch += (notes[note].midi - pitch) * Math.min(1, CONTROL_BLOCK / (0.04 * RATE));
    const sinceOnset = t - notes[note].start;
    const vibrato = vibratoSemitones * Math.min(1, sinceOnset / 0.4) * Math.sin(2 * Math.PI * vibratoHz * t);
    const frequency = 440 * 2 ** ((pitch + vibrato - 69) / 12);
    increment = (frequency / RATE) * TABLE_SIZE;
    // Phrase envelope: 60 ms attack, 150 ms release, a slow swell, and held notes fading a little.
    const attack = Math.min(1, t / 0.06);
    const release = Math.min(1, (seconds - t) / 0.15);
    const swell = 0.85 + 0.15 * Math.sin((Math.PI * t) / seconds);
    const gain = level * attack * Math.max(0, release) * swell * (held ? 1 - 0.3 * (t / seconds) : 1);
    const end = Math.min(frames, block + CONTROL_BLOCK);
    for (let i = block; i < end; i++) {
      const index = phase | 0;
      const fraction = phase - index;
      out[i] = gain * (table[index] + fraction * (table[index + 1] - table[index]));
      phase += increment;
      if (phase >= TABLE_SIZE) phase -= TABLE_SIZE;
    }
  }
  return out;
}

/** A breath: noise through a band-pass near 1.5 kHz under a raised-cosine envelope, scaled to an RMS of −46 to −56 dBFS. */
function renderBreath(random, seconds) {
  const frames = Math.round(seconds * RATE);
  const out = new Float32Array(frames);
  // RBJ band-pass (constant 0 dB peak gain), centre 1500 Hz, Q 0.9.
  const w = (2 * Math.PI * 1500) / RATE;
  const alpha = Math.sin(w) / (2 * 0.9);
  const a0 = 1 + alpha;
  const b0 = alpha / a0;
  const b2 = -alpha / a0;
  const a1 = (-2 * Math.cos(w)) / a0;
  const a2 = (1 - alpha) / a0;
  let x1 = 0, x2 = 0, y1 = 0, y2 = 0;
  let energy = 0;
  for (let i = 0; i < frames; i++) {
    const x = 2 * random() - 1;
    const y = b0 * x + b2 * x2 - a1 * y1 - a2 * y2;
    x2 = x1;
    x1 = x;
    y2 = y1;
    y1 = y;
    out[i] = y * 0.5 * (1 - Math.cos((2 * Math.PI * i) / frames));
    energy += out[i] * out[i];
  }
  const gain = 10 ** ((-46 - 10 * random()) / 20) / Math.sqrt(energy / frames);
  for (let i = 0; i < frames; i++) out[i] *= gain;
  return out;
}

/** The take as a sequence of stretches, each rendered on its own: a gap (room noise, a breath near its end), then a phrase. */
function* stretches(random, totalSec) {
  let t = 0;
  let phrasesInLine = 0;
  while (t < totalSec) {
    const newLine = phrasesInLine === 0;
    const gapSec = newLine ? 1.5 + 2.5 * random() : 0.25 + 0.75 * random();
    const gap = new Float32Array(Math.round(gapSec * RATE));
    const breathSec = Math.min(0.15 + 0.75 * random(), gapSec - 0.1);
    if (breathSec >= 0.15) {
      const breath = renderBreath(random, breathSec);
      const offset = gap.length - breath.length - Math.round((0.03 + 0.07 * random()) * RATE);
      gap.set(breath, Math.max(0, offset));
    }
    yield gap;
    const held = random() < 0.08;
    const phraseSec = held ? 6 + 14 * random() : 1.5 + 3.5 * random();
    yield renderPhrase(random, phraseSec, { held });
    phrasesInLine = newLine ? 2 + Math.floor(random() * 4) : phrasesInLine - 1;
    t += gapSec + phraseSec;
  }
}

function wavHeader(frames) {
  const dataBytes = frames * CHANNELS * 2;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(CHANNELS, 22);
  header.writeUInt32LE(RATE, 24);
  header.writeUInt32LE(RATE * CHANNELS * 2, 28);
  header.writeUInt16LE(CHANNELS * 2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(dataBytes, 40);
  return header;
}

/** Writes `seconds` of the take to `file` (44.1 kHz stereo s16 WAV). */
export function writeRealisticTake(file, seconds, seed = 8) {
  const random = seededRandom(seed);
  const noise = seededRandom(seed ^ 0x5eed);
  const totalFrames = Math.round(seconds * RATE);
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, wavHeader(totalFrames));
    const buffer = Buffer.alloc(RATE * CHANNELS * 2 * 4);
    const samples = new Int16Array(buffer.buffer, buffer.byteOffset, buffer.length / 2);
    let used = 0;
    let written = 0;
    // Room noise: white noise through a one-pole low-pass (about 1.5 kHz), one per channel.
    const pole = Math.exp((-2 * Math.PI * 1500) / RATE);
    const noiseGain = ROOM_NOISE_RMS * Math.sqrt(3) * Math.sqrt((1 + pole) / (1 - pole));
    let left = 0, right = 0;
    for (const stretch of stretches(random, seconds)) {
      for (let i = 0; i < stretch.length && written < totalFrames; i++, written++) {
        left = pole * left + (1 - pole) * (2 * noise() - 1);
        right = pole * right + (1 - pole) * (2 * noise() - 1);
        const voice = stretch[i];
        samples[used++] = Math.max(-32768, Math.min(32767, Math.round(32767 * (voice + noiseGain * left))));
        samples[used++] = Math.max(-32768, Math.min(32767, Math.round(32767 * (0.94 * voice + noiseGain * right))));
        if (used === samples.length) {
          writeSync(fd, buffer);
          used = 0;
        }
      }
      if (written === totalFrames) break;
    }
    if (used > 0) writeSync(fd, buffer, 0, used * 2);
  } finally {
    closeSync(fd);
  }
}
