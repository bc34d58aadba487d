import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { run } from '../../../src/cli.js';
import { Output } from '../../../src/ui/output.js';
import { integerInRange, numberInRange } from '../../../src/commands/shared/options.js';
import { renderTable } from '../../../src/ui/table.js';
import { ErrorCode, ExitCode, VoicestudioError } from '../../../src/errors.js';

function capture(isTTY = false, columns = 80): { stream: PassThrough & { isTTY?: boolean; columns?: number }; text: () => string } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  stream.isTTY = isTTY;
  stream.columns = columns;
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { stream, text: () => text };
}

function io(env: NodeJS.ProcessEnv = {}) {
  const stdout = capture();
  const stderr = capture();
  return {
    stdout,
    stderr,
    io: { stdout: stdout.stream, stderr: stderr.stream, stdin: new PassThrough(), env, cwd: process.cwd(), signal: new AbortController().signal },
  };
}

describe('exit codes', () => {
  it('maps a usage error to 2 and help to 0', async () => {
    const bad = io();
    expect(await run(['preprocess', '.', '--sample-rate', 'fast'], bad.io)).toBe(ExitCode.Usage);
    expect(bad.stderr.text()).toMatch(/Allowed choices are 32000, 40000, 48000/);
    const help = io();
    expect(await run(['--help'], help.io)).toBe(ExitCode.Success);
    expect(help.stdout.text()).toMatch(/Usage: voicestudio/);
  });

  it('maps an unknown command to 2', async () => {
    const bad = io();
    expect(await run(['trian'], bad.io)).toBe(ExitCode.Usage);
    expect(bad.stderr.text()).toMatch(/unknown command 'trian'/);
  });
});

describe('Output', () => {
  const options = { json: false, quiet: false, verbose: false, color: true };

  it('prints exactly one JSON document for results and errors under --json', () => {
    const out = capture();
    const err = capture();
    const output = new Output({ ...options, json: true }, { stdout: out.stream, stderr: err.stream }, {});
    output.error(new VoicestudioError(ErrorCode.Config, 'bad thing in x.json', { suggestion: 'fix x.json', subject: 'x.json' }));
    expect(JSON.parse(out.text())).toEqual({ error: { code: 'config', message: 'bad thing in x.json', suggestion: 'fix x.json', subject: 'x.json' } });
    expect(err.text()).toMatch(/error: bad thing in x\.json\n  → fix x\.json/);
  });

  it('is not interactive in CI or a pipe, and draws no colour there', () => {
    const tty = capture(true);
    expect(new Output(options, { stdout: capture().stream, stderr: tty.stream }, { CI: 'true' }).interactive).toBe(false);
    expect(new Output(options, { stdout: capture().stream, stderr: capture(false).stream }, {}).interactive).toBe(false);
    expect(new Output(options, { stdout: capture().stream, stderr: tty.stream }, {}).interactive).toBe(true);
    // A terminal that reports no width gets plain lines: a spinner's redraw there would never end.
    expect(new Output(options, { stdout: capture().stream, stderr: capture(true, 0).stream }, {}).interactive).toBe(false);
    const plain = new Output(options, { stdout: capture().stream, stderr: tty.stream }, { NO_COLOR: '1' });
    expect(plain.style('red', 'x')).toBe('x');
  });

  it('writes plain progress lines off a terminal, and none under --quiet', () => {
    const err = capture();
    const output = new Output(options, { stdout: capture().stream, stderr: err.stream }, {});
    const bar = output.progressBar('ingest', 3);
    bar.update(1, 'a.wav');
    bar.update(1, 'a.wav');
    bar.update(2);
    expect(err.text()).toBe('ingest 1/3 a.wav\ningest 2/3\n');
    const quietErr = capture();
    new Output({ ...options, quiet: true }, { stdout: capture().stream, stderr: quietErr.stream }, {}).progressBar('x', 2).update(1);
    expect(quietErr.text()).toBe('');
  });
});

describe('Output on a terminal', () => {
  const options = { json: false, quiet: false, verbose: false, color: false };

  it('stops the bars before an error: lines logged above them come first, and the process is left no timer', async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const err = capture(true, 100);
    const output = new Output(options, { stdout: capture().stream, stderr: err.stream }, {});
    await output.prepare();
    const timersBefore = timers();
    const bars = output.multiProgress('album', 2);
    bars.task('01 song.wav', 3).update(1, 'converting');
    bars.log('01 song.wav: a line logged just before the failure');
    output.error(new VoicestudioError(ErrorCode.JobFailed, 'RunPod job x ended FAILED.', { suggestion: 'Run it again.' }));
    const text = err.text();
    expect(text.indexOf('a line logged just before the failure')).toBeGreaterThanOrEqual(0);
    expect(text.indexOf('a line logged just before the failure')).toBeLessThan(text.indexOf('error: RunPod job x ended FAILED.'));
    expect(text).toMatch(/\nerror: RunPod job x ended FAILED\.\n {2}→ Run it again\.\n$/);
    // A bar left running keeps a redraw timer: nothing may be written after the error.
    const length = text.length;
    await new Promise((resolve) => setImmediate(resolve));
    expect(timers()).toBe(timersBefore);
    expect(err.text().length).toBe(length);
  });
});

describe('option parsers', () => {
  it('accept only whole numbers in range', () => {
    const jobs = integerInRange(1, 64);
    expect(jobs('8')).toBe(8);
    for (const bad of ['0', '65', '2.5', 'x', '']) expect(() => jobs(bad)).toThrow(/whole number from 1 to 64/);
  });

  it('accept decimals in range', () => {
    const lufs = numberInRange(-40, -10);
    expect(lufs('-23.5')).toBe(-23.5);
    expect(() => lufs('-5')).toThrow(/from -40 to -10/);
  });
});

describe('renderTable', () => {
  it('pads columns and right-aligns numbers', () => {
    expect(renderTable(['name', 'clips'], [['a.wav', 3], ['long-name.wav', 12]])).toBe('name           clips\na.wav              3\nlong-name.wav     12');
  });
});
