/** `voicestudio config get|set|unset|list|path`: settings and the RunPod API key. */
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import type { ConfigStore } from '../config/store.js';
import { API_KEY_SETTING, isSettingKey, maskSecret, SETTING_KEYS, type ResolvedSetting, type SettingKey } from '../config/settings.js';
import { ExitCode, UsageError } from '../errors.js';
import { action, type CliIo, type RunState } from '../ui/context.js';
import { renderTable } from '../ui/table.js';

const KEYS_HELP = [...SETTING_KEYS, API_KEY_SETTING].join(', ');

function knownKey(key: string): SettingKey | typeof API_KEY_SETTING {
  if (key === API_KEY_SETTING || isSettingKey(key)) return key;
  throw new UsageError(`Unknown setting "${key}".`, `Settings are: ${KEYS_HELP}.`);
}

async function resolveApiKey(store: ConfigStore): Promise<ResolvedSetting> {
  const key = await store.apiKey();
  return {
    key: API_KEY_SETTING,
    value: key.value === undefined ? undefined : maskSecret(key.value),
    source: key.source,
    description: 'RunPod API key (RUNPOD_API_KEY, else the credentials file; shown masked)',
  };
}

/** The conf store is loaded only when a config command runs (start-up time). */
async function openStore(env: NodeJS.ProcessEnv): Promise<ConfigStore> {
  const { ConfigStore } = await import('../config/store.js');
  return new ConfigStore({ env });
}

function renderSetting(setting: ResolvedSetting): string {
  return setting.value === undefined ? '' : String(setting.value);
}

/** Reads the key from a pipe, or from the terminal without echoing it. */
async function readSecret(io: CliIo): Promise<string> {
  if (io.stdin.isTTY !== true) {
    let text = '';
    for await (const chunk of io.stdin) text += String(chunk);
    return text;
  }
  io.stderr.write('RunPod API key (input hidden): ');
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const prompt = createInterface({ input: io.stdin, output: silent, terminal: true });
  try {
    return await prompt.question('', { signal: io.signal });
  } finally {
    prompt.close();
    io.stderr.write('\n');
  }
}

export function registerConfig(program: CommandUnknownOpts, io: CliIo, state: RunState): void {
  const config = program
    .command('config')
    .description('show and change settings (stored per user, never in the project)')
    .addHelpText(
      'after',
      `
Settings: ${KEYS_HELP}

Examples:
  $ voicestudio config set endpoint-id abc123xyz
  $ printf %s "$RUNPOD_KEY" | voicestudio config set api-key   # the key is read from stdin, stored with mode 0600
  $ voicestudio config list --json`,
    );

  config
    .command('get')
    .description('print one setting (the API key is masked)')
    .argument('<key>', `one of: ${KEYS_HELP}`)
    .action(
      action(io, state, async (ctx, key) => {
        const store = await openStore(ctx.io.env);
        const known = knownKey(key);
        const setting = known === API_KEY_SETTING ? await resolveApiKey(store) : store.resolve(known);
        ctx.out.result(setting, () => renderSetting(setting));
        return setting.value === undefined ? ExitCode.Failure : ExitCode.Success;
      }),
    );

  config
    .command('set')
    .description('store a setting; for api-key the value is read from stdin')
    .argument('<key>', `one of: ${KEYS_HELP}`)
    .argument('[value]', 'the new value (not for api-key)')
    .action(
      action(io, state, async (ctx, key, value) => {
        const store = await openStore(ctx.io.env);
        const known = knownKey(key);
        if (known === API_KEY_SETTING) {
          if (value !== undefined) {
            throw new UsageError('The API key is not taken on the command line (it would stay in your shell history).', 'Pipe it in: printf %s "$KEY" | voicestudio config set api-key');
          }
          await store.storeApiKey(await readSecret(ctx.io));
          const stored = await resolveApiKey(store);
          ctx.out.result({ ...stored, path: store.credentialsPath }, () => `api-key stored in ${store.credentialsPath} (mode 0600)`);
          if (ctx.io.env.RUNPOD_API_KEY) ctx.out.warn('RUNPOD_API_KEY is set in the environment and takes precedence over the stored key.');
          return ExitCode.Success;
        }
        if (value === undefined) throw new UsageError(`config set ${key} needs a value.`, `Example: voicestudio config set ${key} <value>`);
        const setting = store.set(known, value);
        ctx.out.result(setting, () => `${key} = ${renderSetting(setting)}`);
        if (setting.source === 'env') ctx.out.warn(`${key} is also set in the environment, which takes precedence.`);
        return ExitCode.Success;
      }),
    );

  config
    .command('unset')
    .description('remove a stored setting (back to its default)')
    .argument('<key>', `one of: ${KEYS_HELP}`)
    .action(
      action(io, state, async (ctx, key) => {
        const store = await openStore(ctx.io.env);
        const known = knownKey(key);
        if (known === API_KEY_SETTING) {
          await store.removeApiKey();
          const setting = await resolveApiKey(store);
          ctx.out.result(setting, () => `api-key removed from ${store.credentialsPath}`);
          return ExitCode.Success;
        }
        const setting = store.unset(known);
        ctx.out.result(setting, () => `${key} unset${setting.value === undefined ? '' : ` (now ${renderSetting(setting)} from ${setting.source})`}`);
        return ExitCode.Success;
      }),
    );

  config
    .command('list')
    .description('every setting with its value and where it comes from')
    .action(
      action(io, state, async (ctx) => {
        const store = await openStore(ctx.io.env);
        const settings = [...store.list(), await resolveApiKey(store)];
        ctx.out.result(settings, () =>
          renderTable(
            ['setting', 'value', 'source'],
            settings.map((s) => [s.key, s.value === undefined ? '–' : String(s.value), s.source]),
          ),
        );
        return ExitCode.Success;
      }),
    );

  config
    .command('path')
    .description('where settings and credentials are stored')
    .action(
      action(io, state, async (ctx) => {
        const store = await openStore(ctx.io.env);
        const paths = { config: store.path, credentials: store.credentialsPath };
        ctx.out.result(paths, () => `${paths.config}\n${paths.credentials}`);
        return ExitCode.Success;
      }),
    );
}
