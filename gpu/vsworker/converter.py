"""The warm conversion process (see infer_child.py) as seen from the handler.

One child per worker process is kept between jobs; it is restarted when it dies
or when APPLIO_DIR/APPLIO_PYTHON change, and stopped before training so the
GPU memory it holds is free for train.py.
"""

import collections
import json
import os
import queue
import signal
import subprocess
import threading

from .errors import JobError

CHILD_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "infer_child.py")
STARTUP_TIMEOUT_SECONDS = 600  # importing torch + Applio on a cold worker
CONVERT_TIMEOUT_SECONDS = 3600
LOG_TAIL = 300


class ConverterProcess:
    def __init__(self, settings):
        self.key = (settings.applio_dir, settings.applio_python)
        # The model VoiceConverter holds after the last successful request (it keeps one loaded).
        self.loaded_model = None
        self.reporter = None
        self.log_tail = collections.deque(maxlen=LOG_TAIL)
        self.log_changed = threading.Condition()
        self.responses = queue.Queue()
        self.next_id = 0
        self.proc = subprocess.Popen(
            [settings.applio_python, "-u", CHILD_SCRIPT],
            cwd=settings.applio_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        self.readers = [threading.Thread(target=self._read_stdout, daemon=True),
                        threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self.readers:
            reader.start()
        ready = self._wait(STARTUP_TIMEOUT_SECONDS, "starting Applio's VoiceConverter")
        if not ready.get("ready"):
            self.stop()
            raise JobError(
                f"Applio's VoiceConverter could not be loaded ({ready.get('error')}); output:\n"
                + self.excerpt()
            )
        self.pid = ready.get("pid")

    def _read_stdout(self):
        for line in self.proc.stdout:
            line = line.strip()
            if line:
                try:
                    self.responses.put(json.loads(line))
                except ValueError:
                    self.log_tail.append(line)
        self.responses.put(None)  # EOF: the child exited

    def _read_stderr(self):
        for line in self.proc.stderr:
            line = line.rstrip()
            if not line:
                continue
            with self.log_changed:
                self.log_tail.append(line)
                self.log_changed.notify_all()
            reporter = self.reporter
            if reporter is not None and not line.startswith("--- "):
                reporter.log(f"[convert] {line}")

    def _wait(self, timeout, what):
        try:
            response = self.responses.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise JobError(f"{what} timed out after {timeout} s; output:\n{self.excerpt()}") from None
        if response is None:
            code = self.proc.wait()
            raise JobError(
                f"{what}: the Applio conversion process exited (code {code}); output:\n{self.excerpt()}"
            )
        return response

    def output_lines(self, request_id=None):
        """What the child printed (kept lines); with request_id, only what that request printed."""
        lines = list(self.log_tail)
        if request_id is not None:
            marker = f"--- request {request_id}"
            if marker in lines:
                lines = lines[len(lines) - lines[::-1].index(marker):]
        return [l for l in lines if not l.startswith("--- ")]

    def excerpt(self, request_id=None):
        """Quote the child's output; with request_id, only what that request printed."""
        from .applio import quote_lines

        return quote_lines(self.output_lines(request_id))

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        """Stop a conversion at once (the job was cancelled); the next job starts a new process."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def convert(self, kwargs, reporter):
        self.reporter = reporter
        self.next_id += 1
        request_id = self.next_id
        try:
            self.proc.stdin.write(json.dumps({"id": request_id, "kwargs": kwargs}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise JobError(f"the Applio conversion process is gone; output:\n{self.excerpt()}") from None
        response = self._wait(CONVERT_TIMEOUT_SECONDS, "voice conversion")
        while response.get("id") != request_id:  # stale reply of an abandoned request
            response = self._wait(CONVERT_TIMEOUT_SECONDS, "voice conversion")
        # stderr is read by another thread; wait (briefly) until this request's
        # output is complete so error messages can quote it.
        end_marker = f"--- end request {request_id}"
        with self.log_changed:
            self.log_changed.wait_for(lambda: end_marker in self.log_tail, timeout=5)
        self.reporter = None
        self.loaded_model = kwargs["model_path"] if response.get("ok") else None
        response["request_id"] = request_id
        return response

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # the child's request loop ends at EOF
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for reader in self.readers:
            reader.join(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass


_warm = {"process": None}
_lock = threading.Lock()


def get_converter(settings):
    with _lock:
        current = _warm["process"]
        key = (settings.applio_dir, settings.applio_python)
        if current is not None and (not current.alive() or current.key != key):
            current.stop()
            current = None
        if current is None:
            current = ConverterProcess(settings)
            _warm["process"] = current
        return current


def has_model_loaded(settings, model_path):
    """True when the warm process is running for these settings and holds this model: a conversion
    then needs no start-up and no model load."""
    with _lock:
        current = _warm["process"]
        return (current is not None and current.alive()
                and current.key == (settings.applio_dir, settings.applio_python)
                and current.loaded_model == model_path)


def stop_warm_converter():
    with _lock:
        current = _warm["process"]
        _warm["process"] = None
    if current is not None:
        current.stop()
