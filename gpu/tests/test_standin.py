"""The Applio stand-in reproduces the 3.6.4 behaviour the worker must cope with."""

import os
import subprocess
import sys
import unittest

from tests.support import WorkerEnv, standin, wav_bytes
from vsworker.applio import parse_epoch_line


class StandInTests(unittest.TestCase):
    def setUp(self):
        self.env = WorkerEnv()
        self.exp = os.path.join(self.env.applio, "logs", "m")
        self.dataset = os.path.join(self.env.root, "dataset")
        for rel, data in {"0/a.wav": wav_bytes(3.5, 32000, 200), "1/b.wav": wav_bytes(3.5, 32000, 300),
                          "c.wav": wav_bytes(3.5, 32000, 250), "singer/d.wav": wav_bytes(3.5, 32000, 100),
                          "0/e.m4a": b"not read by libsndfile"}.items():
            path = os.path.join(self.dataset, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(data)

    def tearDown(self):
        self.env.cleanup()

    def script(self, rel, *args, env=None):
        return subprocess.run([sys.executable, rel] + [str(a) for a in args], cwd=self.env.applio,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=self.env.env(**(env or {})), timeout=60)

    def prepare(self):
        pre = self.script("rvc/train/preprocess/preprocess.py", self.exp, self.dataset, 32000, 2, "Automatic",
                          True, False, 0.7, 3.0, 0.3, "post")
        ext = self.script("rvc/train/extract/extract.py", self.exp, "rmvpe", 2, "-", 32000, "contentvec", "None", 2)
        return pre, ext

    def train(self, epochs, env=None):
        return self.script("rvc/train/train.py", "m", 2, epochs, "", "", "0", 2, 32000, False, False, False,
                           False, "HiFi-GAN", False, env=env)

    def test_preprocess_reads_only_applio_formats_and_integer_speaker_folders(self):
        pre, ext = self.prepare()
        self.assertEqual(pre.returncode, 0, pre.stdout)
        self.assertIn('Speaker ID folder is expected to be integer, got "singer" instead.', pre.stdout)
        slices = sorted(os.listdir(os.path.join(self.exp, "sliced_audios")))
        self.assertEqual(sorted({name.split("_")[0] for name in slices}), ["0", "1"])
        self.assertEqual(len(slices), 6)  # a, b, c (3 files x 2 slices); e.m4a and singer/ ignored
        with open(os.path.join(self.exp, "filelist.txt")) as fh:
            rows = fh.read().splitlines()
        self.assertTrue(all(r.startswith(("logs/m/", "logs/mute/")) for r in rows))

    def test_extraction_on_gpu_0_without_cuda_fails_every_file(self):
        self.script("rvc/train/preprocess/preprocess.py", self.exp, self.dataset, 32000, 2, "Automatic",
                    True, False, 0.7, 3.0, 0.3, "post")
        result = self.script("rvc/train/extract/extract.py", self.exp, "rmvpe", 2, "0", 32000, "contentvec",
                             "None", 2)
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stdout.count("on cuda:0: Torch not compiled with CUDA enabled"), 6)
        with open(os.path.join(self.exp, "filelist.txt")) as fh:
            self.assertEqual(fh.read(), "")  # no speakers, so no mute rows either

    def test_missing_dataset_exits_one(self):
        result = self.script("rvc/train/preprocess/preprocess.py", self.exp, "/nonexistent", 32000, 2,
                             "Automatic", True, False, 0.7, 3.0, 0.3, "post")
        self.assertEqual(result.returncode, 1)

    def test_training_prints_epoch_lines_and_resumes_from_checkpoints(self):
        self.prepare()
        first = self.train(4)
        self.assertEqual(first.returncode, 0)
        epochs = [parse_epoch_line(l) for l in first.stdout.splitlines() if parse_epoch_line(l)]
        self.assertEqual([e["epoch"] for e in epochs], [1, 2, 3, 4])
        self.assertEqual(epochs[0]["model"], "m")
        self.assertIn("Saved model", first.stdout)
        second = self.train(6)
        self.assertIn("(epoch 4)", second.stdout)
        self.assertEqual([parse_epoch_line(l)["epoch"] for l in second.stdout.splitlines() if parse_epoch_line(l)],
                         [5, 6])
        # 10 rows in two loader buckets: 3 x 3.0 s slices (2 batches of 2), and 3 x 0.8 s slices
        # plus 4 mute rows (4 batches): 6 steps per epoch.
        self.assertTrue(os.path.exists(os.path.join(self.exp, "m_6e_36s.pth")))

    def test_training_loader_leaves_out_slices_outside_its_buckets(self):
        import array

        for rate, hop in ((32000, 320), (40000, 400), (48000, 480)):
            for seconds, kept in ((0.38, False), (0.39, True), (6.75, True), (6.76, False)):
                path = os.path.join(self.env.root, f"{rate}-{seconds}.wav")
                standin.write_wav_float32(path, array.array("h", bytes(2 * int(rate * seconds))), rate)
                self.assertEqual(standin.wav_rate(path), rate)
                with self.subTest(rate=rate, seconds=seconds):
                    self.assertEqual(standin.bucket_of(standin.loader_length(path, hop)) != -1, kept)
        self.assertEqual(standin.loader_batches([60, 70, 150, 1000, 40], 2), 2)

    def test_clips_longer_than_the_buckets_are_not_trained_on(self):
        for name in ("0/a.wav", "1/b.wav", "c.wav"):
            with open(os.path.join(self.dataset, name), "wb") as fh:
                fh.write(wav_bytes(7.0, 32000, 200))
        self.script("rvc/train/preprocess/preprocess.py", self.exp, self.dataset, 32000, 2, "Skip",
                    True, False, 0.7, 3.0, 0.3, "post")
        self.script("rvc/train/extract/extract.py", self.exp, "rmvpe", 2, "-", 32000, "contentvec", "None", 2)
        result = self.train(2)
        self.assertEqual(result.returncode, 0)  # only the 4 mute rows are left: 2 batches
        self.assertIn("Not enough data present in the training set", result.stdout)

    def test_failures_still_exit_zero(self):
        self.prepare()
        crashed = self.train(6, env={"FAKE_APPLIO_FAULT": "crash-at-epoch:3"})
        self.assertEqual(crashed.returncode, 0)
        self.assertIn("CUDA out of memory", crashed.stdout)
        self.assertFalse([n for n in os.listdir(self.exp) if n.startswith("m_")])

    def test_no_final_model_without_assets_config_json(self):
        os.unlink(os.path.join(self.env.applio, "assets", "config.json"))
        self.prepare()
        result = self.train(2)
        self.assertEqual(result.returncode, 0)
        self.assertIn("Training has been successfully completed", result.stdout)
        self.assertIn("An error occurred extracting the model", result.stdout)
        self.assertFalse([n for n in os.listdir(self.exp) if n.startswith("m_")])

    def test_existing_index_is_skipped(self):
        self.prepare()
        index = os.path.join(self.exp, "m.index")
        with open(index, "w") as fh:
            fh.write("stale")
        result = self.script("rvc/train/process/extract_index.py", self.exp, "Auto")
        self.assertEqual(result.returncode, 0)
        with open(index) as fh:
            self.assertEqual(fh.read(), "stale")
        os.unlink(index)
        self.script("rvc/train/process/extract_index.py", self.exp, "Auto")
        with open(index) as fh:
            self.assertTrue(fh.read().startswith("FAKE-FAISS"))


if __name__ == "__main__":
    unittest.main()
