"""The train task against the Applio stand-in: full runs, crashes, resume,
failure detection and invalidation."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

from tests.support import (HANDLER, LineCollector, WorkerEnv, b64, encode_audio, process_alive,
                           requires_ffmpeg, sha256, standin, stop_process, tar_bytes, wait_until, wav_bytes,
                           zip_bytes)
from vsworker.pthmeta import rvc_model_info

RATE = 32000  # the stand-in resamples 32 kHz clips for free, which keeps tests fast


def dataset(clips=4, seconds=3.5, folder="vocals"):
    files = {f"{folder}/take{i}.wav": wav_bytes(seconds, RATE, 200 + 15 * i) for i in range(clips)}
    return tar_bytes(files)


def train_input(run_id="alice", data=None, **overrides):
    job = {
        "task": "train",
        "run_id": run_id,
        "dataset": {"data": b64(data if data is not None else dataset())},
        "sample_rate": RATE,
        "epochs": 6,
        "save_every": 2,
        "batch_size": 2,
    }
    job.update(overrides)
    return job


class TrainingTestCase(unittest.TestCase):
    def setUp(self):
        self.env = WorkerEnv()

    def tearDown(self):
        self.env.cleanup()

    def run_dir(self, run_id="alice"):
        return os.path.join(self.env.volume, "voicestudio", "runs", run_id)

    def exp_file(self, name, run_id="alice"):
        return os.path.join(self.run_dir(run_id), "applio", name)

    def checkpoints(self, run_id="alice"):
        folder = os.path.join(self.run_dir(run_id), "applio")
        return sorted(n for n in os.listdir(folder) if n[:2] in ("G_", "D_"))

    def assert_ok(self, result):
        self.assertNotIn("error", result, result.get("error"))
        return result

    def epochs_reported(self, reporter):
        return [u["epoch"] for u in reporter.updates if u.get("stage") == "train" and u.get("step")]


class FullRunTests(TrainingTestCase):
    def test_full_run_through_local_job(self):
        proc = self.env.run_local(train_input(), FAKE_APPLIO_EPOCH_SPEED="0:00:42")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        result = json.loads(proc.stdout)  # stdout holds exactly one JSON document
        self.assert_ok(result)
        stderr_objects = [json.loads(line) for line in proc.stderr.splitlines()]
        self.assertTrue(all(set(o) <= {"progress", "log"} and len(o) == 1 for o in stderr_objects))
        progress = [o["progress"] for o in stderr_objects if "progress" in o]
        stages = [p["stage"] for p in progress]
        for stage in ("unpack", "preprocess", "extract", "train", "index"):
            self.assertIn(stage, stages)
        # No update right before the result: runpod-python POSTs progress from a thread,
        # and one landing after the result leaves the job shown as IN_PROGRESS.
        self.assertEqual(stages[-1], "index")
        epochs = [p for p in progress if p["stage"] == "train" and p.get("step")]
        self.assertEqual([p["epoch"] for p in epochs], [1, 2, 3, 4, 5, 6])
        self.assertEqual(epochs[2]["epochs"], 6)
        self.assertEqual(epochs[2]["seconds_per_epoch"], 42.0)
        self.assertEqual(epochs[2]["eta_seconds"], 42.0 * 3)
        self.assertIn("about 2 min 6 s left", epochs[2]["message"])
        logs = [o["log"] for o in stderr_objects if "log" in o]
        self.assertTrue(any("| epoch=6 |" in line for line in logs))

        training = result["training"]
        self.assertEqual((training["epochs"], training["steps"]), (6, 6 * (8 + 2) // 2))
        self.assertEqual(training["sample_rate"], RATE)
        self.assertEqual(training["embedder"], "contentvec")
        self.assertEqual(training["f0_method"], "rmvpe")
        self.assertEqual(training["dataset_files"], 4)
        self.assertAlmostEqual(training["dataset_seconds"], 14.0, places=2)
        self.assertEqual(training["slices"], 8)
        self.assertEqual(training["resumed_from_epoch"], 0)
        self.assertEqual(training["seconds_per_epoch"], 42.0)
        self.assertEqual(result["model"]["filename"], "alice_6e_30s.pth")
        self.assertEqual(result["index"]["filename"], "alice.index")
        for key in ("unpack", "preprocess", "extract", "train", "index", "total"):
            self.assertIn(key, result["timings"])

        # The artifacts are blobs whose bytes match the hashes.
        model = self.env.read_blob(result["model"]["sha256"])
        self.assertEqual(sha256(model), result["model"]["sha256"])
        self.assertEqual(len(model), result["model"]["size"])
        blob_path = os.path.join(self.env.volume, "voicestudio", "blobs",
                                 result["model"]["sha256"][:2], result["model"]["sha256"])
        self.assertEqual(rvc_model_info(blob_path, "model")["epochs"], 6)

        # Every saved epoch's inference model is a blob too (for audition); the last one is the model itself.
        saved = result["saved_epochs"]
        self.assertEqual([(s["epoch"], s["filename"]) for s in saved],
                         [(2, "alice_2e_10s.pth"), (4, "alice_4e_20s.pth"), (6, "alice_6e_30s.pth")])
        self.assertEqual(saved[-1]["sha256"], result["model"]["sha256"])
        for entry in saved:
            path = os.path.join(self.env.volume, "voicestudio", "blobs", entry["sha256"][:2], entry["sha256"])
            self.assertEqual(os.path.getsize(path), entry["size"])
            self.assertEqual(rvc_model_info(path, entry["filename"])["epochs"], entry["epoch"])
        self.assertEqual(len({s["sha256"] for s in saved}), 3)
        # The run's folder keeps only the final model; the store holds the others.
        self.assertFalse(os.path.exists(self.exp_file("alice_2e_10s.pth")))
        self.assertTrue(self.env.read_blob(result["index"]["sha256"]).startswith(b"FAKE-FAISS"))

        # Layout: integer speaker folder, Applio link, one checkpoint pair kept.
        clips = sorted(os.listdir(os.path.join(self.run_dir(), "dataset", "0")))
        self.assertEqual(clips, [f"clip_{i:05d}.wav" for i in range(1, 5)])
        link = os.path.join(self.env.applio, "logs", "alice")
        self.assertTrue(os.path.islink(link))
        self.assertEqual(os.path.realpath(link), os.path.realpath(os.path.join(self.run_dir(), "applio")))
        self.assertEqual(self.checkpoints(), ["D_30.pth", "G_30.pth"])
        with open(os.path.join(self.run_dir(), "state.json")) as fh:
            state = json.load(fh)
        self.assertEqual({k: v["status"] for k, v in state["stages"].items()},
                         {s: "done" for s in ("unpack", "preprocess", "extract", "train", "index")})

        # Asking again returns the stored result at once, without running Applio.
        again, reporter = self.env.run(train_input())
        self.assertTrue(again["cached"])
        self.assertEqual(again["model"], result["model"])
        self.assertEqual(again["index"], result["index"])
        self.assertFalse(any("running:" in line for line in reporter.lines))
        self.assertEqual(reporter.updates, [])

    def test_dataset_blob_and_zip_archive(self):
        files = {f"clips/{i}.wav": wav_bytes(3.5, RATE, 300 + i) for i in range(4)}
        sha = self.env.put_blob(zip_bytes(files), chunk=50000)
        result, _ = self.env.run(train_input(dataset={"blob": sha}, epochs=2))
        self.assert_ok(result)
        self.assertEqual(result["training"]["dataset_sha256"], sha)

    def test_applio_dir_reached_through_a_symlink(self):
        link = os.path.join(self.env.root, "applio-link")
        os.symlink(self.env.applio, link)
        result, _ = self.env.run(train_input(epochs=2), APPLIO_DIR=link)
        self.assert_ok(result)

    def test_missing_config_json_is_created_from_the_template(self):
        env = WorkerEnv(config_json=False)
        self.addCleanup(env.cleanup)
        result, reporter = env.run(train_input(epochs=2))
        self.assert_ok(result)
        self.assertTrue(os.path.isfile(os.path.join(env.applio, "assets", "config.json")))
        self.assertTrue(any("created" in line and "config.json" in line for line in reporter.lines))


class ResumeTests(TrainingTestCase):
    def test_crash_mid_training_then_retry_resumes(self):
        failed, _ = self.env.run(train_input(), FAKE_APPLIO_FAULT="crash-at-epoch:5")
        error = failed["error"]
        self.assertIn("training stopped without writing the final model", error)
        self.assertIn("last epoch reported: 5", error)
        self.assertIn("CUDA out of memory", error)  # Applio's own line is quoted
        self.assertIn("lower input.batch_size or set input.checkpointing", error)
        self.assertIn("submitting the job again resumes from the last checkpoint", error)
        self.assertEqual(self.checkpoints(), ["D_10.pth", "D_20.pth", "G_10.pth", "G_20.pth"])

        result, reporter = self.env.run(train_input(), job_id="job-2")
        self.assert_ok(result)
        self.assertEqual(result["training"]["resumed_from_epoch"], 4)
        self.assertEqual(self.epochs_reported(reporter), [5, 6])
        self.assertTrue(any("Loaded checkpoint" in line and "(epoch 4)" in line for line in reporter.lines))
        # preprocess and extract were not repeated
        self.assertFalse(any("[preprocess] running" in line for line in reporter.lines))
        self.assertFalse(any("[extract] running" in line for line in reporter.lines))
        self.assertEqual(result["model"]["filename"], "alice_6e_30s.pth")

    def test_a_data_loader_out_of_shared_memory_says_what_to_change(self):
        failed, _ = self.env.run(train_input(), FAKE_APPLIO_FAULT="bus-error-at-epoch:3")
        error = failed["error"]
        self.assertIn("is killed by signal: Bus error", error)  # Applio's own line is quoted
        self.assertRegex(error, r"ran out of shared memory: /dev/shm is (\d+ MiB|missing) on this worker")
        self.assertIn("change the endpoint's GPU type to one with more system memory", error)
        self.assertIn("--shm-size", error)
        self.assertIn("resumes from the last checkpoint", error)
        self.assertNotIn("The GPU ran out of memory", error)

    def read_exp_file(self, name):
        with open(self.exp_file(name), "rb") as fh:
            return fh.read()

    def test_unreadable_checkpoint_is_moved_aside_and_training_resumes_from_the_newest_readable(self):
        failed, _ = self.env.run(train_input(), FAKE_APPLIO_FAULT="torn-checkpoint-at-epoch:4")
        self.assertIn("error", failed)
        self.assertIn("D_20.pth", self.checkpoints())  # half-written
        torn = {name: self.read_exp_file(name) for name in ("G_20.pth", "D_20.pth")}
        result, reporter = self.env.run(train_input())
        self.assert_ok(result)
        self.assertEqual(result["training"]["resumed_from_epoch"], 2)
        self.assertEqual(self.epochs_reported(reporter), [3, 4, 5, 6])
        # Never deleted: the whole pair is kept, byte for byte, under a name Applio does not load.
        for name, content in torn.items():
            self.assertEqual(self.read_exp_file(f"{name}.unreadable-1"), content)
        warning = next(w for w in result["warnings"] if "D_20.pth" in w)
        self.assertIn("could not be read", warning)
        self.assertIn("moved aside as G_20.pth.unreadable-1, D_20.pth.unreadable-1", warning)
        self.assertIn("resumed from epoch 2", warning)
        resume = next(u for u in reporter.updates if u.get("stage") == "train")
        self.assertIn("resuming from the checkpoint of epoch 2", resume["message"])
        self.assertIn("2 unreadable checkpoint files moved aside", resume["message"])

    def test_no_readable_checkpoint_fails_clearly_instead_of_training_from_epoch_1(self):
        self.env.run(train_input(), FAKE_APPLIO_FAULT="crash-at-epoch:5")
        names = ["D_10.pth", "D_20.pth", "G_10.pth", "G_20.pth"]
        self.assertEqual(self.checkpoints(), names)
        for name in names:  # e.g. written by an Applio whose format this worker cannot parse
            with open(self.exp_file(name), "wb") as fh:
                fh.write(b"unparseable " + name.encode())
        for attempt in ("job-2", "job-3"):  # a re-submission does not train from epoch 1 either
            with self.subTest(attempt=attempt):
                failed, reporter = self.env.run(train_input(), job_id=attempt)
                error = failed["error"]
                self.assertIn("no readable training checkpoint", error)
                self.assertIn("could not be read", error)
                for name in names:
                    self.assertIn(f"{name}.unreadable-1", error)
                self.assertIn("runs/alice/applio", error)
                self.assertIn("new run_id", error)
                self.assertEqual(self.epochs_reported(reporter), [])
                self.assertFalse(any("[train] running" in line for line in reporter.lines))
                self.assertEqual(sorted(self.checkpoints()), sorted(f"{n}.unreadable-1" for n in names))
        for name in names:
            self.assertEqual(self.read_exp_file(f"{name}.unreadable-1"), b"unparseable " + name.encode())
        # Settings that invalidate the checkpoints anyway (here the vocoder) train from epoch 1.
        result, _ = self.env.run(train_input(vocoder="RefineGAN"))
        self.assert_ok(result)
        self.assertEqual(result["training"]["resumed_from_epoch"], 0)
        self.assertEqual(self.checkpoints(), ["D_30.pth", "G_30.pth"])

    def test_final_model_cut_short_is_written_again_on_retry(self):
        # Applio writes the final model only when no file of that name exists, and the
        # retry reaches the same step count, so a torn file would block the run for good.
        failed, _ = self.env.run(train_input(), FAKE_APPLIO_FAULT="torn-final-model")
        self.assertIn("training stopped without writing the final model", failed["error"])
        torn = self.exp_file("alice_6e_30s.pth")
        self.assertTrue(os.path.exists(torn))
        result, reporter = self.env.run(train_input())
        self.assert_ok(result)
        self.assertTrue(any("moved aside the unreadable model" in line and "alice_6e_30s.pth" in line
                            for line in reporter.lines))
        self.assertTrue(os.path.exists(self.exp_file("alice_6e_30s.pth.unreadable-1")))
        self.assertEqual(result["model"]["filename"], "alice_6e_30s.pth")
        self.assertEqual(rvc_model_info(torn, "model")["epochs"], 6)

    def test_larger_batch_size_resumes_from_the_newest_epoch(self):
        # Checkpoints are named by step, and steps restart at (epoch - 1) * steps_per_epoch:
        # a larger batch gives newer epochs smaller numbers, and Applio loads the largest.
        self.assert_ok(self.env.run(train_input(batch_size=1))[0])  # 10 steps per epoch
        self.assertEqual(self.checkpoints(), ["D_60.pth", "G_60.pth"])  # epoch 6
        failed, _ = self.env.run(train_input(epochs=12, batch_size=4),  # 3 steps per epoch
                                 FAKE_APPLIO_FAULT="crash-at-epoch:11")
        self.assertIn("last epoch reported: 11", failed["error"])
        self.assertIn("G_30.pth", self.checkpoints())  # epoch 10
        result, reporter = self.env.run(train_input(epochs=12, batch_size=4))
        self.assert_ok(result)
        self.assertEqual(result["training"]["resumed_from_epoch"], 10)
        self.assertTrue(any("Loaded checkpoint" in line and "G_30.pth" in line and "(epoch 10)" in line
                            for line in reporter.lines))
        self.assertEqual(self.epochs_reported(reporter), [11, 12])
        self.assertEqual(result["model"]["filename"], "alice_12e_36s.pth")
        self.assertEqual(self.checkpoints(), ["D_36.pth", "G_36.pth"])

    def test_older_epoch_with_a_higher_step_number_is_removed_before_resuming(self):
        self.assert_ok(self.env.run(train_input(batch_size=1))[0])  # G_60: epoch 6
        self.env.run(train_input(epochs=12, batch_size=4), FAKE_APPLIO_FAULT="crash-at-epoch:9")
        self.assertEqual(self.checkpoints(), ["D_24.pth", "D_60.pth", "G_24.pth", "G_60.pth"])
        result, reporter = self.env.run(train_input(epochs=12, batch_size=4))
        self.assert_ok(result)
        self.assertEqual(result["training"]["resumed_from_epoch"], 8)
        self.assertEqual(self.epochs_reported(reporter), [9, 10, 11, 12])
        self.assertTrue(any("removing checkpoint G_/D_60.pth (epoch 6)" in line for line in reporter.lines))

    def test_crash_during_extraction_resumes_and_drops_truncated_files(self):
        # Simulate a worker killed while extract.py was writing: state says
        # "running", one feature file is cut short.
        result, _ = self.env.run(train_input(epochs=2))
        self.assert_ok(result)
        state_path = os.path.join(self.run_dir(), "state.json")
        with open(state_path) as fh:
            state = json.load(fh)
        state["stages"]["extract"]["status"] = "running"
        for stage in ("train", "index"):
            state["stages"].pop(stage)
        state["result"] = None
        with open(state_path, "w") as fh:
            json.dump(state, fh)
        truncated = self.exp_file(os.path.join("extracted", "0_0_0.npy"))
        with open(truncated, "r+b") as fh:
            fh.truncate(100)
        result, reporter = self.env.run(train_input(epochs=2))
        self.assert_ok(result)
        self.assertTrue(any("removed 1 truncated feature file" in line for line in reporter.lines))
        self.assertGreater(os.path.getsize(truncated), 100)  # re-extracted

    def test_extend_a_finished_run_with_more_epochs(self):
        first, _ = self.env.run(train_input(epochs=4))
        self.assert_ok(first)
        more, reporter = self.env.run(train_input(epochs=6))
        self.assert_ok(more)
        self.assertFalse(more["cached"])
        self.assertEqual(more["training"]["resumed_from_epoch"], 4)
        self.assertEqual(self.epochs_reported(reporter), [5, 6])
        self.assertNotEqual(more["model"]["sha256"], first["model"]["sha256"])
        self.assertEqual(more["index"]["sha256"], first["index"]["sha256"])  # features unchanged
        self.assertFalse(os.path.exists(self.exp_file("alice_4e_20s.pth")))
        # The epochs saved by the first job stay listed beside the new ones.
        self.assertEqual([s["epoch"] for s in first["saved_epochs"]], [2, 4])
        self.assertEqual([s["epoch"] for s in more["saved_epochs"]], [2, 4, 6])
        self.assertEqual(more["saved_epochs"][1]["sha256"], first["model"]["sha256"])
        # the earlier model is still downloadable
        self.assertEqual(sha256(self.env.read_blob(first["model"]["sha256"])), first["model"]["sha256"])

    def test_fewer_epochs_than_already_trained_is_rejected(self):
        self.assert_ok(self.env.run(train_input(epochs=6))[0])
        result, _ = self.env.run(train_input(epochs=4))
        self.assertIn("input.epochs (4) is lower than the 6 epochs", result["error"])


class NpyHeaderTests(unittest.TestCase):
    def test_rows_and_completeness_come_from_the_header(self):
        import tempfile

        from vsworker.applio_limits import npy_is_complete, npy_rows

        tmp = tempfile.mkdtemp(prefix="vs-npy-")
        self.addCleanup(__import__("shutil").rmtree, tmp, True)
        path = os.path.join(tmp, "a.npy")
        standin.write_npy(path, (150, 768), "f", 0.5)
        self.assertEqual(npy_rows(path), 150)
        self.assertTrue(npy_is_complete(path))
        with open(path, "r+b") as fh:
            fh.truncate(1000)
        self.assertEqual(npy_rows(path), 150)  # the header alone says how many rows
        self.assertFalse(npy_is_complete(path))
        with open(path, "wb") as fh:
            fh.write(b"not numpy")
        with self.assertRaises(ValueError):
            npy_rows(path)
        self.assertFalse(npy_is_complete(path))


class CpuLimitTests(unittest.TestCase):
    def cgroup(self, files):
        import shutil
        import tempfile

        root = tempfile.mkdtemp(prefix="vs-cgroup-")
        self.addCleanup(shutil.rmtree, root, True)
        for rel, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w") as fh:
                fh.write(text)
        return root

    def test_host_cores_are_bounded_by_the_cgroup_quota_and_a_cap(self):
        from vsworker.applio_limits import cpu_limit

        self.assertEqual(cpu_limit(self.cgroup({"cpu.max": "150000 100000\n"}), affinity=64), 2)
        self.assertEqual(cpu_limit(self.cgroup({"cpu.max": "max 100000\n"}), affinity=64), 8)
        self.assertEqual(cpu_limit(self.cgroup({"cpu.max": "400000 100000\n"}), affinity=3), 3)
        v1 = {"cpu,cpuacct/cpu.cfs_quota_us": "250000\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}
        self.assertEqual(cpu_limit(self.cgroup(v1), affinity=64), 3)
        unlimited = {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}
        self.assertEqual(cpu_limit(self.cgroup(unlimited), affinity=6), 6)
        self.assertEqual(cpu_limit(self.cgroup({}), affinity=64), 8)
        self.assertEqual(cpu_limit(self.cgroup({"cpu.max": "garbage"}), affinity=1), 1)


class InvalidationTests(TrainingTestCase):
    def test_changed_dataset_retrains_and_replaces_the_stale_index(self):
        first, _ = self.env.run(train_input(epochs=4))
        self.assert_ok(first)
        second, reporter = self.env.run(train_input(data=dataset(clips=6), epochs=4))
        self.assert_ok(second)
        self.assertEqual(second["training"]["resumed_from_epoch"], 0)
        self.assertEqual(second["training"]["dataset_files"], 6)
        self.assertTrue(any("[preprocess] running" in line for line in reporter.lines))
        # Applio skips an existing index; the worker must have removed the stale one.
        self.assertNotEqual(second["index"]["sha256"], first["index"]["sha256"])
        self.assertIn(b"rows=", self.env.read_blob(second["index"]["sha256"]))
        self.assertEqual(sorted(os.listdir(os.path.join(self.run_dir(), "dataset", "0"))),
                         [f"clip_{i:05d}.wav" for i in range(1, 7)])

    def test_changed_index_algorithm_only_rebuilds_the_index(self):
        first, _ = self.env.run(train_input(epochs=2))
        second, reporter = self.env.run(train_input(epochs=2, index_algorithm="Faiss"))
        self.assert_ok(second)
        self.assertEqual(second["model"], first["model"])
        self.assertNotEqual(second["index"]["sha256"], first["index"]["sha256"])
        self.assertFalse(any("[train] running" in line for line in reporter.lines))
        self.assertTrue(any("[index] running" in line for line in reporter.lines))

    def test_kmeans_on_a_small_dataset_is_rejected_before_training(self):
        # extract_index.py always clusters into 10 000 centroids for KMeans; sklearn
        # raises with fewer rows, which would surface only after training.
        result, reporter = self.env.run(train_input(epochs=2, index_algorithm="KMeans"))
        error = result["error"]
        self.assertIn("input.index_algorithm KMeans needs at least 10000 feature rows", error)
        self.assertIn("this dataset has 760 rows (about 15 s)", error)  # 8 slices of 15.2 s, 50 rows/s
        self.assertIn("Use Auto or Faiss", error)
        self.assertTrue(any("[extract] running" in line for line in reporter.lines))
        self.assertFalse(any("[train] running" in line for line in reporter.lines))
        again, reporter = self.env.run(train_input(epochs=2, index_algorithm="Auto"))
        self.assert_ok(again)
        self.assertFalse(any("[extract] running" in line for line in reporter.lines))

    def test_changed_f0_method_redoes_extraction_and_training(self):
        self.assert_ok(self.env.run(train_input(epochs=2))[0])
        second, reporter = self.env.run(train_input(epochs=2, f0_method="crepe"))
        self.assert_ok(second)
        self.assertFalse(any("[preprocess] running" in line for line in reporter.lines))
        self.assertTrue(any("[extract] running" in line and " crepe " in line for line in reporter.lines))
        self.assertEqual(second["training"]["f0_method"], "crepe")
        self.assertEqual(self.epochs_reported(reporter), [1, 2])


class ExcludeTests(TrainingTestCase):
    """train's `exclude`: members of the dataset archive left out when it is unpacked (the clips a screen rejected)."""

    SECONDS = (3.0, 3.5, 4.0, 4.5, 5.0)  # each clip its own length, so the seconds Applio measures tell which it got

    def setUp(self):
        super().setUp()
        self.files = {f"clips/{i}.wav": wav_bytes(seconds, RATE, 200 + 15 * i)
                      for i, seconds in enumerate(self.SECONDS)}
        self.files["notes.txt"] = b"not audio"
        self.data = tar_bytes(self.files, compress=False)

    def unpacked(self):
        folder = os.path.join(self.run_dir(), "dataset", "0")
        contents = []
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), "rb") as fh:
                contents.append(fh.read())
        return contents

    def test_excluded_members_are_left_out_of_the_dataset(self):
        # Names as the screen reports them; "./" and doubled slashes name the same member.
        result, _ = self.env.run(train_input(data=self.data, epochs=2,
                                             exclude=["clips/1.wav", "./clips//3.wav", "notes.txt", "clips/1.wav"]))
        self.assert_ok(result)
        training = result["training"]
        self.assertEqual((training["dataset_files"], training["dataset_excluded"]), (3, 3))
        self.assertAlmostEqual(training["dataset_seconds"], 3.0 + 4.0 + 5.0, places=2)  # as Applio measured it
        self.assertEqual(self.unpacked(), [self.files[f"clips/{i}.wav"] for i in (0, 2, 4)])
        self.assertEqual(result["warnings"], [])  # an excluded non-audio file is not "ignored"

    def test_a_different_exclude_list_redoes_unpack_and_preprocess(self):
        first, _ = self.env.run(train_input(data=self.data, epochs=2, exclude=["clips/1.wav"]))
        self.assertEqual(self.assert_ok(first)["training"]["dataset_files"], 4)
        same, reporter = self.env.run(train_input(data=self.data, epochs=2, exclude=["clips/1.wav"]))
        self.assertTrue(self.assert_ok(same)["cached"])
        self.assertEqual(reporter.updates, [])
        second, reporter = self.env.run(train_input(data=self.data, epochs=2, exclude=["clips/1.wav", "clips/2.wav"]))
        self.assert_ok(second)
        self.assertIn("unpack", [u["stage"] for u in reporter.updates])
        self.assertTrue(any("[preprocess] running" in line for line in reporter.lines))
        self.assertEqual(self.epochs_reported(reporter), [1, 2])
        self.assertEqual((second["training"]["dataset_files"], second["training"]["dataset_excluded"]), (3, 2))
        self.assertAlmostEqual(second["training"]["dataset_seconds"], 3.0 + 4.5 + 5.0, places=2)
        self.assertEqual(self.unpacked(), [self.files[f"clips/{i}.wav"] for i in (0, 3, 4)])
        everything, _ = self.env.run(train_input(data=self.data, epochs=2, exclude=[]))
        self.assertEqual(self.assert_ok(everything)["training"]["dataset_files"], 5)

    def test_an_excluded_name_missing_from_the_archive_is_an_error_naming_it(self):
        result, _ = self.env.run(train_input(data=self.data, exclude=["clips/1.wav", "clips/9.wav", "other/x.wav"]))
        self.assertIn("input.exclude names 'clips/9.wav', which is not a file of the dataset archive (nor are 1 more",
                      result["error"])
        self.assertFalse(os.path.exists(os.path.join(self.run_dir(), "dataset")))

    def test_excluding_every_clip_says_so(self):
        result, _ = self.env.run(train_input(data=self.data, exclude=list(self.files)))
        self.assertIn("contains no audio files", result["error"])
        self.assertIn("6 left out by input.exclude", result["error"])

    def test_the_exclude_list_is_checked(self):
        cases = [
            ("clips/1.wav", "input.exclude must be a list"),
            ([3], "input.exclude[0] must be the path of a file in the dataset archive, got 3"),
            ([""], "input.exclude[0] must be the path of a file in the dataset archive"),
            (["../clips/1.wav"], "input.exclude[0]: member '../clips/1.wav' contains '..'"),
            (["/clips/1.wav"], "input.exclude[0]: member '/clips/1.wav' has an absolute path"),
            (["./"], "input.exclude[0] './' names no file"),
            (["x"] * 10001, "input.exclude has 10001 items; at most 10000 are allowed"),
        ]
        for exclude, message in cases:
            with self.subTest(message=message):
                result, _ = self.env.run(train_input(data=self.data, exclude=exclude))
                self.assertIn(message, result.get("error", ""), result)

    def test_fingerprints_without_exclusions_are_those_of_runs_made_before_exclude_existed(self):
        from vsworker.train_request import fingerprints, parse_request
        from vsworker.validation import Fields

        # Recorded before `exclude` existed: a changed value would redo every run already on a volume.
        before = {"unpack": "aaa721238d1cca923c3c82cb1dc80a7c", "preprocess": "ad456dc01588302b806bbee1da6365c5",
                  "extract": "7b5ba03623e7e717eb7b852369c51ab9", "train": "df1f7c211df7f487768df3fa0324bcef",
                  "index": "aa6d76d508021a8c75d935647b4c6e1e"}
        request = {"run_id": "alice", "dataset": {"blob": "a" * 64}}
        for extra in ({}, {"exclude": None}, {"exclude": []}):
            with self.subTest(extra=extra):
                self.assertEqual(fingerprints(parse_request(Fields(dict(request, **extra))), "a" * 64), before)
        excluding = fingerprints(parse_request(Fields(dict(request, exclude=["clips/1.wav"]))), "a" * 64)
        self.assertEqual([stage for stage in before if excluding[stage] == before[stage]], [])


