"""Content-addressed blob store on the network volume.

Layout under <volume>/voicestudio:
  blobs/<sha[:2]>/<sha>             committed blobs; a file here always matches its name
  uploads/<sha>-<size>/<offset>-<length>.chunk
                                     staged chunks of an upload in progress
  tmp/                               files being assembled or ingested (renamed into blobs/)

Why this shape: RunPod caps request bodies at 10 MB and drops outputs over ~20 MB,
so files move in chunks of at most 4 MiB. Jobs may run twice, in parallel and in
any order, so every write goes to a unique temporary name and is then renamed
(atomic on one filesystem): a repeated chunk simply replaces an identical file,
and nothing half-written is ever visible under its final name.

Commits and puts of one blob may race (RunPod runs a job twice, two clients upload
one dataset). Without locks, one ordering keeps that safe: a commit publishes the
blob before it removes the upload folder. So a commit whose chunks vanish under it,
or a put whose folder vanishes, finds the blob committed and reports "exists"; and a
put that lands after a commit removes the folder it recreated, which leaves no
orphan upload folder behind.
"""

import contextlib
import hashlib
import os
import re
import shutil
import time
import uuid

from .errors import JobError

MIB = 1024 * 1024
CHUNK_MAX_BYTES = 4 * MIB  # raw bytes per blob_put / blob_get (≈5.6 MB as base64)
BLOB_MAX_BYTES = 16 * 1024 * MIB
UPLOAD_TTL_SECONDS = 24 * 3600  # staged chunks untouched this long are deleted
TMP_TTL_SECONDS = 6 * 3600  # leftovers of crashed commits/ingests
COPY_BUFFER = 1 * MIB

CHUNK_NAME_RE = re.compile(r"(\d+)-(\d+)\.chunk")
UPLOAD_DIR_RE = re.compile(r"([0-9a-f]{64})-(\d+)")


def merge_ranges(ranges):
    """[(start, end)] -> sorted, merged, half-open ranges."""
    merged = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def missing_ranges(ranges, size):
    gaps, pos = [], 0
    for start, end in merge_ranges(ranges):
        if start > pos:
            gaps.append([pos, start])
        pos = max(pos, end)
    if pos < size:
        gaps.append([pos, size])
    return gaps


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(COPY_BUFFER)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def _fsync_write(path, data):
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


