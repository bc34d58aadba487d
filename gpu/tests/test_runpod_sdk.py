"""gpu/handler.py under the real runpod SDK (runpod==1.12.0 from gpu/requirements-test.txt), with the
Applio stand-in behind it.

- The SDK's local modes: `--test_input` (one job, result in the log) and `--rp_serve_api` (its
  development API server: /runsync, /run, and a POST /status that runs the job).
- The SDK's production worker loop, which is the only mode in which it sends progress anywhere and
  stops jobs. It talks to RunPod's internal job API (rp_job.py, rp_http.py); the tests serve that API
  on loopback: job-take hands out a job, job-stop long-polls for jobs to stop, job-done receives
  progress ({"status": "IN_PROGRESS", "output": ...}) and results.
"""

import ast
import http.server
import importlib.util
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import unittest
import urllib.error
import urllib.request

from tests.support import (GPU_DIR, HANDLER, LineCollector, WorkerEnv, process_alive, standin, stop_process,
                           wait_until)
from tests.test_training import train_input

requires_runpod = unittest.skipIf(
    importlib.util.find_spec("runpod") is None,
    "runpod is not installed: `npm test` runs this suite in the environment of gpu/requirements-test.txt "
    "(`npm run setup:python` builds it and prints its python)",
)
LONG_POLL_SECONDS = 1.0  # how long the job API holds job-take and job-stop open, as RunPod does


def sdk_env(worker_env, **overrides):
    """The worker's environment with nothing of a real RunPod worker in it, and the SDK's start-up
    checks (memory, disk, network, nvidia-smi) off: they are for real machines."""
    env = {k: v for k, v in worker_env.env().items() if not k.startswith("RUNPOD_")}
    env.update(RUNPOD_LOG_LEVEL="INFO", RUNPOD_SKIP_AUTO_SYSTEM_CHECKS="true", RUNPOD_SKIP_GPU_CHECK="true",
               PYTHONUNBUFFERED="1")
    env.update(overrides)
    return env


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def logged_result(output):
    """The dict runpod's --test_input mode logs as "Job result: {...}"."""
    line = next(l for l in output.splitlines() if "Job result: " in l)
    return ast.literal_eval(line.split("Job result: ", 1)[1])


def progress_lines(output):
    return [json.loads(l.split("progress ", 1)[1]) for l in output.splitlines() if l.startswith("progress {")]


@requires_runpod
class TestInputModeTests(unittest.TestCase):
    """`python handler.py --test_input '{"input": ...}'`: runpod runs one job and exits."""

    def setUp(self):
        self.env = WorkerEnv()
        self.addCleanup(self.env.cleanup)

    def run_job(self, job_input, **env):
        return subprocess.run(
            [sys.executable, "-u", HANDLER, "--test_input", json.dumps({"input": job_input})],
            cwd=GPU_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
            env=sdk_env(self.env, **env),
        )

    def test_a_result_dict(self):
        proc = self.run_job({"task": "info"})
        self.assertEqual(proc.returncode, 0, proc.stdout)
        self.assertIn("--- Starting Serverless Worker |  Version 1.12.0 ---", proc.stdout)
        output = logged_result(proc.stdout)["output"]
        self.assertEqual(output["worker"]["protocol"], 1)
        self.assertEqual(output["applio"]["version"], "3.6.4")

    def test_an_error_return_fails_the_job(self):
        proc = self.run_job({"task": "nope"})
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn("Job local_test failed with error: input.task must be one of 'info'", proc.stdout)

    def test_an_exception_inside_a_task_comes_back_as_a_plain_error(self):
        # A file where the scratch folder should be: os.makedirs raises inside the train task.
        scratch = os.path.join(self.env.root, "scratch-is-a-file")
        with open(scratch, "w") as fh:
            fh.write("x")
        proc = self.run_job(train_input(), VOICESTUDIO_SCRATCH=scratch)
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn("failed with error: internal error in the voicestudio worker (FileExistsError", proc.stdout)
        self.assertIn("Traceback (most recent call last)", proc.stdout)  # the worker log has it
        self.assertNotIn("error_traceback", proc.stdout)  # not the SDK's JSON for an exception that escaped

    def test_progress_goes_to_the_log_without_failed_posts(self):
        proc = self.run_job(train_input(epochs=2))
        self.assertEqual(proc.returncode, 0, proc.stdout)
        self.assertEqual(logged_result(proc.stdout)["output"]["training"]["epochs"], 2)
        # Outside RunPod progress_update would post to a placeholder URL and log a failure each time.
        self.assertNotIn("Failed to return job results", proc.stdout)
        stages = [p["stage"] for p in progress_lines(proc.stdout)]
        for stage in ("unpack", "preprocess", "extract", "train", "index"):
            self.assertIn(stage, stages)