class FailureTests(TrainingTestCase):
    def test_applio_succeeds_without_writing_the_model(self):
        result, _ = self.env.run(train_input(), FAKE_APPLIO_FAULT="train-no-model")
        self.assertIn("training stopped without writing the final model", result["error"])
        self.assertIn("exit code 0", result["error"])
        self.assertIn("Training has been successfully completed", result["error"])
        self.assertIn("Applio reported success but wrote no model file", result["error"])

    def test_applio_succeeds_without_writing_the_index(self):
        result, _ = self.env.run(train_input(epochs=2), FAKE_APPLIO_FAULT="index-no-file")
        self.assertIn("Applio did not write the index logs/alice/alice.index", result["error"])
        self.assertIn("Generating index for 'alice'", result["error"])
        again, _ = self.env.run(train_input(epochs=2))
        self.assert_ok(again)

    def test_preprocess_without_output(self):
        result, _ = self.env.run(train_input(), FAKE_APPLIO_FAULT="preprocess-no-output")
        self.assertIn("Applio preprocess produced no sliced audio", result["error"])
        self.assertIn("Preprocess completed", result["error"])

    def test_not_enough_data(self):
        result, _ = self.env.run(train_input(data=dataset(clips=1, seconds=2.0), batch_size=8))
        self.assertIn("Not enough data present in the training set", result["error"])
        self.assertIn("add audio or lower input.batch_size", result["error"])

    def test_clips_too_long_for_applio_with_skip_are_an_error(self):
        # Applio's loader leaves out float32 slices longer than 6.75 s without a word.
        data = tar_bytes({f"long{i}.wav": wav_bytes(7.0, RATE, 200 + i) for i in range(3)})
        result, reporter = self.env.run(train_input(data=data, cut_preprocess="Skip"))
        error = result["error"]
        self.assertIn("too little audio to train on", error)
        self.assertIn("leaves out 3 of the 3 slices (21.0 s of audio): 3 longer than 6.75 s", error)
        self.assertIn("Set input.cut_preprocess to Automatic or Simple", error)
        self.assertFalse(any("[extract] running" in line for line in reporter.lines))
        again, _ = self.env.run(train_input(data=data, epochs=2))  # Automatic cuts them
        self.assert_ok(again)
        self.assertEqual(again["warnings"], [])

    def test_slices_and_files_applio_leaves_out_are_reported(self):
        files = {f"take{i}.wav": wav_bytes(3.5, RATE, 200 + i) for i in range(4)}
        files["long.wav"] = wav_bytes(7.0, RATE, 300)  # one slice with Skip: too long for the loader
        files["broken.wav"] = b"RIFF....not really a wav file"  # preprocess prints an error, goes on
        job = train_input(data=tar_bytes(files), cut_preprocess="Skip", epochs=2)
        result, _ = self.env.run(job)
        self.assert_ok(result)
        self.assertEqual((result["training"]["dataset_files"], result["training"]["slices"]), (6, 5))
        for warnings in (result["warnings"], self.env.run(dict(job, epochs=4))[0]["warnings"]):
            # The second job skips preprocessing and still reports both.
            self.assertEqual(len(warnings), 2, warnings)
            self.assertIn("Applio could not read 1 of the 6 dataset file(s)", warnings[0])
            self.assertIn("Error processing audio", warnings[0])
            self.assertIn("leaves out 1 of the 5 slices (7.0 s of audio): 1 longer than 6.75 s", warnings[1])
            self.assertIn("Automatic or Simple", warnings[1])

    def test_missing_pretrained_weights_are_an_error_not_a_silent_restart(self):
        result, _ = self.env.run(train_input(vocoder="RefineGAN", sample_rate=40000))
        self.assertIn("no pretrained weights for vocoder 'RefineGAN' at 40000 Hz", result["error"])
        result, reporter = self.env.run(train_input(vocoder="RefineGAN", sample_rate=40000, pretrained=False,
                                                    epochs=2, run_id="scratch"))
        self.assert_ok(result)
        self.assertFalse(any("Loaded pretrained" in line for line in reporter.lines))
        self.assertEqual(result["training"]["pretrained"], "none")

    def test_custom_pretrained_weights_from_blobs(self):
        blobs = {}
        for kind in "GD":
            path = os.path.join(self.env.root, f"f0{kind}.pth")
            standin.save_pth(path, {"model": {kind: 1}, "iteration": 0})
            with open(path, "rb") as fh:
                blobs[kind] = self.env.put_blob(fh.read())
        result, reporter = self.env.run(train_input(epochs=2, pretrained_g={"blob": blobs["G"]},
                                                    pretrained_d={"blob": blobs["D"]}))
        self.assert_ok(result)
        self.assertEqual(result["training"]["pretrained"], "custom")
        for kind in "GD":
            self.assertTrue(any(f"Loaded pretrained ({kind})" in line and blobs[kind] in line
                                for line in reporter.lines))

    def test_missing_mute_files(self):
        import shutil

        shutil.rmtree(os.path.join(self.env.applio, "logs", "mute"))
        result, _ = self.env.run(train_input())
        self.assertIn("logs/mute folder must stay as shipped", result["error"])

    def test_run_id_clashing_with_an_existing_applio_model(self):
        os.makedirs(os.path.join(self.env.applio, "logs", "alice"))
        result, _ = self.env.run(train_input())
        self.assertIn("already exists and is not a voicestudio run link", result["error"])

    def test_applio_not_installed(self):
        result, _ = self.env.run(train_input(), APPLIO_DIR=os.path.join(self.env.root, "nowhere"))
        self.assertIn("Applio not found", result["error"])

    def test_dataset_without_audio(self):
        result, _ = self.env.run(train_input(data=tar_bytes({"readme.txt": b"hi"})))
        self.assertIn("contains no audio files", result["error"])
        self.assertIn("readme.txt", result["error"])

    def test_dataset_with_path_traversal(self):
        result, _ = self.env.run(train_input(data=tar_bytes({"../../escape.wav": wav_bytes(1.0, RATE)})))
        self.assertIn("input.dataset archive: member '../../escape.wav' contains '..'", result["error"])
        self.assertFalse(os.path.exists(os.path.join(self.env.volume, "voicestudio", "escape.wav")))

    def test_missing_dataset_blob(self):
        result, _ = self.env.run(train_input(dataset={"blob": "b" * 64}))
        self.assertIn("input.dataset: blob " + "b" * 64 + " is not in the store", result["error"])