class BlobStore:
    def __init__(self, root):
        self.root = root
        self.blobs_dir = os.path.join(root, "blobs")
        self.uploads_dir = os.path.join(root, "uploads")
        self.tmp_dir = os.path.join(root, "tmp")

    # ---- paths -------------------------------------------------------------
    def blob_path(self, sha):
        return os.path.join(self.blobs_dir, sha[:2], sha)

    def _upload_dir(self, sha, size):
        return os.path.join(self.uploads_dir, f"{sha}-{size}")

    def _tmp_name(self, label):
        os.makedirs(self.tmp_dir, exist_ok=True)
        return os.path.join(self.tmp_dir, f"{label}-{uuid.uuid4().hex}.tmp")

    # ---- queries -----------------------------------------------------------
    def size_of(self, sha):
        try:
            return os.stat(self.blob_path(sha)).st_size
        except FileNotFoundError:
            return None

    def require(self, sha, field):
        """Path of a committed blob, or an error naming the field that referenced it."""
        if self.size_of(sha) is None:
            raise JobError(
                f"{field}: blob {sha} is not in the store; upload it with blob_put/blob_commit first"
            )
        return self.blob_path(sha)

    def staged_ranges(self, sha, size):
        """Merged byte ranges already staged for an upload (for resuming uploads)."""
        return merge_ranges(r for r, _ in self._chunks(sha, size))

    def _chunks(self, sha, size):
        directory = self._upload_dir(sha, size)
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        chunks = []
        for name in names:
            match = CHUNK_NAME_RE.fullmatch(name)
            if match:
                offset, length = int(match.group(1)), int(match.group(2))
                chunks.append(((offset, offset + length), os.path.join(directory, name)))
        return sorted(chunks)

    def uploads_in_progress(self, sha):
        """{size: ranges} for every staged upload of sha (clients may have used any size)."""
        found = {}
        try:
            names = os.listdir(self.uploads_dir)
        except FileNotFoundError:
            return found
        for name in names:
            match = UPLOAD_DIR_RE.fullmatch(name)
            if match and match.group(1) == sha:
                size = int(match.group(2))
                found[size] = self.staged_ranges(sha, size)
        return found

    def _committed(self, sha, size):
        """Whether the blob is committed (with this size; another size is an error)."""
        existing = self.size_of(sha)
        if existing is not None and existing != size:
            raise JobError(f"blob {sha} already exists with {existing} bytes, not {size}")
        return existing is not None

    def _discard_upload(self, sha, size):
        shutil.rmtree(self._upload_dir(sha, size), ignore_errors=True)

    # ---- uploads -----------------------------------------------------------
    def put_chunk(self, sha, size, offset, data):
        exists = {"sha256": sha, "offset": offset, "length": len(data), "status": "exists"}
        if self.size_of(sha) is not None:
            return exists
        directory = self._upload_dir(sha, size)
        final = os.path.join(directory, f"{offset}-{len(data)}.chunk")
        tmp = os.path.join(directory, f".{offset}-{len(data)}.{uuid.uuid4().hex}.tmp")
        try:
            os.makedirs(directory, exist_ok=True)
            _fsync_write(tmp, data)
            # Same offset and length twice (a retried job) replaces an identical chunk.
            os.replace(tmp, final)
        except FileNotFoundError:
            # The folder was removed while we wrote into it: by a commit that published the blob,
            # or by one that found the upload corrupt (then its client uploads again).
            if self.size_of(sha) is not None:
                return exists
            raise JobError(
                f"the upload of blob {sha} was discarded while this chunk was written (a commit "
                "found the staged chunks corrupt); upload the blob again"
            ) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if self.size_of(sha) is not None:
            # A commit published the blob while we wrote: this chunk is not needed, and the
            # folder it recreated would be an orphan.
            self._discard_upload(sha, size)
            return exists
        staged = self.staged_ranges(sha, size)
        received = sum(end - start for start, end in staged)
        return {
            "sha256": sha,
            "offset": offset,
            "length": len(data),
            "status": "stored",
            "received": received,
            "complete": received == size,
        }

    def commit(self, sha, size):
        exists = {"sha256": sha, "size": size, "status": "exists"}
        if self._committed(sha, size):
            self._discard_upload(sha, size)
            return exists

        chunks = self._chunks(sha, size)
        gaps = missing_ranges([r for r, _ in chunks], size)
        if gaps:
            if self._committed(sha, size):
                return exists  # a commit running alongside published it and removed the chunks
            shown = ", ".join(f"[{a}, {b})" for a, b in gaps[:20])
            more = f" and {len(gaps) - 20} more" if len(gaps) > 20 else ""
            raise JobError(
                f"blob {sha} is incomplete: missing byte ranges {shown}{more}; "
                "upload them with blob_put and commit again"
            )
        self._require_space(size)

        tmp = self._tmp_name(f"commit-{sha[:16]}")
        try:
            try:
                actual = _assemble(sha, chunks, tmp)
            except FileNotFoundError:
                if self._committed(sha, size):
                    return exists  # a commit running alongside published it and removed the chunks
                raise JobError(
                    f"the staged chunks of blob {sha} were discarded while this commit read them (a "
                    "commit running alongside found them corrupt); upload the blob again"
                ) from None
            if actual != sha:
                # Some chunk was corrupted; we cannot tell which, so start over.
                self._discard_upload(sha, size)
                raise JobError(
                    f"blob {sha}: the uploaded chunks hash to {actual}, not to the expected "
                    "sha256; the staged chunks were discarded, upload the blob again"
                )
            self._publish(tmp, sha)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        # Only after publishing: see the module's docstring.
        self._discard_upload(sha, size)
        return {"sha256": sha, "size": size, "status": "committed"}

    def _publish(self, tmp, sha):
        target = self.blob_path(sha)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(tmp, target)

    def _require_space(self, size):
        os.makedirs(self.tmp_dir, exist_ok=True)
        stat = os.statvfs(self.tmp_dir)
        free = stat.f_bavail * stat.f_frsize
        if free < size:
            raise JobError(
                f"not enough free space on the volume: {size} bytes needed, {free} free"
            )

    # ---- downloads ---------------------------------------------------------
    def read(self, sha, offset, length):
        path = self.blob_path(sha)
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if offset > size:
                    raise JobError(
                        f"input.offset {offset} is beyond the end of blob {sha} ({size} bytes)"
                    )
                fh.seek(offset)
                data = fh.read(length)
        except FileNotFoundError:
            raise JobError(f"blob {sha} is not in the store") from None
        return data, size

    # ---- adding files produced by the worker ------------------------------
    def ingest_file(self, path):
        """Copy a local file into the store (hashing while copying); returns (sha, size)."""
        size = os.path.getsize(path)
        self._require_space(size)
        tmp = self._tmp_name("ingest")
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as src, open(tmp, "wb") as out:
                while True:
                    block = src.read(COPY_BUFFER)
                    if not block:
                        break
                    digest.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            if self.size_of(sha) is None:
                self._publish(tmp, sha)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return sha, size

    def ingest_bytes(self, data):
        sha = hashlib.sha256(data).hexdigest()
        if self.size_of(sha) is None:
            tmp = self._tmp_name("ingest")
            try:
                _fsync_write(tmp, data)
                self._publish(tmp, sha)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        return sha, len(data)

    # ---- housekeeping ------------------------------------------------------
    def sweep(self, now=None):
        """Delete uploads nobody touched for UPLOAD_TTL_SECONDS and stale tmp files.
        Returns the number of uploads and tmp files removed."""
        now = time.time() if now is None else now
        removed = 0
        try:
            names = os.listdir(self.uploads_dir)
        except FileNotFoundError:
            names = []
        for name in names:
            directory = os.path.join(self.uploads_dir, name)
            if not os.path.isdir(directory):
                continue
            newest = _newest_mtime(directory)
            if now - newest > UPLOAD_TTL_SECONDS:
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
        try:
            names = os.listdir(self.tmp_dir)
        except FileNotFoundError:
            names = []
        for name in names:
            path = os.path.join(self.tmp_dir, name)
            try:
                if now - os.stat(path).st_mtime > TMP_TTL_SECONDS:
                    os.unlink(path)
                    removed += 1
            except (FileNotFoundError, IsADirectoryError, PermissionError):
                continue
        return removed


def _assemble(sha, chunks, target):
    """Write the staged chunks, in order, to target; returns their sha256."""
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        pos = 0
        # Chunks may overlap (a client retrying with another chunk size):
        # copy from each chunk only the bytes beyond what is already written.
        for (start, end), path in chunks:
            if end <= pos:
                continue
            with open(path, "rb") as fh:
                fh.seek(pos - start)
                remaining = end - pos
                while remaining > 0:
                    block = fh.read(min(COPY_BUFFER, remaining))
                    if not block:
                        raise JobError(
                            f"staged chunk {os.path.basename(path)} of blob {sha} is "
                            "shorter than its name says; upload the blob again"
                        )
                    digest.update(block)
                    out.write(block)
                    remaining -= len(block)
            pos = end
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _newest_mtime(directory):
    newest = os.stat(directory).st_mtime
    for name in os.listdir(directory):
        try:
            newest = max(newest, os.stat(os.path.join(directory, name)).st_mtime)
        except FileNotFoundError:
            continue
    return newest
