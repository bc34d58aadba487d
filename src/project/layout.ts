/** Where derived files live inside a project (all under .voicestudio/, next to voicestudio.json). */
import path from 'node:path';
import { WORK_DIR } from './manifest.js';

export function sourcesDir(projectDir: string): string {
  return path.join(projectDir, WORK_DIR, 'sources');
}

/** The binary analysis ingest writes and preprocess reads (see analysis-cache.ts). */
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
