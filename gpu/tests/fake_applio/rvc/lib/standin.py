"""Helpers shared by the Applio stand-in scripts (stdlib only).

Real Applio uses soundfile/numpy/torch; the stand-in reads and writes the same
kinds of files (WAV, .npy, torch-style zip checkpoints) with the standard
library so that the worker under test sees the files it would see with Applio.
"""

import array
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import zipfile

# ---------------------------------------------------------------- faults ----


def faults():
    raw = os.environ.get("FAKE_APPLIO_FAULT", "")
    found = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        name, _, value = item.partition(":")
        found[name] = value
    return found


def fault_epoch(name):
    value = faults().get(name)
    return int(value) if value else None


# ----------------------------------------------------------------- audio ----
LIBSNDFILE_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg")


def read_wav(path):
    """Return (mono int16 samples as array('h'), sample_rate) for PCM16/24/32 or float32 WAV."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RuntimeError(f"Error opening {path!r}: Format not recognised.")
    pos, fmt, body = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        chunk = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = list(struct.unpack("<HHIIHH", chunk[:16]))
            if fmt[0] == 0xFFFE and len(chunk) >= 26:  # WAVE_FORMAT_EXTENSIBLE: real tag in the GUID
                fmt[0] = struct.unpack("<H", chunk[24:26])[0]
        elif cid == b"data":
            body = chunk
        pos += 8 + size + (size % 2)
    if fmt is None or body is None:
        raise RuntimeError(f"Error opening {path!r}: no fmt/data chunk")
    tag, channels, rate, _, _, bits = fmt
    if tag == 1 and bits == 16:
        samples = array.array("h")
        samples.frombytes(body[: len(body) // 2 * 2])
    elif tag == 3 and bits == 32:
        floats = array.array("f")
        floats.frombytes(body[: len(body) // 4 * 4])
        samples = array.array("h", (max(-32768, min(32767, int(v * 32767))) for v in floats))
    elif tag == 1 and bits in (24, 32):
        width = bits // 8
        samples = array.array("h", (int.from_bytes(body[i + width - 2:i + width], "little", signed=True)
                                    for i in range(0, len(body) - width + 1, width)))
    else:
        raise RuntimeError(f"Error opening {path!r}: unsupported WAV encoding {tag}/{bits}")
    if channels > 1:
        samples = samples[::channels]  # keep the first channel: enough for a stand-in
    return samples, rate


def wav_rate(path):
    """The sample rate in a WAV's fmt chunk (what soundfile reports, without decoding)."""
    with open(path, "rb") as fh:
        data = fh.read(4096)
    pos = data.find(b"fmt ")
    if data[:4] != b"RIFF" or pos < 0:
        raise RuntimeError(f"Error opening {path!r}: Format not recognised.")
    return struct.unpack("<I", data[pos + 12:pos + 16])[0]


def decode_with_ffmpeg(path):
    """libsndfile reads FLAC/OGG/MP3 natively; the stand-in borrows FFmpeg for that."""
    ffmpeg = os.environ.get("FFMPEG_PATH") or shutil.which("ffmpeg")
    if not ffmpeg:
        raise RuntimeError(f"Error opening {path!r}: cannot decode without ffmpeg")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "decoded.wav")
        proc = subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", path,
                               "-c:a", "pcm_s16le", out], capture_output=True)
        if proc.returncode != 0:
            raise RuntimeError(f"Error opening {path!r}: Format not recognised.")
        return read_wav(out)


