"""FFmpeg conversions and a small WAV header reader (stdlib only)."""

import os
import struct
import subprocess

from .errors import JobError

# Applio (libsndfile) reads only these; everything else goes through FFmpeg first.
APPLIO_AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg")
# Audio/video containers FFmpeg turns into WAV for Applio.
CONVERTIBLE_EXTENSIONS = (
    ".m4a", ".aac", ".opus", ".webm", ".weba", ".mp4", ".m4v", ".mkv", ".mka", ".mov",
    ".wma", ".aif", ".aiff", ".aifc", ".caf", ".ac3", ".amr", ".3gp", ".wv", ".ape",
)
# What training (and the screen) take from a dataset archive.
DATASET_AUDIO_EXTENSIONS = APPLIO_AUDIO_EXTENSIONS + CONVERTIBLE_EXTENSIONS
FFMPEG_TIMEOUT_SECONDS = 900

# Output encodings for convert results: codec args and the sample rates the codec
# accepts (Applio models render at 32/40/48 kHz; MP3 and AAC have no 40 kHz).
OUTPUT_FORMATS = {
    "wav": {"ext": "wav", "args": ["-c:a", "pcm_s16le"], "rates": None},
    "flac": {"ext": "flac", "args": ["-c:a", "flac"], "rates": None},
    "mp3": {"ext": "mp3", "args": ["-c:a", "libmp3lame", "-b:a", "320k"],
            "rates": (32000, 44100, 48000)},
    "ogg": {"ext": "ogg", "args": ["-c:a", "libvorbis", "-q:a", "8"], "rates": None},
    "m4a": {"ext": "m4a", "args": ["-c:a", "aac", "-b:a", "256k"],
            "rates": (32000, 44100, 48000)},
}


def _run_ffmpeg(ffmpeg, args, what):
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"] + args
    try:
        proc = subprocess.run(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=FFMPEG_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise JobError(f"{what}: FFmpeg took longer than {FFMPEG_TIMEOUT_SECONDS} s") from None
    except OSError as exc:
        raise JobError(f"{what}: cannot run FFmpeg ({ffmpeg}): {exc}") from None
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        tail = " | ".join(detail[-3:]) or f"exit code {proc.returncode}"
        raise JobError(f"{what}: FFmpeg could not decode it: {tail}")


def to_wav(ffmpeg, src, dest, what, sample_format="pcm_f32le"):
    """Decode the first audio stream of any FFmpeg-readable file to WAV.
    Sample rate and channels are kept; Applio resamples and downmixes itself."""
    _run_ffmpeg(ffmpeg, ["-i", src, "-vn", "-map", "0:a:0", "-c:a", sample_format, dest], what)
    if not os.path.isfile(dest) or os.path.getsize(dest) <= 44:
        raise JobError(f"{what}: FFmpeg produced no audio (is there an audio stream?)")
    return dest


def encode(ffmpeg, src_wav, dest, fmt, source_rate):
    spec = OUTPUT_FORMATS[fmt]
    args = ["-i", src_wav, "-vn"] + list(spec["args"])
    rates = spec["rates"]
    rate = source_rate
    if rates and source_rate not in rates:
        # Nearest rate the codec supports (40 kHz models → 44.1 kHz MP3/AAC).
        rate = min(rates, key=lambda r: abs(r - source_rate))
        args += ["-ar", str(rate)]
    _run_ffmpeg(ffmpeg, args + [dest], f"encoding the output as {fmt}")
    return rate


class WavInfo:
    def __init__(self, sample_rate, channels, bits, frames):
        self.sample_rate = sample_rate
        self.channels = channels
        self.bits = bits
        self.frames = frames

    @property
    def seconds(self):
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def wav_info(path):
    """Read sample rate, channels and length from a RIFF/WAVE header (PCM or float)."""
    with open(path, "rb") as fh:
        header = fh.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            raise JobError(f"{os.path.basename(path)} is not a WAV file")
        fmt = None
        file_size = os.fstat(fh.fileno()).st_size
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                break
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                body = fh.read(size)
                _, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", body[:16])
                fmt = (rate, channels, bits, block_align)
                if size % 2:
                    fh.read(1)
            elif cid == b"data":
                if fmt is None:
                    break
                # Streams written without a known length carry 0 or 0xFFFFFFFF here.
                available = file_size - fh.tell()
                if size in (0, 0xFFFFFFFF) or size > available:
                    size = available
                rate, channels, bits, block_align = fmt
                frames = size // block_align if block_align else 0
                return WavInfo(rate, channels, bits, frames)
            else:
                fh.seek(size + (size % 2), os.SEEK_CUR)
    raise JobError(f"{os.path.basename(path)} has no fmt/data chunk")


def to_mono_f32(ffmpeg, src, dest, sample_rate, what):
    """Decode to raw mono float32 samples (no header) at sample_rate: what the scoring models read."""
    _run_ffmpeg(ffmpeg, ["-i", src, "-vn", "-map", "0:a:0", "-ac", "1", "-ar", str(sample_rate),
                         "-f", "f32le", "-c:a", "pcm_f32le", dest], what)
    if not os.path.isfile(dest) or os.path.getsize(dest) == 0:
        raise JobError(f"{what}: FFmpeg produced no audio (is there an audio stream?)")
    return dest
