"""The audition task end to end through handle_job: the stand-in Applio's models change the voice by epoch,
and the real scores (Resemblyzer, pYIN, DNSMOS) pick the epoch."""

import base64
import json
import os
import subprocess
import unittest
from unittest import mock

from tests.support import FFMPEG, WorkerEnv, b64, standin
from tests.test_convert import model_bytes
from tests.test_scoring import SENTENCES, requires_scoring, speak
from vsworker import audition
from vsworker.audition import F0_RMSE_BOUND_CENTS, recommend
from vsworker.context import TaskContext
from vsworker.converter import stop_warm_converter
from vsworker.progress import MemoryReporter

# What each saved epoch does in the stand-in: its timbre moves towards the singer's (timbre 1.0); epoch 40 is
# 100 cents sharp.
EPOCH_VOICES = {
    10: {"timbre": 0.2, "detune_cents": 0},
    20: {"timbre": 0.6, "detune_cents": 0},
    30: {"timbre": 0.8, "detune_cents": 0},
    40: {"timbre": 1.0, "detune_cents": 100},
}
PITCH = 2


def probe(data, root):
    """Sample rate and duration of an encoded file, as ffprobe reads them."""
    path = os.path.join(root, "probe.bin")
    with open(path, "wb") as fh:
        fh.write(data)
    ffprobe = os.path.join(os.path.dirname(FFMPEG), "ffprobe")
    out = subprocess.run([ffprobe, "-v", "error", "-show_entries", "stream=codec_name,sample_rate:format=duration",
                          "-of", "json", path], check=True, capture_output=True, text=True).stdout
    info = json.loads(out)
    stream = info["streams"][0]
    return stream["codec_name"], int(stream["sample_rate"]), float(info["format"]["duration"])


