"""The `info` task: what this worker runs on and what is baked into it."""

import json
import os
import platform
import shutil
import subprocess
import sys

from . import APPLIO_TAG, PROTOCOL_VERSION, WORKER_VERSION
from .applio import EXTRACT_SCRIPT, INDEX_SCRIPT, INFER_MODULE, PREPROCESS_SCRIPT, TRAIN_SCRIPT
from .blobstore import BLOB_MAX_BYTES, CHUNK_MAX_BYTES
from .errors import ConfigError
from .fileref import INLINE_MAX_BYTES, INLINE_TOTAL_MAX_BYTES

# Files `core.py prerequisites` downloads (3.6.4) that training/conversion rely on.
BAKED_APPLIO_FILES = [
    "rvc/models/predictors/rmvpe.pt",
    "rvc/models/predictors/fcpe.pt",
    "rvc/models/embedders/contentvec/pytorch_model.bin",
    "rvc/models/embedders/contentvec/config.json",
] + [
    f"rvc/models/pretraineds/hifi-gan/f0{kind}{sr}k.pth" for sr in (32, 40, 48) for kind in "GD"
] + [
    f"rvc/models/pretraineds/refinegan/f0{kind}{sr}k.pth" for sr in (24, 32) for kind in "GD"
]

TORCH_PROBE = r"""
import json
out = {}
try:
    import torch
    out["version"] = torch.__version__
    out["cuda_build"] = torch.version.cuda
    out["cuda_available"] = bool(torch.cuda.is_available())
    mps = getattr(torch.backends, "mps", None)
    out["mps_available"] = bool(mps is not None and mps.is_available())
    if out["cuda_available"]:
        props = torch.cuda.get_device_properties(0)
        out["gpu_name"] = props.name
        out["gpu_memory_bytes"] = int(props.total_memory)
        out["gpu_count"] = torch.cuda.device_count()
        out["bf16_supported"] = bool(torch.cuda.is_bf16_supported())
except Exception as exc:
    out["error"] = type(exc).__name__ + ": " + str(exc)
print("VOICESTUDIO_TORCH " + json.dumps(out))
"""
PROBE_TIMEOUT_SECONDS = 180


# Applio's training DataLoader (train.py) runs 4 worker processes that each prefetch 8 batches through
# /dev/shm. A batch of 8 slices of 6.75 s at 48 kHz (audio, spectrogram and features, float32) is about
# 65 MB, so 32 batches in flight need about 2 GiB; Docker's default /dev/shm is 64 MiB.
SHM_PATH = "/dev/shm"
SHM_RECOMMENDED_BYTES = 2 * 1024 ** 3


def shm_info():
    """The size of /dev/shm (None where there is none), and what Applio's training needs."""
    return dict({"path": SHM_PATH, "recommended_bytes": SHM_RECOMMENDED_BYTES}, **_disk(SHM_PATH))


def _disk(path):
    try:
        stat = os.statvfs(path)
        return {"free_bytes": stat.f_bavail * stat.f_frsize, "total_bytes": stat.f_blocks * stat.f_frsize}
    except OSError:
        return {"free_bytes": None, "total_bytes": None}


def _file_entry(path):
    try:
        return {"path": path, "present": True, "size": os.path.getsize(path)}
    except OSError:
        return {"path": path, "present": False, "size": None}


# Successful probes per (APPLIO_PYTHON, APPLIO_DIR): importing torch takes seconds,
# and a GPU that is visible stays visible for the life of the worker process.
_TORCH_CACHE = {}


def torch_info(settings):
    key = (settings.applio_python, settings.applio_dir)
    if key in _TORCH_CACHE:
        return dict(_TORCH_CACHE[key])
    data = _probe_torch(settings)
    if data.get("cuda_available"):
        _TORCH_CACHE[key] = dict(data)
    return data


def require_cuda(settings):
    """train/convert: fail clearly instead of letting Applio fall back to the CPU,
    which it does silently (and trains for days). Returns the probe, or None
    when VOICESTUDIO_ALLOW_CPU is set."""
    if settings.allow_cpu:
        return None
    data = torch_info(settings)
    if data.get("cuda_available"):
        return data
    if not data.get("available"):
        raise ConfigError(
            f"cannot check for a CUDA GPU: torch does not load in APPLIO_PYTHON="
            f"{settings.applio_python} ({data.get('error') or 'no output'}); set VOICESTUDIO_ALLOW_CPU=1 "
            "to run without a GPU"
        )
    raise ConfigError(
        "no CUDA GPU visible: the endpoint's GPU/driver does not match CUDA 12.8; set Allowed CUDA "
        f"versions ≥ 12.8 in the endpoint settings (torch {data.get('version')} is built for CUDA "
        f"{data.get('cuda_build')}, and Applio would otherwise run on the CPU). To run on the CPU "
        "anyway, set VOICESTUDIO_ALLOW_CPU=1"
    )


