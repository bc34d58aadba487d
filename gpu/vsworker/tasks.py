"""Task dispatch and the blob tasks. handle_job() is the single entry point used
by both RunPod and --local-job."""

import base64
import hashlib
import importlib
import traceback

from .blobstore import BLOB_MAX_BYTES, CHUNK_MAX_BYTES
from .errors import JobError, ValidationError
from .validation import Fields, describe

BLOB_HAS_MAX_HASHES = 1000


def blob_has_task(ctx, fields):
    hashes = fields.array("hashes", BLOB_HAS_MAX_HASHES, required=True)
    fields.finish("task 'blob_has'")
    for i, value in enumerate(hashes):
        if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise ValidationError(
                f"input.hashes[{i}] must be a sha256 hex digest (64 lowercase hex characters), "
                f"got {describe(value)}"
            )
    store = ctx.store
    store.sweep()
    present, missing, sizes, uploads = [], [], {}, {}
    for sha in dict.fromkeys(hashes):  # de-duplicated, order kept
        size = store.size_of(sha)
        if size is None:
            missing.append(sha)
            staged = store.uploads_in_progress(sha)
            if staged:
                uploads[sha] = [{"size": s, "ranges": r} for s, r in sorted(staged.items())]
        else:
            present.append(sha)
            sizes[sha] = size
    return {"present": present, "missing": missing, "sizes": sizes, "uploads": uploads}


def _sha_and_size(fields):
    sha = fields.sha256("sha256", required=True)
    size = fields.integer("size", 0, BLOB_MAX_BYTES, required=True)
    return sha, size


def blob_put_task(ctx, fields):
    sha, size = _sha_and_size(fields)
    offset = fields.integer("offset", 0, BLOB_MAX_BYTES, required=True)
    data = fields.base64_bytes("data", CHUNK_MAX_BYTES, required=True)
    chunk_sha = fields.sha256("chunk_sha256")
    fields.finish("task 'blob_put'")
    if not data:
        raise ValidationError("input.data is empty; a chunk carries at least one byte")
    if offset + len(data) > size:
        raise ValidationError(
            f"input.offset + chunk length ({offset} + {len(data)}) exceeds input.size ({size})"
        )
    if chunk_sha is not None and hashlib.sha256(data).hexdigest() != chunk_sha:
        raise JobError(
            "input.chunk_sha256 does not match the decoded input.data; the chunk was corrupted "
            "in transit and was not stored, send it again"
        )
    return ctx.store.put_chunk(sha, size, offset, data)


def blob_commit_task(ctx, fields):
    sha, size = _sha_and_size(fields)
    fields.finish("task 'blob_commit'")
    store = ctx.store
    if size == 0:
        if sha != hashlib.sha256(b"").hexdigest():
            raise ValidationError("input.sha256 does not match an empty blob (size 0)")
        already = store.size_of(sha) is not None
        store.ingest_bytes(b"")
        return {"sha256": sha, "size": 0, "status": "exists" if already else "committed"}
    result = store.commit(sha, size)
    store.sweep()
    return result


def blob_get_task(ctx, fields):
    sha = fields.sha256("sha256", required=True)
    offset = fields.integer("offset", 0, BLOB_MAX_BYTES, default=0)
    length = fields.integer("length", 1, CHUNK_MAX_BYTES, default=CHUNK_MAX_BYTES)
    fields.finish("task 'blob_get'")
    data, size = ctx.store.read(sha, offset, length)
    return {
        "sha256": sha,
        "offset": offset,
        "length": len(data),
        "size": size,
        "eof": offset + len(data) >= size,
        "data": base64.b64encode(data).decode("ascii"),
    }


BLOB_TASKS = {
    "blob_has": blob_has_task,
    "blob_put": blob_put_task,
    "blob_commit": blob_commit_task,
    "blob_get": blob_get_task,
}
# Imported on use, so blob transfers never depend on the heavier task modules.
OTHER_TASKS = {
    "info": ("info", "info_task"),
    "train": ("training", "train_task"),
    "convert": ("convert", "convert_task"),
    "separate": ("separate", "separate_task"),
    "audition": ("audition", "audition_task"),
}


def task_function(name):
    if name in BLOB_TASKS:
        return BLOB_TASKS[name]
    module_name, function = OTHER_TASKS[name]
    module = importlib.import_module(f"{__package__}.{module_name}")
    return getattr(module, function)


TASK_NAMES = ("info", "blob_has", "blob_put", "blob_commit", "blob_get", "train", "convert", "separate", "audition")


def handle_job(job, ctx):
    """Run one job. Always returns a dict; failures are {"error": "<string>"}
    (RunPod marks those FAILED; a raised exception would arrive as a JSON-in-a-string)."""
    try:
        if not isinstance(job, dict):
            raise ValidationError(f"job must be a JSON object, got {describe(job)}")
        fields = Fields(job.get("input"), "input")
        task = fields.enum("task", TASK_NAMES, required=True)
        handler = task_function(task)
        return handler(ctx, fields)
    except JobError as exc:
        ctx.reporter.log(f"job {ctx.job_id} failed: {exc}")
        return {"error": str(exc)}
    except Exception as exc:  # a bug or an unexpected environment problem
        ctx.reporter.log(traceback.format_exc())
        return {"error": f"internal error in the voicestudio worker ({type(exc).__name__}: {exc}); "
                         "see the worker log for the traceback"}
    finally:
        ctx.cleanup()
