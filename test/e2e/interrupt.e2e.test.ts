/** Ctrl-C: exit 130, no half-written clips, and the same command afterwards finishes the job. */
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testTools, writePhrases } from '../helpers/audio.js';
import { BIN, makeTempDir, runCli } from '../helpers/cli.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('interrupt'));
  const minute = path.join(dir, 'minute.wav');
  await writePhrases(minute, { seconds: 60, phraseSec: 8, pauseSec: 1, channels: 2 });
  // Twenty minutes, so preprocess is still cutting when the signal arrives.
  const tools = await testTools();
  await mkdir(path.join(dir, 'project'));
  await execa(tools.ffmpeg.path, ['-v', 'error', '-stream_loop', '19', '-i', minute, '-c', 'copy', path.join(dir, 'project', 'long.wav')]);
  expect((await runCli(['ingest', path.join(dir, 'project')])).exitCode).toBe(0);
});

afterAll(async () => {
  await cleanup();
});

it('exits 130 on Ctrl-C during preprocess, leaves no temp files, and a re-run completes', async () => {
  const project = path.join(dir, 'project');
  const child = execa(process.execPath, [BIN, 'preprocess', project], { env: { CI: 'true' }, reject: false, stdin: 'ignore' });
  await new Promise<void>((resolve) => {
    child.stderr.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('cutting')) resolve();
    });
  });
  child.kill('SIGINT');
  const result = await child;
  expect(result.exitCode).toBe(130);
  expect(String(result.stderr)).toMatch(/Interrupted/);
  expect(String(result.stderr)).toMatch(/Run the same command again/);
  const clips = path.join(project, '.voicestudio', 'clips');
  expect((await readdir(clips).catch(() => [])).filter((name) => name.includes('.tmp-'))).toEqual([]);

  const again = await runCli(['preprocess', project, '--json']);
  expect(again.exitCode, again.stderr).toBe(0);
  expect(JSON.parse(again.stdout).sources[0].status).toBe('processed');
});
