"""Paid tasks made idempotent by the client's request key (`request_key`).

A client that could not confirm a submit (a reset, a 5xx, a kill while the request was in flight) sends the
same request again; RunPod may also run one job twice. Under <volume>/voicestudio/requests/<task>/<key>/ the
worker keeps the result of a finished request (result.json) and a lease (lease.json, as a training run has).
A second job for a finished key returns that result; for a key another live job is working on, it answers at
once with that job's id (`status: "busy"`, as `if_busy: "report"` does for training), so the client follows
the first job. A duplicate then costs seconds of worker time, never a second conversion or separation.
"""

import json
import os
import uuid

from .lease import RunBusy, RunLease


def _blob_hashes(value):
    """The blobs a result refers to: it is only reusable while all of them are still in the store."""
    if isinstance(value, dict):
        if isinstance(value.get("blob"), str):
            yield value["blob"]
        for item in value.values():
            yield from _blob_hashes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _blob_hashes(item)


class KeyedRequest:
    def __init__(self, ctx, task, key):
        self.ctx = ctx
        self.task = task
        self.key = key
        self.dir = ctx.volume_path("requests", task, key)
        self.result_path = os.path.join(self.dir, "result.json")

    def finished(self):
        try:
            with open(self.result_path, "r", encoding="utf-8") as fh:
                result = json.load(fh)
        except FileNotFoundError:
            return None
        except (ValueError, OSError):
            return None  # a torn write: the work is done again
        if not isinstance(result, dict):
            return None
        if any(self.ctx.store.size_of(sha) is None for sha in _blob_hashes(result)):
            return None
        result["cached"] = True
        return result

    def keep(self, result):
        tmp = f"{self.result_path}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(result, fh)
        os.replace(tmp, self.result_path)

    def run(self, work):
        """Runs work() once per key: a finished key's result, or the busy answer, comes back instead."""
        done = self.finished()
        if done is not None:
            self.ctx.reporter.log(f"{self.task} request {self.key}: already done, returning its result")
            return done
        os.makedirs(self.dir, exist_ok=True)
        lease = RunLease(os.path.join(self.dir, "lease.json"), self.ctx.job_id, self.ctx.reporter,
                         sleep=self.ctx.sleep or self.ctx.cancellation.sleep)
        try:
            lease.acquire(f"{self.task} request {self.key}", report_busy=True)
        except RunBusy as busy:
            return {"status": "busy", "request_key": self.key, "holder_job_id": busy.holder_job_id}
        try:
            done = self.finished()  # the holder finished between our two looks
            if done is not None:
                return done
            result = work()
            self.keep(result)
            return result
        finally:
            lease.release()


def run_keyed(ctx, task, key, work):
    """work() under the request key, when the client sent one and a volume can keep the result."""
    if key is None or not os.path.isdir(ctx.settings.volume):
        return work()
    return KeyedRequest(ctx, task, key).run(work)
