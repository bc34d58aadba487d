/**
 * A project voicestudio may not write in, a full disk, and a model record cut down by hand: each is named for what
 * it is, with what to do, never "This is a bug".
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTools, writePhrases } from '../helpers/audio.js';
import { makeTempDir, parseJson, runCli } from '../helpers/cli.js';

let root: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTempDir('disk-faults'));
});

afterAll(async () => {
  await cleanup();
});

async function ingestedProject(name: string): Promise<string> {
  const project = path.join(root, name);
  await mkdir(project);
  await writePhrases(path.join(project, 'take.wav'), { seconds: 12, phraseSec: 5, pauseSec: 1 });
  const ingest = await runCli(['ingest', project]);
  expect(ingest.exitCode, ingest.stderr).toBe(0);
  return project;
}

type Failure = { error: { code: string; message: string; suggestion: string } };

/**
 * Makes folders unwritable for this process. Root ignores permission bits, so as root the folders are made immutable
 * (chattr +i); false where neither works (e.g. a filesystem without attributes).
 */
async function lockFolders(folders: string[]): Promise<{ locked: boolean; unlock: () => Promise<void> }> {
  if (process.getuid?.() !== 0) {
    for (const folder of folders) await chmod(folder, 0o555);
    return {
      locked: true,
      unlock: async () => {
        for (const folder of folders) await chmod(folder, 0o755);
      },
    };
  }
  const locked = spawnSync('chattr', ['+i', ...folders]).status === 0;
  return { locked, unlock: async () => void spawnSync('chattr', ['-i', ...folders]) };
}

describe('a project folder that cannot be written', () => {
  it('names the folder and says to make it writable', async (context) => {
    const project = await ingestedProject('read-only');
    const { locked, unlock } = await lockFolders([project, path.join(project, '.voicestudio')]);
    try {
      if (!locked) context.skip();
      const run = await runCli(['preprocess', project, '--json']);
      expect(run.exitCode).toBe(1);
      const { error } = parseJson<Failure>(run);
      expect(error.code).toBe('not_writable');
      expect(error.message).toMatch(new RegExp(`^The folder ${project.replaceAll('/', '\\/')}(\\/\\.voicestudio)? is not writable \\(E(ACCES|PERM)`));
      expect(error.suggestion).toMatch(/writable/);
      expect(run.stderr).not.toContain('This is a bug');
    } finally {
      await unlock();
    }
  });
});

describe('a full disk', () => {
  it('is named as such, not as audio FFmpeg could not decode', async (context) => {
    const disk = path.join(root, 'tiny-disk');
    await mkdir(disk);
    // A 1 MiB disk: the project's folders fit, a working copy of 30 s of stereo noise does not.
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', disk]).status !== 0) context.skip();
    try {
      const take = path.join(root, 'noise.wav');
      await execa((await testTools()).ffmpeg.path, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'anoisesrc=d=30:c=pink:a=0.3', '-ac', '2', '-ar', '44100', take]);
      const run = await runCli(['ingest', disk, take, '--json']);
      expect(run.exitCode).toBe(1);
      const { error } = parseJson<Failure>(run);
      expect(error.code).toBe('disk_full');
      expect(error.message).toContain(`The disk holding ${disk}`);
      expect(error.message).toContain('is full (ENOSPC)');
      expect(error.suggestion).toMatch(/Free some space/);
      expect(run.stderr).not.toMatch(/could not decode|This is a bug/);
    } finally {
      spawnSync('umount', [disk]);
    }
  });
});

describe('a model record with only a name and a version', () => {
  it('is listed and shown, and naming it for a conversion says what is missing', async () => {
    const project = await ingestedProject('cut-down-model');
    const file = path.join(project, 'voicestudio.json');
    const manifest = JSON.parse(await readFile(file, 'utf8')) as { models: unknown[] };
    manifest.models = [{ name: 'bob', version: 1 }];
    await writeFile(file, JSON.stringify(manifest));
    const list = await runCli(['models', 'list', '-p', project]);
    expect(list.exitCode, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/bob@1 .*no \.pth recorded/);
    const show = await runCli(['models', 'show', 'bob', '-p', project]);
    expect(show.exitCode, show.stderr).toBe(0);
    expect(show.stdout).toContain('no .pth recorded');
    const convert = await runCli(['convert', path.join(project, 'take.wav'), '-m', 'bob', '-p', project, '--json']);
    expect(convert.exitCode).toBe(1);
    expect(parseJson<Failure>(convert).error).toMatchObject({ code: 'model_missing', message: expect.stringContaining('names no .pth file') });
  });
});
