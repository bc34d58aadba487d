/**
 * The FFmpeg capability cache: a binary is asked once, its answers are kept on disk keyed by its path, size and
 * modification time, and a changed binary is asked again. The binary is the real FFmpeg behind a wrapper script that
 * logs each start, so the test counts FFmpeg starts rather than trusting the cache's own account.
 */
import { chmod, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CapabilityCache, userCacheDir, type ToolLocation } from '../../../src/audio/ffmpeg.js';
import { testTools } from '../../helpers/audio.js';
import { makeTempDir } from '../../helpers/cli.js';

describe.skipIf(process.platform === 'win32')('FFmpeg capability cache', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let wrapper: ToolLocation;
  let log: string;

  const starts = async (): Promise<string[]> => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((line) => line !== '');

  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir('capabilities'));
    log = path.join(dir, 'starts.log');
    const real = (await testTools()).ffmpeg.path;
    const script = path.join(dir, 'ffmpeg');
    await writeFile(script, `#!/bin/sh\necho "$*" >> '${log}'\nexec '${real}' "$@"\n`);
    await chmod(script, 0o755);
    wrapper = { path: script, source: 'env' };
  });
  afterAll(async () => cleanup());

  it('asks a binary once, then answers from the file in every later process', async () => {
    const file = path.join(dir, 'cache', 'ffmpeg-capabilities.json');
    const first = await new CapabilityCache(file).get(wrapper);
    expect((await starts()).sort()).toEqual(['-hide_banner -encoders', '-hide_banner -filters', '-hide_banner -h demuxer=wav']);
    expect(first.filters.has('highpass')).toBe(true);
    expect(first.encoders.has('flac')).toBe(true);

    // A new CapabilityCache is what a new voicestudio process starts with.
    const second = await new CapabilityCache(file).get(wrapper);
    expect(await starts()).toHaveLength(3);
    expect(second).toEqual(first);

    const stored = JSON.parse(await readFile(file, 'utf8')) as { binaries: Record<string, { size: number; mtimeMs: number }> };
    const info = await stat(wrapper.path);
    expect(stored.binaries[wrapper.path]).toMatchObject({ size: info.size, mtimeMs: info.mtimeMs });
  });

  it('asks again when the binary changes', async () => {
    const file = path.join(dir, 'changed', 'ffmpeg-capabilities.json');
    await new CapabilityCache(file).get(wrapper);
    const before = (await starts()).length;
    const later = new Date(Date.now() + 60_000);
    await utimes(wrapper.path, later, later);
    await new CapabilityCache(file).get(wrapper);
    expect((await starts()).length).toBe(before + 3);
    await new CapabilityCache(file).get(wrapper);
    expect((await starts()).length).toBe(before + 3);
  });

  it('asks once per process when the file cannot be written', async () => {
    const blocker = path.join(dir, 'not-a-folder');
    await writeFile(blocker, '');
    const cache = new CapabilityCache(path.join(blocker, 'ffmpeg-capabilities.json'));
    const before = (await starts()).length;
    const [a, b] = await Promise.all([cache.get(wrapper), cache.get(wrapper)]);
    expect(a).toBe(b);
    expect(await cache.get(wrapper)).toBe(a);
    expect((await starts()).length).toBe(before + 3);
    expect(a.filters.has('highpass')).toBe(true);
  });

  it('keeps the cache in the user cache folder, XDG_CACHE_HOME on Linux', () => {
    if (process.platform === 'linux') expect(userCacheDir({ XDG_CACHE_HOME: '/somewhere/cache' })).toBe('/somewhere/cache/voicestudio');
    expect(path.basename(userCacheDir({}))).toBe('voicestudio');
  });
});
