/**
 * Where everything a command says goes: results to stdout, human progress to stderr.
 *
 * `--json` makes stdout carry exactly one JSON document. Spinners and bars appear only when stderr is an
 * interactive terminal; in CI or a pipe the same progress comes out as plain lines. At most one of them is drawn
 * at a time, and it is stopped before an error is printed, on Ctrl-C and when the command ends: a live widget
 * redraws its line on a timer, which would write over the message and keep the process from exiting.
 */
import { styleText } from 'node:util';
import type { Ora } from 'ora';
import { ExitCode, VoicestudioError } from '../errors.js';

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

export interface MultiProgress {
  /** A bar for one running task (e.g. a track) over `steps`; stop() removes it. */
  task(label: string, steps: number): ProgressBar;
  /** The overall bar. */
  overall(done: number, detail?: string): void;
  /** A line above the bars (a plain line off a terminal). */
  log(line: string): void;
  stop(): void;
}

/** The spinner, bar or set of bars drawn now. */
interface LiveWidget {
  /** Writes a line above the widget, which stays drawn below it. */
  print(line: string): void;
  stop(): void;
}

export class Output {
  readonly options: GlobalOptions;
  /** True when spinners and bars may be drawn: a real terminal on stderr, not CI, not --quiet. */
  readonly interactive: boolean;
  private readonly streams: OutputStreams;
  private readonly colorOn: boolean;
  private spinnerInstance: Ora | undefined;
  private live: LiveWidget | undefined;
  /** Loaded by prepare() for interactive terminals only: nobody else pays for them (start-up time). */
  private widgets: { ora: typeof import('ora').default; cliProgress: typeof import('cli-progress') } | undefined;

  /** `signal`: Ctrl-C, on which the widget drawn is stopped at once, before anything else is printed. */
  constructor(options: GlobalOptions, streams: OutputStreams, env: NodeJS.ProcessEnv, signal?: AbortSignal) {
    this.options = options;
    this.streams = streams;
    // A TTY that reports no width (some container and CI terminals) cannot host a spinner: redraws would be unbounded.
    const terminal = streams.stderr.isTTY === true && (streams.stderr.columns ?? 0) > 0 && env.TERM !== 'dumb' && !isCi(env);
    this.interactive = terminal && !options.quiet;
    this.colorOn = options.color && env.NO_COLOR === undefined && terminal;
    signal?.addEventListener('abort', () => this.close(), { once: true });
  }

  /** Loads the spinner and bar libraries when they will be drawn. Call before the command runs. */
  async prepare(): Promise<void> {
    if (!this.interactive || this.widgets !== undefined) return;
    const [oraModule, cliProgress] = await Promise.all([import('ora'), import('cli-progress')]);
    this.widgets = { ora: oraModule.default, cliProgress: cliProgress.default ?? cliProgress };
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
    this.close();
    const known = error instanceof VoicestudioError ? error : undefined;
    if (this.options.json) {
      const payload = known?.toJSON() ?? { code: 'internal', message: errorMessage(error) };
      this.streams.stdout.write(`${JSON.stringify({ error: payload }, null, 2)}\n`);
    }
    // An interruption (a detach included) is what the user asked for, not a failure.
    const label = known?.exitCode === ExitCode.Interrupted ? '' : `${this.style('red', 'error:')} `;
    this.writeErr(`${label}${errorMessage(error)}`);
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
    if (this.widgets === undefined) {
      this.writeErr(text);
      return;
    }
    if (this.spinnerInstance !== undefined) {
      this.spinnerInstance.text = text;
      return;
    }
    this.close();
    const spinner = this.widgets.ora({ text, stream: this.streams.stderr as NodeJS.WriteStream, discardStdin: false }).start();
    this.spinnerInstance = spinner;
    this.live = {
      print: (line) => {
        // Keep the spinner below the log line instead of tearing through it.
        spinner.clear();
        this.streams.stderr.write(`${line}\n`);
        spinner.render();
      },
      stop: () => {
        spinner.stop();
        this.spinnerInstance = undefined;
      },
    };
  }

  stopSpinner(finalText?: string): void {
    const spinner = this.spinnerInstance;
    if (spinner !== undefined) {
      this.close();
      if (finalText !== undefined) spinner.succeed(finalText);
    } else if (finalText !== undefined) {
      this.info(finalText);
    }
  }

