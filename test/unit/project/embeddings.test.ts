import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { archiveKey, packArchive } from '../../../src/project/dataset-archive.js';
import { readEmbeddings, storeEmbeddings } from '../../../src/project/embeddings.js';
import { embeddingsPath } from '../../../src/project/layout.js';
import { sha256File } from '../../../src/util/files.js';

let project: string;
beforeEach(async () => {
  project = await mkdtemp(path.join(tmpdir(), 'voicestudio-embeddings-'));
});
afterEach(async () => {
  await rm(project, { recursive: true, force: true });
});

describe('the embedding cache', () => {
  it('keeps embeddings by content, adds to what is there, and reads a damaged file as empty', async () => {
    expect(await readEmbeddings(project)).toEqual({ version: 1, clips: {} });
    await storeEmbeddings(project, { aaa: { embedding: [1, 0], voiceSeconds: 7.5, model: 'resemblyzer 0.1.4' } });
    await storeEmbeddings(project, { bbb: { embedding: null, voiceSeconds: 0.2, reason: 'too little voice', model: 'resemblyzer 0.1.4' } });
    const cache = await readEmbeddings(project);
    expect(Object.keys(cache.clips).sort()).toEqual(['aaa', 'bbb']);
    expect(cache.clips.aaa!.embedding).toEqual([1, 0]);
    await writeFile(embeddingsPath(project), '{ half a file');
    expect(await readEmbeddings(project)).toEqual({ version: 1, clips: {} });
  });
});

describe('the dataset archive', () => {
  it('is the same file for the same members, named by their names and contents', async () => {
    await mkdir(path.join(project, 'c'));
    const files = ['1', '2'].map((n) => path.join(project, 'c', `${n}.flac`));
    await writeFile(files[0]!, 'one');
    await writeFile(files[1]!, 'two');
    const members = await Promise.all(files.map(async (file, i) => ({ name: `clips/${i}.flac`, file, sha256: await sha256File(file) })));
    const first = await packArchive(project, members);
    const again = await packArchive(project, members);
    expect(again).toEqual(first);
    expect(path.basename(first.archive)).toBe(`clips-${archiveKey(members)}.tar`);
    // Another member list is another archive, and the superseded one goes.
    const fewer = await packArchive(project, members.slice(0, 1));
    expect(fewer.sha256).not.toBe(first.sha256);
    expect(await sha256File(first.archive).catch(() => 'gone')).toBe('gone');
    // The same name with other content is another archive too.
    expect(archiveKey([{ ...members[0]!, sha256: 'f'.repeat(64) }])).not.toBe(archiveKey(members.slice(0, 1)));
  });
});
