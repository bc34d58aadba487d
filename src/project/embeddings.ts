/**
 * The speaker embeddings the screen's worker computed, kept by each clip's content (sha256), so a clip is embedded
 * once: a re-run with nothing changed, another threshold or another reference sends no job; new clips only need one.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeAtomically } from '../util/files.js';
import { embeddingsPath } from './layout.js';

export interface StoredEmbedding {
  /** null when the worker found too little voice in the clip to embed it. */
  embedding: number[] | null;
  voiceSeconds: number;
  reason?: string;
  /** The embedding model: an embedding from another model is not comparable, and is computed again. */
  model: string;
}

export interface EmbeddingCache {
  version: 1;
  /** content sha256 → embedding */
  clips: Record<string, StoredEmbedding>;
}

const empty = (): EmbeddingCache => ({ version: 1, clips: {} });

export async function readEmbeddings(projectDir: string): Promise<EmbeddingCache> {
  const text = await readFile(embeddingsPath(projectDir), 'utf8').catch(() => undefined);
  if (text === undefined) return empty();
  try {
    const parsed = JSON.parse(text) as Partial<EmbeddingCache>;
    // A damaged or foreign cache costs a recomputation, never a wrong verdict.
    return parsed.version === 1 && typeof parsed.clips === 'object' && parsed.clips !== null ? { version: 1, clips: parsed.clips } : empty();
  } catch {
    return empty();
  }
}

/** Adds embeddings to the cache (read again first, so what another run added stays). */
export async function storeEmbeddings(projectDir: string, added: Readonly<Record<string, StoredEmbedding>>): Promise<EmbeddingCache> {
  const cache = await readEmbeddings(projectDir);
  Object.assign(cache.clips, added);
  await mkdir(path.dirname(embeddingsPath(projectDir)), { recursive: true });
  await writeAtomically(embeddingsPath(projectDir), `${JSON.stringify(cache)}\n`);
  return cache;
}
