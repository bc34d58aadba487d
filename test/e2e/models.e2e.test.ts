/**
 * `models show` says what an imported model's .pth says (epochs, sample rate); `models rm` deletes files: it asks at
 * a terminal, and refuses in a pipe unless --yes says so.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { execa } from 'execa';
import { makeTempDir, parseJson, REPO_ROOT, runCli } from '../helpers/cli.js';
import { hasTmux, openTerminal, type Terminal } from '../helpers/terminal.js';

let dir: string;
let project: string;
let cleanup: () => Promise<void>;
const terminals: Terminal[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('models'));
  project = path.join(dir, 'project');
  await mkdir(project);
  const pth = path.join(dir, 'singer.pth');
  await writeFile(pth, 'not read by models rm');
  for (let i = 0; i < 3; i++) expect((await runCli(['models', 'import', pth, '--name', 'alice', '-p', project])).exitCode).toBe(0);
});

afterEach(async () => {
  while (terminals.length > 0) await terminals.pop()?.close();
});

afterAll(async () => {
  await cleanup();
});

it('models show reads epochs and sample rate from an imported .pth', async () => {
  // A model laid out like Applio's extract_model output, by the worker tests' own helper.
  const made = await execa('python3', ['-c', 'import sys\nfrom tests.test_convert import model_bytes\nmodel_bytes(sys.argv[1], sample_rate=48000, name="bob", epochs=420)', dir], { cwd: path.join(REPO_ROOT, 'gpu') });
  expect(made.exitCode).toBe(0);
  expect((await runCli(['models', 'import', path.join(dir, 'bob-48000-contentvec-420.pth'), '--name', 'bob', '-p', project])).exitCode).toBe(0);
  const shown = await runCli(['models', 'show', 'bob', '-p', project]);
  expect(shown.exitCode, shown.stderr).toBe(0);
  expect(shown.stdout).toMatch(/^ {2}the \.pth says {2}420 epochs, 48000 Hz, v2, pitch-guided, HiFi-GAN, contentvec$/m);
  const json = parseJson<{ name: string; fromPth: Record<string, unknown> }>(await runCli(['models', 'show', 'bob', '-p', project, '--json']));
  expect(json).toMatchObject({ name: 'bob', fromPth: { epochs: 420, sampleRate: 48000 } });
});

async function versions(): Promise<number[]> {
  return parseJson<{ name: string; version: number }[]>(await runCli(['models', 'list', '-p', project, '--json'])).filter((m) => m.name === 'alice').map((m) => m.version);
}

it('refuses without a terminal unless --yes is given, and deletes nothing', async () => {
  const refused = await runCli(['models', 'rm', 'alice@1', '-p', project]);
  expect(refused.exitCode).toBe(2);
  expect(refused.stderr).toMatch(/Not confirmed: Remove alice@1 /);
  expect(refused.stderr).toMatch(/--yes/);
  expect(await versions()).toEqual([1, 2, 3]);
  expect((await stat(path.join(project, 'models', 'alice', 'v1'))).isDirectory()).toBe(true);

  const removed = await runCli(['models', 'rm', 'alice@1', '-p', project, '--yes']);
  expect(removed.exitCode, removed.stderr).toBe(0);
  expect(await versions()).toEqual([2, 3]);
  await expect(stat(path.join(project, 'models', 'alice', 'v1'))).rejects.toThrow(/ENOENT/);
});

it.skipIf(!hasTmux)('asks at a terminal: "n" keeps the model, "y" removes it', async () => {
  const declined = await openTerminal(['models', 'rm', 'alice@2', '-p', project], {});
  terminals.push(declined);
  await declined.waitFor(/Remove alice@2 and its files from .*\? \[y\/N\] $/m);
  await declined.press('n');
  await declined.press('Enter');
  expect(await declined.exited()).toBe(0);
  expect(await declined.screen()).toMatch(/^Nothing removed\.$/m);
  expect(await versions()).toEqual([2, 3]);

  const accepted = await openTerminal(['models', 'rm', 'alice@2', '-p', project], {});
  terminals.push(accepted);
  await accepted.waitFor(/\[y\/N\] $/m);
  await accepted.press('y');
  await accepted.press('Enter');
  expect(await accepted.exited()).toBe(0);
  expect(await accepted.screen()).toMatch(/^removed alice@2$/m);
  expect(await versions()).toEqual([3]);
});
