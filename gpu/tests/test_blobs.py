"""Blob store tasks: chunked uploads/downloads under RunPod's size limits."""

import base64
import json
import os
import threading
import time
import unittest
from unittest import mock

from tests.support import WorkerEnv, b64, sha256
from vsworker import blobstore
from vsworker.blobstore import BlobStore

MIB = 1024 * 1024
CHUNK = 4 * MIB


def pseudo_random(size, seed=1):
    """Deterministic, incompressible-enough bytes without the random module."""
    out = bytearray()
    counter = seed
    while len(out) < size:
        out += sha256(counter.to_bytes(8, "little")).encode()
        counter += 1
    return bytes(out[:size])


class BlobTests(unittest.TestCase):
    def setUp(self):
        self.env = WorkerEnv(with_applio=False)

    def tearDown(self):
        self.env.cleanup()

    def run_job(self, **job_input):
        result, _ = self.env.run(job_input)
        return result

    def put(self, data, sha, size, offset, **extra):
        return self.run_job(task="blob_put", sha256=sha, size=size, offset=offset, data=b64(data), **extra)

    def download(self, sha, length=None):
        parts, offset = [], 0
        while True:
            request = {"task": "blob_get", "sha256": sha, "offset": offset}
            if length:
                request["length"] = length
            result = self.run_job(**request)
            self.assertNotIn("error", result)
            # Every output must stay far below RunPod's ~20 MB (and 10 MB) limits.
            self.assertLess(len(json.dumps(result)), 6 * 1000 * 1000)
            parts.append(base64.b64decode(result["data"]))
            offset += result["length"]
            if result["eof"]:
                return b"".join(parts), result["size"]

    def test_round_trip_bigger_than_one_request(self):
        data = pseudo_random(9 * MIB + 123)  # three chunks; whole file would exceed /run's 10 MB
        sha = sha256(data)
        offsets = list(range(0, len(data), CHUNK))
        for offset in reversed(offsets):  # any order is fine
            result = self.put(data[offset:offset + CHUNK], sha, len(data), offset)
            self.assertEqual(result["status"], "stored")
        self.assertTrue(result["complete"])
        self.assertEqual(result["received"], len(data))
        has = self.run_job(task="blob_has", hashes=[sha])
        self.assertEqual(has["missing"], [sha])  # not visible before commit
        commit = self.run_job(task="blob_commit", sha256=sha, size=len(data))
        self.assertEqual(commit, {"sha256": sha, "size": len(data), "status": "committed"})
        has = self.run_job(task="blob_has", hashes=[sha])
        self.assertEqual(has["present"], [sha])
        self.assertEqual(has["sizes"], {sha: len(data)})
        downloaded, size = self.download(sha)
        self.assertEqual(size, len(data))
        self.assertEqual(downloaded, data)
        # staging area is gone after the commit
        self.assertEqual(os.listdir(os.path.join(self.env.volume, "voicestudio", "uploads")), [])

    def test_small_reads_and_eof(self):
        data = b"0123456789" * 10
        sha = self.env.put_blob(data)
        downloaded, _ = self.download(sha, length=7)
        self.assertEqual(downloaded, data)
        result = self.run_job(task="blob_get", sha256=sha, offset=len(data))
        self.assertEqual((result["length"], result["eof"], result["data"]), (0, True, ""))
        result = self.run_job(task="blob_get", sha256=sha, offset=len(data) + 1)
        self.assertIn("beyond the end", result["error"])

    def test_repeated_chunk_is_harmless(self):
        data = pseudo_random(3000)
        sha = sha256(data)
        first = self.put(data[:2000], sha, len(data), 0)
        again = self.put(data[:2000], sha, len(data), 0)  # RunPod ran the job twice
        self.assertEqual(first["received"], again["received"])
        self.put(data[2000:], sha, len(data), 2000)
        self.put(data[2000:], sha, len(data), 2000)
        self.assertEqual(self.run_job(task="blob_commit", sha256=sha, size=len(data))["status"], "committed")
        # committing or uploading again after success is a no-op
        self.assertEqual(self.run_job(task="blob_commit", sha256=sha, size=len(data))["status"], "exists")
        self.assertEqual(self.put(data[:10], sha, len(data), 0)["status"], "exists")
        self.assertEqual(self.env.read_blob(sha), data)

    def test_overlapping_chunks_from_a_retry_with_another_chunk_size(self):
        data = pseudo_random(10000)
        sha = sha256(data)
        self.put(data[0:6000], sha, len(data), 0)
        self.put(data[4000:10000], sha, len(data), 4000)
        self.assertEqual(self.run_job(task="blob_commit", sha256=sha, size=len(data))["status"], "committed")
        self.assertEqual(self.env.read_blob(sha), data)

    def test_chunk_checksum_mismatch_is_rejected_and_not_stored(self):
        data = pseudo_random(5000)
        sha = sha256(data)
        result = self.put(data, sha, len(data), 0, chunk_sha256=sha256(b"something else"))
        self.assertIn("input.chunk_sha256 does not match", result["error"])
        has = self.run_job(task="blob_has", hashes=[sha])
        self.assertEqual(has["uploads"], {})
        result = self.put(data, sha, len(data), 0, chunk_sha256=sha256(data))
        self.assertTrue(result["complete"])

    def test_corrupted_chunk_fails_commit_and_discards_the_upload(self):
        data = pseudo_random(6000)
        sha = sha256(data)
        corrupted = bytearray(data[3000:])
        corrupted[10] ^= 0xFF
        self.put(data[:3000], sha, len(data), 0)
        self.put(bytes(corrupted), sha, len(data), 3000)
        result = self.run_job(task="blob_commit", sha256=sha, size=len(data))
        self.assertIn("hash to", result["error"])
        self.assertIn("upload the blob again", result["error"])
        self.assertIsNone(self.env_size(sha))
        self.assertEqual(self.run_job(task="blob_has", hashes=[sha])["uploads"], {})
        # a clean re-upload then works
        self.assertEqual(self.env.put_blob(data), sha)

    def env_size(self, sha):
        path = os.path.join(self.env.volume, "voicestudio", "blobs", sha[:2], sha)
        return os.path.getsize(path) if os.path.exists(path) else None

    def test_incomplete_commit_names_the_missing_ranges(self):
        data = pseudo_random(10000)
        sha = sha256(data)
        self.put(data[:4000], sha, len(data), 0)
        self.put(data[6000:8000], sha, len(data), 6000)
        result = self.run_job(task="blob_commit", sha256=sha, size=len(data))
        self.assertIn("missing byte ranges [4000, 6000), [8000, 10000)", result["error"])
        has = self.run_job(task="blob_has", hashes=[sha])
        self.assertEqual(has["uploads"][sha], [{"size": 10000, "ranges": [[0, 4000], [6000, 8000]]}])

    def test_limits(self):
        too_big = b"x" * (CHUNK + 1)
        result = self.put(too_big, sha256(too_big), len(too_big), 0)
        self.assertIn("input.data is too large", result["error"])
        result = self.put(b"abc", sha256(b"abc"), 2, 0)
        self.assertIn("exceeds input.size", result["error"])
        result = self.run_job(task="blob_put", sha256=sha256(b"a"), size=17 * 1024 * MIB, offset=0, data=b64(b"a"))
        self.assertIn("input.size must be an integer from 0 to", result["error"])
        result = self.run_job(task="blob_get", sha256="a" * 64, length=CHUNK + 1)
        self.assertIn("input.length must be an integer from 1 to 4194304", result["error"])
        result = self.run_job(task="blob_has", hashes=["a" * 64] * 1001)
        self.assertIn("at most 1000", result["error"])

    def test_bad_fields(self):
        cases = [
            ({"task": "blob_put", "sha256": "A" * 64, "size": 1, "offset": 0, "data": "YQ=="}, "input.sha256 must be a sha256"),
            ({"task": "blob_put", "sha256": "a" * 63, "size": 1, "offset": 0, "data": "YQ=="}, "input.sha256 must be a sha256"),
            ({"task": "blob_put", "sha256": "../" + "a" * 61, "size": 1, "offset": 0, "data": "YQ=="}, "input.sha256 must be a sha256"),
            ({"task": "blob_put", "sha256": "a" * 64, "size": "1", "offset": 0, "data": "YQ=="}, "input.size must be an integer"),
            ({"task": "blob_put", "sha256": "a" * 64, "size": 1, "offset": -1, "data": "YQ=="}, "input.offset must be an integer from 0"),
            ({"task": "blob_put", "sha256": "a" * 64, "size": 1, "offset": 0, "data": "not base64!"}, "input.data is not valid base64"),
            ({"task": "blob_put", "sha256": "a" * 64, "size": 1, "offset": 0, "data": ""}, "input.data is empty"),
            ({"task": "blob_put", "sha256": "a" * 64, "size": 1, "offset": 0}, "input.data is required"),
            ({"task": "blob_put", "sha256": "a" * 64, "size": True, "offset": 0, "data": "YQ=="}, "input.size must be an integer, got true"),
            ({"task": "blob_has", "hashes": "a" * 64}, "input.hashes must be a list"),
            ({"task": "blob_has", "hashes": ["../../etc/passwd"]}, "input.hashes[0] must be a sha256"),
            ({"task": "blob_get", "sha256": "a" * 64}, "is not in the store"),
            ({"task": "blob_commit", "sha256": "a" * 64, "size": 0}, "does not match an empty blob"),
            ({"task": "blob_commit", "sha256": "a" * 64, "size": 5}, "missing byte ranges [0, 5)"),
            ({"task": "blob_get", "sha256": "a" * 64, "extra": 1}, "input.extra is not a field of task 'blob_get'"),
        ]
        for job_input, expected in cases:
            with self.subTest(job_input=job_input):
                result = self.run_job(**job_input)
                self.assertEqual(set(result), {"error"})
                self.assertIsInstance(result["error"], str)
                self.assertIn(expected, result["error"])

    def test_staged_names_must_match_whole(self):
        # `$` also matches before a final newline: "0-3.chunk\n" is not a chunk, nor "<sha>-3\n" an upload.
        data = b"abc"
        sha = sha256(data)
        uploads = os.path.join(self.env.volume, "voicestudio", "uploads")
        os.makedirs(os.path.join(uploads, f"{sha}-3\n"))
        os.makedirs(os.path.join(uploads, f"{sha}-3"))
        with open(os.path.join(uploads, f"{sha}-3", "0-3.chunk\n"), "wb") as fh:
            fh.write(data)
        has = self.run_job(task="blob_has", hashes=[sha])
        self.assertEqual(has["uploads"], {sha: [{"size": 3, "ranges": []}]})
        self.assertIn("missing byte ranges [0, 3)", self.run_job(task="blob_commit", sha256=sha, size=3)["error"])

    def test_empty_blob(self):
        empty = sha256(b"")
        self.assertEqual(self.run_job(task="blob_commit", sha256=empty, size=0)["status"], "committed")
        self.assertEqual(self.run_job(task="blob_get", sha256=empty)["eof"], True)

    def test_old_staged_chunks_are_swept(self):
        data = pseudo_random(100)
        sha = sha256(data)
        self.put(data[:50], sha, len(data), 0)
        fresh = pseudo_random(100, seed=2)
        self.put(fresh[:50], sha256(fresh), len(fresh), 0)
        uploads = os.path.join(self.env.volume, "voicestudio", "uploads")
        stale_dir = os.path.join(uploads, f"{sha}-100")
        old = time.time() - 2 * 86400
        for name in os.listdir(stale_dir):
            os.utime(os.path.join(stale_dir, name), (old, old))
        os.utime(stale_dir, (old, old))
        tmp_dir = os.path.join(self.env.volume, "voicestudio", "tmp")
        os.makedirs(tmp_dir, exist_ok=True)
        leftover = os.path.join(tmp_dir, "commit-crashed.tmp")
        with open(leftover, "wb") as fh:
            fh.write(b"half")
        os.utime(leftover, (old, old))
        has = self.run_job(task="blob_has", hashes=[sha, sha256(fresh)])
        self.assertEqual(sorted(os.listdir(uploads)), [f"{sha256(fresh)}-100"])
        self.assertNotIn(sha, has["uploads"])
        self.assertFalse(os.path.exists(leftover))

    def test_volume_must_exist(self):
        result, _ = self.env.run({"task": "blob_has", "hashes": []},
                                 VOICESTUDIO_VOLUME=os.path.join(self.env.root, "missing"))
        self.assertIn("network volume not found", result["error"])


