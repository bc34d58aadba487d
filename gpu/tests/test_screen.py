"""The screen task through handle_job, with the real speaker encoder on the CPU (Resemblyzer), over an archive of
espeak-ng speech in two voices made in the test, plus members that cannot be embedded."""

import json
import math
import os
import subprocess
import sys
import unittest
from importlib.metadata import version
from unittest import mock

from tests.support import FFMPEG, GPU_DIR, WorkerEnv, b64, tar_bytes
from tests.test_scoring import SENTENCES, requires_scoring, speak
from vsworker import screen

VOICE_A, VOICE_B = "en-us+m3", "en-us+f4"


def encode(src, dest):
    subprocess.run([FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-i", src, dest], check=True)
    return dest


def read(path):
    with open(path, "rb") as fh:
        return fh.read()


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b)) / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def dataset_members(root):
    """{member name: bytes}: voice A as FLAC (clips and a reference), voice B as WAV, 2 s of silence, a text file
    and a FLAC that is not one."""
    files = {}
    for i, text in enumerate(SENTENCES[:3]):
        files[f"clips/a{i}.flac"] = read(encode(speak(VOICE_A, text, os.path.join(root, f"a{i}.wav")),
                                                os.path.join(root, f"a{i}.flac")))
        files[f"clips/b{i}.wav"] = read(speak(VOICE_B, text, os.path.join(root, f"b{i}.wav")))
    silence = os.path.join(root, "silence.flac")
    subprocess.run([FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "anullsrc=r=22050:cl=mono", "-t", "2", silence], check=True)
    files["clips/silence.flac"] = read(silence)
    files["notes.txt"] = b"recorded at the studio\n"
    files["clips/broken.flac"] = b"fLaC but nothing more"
    files["reference/1.flac"] = read(encode(speak(VOICE_A, SENTENCES[3], os.path.join(root, "r.wav")),
                                            os.path.join(root, "r.flac")))
    return files


@requires_scoring
class ScreenTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = WorkerEnv(with_applio=False)
        cls.files = dataset_members(cls.env.root)
        cls.archive = tar_bytes(cls.files, compress=False)
        cls.sha = cls.env.put_blob(cls.archive)
        cls.result, cls.reporter = cls.env.run({"task": "screen", "dataset": {"blob": cls.sha},
                                                "request_key": "screen-1"})

    @classmethod
    def tearDownClass(cls):
        cls.env.cleanup()

    def embeddings(self):
        self.assertNotIn("error", self.result, self.result.get("error"))
        return {e["name"]: e for e in self.result["embeddings"]}

    def test_every_member_is_listed_in_archive_order_with_the_model_that_embedded_it(self):
        result = self.result
        self.assertNotIn("error", result, result.get("error"))
        self.assertEqual(set(result), {"embeddings", "model", "dimensions", "device", "clips", "timings"})
        self.assertEqual([e["name"] for e in result["embeddings"]], list(self.files))
        self.assertEqual(result["clips"], len(self.files))
        self.assertEqual(result["model"], f"resemblyzer {version('resemblyzer')}")
        self.assertEqual((result["dimensions"], result["device"]), (256, "cpu"))
        self.assertEqual(set(result["timings"]), {"embed", "total"})
        self.assertLessEqual(result["timings"]["embed"], result["timings"]["total"])
        self.assertEqual([(u["stage"], u["done"], u["total"]) for u in self.reporter.updates],
                         [("embed", 0, len(self.files))])

    def test_each_voice_clip_has_a_unit_length_embedding(self):
        embeddings = self.embeddings()
        for name in ("clips/a0.flac", "clips/a1.flac", "clips/a2.flac", "clips/b0.wav", "clips/b1.wav",
                     "clips/b2.wav", "reference/1.flac"):
            entry = embeddings[name]
            self.assertEqual(set(entry), {"name", "embedding", "voice_seconds"}, name)
            self.assertEqual(len(entry["embedding"]), 256)
            self.assertAlmostEqual(math.sqrt(sum(x * x for x in entry["embedding"])), 1.0, delta=1e-3)
            self.assertTrue(all(round(x, 5) == x for x in entry["embedding"]))
            self.assertGreater(entry["voice_seconds"], 1.0, name)

    def test_clips_of_one_voice_are_closer_to_each_other_than_to_the_other_voice(self):
        embeddings = self.embeddings()
        a = [embeddings[n]["embedding"] for n in ("clips/a0.flac", "clips/a1.flac", "clips/a2.flac",
                                                    "reference/1.flac")]
        b = [embeddings[n]["embedding"] for n in ("clips/b0.wav", "clips/b1.wav", "clips/b2.wav")]
        same = [cosine(x, y) for group in (a, b) for i, x in enumerate(group) for y in group[i + 1:]]
        across = [cosine(x, y) for x in a for y in b]
        self.assertGreater(min(same) - max(across), 0.1, f"same voice {min(same):.3f}, across {max(across):.3f}")

    def test_members_without_an_embedding_say_why(self):
        embeddings = self.embeddings()
        silence = embeddings["clips/silence.flac"]
        self.assertIsNone(silence["embedding"])
        self.assertLess(silence["voice_seconds"], 0.5)
        self.assertIn("input.dataset member clips/silence.flac has less than 0.5 s of voice", silence["reason"])
        text = embeddings["notes.txt"]
        self.assertEqual((text["embedding"], text["voice_seconds"]), (None, 0.0))
        self.assertIn("input.dataset member notes.txt is not an audio file", text["reason"])
        broken = embeddings["clips/broken.flac"]
        self.assertIsNone(broken["embedding"])
        self.assertIn("input.dataset member clips/broken.flac: FFmpeg could not decode it", broken["reason"])

    def test_the_same_request_key_returns_the_kept_result(self):
        again, reporter = self.env.run({"task": "screen", "dataset": {"blob": self.sha}, "request_key": "screen-1"},
                                       job_id="job-2")
        self.assertTrue(again.pop("cached"))
        self.assertEqual(again, self.result)
        self.assertEqual(reporter.updates, [])  # nothing was embedded again

    def test_blob_output_carries_the_same_embeddings_as_json(self):
        with mock.patch.object(screen, "PROGRESS_EVERY", 3):
            result, reporter = self.env.run({"task": "screen", "dataset": {"data": b64(self.archive)},
                                             "output_mode": "blob"})
        self.assertNotIn("embeddings", result)
        ref = result["embeddings_blob"]
        self.assertEqual(set(ref), {"sha256", "size", "blob"})
        stored = json.loads(self.env.read_blob(ref["blob"]))
        self.assertEqual(ref["size"], len(self.env.read_blob(ref["blob"])))
        self.assert_same_embeddings(stored, self.result["embeddings"])
        # Every 3 clips while at least 3 remain: the last update comes well before the result.
        self.assertEqual([u["done"] for u in reporter.updates], [0, 3, 6])

    def test_auto_output_goes_to_a_blob_when_the_embeddings_are_too_large_to_travel_inline(self):
        with mock.patch.object(screen, "EMBEDDINGS_INLINE_MAX_BYTES", 1000):
            result, _ = self.env.run({"task": "screen", "dataset": {"blob": self.sha}})
        stored = json.loads(self.env.read_blob(result["embeddings_blob"]["blob"]))
        self.assert_same_embeddings(stored, self.result["embeddings"])

    def assert_same_embeddings(self, got, expected):
        self.assertEqual([(e["name"], e.get("reason")) for e in got], [(e["name"], e.get("reason")) for e in expected])
        for g, e in zip(got, expected):
            if e["embedding"] is None:
                self.assertIsNone(g["embedding"])
            else:
                self.assertGreater(cosine(g["embedding"], e["embedding"]), 0.9999, g["name"])


