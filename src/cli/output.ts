/**
 * Where everything a command says goes: results to stdout, human progress to stderr.
 *
 * `--json` makes stdout carry exactly one JSON document. Spinners and bars appear only when stderr is an
 * interactive terminal; in CI or a pipe the same progress comes out as plain lines.
 */
import { styleText } from 'node:util';
import ora, { type Ora } from 'ora';
import cliProgress from 'cli-progress';
import { VoicestudioError } from '../errors.js';

export interface GlobalOptions {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  color: boolean;
}

export interface OutputStreams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

type Style = Parameters<typeof styleText>[0];

export interface ProgressBar {
  update(done: number, detail?: string): void;
  stop(): void;
}

export class Output {
  readonly options: GlobalOptions;
  /** True when spinners and bars may be drawn: a real terminal on stderr, not CI, not --quiet. */
  readonly interactive: boolean;
  private readonly streams: OutputStreams;
  private readonly colorOn: boolean;
  private spinnerInstance: Ora | undefined;

  constructor(options: GlobalOptions, streams: OutputStreams, env: NodeJS.ProcessEnv) {
    this.options = options;
    this.streams = streams;
    // A TTY that reports no width (some container and CI terminals) cannot host a spinner: redraws would be unbounded.
    const terminal = streams.stderr.isTTY === true && (streams.stderr.columns ?? 0) > 0 && env.TERM !== 'dumb' && !isCi(env);
    this.interactive = terminal && !options.quiet;
    this.colorOn = options.color && env.NO_COLOR === undefined && terminal;
  }

  style(format: Style, text: string): string {
    return this.colorOn ? styleText(format, text, { validateStream: false }) : text;
  }

  /** Progress and narration for a human; silent under --quiet. */
  info(message: string): void {
    if (!this.options.quiet) this.writeErr(message);
  }

  /** Shown even under --quiet: something the user should act on. */
  warn(message: string): void {
    this.writeErr(`${this.style('yellow', 'warning:')} ${message}`);
  }

  debug(message: string): void {
    if (this.options.verbose) this.writeErr(this.style('dim', message));
  }

  /** The command's result: a JSON document under --json, else the human rendering. */
  result(data: unknown, renderHuman: () => string): void {
    if (this.options.json) {
      this.streams.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
      return;
    }
    const text = renderHuman();
    if (text.length > 0) this.streams.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Reports a failure: on stderr for humans, and as the one JSON document under --json. */
  error(error: unknown): void {
    this.stopSpinner();
    const known = error instanceof VoicestudioError ? error : undefined;
    if (this.options.json) {
      const payload = known?.toJSON() ?? { code: 'internal', message: errorMessage(error) };
      this.streams.stdout.write(`${JSON.stringify({ error: payload }, null, 2)}\n`);
    }
    this.writeErr(`${this.style('red', 'error:')} ${errorMessage(error)}`);
    if (known?.suggestion !== undefined) this.writeErr(`  ${this.style('cyan', '→')} ${known.suggestion}`);
    if (this.options.verbose && error instanceof Error) {
      if (error.stack !== undefined) this.writeErr(this.style('dim', error.stack));
      if (error.cause !== undefined) this.writeErr(this.style('dim', `caused by: ${errorMessage(error.cause)}`));
    } else if (known === undefined) {
      this.writeErr('  This is a bug in voicestudio. Re-run with --verbose and report the output.');
    }
  }

  /** One spinner at a time; off a terminal each new text becomes a plain line. */
  spinner(text: string): void {
    if (this.options.quiet) return;
    if (!this.interactive) {
      this.writeErr(text);
      return;
    }
    if (this.spinnerInstance === undefined) {
      this.spinnerInstance = ora({ text, stream: this.streams.stderr as NodeJS.WriteStream, discardStdin: false }).start();
    } else {
      this.spinnerInstance.text = text;
    }
  }

  stopSpinner(finalText?: string): void {
    if (this.spinnerInstance !== undefined) {
      if (finalText === undefined) this.spinnerInstance.stop();
      else this.spinnerInstance.succeed(finalText);
      this.spinnerInstance = undefined;
    } else if (finalText !== undefined) {
      this.info(finalText);
    }
  }

  /**
   * A progress bar over `total` units on a terminal; elsewhere a plain line each time the
   * completed count changes (so CI logs show every step, never a redraw).
   */
  progressBar(label: string, total: number): ProgressBar {
    if (this.options.quiet) return { update() {}, stop() {} };
    if (!this.interactive) {
      let last = -1;
      return {
        update: (done, detail) => {
          if (done === last) return;
          last = done;
          this.writeErr(`${label} ${done}/${total}${detail === undefined ? '' : ` ${detail}`}`);
        },
        stop() {},
      };
    }
    this.stopSpinner();
    const bar = new cliProgress.SingleBar(
      {
        stream: this.streams.stderr as NodeJS.WriteStream,
        format: `${label} [{bar}] {value}/{total} {detail}`,
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { detail: '' });
    return {
      update: (done, detail) => bar.update(done, { detail: detail ?? '' }),
      stop: () => bar.stop(),
    };
  }

  private writeErr(line: string): void {
    if (this.spinnerInstance !== undefined) {
      // Keep the spinner below the log line instead of tearing through it.
      this.spinnerInstance.clear();
      this.streams.stderr.write(`${line}\n`);
      this.spinnerInstance.render();
      return;
    }
    this.streams.stderr.write(`${line}\n`);
  }
}

export function isCi(env: NodeJS.ProcessEnv): boolean {
  return env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