@requires_runpod
class ApiServerModeTests(unittest.TestCase):
    """`python handler.py --rp_serve_api`: the SDK's development API server."""

    def setUp(self):
        self.env = WorkerEnv()
        self.addCleanup(self.env.cleanup)
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-u", HANDLER, "--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port", str(port)],
            cwd=GPU_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=sdk_env(self.env),
        )
        self.addCleanup(stop_process, self.proc)
        self.log = LineCollector(self.proc.stdout)
        wait_until(self.ready, what=f"the SDK's API server on {self.base}")

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("the API server exited:\n" + "\n".join(self.log.join()))
        try:
            with urllib.request.urlopen(self.base + "/", timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError):
            return False

    def post(self, path, body):
        request = urllib.request.Request(self.base + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.load(response)

    def test_runsync_run_and_status(self):
        done = self.post("/runsync", {"input": {"task": "info"}})
        self.assertEqual(done["status"], "COMPLETED")
        self.assertEqual(done["output"]["worker"]["protocol"], 1)

        failed = self.post("/runsync", {"input": {"task": "nope"}})
        self.assertEqual(failed["status"], "FAILED")
        self.assertTrue(failed["error"].startswith("input.task must be one of 'info'"), failed)

        queued = self.post("/run", {"input": train_input(epochs=2)})
        self.assertEqual(queued["status"], "IN_PROGRESS")
        finished = self.post(f"/status/{queued['id']}", {})  # this server runs the job here
        self.assertEqual(finished["status"], "COMPLETED", finished)
        self.assertEqual(finished["output"]["training"]["epochs"], 2)
        self.assertFalse([l for l in self.log.lines if "Failed to return job results" in l])


class FakeRunpodJobApi:
    """RunPod's internal job API as runpod-python's worker loop uses it, on loopback."""

    def __init__(self):
        self.jobs = queue.Queue()
        self.stops = queue.Queue()
        self.posts = []  # (job id, body) in arrival order
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/job-take/"):
                    self.reply_from(api.jobs, lambda job: job)
                elif self.path.startswith("/job-stop/"):
                    self.reply_from(api.stops, lambda job_id: {"jobsToStop": [job_id]})
                else:
                    self.send_error(404)

            def reply_from(self, waiting, body):
                try:
                    item = waiting.get(timeout=LONG_POLL_SECONDS)
                except queue.Empty:
                    self.send_response(204)
                    self.end_headers()
                    return
                data = json.dumps(body(item)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # /job-done/<worker>/<job id>?...
                job_id = self.path.split("?", 1)[0].rsplit("/", 1)[1]
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.posts.append((job_id, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def env(self):
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        return {
            "RUNPOD_WEBHOOK_GET_JOB": f"{base}/job-take/$ID?gpu=test",
            "RUNPOD_WEBHOOK_POST_OUTPUT": f"{base}/job-done/$RUNPOD_POD_ID/$ID?gpu=test",
            "RUNPOD_POD_ID": "test-worker",
        }

    def progress(self, job_id):
        return [body["output"] for jid, body in list(self.posts) if jid == job_id and body.get("status") == "IN_PROGRESS"]

    def results(self, job_id):
        return [body for jid, body in list(self.posts) if jid == job_id and body.get("status") != "IN_PROGRESS"]


@requires_runpod
class WorkerLoopTests(unittest.TestCase):
    """`python -u handler.py` as on RunPod: the SDK takes jobs, posts progress and results, stops jobs."""

    def setUp(self):
        self.env = WorkerEnv()
        self.addCleanup(self.env.cleanup)
        self.api = FakeRunpodJobApi()
        self.addCleanup(self.api.close)

    def start_worker(self, **env):
        proc = subprocess.Popen([sys.executable, "-u", HANDLER], cwd=GPU_DIR, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                env=sdk_env(self.env, **self.api.env(), **env))
        self.addCleanup(stop_process, proc)
        return proc, LineCollector(proc.stdout)

    def stop_worker(self, proc, log):
        proc.send_signal(signal.SIGTERM)  # what RunPod sends when it scales the worker down
        self.assertEqual(proc.wait(timeout=60), 0, "\n".join(log.join()))

    def test_progress_updates_and_the_result_reach_runpod(self):
        proc, log = self.start_worker()
        self.api.jobs.put({"id": "job-1", "input": train_input(epochs=2)})
        result = wait_until(lambda: self.api.results("job-1"), what="the job's result")[0]
        self.assertEqual(result["output"]["training"]["epochs"], 2)
        self.assertNotIn("error", result)
        # Each update is posted from a thread of its own; wait for all of them.
        stages = ("unpack", "preprocess", "extract", "train", "index")
        wait_until(lambda: set(stages) <= {p["stage"] for p in self.api.progress("job-1")},
                   what="progress of every stage")
        for update in self.api.progress("job-1"):
            self.assertEqual((update["task"], update["run_id"]), ("train", "alice"))
            self.assertIsInstance(update["message"], str)
        self.stop_worker(proc, log)

    def test_an_error_result(self):
        proc, log = self.start_worker()
        self.api.jobs.put({"id": "job-2", "input": {"task": "train", "run_id": "../x"}})
        result = wait_until(lambda: self.api.results("job-2"), what="the job's result")[0]
        self.assertIn("input.run_id must be 1-64 characters", result["error"])
        self.stop_worker(proc, log)

    def test_a_stopped_job_stops_applio_and_releases_its_run(self):
        proc, log = self.start_worker(FAKE_APPLIO_FAULT="hang-at-epoch:2")
        self.api.jobs.put({"id": "job-3", "input": train_input()})
        config = os.path.join(self.env.volume, "voicestudio", "runs", "alice", "applio", "config.json")
        pids = wait_until(lambda: len(standin.read_json(config, {}).get("process_pids") or []) == 2
                          and standin.read_json(config)["process_pids"], what="Applio's training processes")
        self.addCleanup(lambda: [os.kill(pid, signal.SIGKILL) for pid in pids if process_alive(pid)])
        lease = os.path.join(self.env.volume, "voicestudio", "runs", "alice", "lease.json")
        self.assertTrue(os.path.exists(lease))

        self.api.stops.put("job-3")  # RunPod's cancel, or the execution timeout
        log.wait_for(lambda line: "job-3 | Job stopped." in line, what="the SDK to stop the job")
        self.assertFalse(os.path.exists(lease))
        wait_until(lambda: not any(process_alive(pid) for pid in pids), timeout=30, what="Applio's processes to end")
        self.assertEqual(self.api.results("job-3"), [])  # RunPod reports CANCELLED itself
        self.stop_worker(proc, log)

        again, _ = self.env.run(train_input())
        self.assertNotIn("error", again, again.get("error"))
        self.assertEqual(again["training"]["resumed_from_epoch"], 2)


if __name__ == "__main__":
    unittest.main()
