import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/runpod/backend.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'voicestudio-local-backend-'));
});

afterEach(async () => {
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
});
