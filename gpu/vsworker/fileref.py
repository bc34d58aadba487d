"""File references in job inputs and outputs.

Input:  {"blob": "<sha256>"}  a committed blob on the volume, or
        {"data": "<base64>"}  the bytes inline (small files only).
Output: {"sha256", "size", "blob": "<sha256>"} or {"sha256", "size", "data": "<base64>"}.
"""

import base64
import hashlib
import os

from .errors import ValidationError
from .validation import Fields

MIB = 1024 * 1024
INLINE_MAX_BYTES = 4 * MIB  # one inline file, raw (≈5.6 MB as base64)
INLINE_TOTAL_MAX_BYTES = 6 * MIB  # all inline files of one job: keeps /run bodies < 10 MB


class FileRef:
    def __init__(self, field, sha256=None, data=None):
        self.field = field
        self.sha256 = sha256
        self.data = data

    @property
    def is_inline(self):
        return self.data is not None

    def digest(self):
        return self.sha256 if self.sha256 else hashlib.sha256(self.data).hexdigest()

    def size(self, store=None):
        if self.data is not None:
            return len(self.data)
        return store.size_of(self.sha256) if store else None

    def local_path(self, ctx, scratch_dir, filename):
        """Path to read the bytes from: the blob itself, or the inline data written
        to scratch_dir/filename. The volume is only needed for blobs."""
        if self.sha256:
            return ctx.store.require(self.sha256, self.field)
        path = os.path.join(scratch_dir, filename)
        with open(path, "wb") as fh:
            fh.write(self.data)
        return path


class InlineBudget:
    """Total inline bytes of one job, so the request stays under RunPod's 10 MB."""

    def __init__(self, limit=INLINE_TOTAL_MAX_BYTES):
        self.limit = limit
        self.used = 0

    def add(self, field, size):
        self.used += size
        if self.used > self.limit:
            raise ValidationError(
                f"{field}: inline files of one job may total at most {self.limit} bytes; "
                "upload the larger files as blobs"
            )


def parse_file_ref(parent, key, required=False, inline=True, budget=None):
    fields = parent.obj(key, required=required)
    if fields is None:
        return None
    return _file_ref(fields, inline, budget)


def parse_file_ref_list(parent, key, max_items, inline=True, budget=None):
    """A required, non-empty list of file references; items are named like input.guides[0]."""
    items = parent.array(key, max_items, required=True)
    if not items:
        raise ValidationError(f"{parent.name(key)} is empty; send at least one file")
    return [_file_ref(Fields(item, f"{parent.name(key)}[{i}]"), inline, budget) for i, item in enumerate(items)]


def _file_ref(fields, inline, budget):
    name = fields.path
    sha = fields.sha256("blob")
    data = fields.base64_bytes("data", INLINE_MAX_BYTES) if inline else None
    fields.finish("a file reference ({\"blob\": sha256}" + (" or {\"data\": base64})" if inline else ")"))
    if (sha is None) == (data is None):
        raise ValidationError(
            f"{name} must have exactly one of 'blob' (sha256 of an uploaded blob)"
            + (" or 'data' (base64 bytes)" if inline else "")
        )
    if data is not None:
        if not data:
            raise ValidationError(f"{name}.data is empty")
        if budget is not None:
            budget.add(name, len(data))
    return FileRef(name, sha256=sha, data=data)


def output_file(path, ctx, mode, inline_max=INLINE_MAX_BYTES):
    """Describe a produced file: inline when mode allows and it is small, else a blob
    (which needs the volume). mode: "auto" | "inline" | "blob"."""
    size = os.path.getsize(path)
    if mode == "inline" or (mode == "auto" and size <= inline_max):
        if size > inline_max:
            # Cannot honour "inline" without risking RunPod dropping the output.
            mode = "blob"
        else:
            with open(path, "rb") as fh:
                data = fh.read()
            return {
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": size,
                "data": base64.b64encode(data).decode("ascii"),
            }
    sha, size = ctx.store.ingest_file(path)
    return {"sha256": sha, "size": size, "blob": sha}
