/**
 * Voice models kept in a project: `models/<name>/v<N>/` holds `<name>.pth`, `<name>.index` and
 * `model-card.json`; the manifest lists every version. A model can also be named by a .pth file (with its
 * .index beside it) or an Applio/RVC model zip.
 */
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, UsageError, VoicestudioError } from '../errors.js';
import { fromProject, projectRelative, sha256File, tempSibling, pathExists } from '../util/files.js';
import { readManifest, updateManifest } from './manifest.js';
import { importsDir, modelDir, modelVersionDir } from './layout.js';
import { readModelZip } from './model-zip.js';
import type { Manifest, ModelRecord } from './types.js';

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface ModelFile {
  /** Relative to the project. */
  file: string;
  sha256: string;
  size: number;
}

/** An epoch's inference model that training saved on the endpoint's volume (every --save-every epochs), for audition. */
export interface SavedEpoch {
  epoch: number;
  step: number;
  /** The blob on the volume: its sha256 names it. */
  sha256: string;
  size: number;
  filename: string;
}

/** Everything known about how a model came to be: shown by `models show`, saved as model-card.json. */
export interface ModelCard {
  settings?: Record<string, unknown>;
  dataset?: { sha256: string; clips: number; minutes: number; singingMinutes: number; speechMinutes: number };
  training?: Record<string, unknown>;
  /** The epochs training saved on the volume, oldest first (for a trained version the last is the model itself). */
  savedEpochs?: SavedEpoch[];
  /** Set on a version made by `models pick`: the version and epoch whose weights it holds. */
  pickedFrom?: { model: string; epoch: number; step: number };
  /** The speaker screen training followed (train --screen): its threshold, reference voice, and the clips it kept out. */
  screen?: { threshold: number; reference: string; judgedClips: number; excludedClips: string[] };
  timings?: Record<string, unknown>;
  gpuSeconds?: number;
  costUsd?: number;
  jobId?: string;
  runId?: string;
  importedFrom?: string;
}

export interface ModelVersion extends ModelRecord {
  name: string;
  version: number;
  origin: 'trained' | 'imported';
  createdAt: string;
  pth: ModelFile;
  index?: ModelFile;
  card: ModelCard;
  /** The listener's verdict, 1 (unusable) to 5 (release quality), with an optional note. */
  rating?: { stars: number; note?: string; ratedAt: string };
}

/** How a version is named everywhere: `name@version`. */
export function modelLabel(model: Pick<ModelVersion, 'name' | 'version'>): string {
  return `${model.name}@${model.version}`;
}

/** The error when the project holds no model `spec` names. */
export function missingModel(projectDir: string, spec: string): VoicestudioError {
  return new VoicestudioError(ErrorCode.ModelMissing, `No model "${spec}" in ${projectDir}.`, { subject: spec, suggestion: 'See voicestudio models list.' });
}

export function checkModelName(name: string): string {
  if (!MODEL_NAME.test(name)) {
    throw new UsageError(`"${name}" is not a usable model name.`, 'Use letters, digits, ".", "_" and "-" (up to 64), starting with a letter or digit, e.g. --name alice');
  }
  return name;
}

export function modelVersions(manifest: Pick<Manifest, 'models'>): ModelVersion[] {
  return manifest.models as ModelVersion[];
}

/**
 * What a model record may really hold: the manifest checks only name and version, so a record cut down by hand
 * (or written by a tool) can lack the rest. Readers that show or use a record go through this view.
 */
export interface ModelRecordView {
  name: string;
  version: number;
  origin?: ModelVersion['origin'];
  createdAt?: string;
  pth?: Partial<ModelFile>;
  index?: ModelFile;
  card?: ModelCard;
  rating?: ModelVersion['rating'];
}

/** The record's .pth, when it names one (a record without it can be listed and removed, not used). */
export function recordedModelFile(model: ModelRecordView): ModelFile | undefined {
  const pth = model.pth;
  return typeof pth?.file === 'string' && typeof pth.size === 'number' && typeof pth.sha256 === 'string' ? { file: pth.file, size: pth.size, sha256: pth.sha256 } : undefined;
}

