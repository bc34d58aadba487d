/** Batch plan files: their schema (from the settings tables) and error messages that name the file, track and field. */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { parsePlan, readPlan } from '../../../src/tasks/plan.js';
import { makeTempDir } from '../../helpers/cli.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('plan'));
});

afterAll(async () => {
  await cleanup();
});

function problemsOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as UsageError).message;
  }
  throw new Error('expected a UsageError');
}

describe('plan files', () => {
  it('reads tracks (objects or bare paths), defaults and mix settings; paths resolve against the plan', () => {
    const plan = parsePlan(
      JSON.stringify({
        version: 1,
        defaults: { pitch: -2, separate: true, mix: { targetLufs: -16 } },
        tracks: [
          '01 intro.wav',
          { input: 'sub/02 verse.flac', output: 'Verse', pitch: 3, indexRate: 0.5, f0Method: 'fcpe', format: 'flac', mix: false },
          { input: '/abs/03.wav', separate: false, instrumental: 'stems/03 inst.wav', mix: { vocalsGain: 1.5, eq: '120:-3', rate: 48000, format: 'mp3' } },
          { input: '04.wav', mix: { eq: [{ freq: 3000, gain: 2, q: 2 }], deesser: true, compressor: true, reverb: 0.2, shiftInstrumental: true } },
        ],
      }),
      '/albums/x/album.json',
    );
    expect(plan.file).toBe('/albums/x/album.json');
    expect(plan.defaults).toEqual({ pitch: -2, separate: true, mix: true, mixSettings: { targetLufs: -16 } });
    expect(plan.tracks.map((t) => t.input)).toEqual(['/albums/x/01 intro.wav', '/albums/x/sub/02 verse.flac', '/abs/03.wav', '/albums/x/04.wav']);
    expect(plan.tracks[1]).toMatchObject({ output: 'Verse', patch: { pitch: 3, indexRate: 0.5, f0Method: 'fcpe', format: 'flac', mix: false } });
    expect(plan.tracks[2]?.patch).toEqual({ separate: false, instrumental: '/albums/x/stems/03 inst.wav', mix: true, mixSettings: { vocalsGain: 1.5, eq: [{ freq: 120, gain: -3, q: 1 }], rate: 48000, format: 'mp3' } });
    expect(plan.tracks[3]?.patch.mixSettings).toMatchObject({ eq: [{ freq: 3000, gain: 2, q: 2 }], deesser: true, compressor: true, reverb: 0.2, shiftInstrumental: true });
  });

  it('lists every problem, each with the track index, the field and the input', () => {
    const message = problemsOf(() =>
      parsePlan(
        JSON.stringify({
          version: 2,
          defaults: { pitch: 1.5 },
          tracks: [
            { input: 'a.wav', pich: 3, indexRate: 2, f0Method: 'harvest' },
            { input: 'b.wav', mix: { vocalsGain: 'loud', rat: 1, eq: '100' }, separate: 'yes' },
            { output: '../escape' },
            42,
            { input: 'c.wav', mix: 'please' },
          ],
          extra: true,
        }),
        '/p/album.json',
      ),
    );
    expect(message).toMatch(/^album\.json has 14 problems:/);
    for (const line of [
      'extra: unknown field',
      'version: must be 1, got 2',
      'defaults.pitch: must be a whole number from -24 to 24, got 1.5',
      'tracks[0].pich (a.wav): unknown field (did you mean "pitch"?)',
      'tracks[0].indexRate (a.wav): must be a number from 0 to 1, got 2',
      'tracks[0].f0Method (a.wav): must be one of "rmvpe", "fcpe", "crepe", "crepe-tiny", got "harvest"',
      'tracks[1].mix.rat (b.wav): unknown field (did you mean "rate"?)',
      'tracks[1].mix.vocalsGain (b.wav): must be a number from -60 to 24, got "loud"',
      'tracks[1].mix.eq (b.wav): is not valid: band 1 ("100") is not FREQ:GAIN',
      'tracks[1].separate (b.wav): must be true or false, got "yes"',
      'tracks[2].input: is required',
      'tracks[2].output: must be a file name inside --out-dir',
      'tracks[3]: must be an object {"input": "<file>", ...} or a path, got 42',
      'tracks[4].mix (c.wav): must be true, false or an object of mix settings',
    ]) {
      expect(message).toContain(line);
    }
  });

  it('rejects what is not a plan at all', () => {
    expect(problemsOf(() => parsePlan('{"tracks": [', 'a.json'))).toMatch(/^a\.json: not valid JSON/);
    expect(problemsOf(() => parsePlan('[]', 'a.json'))).toMatch(/must be a JSON object with a "tracks" list/);
    expect(problemsOf(() => parsePlan('{"tracks": []}', 'a.json'))).toMatch(/tracks: must be a non-empty list/);
    expect(problemsOf(() => parsePlan('{"tracks": [{"input": "a.wav", "output": "/abs/x"}]}', 'a.json'))).toMatch(/tracks\[0\]\.output \(a\.wav\): must be a name inside --out-dir, not an absolute path/);
  });

  it('names a missing plan file', async () => {
    await expect(readPlan(path.join(dir, 'nope.json'))).rejects.toThrow(/--plan .*nope\.json: no such file/);
    await expect(readPlan(dir)).rejects.toThrow(/is a folder, not a plan file/);
  });
});
