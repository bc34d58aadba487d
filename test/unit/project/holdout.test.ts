import { describe, expect, it } from 'vitest';
import { chooseHoldout, holdoutSize } from '../../../src/project/holdout.js';
import type { SourceKind } from '../../../src/project/types.js';

interface Spec {
  id: string;
  kind: SourceKind;
  clips: number;
}

/** Sources with consecutive 8 s clips; clip ids as preprocess names them. */
function dataset(specs: Spec[], idOffset = 0) {
  const sources = specs.map((s) => ({ id: s.id, sha256: `${s.id}`.padEnd(64, '0'), kind: s.kind }));
  const segments = specs.flatMap((s) =>
    Array.from({ length: s.clips }, (_, i) => ({ id: `${s.id}-${String(i + 1 + idOffset).padStart(4, '0')}`, sourceId: s.id, startSec: i * 8, endSec: i * 8 + 8 })),
  );
  return { sources, segments };
}

const startOf = (segments: ReturnType<typeof dataset>['segments'], ids: Set<string>) =>
  segments
    .filter((s) => ids.has(s.id))
    .map((s) => `${s.sourceId}@${s.startSec}`)
    .sort();

describe('holdoutSize', () => {
  it.each([
    [0, 0],
    [19, 0],
    [20, 3],
    [59, 3],
    [70, 4],
    [100, 5],
    [400, 20],
  ])('%i clips → %i held out', (total, expected) => {
    expect(holdoutSize(total)).toBe(expected);
  });
});

describe('chooseHoldout', () => {
  it('holds out nothing from a dataset too small to spare clips', () => {
    const { sources, segments } = dataset([{ id: 'a', kind: 'singing', clips: 19 }]);
    expect(chooseHoldout(segments, sources).size).toBe(0);
  });

  it('takes about 5 %, spread over the sources', () => {
    const { sources, segments } = dataset(['a', 'b', 'c', 'd'].map((id) => ({ id, kind: 'singing' as const, clips: 25 })));
    const chosen = chooseHoldout(segments, sources);
    expect(chosen.size).toBe(5);
    const perSource = new Set(segments.filter((s) => chosen.has(s.id)).map((s) => s.sourceId));
    expect(perSource.size).toBe(4);
  });

  it('keeps singing and speech in proportion, each kind present getting at least one', () => {
    const { sources, segments } = dataset([
      { id: 'sing1', kind: 'singing', clips: 50 },
      { id: 'sing2', kind: 'singing', clips: 30 },
      { id: 'talk', kind: 'speech', clips: 20 },
    ]);
    const chosen = chooseHoldout(segments, sources);
    const kinds = segments.filter((s) => chosen.has(s.id)).map((s) => sources.find((x) => x.id === s.sourceId)!.kind);
    expect(kinds.filter((k) => k === 'singing')).toHaveLength(4);
    expect(kinds.filter((k) => k === 'speech')).toHaveLength(1);

    const few = dataset([
      { id: 'sing', kind: 'singing', clips: 59 },
      { id: 'talk', kind: 'speech', clips: 1 },
    ]);
    const fewChosen = chooseHoldout(few.segments, few.sources);
    expect(fewChosen.size).toBe(3);
    expect(fewChosen.has('talk-0001')).toBe(true);
  });

  it('is deterministic whatever the order, and chooses the same stretches after a re-cut renumbers the clips', () => {
    const specs: Spec[] = [
      { id: 'a', kind: 'singing', clips: 30 },
      { id: 'b', kind: 'singing', clips: 30 },
    ];
    const first = dataset(specs);
    const chosen = chooseHoldout(first.segments, first.sources);
    const shuffled = [...first.segments].reverse();
    expect([...chooseHoldout(shuffled, [...first.sources].reverse())].sort()).toEqual([...chosen].sort());
    const renumbered = dataset(specs, 100);
    expect(startOf(renumbered.segments, chooseHoldout(renumbered.segments, renumbered.sources))).toEqual(startOf(first.segments, chosen));
  });

  it('chooses only among the candidates it is given', () => {
    const { sources, segments } = dataset([{ id: 'a', kind: 'singing', clips: 40 }]);
    const candidates = segments.filter((_, i) => i % 2 === 0);
    const chosen = chooseHoldout(candidates, sources);
    expect(chosen.size).toBe(3);
    for (const id of chosen) expect(candidates.some((c) => c.id === id)).toBe(true);
  });
});
