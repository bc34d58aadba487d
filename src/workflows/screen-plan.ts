/**
 * The speaker screen's arithmetic, pure: the reference voice (given, or the largest tight cluster of singing clips),
 * each clip's similarity to it, and which clips fall below the threshold.
 */

/**
 * The default threshold of cosine similarity to the reference voice (Resemblyzer embeddings). Measured on espeak-ng
 * voices against the normalised mean of one voice's 4 s clips: that voice's own clips score 0.95–0.97, a different
 * voice of the same synthesiser 0.63–0.72 (en against en+f3 and en-us+f4), a close variant of it 0.78–0.91. 0.75 sits
 * above every clip of another voice measured, with a wide margin below the singer's own; a real singer's speech and
 * singing differ more than a synthesiser's, which is why it is not higher.
 */
export const SCREEN_THRESHOLD = { default: 0.75, min: 0, max: 1 } as const;
/** Two clips are neighbours in the reference cluster when their similarity reaches this. */
const CLUSTER_SIMILARITY = 0.75;

/**
 * The GPU time a screen takes, roughly: the worker's start and the model's load, then Resemblyzer at several hundred
 * times real time on a GPU (the "seconds for an hour of clips"), and the unpacking of the archive.
 */
const ESTIMATE = { startSec: 15, perAudioSecond: 0.01 } as const;

export function estimateScreenSeconds(audioSeconds: number): number {
  return Math.round(ESTIMATE.startSec + audioSeconds * ESTIMATE.perAudioSecond);
}

export function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** The normalised mean of unit-scaled embeddings: the voice they share. */
export function meanVoice(embeddings: readonly (readonly number[])[]): number[] {
  if (embeddings.length === 0) throw new Error('meanVoice of no embeddings');
  const sum = new Array<number>(embeddings[0]!.length).fill(0);
  for (const e of embeddings) {
    const norm = Math.sqrt(e.reduce((s, v) => s + v * v, 0)) || 1;
    e.forEach((v, i) => (sum[i]! += v / norm));
  }
  const norm = Math.sqrt(sum.reduce((s, v) => s + v * v, 0)) || 1;
  return sum.map((v) => v / norm);
}

export interface Embedded {
  id: string;
  embedding: readonly number[];
}

/**
 * The largest tight cluster: for each clip, the clips within CLUSTER_SIMILARITY of it; the clip with most such
 * neighbours (the first of them on a tie) and its neighbours are the cluster, and its voice their mean.
 */
export function largestCluster(clips: readonly Embedded[], similarity = CLUSTER_SIMILARITY): { members: string[]; voice: number[] } {
  if (clips.length === 0) throw new Error('largestCluster of no clips');
  let best: Embedded[] = [];
  for (const centre of clips) {
    const neighbours = clips.filter((other) => other === centre || cosine(centre.embedding, other.embedding) >= similarity);
    if (neighbours.length > best.length) best = neighbours;
  }
  return { members: best.map((c) => c.id), voice: meanVoice(best.map((c) => c.embedding)) };
}

export interface Judged {
  id: string;
  /** null when the clip had too little voice to embed: it is not judged, and stays. */
  similarity: number | null;
  kept: boolean;
}

/** Each clip's similarity to the reference; below the threshold it is out. A clip that could not be embedded stays. */
export function judge(clips: readonly { id: string; embedding: readonly number[] | null }[], reference: readonly number[], threshold: number): Judged[] {
  return clips.map((clip) => {
    if (clip.embedding === null) return { id: clip.id, similarity: null, kept: true };
    const similarity = cosine(clip.embedding, reference);
    return { id: clip.id, similarity, kept: similarity >= threshold };
  });
}
