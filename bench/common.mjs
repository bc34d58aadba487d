// Shared by the bench sections: paths, FFmpeg, generated sung-like audio, small statistics.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { locateFfmpeg } from '../dist/audio/ffmpeg.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const work = path.join(root, 'bench', '.work');
export const bin = path.join(root, 'bin', 'voicestudio');
export const tools = await locateFfmpeg();

export function ffmpeg(args) {
  const result = spawnSync(tools.ffmpeg.path, ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed`);
}

/**
 * Phrases of a harmonic tone with 5.5 Hz vibrato, separated by pauses, over faint noise: the signal of
 * test/helpers/audio.ts phraseExpression, with its commas escaped for use inside a filtergraph.
 */
export function phraseExpression({ phraseSec = 8, pauseSec = 1.2, frequency = 220, amplitude = 0.5, noise = 0.002 } = {}) {
  const f = frequency;
  const voice = `(sin(2*PI*${f}*t+3*sin(2*PI*5.5*t))+0.5*sin(4*PI*${f}*t+6*sin(2*PI*5.5*t)))/1.5`;
  const gate = `lt(mod(t,${phraseSec + pauseSec}),${phraseSec})`;
  return `max(-1,min(1,${amplitude}*${voice}*${gate}))+${noise}*(random(0)*2-1)`.replaceAll(',', '\\,');
}

/** A 44.1 kHz stereo WAV of phrases, generated once into bench/.work and reused by later runs. */
export async function cachedPhrasesWav(name, seconds, options) {
  const file = path.join(work, name);
  if (existsSync(file)) return file;
  await mkdir(work, { recursive: true });
  const expression = phraseExpression(options);
  const partial = `${file}.partial.wav`;
  ffmpeg(['-f', 'lavfi', '-i', `aevalsrc=${expression}|${expression}:s=44100:d=${seconds}`, '-c:a', 'pcm_s16le', partial]);
  await rename(partial, file);
  return file;
}

/** Runs a command without blocking the event loop (the emulator answers from this process). */
export function run(command, args, { env, timeoutMs = 300_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text) => (stderr += text));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${path.basename(args[1] ?? command)} ${args.slice(2).join(' ')} exited ${code ?? signal}\n${stderr}`));
    });
  });
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export const verdict = (ok) => (ok ? 'PASS' : 'MISS');

/** The CLI's environment for a run against the emulator: none of the caller's RunPod or voicestudio settings leak in. */
export function emulatorEnv(emulator, configDir) {
  return {
    ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('RUNPOD_') && !key.startsWith('VOICESTUDIO_'))),
    RUNPOD_API_KEY: emulator.apiKey,
    RUNPOD_ENDPOINT_ID: emulator.endpointId,
    RUNPOD_ENDPOINT_BASE_URL: emulator.url,
    VOICESTUDIO_CONFIG_DIR: configDir,
    CI: 'true',
    NO_COLOR: '1',
  };
}
