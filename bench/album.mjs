// `voicestudio batch` of a 12-track album against the RunPod emulator (test/emulator/runpod-emulator.ts: the real
// gpu/handler.py with the Applio stand-in) with N workers, each conversion held on its worker for a simulated GPU
// time. The figure: wall time of the whole command against the ideal ceil(12/N) × per-track time, where the
// per-track time is what a worker was busy with one conversion (the emulator's executionTime: the stand-in's own
// work plus the simulated GPU time). Target: within 10 % of ideal at N = 4. Then the same album again: nothing to do.
// The default 15 s of GPU time is about what RVC takes for a 3–4 minute song on an RTX 4090. What the CLI adds is
// roughly fixed (start-up, the model upload, status-poll latency between tracks), so the report gives it in seconds.
//   BENCH_ALBUM_WORKERS   worker counts to run, comma-separated (default 4)
//   BENCH_ALBUM_GPU_SEC   simulated GPU seconds per track (default 15)
//   BENCH_ALBUM_TIMELINE  set: print every emulator job's start and end
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bin, cachedPhrasesWav, median, root, run, verdict, emulatorEnv } from './common.mjs';

const TRACKS = 12;
const TRACK_SECONDS = 20;
const TARGET_RATIO = 1.1;

export async function benchAlbum() {
  const { startEmulator } = await import(new URL('../test/emulator/runpod-emulator.ts', import.meta.url).href);
  const workerCounts = (process.env.BENCH_ALBUM_WORKERS ?? '4').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
  const gpuMs = Math.round(Number(process.env.BENCH_ALBUM_GPU_SEC ?? 15) * 1000);
  const songs = [];
  for (let i = 0; i < TRACKS; i++) {
    songs.push(await cachedPhrasesWav(`album-${String(i + 1).padStart(2, '0')}.wav`, TRACK_SECONDS, { phraseSec: 4, pauseSec: 1, frequency: 180 + 23 * i }));
  }

  console.log('');
  console.log(`album: ${TRACKS} tracks of ${TRACK_SECONDS} s through \`voicestudio batch\`, ${gpuMs / 1000} s of simulated GPU time per conversion`);
  for (const workers of workerCounts) {
    const dir = await mkdtemp(path.join(tmpdir(), 'vs-bench-album-'));
    const emulator = await startEmulator({ workers, completionDelayMs: ({ task }) => (task === 'convert' ? gpuMs : 0) });
    try {
      // A voice model in Applio's inference layout, from the worker tests' own helper.
      execFileSync('python3', ['-c', 'import sys\nfrom tests.test_convert import model_bytes\nmodel_bytes(sys.argv[1], name="bench")', dir], { cwd: path.join(root, 'gpu') });
      const model = path.join(dir, 'bench-40000-contentvec-300.pth');
      const env = emulatorEnv(emulator, path.join(dir, 'config'));
      const args = [bin, 'batch', ...songs, '-m', model, '-p', path.join(dir, 'project'), '-o', path.join(dir, 'out'), '--concurrency', String(workers), '--json'];
      const started = performance.now();
      const { stdout } = await run(process.execPath, args, { env });
      const wallSec = (performance.now() - started) / 1000;
      const result = JSON.parse(stdout);
      if (result.failed !== 0 || result.converted !== TRACKS) throw new Error(`album bench: ${result.converted} converted, ${result.failed} failed: ${JSON.stringify(result.tracks.map((t) => t.error).filter(Boolean))}`);
      const converts = emulator.jobs().filter((j) => j.input.task === 'convert');
      const firstSubmitSec = (Math.min(...converts.map((j) => j.createdAt)) - (performance.timeOrigin + started)) / 1000;
      if (process.env.BENCH_ALBUM_TIMELINE) {
        const t0 = performance.timeOrigin + started;
        for (const j of emulator.jobs()) console.log(`      ${String(j.input.task).padEnd(12)} created ${((j.createdAt - t0) / 1000).toFixed(2)}  started ${((j.startedAt - t0) / 1000).toFixed(2)}  done ${((j.completedAt - t0) / 1000).toFixed(2)}  worker ${j.workerId}`);
      }
      const perTrackSec = median(converts.map((j) => j.executionMs)) / 1000;
      const idealSec = Math.ceil(TRACKS / workers) * perTrackSec;
      const ratio = wallSec / idealSec;

      const jobsBefore = emulator.jobs().length;
      const againStarted = performance.now();
      const again = JSON.parse((await run(process.execPath, args, { env })).stdout);
      const againSec = (performance.now() - againStarted) / 1000;
      const newJobs = emulator.jobs().length - jobsBefore;

      console.log(`  N = ${workers} workers (--concurrency ${workers})`);
      console.log(`    per-track time  ${perTrackSec.toFixed(2)} s on a worker (median of ${converts.length} conversions; ${gpuMs / 1000} s simulated + the stand-in's work)`);
      console.log(`    ideal           ${idealSec.toFixed(2)} s = ceil(${TRACKS}/${workers}) × ${perTrackSec.toFixed(2)} s`);
      console.log(`    wall            ${wallSec.toFixed(2)} s, ${((ratio - 1) * 100).toFixed(1)} % over ideal (target ≤ ${Math.round((TARGET_RATIO - 1) * 100)} % at N = 4) ${workers === 4 ? verdict(ratio <= TARGET_RATIO) : ''}`);
      console.log(`    CLI overhead    ${(wallSec - idealSec).toFixed(2)} s in all (first GPU job submitted ${firstSubmitSec.toFixed(2)} s after start; model upload included)`);
      console.log(`    re-run          ${againSec.toFixed(2)} s, ${again.cached}/${TRACKS} from cache, ${newJobs} new jobs ${verdict(newJobs === 0 && again.cached === TRACKS)}`);
    } finally {
      await emulator.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchAlbum();
