/** Opening the backend a command asked for, from the environment and the user's settings. */
import { ConfigStore } from '../config/store.js';
import { LocalBackend, RunpodBackend, type Backend, type WorkerTools } from './backend.js';
import { resolveRunpodSettings, RunpodClient } from './client.js';

/** `tools`: the FFmpeg the command uses, for a local worker (a RunPod worker has its own in the image). */
export async function openBackend(kind: 'runpod' | 'local', env: NodeJS.ProcessEnv, tools?: WorkerTools): Promise<Backend> {
  if (kind === 'local') return new LocalBackend(env, tools);
  const settings = await resolveRunpodSettings(new ConfigStore({ env }));
  return new RunpodBackend(new RunpodClient(settings), settings.endpointId);
}

/** USD per GPU hour for cost figures (config `gpu-price-per-hour`). */
export function gpuPricePerHour(env: NodeJS.ProcessEnv): number {
  return Number(new ConfigStore({ env }).resolve('gpu-price-per-hour').value ?? 0);
}
