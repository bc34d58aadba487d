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
from .fileref import INLINE_MAX_BYTES, INLINE_TOTAL_MAX_BYTES
from .hardware import devices, disk_space, shm_info, torch_info

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


def _file_entry(path):
    try:
        return {"path": path, "present": True, "size": os.path.getsize(path)}
    except OSError:
        return {"path": path, "present": False, "size": None}


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
            **(disk_space(s.volume) if volume_ok else {"free_bytes": None, "total_bytes": None}),
        ),
        "scratch": dict({"path": s.scratch}, **disk_space(s.scratch if os.path.isdir(s.scratch) else "/")),
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