class DatasetConversionTests(TrainingTestCase):
    @requires_ffmpeg
    def test_other_formats_are_converted_and_laid_out_for_applio(self):
        import tempfile

        tmp = tempfile.mkdtemp(dir=self.env.root)
        files = {
            "a/song.m4a": encode_audio(wav_bytes(3.5, RATE, 210), "m4a", tmp),
            "a/take.flac": encode_audio(wav_bytes(3.5, RATE, 230), "flac", tmp),
            "b/c/x.wav": wav_bytes(3.5, RATE, 250),
            "b/y.ogg": encode_audio(wav_bytes(3.5, RATE, 270), "ogg", tmp),
            "notes.txt": b"not audio",
        }
        result, _ = self.env.run(train_input(data=tar_bytes(files), epochs=2))
        self.assert_ok(result)
        folder = os.path.join(self.run_dir(), "dataset")
        self.assertEqual(os.listdir(folder), ["0"])
        names = sorted(os.listdir(os.path.join(folder, "0")))
        self.assertEqual([os.path.splitext(n)[1] for n in names], [".wav", ".flac", ".wav", ".ogg"])
        self.assertEqual(result["training"]["dataset_files"], 4)
        self.assertTrue(any("notes.txt" in w for w in result["warnings"]))
        self.assertGreater(result["training"]["dataset_seconds"], 13.5)


