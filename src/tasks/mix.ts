/**
 * The settings of an album track beyond its conversion: whether it is separated and mixed, and the mix's own
 * settings (the mix runs on this machine, so none of them goes to the worker). Also the EQ notation, which the
 * command line and plan files share.
 */
import { defineSettings, type SettingsValues, type ValueOf } from './settings.js';

/** Whether a track is separated first and mixed after: on the command line, and as a plan's "separate" and "mix". */
export const ALBUM_SWITCHES = defineSettings({
  separate: { type: 'boolean', flag: '--separate', plan: 'separate', default: false, help: 'separate each input (a full song) into vocals and instrumental on the GPU first; the vocals are converted' },
  mix: { type: 'boolean', flag: '--mix', plan: 'mix', default: false, help: 'mix the converted vocals back with the instrumental here, with FFmpeg (needs --separate, or a plan track\'s "instrumental")' },
});

/** The mix settings; `plan` is the key inside a plan's "mix" object and in MixSettings. */
export const MIX_SETTINGS = defineSettings({
  vocalsGain: { type: 'number', flag: '--vocals-gain <dB>', plan: 'vocalsGain', min: -60, max: 24, default: 0, help: 'mix: gain on the converted vocals' },
  instrumentalGain: { type: 'number', flag: '--instrumental-gain <dB>', plan: 'instrumentalGain', min: -60, max: 24, default: 0, help: 'mix: gain on the instrumental' },
  shiftInstrumental: { type: 'boolean', flag: '--shift-instrumental', plan: 'shiftInstrumental', default: false, help: 'mix: transpose the instrumental by --pitch too (rubberband when FFmpeg has it)' },
  reverb: { type: 'number', flag: '--reverb <0..1>', plan: 'reverb', min: 0, max: 1, default: 0, help: 'mix: room reverb on the vocals (0 = off)' },
  compressor: { type: 'boolean', flag: '--compressor', plan: 'compressor', default: false, help: 'mix: vocal compressor (3:1 from −20 dBFS)' },
  eq: { type: 'string', flag: '--eq <bands>', plan: 'eq', help: 'mix: EQ on the vocals, FREQ:GAIN[:Q] bands, e.g. 120:-3,3000:2:1.5' },
  deesser: { type: 'boolean', flag: '--deesser', plan: 'deesser', default: false, help: 'mix: tame sibilance on the vocals' },
  targetLufs: { type: 'number', flag: '--target-lufs <LUFS>', plan: 'targetLufs', min: -40, max: -5, default: -14, help: 'mix: loudness of the result (true peak kept under −1 dBTP)' },
  mixFormat: { type: 'choice', flag: '--mix-format <format>', plan: 'format', choices: ['wav', 'flac', 'mp3'], default: 'wav', help: 'mix: output format' },
  mixRate: { type: 'choice', flag: '--mix-rate <hz>', plan: 'rate', choices: [44100, 48000], default: 44100, help: 'mix: output sample rate' },
});

type MixTable = typeof MIX_SETTINGS;

export interface EqBand {
  /** Centre frequency, Hz. */
  freq: number;
  /** dB. */
  gain: number;
  /** Q (bandwidth), default 1. */
  q: number;
}

/** What a mix is made with, keyed as in a plan's "mix" object; the EQ parsed into bands. */
export type MixSettings = { -readonly [K in keyof MixTable as MixTable[K]['plan']]: K extends 'eq' ? EqBand[] : ValueOf<MixTable[K]> };
export type MixFormat = MixSettings['format'];
export type MixRate = MixSettings['rate'];
export const MIX_FORMATS = MIX_SETTINGS.mixFormat.choices;

/** The mix settings as the command line holds them (the EQ still as text). */
export type MixOptionValues = Omit<SettingsValues<MixTable>, 'eq'> & { eq?: string };

/** The command line's mix settings in MixSettings' keys, with the EQ already parsed. */
export function mixSettingsOf(values: Omit<MixOptionValues, 'eq'>, eq: EqBand[]): MixSettings {
  return {
    vocalsGain: values.vocalsGain,
    instrumentalGain: values.instrumentalGain,
    shiftInstrumental: values.shiftInstrumental,
    reverb: values.reverb,
    compressor: values.compressor,
    eq,
    deesser: values.deesser,
    targetLufs: values.targetLufs,
    format: values.mixFormat,
    rate: values.mixRate,
  };
}

export const DEFAULT_MIX_SETTINGS: Readonly<MixSettings> = mixSettingsOf(
  {
    vocalsGain: MIX_SETTINGS.vocalsGain.default,
    instrumentalGain: MIX_SETTINGS.instrumentalGain.default,
    shiftInstrumental: MIX_SETTINGS.shiftInstrumental.default,
    reverb: MIX_SETTINGS.reverb.default,
    compressor: MIX_SETTINGS.compressor.default,
    deesser: MIX_SETTINGS.deesser.default,
    targetLufs: MIX_SETTINGS.targetLufs.default,
    mixFormat: MIX_SETTINGS.mixFormat.default,
    mixRate: MIX_SETTINGS.mixRate.default,
  },
  [],
);

const EQ_FREQ_RANGE = [20, 20000] as const;
const EQ_GAIN_RANGE = [-24, 24] as const;
const EQ_Q_RANGE = [0.1, 10] as const;
export const EQ_MAX_BANDS = 8;

/**
 * Parses `--eq` bands: "FREQ:GAIN[:Q]" separated by commas, e.g. "120:-3,3000:2:1.5" (120 Hz −3 dB, 3 kHz +2 dB at
 * Q 1.5). Throws an Error whose message says what is wrong with which band.
 */
export function parseEq(spec: string): EqBand[] {
  const text = spec.trim();
  if (text === '' || text === 'none' || text === 'off') return [];
  const bands = text.split(',').map((part, i) => {
    const fields = part.trim().split(':');
    const [freq, gain, q] = fields.map((f) => Number(f.trim().replace(/^\+/, '')));
    const where = `band ${i + 1} ("${part.trim()}")`;
    if (fields.length < 2 || fields.length > 3 || fields.some((f) => f.trim() === '')) throw new Error(`${where} is not FREQ:GAIN or FREQ:GAIN:Q, e.g. 3000:2 or 3000:2:1.5`);
    return checkEqBand({ freq, gain, q: q ?? 1 }, where);
  });
  if (bands.length > EQ_MAX_BANDS) throw new Error(`${bands.length} bands; at most ${EQ_MAX_BANDS}`);
  return bands;
}

/** Checks one band's numbers (from --eq or a plan file); throws an Error naming `where`. */
export function checkEqBand(band: { freq: unknown; gain: unknown; q?: unknown }, where: string): EqBand {
  const check = (value: unknown, [min, max]: readonly [number, number], what: string): number => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) throw new Error(`${where}: ${what} must be a number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    return value;
  };
  return { freq: check(band.freq, EQ_FREQ_RANGE, 'frequency (Hz)'), gain: check(band.gain, EQ_GAIN_RANGE, 'gain (dB)'), q: check(band.q ?? 1, EQ_Q_RANGE, 'Q') };
}
