"""What Applio's training scripts will make of a run's files, worked out beforehand without
running them: which slices the training loader keeps and how many batches they give, how many
feature rows the index has to cluster (read from .npy headers), which .npy files a dying worker
cut short, and how many CPU processes preprocess and extract may start."""

import ast
import os
import re


# Applio's training loader (rvc/train/data_utils.py, train.py) measures every row as
# os.path.getsize(wav) // (3 * hop_length) and silently leaves out rows outside the
# buckets (50, 900]; len(train_loader) is each bucket rounded up to whole batches, and
# train.py stops with "Not enough data" below 3. Preprocess writes float32 mono slices
# (scipy.io.wavfile: 58-byte header, 4 bytes per sample), so at every sample rate the
# kept slices are about 0.38 s to 6.75 s long.
HOP_LENGTHS = {32000: 320, 40000: 400, 48000: 480}  # rvc/configs/<sr>.json data.hop_length
LOADER_BUCKETS = (50, 100, 200, 300, 400, 500, 600, 700, 800, 900)
MIN_TRAIN_BATCHES = 3
# extract_index.py runs MiniBatchKMeans(n_clusters=10000) for "KMeans" (and for "Auto"
# above 200 000 rows); sklearn raises when there are fewer samples than clusters.
KMEANS_CLUSTERS = 10000
FEATURE_ROWS_PER_SECOND = 50  # 16 kHz audio, hop 320
FLOAT_WAV_HEADER = 58
MAX_SLICE_SECONDS = 6.75
MIN_SLICE_SECONDS = 0.38


def npy_header(path):
    """(header dict, data offset, file size) of a .npy file; raises ValueError."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
            if len(magic) < 8 or magic[:6] != b"\x93NUMPY":
                raise ValueError(f"{path} is not a .npy file")
            major = magic[6]
            length_bytes = fh.read(2 if major == 1 else 4)
            header_len = int.from_bytes(length_bytes, "little")
            header = ast.literal_eval(fh.read(header_len).decode("latin1"))
            offset = fh.tell()
            size = os.fstat(fh.fileno()).st_size
        if not isinstance(header, dict) or not isinstance(header.get("shape"), tuple):
            raise ValueError(f"{path}: unexpected .npy header")
        return header, offset, size
    except (OSError, SyntaxError, KeyError, TypeError, MemoryError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def npy_is_complete(path):
    """True when a .npy file's size matches its header (catches files truncated
    by a worker that died while numpy was writing them)."""
    try:
        header, offset, size = npy_header(path)
        itemsize = int(re.sub(r"\D", "", header["descr"]) or 0)
        count = 1
        for dim in header["shape"]:
            count *= int(dim)
        return size == offset + count * itemsize
    except (ValueError, KeyError, TypeError):
        return False


def npy_rows(path):
    """First dimension of a .npy file (0 for a scalar), from its header alone."""
    shape = npy_header(path)[0]["shape"]
    return int(shape[0]) if shape else 0



def loader_length(size, sample_rate):
    return size // (3 * HOP_LENGTHS[sample_rate])


def loader_bucket(length):
    """DistributedBucketSampler._bisect: index of the bucket holding length, or -1."""
    for i in range(len(LOADER_BUCKETS) - 1):
        if LOADER_BUCKETS[i] < length <= LOADER_BUCKETS[i + 1]:
            return i
    return -1


def loader_batches(lengths, batch_size):
    """len(train_loader) for rows of these lengths (one GPU)."""
    counts = {}
    for length in lengths:
        bucket = loader_bucket(length)
        if bucket != -1:
            counts[bucket] = counts.get(bucket, 0) + 1
    return sum(-(-n // batch_size) for n in counts.values())



MAX_CPU_PROCESSES = 8  # preprocess processes / extraction threads


def cgroup_cpu_quota(cgroup_root="/sys/fs/cgroup"):
    """CPUs allowed by the container's CFS quota (cgroup v2 cpu.max, or v1
    cpu.cfs_quota_us / cpu.cfs_period_us), rounded up; None when unlimited or unknown."""
    def read(*parts):
        try:
            with open(os.path.join(cgroup_root, *parts), "r", encoding="ascii") as fh:
                return fh.read().split()
        except (OSError, UnicodeDecodeError):
            return None

    quota = period = None
    fields = read("cpu.max")
    if fields and len(fields) == 2 and fields[0] != "max":
        quota, period = fields
    else:
        for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
            q, p = read(folder, "cpu.cfs_quota_us"), read(folder, "cpu.cfs_period_us")
            if q and p:
                quota, period = q[0], p[0]
                break
    try:
        quota, period = int(quota), int(period)
    except (TypeError, ValueError):
        return None
    if quota <= 0 or period <= 0:
        return None
    return max(1, -(-quota // period))


def cpu_limit(cgroup_root="/sys/fs/cgroup", affinity=None, cap=MAX_CPU_PROCESSES):
    """How many processes Applio's preprocess/extract should start. In a container
    sched_getaffinity and cpu_count report the host's cores, so the cgroup quota
    and a fixed cap bound it too."""
    if affinity is None:
        try:
            affinity = len(os.sched_getaffinity(0))
        except AttributeError:
            affinity = os.cpu_count() or 1
    count = max(1, affinity)
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        count = min(count, quota)
    return max(1, min(count, cap))