class LeaseTests(TrainingTestCase):
    def write_lease(self, **fields):
        os.makedirs(self.run_dir(), exist_ok=True)
        path = os.path.join(self.run_dir(), "lease.json")
        with open(path, "w") as fh:
            json.dump(fields, fh)
        return path

    def test_lease_of_a_dead_process_is_taken_over(self):
        self.write_lease(job_id="old", host=socket.gethostname(), pid=2 ** 22 + 12345, token="x")
        result, reporter = self.env.run(train_input(epochs=2))
        self.assert_ok(result)
        self.assertTrue(any("taking over a stale lease" in line for line in reporter.lines))
        self.assertFalse(os.path.exists(os.path.join(self.run_dir(), "lease.json")))

    def test_lease_without_heartbeat_is_taken_over(self):
        path = self.write_lease(job_id="old", host="another-worker", pid=1, token="x")
        old = time.time() - 3600
        os.utime(path, (old, old))
        self.assert_ok(self.env.run(train_input(epochs=2))[0])

    def test_busy_run_waits_for_the_other_job(self):
        path = self.write_lease(job_id="first", host="another-worker", pid=1, token="x")
        from tests.support import MemoryReporter, TaskContext, handle_job

        waits = []

        def fake_sleep(seconds):  # the other worker finishes while we wait
            waits.append(seconds)
            os.unlink(path)

        reporter = MemoryReporter()
        ctx = TaskContext(self.env.settings(), reporter, "second", sleep=fake_sleep)
        result = handle_job({"id": "second", "input": train_input(epochs=2)}, ctx)
        self.assert_ok(result)
        self.assertEqual(len(waits), 1)
        waiting = [u for u in reporter.updates if u["stage"] == "waiting"]
        self.assertEqual(len(waiting), 1)
        self.assertEqual((waiting[0]["task"], waiting[0]["run_id"]), ("train", "alice"))
        self.assertIn("'first'", waiting[0]["message"])

    def test_busy_run_reports_its_holder_when_asked(self):
        # A client re-submitting after an ambiguous submit follows the job already training.
        self.write_lease(job_id="first", host="another-worker", pid=1, token="x")
        result, _ = self.env.run(dict(train_input(epochs=2), if_busy="report"))
        self.assertEqual(result, {"run_id": "alice", "status": "busy", "holder_job_id": "first"})
        self.assertTrue(os.path.exists(os.path.join(self.run_dir(), "lease.json")))

    def test_the_same_job_delivered_twice_waits_for_itself_even_when_reporting(self):
        path = self.write_lease(job_id="again", host="another-worker", pid=1, token="x")
        from tests.support import MemoryReporter, TaskContext, handle_job

        def fake_sleep(seconds):
            os.unlink(path)

        ctx = TaskContext(self.env.settings(), MemoryReporter(), "again", sleep=fake_sleep)
        result = handle_job({"id": "again", "input": dict(train_input(epochs=2), if_busy="report")}, ctx)
        self.assert_ok(result)

    def test_if_busy_is_validated(self):
        result, _ = self.env.run(dict(train_input(epochs=2), if_busy="sometimes"))
        self.assertIn("input.if_busy", result["error"])


