"""What the worker runs on: the probe of torch and CUDA in Applio's interpreter (run once per
process), the GPU checks train and convert make before they start Applio, and the sizes of
/dev/shm and other disks. The info task reports these; the tasks that need a GPU check them."""

import json
import os
import subprocess

from .errors import ConfigError

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
    return dict({"path": SHM_PATH, "recommended_bytes": SHM_RECOMMENDED_BYTES}, **disk_space(SHM_PATH))


def disk_space(path):
    try:
        stat = os.statvfs(path)
        return {"free_bytes": stat.f_bavail * stat.f_frsize, "total_bytes": stat.f_blocks * stat.f_frsize}
    except OSError:
        return {"free_bytes": None, "total_bytes": None}


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
