/** The local health check behind `voicestudio doctor`: FFmpeg, Node, settings and credentials. */
import { ConfigStore, maskSecret } from './config.js';
import { VoicestudioError } from './errors.js';
import { locateFfmpeg, toolVersion, type ToolLocation } from './pipeline/ffmpeg.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  suggestion?: string;
}

export interface DoctorReport {
  checks: DoctorCheck[];
  ok: boolean;
}

const MIN_NODE = [22, 19] as const;

function nodeCheck(version: string): DoctorCheck {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
  const supported = major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
  return supported
    ? { name: 'node', status: 'ok', detail: version }
    : { name: 'node', status: 'fail', detail: `${version} (needs ${MIN_NODE.join('.')} or newer)`, suggestion: 'Install a current Node.js.' };
}

async function toolCheck(name: string, tool: ToolLocation): Promise<DoctorCheck> {
  try {
    return { name, status: 'ok', detail: `${await toolVersion(tool)} — ${tool.path} (${tool.source})` };
  } catch (error) {
    return { name, status: 'fail', detail: `${tool.path} (${tool.source}) did not run: ${(error as Error).message}`, suggestion: `Reinstall ${name} or point ${name.toUpperCase()}_PATH at a working binary.` };
  }
}

export async function runDoctor(env: NodeJS.ProcessEnv, nodeVersion = process.version): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [nodeCheck(nodeVersion)];
  try {
    const tools = await locateFfmpeg(env);
    checks.push(...(await Promise.all([toolCheck('ffmpeg', tools.ffmpeg), toolCheck('ffprobe', tools.ffprobe)])));
  } catch (error) {
    if (!(error instanceof VoicestudioError)) throw error;
    checks.push({ name: 'ffmpeg', status: 'fail', detail: error.message, ...(error.suggestion === undefined ? {} : { suggestion: error.suggestion }) });
  }
  const store = new ConfigStore({ env });
  checks.push({ name: 'config', status: 'ok', detail: store.path });
  try {
    const key = await store.apiKey();
    checks.push(
      key.value === undefined
        ? { name: 'api-key', status: 'warn', detail: 'not set (only needed for train and convert)', suggestion: 'Set RUNPOD_API_KEY, or: printf %s "$KEY" | voicestudio config set api-key' }
        : { name: 'api-key', status: 'ok', detail: `${maskSecret(key.value)} (from ${key.source === 'env' ? 'RUNPOD_API_KEY' : store.credentialsPath})` },
    );
  } catch (error) {
    if (!(error instanceof VoicestudioError)) throw error;
    checks.push({ name: 'api-key', status: 'fail', detail: error.message, ...(error.suggestion === undefined ? {} : { suggestion: error.suggestion }) });
  }
  const endpoint = store.resolve('endpoint-id');
  checks.push(
    endpoint.value === undefined
      ? { name: 'endpoint', status: 'warn', detail: 'no endpoint id (only needed for train and convert)', suggestion: 'voicestudio config set endpoint-id <id>, or set RUNPOD_ENDPOINT_ID' }
      : { name: 'endpoint', status: 'ok', detail: `${String(endpoint.value)} (from ${endpoint.source}) at ${store.endpointBaseUrl()}` },
  );
  return { checks, ok: checks.every((c) => c.status !== 'fail') };
}
