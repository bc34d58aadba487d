"""Safe unpacking of dataset archives."""

import io
import os
import shutil
import tarfile
import tempfile
import unittest
import zipfile

from tests.support import tar_bytes, zip_bytes
from vsworker.archive import ArchiveLimits, detect_format, unpack
from vsworker.errors import JobError


class ArchiveTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vs-archive-")
        self.out = os.path.join(self.tmp, "out")
        os.makedirs(self.out)
        self.count = 0

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def archive(self, data, name="a.bin"):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as fh:
            fh.write(data)
        return path

    def dest(self, parts):
        self.count += 1
        return os.path.join(self.out, f"{self.count}-{parts[-1]}")

    def unpack(self, data, limits=None):
        return unpack(self.archive(data), self.dest, limits=limits)

    def assert_rejected(self, data, expected, limits=None):
        with self.assertRaises(JobError) as caught:
            self.unpack(data, limits)
        self.assertIn(expected, str(caught.exception))
        return caught.exception

    def test_formats_are_detected_by_magic_bytes(self):
        files = {"a.wav": b"RIFF", "sub/b.flac": b"fLaC"}
        self.assertEqual(detect_format(self.archive(tar_bytes(files))), "tar.gz")
        self.assertEqual(detect_format(self.archive(tar_bytes(files, compress=False))), "tar")
        self.assertEqual(detect_format(self.archive(zip_bytes(files))), "zip")
        self.assertIsNone(detect_format(self.archive(b"just some text")))
        for data in (tar_bytes(files), tar_bytes(files, compress=False), zip_bytes(files)):
            self.count = 0
            shutil.rmtree(self.out)
            os.makedirs(self.out)
            written, skipped = self.unpack(data)
            self.assertEqual(sorted(os.path.basename(p) for p in written), ["1-a.wav", "2-b.flac"])
            self.assertEqual(skipped, [])

    def test_not_an_archive(self):
        self.assert_rejected(b"\x00" * 1000, "not a tar, tar.gz, tar.bz2, tar.xz or zip archive")

    def test_truncated_archive(self):
        data = tar_bytes({"a.wav": b"x" * 5000})
        self.assert_rejected(data[: len(data) // 2], "cannot read the tar.gz archive")

    def test_path_traversal_in_tar(self):
        self.assert_rejected(tar_bytes({"../evil.wav": b"x"}), "contains '..'")
        self.assert_rejected(tar_bytes({"ok/../../evil.wav": b"x"}), "contains '..'")
        self.assert_rejected(tar_bytes({"/etc/evil.wav": b"x"}), "absolute path")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "evil.wav")))

    def test_path_traversal_in_zip(self):
        self.assert_rejected(zip_bytes({"../evil.wav": b"x"}), "contains '..'")
        self.assert_rejected(zip_bytes({"a\\..\\..\\evil.wav": b"x"}), "contains '..'")
        self.assert_rejected(zip_bytes({"C:/evil.wav": b"x"}), "absolute path")

    def test_links_and_devices_in_tar(self):
        def symlink(tar):
            info = tarfile.TarInfo("link.wav")
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)

        def hardlink(tar):
            info = tarfile.TarInfo("hard.wav")
            info.type = tarfile.LNKTYPE
            info.linkname = "a.wav"
            tar.addfile(info)

        def device(tar):
            info = tarfile.TarInfo("dev.wav")
            info.type = tarfile.CHRTYPE
            tar.addfile(info)

        self.assert_rejected(tar_bytes({"a.wav": b"x"}, extra=symlink), "is a link")
        self.assert_rejected(tar_bytes({"a.wav": b"x"}, extra=hardlink), "is a link")
        self.assert_rejected(tar_bytes({"a.wav": b"x"}, extra=device), "is a special file")

    def test_symlink_in_zip(self):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            info = zipfile.ZipInfo("link.wav")
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, "/etc/passwd")
        self.assert_rejected(buf.getvalue(), "is a link")

    def test_member_count_is_bounded(self):
        files = {f"{i}.wav": b"x" for i in range(6)}
        self.assert_rejected(tar_bytes(files), "more than 5 entries", ArchiveLimits(max_members=5))
        self.assert_rejected(zip_bytes(files), "more than 5 entries", ArchiveLimits(max_members=5))

    def test_sizes_are_bounded_on_real_bytes(self):
        limits = ArchiveLimits(max_member_bytes=1000, max_total_bytes=2500)
        self.assert_rejected(tar_bytes({"big.wav": b"x" * 1001}), "the limit per file is 1000", limits)
        files = {f"{i}.wav": b"x" * 900 for i in range(3)}
        self.assert_rejected(tar_bytes(files), "more than 2500 bytes in total", limits)
        # A zip bomb: tiny compressed, large when unpacked.
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("bomb.wav", b"\x00" * 100000)
        self.assertLess(len(buf.getvalue()), 1000)
        self.assert_rejected(buf.getvalue(), "bomb.wav", limits)

    def test_lying_zip_header_is_caught_while_copying(self):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            archive.writestr("a.wav", b"y" * 3000)
        data = bytearray(buf.getvalue())
        # patch the central directory's uncompressed size (3000 -> 10)
        index = data.rfind(b"PK\x01\x02")
        data[index + 24:index + 28] = (10).to_bytes(4, "little")
        with self.assertRaises(JobError):
            self.unpack(bytes(data), ArchiveLimits(max_member_bytes=1000))

    def test_clutter_is_ignored_and_unknown_files_reported(self):
        files = {
            "__MACOSX/._a.wav": b"junk",
            ".DS_Store": b"junk",
            "clips/.hidden.wav": b"junk",
            "clips/a.wav": b"RIFF",
            "notes.txt": b"hello",
        }

        def chooser(parts):
            return None if parts[-1].endswith(".txt") else os.path.join(self.out, parts[-1])

        written, skipped = unpack(self.archive(tar_bytes(files)), chooser)
        self.assertEqual([os.path.basename(p) for p in written], ["a.wav"])
        self.assertEqual(skipped, ["notes.txt"])


if __name__ == "__main__":
    unittest.main()
