/** What a .pth says about itself, read without Python or torch, from files Python's own pickle wrote. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readPthMetadata } from '../../../src/project/pth-metadata.js';

let dir: string;

/**
 * torch.save's layout, written by Python: a zip with <stem>/data.pkl. The weights are stood in for the way torch
 * pickles them (an OrderedDict of objects rebuilt by a global, whose storages are persistent ids), so the reader
 * meets the same opcodes as in a real model.
 */
const WRITER = `
import collections, pickle, sys, zipfile
class Storage: pass
class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return ("storage", "HalfStorage", "0", "cpu", 4) if isinstance(obj, Storage) else None
import types
def rebuild(*args): pass
rebuild.__module__ = "torch._utils"; rebuild.__qualname__ = "_rebuild_tensor_v2"
sys.modules["torch"] = types.ModuleType("torch"); sys.modules["torch._utils"] = types.ModuleType("torch._utils")
sys.modules["torch._utils"]._rebuild_tensor_v2 = rebuild
class Tensor:
    def __reduce__(self): return (rebuild, (Storage(), 0, (2,), (1,)))
path, protocol, style = sys.argv[1], int(sys.argv[2]), sys.argv[3]
weights = collections.OrderedDict([("enc_p.emb_phone.weight", Tensor()), ("dec.conv_pre.bias", Tensor())])
if style == "applio":
    meta = {"weight": weights, "config": [1025, 32, 192, 48000], "epoch": 420, "step": 8400, "sr": 48000, "f0": 1,
            "version": "v2", "creation_date": "2025-01-01T00:00:00", "model_name": "singer", "embedder_model": "contentvec",
            "vocoder": "HiFi-GAN", "speakers_id": 0, "author": "someone", "dataset_length": 1234.5, "big": 2**70}
else:  # older RVC
    meta = {"weight": weights, "config": [1025, 32, 192, 40000], "info": "300epoch", "sr": "40k", "f0": 1, "version": "v2"}
import io
buffer = io.BytesIO(); Pickler(buffer, protocol=protocol).dump(meta)
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("singer/data.pkl", buffer.getvalue()); z.writestr("singer/data/0", b"\\0" * 64); z.writestr("singer/version", "3\\n")
`;

async function pth(name: string, protocol: number, style: 'applio' | 'rvc'): Promise<string> {
  const file = path.join(dir, name);
  await execa('python3', ['-c', WRITER, file, String(protocol), style]);
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vs-pth-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it.each([2, 4, 5])('reads an Applio model pickled with protocol %i', async (protocol) => {
  expect(await readPthMetadata(await pth(`applio-${protocol}.pth`, protocol, 'applio'))).toEqual({
    epochs: 420,
    sampleRate: 48000,
    version: 'v2',
    f0: true,
    vocoder: 'HiFi-GAN',
    embedder: 'contentvec',
    modelName: 'singer',
  });
});

it('reads an older RVC model ("300epoch", "40k")', async () => {
  expect(await readPthMetadata(await pth('rvc.pth', 2, 'rvc'))).toEqual({ epochs: 300, sampleRate: 40000, version: 'v2', f0: true });
});

it('says nothing, without failing, about a file that is not a torch zip', async () => {
  const junk = path.join(dir, 'junk.pth');
  await writeFile(junk, 'not a model');
  expect(await readPthMetadata(junk)).toBeUndefined();
});