class Pause:
    """Stops a thread inside a store method until the test lets it go on: the races below
    happen in one chosen order every time, without sleeps."""

    def __init__(self, function):
        self.function = function
        self.reached = threading.Event()
        self.go_on = threading.Event()
        self.used = False

    def __call__(self, *args, **kwargs):
        if not self.used:  # only the first call pauses
            self.used = True
            self.reached.set()
            if not self.go_on.wait(60):
                raise AssertionError("the test never let the paused call go on")
        return self.function(*args, **kwargs)


class BlobRaceTests(unittest.TestCase):
    """Two commits, or a put and a commit, of one blob at once: RunPod runs a job twice,
    two clients upload one dataset."""

    def setUp(self):
        self.env = WorkerEnv(with_applio=False)
        self.root = os.path.join(self.env.volume, "voicestudio")
        self.data = pseudo_random(3000)
        self.sha = sha256(self.data)
        staging = BlobStore(self.root)
        for offset in (0, 1000, 2000):
            staging.put_chunk(self.sha, len(self.data), offset, self.data[offset:offset + 1000])

    def tearDown(self):
        self.env.cleanup()

    def in_thread(self, call):
        outcome = {}

        def run():
            try:
                outcome["result"] = call()
            except Exception as exc:  # reported by the test's assertion
                outcome["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        return thread, outcome

    def race(self, paused_store, pause, paused_call, other_call):
        """Runs paused_call until it reaches pause, other_call to the end, then the rest of paused_call."""
        thread, outcome = self.in_thread(lambda: paused_call(paused_store))
        self.assertTrue(pause.reached.wait(60))
        other = other_call(BlobStore(self.root))
        pause.go_on.set()
        thread.join(60)
        self.assertNotIn("error", outcome, repr(outcome.get("error")))
        return outcome["result"], other

    def commit(self, store):
        return store.commit(self.sha, len(self.data))

    def assert_committed_and_clean(self):
        self.assertEqual(self.env.read_blob(self.sha), self.data)
        self.assertEqual(os.listdir(os.path.join(self.root, "uploads")), [])  # no orphan upload folder
        self.assertEqual(os.listdir(os.path.join(self.root, "tmp")), [])

    def test_a_commit_whose_chunks_another_commit_removed_midway_succeeds(self):
        store = BlobStore(self.root)
        pause = store._require_space = Pause(store._require_space)  # chunks listed, not yet read
        paused, other = self.race(store, pause, self.commit, self.commit)
        self.assertEqual(other["status"], "committed")
        self.assertEqual(paused, {"sha256": self.sha, "size": len(self.data), "status": "exists"})
        self.assert_committed_and_clean()

    def test_a_commit_that_finds_no_chunks_because_another_commit_finished_succeeds(self):
        store = BlobStore(self.root)
        pause = store._chunks = Pause(store._chunks)  # checked the blob is absent, chunks not listed yet
        paused, other = self.race(store, pause, self.commit, self.commit)
        self.assertEqual(other["status"], "committed")
        self.assertEqual(paused["status"], "exists")
        self.assert_committed_and_clean()

    def put_first_chunk(self, store):
        return store.put_chunk(self.sha, len(self.data), 0, self.data[:1000])

    def test_a_put_that_lands_after_the_commit_leaves_no_upload_folder(self):
        store = BlobStore(self.root)
        pause = store._upload_dir = Pause(store._upload_dir)  # checked the blob is absent, not yet written
        paused, other = self.race(store, pause, self.put_first_chunk, self.commit)
        self.assertEqual(other["status"], "committed")
        self.assertEqual(paused["status"], "exists")
        self.assert_committed_and_clean()

    def test_a_put_whose_folder_a_commit_removed_while_it_wrote_succeeds(self):
        pause = Pause(blobstore._fsync_write)  # folder made, chunk not yet written
        with mock.patch.object(blobstore, "_fsync_write", pause):
            paused, other = self.race(BlobStore(self.root), pause, self.put_first_chunk, self.commit)
        self.assertEqual(other["status"], "committed")
        self.assertEqual(paused["status"], "exists")
        self.assert_committed_and_clean()

    def test_many_commits_and_puts_at_once_all_succeed(self):
        # Whatever the interleaving, every job succeeds and nothing is left behind.
        start = threading.Barrier(8)

        def job(job_input):
            start.wait(60)
            return self.env.run(job_input)[0]

        commit = {"task": "blob_commit", "sha256": self.sha, "size": len(self.data)}
        puts = [{"task": "blob_put", "sha256": self.sha, "size": len(self.data), "offset": offset,
                 "data": b64(self.data[offset:offset + 1000])} for offset in (0, 1000, 2000, 0)]
        runs = [self.in_thread(lambda job_input=job_input: job(job_input)) for job_input in [commit] * 4 + puts]
        for thread, _ in runs:
            thread.join(60)
        results = [outcome.get("result", outcome) for _, outcome in runs]
        for result in results[:4]:
            self.assertIn(result.get("status"), ("committed", "exists"), result)
        for result in results[4:]:
            self.assertIn(result.get("status"), ("stored", "exists"), result)
        self.assertIn("committed", [result["status"] for result in results[:4]])
        self.assert_committed_and_clean()


if __name__ == "__main__":
    unittest.main()
