/** Command-line conventions every command follows: help, version, usage errors, --json, config, doctor. */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writePhrases } from '../helpers/audio.js';
import { BIN, makeTempDir, parseJson, REPO_ROOT, runCli } from '../helpers/cli.js';

let configDir: string;
let cleanup: () => Promise<void>;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  ({ dir: configDir, cleanup } = await makeTempDir('config'));
  // A private config dir, and no RunPod variables from the developer's shell.
  env = { VOICESTUDIO_CONFIG_DIR: configDir, RUNPOD_API_KEY: '', RUNPOD_ENDPOINT_ID: '' };
});

afterAll(async () => {
  await cleanup();
});

describe('help and version', () => {
  it('prints the version from package.json', async () => {
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const run = await runCli(['--version']);
    expect(run).toMatchObject({ exitCode: 0, stdout: `${pkg.version}\n` });
  });

  it('prints the version as one JSON document under --json, whichever comes first', async () => {
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const args of [['--version', '--json'], ['--json', '--version'], ['-V', '--json']]) {
      const run = await runCli(args);
      expect(run.exitCode).toBe(0);
      expect(parseJson(run)).toStrictEqual({ version: pkg.version });
    }
  });

  it('lists the commands, the exit codes and the environment', async () => {
    const run = await runCli(['--help']);
    expect(run.exitCode).toBe(0);
    for (const command of ['ingest', 'preprocess', 'config', 'doctor']) expect(run.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    expect(run.stdout).toMatch(/3 +partial success/);
    expect(run.stdout).toMatch(/130 +interrupted/);
    expect(run.stdout).toMatch(/RUNPOD_ENDPOINT_BASE_URL/);
  });

  it('stops quietly, exit code 0, when the reader of its output closes the pipe early (| head)', async () => {
    // stdout is a pipe whose reader has gone before anything is written: every write fails with EPIPE.
    const child = spawn(process.execPath, [BIN, 'ingest', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'close')) as [number | null];
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it.each(['ingest', 'preprocess', 'config', 'doctor'])('%s --help shows examples', async (command) => {
    const run = await runCli([command, '--help']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/Examples:\n +\$ voicestudio /);
  });
});

describe('usage errors exit 2', () => {
  it('for an unknown option, on stderr', async () => {
    const run = await runCli(['ingest', '.', '--bogus']);
    expect(run.exitCode).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/unknown option '--bogus'/);
  });

  it('for a bad choice, as one JSON document under --json', async () => {
    const run = await runCli(['preprocess', '.', '--sample-rate', '44100', '--json']);
    expect(run.exitCode).toBe(2);
    expect(parseJson<{ error: { code: string; message: string } }>(run).error).toMatchObject({ code: 'usage', message: expect.stringContaining('44100') });
  });

  it('for a value out of range', async () => {
    const run = await runCli(['ingest', '.', '--jobs', '0']);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/whole number from 1 to 64/);
  });
});

describe('config', () => {
  it('sets, gets and lists settings with their source', async () => {
    expect((await runCli(['config', 'set', 'endpoint-id', 'abc123'], { env })).exitCode).toBe(0);
    expect(await runCli(['config', 'get', 'endpoint-id'], { env })).toMatchObject({ exitCode: 0, stdout: 'abc123\n' });
    const fromEnv = await runCli(['config', 'get', 'endpoint-id', '--json'], { env: { ...env, RUNPOD_ENDPOINT_ID: 'fromenv' } });
    expect(parseJson(fromEnv)).toMatchObject({ value: 'fromenv', source: 'env' });
    const list = parseJson<{ key: string; value: unknown; source: string }[]>(await runCli(['config', 'list', '--json'], { env }));
    expect(list).toContainEqual(expect.objectContaining({ key: 'gpu-price-per-hour', value: 0.34, source: 'default' }));
  });

  it('rejects bad values and unknown keys as usage errors', async () => {
    const bad = await runCli(['config', 'set', 'concurrency', 'many'], { env });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/concurrency: "many" is not a whole number/);
    const unknown = await runCli(['config', 'get', 'colour'], { env });
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/Settings are: endpoint-id/);
  });

  it('reads the API key from stdin, stores it 0600, and never prints it', async () => {
    const key = 'rpa_TESTKEY1234567890SECRET';
    const set = await runCli(['config', 'set', 'api-key'], { env, input: `${key}\n` });
    expect(set.exitCode, set.stderr).toBe(0);
    const credentials = path.join(configDir, 'credentials.json');
    expect((await stat(credentials)).mode & 0o777).toBe(0o600);
    const list = await runCli(['config', 'list'], { env });
    const doctor = await runCli(['doctor', '--json'], { env });
    for (const run of [set, list, doctor]) expect(run.stdout + run.stderr).not.toContain(key);
    expect(list.stdout).toMatch(/api-key +rpa…CRET +file/);
    const onCommandLine = await runCli(['config', 'set', 'api-key', key], { env });
    expect(onCommandLine.exitCode).toBe(2);
    expect(onCommandLine.stderr).toMatch(/not taken on the command line/);
  });

  it('prints where settings live', async () => {
    const run = await runCli(['config', 'path'], { env });
    expect(run.stdout.split('\n')[0]).toBe(path.join(configDir, 'config.json'));
  });
});

