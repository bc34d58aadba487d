/**
 * The evaluation set: a few of the singer's clips kept out of training, so that audition can tell how much a
 * converted phrase sounds like the singer on material the model never heard. The choice is deterministic (the same
 * clips give the same set) and survives a re-cut as far as it can: a clip is chosen by its source's content and its
 * position in it, not by its id.
 */
import { createHash } from 'node:crypto';
import type { Segment, Source, SourceKind } from './types.js';

/** About this share of the clips is held out … */
export const HOLDOUT_SHARE = 0.05;
/** … and never fewer than this many, … */
export const HOLDOUT_MIN_CLIPS = 3;
/** … which only a dataset of at least this many clips can spare (training keeps ≥ 85 % of it). */
export const HOLDOUT_MIN_DATASET_CLIPS = 20;

type Candidate = Pick<Segment, 'id' | 'sourceId' | 'startSec' | 'endSec'>;

/** A stable rank for a clip: its source's content hash and its start, to a tenth of a second. */
function rank(source: Pick<Source, 'sha256'>, clip: Candidate): string {
  return createHash('sha256').update(`${source.sha256}:${Math.round(clip.startSec * 10)}`).digest('hex');
}

/** How many clips to hold out of `total`, or 0 when the dataset is too small to spare them. */
export function holdoutSize(total: number): number {
  if (total < HOLDOUT_MIN_DATASET_CLIPS) return 0;
  return Math.max(HOLDOUT_MIN_CLIPS, Math.round(total * HOLDOUT_SHARE));
}

/** Splits `count` between the kinds in proportion to their clips (largest remainder), each kind present getting one. */
function shareByKind(count: number, clipsByKind: Map<SourceKind, number>): Map<SourceKind, number> {
  const total = [...clipsByKind.values()].reduce((a, b) => a + b, 0);
  const kinds = [...clipsByKind.keys()].sort();
  const exact = kinds.map((kind) => ({ kind, share: (count * clipsByKind.get(kind)!) / total }));
  const shares = new Map(exact.map(({ kind, share }) => [kind, Math.max(1, Math.floor(share))]));
  let left = count - [...shares.values()].reduce((a, b) => a + b, 0);
  for (const { kind } of [...exact].sort((a, b) => (b.share % 1) - (a.share % 1) || a.kind.localeCompare(b.kind))) {
    if (left <= 0) break;
    shares.set(kind, shares.get(kind)! + 1);
    left -= 1;
  }
  // A kind can hold no more than it has.
  for (const [kind, n] of shares) shares.set(kind, Math.min(n, clipsByKind.get(kind)!));
  return shares;
}

/**
 * The ids of the clips to hold out, chosen among `candidates` (the clips training would otherwise use): about 5 %,
 * at least 3, singing and speech in proportion, taken in turn from as many sources as possible.
 */
export function chooseHoldout(candidates: readonly Candidate[], sources: readonly Pick<Source, 'id' | 'sha256' | 'kind'>[]): Set<string> {
  const count = holdoutSize(candidates.length);
  if (count === 0) return new Set();
  const sourceOf = new Map(sources.map((s) => [s.id, s]));
  const usable = candidates.filter((c) => sourceOf.has(c.sourceId));
  const clipsByKind = new Map<SourceKind, number>();
  for (const clip of usable) {
    const kind = sourceOf.get(clip.sourceId)!.kind;
    clipsByKind.set(kind, (clipsByKind.get(kind) ?? 0) + 1);
  }
  const chosen = new Set<string>();
  for (const [kind, wanted] of shareByKind(count, clipsByKind)) {
    // Per source, its clips in rank order; the sources themselves in the order of their best clip.
    const queues = new Map<string, Candidate[]>();
    for (const clip of usable.filter((c) => sourceOf.get(c.sourceId)!.kind === kind)) {
      const queue = queues.get(clip.sourceId) ?? [];
      queue.push(clip);
      queues.set(clip.sourceId, queue);
    }
    const ranked = [...queues.entries()].map(([sourceId, clips]) => {
      const source = sourceOf.get(sourceId)!;
      return clips.map((clip) => ({ clip, key: rank(source, clip) })).sort((a, b) => a.key.localeCompare(b.key));
    });
    ranked.sort((a, b) => a[0]!.key.localeCompare(b[0]!.key));
    let taken = 0;
    for (let round = 0; taken < wanted; round += 1) {
      for (const queue of ranked) {
        const next = queue[round];
        if (next === undefined || taken >= wanted) continue;
        chosen.add(next.clip.id);
        taken += 1;
      }
    }
  }
  return chosen;
}
