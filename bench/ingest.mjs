// Ingest + preprocess of a generated 60-minute source through bin/voicestudio.
// Prints the speed as a multiple of real time and the peak memory of the largest process (CLI or FFmpeg).
// Targets (issue #2): at least 300× real time on 2 cores, peak memory under 300 MB.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { bin, ffmpeg, tools, work } from './common.mjs';

/** Runs a command and returns wall seconds and the peak RSS (MB) of it and its children, via getrusage. */
function measured(command, args) {
  const probe = `
import resource, subprocess, sys, time
t = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t
print(code, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
`;
  const result = spawnSync('python3', ['-c', probe, command, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const [code, wall, maxRssKb] = result.stdout.trim().split(/\s+/).map(Number);
  if (code !== 0) throw new Error(`${args.join(' ')} exited ${code}`);
  return { wallSec: wall, peakMb: maxRssKb / 1024 };
}

export async function benchIngestPreprocess() {
  const minutes = Number(process.env.BENCH_MINUTES ?? 60);
  const source = path.join(work, `source-${minutes}min.wav`);
  if (!existsSync(source)) {
    await mkdir(work, { recursive: true });
    const minute = path.join(work, 'minute.wav');
    const voice = '(sin(2*PI*220*t+3*sin(2*PI*5.5*t))+0.5*sin(4*PI*220*t+6*sin(2*PI*5.5*t)))/1.5';
    // Commas are escaped: inside a filtergraph they separate filters.
    const expression = `0.4*${voice}*lt(mod(t,9.3),8)+0.002*(random(0)*2-1)`.replaceAll(',', '\\,');
    console.error(`bench: generating a ${minutes}-minute 44.1 kHz stereo source…`);
    ffmpeg(['-f', 'lavfi', '-i', `aevalsrc=${expression}|${expression}:s=44100:d=60`, minute]);
    ffmpeg(['-stream_loop', String(minutes - 1), '-i', minute, '-c', 'copy', source]);
  }

  const project = path.join(work, 'project');
  await rm(project, { recursive: true, force: true });
  await mkdir(project, { recursive: true });
  const ingest = measured(process.execPath, [bin, 'ingest', project, source, '--quiet']);
  const preprocess = measured(process.execPath, [bin, 'preprocess', project, '--quiet']);
  const audioSec = minutes * 60;
  const totalSec = ingest.wallSec + preprocess.wallSec;
  const peakMb = Math.max(ingest.peakMb, preprocess.peakMb);
  const speed = audioSec / totalSec;
  console.log(`ingest + preprocess, ${minutes} min of 44.1 kHz stereo WAV (ffmpeg: ${tools.ffmpeg.source})`);
  console.log(`  ingest      ${ingest.wallSec.toFixed(2)} s   peak ${ingest.peakMb.toFixed(0)} MB`);
  console.log(`  preprocess  ${preprocess.wallSec.toFixed(2)} s   peak ${preprocess.peakMb.toFixed(0)} MB`);
  console.log(`  speed       ${speed.toFixed(0)}× real time (target ≥ 300×) ${speed >= 300 ? 'PASS' : 'MISS'}`);
  console.log(`  peak memory ${peakMb.toFixed(0)} MB (target < 300 MB) ${peakMb < 300 ? 'PASS' : 'MISS'}`);
}
