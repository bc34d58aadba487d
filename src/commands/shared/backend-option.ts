/** `--backend runpod|local`, shared by the commands that run worker jobs. */
import { Option } from '@commander-js/extra-typings';

export const BACKENDS = ['runpod', 'local'] as const;
export type BackendKind = (typeof BACKENDS)[number];

export function backendOption() {
  return new Option('--backend <where>', 'runpod: the RunPod endpoint; local: gpu/handler.py on this machine (needs APPLIO_DIR and a CUDA GPU, or VOICESTUDIO_ALLOW_CPU=1)').choices(BACKENDS).default('runpod');
}