  /** Stops the spinner or bars drawn now, leaving their last state on screen. Safe to call at any time. */
  close(): void {
    const live = this.live;
    this.live = undefined;
    live?.stop();
  }

  /** Draws `widget` as the live one (stopping the previous); its stop() stops it only while it is still live. */
  private goLive(widget: LiveWidget): () => void {
    this.close();
    this.live = widget;
    return () => {
      if (this.live === widget) this.close();
    };
  }

  /**
   * A progress bar over `total` units on a terminal; elsewhere a plain line each time the completed count
   * changes (so CI logs show every step, never a redraw), or with `eachEvent`, each time the detail changes
   * too (one line per stage of each item, e.g. "preprocess 0/3 cutting take.wav").
   */
  progressBar(label: string, total: number, { eachEvent = false }: { eachEvent?: boolean } = {}): ProgressBar {
    if (this.options.quiet) return { update() {}, stop() {} };
    if (this.widgets === undefined) {
      let last: { done: number; detail: string | undefined } | undefined;
      return {
        update: (done, detail) => {
          if (last !== undefined && done === last.done && (!eachEvent || detail === last.detail)) return;
          last = { done, detail };
          this.writeErr(`${label} ${done}/${total}${detail === undefined ? '' : ` ${detail}`}`);
        },
        stop() {},
      };
    }
    const { cliProgress } = this.widgets;
    const bar = new cliProgress.SingleBar(
      {
        stream: this.streams.stderr as NodeJS.WriteStream,
        format: `${label} [{bar}] {value}/{total} {detail}`,
        hideCursor: true,
        clearOnComplete: false,
        forceRedraw: true,
      },
      cliProgress.Presets.shades_classic,
    );
    const stop = this.goLive({
      // The bar redraws on its next tick (forceRedraw) below the line.
      print: (line) => this.streams.stderr.write(`\r\x1b[2K${line}\n`),
      stop: () => bar.stop(),
    });
    bar.start(total, 0, { detail: '' });
    return {
      update: (done, detail) => bar.update(done, { detail: detail ?? '' }),
      stop,
    };
  }

  /**
   * Several bars at once on a terminal: an overall bar over `total` units on top, and one bar per running task
   * (added with `task`, removed when it ends). Elsewhere only `log` lines are written: one line per event.
   */
  multiProgress(label: string, total: number): MultiProgress {
    if (this.options.quiet) return { task: () => ({ update() {}, stop() {} }), overall() {}, log() {}, stop() {} };
    if (this.widgets === undefined) {
      return { task: () => ({ update() {}, stop() {} }), overall() {}, log: (line) => this.writeErr(line), stop() {} };
    }
    const { cliProgress } = this.widgets;
    const width = Math.max(8, Math.min(40, (this.streams.stderr.columns ?? 80) - 60));
    const multi = new cliProgress.MultiBar(
      {
        stream: this.streams.stderr as NodeJS.WriteStream,
        format: '{label} [{bar}] {value}/{total} {detail}',
        barsize: width,
        hideCursor: true,
        clearOnComplete: false,
        autopadding: true,
      },
      cliProgress.Presets.shades_classic,
    );
    const stop = this.goLive({
      print: (line) => multi.log(`${line}\n`),
      // Logged lines wait for the next redraw; stop() alone would drop them. update() draws (and so writes) them first.
      stop: () => {
        multi.update();
        multi.stop();
      },
    });
    const overall = multi.create(total, 0, { label, detail: '' });
    return {
      task: (taskLabel, steps) => {
        const bar = multi.create(steps, 0, { label: taskLabel, detail: '' });
        return {
          update: (done, detail) => bar.update(done, { detail: detail ?? '' }),
          stop: () => {
            bar.stop();
            multi.remove(bar);
          },
        };
      },
      overall: (done, detail) => overall.update(done, { detail: detail ?? '' }),
      log: (line) => this.writeErr(line),
      stop,
    };
  }

  private writeErr(line: string): void {
    if (this.live !== undefined) this.live.print(line);
    else this.streams.stderr.write(`${line}\n`);
  }
}

export function isCi(env: NodeJS.ProcessEnv): boolean {
  return env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
