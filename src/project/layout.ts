/**
 * Every path of a project, in one place. A project is a folder holding voicestudio.json; what voicestudio derives from
 * the singer's files lives under .voicestudio/ beside it, and the models it brings home under models/.
 */
import path from 'node:path';

export const MANIFEST_FILE = 'voicestudio.json';
export const WORK_DIR = '.voicestudio';
export const MODELS_DIR = 'models';

export function manifestPath(projectDir: string): string {
  return path.join(projectDir, MANIFEST_FILE);
}

export function workDir(projectDir: string): string {
  return path.join(projectDir, WORK_DIR);
}

export function sourcesDir(projectDir: string): string {
  return path.join(projectDir, WORK_DIR, 'sources');
}

/** The binary analysis ingest writes and preprocess reads (see audio/analysis-cache.ts). */
export function analysisPath(projectDir: string, sourceId: string): string {
  return path.join(projectDir, WORK_DIR, 'analysis', `${sourceId}.vsan`);
}

export function clipsDir(projectDir: string, sourceId: string): string {
  return path.join(projectDir, WORK_DIR, 'clips', sourceId);
}

export function qualityReportPath(projectDir: string): string {
  return path.join(projectDir, WORK_DIR, 'quality-report.json');
}

/** The report page preprocess writes beside the JSON report; its links to clips are relative to this folder. */
export function htmlReportPath(projectDir: string): string {
  return path.join(projectDir, WORK_DIR, 'report.html');
}

/** Dataset tars packed for training, named by their content. */
export function datasetsDir(projectDir: string): string {
  return path.join(projectDir, WORK_DIR, 'datasets');
}

/** The speaker embeddings of every clip the screen judged, by the clip's content (sha256): a clip is embedded once. */
export function embeddingsPath(projectDir: string): string {
  return path.join(projectDir, WORK_DIR, 'embeddings.json');
}

/** The user's reference recordings for the speaker screen, as the worker takes them (16 kHz mono FLAC). */
export function screenReferencesDir(projectDir: string): string {
  return path.join(projectDir, WORK_DIR, 'screen', 'references');
}

/** Where a trained model lands before it becomes a model version. */
export function downloadsDir(projectDir: string): string {
  return path.join(projectDir, WORK_DIR, 'downloads');
}

/** Finished conversions, kept by their cache key so the same conversion is never paid twice. */
export function conversionsDir(projectDir: string): string {
  return path.join(projectDir, WORK_DIR, 'conversions');
}

/** Separated stems, a folder per separation key. */
export function separationsDir(projectDir: string): string {
  return path.join(projectDir, WORK_DIR, 'separations');
}

export function mixesDir(projectDir: string): string {
  return path.join(projectDir, WORK_DIR, 'mixes');
}

/** Model zips named on the command line, extracted once by content. */
export function importsDir(projectDir: string): string {
  return path.join(projectDir, WORK_DIR, 'imports');
}

export function modelDir(projectDir: string, name: string): string {
  return path.join(projectDir, MODELS_DIR, name);
}

export function modelVersionDir(projectDir: string, name: string, version: number): string {
  return path.join(projectDir, MODELS_DIR, name, `v${version}`);
}

/** A model version's audition page and what it shows: converted phrases per epoch, spectrograms (see audio/audition-page.ts). */
export function auditionDir(projectDir: string, name: string, version: number): string {
  return path.join(modelVersionDir(projectDir, name, version), 'audition');
}
