"""A lease file that keeps two workers from training the same run at once.

RunPod may deliver a job twice, even in parallel, and a client may re-submit
after a crash. The holder refreshes the lease file's mtime from a heartbeat
thread; a lease whose heartbeat stopped (worker killed) or whose process is gone
(same host) is taken over. A second job for a busy run waits, then continues
with whatever the first one left (usually the finished result) — unless the
client asked to be told instead (RunBusy), so that a re-submission after an
ambiguous submit can follow the job already training rather than pay for a
second worker that only waits.
"""

import json
import os
import socket
import threading
import time
import uuid

from .errors import JobError

HEARTBEAT_SECONDS = 30
STALE_SECONDS = 180
POLL_SECONDS = 15
MAX_WAIT_SECONDS = 24 * 3600


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunBusy(Exception):
    """Another live job holds the run; raised only when the caller asked to be told."""

    def __init__(self, holder_job_id):
        super().__init__(f"run is being trained by job {holder_job_id}")
        self.holder_job_id = holder_job_id


class RunLease:
    def __init__(self, path, job_id, reporter, on_wait=None, sleep=time.sleep, clock=time.time):
        self.path = path
        self.job_id = job_id
        self.reporter = reporter
        self.on_wait = on_wait or (lambda message: reporter.log(message))
        self.sleep = sleep
        self.clock = clock
        self.token = uuid.uuid4().hex
        self.host = socket.gethostname()
        self._stop = threading.Event()
        self._thread = None

    def _record(self):
        return {
            "job_id": self.job_id,
            "host": self.host,
            "pid": os.getpid(),
            "token": self.token,
            "acquired_at": self.clock(),
        }

    def _read(self):
        try:
            with open(self.path, "r", encoding="utf-8") as fh:
                data = json.load(fh)
            return data, os.stat(self.path).st_mtime
        except FileNotFoundError:
            return None, None
        except (ValueError, OSError):
            # A torn write from a crashed worker: treat as stale.
            return {}, 0.0

    def _is_stale(self, data, mtime):
        if self.clock() - mtime > STALE_SECONDS:
            return True
        if data.get("host") == self.host and isinstance(data.get("pid"), int):
            return data["pid"] != os.getpid() and not _pid_alive(data["pid"])
        return False

    def _try_create(self):
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self._record(), fh)
        return True

    def _take_over(self):
        tmp = f"{self.path}.{self.token}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self._record(), fh)
        os.replace(tmp, self.path)
        data, _ = self._read()
        return bool(data) and data.get("token") == self.token  # lost a race otherwise

    def acquire(self, run_id, report_busy=False):
        """Takes the lease. With report_busy, a lease held by another live job raises RunBusy
        instead of waiting; the same job delivered twice by RunPod still waits for itself."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        waited = 0.0
        while True:
            if self._try_create():
                break
            data, mtime = self._read()
            if data is None:
                continue  # released between our two calls
            if self._is_stale(data, mtime):
                self.reporter.log(
                    f"run {run_id}: taking over a stale lease from job {data.get('job_id')!r}"
                )
                if self._take_over():
                    break
                continue
            if report_busy and data.get("job_id") not in (None, self.job_id):
                raise RunBusy(data.get("job_id"))
            if waited >= MAX_WAIT_SECONDS:
                raise JobError(
                    f"run {run_id} is still being trained by job {data.get('job_id')!r}; "
                    "gave up waiting"
                )
            self.on_wait(f"run {run_id} is busy in job {data.get('job_id')!r}; waiting for it")
            self.sleep(POLL_SECONDS)
            waited += POLL_SECONDS
        self._thread = threading.Thread(target=self._heartbeat, daemon=True)
        self._thread.start()

    def _heartbeat(self):
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                os.utime(self.path)
            except OSError:
                pass

    def release(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        data, _ = self._read()
        if data and data.get("token") == self.token:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