@requires_scoring
class AuditionTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = WorkerEnv()
        root = cls.env.root
        # The guide singer and the singer are one espeak voice; the singer's clips carry the timbre that the
        # stand-in's models move towards.
        cls.guides = [speak("en-us+m3", SENTENCES[i], os.path.join(root, f"guide-{i}.wav")) for i in (0, 1)]
        cls.singer = []
        for i in (2, 3):
            path = speak("en-us+m3", SENTENCES[i], os.path.join(root, f"singer-{i}.wav"))
            standin.apply_voice(path, 1.0, 0)
            cls.singer.append(path)
        models = {epoch: model_bytes(root, epochs=epoch, standin_voice=voice) for epoch, voice in EPOCH_VOICES.items()}
        cls.epochs = [{"epoch": e, "model": {"blob": cls.env.put_blob(m)}} for e, m in models.items()]

    @classmethod
    def tearDownClass(cls):
        stop_warm_converter()
        cls.env.cleanup()

    def file(self, path):
        with open(path, "rb") as fh:
            return {"data": b64(fh.read())}

    def job(self, **fields):
        job = {
            "task": "audition",
            "epochs": list(reversed(self.epochs)),  # any order; the result lists them by epoch
            "guides": [self.file(p) for p in self.guides],
            "singer_clips": [self.file(p) for p in self.singer],
            "pitch": PITCH,
        }
        job.update(fields)
        return job

    def test_every_epoch_is_converted_scored_and_the_best_in_tune_epoch_recommended(self):
        result, reporter = self.env.run(self.job())
        self.assertNotIn("error", result, result.get("error"))
        self.assertEqual(set(result), {"epochs", "guides", "singer", "recommendation", "scoring", "settings",
                                       "timings"})
        epochs = {e["epoch"]: e for e in result["epochs"]}
        self.assertEqual(list(epochs), [10, 20, 30, 40])
        scores = {e: (v["similarity"], v["f0_rmse_cents"]) for e, v in epochs.items()}
        # Similarity follows the stand-in's timbre; the pitch follows the guide moved up 2 semitones, except
        # at epoch 40.
        self.assertLess(epochs[10]["similarity"], epochs[20]["similarity"], scores)
        self.assertLess(epochs[20]["similarity"], epochs[30]["similarity"], scores)
        for epoch in (10, 20, 30):
            self.assertLessEqual(epochs[epoch]["f0_rmse_cents"], F0_RMSE_BOUND_CENTS, scores)
        self.assertAlmostEqual(epochs[40]["f0_rmse_cents"], 100, delta=25, msg=scores)

        recommendation = result["recommendation"]
        self.assertEqual(recommendation["epoch"], 30, recommendation)
        self.assertTrue(recommendation["within_f0_bound"])
        self.assertEqual(recommendation["f0_rmse_bound_cents"], F0_RMSE_BOUND_CENTS)
        self.assertIn("epoch 30 has the highest speaker similarity", recommendation["reason"])

        for epoch in epochs.values():
            self.assertEqual([p["guide"] for p in epoch["phrases"]], [0, 1])
            self.assertEqual(epoch["embedder"], "contentvec")
            for phrase, guide in zip(epoch["phrases"], result["guides"]):
                self.assertEqual(set(phrase), {"guide", "similarity", "f0_rmse_cents", "voicing_agreement",
                                               "voiced_frames_compared", "dnsmos", "output"})
                self.assertEqual(set(phrase["dnsmos"]), {"ovrl", "sig", "bak", "p808"})
                output = phrase["output"]
                self.assertEqual((output["format"], output["sample_rate"]), ("flac", 40000))
                codec, rate, seconds = probe(base64.b64decode(output["data"]), self.env.root)
                self.assertEqual((codec, rate), ("flac", 40000))
                self.assertAlmostEqual(seconds, guide["duration_seconds"], delta=0.05)
        for guide in result["guides"]:
            self.assertTrue(0 < guide["similarity"] < 1, guide)
        self.assertEqual(result["singer"]["clips"], 2)
        self.assertEqual(result["settings"]["pitch"], PITCH)
        self.assertEqual(result["scoring"]["device"], "cpu")
        self.assertEqual([u["stage"] for u in reporter.updates], ["prepare", "epoch", "epoch", "epoch", "epoch"])

    def test_an_epoch_given_the_model_of_another_epoch_fails_before_any_scoring(self):
        job = self.job(epochs=[{"epoch": 25, "model": self.epochs[0]["model"]}])
        result, reporter = self.env.run(job)
        self.assertEqual(result["error"], "input.epochs[0].model is the model of epoch 10, not of epoch 25 as its "
                                          "entry says")
        self.assertEqual(reporter.updates, [])


class RecommendationTests(unittest.TestCase):
    def test_an_epoch_off_pitch_is_passed_over_and_the_reason_says_so(self):
        chosen = recommend([(50, 0.70, 20.0), (100, 0.80, 30.0), (150, 0.86, 75.0)])
        self.assertEqual(chosen["epoch"], 100)
        self.assertTrue(chosen["within_f0_bound"])
        self.assertIsNone(chosen["plateau_epoch"])
        self.assertEqual(chosen["reason"], (
            "epoch 100 has the highest speaker similarity (80.0%) of the 2 epoch(s) whose F0 error is within 50 cents; "
            "epoch 150 sounds more like the singer (86.0%) but misses the melody (F0 error 75 cents). "
            "Similarity still rises at the last epoch (150): more training may help"))

    def test_the_plateau_is_the_first_epoch_after_which_similarity_gains_less_than_a_point(self):
        chosen = recommend([(50, 0.70, 20.0), (100, 0.80, 20.0), (150, 0.805, 20.0), (200, 0.83, 20.0)])
        self.assertEqual(chosen["plateau_epoch"], 100)
        self.assertEqual(chosen["epoch"], 200)
        self.assertTrue(chosen["reason"].endswith("Similarity stops rising after epoch 100 (the next gains less than "
                                                  "1 point)"), chosen["reason"])

    def test_a_tie_goes_to_the_earlier_epoch(self):
        self.assertEqual(recommend([(50, 0.8, 10.0), (100, 0.8, 10.0)])["epoch"], 50)

    def test_with_no_epoch_in_tune_the_most_similar_is_named_with_a_warning(self):
        chosen = recommend([(50, 0.7, None), (100, 0.75, 90.0), (150, 0.8, 120.0)])
        self.assertEqual(chosen["epoch"], 150)
        self.assertFalse(chosen["within_f0_bound"])
        self.assertIn("no epoch keeps the F0 error within 50 cents (the closest: epoch 100, F0 error 90 cents)",
                      chosen["reason"])

    def test_a_single_epoch_has_no_plateau(self):
        chosen = recommend([(50, 0.7, 10.0)])
        self.assertIsNone(chosen["plateau_epoch"])
        self.assertNotIn("Similarity", chosen["reason"])


