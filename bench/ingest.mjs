// Ingest + preprocess of two generated 60-minute 44.1 kHz stereo WAV sources through bin/voicestudio: long tone phrases
// (8 s phrases, 1.3 s pauses) and a realistic take (bench/realistic.mjs: 1.5–5 s sung phrases, held notes, breaths, room
// noise); BENCH_RUNS runs each (3), each in a fresh project. Per source and step: wall and CPU seconds (user + sys of the
// CLI and its FFmpeg children), speed as a multiple of real time, peak memory of the largest process; the same for the
// floor, one FFmpeg run that decodes the source to 40 kHz mono FLAC, and the ratios to it; how much of the sound the
// clips keep. Targets (issues #2 and #8): at least 300× real time on 2 cores, peak memory under 300 MB,
// (ingest + preprocess) / floor at most 1.2.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bin, ffmpeg, median, tools, verdict, work } from './common.mjs';
import { writeRealisticTake } from './realistic.mjs';

const SPEED_TARGET = 300;
const PEAK_TARGET_MB = 300;
const FLOOR_RATIO_TARGET = 1.2;
const floorOutput = path.join(work, 'floor.flac');

/**
 * Runs a command and returns its wall seconds, CPU seconds (user + sys) and peak RSS (MB) of it and its children, via
 * getrusage(RUSAGE_CHILDREN) in a fresh Python process (so only this command is counted), and its stdout.
 */
