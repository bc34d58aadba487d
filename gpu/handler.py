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


def run_local_job(path):
    try:
        if path == "-":
            job = json.load(sys.stdin)
        else:
            with open(path, "r", encoding="utf-8") as fh:
                job = json.load(fh)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"cannot read the job file {path}: {exc}\n")
        return 2
    except RecursionError:  # json's decoder on thousands of nested [ or {
        sys.stderr.write(f"cannot read the job file {path}: JSON nested too deeply\n")
        return 2
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
    if args.local_job:
        return run_local_job(args.local_job)
    start_runpod()
    return 0


if __name__ == "__main__":
    sys.exit(main())