class ScreenRequestTests(unittest.TestCase):
    def setUp(self):
        self.env = WorkerEnv(with_applio=False)

    def tearDown(self):
        self.env.cleanup()

    def test_the_request_is_checked(self):
        cases = [
            ({"task": "screen"}, "input.dataset is required"),
            ({"task": "screen", "dataset": {"data": b64(b"x")}, "threshold": 0.7},
             "input.threshold is not a field of task 'screen'"),
            ({"task": "screen", "dataset": {"data": b64(b"x")}, "output_mode": "file"},
             "input.output_mode must be one of 'auto', 'inline', 'blob'"),
            ({"task": "screen", "dataset": {"data": b64(b"not an archive")}},
             "input.dataset archive: not a tar"),
            ({"task": "screen", "dataset": {"data": b64(tar_bytes({".DS_Store": b"x"}, compress=False))}},
             "input.dataset archive contains no files"),
        ]
        for job, message in cases:
            with self.subTest(message=message):
                result, _ = self.env.run(job)
                self.assertIn(message, result.get("error", ""), result)


OFFLINE_SCREEN = """
import json, socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access during the screen")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.getaddrinfo = refuse
sys.path.insert(0, sys.argv[1])
import os
from vsworker.context import TaskContext
from vsworker.progress import MemoryReporter
from vsworker.settings import Settings
from vsworker.tasks import handle_job
with open(sys.argv[2]) as fh:
    job = json.load(fh)
print(json.dumps(handle_job(job, TaskContext(Settings.from_env(os.environ), MemoryReporter(), "offline"))))
"""


@requires_scoring
class OfflineScreenTests(unittest.TestCase):
    def test_the_screen_runs_with_the_network_refused(self):
        env = WorkerEnv(with_applio=False)
        self.addCleanup(env.cleanup)
        clip = read(speak(VOICE_A, SENTENCES[0], os.path.join(env.root, "a.wav")))
        job_path = os.path.join(env.root, "job.json")
        with open(job_path, "w", encoding="utf-8") as fh:
            json.dump({"id": "offline", "input": {"task": "screen", "dataset": {
                "data": b64(tar_bytes({"clips/a.wav": clip}, compress=False))}}}, fh)
        # A fresh interpreter, so that importing the libraries and loading the weights happen under the ban.
        proc_env = {k: v for k, v in env.env().items() if not k.startswith(("HF_", "TRANSFORMERS_", "TORCH_HOME"))}
        proc = subprocess.run([sys.executable, "-c", OFFLINE_SCREEN, GPU_DIR, job_path], capture_output=True,
                              text=True, env=proc_env, timeout=600)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        result = json.loads(proc.stdout)
        self.assertNotIn("error", result, result.get("error"))
        self.assertEqual(len(result["embeddings"][0]["embedding"]), 256)


if __name__ == "__main__":
    unittest.main()