function measured(command, args) {
  const probe = `
import json, resource, subprocess, sys, time
t = time.perf_counter()
result = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)
wall = time.perf_counter() - t
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({'code': result.returncode, 'wall': wall, 'user': usage.ru_utime, 'sys': usage.ru_stime, 'maxRssKb': usage.ru_maxrss, 'stdout': result.stdout.decode()}, sys.stdout)
`;
  const result = spawnSync('python3', ['-c', probe, command, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  const { code, wall, user, sys, maxRssKb, stdout } = JSON.parse(result.stdout);
  if (code !== 0) throw new Error(`${path.basename(command)} ${args.join(' ')} exited ${code}`);
  return { wallSec: wall, cpuSec: user + sys, userSec: user, sysSec: sys, peakMb: maxRssKb / 1024, stdout };
}

/** The tone-phrase source of the first benchmark: one generated minute, repeated. */
async function tonePhrases(minutes) {
  const source = path.join(work, `source-${minutes}min.wav`);
  if (existsSync(source)) return source;
  await mkdir(work, { recursive: true });
  const minute = path.join(work, 'minute.wav');
  const voice = '(sin(2*PI*220*t+3*sin(2*PI*5.5*t))+0.5*sin(4*PI*220*t+6*sin(2*PI*5.5*t)))/1.5';
  // Commas are escaped: inside a filtergraph they separate filters.
  const expression = `0.4*${voice}*lt(mod(t,9.3),8)+0.002*(random(0)*2-1)`.replaceAll(',', '\\,');
  console.error(`bench: generating a ${minutes}-minute 44.1 kHz stereo source of tone phrases…`);
  ffmpeg(['-f', 'lavfi', '-i', `aevalsrc=${expression}|${expression}:s=44100:d=60`, minute]);
  ffmpeg(['-stream_loop', String(minutes - 1), '-i', minute, '-c', 'copy', source]);
  return source;
}

/** The realistic take, generated once (about 15 s of CPU for an hour). The name carries the generator's version. */
async function realisticTake(minutes) {
  const source = path.join(work, `realistic-v1-${minutes}min.wav`);
  if (existsSync(source)) return source;
  await mkdir(work, { recursive: true });
  console.error(`bench: generating a ${minutes}-minute realistic 44.1 kHz stereo take…`);
  const partial = `${source}.partial`;
  writeRealisticTake(partial, minutes * 60);
  await rename(partial, source);
  return source;
}

/**
 * The physical floor: one FFmpeg run that reads the source once and writes what preprocess writes, 40 kHz mono FLAC, in
 * FFmpeg's cheapest way: 64 KiB WAV packets, then the downmix and the resampling as two filters, as preprocess does (on
 * FFmpeg 5.1 about 15 % less CPU than -ac 1 -ar 40000, which does both in one step).
 */
function floorRun(source) {
  const read = source.endsWith('.wav') ? ['-max_size', '65536'] : [];
  return measured(tools.ffmpeg.path, [
    '-hide_banner', '-nostdin', '-v', 'error', '-y', ...read, '-i', source,
    '-map', '0:a:0', '-af', 'aformat=channel_layouts=mono,aresample=40000', '-sample_fmt', 's16', '-c:a', 'flac', floorOutput,
  ]);
}

/** Runs ingest, preprocess and the floor once, ingest and preprocess in a fresh project. */
async function benchOnce(source) {
  const project = path.join(work, 'project');
  await rm(project, { recursive: true, force: true });
  await mkdir(project, { recursive: true });
  try {
    const ingest = measured(process.execPath, [bin, 'ingest', project, source, '--quiet']);
    const preprocess = measured(process.execPath, [bin, 'preprocess', project, '--quiet', '--json']);
    return { ingest, preprocess, floor: floorRun(source), total: JSON.parse(preprocess.stdout).report.total };
  } finally {
    await rm(project, { recursive: true, force: true });
    await rm(floorOutput, { force: true });
  }
}

/** Over several runs: the shortest wall time (the least disturbed by other work), the median CPU time, the highest peak. */
function summarise(measurements) {
  const at = (key) => measurements.map((m) => m[key]);
  return { wallSec: Math.min(...at('wallSec')), cpuSec: median(at('cpuSec')), userSec: median(at('userSec')), sysSec: median(at('sysSec')), peakMb: Math.max(...at('peakMb')) };
}

const figure = (value, width = 7) => value.toFixed(2).padStart(width);

async function benchSource(label, source, audioSec, runs) {
  const results = [];
  for (let run = 0; run < runs; run++) results.push(await benchOnce(source));
  const ingest = summarise(results.map((r) => r.ingest));
  const preprocess = summarise(results.map((r) => r.preprocess));
  const floor = summarise(results.map((r) => r.floor));
  const both = summarise(results.map((r) => ({
    wallSec: r.ingest.wallSec + r.preprocess.wallSec,
    cpuSec: r.ingest.cpuSec + r.preprocess.cpuSec,
    userSec: r.ingest.userSec + r.preprocess.userSec,
    sysSec: r.ingest.sysSec + r.preprocess.sysSec,
    peakMb: Math.max(r.ingest.peakMb, r.preprocess.peakMb),
  })));

  console.log(`\n${label}`);
  console.log('                         wall s    CPU s   (user +  sys)   × real time  peak MB');
  const row = (name, m) =>
    console.log(`  ${name.padEnd(21)} ${figure(m.wallSec)}  ${figure(m.cpuSec)}   (${figure(m.userSec, 5)} + ${figure(m.sysSec, 4)})  ${(audioSec / m.wallSec).toFixed(0).padStart(10)}×  ${m.peakMb.toFixed(0).padStart(7)}`);
  row('ingest', ingest);
  row('preprocess', preprocess);
  row('ingest + preprocess', both);
  row('floor (1 FFmpeg run)', floor);
  const ratios = (by) => `(ingest + preprocess) ${(both[by] / floor[by]).toFixed(2)}, preprocess ${(preprocess[by] / floor[by]).toFixed(2)}`;
  const wallRatio = both.wallSec / floor.wallSec;
  console.log(`  ratio to the floor     by wall: ${ratios('wallSec')}   (target ≤ ${FLOOR_RATIO_TARGET}) ${verdict(wallRatio <= FLOOR_RATIO_TARGET)}`);
  console.log(`                         by CPU:  ${ratios('cpuSec')}`);
  const speed = audioSec / both.wallSec;
  console.log(`  speed                  ${speed.toFixed(0)}× real time (target ≥ ${SPEED_TARGET}×) ${verdict(speed >= SPEED_TARGET)}`);
  console.log(`  peak memory            ${both.peakMb.toFixed(0)} MB (target < ${PEAK_TARGET_MB} MB) ${verdict(both.peakMb < PEAK_TARGET_MB)}`);
  const { total } = results.at(-1);
  const keptShare = total.soundSec === 0 ? 1 : total.keptSoundSec / total.soundSec;
  console.log(
    `  sound kept             ${(total.keptSoundSec / 60).toFixed(1)} of ${(total.soundSec / 60).toFixed(1)} min (${(100 * keptShare).toFixed(1)} %), in ${total.clips.count} clips of ${total.clips.minSec.toFixed(1)}–${total.clips.maxSec.toFixed(1)} s`,
  );
}

export async function benchIngestPreprocess() {
  const minutes = Number(process.env.BENCH_MINUTES ?? 60);
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const audioSec = minutes * 60;
  const sources = [
    [`tone phrases: ${minutes} min of 8 s phrases and 1.3 s pauses`, await tonePhrases(minutes)],
    [`realistic take: ${minutes} min of 1.5–5 s sung phrases, held notes, breaths, room noise`, await realisticTake(minutes)],
  ];
  const cores = os.availableParallelism();
  const load = os.loadavg()[0];
  console.log(`ingest + preprocess of 44.1 kHz stereo WAV, ${runs} runs per source, each in a fresh project (ffmpeg: ${tools.ffmpeg.source}, ${cores} cores)`);
  console.log('Wall: the shortest of the runs. CPU: the median of user + sys of the CLI and its FFmpeg children. Floor: one');
  console.log('FFmpeg run that decodes the source to 40 kHz mono FLAC. The targets are wall figures on an idle machine; on a');
  console.log('shared one wall times grow with the load, and the CPU-time ratios to the floor are the stable figures.');
  if (load > cores - 0.5) console.log(`Note: the load average is ${load.toFixed(1)} on ${cores} cores, so the wall figures here are pessimistic.`);
  for (const [label, source] of sources) await benchSource(label, source, audioSec, runs);
}
