/** The local health check behind `voicestudio doctor`: FFmpeg, Node, settings and credentials. */
import { ConfigStore } from '../config/store.js';
import { maskSecret } from '../config/settings.js';
import { VoicestudioError } from '../errors.js';
import { locateFfmpeg, toolVersion, type ToolLocation } from '../audio/ffmpeg.js';

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

/** The Applio release the worker image pins (gpu/Dockerfile). */
const APPLIO_TAG = '3.6.4';

/** How long doctor waits for the worker's `info` job: a scaled-to-zero endpoint needs a cold start first. */
const INFO_DEADLINE_MS = 180_000;

function check(name: string, status: CheckStatus, detail: string, suggestion?: string): DoctorCheck {
  return { name, status, detail, ...(suggestion === undefined ? {} : { suggestion }) };
}

/** The worker's `info.torch`: where Applio runs each step with the torch in the image. */
interface WorkerTorch {
  gpu_name?: string;
  gpu_memory_bytes?: number;
  devices?: { extract: string; train: string; convert: string } | null;
}

const GIB = 2 ** 30;

/** "GPU NVIDIA … 24 GiB", or what runs where without one. */
export function deviceDetail(torch: WorkerTorch | undefined): string {
  const devices = torch?.devices;
  if (devices === null) return "GPU none (torch does not load in Applio's Python)";
  if (devices !== undefined && devices.train !== 'cuda') return `no CUDA GPU: trains on ${devices.train}, extracts on ${devices.extract}, converts on ${devices.convert}`;
  if (torch?.gpu_name === undefined) return 'GPU none';
  return `GPU ${torch.gpu_name}${torch.gpu_memory_bytes === undefined ? '' : ` ${(torch.gpu_memory_bytes / GIB).toFixed(0)} GiB`}`;
}

/**
 * The worker's GPU: without torch or CUDA Applio trains for days on the CPU (the worker refuses to), so that is a
 * failure, unless the worker was started with VOICESTUDIO_ALLOW_CPU=1 to run on the CPU on purpose.
 */
export function gpuCheck(torch: WorkerTorch | undefined, allowCpu: boolean): DoctorCheck {
  const detail = deviceDetail(torch);
  if (torch?.devices?.train === 'cuda' || (torch?.devices === undefined && torch?.gpu_name !== undefined)) return check('gpu', 'ok', detail);
  if (allowCpu) return check('gpu', 'warn', `${detail}; the worker runs anyway (VOICESTUDIO_ALLOW_CPU=1), slowly`, 'For real training, run the endpoint on a CUDA GPU without VOICESTUDIO_ALLOW_CPU.');
  const suggestion =
    torch?.devices === null
      ? "The worker's Applio Python cannot load torch: rebuild and push the image from gpu/Dockerfile."
      : 'Give the endpoint a CUDA GPU whose driver supports CUDA 12.8 (Allowed CUDA versions ≥ 12.8 in the endpoint settings; gpu/README.md).';
  return check('gpu', 'fail', detail, suggestion);
}

/** The worker's `info.shm`: Applio's training data loader passes its batches through /dev/shm. */
export function shmCheck(shm: { total_bytes?: number | null; recommended_bytes?: number } | undefined): DoctorCheck {
  const suggestion = "Training's data loader can die of a bus error: give the endpoint a GPU type with more system memory (gpu/README.md, \"Create the endpoint\").";
  if (shm === undefined || shm.recommended_bytes === undefined) return check('shm', 'warn', 'the worker does not report /dev/shm', 'Rebuild and push the image from gpu/ of this voicestudio.');
  if (shm.total_bytes === undefined || shm.total_bytes === null) return check('shm', 'warn', 'the worker has no /dev/shm', suggestion);
  const detail = `/dev/shm ${(shm.total_bytes / GIB).toFixed(1)} GiB (training wants ${(shm.recommended_bytes / GIB).toFixed(0)} GiB)`;
  return shm.total_bytes < shm.recommended_bytes ? check('shm', 'warn', detail, suggestion) : check('shm', 'ok', detail);
}

function failureCheck(name: string, error: unknown): DoctorCheck {
  if (error instanceof VoicestudioError) return check(name, 'fail', error.message, error.suggestion);
  return check(name, 'fail', error instanceof Error ? error.message : String(error));
}

