/**
 * What every command action receives, and the one wrapper that runs an action.
 */
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { ExitCode, fileSystemError, InterruptedError, VoicestudioError } from '../errors.js';
import { Output, type GlobalOptions, type OutputStreams } from './output.js';

export interface CliIo extends OutputStreams {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on Ctrl-C; commands stop their child processes and return. */
  signal: AbortSignal;
}

export interface CommandContext {
  io: CliIo;
  out: Output;
  options: GlobalOptions;
}

/** The exit code of the last action: an action returns 0 or 3 (partial); errors are thrown. */
export interface RunState {
  exitCode: ExitCode;
}

export function globalOptions(command: CommandUnknownOpts): GlobalOptions {
  const all = command.optsWithGlobals();
  return { json: all.json === true, quiet: all.quiet === true, verbose: all.verbose === true, color: all.color !== false };
}

/**
 * `Args`, deferred so that an action's own parameters are no place to infer it from: it comes from the command
 * alone, and an action may still leave out the trailing ones it does not use (the options).
 */
type FromCommand<Args> = [Args][Args extends unknown ? 0 : never];

/**
 * Builds the context for a command action, runs it, and turns its outcome into an exit code: the value it
 * returns (0, or 3 for partial success), or the code of the error it throws, rendered once here. `Args` (the
 * command's arguments and its typed options) is inferred from the command it is given to.
 */
export function action<Args extends unknown[]>(
  io: CliIo,
  state: RunState,
  run: (ctx: CommandContext, ...args: FromCommand<Args>) => Promise<ExitCode>,
): (...args: [...Args, CommandUnknownOpts]) => Promise<void> {
  return async (...all: [...Args, CommandUnknownOpts]) => {
    const args = all.slice(0, -1) as FromCommand<Args>;
    const options = globalOptions(all[all.length - 1] as CommandUnknownOpts);
    const out = new Output(options, io, io.env, io.signal);
    try {
      await out.prepare();
      state.exitCode = await run({ io, out, options }, ...args);
    } catch (error) {
      const known = error instanceof VoicestudioError ? error : (fileSystemError(error) ?? error);
      const failure = io.signal.aborted && !(known instanceof VoicestudioError) ? new InterruptedError() : known;
      out.error(failure);
      state.exitCode = failure instanceof VoicestudioError ? failure.exitCode : ExitCode.Failure;
    } finally {
      // A widget left drawn would redraw over what follows and keep the process alive.
      out.close();
    }
  };
}
