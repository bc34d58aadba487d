/**
 * Runs the RunPod Serverless emulator by hand, for manual end-to-end use of the CLI:
 *
 *   node test/emulator/serve.ts [--workers N] [--port P] [--volume DIR] [--no-volume] [--applio-fault F] [--python PY]
 *
 * It prints the environment to export for `voicestudio`. Ctrl-C stops it (worker processes are killed and the
 * temp dirs removed; a --volume DIR is kept).
 */
import type * as EmulatorModule from './runpod-emulator.js';

// A literal import of './runpod-emulator.ts' would need `allowImportingTsExtensions` in the tsconfig; this keeps
// type checking (through the type-only import above) and lets Node load the .ts file directly.
const { startEmulator } = (await import(new URL('./runpod-emulator.ts', import.meta.url).href)) as typeof EmulatorModule;

function usage(message?: string): never {
  if (message) process.stderr.write(`${message}\n`);
  process.stderr.write('usage: node test/emulator/serve.ts [--workers N] [--port P] [--volume DIR | --no-volume] [--applio-fault F] [--key K] [--endpoint ID] [--python PY]\n');
  process.exit(message ? 2 : 0);
}

const options: EmulatorModule.EmulatorOptions = {};
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  const value = (): string => {
    const next = args[++i];
    if (next === undefined) usage(`${arg} needs a value`);
    return next;
  };
  const integer = (): number => {
    const n = Number(value());
    if (!Number.isInteger(n) || n < 0) usage(`${arg} needs a non-negative integer`);
    return n;
  };
  if (arg === '--workers') options.workers = Math.max(1, integer());
  else if (arg === '--port') options.port = integer();
  else if (arg === '--volume') options.volumeDir = value();
  else if (arg === '--no-volume') options.volumeDir = null;
  else if (arg === '--applio-fault') options.applioFault = value();
  else if (arg === '--key') options.apiKey = value();
  else if (arg === '--endpoint') options.endpointId = value();
  // The GPU worker's test environment (npm run setup:python) for tasks that score audio (audition).
  else if (arg === '--python') options.python = value();
  else if (arg === '--help' || arg === '-h') usage();
  else usage(`unknown argument: ${String(arg)}`);
}

const emulator = await startEmulator(options);
process.stdout.write(
  [
    `RunPod emulator listening (${options.workers ?? 2} workers, Applio stand-in at ${emulator.applioDir})`,
    `volume: ${emulator.volumeDir ?? '(none mounted)'}`,
    '',
    `export RUNPOD_ENDPOINT_BASE_URL=${emulator.url}`,
    `export RUNPOD_ENDPOINT_ID=${emulator.endpointId}`,
    `export RUNPOD_API_KEY=${emulator.apiKey}`,
    '',
    'Ctrl-C stops it.',
    '',
  ].join('\n'),
);

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  process.stdout.write('stopping…\n');
  emulator.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`stop failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