def devices(probe):
    """Where Applio 3.6.4 runs each step with this torch: extraction on cuda:0 or the CPU (the GPU list
    "0" or "-"), training on CUDA, else Apple's MPS, else the CPU (train.py), conversion on cuda:0 or
    the CPU (rvc/configs/config.py). None when torch does not load."""
    if not probe.get("available"):
        return None
    if probe.get("cuda_available"):
        return {"extract": "cuda", "train": "cuda", "convert": "cuda"}
    return {"extract": "cpu", "train": "mps" if probe.get("mps_available") else "cpu", "convert": "cpu"}


def extraction_gpus(settings):
    """The GPU list for Applio's extract.py: "0" with a CUDA GPU, else "-" (its CPU mode). Applio's own
    UI uses the same rule; "0" without CUDA makes every file fail inside its worker pool."""
    return "0" if torch_info(settings).get("cuda_available") else "-"


def _probe_torch(settings):
    try:
        proc = subprocess.run(
            [settings.applio_python, "-c", TORCH_PROBE], cwd=settings.applio_dir if os.path.isdir(settings.applio_dir) else None,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=PROBE_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"available": False, "error": str(exc)}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("VOICESTUDIO_TORCH "):
            data = json.loads(line[len("VOICESTUDIO_TORCH "):])
            data["available"] = "version" in data
            return data
    return {"available": False, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}


def ffmpeg_info(settings):
    try:
        path = settings.resolve_ffmpeg()
        proc = subprocess.run([path, "-version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=30)
        return {"path": path, "version": (proc.stdout.splitlines() or [""])[0]}
    except Exception as exc:
        return {"path": None, "error": str(exc)}


def applio_version(applio_dir):
    for name in ("config.json", "config_template.json"):
        try:
            with open(os.path.join(applio_dir, "assets", name), "r", encoding="utf-8") as fh:
                version = json.load(fh).get("version")
            if version:
                return version
        except (OSError, ValueError):
            continue
    return None


def info_task(ctx, fields):
    fields.finish("task 'info'")
    s = ctx.settings
    applio_dir = s.applio_dir
    scripts = [PREPROCESS_SCRIPT, EXTRACT_SCRIPT, TRAIN_SCRIPT, INDEX_SCRIPT, INFER_MODULE]
    volume_ok = os.path.isdir(s.volume)
    separator_bin = s.separator_bin if os.sep in s.separator_bin else shutil.which(s.separator_bin)
    torch = torch_info(s)
    return {
        # allow_cpu: VOICESTUDIO_ALLOW_CPU, so `voicestudio doctor` knows a worker without CUDA is meant to run.
        "worker": {"version": WORKER_VERSION, "protocol": PROTOCOL_VERSION, "allow_cpu": s.allow_cpu},
        "applio": {
            "dir": applio_dir,
            "present": all(os.path.exists(os.path.join(applio_dir, p)) for p in scripts),
            "version": applio_version(applio_dir),
            # The image records the git tag it checked out; elsewhere it is unknown.
            "tag": os.environ.get("APPLIO_GIT_TAG"),
            "expected_tag": APPLIO_TAG,
            "config_json": os.path.isfile(os.path.join(applio_dir, "assets", "config.json")),
            "python": s.applio_python,
        },
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "torch": dict(torch, devices=devices(torch)),
        "volume": dict(
            {"path": s.volume, "present": volume_ok, "mount_point": os.path.ismount(s.volume),
             "writable": volume_ok and os.access(s.volume, os.W_OK)},
            **(_disk(s.volume) if volume_ok else {"free_bytes": None, "total_bytes": None}),
        ),
        "scratch": dict({"path": s.scratch}, **_disk(s.scratch if os.path.isdir(s.scratch) else "/")),
        "shm": shm_info(),
        "ffmpeg": ffmpeg_info(s),
        "separator": {
            "bin": separator_bin,
            "model": _file_entry(os.path.join(s.separator_model_dir, s.separator_model)),
        },
        "files": [
            dict(_file_entry(os.path.join(applio_dir, rel)), name=rel) for rel in BAKED_APPLIO_FILES
        ],
        "limits": {
            "chunk_max_bytes": CHUNK_MAX_BYTES,
            "inline_max_bytes": INLINE_MAX_BYTES,
            "inline_total_max_bytes": INLINE_TOTAL_MAX_BYTES,
            "blob_max_bytes": BLOB_MAX_BYTES,
        },
    }
