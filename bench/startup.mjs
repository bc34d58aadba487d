// CLI start-up: wall time of `node bin/voicestudio --version` and `--help`, median of 10 runs each (after one
// untimed run that warms the file cache).
import { spawnSync } from 'node:child_process';
import { bin, median } from './common.mjs';

const RUNS = 10;

function timed(args) {
  const started = performance.now();
  const result = spawnSync(process.execPath, [bin, ...args], { stdio: 'ignore', env: { ...process.env, CI: 'true', NO_COLOR: '1' } });
  const ms = performance.now() - started;
  if (result.status !== 0) throw new Error(`voicestudio ${args.join(' ')} exited ${result.status ?? result.signal}`);
  return ms;
}

export async function benchStartup() {
  console.log('');
  console.log(`CLI start-up (wall time of node bin/voicestudio, median of ${RUNS} runs)`);
  for (const flag of ['--version', '--help']) {
    timed([flag]);
    const times = Array.from({ length: RUNS }, () => timed([flag]));
    console.log(`  ${flag.padEnd(10)}  ${(median(times) / 1000).toFixed(3)} s   (min ${(Math.min(...times) / 1000).toFixed(3)} s, max ${(Math.max(...times) / 1000).toFixed(3)} s)`);
  }
}
