/**
 * `train` in a real terminal (a tmux pane), where the progress bar is drawn: when the job ends badly the bar
 * stops before the error is printed and the process exits at once; the first Ctrl-C detaches and exits 130
 * with the whole hint. Through a pipe none of this shows, since no bar is drawn there.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../emulator/runpod-emulator.js';
import { writePhrases } from '../helpers/audio.js';
import { makeTempDir, runCli } from '../helpers/cli.js';
import { hasTmux, openTerminal, type Terminal } from '../helpers/terminal.js';

describe.skipIf(!hasTmux)('train in a terminal', () => {
  let template: string;
  let cleanup: () => Promise<void>;
  let emulator: Emulator;
  const terminals: Terminal[] = [];

  beforeAll(async () => {
    ({ dir: template, cleanup } = await makeTempDir('terminal'));
    await Promise.all([
      writePhrases(path.join(template, 'verse.wav'), { seconds: 40, phraseSec: 8, pauseSec: 1 }),
      writePhrases(path.join(template, 'chorus.wav'), { seconds: 40, phraseSec: 9, pauseSec: 1, frequency: 330 }),
    ]);
    // Training stops after its first epoch and waits forever, with the bar at 1/3 on screen.
    emulator = await startEmulator({ workers: 2, applioFault: 'hang-at-epoch:1' });
  });

  afterEach(async () => {
    while (terminals.length > 0) await terminals.pop()?.close();
  });

  afterAll(async () => {
    await emulator?.stop();
    await cleanup();
  });

  async function trainInTerminal(name: string): Promise<{ terminal: Terminal; project: string }> {
    const project = path.join(template, name);
    await mkdir(project);
    expect((await runCli(['ingest', project, path.join(template, 'verse.wav'), path.join(template, 'chorus.wav')])).exitCode).toBe(0);
    const env = { RUNPOD_API_KEY: emulator.apiKey, RUNPOD_ENDPOINT_ID: emulator.endpointId, RUNPOD_ENDPOINT_BASE_URL: emulator.url, VOICESTUDIO_CONFIG_DIR: path.join(project, '.config') };
    const terminal = await openTerminal(['train', project, '--force', '--name', name, '--epochs', '3', '--save-every', '1'], env);
    terminals.push(terminal);
    await terminal.waitFor(/epoch \[.*\] 1\/3/, 90_000);
    return { terminal, project };
  }

  function runningTraining(name: string): string {
    const job = emulator.jobs().find((j) => j.input.task === 'train' && j.status === 'IN_PROGRESS' && j.running);
    if (job === undefined) throw new Error(`no running training job for ${name}`);
    return job.id;
  }

  it('a job that ends badly: the bar stops, the error stands on its own lines, and the process exits at once', async () => {
    const { terminal } = await trainInTerminal('ended');
    const jobId = runningTraining('ended');
    // Ended from outside, as RunPod's console or its execution timeout would: the job ends CANCELLED.
    const cancelled = await fetch(`${emulator.url}/${emulator.endpointId}/cancel/${jobId}`, { method: 'POST', headers: { Authorization: `Bearer ${emulator.apiKey}` } });
    expect(cancelled.status).toBe(200);
    expect(await terminal.exited()).toBe(1);
    const lines = (await terminal.screen()).split('\n');
    const errorLine = lines.findIndex((line) => line.includes('error:'));
    expect(errorLine, lines.join('\n')).toBeGreaterThan(0);
    expect(lines[errorLine]).toMatch(new RegExp(`^error: .*${jobId}`));
    // The bar's last state stays above it, ended by a newline, not redrawn over the message.
    expect(lines.slice(0, errorLine).some((line) => /^epoch \[.*\] 1\/3/.test(line))).toBe(true);
    expect(lines[errorLine + 1]).toMatch(/^ {2}→ \S/);
  }, 240_000);

  it('the first Ctrl-C detaches and exits 130 with the whole hint', async () => {
    const { terminal } = await trainInTerminal('detached');
    const jobId = runningTraining('detached');
    await terminal.press('C-c');
    expect(await terminal.exited()).toBe(130);
    const screen = await terminal.screen();
    expect(screen).toMatch(new RegExp(`^Detached from job ${jobId}; it keeps running`, 'm'));
    expect(screen).not.toMatch(/error:/);
    // The whole hint: how to collect the job, and how to cancel it, down to its id.
    expect(screen).toMatch(new RegExp(`^ {2}→ Collect it later with: .*jobs .*--cancel ${jobId}\\s*$`, 'm'));
    // The job was left running on the endpoint.
    expect(emulator.jobs().find((j) => j.id === jobId)?.status).toBe('IN_PROGRESS');
  }, 240_000);
});