/** `name` (the newest version) or `name@N`. */
export function findModel(manifest: Pick<Manifest, 'models'>, spec: string): ModelVersion | undefined {
  const [name, version] = spec.split('@');
  const versions = modelVersions(manifest).filter((m) => m.name === name);
  if (version === undefined) return versions.sort((a, b) => a.version - b.version).at(-1);
  return versions.find((m) => m.version === Number(version));
}

async function describe(projectDir: string, file: string): Promise<ModelFile> {
  const { size } = await stat(file);
  return { file: projectRelative(projectDir, file), sha256: await sha256File(file), size };
}

/**
 * Stores a new version of `name` from the given files (copied, so the caller's files stay as they are),
 * writes its model card and records it in the manifest.
 */
export async function addModelVersion(
  projectDir: string,
  name: string,
  files: { pth: string; index?: string },
  card: ModelCard,
  origin: ModelVersion['origin'],
): Promise<ModelVersion> {
  checkModelName(name);
  const manifest = await readManifest(projectDir);
  const version = Math.max(0, ...modelVersions(manifest ?? { models: [] }).filter((m) => m.name === name).map((m) => m.version)) + 1;
  const dir = modelVersionDir(projectDir, name, version);
  const staging = tempSibling(dir);
  await mkdir(staging, { recursive: true });
  try {
    await copyFile(files.pth, path.join(staging, `${name}.pth`));
    if (files.index !== undefined) await copyFile(files.index, path.join(staging, `${name}.index`));
    await writeFile(path.join(staging, 'model-card.json'), `${JSON.stringify({ name, version, origin, ...card }, null, 2)}\n`);
    await rename(staging, dir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  const entry: ModelVersion = {
    name,
    version,
    origin,
    createdAt: new Date().toISOString(),
    pth: await describe(projectDir, path.join(dir, `${name}.pth`)),
    ...(files.index === undefined ? {} : { index: await describe(projectDir, path.join(dir, `${name}.index`)) }),
    card,
  };
  await updateManifest(projectDir, (m) => {
    m.models.push(entry);
  });
  return entry;
}

export interface ResolvedModel {
  /** For people and the job ledger: "alice@2", or the file name. */
  label: string;
  pth: string;
  index?: string;
  version?: ModelVersion;
}


/** The .index that belongs to a .pth: same stem, else the only .index in its folder. */
async function indexBeside(pth: string): Promise<string | undefined> {
  const sameStem = pth.replace(/\.pth$/i, '.index');
  if (await pathExists(sameStem)) return sameStem;
  const indexes = (await readdir(path.dirname(pth))).filter((f) => f.toLowerCase().endsWith('.index'));
  return indexes.length === 1 ? path.join(path.dirname(pth), indexes[0]!) : undefined;
}

/** `--model`: a project model (`name` or `name@N`), a .pth file, or an Applio/RVC model zip. */
export async function resolveModel(projectDir: string, spec: string, cwd: string): Promise<ResolvedModel> {
  const asFile = path.resolve(cwd, spec);
  if (/\.pth$/i.test(spec)) {
    if (!(await pathExists(asFile))) throw new VoicestudioError(ErrorCode.ModelMissing, `${spec}: no such model file.`, { subject: spec, suggestion: 'Check the path, or name a project model: voicestudio models list' });
    const index = await indexBeside(asFile);
    return { label: path.basename(spec), pth: asFile, ...(index === undefined ? {} : { index }) };
  }
  if (/\.zip$/i.test(spec)) {
    if (!(await pathExists(asFile))) throw new VoicestudioError(ErrorCode.ModelMissing, `${spec}: no such model zip.`, { subject: spec, suggestion: 'Check the path, or name a project model: voicestudio models list' });
    const dest = path.join(importsDir(projectDir), (await sha256File(asFile)).slice(0, 16));
    const extracted = await readModelZip(asFile, dest);
    return { label: path.basename(spec), pth: extracted.pth, ...(extracted.index === undefined ? {} : { index: extracted.index }) };
  }
  const manifest = await readManifest(projectDir);
  const version = manifest === undefined ? undefined : findModel(manifest, spec);
  if (version === undefined) {
    const names = [...new Set(modelVersions(manifest ?? { models: [] }).map((m) => m.name))];
    throw new VoicestudioError(ErrorCode.ModelMissing, `No model "${spec}" in ${projectDir}.`, {
      subject: spec,
      suggestion:
        names.length === 0
          ? `If the model is in another project, name that project with -p <project>. Else train one (voicestudio train <project> --name <name>), import one (voicestudio models import <zip>), or give a .pth or .zip path.`
          : `Models here: ${names.join(', ')}. For a model of another project, name that project with -p <project>.`,
    });
  }
  const pth = recordedModelFile(version);
  if (pth === undefined) {
    throw new VoicestudioError(ErrorCode.ModelMissing, `${version.name}@${version.version}: its record in ${projectDir}/voicestudio.json names no .pth file.`, {
      subject: spec,
      suggestion: `Import the model again (voicestudio models import <zip|pth> --name ${version.name} -p ${projectDir}), or remove the record (voicestudio models rm ${version.name}@${version.version} -p ${projectDir}).`,
    });
  }
  return {
    label: modelLabel(version),
    pth: fromProject(projectDir, pth.file),
    ...(version.index === undefined ? {} : { index: fromProject(projectDir, version.index.file) }),
    version,
  };
}

/** Renames every version of a model: its folder and files move, the manifest follows. */
export async function renameModel(projectDir: string, from: string, to: string): Promise<ModelVersion[]> {
  checkModelName(to);
  const manifest = await readManifest(projectDir);
  const versions = modelVersions(manifest ?? { models: [] }).filter((m) => m.name === from);
  if (versions.length === 0) throw missingModel(projectDir, from);
  if (modelVersions(manifest ?? { models: [] }).some((m) => m.name === to)) throw new UsageError(`A model "${to}" already exists.`, 'Pick another name, or remove that model first.');
  const fromDir = modelDir(projectDir, from);
  const toDir = modelDir(projectDir, to);
  await rename(fromDir, toDir);
  for (const v of versions.filter((x) => recordedModelFile(x) !== undefined)) {
    const dir = path.join(toDir, `v${v.version}`);
    await rename(path.join(dir, `${from}.pth`), path.join(dir, `${to}.pth`));
    if (v.index !== undefined) await rename(path.join(dir, `${from}.index`), path.join(dir, `${to}.index`));
  }
  const { result } = await updateManifest(projectDir, (m) => {
    const moved: ModelVersion[] = [];
    for (const v of modelVersions(m).filter((x) => x.name === from)) {
      const dir = path.join(toDir, `v${v.version}`);
      v.name = to;
      if (recordedModelFile(v) !== undefined) v.pth.file = projectRelative(projectDir, path.join(dir, `${to}.pth`));
      if (v.index !== undefined) v.index.file = projectRelative(projectDir, path.join(dir, `${to}.index`));
      moved.push(v);
    }
    return moved;
  });
  return result;
}

/** The versions `models rm` removes: one (`name@N`) or every version (`name`) of a model. */
export async function versionsToRemove(projectDir: string, spec: string): Promise<ModelVersion[]> {
  const [name, version] = spec.split('@');
  const manifest = await readManifest(projectDir);
  const doomed = modelVersions(manifest ?? { models: [] }).filter((m) => m.name === name && (version === undefined || m.version === Number(version)));
  if (doomed.length === 0) throw missingModel(projectDir, spec);
  return doomed;
}

/** Removes one version (`name@N`) or every version (`name`) of a model, files included. */
export async function removeModel(projectDir: string, spec: string): Promise<ModelVersion[]> {
  const [name, version] = spec.split('@');
  const doomed = await versionsToRemove(projectDir, spec);
  await updateManifest(projectDir, (m) => {
    m.models = modelVersions(m).filter((v) => !doomed.some((d) => d.name === v.name && d.version === v.version));
  });
  for (const d of doomed) await rm(modelVersionDir(projectDir, d.name, d.version), { recursive: true, force: true });
  if (version === undefined) await rm(modelDir(projectDir, name!), { recursive: true, force: true });
  return doomed;
}

/** Records how good a model version sounds, so versions can be compared later. */
export async function rateModel(projectDir: string, spec: string, stars: number, note: string | undefined): Promise<ModelVersion> {
  const { result } = await updateManifest(projectDir, (m) => {
    const version = findModel(m, spec);
    if (version === undefined) throw missingModel(projectDir, spec);
    version.rating = { stars, ...(note === undefined ? {} : { note }), ratedAt: new Date().toISOString() };
    return version;
  });
  return result;
}
