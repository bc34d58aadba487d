/** `--backend local`: the worker process gets the variables it needs (the FFmpeg the CLI found), and none of the user's secrets. */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LocalBackend } from '../../../src/runpod/backend.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'voicestudio-local-backend-'));
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await rm(dir, { recursive: true, force: true });
});

describe('LocalBackend', () => {
  it('hands the worker the FFmpeg the CLI found, so a machine with only the bundled FFmpeg works', async () => {
    // Stands in for Python running gpu/handler.py: it answers with the FFmpeg the worker would use.
    const python = path.join(dir, 'python');
    await writeFile(python, '#!/bin/sh\nprintf \'{"ffmpeg":"%s","ffprobe":"%s"}\' "$FFMPEG_PATH" "$FFPROBE_PATH"\n');
    await chmod(python, 0o755);
    const tools = { ffmpeg: { path: '/opt/bundled/ffmpeg' }, ffprobe: { path: '/opt/bundled/ffprobe' } };
    const backend = new LocalBackend({ VOICESTUDIO_PYTHON: python, FFMPEG_PATH: '', FFPROBE_PATH: '' }, tools);
    const done = await backend.wait(await backend.submit({ task: 'info' }));
    expect(done.output).toStrictEqual({ ffmpeg: '/opt/bundled/ffmpeg', ffprobe: '/opt/bundled/ffprobe' });
  });

  it('hands the worker its own variables and not the RunPod key or other secrets of the parent', async () => {
    // Stands in for the worker's interpreter: answers every job with the environment it was started with.
    const python = path.join(dir, 'python');
    await writeFile(python, `#!/bin/sh\nexec ${process.execPath} -e 'process.stdout.write(JSON.stringify({ env: process.env }))'\n`);
    await chmod(python, 0o755);
    // In this process's own environment too: a child must not inherit it from there either.
    vi.stubEnv('RUNPOD_API_KEY', 'rp_secret_in_process_env');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'aws_secret');
    const needed = {
      VOICESTUDIO_PYTHON: python,
      VOICESTUDIO_VOLUME: '/volume',
      APPLIO_DIR: '/opt/applio',
      FFMPEG_PATH: '/opt/ffmpeg/ffmpeg',
      CUDA_VISIBLE_DEVICES: '1',
      LC_ALL: 'C.UTF-8',
      PATH: '/usr/local/bin:/usr/bin:/bin',
    };
    const backend = new LocalBackend({ ...process.env, RUNPOD_API_KEY: 'rp_secret_in_parent_env', GITHUB_TOKEN: 'gh_secret', ...needed });
    const { env } = (await backend.runTask({ task: 'info' })) as { env: Record<string, string> };
    expect(env).toMatchObject(needed);
    for (const secret of ['RUNPOD_API_KEY', 'GITHUB_TOKEN', 'AWS_SECRET_ACCESS_KEY']) expect(env).not.toHaveProperty(secret);
    expect(JSON.stringify(env)).not.toMatch(/secret/);
  });
});
