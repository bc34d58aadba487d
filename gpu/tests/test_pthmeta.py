"""Reading .pth metadata without torch, and without running code from the file."""

import collections
import io
import os
import pickle
import shutil
import sys
import tempfile
import types
import unittest
import zipfile

from vsworker.errors import JobError
from vsworker.pthmeta import checkpoint_epoch, read_pth_metadata, rvc_model_info


class _FakeTorchModules:
    """Registers modules named like torch's so pickle writes the same GLOBAL
    opcodes torch.save does (torch._utils._rebuild_tensor_v2, torch.HalfStorage)."""

    def __enter__(self):
        self.torch = types.ModuleType("torch")
        self.utils = types.ModuleType("torch._utils")

        def _rebuild_tensor_v2(*args):
            raise AssertionError("must never be called while reading")

        _rebuild_tensor_v2.__module__ = "torch._utils"
        _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
        self.utils._rebuild_tensor_v2 = _rebuild_tensor_v2

        class HalfStorage:
            pass

        HalfStorage.__module__ = "torch"
        HalfStorage.__qualname__ = "HalfStorage"
        self.torch.HalfStorage = HalfStorage
        self.torch._utils = self.utils
        self.saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
        sys.modules["torch"] = self.torch
        sys.modules["torch._utils"] = self.utils
        return self

    def __exit__(self, *exc):
        for key, value in self.saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value


class _Tensor:
    def __init__(self, key, fake):
        self.key = key
        self.fake = fake

    def __reduce__(self):
        storage = ("storage", self.fake.torch.HalfStorage, self.key, "cpu", 4)
        return (self.fake.utils._rebuild_tensor_v2, (storage, 0, (2, 2), (2, 1), False, collections.OrderedDict()))


class _TorchLikePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, tuple) and obj and obj[0] == "storage":
            return obj
        return None


def torch_like_bytes(obj):
    buf = io.BytesIO()
    _TorchLikePickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


class PthMetadataTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vs-pth-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_zip(self, name, pickle_bytes, prefix="mymodel"):
        path = os.path.join(self.tmp, name)
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(f"{prefix}/data.pkl", pickle_bytes)
            archive.writestr(f"{prefix}/version", "3\n")
            archive.writestr(f"{prefix}/data/0", b"\x00" * 8)
        return path

    def test_inference_model_with_tensor_references(self):
        with _FakeTorchModules() as fake:
            weights = collections.OrderedDict(
                [("emb_g.weight", _Tensor("0", fake)), ("dec.conv_pre.weight", _Tensor("1", fake))]
            )
            data = torch_like_bytes({
                "weight": weights,
                "config": [1025, 32, 192, 192, 768, 2, 6, 3, 0, "1", [3, 7, 11], [[1, 3, 5]], [10, 10, 2, 2],
                           512, [16, 16, 4, 4], 1, 256, 48000],
                "epoch": 300, "step": 9000, "sr": 48000, "f0": True, "version": "v2",
                "embedder_model": "spin", "vocoder": "HiFi-GAN", "model_name": "alice",
            })
        path = self.write_zip("alice_300e_9000s.pth", data)
        info = rvc_model_info(path, "input.model")
        self.assertEqual(info["embedder"], "spin")
        self.assertEqual(info["sample_rate"], 48000)
        self.assertEqual((info["epochs"], info["steps"]), (300, 9000))
        self.assertEqual(info["vocoder"], "HiFi-GAN")

    def test_training_checkpoint(self):
        with _FakeTorchModules() as fake:
            data = torch_like_bytes({"model": {"w": _Tensor("0", fake)}, "iteration": 42,
                                     "optimizer": {}, "learning_rate": 0.0001, "scaler": {}})
        path = self.write_zip("G_1000.pth", data, prefix="archive")
        self.assertEqual(checkpoint_epoch(path, "G_1000.pth"), 42)
        with self.assertRaises(JobError) as caught:
            rvc_model_info(path, "input.model")
        self.assertIn("training checkpoint", str(caught.exception))

    def test_malicious_pickle_does_not_run(self):
        marker = os.path.join(self.tmp, "pwned")

        class Exploit:
            def __reduce__(self):
                return (os.system, (f"touch {marker}",))

        path = self.write_zip("evil.pth", pickle.dumps({"weight": Exploit(), "config": [1, 40000]}))
        info = rvc_model_info(path, "input.model")  # parses, but os.system is only a placeholder
        self.assertEqual(info["sample_rate"], 40000)
        self.assertFalse(os.path.exists(marker))

    def test_broken_files(self):
        truncated = self.write_zip("t.pth", pickle.dumps({"iteration": 1}))
        with open(truncated, "r+b") as fh:
            fh.truncate(os.path.getsize(truncated) // 2)
        not_zip = os.path.join(self.tmp, "legacy.pth")
        with open(not_zip, "wb") as fh:
            fh.write(pickle.dumps({"weight": {}}))
        no_pickle = os.path.join(self.tmp, "nopkl.pth")
        with zipfile.ZipFile(no_pickle, "w") as archive:
            archive.writestr("x/version", "3")
        for path, expected in ((truncated, "truncated"), (not_zip, "not a PyTorch zip"),
                               (no_pickle, "no data.pkl")):
            with self.subTest(path=path):
                with self.assertRaises(JobError) as caught:
                    read_pth_metadata(path, "input.model")
                self.assertIn(expected, str(caught.exception))
                self.assertIn("input.model", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
