"""Every kind of bad input is rejected with a message naming the field."""

import unittest

from tests.support import WorkerEnv, b64

SHA = "a" * 64
DATASET = {"blob": SHA}
MODEL = {"blob": SHA}
AUDIO = {"data": b64(b"RIFF")}


def train(**fields):
    job = {"task": "train", "run_id": "alice", "dataset": DATASET}
    job.update(fields)
    return job


def convert(**fields):
    job = {"task": "convert", "model": MODEL, "input": AUDIO}
    job.update(fields)
    return job


CASES = [
    # job envelope and task
    ({}, "input.task is required"),
    ({"task": "explode"}, "input.task must be one of 'info', 'blob_has'"),
    ({"task": 3}, "input.task must be one of"),
    ({"task": "info", "verbose": True}, "input.verbose is not a field of task 'info'"),
    # run ids: safe charset, no traversal, no Applio names
    (train(run_id="../etc"), "input.run_id must be 1-64 characters of A-Z a-z 0-9 _ -"),
    (train(run_id="a/b"), "input.run_id must be 1-64 characters"),
    (train(run_id=".hidden"), "input.run_id must be 1-64 characters"),
    (train(run_id="..."), "input.run_id must be 1-64 characters"),
    (train(run_id="x" * 65), "input.run_id must be at most 64 characters"),
    (train(run_id=""), "input.run_id must be 1-64 characters"),
    (train(run_id="mute"), "input.run_id 'mute' is reserved"),
    (train(run_id="mute_spin"), "input.run_id 'mute_spin' is reserved"),
    (train(run_id="Reference"), "is reserved"),
    (train(run_id=7), "input.run_id must be a string, got 7"),
    (train(run_id=None), "input.run_id is required"),
    # `$` also matches before a final newline: every name must match as a whole
    (train(run_id="nl1\n"), "input.run_id must be 1-64 characters"),
    (train(run_id="reference\n"), "input.run_id must be 1-64 characters"),
    (train(run_id="mute\n"), "input.run_id must be 1-64 characters"),
    (train(dataset={"blob": SHA[:63] + "\n"}), "input.dataset.blob must be a sha256 hex digest"),
    (convert(model={"blob": SHA[:63] + "\n"}), "input.model.blob must be a sha256 hex digest"),
    ({"task": "blob_get", "sha256": SHA[:63] + "\n"}, "input.sha256 must be a sha256 hex digest"),
    ({"task": "blob_commit", "sha256": SHA[:63] + "\n", "size": 1}, "input.sha256 must be a sha256 hex digest"),
    ({"task": "blob_put", "sha256": SHA, "size": 3, "offset": 0, "data": "AAAA",
      "chunk_sha256": SHA[:63] + "\n"}, "input.chunk_sha256 must be a sha256 hex digest"),
    ({"task": "blob_has", "hashes": [SHA[:63] + "\n"]}, "input.hashes[0] must be a sha256 hex digest"),
    # file references
    (train(dataset=None), "input.dataset is required"),
    (train(dataset="abc"), "input.dataset must be a JSON object"),
    (train(dataset={}), "input.dataset must have exactly one of 'blob'"),
    (train(dataset={"blob": SHA, "data": "AAAA"}), "input.dataset must have exactly one of"),
    (train(dataset={"blob": "../../" + "a" * 58}), "input.dataset.blob must be a sha256 hex digest"),
    (train(dataset={"blob": SHA, "path": "/etc/passwd"}), "input.dataset.path is not a field of a file reference"),
    (train(dataset={"data": "%%%"}), "input.dataset.data is not valid base64"),
    (train(dataset={"data": ""}), "input.dataset.data is empty"),
    (train(pretrained_g={"data": "AAAA"}), "input.pretrained_g.data is not a field"),
    (train(pretrained_g={"blob": SHA}), "input.pretrained_g and input.pretrained_d must be given together"),
    (train(pretrained_g=MODEL, pretrained_d=MODEL, pretrained=False), "input.pretrained is false"),
    # training settings: types, ranges, enums
    (train(sample_rate=44100), "input.sample_rate must be one of 32000, 40000, 48000, got 44100"),
    (train(sample_rate="40000"), "input.sample_rate must be an integer"),
    (train(epochs=0), "input.epochs must be an integer from 1 to 10000, got 0"),
    (train(epochs=10001), "input.epochs must be an integer from 1 to 10000"),
    (train(epochs=2.5), "input.epochs must be an integer, got 2.5"),
    (train(epochs=True), "input.epochs must be an integer, got true"),
    (train(batch_size=51), "input.batch_size must be an integer from 1 to 50"),
    (train(save_every=101), "input.save_every must be an integer from 1 to 100"),
    (train(f0_method="harvest"), "input.f0_method must be one of 'rmvpe', 'crepe', 'crepe-tiny', 'fcpe'"),
    (train(embedder="custom"), "input.embedder must be one of 'contentvec'"),
    (train(vocoder="hifigan"), "input.vocoder must be one of 'HiFi-GAN', 'MRF HiFi-GAN', 'RefineGAN'"),
    (train(pretrained="yes"), "input.pretrained must be true or false, got 'yes'"),
    (train(index_algorithm="auto"), "input.index_algorithm must be one of 'Auto', 'Faiss', 'KMeans'"),
    (train(cut_preprocess="Smart"), "input.cut_preprocess must be one of"),
    (train(chunk_len=0.7), "input.chunk_len must be a multiple of 0.5"),
    (train(chunk_len=6), "input.chunk_len must be a number from 0.5 to 5.0"),
    (train(overlap_len=0.25), "input.overlap_len must be one of 0.0, 0.1, 0.2, 0.3, 0.4"),
    (train(normalization="max"), "input.normalization must be one of 'none', 'pre', 'post'"),
    (train(noise_reduction_strength=1.5), "input.noise_reduction_strength must be a number from 0.0 to 1.0"),
    (train(noise_reduction_strength=0.55), "input.noise_reduction_strength must be a multiple of 0.1"),
    (train(include_mutes=11), "input.include_mutes must be an integer from 0 to 10"),
    (train(checkpointing=1), "input.checkpointing must be true or false, got 1"),
    (train(epoch=10), "input.epoch is not a field of task 'train'"),
    # conversion settings
    (convert(pitch=25), "input.pitch must be an integer from -24 to 24, got 25"),
    (convert(pitch=-25), "input.pitch must be an integer from -24 to 24"),
    # huge numbers are shown short, never as hundreds of digits
    (convert(pitch=1e300), "input.pitch must be an integer from -24 to 24, got 1e+300"),
    (convert(pitch=-(10 ** 400)), "input.pitch must be an integer from -24 to 24, got an integer with more than 300 digits"),
    (convert(pitch=10 ** 20), "input.pitch must be an integer from -24 to 24, got 1e+20"),
    (convert(pitch=2.5e-300), "input.pitch must be an integer, got 2.5e-300"),
    (convert(index_rate=10 ** 400), "input.index_rate must be a number from 0.0 to 1.0, got an integer with more than 300 digits"),
    (convert(index_rate=float("inf")), "input.index_rate must be a number from 0.0 to 1.0, got inf"),
    (train(sample_rate=1e300), "input.sample_rate must be one of 32000, 40000, 48000, got 1e+300"),
    (convert(index_rate=1.5), "input.index_rate must be a number from 0.0 to 1.0"),
    (convert(index_rate="high"), "input.index_rate must be a number, got 'high'"),
    (convert(protect=0.6), "input.protect must be a number from 0.0 to 0.5"),
    (convert(volume_envelope=-0.1), "input.volume_envelope must be a number from 0.0 to 1.0"),
    (convert(f0_method="hybrid[crepe+rmvpe]"), "input.f0_method 'hybrid[crepe+rmvpe]': Applio 3.6.4 accepts"),
    (convert(f0_method="pm"), "input.f0_method must be one of 'rmvpe', 'fcpe', 'crepe', 'crepe-tiny'"),
    (convert(autotune_strength=2), "input.autotune_strength must be a number from 0.0 to 1.0"),
    (convert(clean_strength=float("nan")), "input.clean_strength must be a number from 0.0 to 1.0"),
    (convert(output_format="M4A"), "input.output_format must be one of 'wav', 'flac', 'mp3', 'ogg', 'm4a'"),
    (convert(output_mode="url"), "input.output_mode must be one of 'auto', 'inline', 'blob'"),
    (convert(embedder="hubert"), "input.embedder must be one of"),
    (convert(split_audio="false"), "input.split_audio must be true or false"),
    (convert(model=None), "input.model is required"),
    (convert(input=None), "input.input is required"),
    (convert(index={"blob": "short"}), "input.index.blob must be a sha256"),
    (convert(sid=1), "input.sid is not a field of task 'convert'"),
    # separation
    ({"task": "separate"}, "input.input is required"),
    ({"task": "separate", "input": AUDIO, "stems": "drums"}, "input.stems must be one of 'both', 'vocals', 'instrumental'"),
    ({"task": "separate", "input": AUDIO, "output_format": "mp3"}, "input.output_format must be one of 'flac', 'wav'"),
]


class ValidationTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = WorkerEnv()

    @classmethod
    def tearDownClass(cls):
        cls.env.cleanup()

    def test_bad_inputs_are_rejected_with_the_field_named(self):
        for job_input, expected in CASES:
            with self.subTest(job_input=job_input):
                result, _ = self.env.run(job_input)
                self.assertEqual(set(result), {"error"}, result)
                self.assertIsInstance(result["error"], str)
                self.assertIn(expected, result["error"])

    def test_no_error_echoes_a_long_number(self):
        for job_input, _ in CASES:
            with self.subTest(job_input=str(job_input)[:80]):
                error = self.env.run(job_input)[0]["error"]
                self.assertNotRegex(error, r"\d{25}")

    def test_input_must_be_an_object(self):
        from tests.support import MemoryReporter, TaskContext, handle_job

        ctx = TaskContext(self.env.settings(), MemoryReporter(), "x")
        self.assertEqual(handle_job({"id": "x"}, ctx), {"error": "input must be a JSON object, got null"})
        self.assertIn("must be a JSON object", handle_job({"id": "x", "input": [1]}, ctx)["error"])
        self.assertIn("job must be a JSON object", handle_job("nonsense", ctx)["error"])

    def test_nothing_is_written_for_rejected_jobs(self):
        import os

        self.env.run(train(run_id="../escape"))
        self.assertFalse(os.path.exists(os.path.join(self.env.volume, "voicestudio", "escape")))
        self.assertFalse(os.path.exists(os.path.join(self.env.volume, "escape")))


if __name__ == "__main__":
    unittest.main()
