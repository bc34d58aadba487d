/**
 * The evaluation set through bin/voicestudio: preprocess holds a few clips out of training for audition, from several
 * sources and both kinds, marks them on the report page, leaves them out of what train would pack, and
 * --no-holdout (remembered like every preprocess setting) trains on them again.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PreprocessResult } from '../../src/workflows/preprocess.js';
import type { Manifest } from '../../src/project/types.js';
import { writePhrases } from '../helpers/audio.js';
import { makeTempDir, parseJson, runCli } from '../helpers/cli.js';

let root: string;
let cleanup: () => Promise<void>;
let project: string;

const manifestOf = async (): Promise<Manifest> => JSON.parse(await readFile(path.join(project, 'voicestudio.json'), 'utf8')) as Manifest;

async function preprocess(...args: string[]): Promise<PreprocessResult> {
  const run = await runCli(['preprocess', project, ...args, '--json']);
  expect(run.exitCode, run.stderr).toBe(0);
  return parseJson<PreprocessResult>(run);
}

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTempDir('holdout'));
  project = path.join(root, 'vocals');
  await mkdir(path.join(project, 'takes'), { recursive: true });
  await mkdir(path.join(project, 'talk'), { recursive: true });
  // 8 s phrases: a clip each. Three sung takes and a spoken one, 45 clips in all.
  await Promise.all([
    writePhrases(path.join(project, 'takes', 'verse.wav'), { seconds: 110, phraseSec: 8, pauseSec: 1 }),
    writePhrases(path.join(project, 'takes', 'chorus.wav'), { seconds: 110, phraseSec: 8, pauseSec: 1, frequency: 330 }),
    writePhrases(path.join(project, 'takes', 'bridge.wav'), { seconds: 100, phraseSec: 8, pauseSec: 1, frequency: 262 }),
    writePhrases(path.join(project, 'talk', 'interview.wav'), { seconds: 90, phraseSec: 8, pauseSec: 1, frequency: 180 }),
  ]);
  for (const args of [['ingest', project, path.join(project, 'takes')], ['ingest', project, path.join(project, 'talk'), '--kind', 'speech']]) {
    const run = await runCli([...args, '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
  }
});

afterAll(async () => {
  await cleanup();
});

describe('held-out clips', () => {
  it('are about 5 % of the clips, from several sources and both kinds, and not in training', async () => {
    const result = await preprocess();
    const manifest = await manifestOf();
    const total = manifest.segments.length;
    expect(total).toBeGreaterThanOrEqual(40);
    const held = manifest.segments.filter((s) => manifest.preprocess.heldOut.includes(s.id));
    expect(held).toHaveLength(Math.max(3, Math.round(total * 0.05)));
    expect(result.heldOut.clips).toBe(held.length);
    expect(result.heldOut.seconds).toBeCloseTo(held.reduce((sum, s) => sum + s.endSec - s.startSec, 0), 3);
    const kindOf = new Map(manifest.sources.map((s) => [s.id, s.kind]));
    expect(new Set(held.map((s) => s.sourceId)).size).toBeGreaterThanOrEqual(2);
    expect(held.some((s) => kindOf.get(s.sourceId) === 'speech')).toBe(true);
    expect(held.some((s) => kindOf.get(s.sourceId) === 'singing')).toBe(true);

    // train --dry-run counts only the clips it would pack.
    const dry = await runCli(['train', project, '--force', '--dry-run', '--json']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(parseJson<{ dataset: { clips: number } }>(dry).dataset.clips).toBe(total - held.length);

    const page = await readFile(result.htmlReportFile, 'utf8');
    expect(page.match(/held out for audition/g)?.length).toBe(held.length);

    const human = await runCli(['preprocess', project]);
    expect(human.stdout).toContain(`held out for audition: ${held.length} clips`);
  });

  it('are the same clips on a re-run, and --no-holdout (remembered) trains on every clip', async () => {
    const before = (await manifestOf()).preprocess.heldOut;
    await preprocess();
    expect((await manifestOf()).preprocess.heldOut).toEqual(before);

    const off = await preprocess('--no-holdout');
    expect(off.heldOut).toEqual({ clips: 0, seconds: 0 });
    expect(off.settings.holdout).toBe(false);
    const again = await preprocess();
    expect(again.settings.holdout).toBe(false);
    const manifest = await manifestOf();
    expect(manifest.preprocess.heldOut).toEqual([]);
    const dry = await runCli(['train', project, '--force', '--dry-run', '--json']);
    expect(parseJson<{ dataset: { clips: number } }>(dry).dataset.clips).toBe(manifest.segments.length);

    expect((await preprocess('--holdout')).heldOut.clips).toBe(before.length);
    expect((await manifestOf()).preprocess.heldOut).toEqual(before);
  });
});
