/**
 * What every command action receives, and the one wrapper that runs an action.
 */
import type { Command } from 'commander';
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

export function globalOptions(command: Command): GlobalOptions {
  const all = command.optsWithGlobals<{ json?: boolean; quiet?: boolean; verbose?: boolean; color?: boolean }>();
  return { json: all.json === true, quiet: all.quiet === true, verbose: all.verbose === true, color: all.color !== false };
}

/**
 * Builds the context for a command action, runs it, and turns its outcome into an exit code: the value it
 * returns (0, or 3 for partial success), or the code of the error it throws, rendered once here.
 */
export function action<Args extends unknown[]>(
  io: CliIo,
  state: RunState,
  run: (ctx: CommandContext, ...args: Args) => Promise<ExitCode>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args.at(-1) as Command;
    const options = globalOptions(command);
    const out = new Output(options, io, io.env, io.signal);
    try {
      await out.prepare();
      state.exitCode = await run({ io, out, options }, ...(args.slice(0, -1) as Args));
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
