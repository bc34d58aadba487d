"""What a task gets: settings, progress/log sink, the job id, and the blob store
(opened lazily, because tasks that move nothing through the volume must work
without one)."""

import os
import shutil

from .blobstore import BlobStore


class TaskContext:
    def __init__(self, settings, reporter, job_id, sleep=None):
        self.settings = settings
        self.reporter = reporter
        self.job_id = job_id
        self.sleep = sleep
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