class OutputTests(unittest.TestCase):
    def setUp(self):
        self.env = WorkerEnv(with_applio=False)
        self.addCleanup(self.env.cleanup)
        self.ctx = TaskContext(self.env.settings(), MemoryReporter(), "job-1")
        self.outputs = []
        for i in range(2):
            path = os.path.join(self.env.root, f"out-{i}.flac")
            with open(path, "wb") as fh:
                fh.write(bytes([i]) * 1000)
            self.outputs.append((path, 40000, 1.0))

    def epochs(self):
        return [{"phrases": [{"output": 0}, {"output": 1}]}]

    def test_small_outputs_travel_inline_and_large_ones_all_as_blobs(self):
        epochs = self.epochs()
        audition._attach_outputs(self.ctx, "auto", epochs, self.outputs)
        self.assertEqual([sorted(p["output"]) for p in epochs[0]["phrases"]],
                         [["data", "duration_seconds", "format", "sample_rate", "sha256", "size"]] * 2)
        epochs = self.epochs()
        with mock.patch.object(audition, "OUTPUT_INLINE_TOTAL_MAX_BYTES", 1500):
            audition._attach_outputs(self.ctx, "auto", epochs, self.outputs)
        for phrase, (path, _, _) in zip(epochs[0]["phrases"], self.outputs):
            self.assertEqual(phrase["output"]["blob"], phrase["output"]["sha256"])
            with open(path, "rb") as fh:
                self.assertEqual(self.env.read_blob(phrase["output"]["blob"]), fh.read())


class ValidationTests(unittest.TestCase):
    def setUp(self):
        self.env = WorkerEnv(with_applio=False)
        self.addCleanup(self.env.cleanup)

    def error(self, **fields):
        job = {"task": "audition", "epochs": [{"epoch": 10, "model": {"data": b64(b"model")}}],
               "guides": [{"data": b64(b"guide")}], "singer_clips": [{"data": b64(b"clip")}]}
        job.update(fields)
        result, _ = self.env.run(job)
        return result["error"]

    def test_fields_are_checked_and_named(self):
        model = {"data": b64(b"model")}
        cases = {
            "input.epochs is required": {"epochs": None},
            "input.epochs is empty; send at least one epoch": {"epochs": []},
            "input.epochs has 13 items; at most 12 are allowed":
                {"epochs": [{"epoch": i, "model": model} for i in range(1, 14)]},
            "input.epochs[1].epoch 10 is listed twice": {"epochs": [{"epoch": 10, "model": model}] * 2},
            "input.epochs[0].model is required": {"epochs": [{"epoch": 10}]},
            "input.epochs[0].steps is not a field of an epoch": {"epochs": [{"epoch": 10, "model": model, "steps": 3}]},
            "input.guides is empty; send at least one file": {"guides": []},
            "input.singer_clips[0] must be a JSON object, got 'clip.wav'": {"singer_clips": ["clip.wav"]},
            "input.singer_clips[1] must have exactly one of 'blob'": {"singer_clips": [{"data": b64(b"a")}, {}]},
            "input.pitch must be an integer from -24 to 24, got 30": {"pitch": 30},
            "does not implement them": {"f0_method": "hybrid[crepe+rmvpe]"},
            "input.autotune is not a field of task 'audition'": {"autotune": True},
        }
        for message, fields in cases.items():
            with self.subTest(message=message):
                self.assertIn(message, self.error(**fields))


if __name__ == "__main__":
    unittest.main()
