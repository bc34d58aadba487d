/**
 * A real pseudo-terminal for end-to-end tests: bin/voicestudio runs in a tmux pane (120×40) on a private tmux
 * server, so it sees a TTY on stdin, stdout and stderr exactly as in a user's shell. Tests wait on events
 * (text appearing on the screen, the process exiting), never on fixed delays.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { execa } from 'execa';
import { BIN } from './cli.js';

const EXIT_MARK = '[voicestudio exited ';

/** Whether tmux is installed; the terminal tests are skipped without it, and say so. */
export const hasTmux = await execa('tmux', ['-V'], { reject: false }).then((result) => result.exitCode === 0, () => false);
if (!hasTmux) console.warn('terminal tests skipped: no tmux on PATH; install it with "apt-get install tmux".');

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

export interface Terminal {
  /** What the pane shows now, scrollback included, lines joined where the terminal wrapped them. */
  screen(): Promise<string>;
  /** Resolves with the screen once `pattern` appears on it; rejects after `timeoutMs` with the screen. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Keys as tmux names them ('C-c'). */
  press(key: string): Promise<void>;
  /** Resolves with the exit code once voicestudio has exited; rejects after `timeoutMs` (a hang) with the screen. */
  exited(timeoutMs?: number): Promise<number>;
  close(): Promise<void>;
}

/** Starts `voicestudio ARGS` in a new terminal, interactive (no CI, a real TERM), with `env` added. */
export async function openTerminal(args: string[], env: NodeJS.ProcessEnv): Promise<Terminal> {
  const socket = `vs-${randomUUID()}`;
  const channel = 'voicestudio-exited';
  const tmux = (...tmuxArgs: string[]) => execa('tmux', ['-L', socket, '-f', '/dev/null', ...tmuxArgs], { env: { TMUX: '' } });
  const assignments = Object.entries({ TERM: 'xterm-256color', NO_COLOR: '1', ...env }).map(([key, value]) => `${key}=${shellQuote(value ?? '')}`);
  // The exit code is written on the screen and the channel is signalled; the shell then stays so the screen can be read.
  const command =
    `env -u CI ${assignments.join(' ')} ${shellQuote(process.execPath)} ${shellQuote(BIN)} ${args.map(shellQuote).join(' ')}; ` +
    `echo "${EXIT_MARK}$?]"; tmux -L ${socket} wait-for -S ${channel}; exec sleep 86400`;
  await tmux('new-session', '-d', '-x', '120', '-y', '40', '-s', 'vs', command);
  const screen = async () => (await tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'vs')).stdout;
  const failWithScreen = async (what: string): Promise<never> => {
    throw new Error(`${what}; the terminal shows:\n${await screen()}`);
  };
  return {
    screen,
    async waitFor(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const text = await screen();
        if (pattern.test(text)) return text;
        if (Date.now() > deadline) return failWithScreen(`${String(pattern)} did not appear within ${timeoutMs} ms`);
        // tmux has no "screen changed" event to wait on: look again shortly.
        await delay(50);
      }
    },
    async press(key) {
      await tmux('send-keys', '-t', 'vs', key);
    },
    async exited(timeoutMs = 60_000) {
      const waited = await execa('tmux', ['-L', socket, 'wait-for', channel], { env: { TMUX: '' }, timeout: timeoutMs, reject: false });
      if (waited.timedOut || waited.exitCode !== 0) return failWithScreen(`voicestudio did not exit within ${timeoutMs} ms`);
      const text = await screen();
      const mark = text.lastIndexOf(EXIT_MARK);
      if (mark < 0) return failWithScreen("voicestudio's exit code is not on the screen");
      return Number.parseInt(text.slice(mark + EXIT_MARK.length), 10);
    },
    async close() {
      await tmux('kill-server').catch(() => {});
    },
  };
}
