/**
 * Planning an album: settings precedence, folder inputs, output names, exit codes, and the GPU gate that bounds the
 * jobs in flight. The plan file itself: test/unit/tasks/plan.test.ts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPatch, batchExitCode, buildTrackList, gatedBackend, settingsConflict } from '../../../src/workflows/album.js';
import { parsePlan, type TrackSettings } from '../../../src/tasks/plan.js';
import { DEFAULT_MIX_SETTINGS } from '../../../src/tasks/mix.js';
import type { Backend } from '../../../src/runpod/backend.js';
import { makeTempDir } from '../../helpers/cli.js';

const BASE: TrackSettings = { pitch: 0, indexRate: 0.3, protect: 0.33, volumeEnvelope: 1, f0Method: 'rmvpe', format: 'wav', separate: false, mix: false, mixSettings: { ...DEFAULT_MIX_SETTINGS } };

let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('batch-plan'));
  for (const file of ['songs/1 intro.wav', 'songs/2 verse.wav', 'songs/10 outro.flac', 'songs/notes.txt', 'songs/bonus/1 demo.mp3', 'songs/.hidden/x.wav', 'songs/album/already.wav']) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), '');
  }
});

afterAll(async () => {
  await cleanup();
});

describe('settings', () => {
  it('a patch changes only what it names; mix settings merge', () => {
    const next = applyPatch(BASE, { pitch: 2, mix: true, mixSettings: { vocalsGain: 3 } });
    expect(next).toMatchObject({ pitch: 2, indexRate: 0.3, mix: true, mixSettings: { ...DEFAULT_MIX_SETTINGS, vocalsGain: 3 } });
    expect(applyPatch(next, { mixSettings: { reverb: 0.5 } }).mixSettings).toMatchObject({ vocalsGain: 3, reverb: 0.5 });
    expect(BASE.mixSettings.vocalsGain).toBe(0);
  });

  it('names conflicting combinations', () => {
    expect(settingsConflict({ ...BASE, mix: true })).toMatch(/mixing needs an instrumental/);
    expect(settingsConflict({ ...BASE, mix: true, separate: true, instrumental: '/x.wav' })).toMatch(/both "separate" and "instrumental"/);
    expect(settingsConflict({ ...BASE, instrumental: '/x.wav' })).toMatch(/only used for mixing/);
    expect(settingsConflict({ ...BASE, mix: true, separate: true })).toBeUndefined();
    expect(settingsConflict({ ...BASE, mix: true, instrumental: '/x.wav' })).toBeUndefined();
  });
});

describe('the track list', () => {
  const list = (options: Partial<Parameters<typeof buildTrackList>[0]>) => buildTrackList({ inputs: [], cwd: dir, outDir: 'out', base: BASE, explicit: {}, ...options });

  it('expands folders recursively in natural order, keeps sub-folders in the output, skips hidden files and the out-dir', async () => {
    const tracks = await list({ inputs: ['songs'], outDir: 'songs/album' });
    expect(tracks.map((t) => path.relative(dir, t.input))).toEqual(['songs/1 intro.wav', 'songs/2 verse.wav', 'songs/10 outro.flac', 'songs/bonus/1 demo.mp3']);
    expect(tracks.map((t) => path.relative(dir, t.output))).toEqual(['songs/album/1 intro.wav', 'songs/album/2 verse.wav', 'songs/album/10 outro.wav', 'songs/album/bonus/1 demo.wav']);
    expect(tracks.map((t) => t.index)).toEqual([0, 1, 2, 3]);
  });

  it('keeps a missing file as a track: it fails alone when the album runs', async () => {
    const tracks = await list({ inputs: ['songs/1 intro.wav', 'missing.wav'] });
    expect(tracks.map((t) => path.basename(t.output))).toEqual(['1 intro.wav', 'missing.wav']);
  });

  it('applies built-ins, then plan defaults, then explicit command-line options, then the track', async () => {
    const plan = parsePlan(JSON.stringify({ defaults: { pitch: -2, indexRate: 0.6, separate: true, mix: { targetLufs: -16, vocalsGain: 1 } }, tracks: ['a.wav', { input: 'b.wav', pitch: 5, mix: false }, { input: 'c.wav', mix: { targetLufs: -10 } }] }), path.join(dir, 'p', 'album.json'));
    const base = { ...BASE, format: 'flac' as const };
    const tracks = await list({ plan, base, explicit: { pitch: 1, mixSettings: { targetLufs: -12 } } });
    expect(tracks.map((t) => t.settings.pitch)).toEqual([1, 5, 1]);
    expect(tracks.map((t) => t.settings.indexRate)).toEqual([0.6, 0.6, 0.6]);
    expect(tracks.map((t) => t.settings.mix)).toEqual([true, false, true]);
    expect(tracks.map((t) => t.settings.mixSettings.targetLufs)).toEqual([-12, -12, -10]);
    expect(tracks.map((t) => t.settings.mixSettings.vocalsGain)).toEqual([1, 1, 1]);
    // Mixed tracks are written in the mix format, the others in the conversion's.
    expect(tracks.map((t) => path.basename(t.output))).toEqual(['a.wav', 'b.flac', 'c.wav']);
  });

  it('adds the extension to output names and refuses one that contradicts the format', async () => {
    const plan = parsePlan(JSON.stringify({ tracks: [{ input: 'a.wav', output: 'Track A' }, { input: 'b.wav', output: 'B.v2' }, { input: 'c.wav', output: 'c.wav' }] }), path.join(dir, 'album.json'));
    expect((await list({ plan })).map((t) => path.basename(t.output))).toEqual(['Track A.wav', 'B.v2.wav', 'c.wav']);
    const wrong = parsePlan(JSON.stringify({ tracks: [{ input: 'a.wav', output: 'a.mp3' }] }), path.join(dir, 'album.json'));
    await expect(list({ plan: wrong })).rejects.toThrow(/album\.json tracks\[0\] \(a\.wav\): the output name ends in \.mp3 but the track is written as wav/);
  });

  it('refuses two tracks writing one file, and names both', async () => {
    await expect(list({ inputs: ['songs/1 intro.wav', 'songs/bonus/1 intro.wav'] })).rejects.toThrow(/would both write out\/1 intro\.wav/);
  });

  it('refuses conflicting settings, naming the track', async () => {
    await expect(list({ inputs: ['songs/1 intro.wav'], base: { ...BASE, mix: true } })).rejects.toThrow(/songs\/1 intro\.wav: mixing needs an instrumental/);
    const plan = parsePlan(JSON.stringify({ tracks: [{ input: 'a.wav', separate: true, instrumental: 'i.wav', mix: true }] }), path.join(dir, 'album.json'));
    await expect(list({ plan })).rejects.toThrow(/tracks\[0\] \(a\.wav\): both "separate" and "instrumental"/);
  });

  it('needs at least one track', async () => {
    await expect(list({ inputs: [] })).rejects.toThrow(/No tracks/);
    await mkdir(path.join(dir, 'empty', '.hidden'), { recursive: true });
    await writeFile(path.join(dir, 'empty', '.hidden', 'x.wav'), '');
    await expect(list({ inputs: ['empty'] })).rejects.toThrow(/empty: a folder with no audio or video files/);
  });
});

describe('exit codes', () => {
  it('0 when all succeeded, 3 when some failed, 1 when none succeeded', () => {
    expect(batchExitCode({ total: 3, failed: 0, skipped: 0 })).toBe(0);
    expect(batchExitCode({ total: 3, failed: 1, skipped: 0 })).toBe(3);
    expect(batchExitCode({ total: 3, failed: 1, skipped: 1 })).toBe(3);
    expect(batchExitCode({ total: 3, failed: 1, skipped: 2 })).toBe(1);
    expect(batchExitCode({ total: 2, failed: 2, skipped: 0 })).toBe(1);
  });
});

describe('the GPU gate', () => {
  /** An in-memory backend whose jobs end when the test says so. */
  function memoryBackend() {
    const finish = new Map<string, () => void>();
    let next = 0;
    let running = 0;
    let most = 0;
    const backend: Backend = {
      kind: 'runpod',
      target: 'mem',
      runTask: async () => ({}),
      cancel: async () => undefined,
      submit: async (input) => {
        running += 1;
        most = Math.max(most, running);
        return `${String(input.task)}-${next++}`;
      },
      wait: (jobId) =>
        new Promise((resolve) => {
          finish.set(jobId, () => {
            running -= 1;
            resolve({ output: {}, executionMs: 1 });
          });
        }),
    };
    return { backend, finish, most: () => most };
  }

  /** The backend and the gate live in memory: once the microtask queue has drained, every flow has got as far as it can. */
  const settled = () => new Promise((resolve) => setImmediate(resolve));

  it('keeps at most `limit` GPU jobs in flight, lets small tasks through, and counts reattached jobs when waited on', async () => {
    const memory = memoryBackend();
    const gated = gatedBackend(memory.backend, 2);
    const flow = async (): Promise<void> => {
      const id = await gated.submit({ task: 'convert' });
      await gated.wait(id);
    };
    const flows = [flow(), flow(), flow()];
    await settled();
    expect([...memory.finish.keys()]).toEqual(['convert-0', 'convert-1']);
    expect(await gated.submit({ task: 'blob_has' })).toBe('blob_has-2');
    // A job an earlier run started takes a slot when waited on.
    const reattached = gated.wait('old-job');
    memory.finish.get('convert-0')?.();
    await settled();
    expect(memory.finish.has('convert-3')).toBe(true);
    expect(memory.finish.has('old-job')).toBe(false);
    memory.finish.get('convert-1')?.();
    await settled();
    expect(memory.finish.has('old-job')).toBe(true);
    memory.finish.get('convert-3')?.();
    memory.finish.get('old-job')?.();
    await Promise.all([...flows, reattached]);
  });

  it('stops waiting for a slot on abort', async () => {
    const memory = memoryBackend();
    const gated = gatedBackend(memory.backend, 1);
    await gated.submit({ task: 'separate' });
    const controller = new AbortController();
    const blocked = gated.submit({ task: 'convert' }, { signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(blocked).rejects.toThrow('stop');
  });
});