class CancelTests(TrainingTestCase):
    """A cancelled job stops Applio's processes and gives its run back. `voicestudio --backend local`
    cancels with SIGTERM; RunPod's cancel is in test_runpod_sdk."""

    def applio_pids(self):
        pids = standin.read_json(self.exp_file("config.json"), {}).get("process_pids") or []
        return pids if len(pids) == 2 else None  # the stand-in's training worker and its child

    @staticmethod
    def kill_leftovers(pids):
        for pid in pids:
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)

    def test_sigterm_stops_applio_and_releases_the_run(self):
        job_path = os.path.join(self.env.root, "job.json")
        with open(job_path, "w", encoding="utf-8") as fh:
            json.dump({"id": "local-1", "input": train_input()}, fh)
        proc = subprocess.Popen([sys.executable, HANDLER, "--local-job", job_path], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env.env(FAKE_APPLIO_FAULT="hang-at-epoch:2"))
        self.addCleanup(stop_process, proc)
        LineCollector(proc.stderr)  # keeps the pipe drained
        pids = wait_until(self.applio_pids, what="Applio's training processes")
        self.addCleanup(self.kill_leftovers, pids)
        lease = os.path.join(self.run_dir(), "lease.json")
        self.assertTrue(os.path.exists(lease))

        proc.send_signal(signal.SIGTERM)
        result = json.loads(proc.stdout.read())
        self.assertEqual(proc.wait(timeout=60), 0)
        self.assertIn("the job was cancelled and Applio stopped", result["error"])
        self.assertFalse(os.path.exists(lease))
        wait_until(lambda: not any(process_alive(pid) for pid in pids), timeout=30, what="Applio's processes to end")

        again, _ = self.env.run(train_input())
        self.assert_ok(again)
        self.assertEqual(again["training"]["resumed_from_epoch"], 2)


if __name__ == "__main__":
    unittest.main()
