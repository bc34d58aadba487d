/**
 * User settings (a conf store) and the RunPod API key (a separate 0600 file, never in conf's 0644 JSON).
 *
 * Precedence for every value: environment variable, then the stored setting, then the default.
 */
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import Conf from 'conf';
import { ErrorCode, UsageError, VoicestudioError } from '../errors.js';
import { parseSetting } from './setting-values.js';
import { DEFAULT_ENDPOINT_BASE_URL, SETTING_KEYS, SETTINGS, type ResolvedSetting, type SettingKey, type SettingSpec, type ValueSource } from './settings.js';

export interface ConfigStoreOptions {
  env?: NodeJS.ProcessEnv;
}

export class ConfigStore {
  private readonly env: NodeJS.ProcessEnv;
  private readonly store: Conf<Record<string, string | number>>;

  constructor(options: ConfigStoreOptions = {}) {
    this.env = options.env ?? process.env;
    const dir = this.env.VOICESTUDIO_CONFIG_DIR;
    this.store = new Conf({
      projectName: 'voicestudio',
      ...(dir === undefined || dir === '' ? {} : { cwd: dir }),
      // The file may be edited by hand; a bad value is reported on use rather than crashing every command.
      clearInvalidConfig: false,
    });
  }

  get path(): string {
    return this.store.path;
  }

  get credentialsPath(): string {
    return path.join(path.dirname(this.store.path), 'credentials.json');
  }

  resolve(key: SettingKey): ResolvedSetting {
    const spec: SettingSpec = SETTINGS[key];
    const fromEnv = spec.env === undefined ? undefined : this.env[spec.env];
    if (fromEnv !== undefined && fromEnv !== '') return { key, value: parseSetting(key, fromEnv, spec.env), source: 'env', description: spec.description };
    const stored = this.store.get(key);
    if (stored !== undefined) return { key, value: stored, source: 'config', description: spec.description };
    if (spec.default !== undefined) return { key, value: spec.default, source: 'default', description: spec.description };
    return { key, value: undefined, source: 'unset', description: spec.description };
  }

  list(): ResolvedSetting[] {
    return SETTING_KEYS.map((key) => this.resolve(key));
  }

  set(key: SettingKey, raw: string): ResolvedSetting {
    this.store.set(key, parseSetting(key, raw));
    return this.resolve(key);
  }

  unset(key: SettingKey): ResolvedSetting {
    this.store.delete(key);
    return this.resolve(key);
  }

  endpointBaseUrl(): string {
    const fromEnv = this.env.RUNPOD_ENDPOINT_BASE_URL;
    return fromEnv === undefined || fromEnv === '' ? DEFAULT_ENDPOINT_BASE_URL : fromEnv.replace(/\/+$/, '');
  }

  /** The RunPod API key and where it came from; never log `value`. */
  async apiKey(): Promise<{ value: string | undefined; source: ValueSource }> {
    const fromEnv = this.env.RUNPOD_API_KEY;
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: 'env' };
    let text: string;
    try {
      text = await readFile(this.credentialsPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { value: undefined, source: 'unset' };
      throw error;
    }
    try {
      const parsed = JSON.parse(text) as { apiKey?: unknown };
      if (typeof parsed.apiKey === 'string' && parsed.apiKey !== '') return { value: parsed.apiKey, source: 'file' };
    } catch {
      // fall through to the error below
    }
    throw new VoicestudioError(ErrorCode.Credentials, `${this.credentialsPath} is damaged.`, {
      subject: this.credentialsPath,
      suggestion: 'Store the key again: printf %s "$KEY" | voicestudio config set api-key',
    });
  }

  /** Writes the key to a file only its owner can read (0600 from creation, not chmod-after). */
  async storeApiKey(key: string): Promise<void> {
    const trimmed = key.trim();
    if (!/^[\x21-\x7e]{8,512}$/.test(trimmed)) {
      throw new UsageError('That does not look like a RunPod API key (expected 8–512 printable characters, no spaces).', 'Copy the key from RunPod → Settings → API Keys and pipe it in again.');
    }
    await mkdir(path.dirname(this.credentialsPath), { recursive: true, mode: 0o700 });
    const temp = `${this.credentialsPath}.${process.pid}.tmp`;
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify({ apiKey: trimmed })}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(temp, 0o600);
    await rename(temp, this.credentialsPath);
  }

  async removeApiKey(): Promise<void> {
    await rm(this.credentialsPath, { force: true });
  }
}
