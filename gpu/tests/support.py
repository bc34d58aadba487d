"""Shared helpers for the gpu/ test suite (stdlib unittest only)."""

import atexit
import base64
import functools
import gzip
import hashlib
import io
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import unittest
import wave
import zipfile

GPU_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HANDLER = os.path.join(GPU_DIR, "handler.py")
FAKE_APPLIO_TEMPLATE = os.path.join(GPU_DIR, "tests", "fake_applio")
FAKE_SEPARATOR = os.path.join(GPU_DIR, "tests", "fake_audio_separator.py")

if GPU_DIR not in sys.path:
    sys.path.insert(0, GPU_DIR)

from vsworker.context import TaskContext  # noqa: E402
from vsworker.progress import MemoryReporter  # noqa: E402
from vsworker.settings import Settings  # noqa: E402
from vsworker.tasks import handle_job  # noqa: E402


def find_ffmpeg():
    path = os.environ.get("FFMPEG_PATH")
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    return shutil.which("ffmpeg")


FFMPEG = find_ffmpeg()
requires_ffmpeg = unittest.skipIf(
    FFMPEG is None, "ffmpeg not found: set FFMPEG_PATH or put ffmpeg on PATH"
)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def b64(data):
    return base64.b64encode(data).decode("ascii")


# ------------------------------------------------------------- processes ----
def wait_until(condition, timeout=60, what="the condition"):
    """Polls condition() until it returns a true value, and returns that; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def process_alive(pid):
    """False once pid has exited, zombies included (a killed grandchild may wait unreaped)."""
    if os.path.isdir("/proc/self"):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except FileNotFoundError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_process(proc):
    """Test clean-up: kill proc if it still runs, reap it, close its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


class LineCollector:
    """Collects the lines of a text stream in a thread, so a test can wait for one while the process runs."""

    def __init__(self, stream):
        self.lines = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate, timeout=60, what="a line"):
        """The first line for which predicate is true."""
        return wait_until(lambda: next((l for l in list(self.lines) if predicate(l)), None), timeout, what)

    def join(self, timeout=30):
        self._thread.join(timeout)
        return self.lines