def load_audio(path):
    """What Applio's load_audio (soundfile) accepts: wav/mp3/flac/ogg only."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in LIBSNDFILE_EXTENSIONS:
        raise RuntimeError(f"An error occurred loading the audio: Error opening {path!r}: Format not recognised.")
    if ext == ".wav":
        return read_wav(path)
    return decode_with_ffmpeg(path)


def resample(samples, src_rate, dst_rate):
    """Nearest-sample resampling (the stand-in only needs the right length and rate).
    Keeps the array's type (int16 "h" or float32 "f")."""
    code = samples.typecode if isinstance(samples, array.array) else "h"
    if src_rate == dst_rate or not samples:
        return array.array(code, samples)
    if src_rate % dst_rate == 0:
        return samples[:: src_rate // dst_rate]
    if dst_rate % src_rate == 0:  # integer upsampling: repeat each sample (C-speed slice writes)
        factor = dst_rate // src_rate
        out = array.array(code, bytes(array.array(code).itemsize * len(samples) * factor))
        for offset in range(factor):
            out[offset::factor] = samples
        return out
    count = len(samples) * dst_rate // src_rate
    ratio = src_rate / dst_rate
    return array.array(code, (samples[int(i * ratio)] for i in range(count)))



def apply_voice(path, timbre, cents):
    """Rewrite the WAV at path in another voice (FFmpeg): an EQ that grows with timbre (0..1) stands for the
    target singer's timbre; the pitch moves by cents at the same duration (asetrate, back to the rate, atempo)."""
    ffmpeg = os.environ.get("FFMPEG_PATH") or shutil.which("ffmpeg")
    rate = wav_rate(path)
    ratio = 2.0 ** (cents / 1200.0)
    chain = (f"equalizer=f=500:t=q:w=1:g={-20 * timbre!r},equalizer=f=2500:t=q:w=1:g={15 * timbre!r},"
             f"asetrate={rate}*{ratio!r},aresample={rate},atempo={1.0 / ratio!r}")
    out = path + ".voice.wav"
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", path, "-af", chain,
                    "-c:a", "pcm_s16le", out], check=True)
    os.replace(out, path)

_FLOAT32_TABLE = []


def float32_samples(samples):
    """int16 samples as float32 in [-1, 1) (a lookup table keeps this fast in pure Python)."""
    if not _FLOAT32_TABLE:
        _FLOAT32_TABLE.extend(struct.pack("<f", (p if p < 32768 else p - 65536) / 32768.0)
                              for p in range(65536))  # negative samples index from the end
    out = array.array("f")
    out.frombytes(b"".join(map(_FLOAT32_TABLE.__getitem__, samples)))
    return out


def scale(samples, factor):
    if factor == 1.0:
        return array.array("h", samples)
    return array.array("h", (max(-32768, min(32767, int(v * factor))) for v in samples))


def write_wav(path, samples, rate):
    """16-bit PCM mono WAV."""
    body = array.array("h", samples).tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    header += b"data" + struct.pack("<I", len(body))
    with open(path, "wb") as fh:
        fh.write(header + body)


def write_wav_float32(path, samples, rate):
    """Mono float32 WAV laid out like scipy.io.wavfile.write(..., audio.astype(np.float32)),
    which Applio's preprocess uses for every slice: an 18-byte fmt chunk (IEEE
    float, cbSize 0) and a fact chunk, so the header is 58 bytes and each second
    takes 4 * rate bytes. Applio's training loader measures slices by file size."""
    if not (isinstance(samples, array.array) and samples.typecode == "f"):
        samples = float32_samples(samples)
    body = samples.tobytes()
    fmt = struct.pack("<HHIIHHH", 3, 1, rate, rate * 4, 4, 32, 0)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"fact" + struct.pack("<II", 4, len(samples))
    chunks += b"data" + struct.pack("<I", len(body)) + body
    with open(path, "wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)


# ------------------------------------------------------------------- npy ----
def write_npy(path, shape, typecode="f", fill=0.0):
    """Write a .npy file (format 1.0) like numpy.save."""
    descr = {"f": "<f4", "q": "<i8"}[typecode]
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, repr(tuple(shape)))
    total = len(header) + 11
    header += " " * ((64 - total % 64) % 64) + "\n"
    count = 1
    for dim in shape:
        count *= dim
    body = array.array(typecode, [fill]).tobytes() * count
    with open(path, "wb") as fh:
        fh.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + body)


def read_npy_rows(path):
    with open(path, "rb") as fh:
        data = fh.read(4096)  # the header is enough for the shape
    if data[:6] != b"\x93NUMPY":
        raise ValueError(f"{path} is not a .npy file")
    header_len = struct.unpack("<H", data[8:10])[0]
    header = eval(data[10:10 + header_len].decode("latin1"))  # numpy's own header syntax
    return header["shape"][0] if header["shape"] else 0


