/**
 * `models pick`: a new version of a model whose weights are those of one of the epochs its training saved on the
 * endpoint's volume (the one audition recommends, or any other), with the same index. The epoch's file is fetched
 * from the volume once; picking the same epoch again returns the version made the first time.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { readManifest } from '../project/manifest.js';
import { downloadsDir } from '../project/layout.js';
import { addModelVersion, findModel, missingModel, modelLabel, modelVersions, type ModelVersion, type SavedEpoch } from '../project/models.js';
import type { Backend } from '../runpod/backend.js';
import { saveWorkerFile } from '../runpod/transfer.js';
import { fromProject, tempSibling } from '../util/files.js';

export interface PickResult {
  model: ModelVersion;
  from: string;
  epoch: SavedEpoch;
  /** False when an earlier pick of this epoch already made the version. */
  created: boolean;
  bytesReceived: number;
}

/** The saved epoch `epoch` of `model`, or a usage error listing the ones there are. */
function savedEpoch(model: ModelVersion, epoch: number): SavedEpoch {
  const saved = model.card.savedEpochs ?? [];
  const found = saved.find((s) => s.epoch === epoch);
  if (found !== undefined) return found;
  if (saved.length === 0) {
    throw new UsageError(`${modelLabel(model)} has no saved epochs to pick from.`, 'Only models trained by this voicestudio keep their saved epochs; train again (every --save-every epochs is kept).');
  }
  throw new UsageError(`${modelLabel(model)} saved no epoch ${epoch}.`, `Pick one of: ${saved.map((s) => s.epoch).join(', ')} (voicestudio models show ${modelLabel(model)}).`);
}

export async function pickEpoch(options: { projectDir: string; spec: string; epoch: number; backend: Backend; signal?: AbortSignal }): Promise<PickResult> {
  const { projectDir, spec, epoch } = options;
  const manifest = await readManifest(projectDir);
  const from = manifest === undefined ? undefined : findModel(manifest, spec);
  if (from === undefined) throw missingModel(projectDir, spec);
  const chosen = savedEpoch(from, epoch);
  if (chosen.sha256 === from.pth.sha256) {
    throw new UsageError(`${modelLabel(from)} already is epoch ${epoch}: its weights are that epoch's.`, 'Convert with it as it is, or pick another epoch.');
  }
  const earlier = modelVersions(manifest!).find((m) => m.name === from.name && m.pth.sha256 === chosen.sha256);
  if (earlier !== undefined) return { model: earlier, from: modelLabel(from), epoch: chosen, created: false, bytesReceived: 0 };

  const downloads = downloadsDir(projectDir);
  await mkdir(downloads, { recursive: true });
  const pth = tempSibling(path.join(downloads, chosen.filename));
  try {
    const received = await saveWorkerFile(options.backend.runTask, { sha256: chosen.sha256, size: chosen.size, blob: chosen.sha256 }, pth, options.signal === undefined ? {} : { signal: options.signal });
    const training = { ...(from.card.training ?? {}), epochs: chosen.epoch, steps: chosen.step };
    const model = await addModelVersion(
      projectDir,
      from.name,
      { pth, ...(from.index === undefined ? {} : { index: fromProject(projectDir, from.index.file) }) },
      { ...from.card, training, pickedFrom: { model: modelLabel(from), epoch: chosen.epoch, step: chosen.step } },
      from.origin,
    );
    return { model, from: modelLabel(from), epoch: chosen, created: true, bytesReceived: received.bytesReceived };
  } finally {
    await rm(pth, { force: true });
  }
}
