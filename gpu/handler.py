#!/usr/bin/env python3
"""voicestudio GPU worker.

On RunPod:     python -u handler.py
               (runpod.serverless.start; progress via runpod.serverless.progress_update)
Anywhere else: python3 gpu/handler.py --local-job JOB.json   ("-" reads stdin)
               JOB.json is {"id": ..., "input": {...}}. Progress and logs go to
               stderr as JSON lines ({"progress": ...} / {"log": ...}); the job's
               return value is printed on stdout as one JSON document. The exit
               code is 0 even when that value is {"error": ...}, as on RunPod.
               SIGTERM or SIGINT cancels the job: Applio is stopped, the run's
               lease released, and the result is the cancellation error.

The job protocol is documented in gpu/README.md. Only the standard library is
imported at module level; runpod is imported when running on RunPod.
"""

import argparse
import json
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vsworker.context import Cancellation, TaskContext  # noqa: E402
from vsworker.progress import JsonLinesReporter, Reporter, RunpodReporter  # noqa: E402
from vsworker.settings import Settings  # noqa: E402
from vsworker.tasks import handle_job  # noqa: E402

# How long a cancelled RunPod job may take to stop Applio and release its run before the SDK moves on.
CANCEL_GRACE_SECONDS = 30


def handler(job, reporter=None, settings=None, cancellation=None):
    """Run one job {"id", "input"} and return its output dict (never raises)."""
    settings = settings or Settings.from_env()
    job_id = job.get("id") if isinstance(job, dict) else None
    ctx = TaskContext(settings, reporter or Reporter(), str(job_id or "local"), cancellation=cancellation)
    return handle_job(job, ctx)


class UnreadableJob(Exception):
    """A job file or test input that is not JSON: a usage error (exit code 2)."""


def load_job(what, load):
    try:
        return load()
    except (OSError, ValueError) as exc:
        raise UnreadableJob(f"cannot read {what}: {exc}") from None
    except RecursionError:  # json's decoder on thousands of nested [ or {
        raise UnreadableJob(f"cannot read {what}: JSON nested too deeply") from None


def read_json_file(path):
    with open(path, "r", encoding="utf-8") as fh:
        return json.load(fh)


def check_sdk_test_input(argv):
    """runpod-python reads its one local test job from --test_input, or else from test_input.json when
    it is neither on RunPod nor serving its API, and a malformed one ends in its traceback and exit 1.
    Reading it here first makes that the usage error it is with --local-job."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--test_input")
    parser.add_argument("--rp_serve_api", action="store_true")
    args, _unknown = parser.parse_known_args(argv)
    if args.test_input:
        load_job("the --test_input job", lambda: json.loads(args.test_input))
    elif not args.rp_serve_api and "RUNPOD_WEBHOOK_GET_JOB" not in os.environ and os.path.exists("test_input.json"):
        load_job("the job file test_input.json", lambda: read_json_file("test_input.json"))


def run_local_job(path):
    job = load_job(f"the job file {path}", lambda: json.load(sys.stdin) if path == "-" else read_json_file(path))
    reporter = JsonLinesReporter(sys.stderr)
    # The job runs in a thread so that a signal, handled in this one, can stop it cleanly.
    cancellation = Cancellation()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: cancellation.cancel())
    # stdout carries only the result: anything else written to fd 1 while the
    # job runs (stray prints, child processes) is sent to stderr instead.
    sys.stdout.flush()
    saved_stdout = os.dup(1)
    os.dup2(2, 1)
    outcome = []
    try:
        worker = threading.Thread(target=lambda: outcome.append(handler(job, reporter, cancellation=cancellation)))
        worker.start()
        worker.join()
    finally:
        sys.stdout.flush()
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)
    sys.stdout.write(json.dumps(outcome[0]) + "\n")
    sys.stdout.flush()
    return 0


def start_runpod():
    import asyncio

    import runpod  # only on RunPod (pinned in the Dockerfile)

    # RunPod gives the URL progress goes to; in the SDK's local modes (--test_input, --rp_serve_api)
    # there is none, and progress_update would log a failure for every update.
    progress_update = runpod.serverless.progress_update if os.environ.get("RUNPOD_WEBHOOK_POST_OUTPUT") else None

    async def runpod_handler(job):
        # runpod-python runs the handler in its event loop and stops a job (cancel, execution timeout)
        # by cancelling its task: the work runs in a thread, so the loop is free to do that, and the
        # cancellation reaches the work, which kills Applio's process group and releases the run.
        cancellation = Cancellation()
        reporter = RunpodReporter(job, progress_update)
        work = asyncio.ensure_future(asyncio.to_thread(handler, job, reporter, None, cancellation))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            cancellation.cancel()
            await asyncio.wait({work}, timeout=CANCEL_GRACE_SECONDS)
            raise

    runpod.serverless.start({"handler": runpod_handler})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--local-job", metavar="JOB.json",
                        help="run one job without RunPod and print its result on stdout")
    # RunPod's SDK parses its own --rp_* flags from sys.argv; leave them alone.
    args, _unknown = parser.parse_known_args(argv)
    try:
        if args.local_job:
            return run_local_job(args.local_job)
        check_sdk_test_input(argv)
    except UnreadableJob as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    start_runpod()
    return 0


if __name__ == "__main__":
    sys.exit(main())
