"""The separate task with a stand-in audio-separator CLI."""

import os
import unittest

from tests.support import WorkerEnv, b64, requires_ffmpeg, wav_bytes
from vsworker.settings import DEFAULT_SEPARATOR_MODEL


@requires_ffmpeg
class SeparateTests(unittest.TestCase):
    def setUp(self):
        self.env = WorkerEnv(with_applio=False)
        self.model_dir = os.path.join(self.env.root, "separator-models")
        os.makedirs(self.model_dir)
        with open(os.path.join(self.model_dir, DEFAULT_SEPARATOR_MODEL), "wb") as fh:
            fh.write(b"baked model")
        self.song = b64(wav_bytes(2.0, 44100, 440, channels=2))

    def tearDown(self):
        self.env.cleanup()

    def test_both_stems_become_blobs(self):
        result, reporter = self.env.run({"task": "separate", "input": {"data": self.song}})
        self.assertNotIn("error", result, result.get("error"))
        self.assertEqual(set(result["stems"]), {"vocals", "instrumental"})
        for stem in result["stems"].values():
            self.assertEqual(stem["format"], "flac")
            self.assertEqual(self.env.read_blob(stem["blob"])[:4], b"fLaC")
        self.assertEqual(result["model"], DEFAULT_SEPARATOR_MODEL)
        self.assertAlmostEqual(result["input_seconds"], 2.0, places=2)
        self.assertTrue(any("--custom_output_names" in line for line in reporter.lines))
        # The last progress update precedes the separation, not the result.
        self.assertEqual([u["stage"] for u in reporter.updates], ["separate"])

    def test_single_stem_from_a_blob_as_wav(self):
        sha = self.env.put_blob(wav_bytes(1.0, 44100, 440))
        result, _ = self.env.run({"task": "separate", "input": {"blob": sha}, "stems": "vocals",
                                  "output_format": "wav"})
        self.assertEqual(set(result["stems"]), {"vocals"})
        self.assertEqual(self.env.read_blob(result["stems"]["vocals"]["blob"])[:4], b"RIFF")

    def test_missing_baked_model(self):
        os.unlink(os.path.join(self.model_dir, DEFAULT_SEPARATOR_MODEL))
        result, _ = self.env.run({"task": "separate", "input": {"data": self.song}})
        self.assertIn("separation model", result["error"])
        self.assertIn("is missing", result["error"])

    def test_separator_that_writes_nothing(self):
        result, _ = self.env.run({"task": "separate", "input": {"data": self.song}},
                                 FAKE_SEPARATOR_FAULT="no-output")
        self.assertIn("audio-separator did not write the vocals stem", result["error"])
        self.assertIn("simulated: nothing written", result["error"])

    def test_separator_not_installed(self):
        result, _ = self.env.run({"task": "separate", "input": {"data": self.song}},
                                 VOICESTUDIO_SEPARATOR_BIN="no-such-audio-separator")
        self.assertIn("audio-separator not found", result["error"])


if __name__ == "__main__":
    unittest.main()