describe('doctor', () => {
  it('reports FFmpeg, Node and credentials as JSON', async () => {
    const run = await runCli(['doctor', '--json'], { env });
    const report = parseJson<{ ok: boolean; checks: { name: string; status: string; detail: string }[] }>(run);
    expect(run.exitCode).toBe(report.ok ? 0 : 1);
    expect(report.checks.find((c) => c.name === 'node')?.status).toBe('ok');
    expect(report.checks.find((c) => c.name === 'ffmpeg')?.detail).toMatch(/ffmpeg version/);
  });

  it('rejects an FFMPEG_PATH that is not a program, naming the variable', async () => {
    const run = await runCli(['doctor'], { env: { ...env, FFMPEG_PATH: '/nonexistent/ffmpeg' } });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toMatch(/FAIL +ffmpeg +FFMPEG_PATH points to \/nonexistent\/ffmpeg/);
  });
});

describe('without FFmpeg installed', () => {
  it('uses the bundled binaries for doctor, ingest and preprocess', async () => {
    // PATH holds only node's own folder: no system ffmpeg/ffprobe can be found.
    const bare = { ...env, PATH: path.dirname(process.execPath), FFMPEG_PATH: '', FFPROBE_PATH: '' };
    const doctor = parseJson<{ checks: { name: string; detail: string }[] }>(await runCli(['doctor', '--json'], { env: bare }));
    expect(doctor.checks.find((c) => c.name === 'ffmpeg')?.detail).toMatch(/\(bundled\)/);
    expect(doctor.checks.find((c) => c.name === 'ffprobe')?.detail).toMatch(/\(bundled\)/);

    const { dir, cleanup: done } = await makeTempDir('bundled');
    await mkdir(dir, { recursive: true });
    await writePhrases(path.join(dir, 'take.wav'), { seconds: 20, phraseSec: 6, pauseSec: 1 });
    const ingest = await runCli(['ingest', dir, '--json'], { env: bare });
    expect(ingest.exitCode, ingest.stderr).toBe(0);
    const preprocess = await runCli(['preprocess', dir, '--json'], { env: bare });
    expect(preprocess.exitCode, preprocess.stderr).toBe(0);
    expect(parseJson<{ report: { total: { clips: { count: number } } } }>(preprocess).report.total.clips.count).toBeGreaterThanOrEqual(2);
    await done();
  });
});

describe('hints that work when followed', () => {
  it('a project folder that does not exist is named as such, with no hint to ingest it (that would fail too)', async () => {
    const { dir, cleanup: done } = await makeTempDir('hints');
    try {
      const missing = path.join(dir, 'nope');
      const run = await runCli(['preprocess', missing, '--json'], { env });
      expect(run.exitCode).toBe(1);
      const { error } = parseJson<{ error: { code: string; message: string; suggestion: string } }>(run);
      expect(error).toMatchObject({ code: 'project_missing', message: `${missing} does not exist.` });
      expect(error.suggestion).not.toContain(`ingest ${missing}`);
      const ingest = await runCli(['ingest', missing], { env });
      expect(ingest.exitCode).not.toBe(0); // why the hint must not send the user there
    } finally {
      await done();
    }
  });

  it('a file given for the project folder is a usage error naming the folder expected', async () => {
    const { dir, cleanup: done } = await makeTempDir('hints');
    try {
      const file = path.join(dir, 'take.wav');
      await writePhrases(file, { seconds: 2, phraseSec: 1, pauseSec: 0.5 });
      for (const args of [['preprocess', file], ['jobs', file], ['cost', file]]) {
        const run = await runCli([...args, '--json'], { env });
        expect(run.exitCode, args.join(' ')).toBe(2);
        expect(parseJson<{ error: { code: string; message: string; suggestion: string } }>(run).error).toMatchObject({
          code: 'usage',
          message: `${file} is not a folder: a project is the folder that holds voicestudio.json.`,
          suggestion: `Give the project folder instead, e.g. ${dir}.`,
        });
        expect(run.stderr).not.toContain('This is a bug');
      }
    } finally {
      await done();
    }
  });

  it('a hint naming a folder with spaces, quotes and # can be pasted into a shell as it is', async () => {
    const { dir, cleanup: done } = await makeTempDir('hints');
    try {
      const project = path.join(dir, `Ann's "demo" #1`);
      await mkdir(project);
      await writePhrases(path.join(project, 'take.wav'), { seconds: 6, phraseSec: 2, pauseSec: 0.5 });
      const run = await runCli(['preprocess', project, '--json'], { env });
      expect(run.exitCode).toBe(1);
      const { suggestion } = parseJson<{ error: { suggestion: string } }>(run).error;
      const command = /voicestudio (ingest .*)$/.exec(suggestion)?.[1];
      expect(command, suggestion).toBeDefined();
      // The shell splits the hint's arguments exactly as the user's shell would.
      const pasted = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" ${command!} --json`], { env: { ...process.env, ...env }, encoding: 'utf8' });
      expect(pasted.status, pasted.stderr).toBe(0);
      expect(JSON.parse(pasted.stdout)).toMatchObject({ project });
    } finally {
      await done();
    }
  });

  it('convert -m NAME without -p says that -p names the project holding the model', async () => {
    const { dir, cleanup: done } = await makeTempDir('hints');
    try {
      const guide = path.join(dir, 'guide.wav');
      await writePhrases(guide, { seconds: 2, phraseSec: 1, pauseSec: 0.5 });
      const run = await runCli(['convert', guide, '-m', 'bob', '--json'], { env, cwd: dir });
      expect(run.exitCode).toBe(1);
      expect(parseJson<{ error: { code: string; suggestion: string } }>(run).error).toMatchObject({ code: 'model_missing', suggestion: expect.stringContaining('-p <project>') });
    } finally {
      await done();
    }
  });
});
