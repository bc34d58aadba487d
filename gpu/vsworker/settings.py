"""Worker configuration read from environment variables (documented in gpu/README.md)."""

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass

from .errors import ConfigError

# Where the Docker image puts things; overridable for local use.
DEFAULT_APPLIO_DIR = "/app/applio"
DEFAULT_VOLUME = "/runpod-volume"
DEFAULT_SEPARATOR_MODEL = "model_bs_roformer_ep_317_sdr_12.9755.ckpt"
DEFAULT_SEPARATOR_MODEL_DIR = "/app/separator-models"


@dataclass(frozen=True)
class Settings:
    applio_dir: str
    applio_python: str
    volume: str
    scratch: str
    ffmpeg: str
    separator_bin: str
    separator_model: str
    separator_model_dir: str
    # Run train/convert even when torch sees no CUDA GPU (local CPU use, the tests).
    allow_cpu: bool = False

    @classmethod
    def from_env(cls, env=None):
        env = os.environ if env is None else env
        scratch = env.get("VOICESTUDIO_SCRATCH") or os.path.join(
            tempfile.gettempdir(), "voicestudio-scratch"
        )
        return cls(
            # realpath: Applio's scripts see os.getcwd() (symlinks resolved) and write paths
            # relative to it into filelist.txt, so ours must resolve the same way.
            applio_dir=os.path.realpath(env.get("APPLIO_DIR") or DEFAULT_APPLIO_DIR),
            # The interpreter that has Applio's requirements installed (the image's venv).
            applio_python=env.get("APPLIO_PYTHON") or sys.executable,
            volume=os.path.abspath(env.get("VOICESTUDIO_VOLUME") or DEFAULT_VOLUME),
            scratch=os.path.abspath(scratch),
            ffmpeg=env.get("FFMPEG_PATH") or "ffmpeg",
            separator_bin=env.get("VOICESTUDIO_SEPARATOR_BIN") or "audio-separator",
            separator_model=env.get("VOICESTUDIO_SEPARATOR_MODEL") or DEFAULT_SEPARATOR_MODEL,
            separator_model_dir=os.path.abspath(
                env.get("VOICESTUDIO_SEPARATOR_MODEL_DIR") or DEFAULT_SEPARATOR_MODEL_DIR
            ),
            allow_cpu=(env.get("VOICESTUDIO_ALLOW_CPU") or "").strip().lower() in ("1", "true", "yes"),
        )

    @property
    def store_root(self):
        """Everything voicestudio keeps on the volume lives under this folder."""
        return os.path.join(self.volume, "voicestudio")

    def require_volume(self):
        """The volume must already exist: creating it would silently write to the
        container disk, which disappears when the worker stops."""
        if not os.path.isdir(self.volume):
            raise ConfigError(
                f"network volume not found at {self.volume}: attach a network volume to the "
                "endpoint (RunPod mounts it at /runpod-volume) or set VOICESTUDIO_VOLUME to an "
                "existing directory"
            )
        if not os.access(self.volume, os.W_OK):
            raise ConfigError(f"volume {self.volume} is not writable by the worker")
        return self.store_root

    def resolve_ffmpeg(self):
        path = self.ffmpeg
        if os.sep in path:
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
            raise ConfigError(f"FFMPEG_PATH={path} is not an executable file")
        found = shutil.which(path)
        if not found:
            raise ConfigError(
                "ffmpeg not found: install FFmpeg or set FFMPEG_PATH to the ffmpeg binary"
            )
        return found

    def require_applio(self, *relative_paths):
        """Fail clearly when APPLIO_DIR is not an Applio checkout with the files we call."""
        if not os.path.isdir(self.applio_dir):
            raise ConfigError(
                f"Applio not found at {self.applio_dir}: set APPLIO_DIR to an Applio "
                "3.6.4 checkout"
            )
        for rel in relative_paths:
            if not os.path.exists(os.path.join(self.applio_dir, rel)):
                raise ConfigError(
                    f"{rel} is missing in APPLIO_DIR={self.applio_dir}; is it an Applio "
                    "3.6.4 checkout?"
                )
        return self.applio_dir

    def job_scratch(self, prefix):
        os.makedirs(self.scratch, exist_ok=True)
        return tempfile.mkdtemp(prefix=prefix + "-", dir=self.scratch)