# ----------------------------------------------------------- checkpoints ----
def save_pth(path, obj):
    """torch.save layout: a zip with <stem>/data.pkl (plain pickle here)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(obj, protocol=2))
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")


def load_pth(path):
    """torch.load: raises on missing, truncated or non-zip files."""
    with zipfile.ZipFile(path) as archive:
        name = [n for n in archive.namelist() if n.endswith("data.pkl")][0]
        return pickle.loads(archive.read(name))


def latest_checkpoint_path(dir_path, pattern):
    """Applio sorts by *all* digits in the path, not just the step."""
    import glob

    checkpoints = sorted(
        glob.glob(os.path.join(dir_path, pattern)),
        key=lambda f: int("".join(filter(str.isdigit, f))),
    )
    return checkpoints[-1] if checkpoints else None


# ------------------------------------------------------ training loader ----
# rvc/train/train.py builds DistributedBucketSampler(dataset, batch_size, BUCKETS);
# rvc/train/data_utils.py measures each row's audio as getsize(wav) // (3 * hop_length).
BUCKETS = [50, 100, 200, 300, 400, 500, 600, 700, 800, 900]


def loader_length(wav_path, hop_length):
    return os.path.getsize(wav_path) // (3 * hop_length)


def bucket_of(length):
    """DistributedBucketSampler._bisect: the bucket with boundaries[i] < length <= boundaries[i+1],
    or -1 (the row is silently left out of training)."""
    for i in range(len(BUCKETS) - 1):
        if BUCKETS[i] < length <= BUCKETS[i + 1]:
            return i
    return -1


def loader_batches(lengths, batch_size):
    """len(train_loader): every non-empty bucket is padded up to a multiple of batch_size."""
    counts = {}
    for length in lengths:
        index = bucket_of(length)
        if index != -1:
            counts[index] = counts.get(index, 0) + 1
    return sum(-(-n // batch_size) for n in counts.values())


def read_json(path, default=None):
    try:
        with open(path, "r", encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, ValueError):
        return default


def write_json(path, data):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=4)


def say(*parts):
    print(*parts, flush=True)


class ProgressBar:
    """tqdm's default bar, as Applio's preprocess and extract show it: written to stderr as
    "\\r<bar>" with no newline, so a line printed while the bar is open (a per-file error)
    continues the bar's line; closing it (leave=True) ends that line."""

    WIDTH = 10
    PARTIAL = " ▏▎▍▌▋▊▉"

    def __init__(self, total):
        self.total = total
        self.n = 0
        self._draw()

    def _draw(self):
        fraction = self.n / self.total if self.total else 1.0
        eighths = int(fraction * self.WIDTH * 8)
        full, rest = divmod(eighths, 8)
        bar = ("█" * full + (self.PARTIAL[rest] if full < self.WIDTH else "")).ljust(self.WIDTH)
        timing = "[00:00<?, ?it/s]" if self.n == 0 else "[00:00<00:00, 99.99it/s]"
        sys.stderr.write(f"\r{fraction * 100:3.0f}%|{bar}| {self.n}/{self.total} {timing}")
        sys.stderr.flush()

    def update(self, n=1):
        self.n += n
        self._draw()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        sys.stderr.write("\n")
        sys.stderr.flush()


def hang(config_path):
    """The training worker stops making progress and waits forever, with a child process of its own (as
    its DataLoader workers are): a job for cancelling. Both pids go into config.json's process_pids,
    where Applio records its training processes."""
    child = subprocess.Popen([sys.executable, "-c", "import threading; threading.Event().wait()"])
    config = read_json(config_path, {})
    config["process_pids"] = [os.getpid(), child.pid]
    write_json(config_path, config)
    threading.Event().wait()


def fail_exit():
    """A failure inside Applio's worker: the parent script still exits 0."""
    sys.stdout.flush()
    os._exit(0)