# ---------------------------------------------------------------- audio ----
@functools.lru_cache(maxsize=256)
def wav_bytes(seconds=1.0, rate=16000, freq=220.0, channels=1):
    """16-bit PCM sine wave (stdlib wave); cached because tests reuse the same clips."""
    frames = int(seconds * rate)
    # One period, tiled: fast, and the exact waveform does not matter to the tests.
    period = max(1, round(rate / freq)) if freq else 1
    cycle = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * i / period)) if freq else 0) * channels
        for i in range(period)
    )
    samples = (cycle * (frames // period + 1))[: frames * 2 * channels]
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples)
    return buf.getvalue()


def encode_audio(data_wav, ext, tmpdir):
    """Encode WAV bytes to another format with ffmpeg (tests needing it are skipped without)."""
    src = os.path.join(tmpdir, "src.wav")
    dst = os.path.join(tmpdir, "out." + ext)
    with open(src, "wb") as fh:
        fh.write(data_wav)
    extra = ["-c:a", "aac"] if ext == "m4a" else []
    subprocess.run([FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-i", src] + extra + [dst], check=True)
    with open(dst, "rb") as fh:
        return fh.read()


# ------------------------------------------------------------- archives ----
def tar_bytes(files, compress=True, extra=None):
    """files: {name: bytes}; extra(tar) may add special members. Deterministic
    (fixed mtimes), so the same files always give the same sha256."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extra:
            extra(tar)
    data = buf.getvalue()
    return gzip.compress(data, mtime=0) if compress else data


def zip_bytes(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buf.getvalue()


# ----------------------------------------------------------- environment ----
class WorkerEnv:
    """A temp dir with a volume, a scratch dir and (optionally) a fake Applio checkout."""

    def __init__(self, with_applio=True, config_json=True, pretrained=True):
        self.root = tempfile.mkdtemp(prefix="vs-test-")
        self.volume = os.path.join(self.root, "volume")
        self.scratch = os.path.join(self.root, "scratch")
        self.applio = os.path.join(self.root, "applio")
        os.makedirs(self.volume)
        if with_applio:
            build_fake_applio(self.applio, config_json=config_json, pretrained=pretrained)
        self.extra_env = {}

    def env(self, **overrides):
        env = dict(os.environ)
        for key in ("FAKE_APPLIO_FAULT", "APPLIO_PYTHON", "VOICESTUDIO_ALLOW_CPU"):
            env.pop(key, None)
        env.update({
            # The stand-in has no torch: skip the CUDA check (CudaCheckTests clear this).
            "VOICESTUDIO_ALLOW_CPU": "1",
            "APPLIO_DIR": self.applio,
            "VOICESTUDIO_VOLUME": self.volume,
            "VOICESTUDIO_SCRATCH": self.scratch,
            "APPLIO_PYTHON": sys.executable,
            "VOICESTUDIO_SEPARATOR_BIN": FAKE_SEPARATOR,
            "VOICESTUDIO_SEPARATOR_MODEL_DIR": os.path.join(self.root, "separator-models"),
        })
        if FFMPEG:
            env["FFMPEG_PATH"] = FFMPEG
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def settings(self, **overrides):
        return Settings.from_env(self.env(**overrides))

    def run(self, job_input, job_id="job-1", **env_overrides):
        """Run a job in-process; returns (result, MemoryReporter)."""
        reporter = MemoryReporter()
        ctx = TaskContext(self.settings(**env_overrides), reporter, job_id, sleep=lambda s: None)
        old = {k: os.environ.get(k) for k in env_overrides}
        os.environ.update(env_overrides)  # subprocesses (the fake Applio) read these
        try:
            result = handle_job({"id": job_id, "input": job_input}, ctx)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return result, reporter

    def run_local(self, job_input, job_id="job-1", **env_overrides):
        """Run a job through `handler.py --local-job` in a subprocess."""
        job_path = os.path.join(self.root, f"{job_id}.json")
        with open(job_path, "w", encoding="utf-8") as fh:
            json.dump({"id": job_id, "input": job_input}, fh)
        proc = subprocess.run(
            [sys.executable, HANDLER, "--local-job", job_path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=self.env(**env_overrides), timeout=120,
        )
        return proc

    def put_blob(self, data, chunk=None):
        """Upload bytes through blob_put/blob_commit in-process; returns sha256."""
        sha = sha256(data)
        chunk = chunk or (4 * 1024 * 1024)
        for offset in range(0, len(data), chunk):
            piece = data[offset:offset + chunk]
            result, _ = self.run({"task": "blob_put", "sha256": sha, "size": len(data),
                                  "offset": offset, "data": b64(piece)})
            assert "error" not in result, result
        result, _ = self.run({"task": "blob_commit", "sha256": sha, "size": len(data)})
        assert "error" not in result, result
        return sha

    def read_blob(self, sha):
        path = os.path.join(self.volume, "voicestudio", "blobs", sha[:2], sha)
        with open(path, "rb") as fh:
            return fh.read()

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


def _load_standin():
    import importlib.util

    path = os.path.join(FAKE_APPLIO_TEMPLATE, "rvc", "lib", "standin.py")
    spec = importlib.util.spec_from_file_location("fake_applio_standin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


standin = _load_standin()


def build_fake_applio(dest, config_json=True, pretrained=True):
    """A fresh stand-in checkout at dest (copied from one prepared per test process)."""
    shutil.copytree(_prepared_applio(config_json, pretrained), dest, symlinks=True)


@functools.lru_cache(maxsize=None)
def _prepared_applio(config_json, pretrained):
    root = tempfile.mkdtemp(prefix="vs-fake-applio-")
    atexit.register(shutil.rmtree, root, True)
    dest = os.path.join(root, "applio")
    _populate_fake_applio(dest, config_json, pretrained)
    return dest


def _populate_fake_applio(dest, config_json, pretrained):
    """Copy the stand-in checkout and add what `core.py prerequisites` and the
    Applio UI would have created."""
    shutil.copytree(FAKE_APPLIO_TEMPLATE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    # Shipped runtime data (logs/mute*): generated, because binary files do not belong in git.
    for folder in ("mute", "mute_spin", "mute_spin-v2"):
        base = os.path.join(dest, "logs", folder)
        for sub in ("sliced_audios", "sliced_audios_16k", "f0", "f0_voiced", "extracted"):
            os.makedirs(os.path.join(base, sub), exist_ok=True)
        # 3 s of 16-bit silence, like the shipped files (mute32000.wav is 192 078 bytes).
        for rate in (32000, 40000, 48000):
            with open(os.path.join(base, "sliced_audios", f"mute{rate}.wav"), "wb") as fh:
                fh.write(wav_bytes(3.0, rate, freq=0))
        with open(os.path.join(base, "sliced_audios_16k", "mute.wav"), "wb") as fh:
            fh.write(wav_bytes(3.0, 16000, freq=0))
        standin.write_npy(os.path.join(base, "f0", "mute.wav.npy"), (50,), "q", 1)
        standin.write_npy(os.path.join(base, "f0_voiced", "mute.wav.npy"), (50,), "f", 0.0)
        standin.write_npy(os.path.join(base, "extracted", "mute.npy"), (25, 768), "f", 0.0)
    if config_json:
        shutil.copyfile(os.path.join(dest, "assets", "config_template.json"),
                        os.path.join(dest, "assets", "config.json"))
    if pretrained:
        for sr in (32, 40, 48):
            for kind in "GD":
                path = os.path.join(dest, "rvc", "models", "pretraineds", "hifi-gan", f"f0{kind}{sr}k.pth")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                standin.save_pth(path, {"model": {}, "iteration": 0})
        for sr in (24, 32):
            for kind in "GD":
                path = os.path.join(dest, "rvc", "models", "pretraineds", "refinegan", f"f0{kind}{sr}k.pth")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                standin.save_pth(path, {"model": {}, "iteration": 0})
