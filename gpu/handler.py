#!/usr/bin/env python3
"""voicestudio GPU worker.

On RunPod:     python -u handler.py
               (runpod.serverless.start; progress via runpod.serverless.progress_update)
Anywhere else: python3 gpu/handler.py --local-job JOB.json   ("-" reads stdin)
               JOB.json is {"id": ..., "input": {...}}. Progress and logs go to
               stderr as JSON lines ({"progress": ...} / {"log": ...}); the job's
               return value is printed on stdout as one JSON document. The exit
               code is 0 even when that value is {"error": ...}, as on RunPod.

The job protocol is documented in gpu/README.md. Only the standard library is
imported at module level; runpod is imported when running on RunPod.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vsworker.context import TaskContext  # noqa: E402
from vsworker.progress import JsonLinesReporter, Reporter, RunpodReporter  # noqa: E402
from vsworker.settings import Settings  # noqa: E402
from vsworker.tasks import handle_job  # noqa: E402


def handler(job, reporter=None, settings=None):
    """Run one job {"id", "input"} and return its output dict (never raises)."""
    settings = settings or Settings.from_env()
    job_id = job.get("id") if isinstance(job, dict) else None
    ctx = TaskContext(settings, reporter or Reporter(), str(job_id or "local"))
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
    reporter = JsonLinesReporter(sys.stderr)
    # stdout carries only the result: anything else written to fd 1 while the
    # job runs (stray prints, child processes) is sent to stderr instead.
    sys.stdout.flush()
    saved_stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        result = handler(job, reporter)
    finally:
        sys.stdout.flush()
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


def start_runpod():
    import runpod  # only on RunPod (pinned in the Dockerfile)

    def runpod_handler(job):
        reporter = RunpodReporter(job, runpod.serverless.progress_update)
        return handler(job, reporter)

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
