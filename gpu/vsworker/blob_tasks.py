"""The blob tasks: blob_has, blob_put, blob_commit and blob_get move files to and from the
volume's content-addressed store (blobstore.py) in chunks, as gpu/README.md's blob protocol
describes."""

import base64
import hashlib

from .blobstore import BLOB_MAX_BYTES, CHUNK_MAX_BYTES
from .errors import JobError, ValidationError
from .validation import describe

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