/** Endpoint checks: the key and id work, /health, and the worker's own `info` (versions, volume, weights). */
export async function endpointChecks(env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<DoctorCheck[]> {
  const { resolveRunpodSettings, RunpodClient } = await import('../runpod/client.js');
  const { RunpodBackend } = await import('../runpod/backend.js');
  const settings = await resolveRunpodSettings(new ConfigStore({ env }));
  const client = new RunpodClient(settings);
  const checks: DoctorCheck[] = [];
  try {
    const health = await client.health(signal === undefined ? {} : { signal });
    const { workers, jobs } = health;
    const ready = workers.idle + workers.running + (workers.ready ?? 0);
    checks.push(check('endpoint', 'ok', `reachable, key accepted (${settings.endpointId})`));
    checks.push(
      check(
        'workers',
        (workers.throttled ?? 0) > 0 || (workers.unhealthy ?? 0) > 0 ? 'warn' : ready === 0 ? 'warn' : 'ok',
        `idle ${workers.idle}, running ${workers.running}, throttled ${workers.throttled ?? 0}, unhealthy ${workers.unhealthy ?? 0}; queue ${jobs.inQueue}, in progress ${jobs.inProgress}, retried ${jobs.retried}`,
        ready === 0 ? 'The endpoint looks scaled to zero: the first job waits for a cold start (image pull on first use can take minutes).' : (workers.unhealthy ?? 0) > 0 ? 'Unhealthy workers crash-loop: check the endpoint logs in the RunPod console.' : (workers.throttled ?? 0) > 0 ? 'Throttled workers wait for GPUs: allow more GPU types or regions on the endpoint.' : undefined,
      ),
    );
  } catch (error) {
    return [failureCheck('endpoint', error)];
  }
  try {
    const deadline = AbortSignal.timeout(INFO_DEADLINE_MS);
    const info = await new RunpodBackend(client, settings.endpointId).runTask({ task: 'info' }, { signal: signal === undefined ? deadline : AbortSignal.any([signal, deadline]) });
    const worker = info.worker as { version?: string; protocol?: number; allow_cpu?: boolean } | undefined;
    const applio = info.applio as { tag?: string | null; present?: boolean } | undefined;
    const volume = info.volume as { present?: boolean; free_bytes?: number } | undefined;
    const torch = info.torch as WorkerTorch | undefined;
    const files = (info.files as { name: string; present: boolean }[] | undefined) ?? [];
    const missing = files.filter((f) => !f.present).map((f) => f.name);
    const workerProblem =
      worker?.protocol !== 1
        ? 'The endpoint runs another worker version: rebuild and push the image from gpu/ of this voicestudio.'
        : applio?.present !== true
          ? 'The image has no Applio checkout: rebuild it from gpu/Dockerfile.'
          : undefined;
    // The tag is only what the image recorded at build time (unknown outside it): informative, never a blocker.
    const tagNote = workerProblem === undefined && applio?.tag !== APPLIO_TAG ? `Applio's tag is not ${APPLIO_TAG} (or was not recorded): if the worker misbehaves, rebuild the image from gpu/Dockerfile.` : undefined;
    checks.push(
      check(
        'worker',
        workerProblem !== undefined ? 'fail' : tagNote !== undefined ? 'warn' : 'ok',
        `voicestudio worker ${worker?.version ?? '?'} (protocol ${worker?.protocol ?? '?'}), Applio ${applio?.present === true ? (applio.tag ?? 'without a tag') : 'not found'}`,
        workerProblem ?? tagNote,
      ),
    );
    checks.push(gpuCheck(torch, worker?.allow_cpu === true));
    checks.push(
      volume?.present === true
        ? check('volume', 'ok', `network volume mounted, ${((volume.free_bytes ?? 0) / 2 ** 30).toFixed(1)} GiB free`)
        : check('volume', 'warn', 'no network volume: training and large files cannot move; small inline conversions still work', 'Attach a network volume to the endpoint (gpu/README.md, "Create the endpoint").'),
    );
    checks.push(missing.length === 0 ? check('weights', 'ok', `${files.length} baked model files present`) : check('weights', 'fail', `missing in the image: ${missing.join(', ')}`, 'Rebuild the image; its build checks every downloaded weight.'));
    checks.push(shmCheck(info.shm as Parameters<typeof shmCheck>[0]));
  } catch (error) {
    checks.push(failureCheck('worker', error));
  }
  return checks;
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

/** Local checks, then the endpoint's when a key and an endpoint id are set (and `offline` is not). */
export async function runFullDoctor(env: NodeJS.ProcessEnv, options: { offline: boolean; signal?: AbortSignal }): Promise<DoctorReport> {
  const local = await runDoctor(env);
  const configured = local.checks.find((c) => c.name === 'api-key')?.status === 'ok' && local.checks.find((c) => c.name === 'endpoint')?.status === 'ok';
  if (options.offline || !configured) return local;
  const remote = await endpointChecks(env, options.signal);
  const checks = [...local.checks.filter((c) => c.name !== 'endpoint'), ...remote];
  return { checks, ok: checks.every((c) => c.status !== 'fail') };
}
