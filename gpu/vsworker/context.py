"""What a task gets: settings, progress/log sink, the job id, a cancellation flag,
and the blob store (opened lazily, because tasks that move nothing through the
volume must work without one)."""

import contextlib
import os
import shutil
import threading

from .blobstore import BlobStore
from .errors import JobCancelled


class Cancellation:
    """Set when the job is stopped from outside: RunPod cancels its task (a cancel or the execution
    timeout), or --local-job gets SIGTERM/SIGINT. The work runs in another thread, so what it is
    waiting on registers how to stop it (killing Applio's process group, the conversion process)."""

    MESSAGE = ("the job was cancelled and Applio stopped; a training run keeps its checkpoints, "
               "so submitting the same job again resumes it")

    def __init__(self):
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._stoppers = []

    @property
    def requested(self):
        return self._event.is_set()

    def cancel(self):
        with self._lock:
            self._event.set()
            stoppers = list(self._stoppers)
        for stop in stoppers:
            stop()

    def check(self):
        if self._event.is_set():
            raise JobCancelled(self.MESSAGE)

    @contextlib.contextmanager
    def stopping(self, stop):
        """While the block runs, cancelling calls stop() (at once when already cancelled). stop must
        not block: it runs in whichever thread cancels."""
        with self._lock:
            self._stoppers.append(stop)
            already = self._event.is_set()
        if already:
            stop()
        try:
            yield
        finally:
            with self._lock:
                self._stoppers.remove(stop)

    def sleep(self, seconds):
        """time.sleep that ends the job when it is cancelled meanwhile."""
        if self._event.wait(seconds):
            raise JobCancelled(self.MESSAGE)


class TaskContext:
    def __init__(self, settings, reporter, job_id, sleep=None, cancellation=None):
        self.settings = settings
        self.reporter = reporter
        self.job_id = job_id
        self.sleep = sleep
        self.cancellation = cancellation or Cancellation()
        self._store = None
        self._scratch_dirs = []

    @property
    def store(self):
        if self._store is None:
            root = self.settings.require_volume()
            self._store = BlobStore(root)
        return self._store

    def scratch(self, prefix):
        path = self.settings.job_scratch(prefix)
        self._scratch_dirs.append(path)
        return path

    def cleanup(self):
        for path in self._scratch_dirs:
            shutil.rmtree(path, ignore_errors=True)
        self._scratch_dirs = []

    def progress(self, task, stage, message, **fields):
        payload = {"task": task, "stage": stage, "message": message}
        payload.update(fields)
        self.reporter.progress(payload)
        self.reporter.log(f"[{task}] {stage}: {message}")

    def volume_path(self, *parts):
        return os.path.join(self.settings.store_root, *parts)
