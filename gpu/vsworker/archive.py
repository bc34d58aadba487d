"""Safe unpacking of dataset archives (POSIX tar, optionally gzip/bzip2/xz, and zip).

We never call extractall(): every member is checked (no absolute paths, no "..",
no links or device files, bounded count and sizes) and its bytes are copied to a
destination the caller chooses, so archive paths never decide where data lands.
Any unsafe member rejects the whole archive.
"""

import stat
import tarfile
import zipfile

from .errors import JobError

MIB = 1024 * 1024
MAX_MEMBERS = 10000
MAX_MEMBER_BYTES = 2 * 1024 * MIB
MAX_TOTAL_BYTES = 4 * 1024 * MIB
COPY_BUFFER = 1 * MIB


class ArchiveLimits:
    def __init__(self, max_members=MAX_MEMBERS, max_member_bytes=MAX_MEMBER_BYTES,
                 max_total_bytes=MAX_TOTAL_BYTES):
        self.max_members = max_members
        self.max_member_bytes = max_member_bytes
        self.max_total_bytes = max_total_bytes


def detect_format(path):
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head[:2] == b"\x1f\x8b":
        return "tar.gz"
    if head[:3] == b"BZh":
        return "tar.bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "tar.xz"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    return None


def safe_member_path(raw_name, label):
    """Normalise an archive member name to relative path parts, or raise."""
    if "\x00" in raw_name:
        raise JobError(f"{label}: member name contains a NUL byte")
    name = raw_name.replace("\\", "/")
    if name.startswith("/") or (len(name) >= 2 and name[1] == ":" and name[0].isalpha()):
        raise JobError(f"{label}: member {raw_name!r} has an absolute path; archives must use relative paths")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise JobError(f"{label}: member {raw_name!r} contains '..'; path traversal is not allowed")
    return parts


def member_name(parts):
    """The name a member is known by outside the archive (the screen's entries, train's exclude): its safe path
    parts joined by "/"."""
    return "/".join(parts)


def is_ignorable(parts):
    """macOS/Windows clutter: hidden files, AppleDouble files and __MACOSX folders."""
    return any(p.startswith(".") or p == "__MACOSX" for p in parts) or (
        bool(parts) and parts[-1].lower() in ("thumbs.db", "desktop.ini")
    )


class _Budget:
    def __init__(self, limits, label):
        self.limits = limits
        self.label = label
        self.members = 0
        self.total = 0

    def count_member(self):
        self.members += 1
        if self.members > self.limits.max_members:
            raise JobError(
                f"{self.label}: more than {self.limits.max_members} entries; split the dataset"
            )

    def check_declared(self, name, size):
        if size > self.limits.max_member_bytes:
            raise JobError(
                f"{self.label}: member {name!r} is {size} bytes; the limit per file is "
                f"{self.limits.max_member_bytes}"
            )

    def copy(self, src, dest_path, name):
        written = 0
        with open(dest_path, "wb") as out:
            while True:
                block = src.read(COPY_BUFFER)
                if not block:
                    break
                written += len(block)
                self.total += len(block)
                # Enforced on real bytes: headers of compressed members can lie.
                if written > self.limits.max_member_bytes:
                    raise JobError(
                        f"{self.label}: member {name!r} unpacks to more than "
                        f"{self.limits.max_member_bytes} bytes"
                    )
                if self.total > self.limits.max_total_bytes:
                    raise JobError(
                        f"{self.label}: unpacks to more than {self.limits.max_total_bytes} bytes in total"
                    )
                out.write(block)
        return written


def unpack(path, choose_destination, label="dataset archive", limits=None):
    """Unpack regular files. choose_destination(parts) returns an absolute path to
    write the member to, or None to skip it. Returns (written_paths, skipped_names)."""
    limits = limits or ArchiveLimits()
    kind = detect_format(path)
    if kind is None:
        raise JobError(
            f"{label}: not a tar, tar.gz, tar.bz2, tar.xz or zip archive (unrecognised first bytes)"
        )
    budget = _Budget(limits, label)
    if kind == "zip":
        return _unpack_zip(path, choose_destination, budget, label)
    return _unpack_tar(path, kind, choose_destination, budget, label)


def _unpack_tar(path, kind, choose_destination, budget, label):
    written, skipped = [], []
    mode = {"tar": "r|", "tar.gz": "r|gz", "tar.bz2": "r|bz2", "tar.xz": "r|xz"}[kind]
    try:
        # Streaming mode: one sequential pass, members checked as they arrive.
        with tarfile.open(path, mode) as tar:
            for member in tar:
                budget.count_member()
                parts = safe_member_path(member.name, label)
                if member.isdir():
                    continue
                if not member.isreg():
                    kind_name = "link" if (member.issym() or member.islnk()) else "special file"
                    raise JobError(
                        f"{label}: member {member.name!r} is a {kind_name}; only regular files and folders are allowed"
                    )
                if not parts:
                    continue
                budget.check_declared(member.name, member.size)
                if is_ignorable(parts):
                    continue
                dest = choose_destination(parts)
                if dest is None:
                    skipped.append("/".join(parts))
                    continue
                src = tar.extractfile(member)
                budget.copy(src, dest, member.name)
                written.append(dest)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise JobError(f"{label}: cannot read the {kind} archive: {exc}") from None
    return written, skipped


def _unpack_zip(path, choose_destination, budget, label):
    written, skipped = [], []
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                budget.count_member()
                parts = safe_member_path(info.filename, label)
                mode = info.external_attr >> 16
                if info.is_dir():
                    continue
                if stat.S_ISLNK(mode):
                    raise JobError(
                        f"{label}: member {info.filename!r} is a link; only regular files and folders are allowed"
                    )
                if mode and not stat.S_ISREG(mode) and stat.S_IFMT(mode):
                    raise JobError(
                        f"{label}: member {info.filename!r} is a special file; only regular files are allowed"
                    )
                if info.flag_bits & 0x1:
                    raise JobError(f"{label}: member {info.filename!r} is encrypted")
                if not parts:
                    continue
                budget.check_declared(info.filename, info.file_size)
                if is_ignorable(parts):
                    continue
                dest = choose_destination(parts)
                if dest is None:
                    skipped.append("/".join(parts))
                    continue
                with archive.open(info) as src:
                    budget.copy(src, dest, info.filename)
                written.append(dest)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError) as exc:
        raise JobError(f"{label}: cannot read the zip archive: {exc}") from None
    return written, skipped
