/**
 * The program: builds the command tree, runs it, and is the single place that maps outcomes to exit codes.
 */
import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from '@commander-js/extra-typings';
import { ExitCode, InterruptedError } from './errors.js';
import type { CliIo, RunState } from './ui/context.js';
import { registerConfig } from './commands/config.js';
import { registerDoctor } from './commands/doctor.js';
import { registerIngest } from './commands/ingest.js';
import { registerPreprocess } from './commands/preprocess.js';
import { registerSources } from './commands/sources.js';
import { registerTrain } from './commands/train.js';
import { registerAudition } from './commands/audition.js';
import { registerScreen } from './commands/screen.js';
import { registerConvert } from './commands/convert.js';
import { registerBatch } from './commands/batch.js';
import { registerJobs } from './commands/jobs.js';
import { registerModels } from './commands/models.js';
import { registerCost } from './commands/cost.js';

const packageJson = createRequire(import.meta.url)('../package.json') as { version: string };
export const VERSION = packageJson.version;

export const EXIT_CODE_HELP = `Exit codes:
  0    success
  1    failure (the error says what to do)
  2    usage error (bad option, value or argument)
  3    partial success: some inputs failed and were reported, the rest were done
  130  interrupted (Ctrl-C); run the same command again to continue`;

/** commander errors that mean "the command line was wrong" rather than "help was shown". */
const USAGE_ERROR_CODES = new Set([
  'commander.unknownOption',
  'commander.unknownCommand',
  'commander.missingArgument',
  'commander.missingMandatoryOptionValue',
  'commander.optionMissingArgument',
  'commander.invalidArgument',
  'commander.conflictingOption',
  'commander.excessArguments',
]);

/** `argv` is the command line about to be parsed: `--version` looks at it for --json, which may come after it. */
export function createProgram(io: CliIo, state: RunState, argv: readonly string[] = []): Command {
  const program = new Command('voicestudio');
  // Registered before commander's own version listener, so it answers first: `--version --json` prints JSON.
  program.on('option:version', () => {
    if (!argv.includes('--json')) return;
    io.stdout.write(`${JSON.stringify({ version: VERSION }, null, 2)}\n`);
    throw new CommanderError(0, 'commander.version', VERSION);
  });
  program
    .description("Turn a singer's recordings into an RVC voice model and an album.")
    .version(VERSION, '-V, --version', 'print the version')
    .addOption(new Option('--json', 'print exactly one JSON document on stdout (for scripts)'))
    .addOption(new Option('-q, --quiet', 'no progress output; warnings and errors only'))
    .addOption(new Option('-v, --verbose', 'more detail, including stack traces and FFmpeg commands'))
    .addOption(new Option('--no-color', 'no colours (NO_COLOR is honoured too)'))
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  $ voicestudio ingest ./vocals                 # take in the recordings in ./vocals
  $ voicestudio preprocess ./vocals             # clean 5–15 s clips and a quality report
  $ voicestudio sources list ./vocals           # what training uses; exclude or remove sources and clips
  $ voicestudio train ./vocals --name alice     # train on the RunPod endpoint, model into ./vocals/models
  $ voicestudio audition ./vocals -m alice      # which saved epoch sounds most like the singer (a page to listen)
  $ voicestudio convert guide.wav -m alice -p ./vocals -o alice-guide.wav
  $ voicestudio batch ./songs -m alice -p ./vocals -o ./album --separate --mix
  $ voicestudio doctor                          # check FFmpeg, Node, credentials and the endpoint

Environment:
  RUNPOD_API_KEY            RunPod API key (else: voicestudio config set api-key, reads stdin)
  RUNPOD_ENDPOINT_ID        endpoint id (else: voicestudio config set endpoint-id ID)
  RUNPOD_ENDPOINT_BASE_URL  API base URL (default https://api.runpod.ai/v2)
  FFMPEG_PATH, FFPROBE_PATH which FFmpeg to use (else PATH, else the bundled one)
  VOICESTUDIO_CONFIG_DIR    where settings and credentials are kept
  NO_COLOR                  no colours

${EXIT_CODE_HELP}
`,
    );
  registerIngest(program, io, state);
  registerPreprocess(program, io, state);
  registerSources(program, io, state);
  registerScreen(program, io, state);
  registerTrain(program, io, state);
  registerAudition(program, io, state);
  registerConvert(program, io, state);
  registerBatch(program, io, state);
  registerJobs(program, io, state);
  registerModels(program, io, state);
  registerCost(program, io, state);
  registerConfig(program, io, state);
  registerDoctor(program, io, state);
  return program;
}

/** Runs the CLI and returns its exit code; never calls process.exit, so piped output is never cut. */
export async function run(argv: string[], io: CliIo): Promise<ExitCode> {
  const state: RunState = { exitCode: ExitCode.Success };
  const program = createProgram(io, state, argv);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return state.exitCode;
  } catch (error) {
    return reportFailure(error, argv, io);
  }
}

function reportFailure(error: unknown, argv: string[], io: CliIo): ExitCode {
  if (!(error instanceof CommanderError)) throw error; // actions render their own errors; anything else is a bug
  // Help and --version come through here too; commander already printed them.
  if (!USAGE_ERROR_CODES.has(error.code)) return error.exitCode === 0 ? ExitCode.Success : ExitCode.Failure;
  // Parsing failed, so there are no parsed options: look for --json directly so scripts still get a document.
  if (argv.includes('--json')) {
    io.stdout.write(`${JSON.stringify({ error: { code: 'usage', message: error.message.replace(/^error: /, '') } }, null, 2)}\n`);
  }
  return ExitCode.Usage;
}

/** A repeat of a signal within this window is an echo, not a second Ctrl-C. */
const SIGNAL_ECHO_MS = 300;

/** The process entry used by bin/voicestudio. */
export async function main(): Promise<void> {
  const controller = new AbortController();
  let firstSignalAt: number | undefined;
  const onSignal = (message: string) => (): void => {
    const now = Date.now();
    if (firstSignalAt === undefined) {
      firstSignalAt = now;
      // Aborting first stops any progress widget (synchronously), so the notice gets a line of its own.
      controller.abort(new InterruptedError(`${message}.`));
      process.stderr.write(`\n${message}: stopping (press Ctrl-C again to quit at once)…\n`);
      return;
    }
    // conf's dependency when-exit re-raises the signal it receives (whenever it was loaded); that echo
    // arrives within milliseconds. A person pressing Ctrl-C again means "now".
    if (now - firstSignalAt > SIGNAL_ECHO_MS) process.exit(ExitCode.Interrupted);
  };
  // A reader that stops early (`voicestudio ... --help | head`) closes the pipe: the rest of that output has nowhere to
  // go, but the work goes on and ends with its own exit code, rather than a crash mid-job.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    });
  }
  process.on('SIGINT', onSignal('Interrupted'));
  process.on('SIGTERM', onSignal('Terminated'));
  process.exitCode = await run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    signal: controller.signal,
  });
}
