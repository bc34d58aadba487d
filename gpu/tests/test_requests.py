"""Paid tasks keyed by the client's request_key: a duplicate returns the first job's result, or its id while it
runs, instead of converting or separating again."""

import json
import os
import socket
import unittest

from tests.support import WorkerEnv, b64, requires_ffmpeg, wav_bytes
from tests.test_convert import model_bytes
from vsworker.converter import stop_warm_converter
from vsworker.settings import DEFAULT_SEPARATOR_MODEL


def hold_lease(env, task, key, job_id):
    """A lease as a live job on this host holds it (this process's pid is alive)."""
    folder = os.path.join(env.volume, "voicestudio", "requests", task, key)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "lease.json"), "w", encoding="utf-8") as fh:
        json.dump({"job_id": job_id, "host": socket.gethostname(), "pid": os.getpid(), "token": "t"}, fh)


@requires_ffmpeg
class KeyedConvertTests(unittest.TestCase):
    def setUp(self):
        stop_warm_converter()
        self.addCleanup(stop_warm_converter)
        self.env = WorkerEnv()
        self.addCleanup(self.env.cleanup)
        self.job = {"task": "convert", "model": {"data": b64(model_bytes(self.env.root))},
                    "input": {"data": b64(wav_bytes(1.0, 16000))}, "request_key": "a" * 32}

    def test_a_second_job_for_a_done_key_returns_the_first_result_without_converting(self):
        first, _ = self.env.run(self.job, job_id="job-1")
        self.assertNotIn("error", first, first.get("error"))
        self.assertNotIn("cached", first)
        second, reporter = self.env.run(self.job, job_id="job-2")
        self.assertTrue(second["cached"])
        self.assertEqual(second["output"], first["output"])
        self.assertFalse(any("[convert]" in line for line in reporter.lines), reporter.lines)
        self.assertTrue(any("already done" in line for line in reporter.lines))

    def test_a_job_for_a_key_another_live_job_holds_answers_busy_at_once(self):
        hold_lease(self.env, "convert", "a" * 32, "job-holder")
        result, reporter = self.env.run(self.job, job_id="job-2")
        self.assertEqual(result, {"status": "busy", "request_key": "a" * 32, "holder_job_id": "job-holder"})
        self.assertFalse(any("[convert]" in line for line in reporter.lines))

    def test_a_lease_left_by_a_dead_worker_is_taken_over(self):
        folder = os.path.join(self.env.volume, "voicestudio", "requests", "convert", "a" * 32)
        os.makedirs(folder)
        with open(os.path.join(folder, "lease.json"), "w", encoding="utf-8") as fh:
            json.dump({"job_id": "job-dead", "host": socket.gethostname(), "pid": 2 ** 22 + 1, "token": "t"}, fh)
        result, _ = self.env.run(self.job, job_id="job-2")
        self.assertIn("output", result, result)
        self.assertFalse(os.path.exists(os.path.join(folder, "lease.json")))

    def test_a_result_whose_blob_is_gone_is_converted_again(self):
        first, _ = self.env.run(dict(self.job, output_mode="blob"), job_id="job-1")
        blob = first["output"]["blob"]
        os.unlink(os.path.join(self.env.volume, "voicestudio", "blobs", blob[:2], blob))
        again, _ = self.env.run(dict(self.job, output_mode="blob"), job_id="job-2")
        self.assertNotIn("cached", again)
        self.assertEqual(len(self.env.read_blob(blob)), again["output"]["size"])

    def test_without_a_volume_a_keyed_job_still_converts(self):
        result, _ = self.env.run(self.job, VOICESTUDIO_VOLUME=os.path.join(self.env.root, "no-volume"))
        self.assertIn("data", result["output"])

    def test_request_keys_are_matched_whole(self):
        for bad in ("k\n", "../x", "", "-x", "a" * 65):
            result, _ = self.env.run(dict(self.job, request_key=bad))
            self.assertIn("input.request_key", result.get("error", ""), bad)


@requires_ffmpeg
class KeyedSeparateTests(unittest.TestCase):
    def setUp(self):
        self.env = WorkerEnv(with_applio=False)
        self.addCleanup(self.env.cleanup)
        model_dir = os.path.join(self.env.root, "separator-models")
        os.makedirs(model_dir)
        with open(os.path.join(model_dir, DEFAULT_SEPARATOR_MODEL), "wb") as fh:
            fh.write(b"baked model")
        self.job = {"task": "separate", "input": {"data": b64(wav_bytes(1.0, 44100, 440, channels=2))},
                    "request_key": "b" * 32}

    def test_a_duplicate_separation_returns_the_stems_of_the_first(self):
        first, _ = self.env.run(self.job, job_id="job-1")
        self.assertNotIn("error", first, first.get("error"))
        second, reporter = self.env.run(self.job, job_id="job-2")
        self.assertTrue(second["cached"])
        self.assertEqual(second["stems"], first["stems"])
        self.assertFalse(any("[separate] running" in line for line in reporter.lines))

    def test_busy_while_another_job_separates(self):
        hold_lease(self.env, "separate", "b" * 32, "job-holder")
        result, _ = self.env.run(self.job, job_id="job-2")
        self.assertEqual(result["holder_job_id"], "job-holder")


if __name__ == "__main__":
    unittest.main()
