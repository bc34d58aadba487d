"""Progress and log sinks injected into tasks.

On RunPod, progress goes through runpod.serverless.progress_update (each call
POSTs from a thread, so we throttle) and logs go to stdout (the endpoint's logs).
With --local-job, stdout is reserved for the final result, so every line on
stderr is one JSON object: {"progress": {...}} or {"log": "..."}.
"""

import json
import sys
import threading
import time


class Reporter:
    """Base sink: collects nothing. Subclasses override emit_progress/emit_log."""

    min_interval = 0.0

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._last_sent = None
        self._last_stage = None
        self._lock = threading.Lock()

    def progress(self, payload):
        """Send a progress dict; updates closer than min_interval are dropped
        unless the stage changed (so stage transitions are never lost)."""
        with self._lock:
            now = self._clock()
            stage = payload.get("stage")
            if (
                self._last_sent is not None
                and stage == self._last_stage
                and now - self._last_sent < self.min_interval
            ):
                return
            self._last_sent = now
            self._last_stage = stage
        self.emit_progress(payload)

    def log(self, line):
        self.emit_log(line)

    def emit_progress(self, payload):
        pass

    def emit_log(self, line):
        pass


class MemoryReporter(Reporter):
    """Keeps everything in lists (tests and in-process callers)."""

    def __init__(self):
        super().__init__()
        self.updates = []
        self.lines = []

    def emit_progress(self, payload):
        self.updates.append(payload)

    def emit_log(self, line):
        self.lines.append(line)


class JsonLinesReporter(Reporter):
    """--local-job: one JSON object per line on stderr."""

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream or sys.stderr
        self._write_lock = threading.Lock()

    def _write(self, obj):
        with self._write_lock:
            self.stream.write(json.dumps(obj, ensure_ascii=False) + "\n")
            self.stream.flush()

    def emit_progress(self, payload):
        self._write({"progress": payload})

    def emit_log(self, line):
        self._write({"log": line})


class RunpodReporter(Reporter):
    """Progress through runpod.serverless.progress_update. Without one (progress_update None: the SDK's
    local modes, where it would post to a placeholder URL and log "Failed to return job results"
    for every update) progress goes to the log as "progress {...}" lines."""

    min_interval = 2.0

    def __init__(self, job, progress_update, stream=None):
        super().__init__()
        self.job = job
        self.progress_update = progress_update
        self.stream = stream or sys.stdout

    def emit_progress(self, payload):
        if self.progress_update is None:
            self.emit_log("progress " + json.dumps(payload, ensure_ascii=False))
            return
        try:
            self.progress_update(self.job, payload)
        except Exception as exc:  # progress is best effort, never fail the job for it
            self.emit_log(f"progress_update failed: {exc}")

    def emit_log(self, line):
        self.stream.write(line + "\n")
        self.stream.flush()
