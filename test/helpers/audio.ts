/** Test audio made at test time with FFmpeg: sung-like tones with vibrato and pauses, noise, clipping, video. */
import { execa } from 'execa';
import { locateFfmpeg, type FfmpegTools } from '../../src/audio/ffmpeg.js';

let toolsPromise: Promise<FfmpegTools> | undefined;
export function testTools(): Promise<FfmpegTools> {
  toolsPromise ??= locateFfmpeg();
  return toolsPromise;
}

async function ffmpeg(args: string[]): Promise<void> {
  const tools = await testTools();
  await execa(tools.ffmpeg.path, ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args]);
}

export interface PhraseOptions {
  seconds: number;
  /** Phrase length and the pause after it, repeating. */
  phraseSec?: number;
  pauseSec?: number;
  frequency?: number;
  /** Peak amplitude of the voice (1 = full scale); above 1 the waveform is clipped. */
  amplitude?: number;
  /** Amplitude of the background noise. */
  noise?: number;
  sampleRate?: number;
  channels?: 1 | 2;
}

/** Phrases of a harmonic tone with 5.5 Hz vibrato, separated by pauses, over faint noise. */
export function phraseExpression(o: PhraseOptions): string {
  const phrase = o.phraseSec ?? 8;
  const period = phrase + (o.pauseSec ?? 1.2);
  const f = o.frequency ?? 220;
  const a = o.amplitude ?? 0.5;
  const noise = o.noise ?? 0.002;
  const voice = `(sin(2*PI*${f}*t+3*sin(2*PI*5.5*t))+0.5*sin(4*PI*${f}*t+6*sin(2*PI*5.5*t)))/1.5`;
  const gate = `lt(mod(t,${period}),${phrase})`;
  const clipped = `max(-1,min(1,${a}*${voice}*${gate}))`;
  return `${clipped}+${noise}*(random(0)*2-1)`;
}

/** Inside a filtergraph a comma separates filters, so the expression's commas are escaped. */
function filterArgument(expression: string): string {
  return expression.replaceAll(',', '\\,');
}

export async function writePhrases(file: string, o: PhraseOptions): Promise<void> {
  const expression = filterArgument(phraseExpression(o));
  const channels = o.channels ?? 1;
  await ffmpeg([
    '-f', 'lavfi', '-i', `aevalsrc=${channels === 2 ? `${expression}|${expression}` : expression}:s=${o.sampleRate ?? 44100}:d=${o.seconds}`,
    file,
  ]);
}

/** A video file (tiny frames) whose audio track carries phrases. */
export async function writeVideoWithPhrases(file: string, o: PhraseOptions): Promise<void> {
  await ffmpeg([
    '-f', 'lavfi', '-i', `color=c=blue:s=64x48:r=5:d=${o.seconds}`,
    '-f', 'lavfi', '-i', `aevalsrc=${filterArgument(phraseExpression(o))}:s=${o.sampleRate ?? 48000}:d=${o.seconds}`,
    '-c:v', 'mpeg4', '-c:a', 'aac', '-shortest', file,
  ]);
}

export async function writeVideoWithoutAudio(file: string, seconds: number): Promise<void> {
  await ffmpeg(['-f', 'lavfi', '-i', `color=c=red:s=64x48:r=5:d=${seconds}`, '-c:v', 'mpeg4', file]);
}

/** Speech from espeak-ng when it is installed; undefined otherwise. */
export async function writeSpeech(file: string, text: string): Promise<boolean> {
  const result = await execa('espeak-ng', ['-w', file, '-s', '150', text], { reject: false });
  return result.exitCode === 0;
}

export async function durationOf(file: string): Promise<{ durationSec: number; sampleRate: number; channels: number; codec: string }> {
  const tools = await testTools();
  const { stdout } = await execa(tools.ffprobe.path, ['-v', 'error', '-show_entries', 'stream=sample_rate,channels,codec_name:format=duration', '-of', 'json', file]);
  const data = JSON.parse(stdout) as { streams: { sample_rate: string; channels: number; codec_name: string }[]; format: { duration: string } };
  const stream = data.streams[0];
  return { durationSec: Number(data.format.duration), sampleRate: Number(stream?.sample_rate), channels: stream?.channels ?? 0, codec: stream?.codec_name ?? '' };
}
