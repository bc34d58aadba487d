"""The `train` task: dataset archive → Applio preprocess → extract → train → index.

A run lives on the volume in <volume>/voicestudio/runs/<run_id>/ and is linked
into Applio as APPLIO_DIR/logs/<run_id> (train.py only looks under cwd/logs).
state.json (written atomically) records, per stage, a fingerprint of everything
the stage's output depends on. A retried or re-submitted job skips stages whose
fingerprint still matches, resumes extraction and training where they stopped
(Applio skips extracted files and resumes from the newest G_/D_ checkpoint), and
wipes a stage's output, and everything derived from it, when its inputs changed:
a new dataset therefore also deletes the stale index, which Applio would
otherwise keep because it skips an existing <model>.index.
"""

import ast
import glob
import hashlib
import json
import os
import re
import shutil
import time
import uuid

from . import applio
from .archive import unpack
from .converter import stop_warm_converter
from .audio import APPLIO_AUDIO_EXTENSIONS, CONVERTIBLE_EXTENSIONS, to_wav
from .errors import ConfigError, JobError, ValidationError
from .fileref import InlineBudget, parse_file_ref
from .info import SHM_RECOMMENDED_BYTES, extraction_gpus, require_cuda, shm_info
from .lease import RunBusy, RunLease
from .pthmeta import PthError, checkpoint_epoch, rvc_model_info

TASK = "train"
SAMPLE_RATES = (32000, 40000, 48000)
F0_METHODS = ("rmvpe", "crepe", "crepe-tiny", "fcpe")
EMBEDDERS = (
    "contentvec", "spin", "spin-v2",
    "chinese-hubert-base", "japanese-hubert-base", "korean-hubert-base",
)
VOCODERS = ("HiFi-GAN", "MRF HiFi-GAN", "RefineGAN")
INDEX_ALGORITHMS = ("Auto", "Faiss", "KMeans")
CUT_MODES = ("Skip", "Simple", "Automatic")
NORMALIZATION_MODES = ("none", "pre", "post")
CHUNK_LENS = tuple(x / 2 for x in range(1, 11))  # 0.5 .. 5.0 (Applio's choices)
OVERLAP_LENS = (0.0, 0.1, 0.2, 0.3, 0.4)
STAGES = ("unpack", "preprocess", "extract", "train", "index")
DEPENDENTS = {
    "unpack": ("preprocess",),
    "preprocess": ("extract",),
    "extract": ("train", "index"),
    "train": (),
    "index": (),
}
STATE_VERSION = 1
KEEP_CHECKPOINT_PAIRS = 2  # the newest pair may be half-written when a worker dies

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

FINAL_MODEL_RE = r"{name}_(\d+)e_(\d+)s\.pth"
CHECKPOINT_RE = re.compile(r"([GD])_(\d+)\.pth")
# A file the worker cannot parse may still be good (a format it does not know): it is renamed
# to <name>.unreadable-<n>, which neither Applio's nor the worker's *.pth globs match, never deleted.
UNREADABLE_SUFFIX = ".unreadable-"


# ---------------------------------------------------------------- request ----
class TrainRequest:
    pass


def parse_request(fields):
    req = TrainRequest()
    req.run_id = fields.run_id("run_id")
    budget = InlineBudget()
    req.dataset = parse_file_ref(fields, "dataset", required=True, budget=budget)
    req.sample_rate = fields.integer("sample_rate", 0, 0, default=40000, choices=SAMPLE_RATES)
    req.epochs = fields.integer("epochs", 1, 10000, default=300)
    req.batch_size = fields.integer("batch_size", 1, 50, default=8)
    req.save_every = fields.integer("save_every", 1, 100, default=50)
    req.f0_method = fields.enum("f0_method", F0_METHODS, default="rmvpe")
    req.embedder = fields.enum("embedder", EMBEDDERS, default="contentvec")
    req.vocoder = fields.enum("vocoder", VOCODERS, default="HiFi-GAN")
    req.pretrained = fields.boolean("pretrained", default=True)
    req.pretrained_g = parse_file_ref(fields, "pretrained_g", inline=False)
    req.pretrained_d = parse_file_ref(fields, "pretrained_d", inline=False)
    req.index_algorithm = fields.enum("index_algorithm", INDEX_ALGORITHMS, default="Auto")
    req.cut_preprocess = fields.enum("cut_preprocess", CUT_MODES, default="Automatic")
    req.chunk_len = fields.number("chunk_len", 0.5, 5.0, default=3.0)
    req.overlap_len = fields.number("overlap_len", 0.0, 0.4, default=0.3)
    req.normalization = fields.enum("normalization", NORMALIZATION_MODES, default="post")
    req.process_effects = fields.boolean("process_effects", default=True)
    req.noise_reduction = fields.boolean("noise_reduction", default=False)
    req.noise_reduction_strength = fields.number("noise_reduction_strength", 0.0, 1.0, default=0.7)
    req.include_mutes = fields.integer("include_mutes", 0, 10, default=2)
    req.checkpointing = fields.boolean("checkpointing", default=False)
    req.cache_data_in_gpu = fields.boolean("cache_data_in_gpu", default=False)
    req.if_busy = fields.enum("if_busy", ("wait", "report"), default="wait")
    fields.finish("task 'train'")

    if req.chunk_len not in CHUNK_LENS:
        raise ValidationError("input.chunk_len must be a multiple of 0.5 from 0.5 to 5.0")
    if round(req.overlap_len, 1) not in OVERLAP_LENS or abs(req.overlap_len * 10 - round(req.overlap_len * 10)) > 1e-9:
        raise ValidationError("input.overlap_len must be one of 0.0, 0.1, 0.2, 0.3, 0.4")
    if abs(req.noise_reduction_strength * 10 - round(req.noise_reduction_strength * 10)) > 1e-9:
        raise ValidationError("input.noise_reduction_strength must be a multiple of 0.1 from 0.0 to 1.0")
    if (req.pretrained_g is None) != (req.pretrained_d is None):
        raise ValidationError("input.pretrained_g and input.pretrained_d must be given together")
    if req.pretrained_g is not None and not req.pretrained:
        raise ValidationError("input.pretrained is false but input.pretrained_g/pretrained_d were given")
    if req.pretrained_g is not None:
        req.pretrained_kind = "custom"
    else:
        req.pretrained_kind = "default" if req.pretrained else "none"
    return req


# ------------------------------------------------------------ fingerprints ----
def _fp(*parts):
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def fingerprints(req, dataset_sha):
    unpack_fp = _fp("unpack", dataset_sha)
    pre_fp = _fp(
        "preprocess", unpack_fp, req.sample_rate, req.cut_preprocess, req.chunk_len,
        req.overlap_len, req.normalization, req.process_effects, req.noise_reduction,
        req.noise_reduction_strength,
    )
    extract_fp = _fp("extract", pre_fp, req.f0_method, req.embedder, req.include_mutes)
    train_fp = _fp(
        "train", extract_fp, req.vocoder, req.pretrained_kind,
        req.pretrained_g.sha256 if req.pretrained_g else None,
        req.pretrained_d.sha256 if req.pretrained_d else None,
    )
    index_fp = _fp("index", extract_fp, req.index_algorithm)
    return {"unpack": unpack_fp, "preprocess": pre_fp, "extract": extract_fp,
            "train": train_fp, "index": index_fp}


# ------------------------------------------------------------- npy checks ----
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


# ---------------------------------------------------------- Applio loader ----
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


# ------------------------------------------------------------------- CPUs ----
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


# ------------------------------------------------------------------ runner ----
class TrainingRun:
    def __init__(self, ctx, req):
        self.ctx = ctx
        self.req = req
        self.settings = ctx.settings
        self.run_id = req.run_id
        self.store = ctx.store
        self.run_dir = ctx.volume_path("runs", self.run_id)
        self.exp_real = os.path.join(self.run_dir, "applio")
        self.exp_dir = os.path.join(self.settings.applio_dir, "logs", self.run_id)
        self.dataset_dir = os.path.join(self.run_dir, "dataset")
        self.state_path = os.path.join(self.run_dir, "state.json")
        self.log_dir = os.path.join(self.run_dir, "logs")
        self.runner = applio.ApplioRunner(self.settings, ctx.reporter, ctx.cancellation)
        self.warnings = []
        self.moved_aside = []  # (checkpoint names, names set aside, reasons), for the job's warnings
        self.state = None

    # ---- helpers -----------------------------------------------------------
    def progress(self, stage, message, **fields):
        self.ctx.progress(TASK, stage, message, run_id=self.run_id, **fields)

    def load_state(self):
        try:
            with open(self.state_path, "r", encoding="utf-8") as fh:
                state = json.load(fh)
            if state.get("version") == STATE_VERSION and state.get("run_id") == self.run_id:
                return state
        except FileNotFoundError:
            pass
        except ValueError:
            self.ctx.reporter.log(f"run {self.run_id}: state.json unreadable; starting over")
        return {"version": STATE_VERSION, "run_id": self.run_id, "stages": {}, "timings": {},
                "result": None}

    def save_state(self):
        os.makedirs(self.run_dir, exist_ok=True)
        tmp = f"{self.state_path}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.state, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.state_path)

    def stage_state(self, name):
        return self.state["stages"].get(name)

    def stage_done(self, name, fp):
        entry = self.stage_state(name)
        return bool(entry) and entry.get("fp") == fp and entry.get("status") == "done"

    def mark(self, name, fp, status, **extra):
        entry = {"fp": fp, "status": status}
        entry.update(extra)
        self.state["stages"][name] = entry
        self.save_state()

    def add_time(self, name, seconds):
        timings = self.state.setdefault("timings", {})
        timings[name] = round(timings.get(name, 0.0) + seconds, 3)

    def exp(self, *parts):
        return os.path.join(self.exp_dir, *parts)

    # ---- invalidation ------------------------------------------------------
    def stage_outputs(self, name):
        if name == "unpack":
            return [self.dataset_dir]
        if name == "preprocess":
            return [self.exp("sliced_audios"), self.exp("sliced_audios_16k"),
                    self.exp("model_info.json")]
        if name == "extract":
            return [self.exp("f0"), self.exp("f0_voiced"), self.exp("extracted"),
                    self.exp("filelist.txt"), self.exp("config.json")]
        if name == "train":
            paths = [self.exp("eval"), self.exp("training_data.json")]
            paths += glob.glob(self.exp("G_*.pth")) + glob.glob(self.exp("D_*.pth"))
            paths += glob.glob(self.exp(f"{self.run_id}_*e_*s.pth"))
            # Set-aside files belong to the checkpoints being invalidated; they are no use to the new ones.
            paths += self.set_aside_checkpoints() + glob.glob(self.exp(f"{self.run_id}_*e_*s.pth{UNREADABLE_SUFFIX}*"))
            return paths
        if name == "index":
            return [self.exp(f"{self.run_id}.index")]
        raise KeyError(name)

    def invalidate(self, name):
        for dependent in DEPENDENTS[name]:
            self.invalidate(dependent)
        for path in self.stage_outputs(name):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.unlink(path)
        if self.state["stages"].pop(name, None) is not None:
            self.save_state()
        if name in ("train", "index"):
            self.state["result"] = None

    # ---- setup -------------------------------------------------------------
    def check_applio(self):
        s = self.settings
        s.require_applio(applio.PREPROCESS_SCRIPT, applio.EXTRACT_SCRIPT, applio.TRAIN_SCRIPT,
                         applio.INDEX_SCRIPT)
        config_json = os.path.join(s.applio_dir, "assets", "config.json")
        if not os.path.isfile(config_json):
            template = os.path.join(s.applio_dir, "assets", "config_template.json")
            if not os.path.isfile(template):
                raise ConfigError(
                    f"{config_json} is missing and so is assets/config_template.json; without "
                    "config.json Applio trains but never writes the final model"
                )
            # Only Applio's UI creates it; without it train.py cannot write the final .pth.
            tmp = f"{config_json}.{uuid.uuid4().hex}.tmp"
            shutil.copyfile(template, tmp)
            os.replace(tmp, config_json)
            self.ctx.reporter.log(f"created {config_json} from config_template.json")
        mute = "mute_" + self.req.embedder if self.req.embedder in ("spin", "spin-v2") else "mute"
        mute_wav = os.path.join(s.applio_dir, "logs", mute, "sliced_audios",
                                f"mute{self.req.sample_rate}.wav")
        self.mute_wav = mute_wav
        if self.req.include_mutes > 0 and not os.path.isfile(mute_wav):
            raise ConfigError(
                f"{mute_wav} is missing: Applio's logs/{mute} folder must stay as shipped "
                "(do not mount an empty volume over APPLIO_DIR/logs), or set include_mutes to 0"
            )
        self.pretrained_paths = self.resolve_pretrained()

    def resolve_pretrained(self):
        req = self.req
        if req.pretrained_kind == "none":
            return "", ""
        if req.pretrained_kind == "custom":
            return (self.store.require(req.pretrained_g.sha256, req.pretrained_g.field),
                    self.store.require(req.pretrained_d.sha256, req.pretrained_d.field))
        # Same lookup as Applio's pretrained_selector; it returns "" silently when
        # the files are missing and training would start from scratch.
        folder = os.path.join("rvc", "models", "pretraineds", req.vocoder.lower())
        sr = str(req.sample_rate)[:2]
        g = os.path.join(folder, f"f0G{sr}k.pth")
        d = os.path.join(folder, f"f0D{sr}k.pth")
        missing = [p for p in (g, d) if not os.path.isfile(os.path.join(self.settings.applio_dir, p))]
        if missing:
            raise JobError(
                f"no pretrained weights for vocoder {req.vocoder!r} at {req.sample_rate} Hz "
                f"({', '.join(missing)} missing in APPLIO_DIR); Applio would silently train from "
                "scratch. Use a combination with baked weights (HiFi-GAN at 32000/40000/48000, "
                "RefineGAN at 32000), upload your own as pretrained_g/pretrained_d, or set "
                "pretrained to false"
            )
        return g, d

    def ensure_link(self):
        """APPLIO_DIR/logs/<run_id> → <run_dir>/applio (train.py reads cwd/logs/<name>)."""
        os.makedirs(self.exp_real, exist_ok=True)
        logs = os.path.join(self.settings.applio_dir, "logs")
        os.makedirs(logs, exist_ok=True)
        if os.path.islink(self.exp_dir):
            if os.path.realpath(self.exp_dir) == os.path.realpath(self.exp_real):
                return
        elif os.path.exists(self.exp_dir):
            raise ConfigError(
                f"{self.exp_dir} already exists and is not a voicestudio run link; "
                "choose another run_id or move that Applio model folder away"
            )
        tmp = f"{self.exp_dir}.{uuid.uuid4().hex}.link"
        os.symlink(self.exp_real, tmp)
        os.replace(tmp, self.exp_dir)

    # ---- stages ------------------------------------------------------------
    def run_unpack(self, archive_path):
        self.progress("unpack", "unpacking the dataset archive")
        started = time.monotonic()
        tmp_root = os.path.join(self.run_dir, f"dataset.tmp-{uuid.uuid4().hex[:8]}")
        speaker_dir = os.path.join(tmp_root, "0")  # Applio wants integer speaker folders
        raw_dir = os.path.join(tmp_root, "raw")
        os.makedirs(speaker_dir)
        os.makedirs(raw_dir)
        to_convert = []
        counter = [0]

        def destination(parts):
            ext = os.path.splitext(parts[-1])[1].lower()
            if ext in APPLIO_AUDIO_EXTENSIONS:
                counter[0] += 1
                return os.path.join(speaker_dir, f"clip_{counter[0]:05d}{ext}")
            if ext in CONVERTIBLE_EXTENSIONS:
                counter[0] += 1
                path = os.path.join(raw_dir, f"clip_{counter[0]:05d}{ext}")
                to_convert.append((path, "/".join(parts)))
                return path
            return None

        try:
            written, skipped = unpack(archive_path, destination, label="input.dataset archive")
            if not written:
                raise JobError(
                    "input.dataset archive contains no audio files (accepted: "
                    + ", ".join(APPLIO_AUDIO_EXTENSIONS + CONVERTIBLE_EXTENSIONS) + ")"
                    + (f"; skipped: {', '.join(skipped[:10])}" if skipped else "")
                )
            if to_convert:
                ffmpeg = self.settings.resolve_ffmpeg()
                for index, (path, original) in enumerate(to_convert, 1):
                    self.progress("unpack", f"converting {original} to WAV ({index}/{len(to_convert)})")
                    target = os.path.join(speaker_dir, os.path.splitext(os.path.basename(path))[0] + ".wav")
                    to_wav(ffmpeg, path, target, f"input.dataset file {original}")
                    os.unlink(path)
            shutil.rmtree(raw_dir)
            if os.path.lexists(self.dataset_dir):
                shutil.rmtree(self.dataset_dir)
            os.replace(tmp_root, self.dataset_dir)
        finally:
            if os.path.exists(tmp_root):
                shutil.rmtree(tmp_root, ignore_errors=True)
        if skipped:
            self.warnings.append(
                f"{len(skipped)} non-audio file(s) in the dataset were ignored, e.g. {skipped[0]}"
            )
        elapsed = time.monotonic() - started
        self.add_time("unpack", elapsed)
        return {"files": len(written), "converted": len(to_convert), "skipped": skipped[:20]}

    def cpu_count(self):
        return cpu_limit()

    def run_preprocess(self):
        req = self.req
        self.progress("preprocess", "slicing and resampling the dataset (Applio preprocess)")
        started = time.monotonic()
        unreadable = []

        def on_line(line):
            # preprocess.py prints this for a file it cannot load or process, and goes on.
            if line.startswith("Error processing audio"):
                unreadable.append(line)

        result = self.runner.run_script(
            "preprocess", applio.PREPROCESS_SCRIPT,
            [self.exp_dir, self.dataset_dir, req.sample_rate, self.cpu_count(),
             req.cut_preprocess, req.process_effects, req.noise_reduction,
             req.noise_reduction_strength, req.chunk_len, req.overlap_len, req.normalization],
            log_path=os.path.join(self.log_dir, "preprocess.log"),
            on_line=on_line,
        )
        self.add_time("preprocess", time.monotonic() - started)
        slices = glob.glob(self.exp("sliced_audios", "*.wav"))
        slices16 = glob.glob(self.exp("sliced_audios_16k", "*.wav"))
        info = self.read_model_info()
        if not slices or not slices16 or "total_seconds" not in info:
            raise JobError(
                "Applio preprocess produced no sliced audio (exit code "
                f"{result.returncode}); its output:\n{result.excerpt()}"
            )
        return {"slices": len(slices), "dataset_seconds": round(float(info["total_seconds"]), 3),
                "unreadable": len(unreadable), "unreadable_example": unreadable[0][:300] if unreadable else None}

    def check_slice_lengths(self):
        """Applio's training silently leaves out slices outside its loader buckets
        (with cut_preprocess "Skip", every clip longer than 6.75 s). Fail when too
        little is left to train on; otherwise warn about what is left out."""
        req = self.req
        sizes = [os.path.getsize(p) for p in glob.glob(self.exp("sliced_audios", "*.wav"))]
        lengths = [loader_length(size, req.sample_rate) for size in sizes]
        too_long = sum(1 for length in lengths if length > LOADER_BUCKETS[-1])
        too_short = sum(1 for length in lengths if length <= LOADER_BUCKETS[0])
        if not too_long and not too_short:
            return
        usable = [length for length in lengths if loader_bucket(length) != -1]
        unused_seconds = sum(max(0, size - FLOAT_WAV_HEADER) / (4 * req.sample_rate)
                             for size, length in zip(sizes, lengths) if loader_bucket(length) == -1)
        parts = []
        if too_long:
            parts.append(f"{too_long} longer than {MAX_SLICE_SECONDS} s")
        if too_short:
            parts.append(f"{too_short} shorter than about {MIN_SLICE_SECONDS} s")
        what = (f"Applio's training leaves out {too_long + too_short} of the {len(lengths)} slices "
                f"({unused_seconds:.1f} s of audio): {', '.join(parts)}; it trains only on slices of "
                f"about {MIN_SLICE_SECONDS} to {MAX_SLICE_SECONDS} s")
        advice = ""
        if too_long and req.cut_preprocess == "Skip":
            advice = (" Set input.cut_preprocess to Automatic or Simple so that long clips are cut into "
                      "short slices, or cut the clips to at most 6.5 s yourself.")
        elif too_long:
            advice = f" Cut the clips to at most {MAX_SLICE_SECONDS} s."
        rows = list(usable)
        if req.include_mutes > 0 and os.path.isfile(self.mute_wav):
            rows += [loader_length(os.path.getsize(self.mute_wav), req.sample_rate)] * req.include_mutes
        batches = loader_batches(rows, req.batch_size)
        if not usable or batches < MIN_TRAIN_BATCHES:
            raise JobError(
                f"too little audio to train on. {what}. The {len(usable)} usable slice(s)"
                + (f" and {req.include_mutes} silent row(s)" if len(rows) > len(usable) else "")
                + f" give {batches} batch(es) of {req.batch_size}; Applio needs at least "
                f"{MIN_TRAIN_BATCHES}.{advice or ' Add longer clips or lower input.batch_size.'}"
            )
        self.warnings.append(f"{what}.{advice}")

    def read_model_info(self):
        try:
            with open(self.exp("model_info.json"), "r", encoding="utf-8") as fh:
                data = json.load(fh)
            return data if isinstance(data, dict) else {}
        except (FileNotFoundError, ValueError):
            return {}

    def run_extract(self, resuming):
        req = self.req
        if resuming:
            # Applio skips files that exist; a file cut short by a crash must go.
            removed = 0
            for folder in ("f0", "f0_voiced", "extracted"):
                for path in glob.glob(self.exp(folder, "*.npy")):
                    if not npy_is_complete(path):
                        os.unlink(path)
                        removed += 1
            if removed:
                self.ctx.reporter.log(f"removed {removed} truncated feature file(s) before resuming")
        self.progress("extract", f"extracting pitch ({req.f0_method}) and features ({req.embedder})")
        started = time.monotonic()
        result = self.runner.run_script(
            "extract", applio.EXTRACT_SCRIPT,
            [self.exp_dir, req.f0_method, self.cpu_count(), extraction_gpus(self.settings), req.sample_rate,
             req.embedder, "None", req.include_mutes],
            log_path=os.path.join(self.log_dir, "extract.log"),
        )
        self.add_time("extract", time.monotonic() - started)
        entries = self.filelist_entries()
        if not entries or not os.path.isfile(self.exp("config.json")):
            raise JobError(
                "Applio extract did not produce filelist.txt/config.json with training entries "
                f"(exit code {result.returncode}); its output:\n{result.excerpt()}"
            )
        slices = len(glob.glob(self.exp("sliced_audios_16k", "*.wav")))
        if len(entries) < slices:
            self.warnings.append(
                f"features were extracted for {len(entries)} of {slices} slices; Applio skipped the rest"
            )
        return {"entries": len(entries)}

    def check_index_algorithm(self):
        """Reject KMeans before training when the features have fewer rows than
        Applio's 10 000 clusters: extract_index.py would fail after training."""
        if self.req.index_algorithm != "KMeans":
            return
        rows = 0
        for path in glob.glob(self.exp("extracted", "*.npy")):
            try:
                rows += npy_rows(path)
            except ValueError:
                continue  # np.load would fail on it too; the index stage reports that
        if rows < KMEANS_CLUSTERS:
            raise ValidationError(
                f"input.index_algorithm KMeans needs at least {KMEANS_CLUSTERS} feature rows "
                f"(about {KMEANS_CLUSTERS // FEATURE_ROWS_PER_SECOND} s of audio), because Applio always "
                f"clusters them into {KMEANS_CLUSTERS} centroids; this dataset has {rows} rows "
                f"(about {rows / FEATURE_ROWS_PER_SECOND:.0f} s). Use Auto or Faiss; the extracted "
                "features are kept, so a re-submission does not extract them again"
            )

    def filelist_entries(self):
        try:
            with open(self.exp("filelist.txt"), "r", encoding="utf-8") as fh:
                lines = [l.strip() for l in fh if l.strip()]
        except FileNotFoundError:
            return []
        # Applio writes paths relative to its cwd ("logs/<run>/sliced_audios/..."); the
        # other rows are the shipped logs/mute* samples.
        marker = f"logs/{self.run_id}/sliced_audios/"
        return [l for l in lines if marker in l.split("|", 1)[0]]

    # ---- checkpoints -------------------------------------------------------
    def checkpoint_pairs(self, repair):
        """Complete G_/D_ pairs as [(step, epoch)], oldest epoch first (by the
        `iteration` stored in the files, not by the step in the name: steps restart
        at (epoch - 1) * steps_per_epoch, so after a batch_size change a newer epoch
        can have a smaller step). With repair, a step with a file that cannot be
        parsed is moved aside whole; readable files that are unpaired or disagree on
        the epoch are deleted."""
        files = {}
        for path in glob.glob(self.exp("[GD]_*.pth")):
            match = CHECKPOINT_RE.fullmatch(os.path.basename(path))
            if match:
                files.setdefault(int(match.group(2)), {})[match.group(1)] = path
        pairs = []
        for step in sorted(files):
            entry = dict(sorted(files[step].items(), key=lambda item: "GD".index(item[0])))
            epochs, unreadable = {}, []
            for kind, path in entry.items():
                try:
                    epochs[kind] = checkpoint_epoch(path, os.path.basename(path))
                except PthError as exc:
                    unreadable.append(str(exc))
            if len(epochs) == 2 and epochs["G"] == epochs["D"]:
                pairs.append((step, epochs["G"]))
            elif repair and unreadable:
                names = [os.path.basename(path) for path in entry.values()]
                moved = [self.move_aside(path) for path in entry.values()]
                self.ctx.reporter.log(f"moved aside unreadable checkpoint {', '.join(names)} as "
                                      f"{', '.join(moved)}: {'; '.join(unreadable)}")
                self.moved_aside.append((names, moved, unreadable))
            elif repair:
                for path in entry.values():
                    self.ctx.reporter.log(f"removing incomplete checkpoint {path}")
                    os.unlink(path)
        return sorted(pairs, key=lambda pair: (pair[1], pair[0]))

    def move_aside(self, path):
        """Renames path to <path>.unreadable-<n> (the first n free); returns the new name."""
        n = 1
        while os.path.lexists(f"{path}{UNREADABLE_SUFFIX}{n}"):
            n += 1
        target = f"{path}{UNREADABLE_SUFFIX}{n}"
        os.rename(path, target)
        return os.path.basename(target)

    def set_aside_checkpoints(self):
        return sorted(glob.glob(self.exp(f"[GD]_*.pth{UNREADABLE_SUFFIX}*")))

    def no_readable_checkpoint(self):
        """The error for a run whose checkpoints were all set aside: training from epoch 1 would bill
        every epoch again for what may be a parser's fault, so the client decides."""
        names = ", ".join(os.path.basename(path) for path in self.set_aside_checkpoints())
        reasons = "; ".join(reason for _, _, found in self.moved_aside for reason in found)
        return JobError(
            f"run {self.run_id!r} has no readable training checkpoint left: these checkpoint files could not be "
            f"read and were moved aside in runs/{self.run_id}/applio/ on the volume: {names}"
            + (f" ({reasons})" if reasons else "")
            + ". The worker did not start training again from epoch 1, which would bill every epoch again. "
            "To train from epoch 1, submit the job with a new run_id (or delete those files). If they are good "
            f"checkpoints that this worker cannot parse, rename them back without the '{UNREADABLE_SUFFIX}<n>' "
            "suffix on a worker that can."
        )

    def drop_pairs_numbered_above_newest(self, pairs):
        """Applio resumes from the G_/D_ file with the highest number in its name
        (utils.latest_checkpoint_path), not from the newest epoch. Delete older-epoch
        pairs numbered higher than the newest one so Applio's pick is the newest epoch."""
        if not pairs:
            return pairs
        newest_step, newest_epoch = pairs[-1]
        kept = []
        for step, epoch in pairs:
            if step > newest_step:
                self.ctx.reporter.log(
                    f"removing checkpoint G_/D_{step}.pth (epoch {epoch}): its number is higher than "
                    f"that of the newer epoch {newest_epoch} (G_/D_{newest_step}.pth), so Applio would resume from it"
                )
                self.delete_pair(step)
            else:
                kept.append((step, epoch))
        return kept

    def delete_pair(self, step):
        for kind in ("G", "D"):
            path = self.exp(f"{kind}_{step}.pth")
            if os.path.exists(path):
                os.unlink(path)

    def prune_pairs(self, keep):
        pairs = self.checkpoint_pairs(repair=False)
        for step, _ in pairs[:-keep] if keep else pairs:
            self.delete_pair(step)

    def final_models(self):
        pattern = re.compile(FINAL_MODEL_RE.format(name=re.escape(self.run_id)))
        found = []
        for path in glob.glob(self.exp(f"{self.run_id}_*e_*s.pth")):
            match = pattern.fullmatch(os.path.basename(path))
            if match:
                found.append((int(match.group(1)), int(match.group(2)), path))
        return sorted(found)

    def final_model_for(self, epochs):
        for epoch, step, path in self.final_models():
            if epoch == epochs:
                try:
                    info = rvc_model_info(path, os.path.basename(path))
                except PthError as exc:
                    self.ctx.reporter.log(f"ignoring unreadable model {path}: {exc}")
                    continue
                return {"epoch": epoch, "step": step, "path": path, "info": info}
        return None

    def drop_unreadable_final_models(self):
        """Applio writes <run>_<E>e_<S>s.pth only when no file of that name exists
        (train.py: `if not os.path.exists(m)`), and a retry reaches the same name. A
        model cut short by a dying worker or a full volume must make way, or it never
        gets written again; it is moved aside, not deleted (see UNREADABLE_SUFFIX)."""
        for _, _, path in self.final_models():
            try:
                rvc_model_info(path, os.path.basename(path))
            except PthError as exc:
                moved = self.move_aside(path)
                self.ctx.reporter.log(f"moved aside the unreadable model {path} as {moved}: {exc}")
                self.warnings.append(f"the model {os.path.basename(path)} could not be read ({exc}); it was "
                                     f"moved aside as {moved} and written again")

    def run_train(self, fp):
        req = self.req
        entry = self.stage_state("train")
        if entry and entry.get("fp") != fp:
            self.invalidate("train")
        elif not entry and (glob.glob(self.exp("G_*.pth")) or self.final_models()):
            # Files without a record (state lost): we cannot tell what produced them.
            self.invalidate("train")

        self.drop_unreadable_final_models()
        pairs = self.checkpoint_pairs(repair=True)
        latest_epoch = pairs[-1][1] if pairs else 0
        finished = max((epoch for epoch, _, _ in self.final_models()), default=0)
        if finished > req.epochs:
            raise ValidationError(
                f"input.epochs ({req.epochs}) is lower than the {finished} epochs run "
                f"{self.run_id!r} already finished; ask for at least {finished} or use a new run_id"
            )
        if latest_epoch > req.epochs:
            raise ValidationError(
                f"input.epochs ({req.epochs}) is lower than the {latest_epoch} epochs already "
                f"trained in run {self.run_id!r}; ask for at least {latest_epoch} or use a new run_id"
            )
        final = self.final_model_for(req.epochs)
        if final:
            return final, latest_epoch, []
        if not pairs and self.set_aside_checkpoints():
            raise self.no_readable_checkpoint()
        if pairs and latest_epoch == req.epochs:
            # Checkpoint of the last epoch but no final model: Applio would not train
            # again (the epoch loop is already complete), so redo the last interval.
            self.ctx.reporter.log(
                f"checkpoint at epoch {latest_epoch} has no final model; retraining from the previous checkpoint"
            )
            self.delete_pair(pairs[-1][0])
            pairs = pairs[:-1]
            latest_epoch = pairs[-1][1] if pairs else 0
        pairs = self.drop_pairs_numbered_above_newest(pairs)

        self.mark("train", fp, "running", epochs=req.epochs)
        for names, moved, reasons in self.moved_aside:
            self.warnings.append(
                f"checkpoint {', '.join(names)} could not be read ({'; '.join(reasons)}) and "
                f"{'were' if len(moved) > 1 else 'was'} moved aside as "
                f"{', '.join(moved)} in runs/{self.run_id}/applio/; training resumed from epoch {latest_epoch}. "
                "They stay on the volume (up to several hundred MB each) until the run is deleted"
            )
        moved_count = sum(len(moved) for _, moved, _ in self.moved_aside)
        moved_note = f" ({moved_count} unreadable checkpoint files moved aside)" if moved_count else ""
        if latest_epoch:
            self.progress("train", f"resuming from the checkpoint of epoch {latest_epoch}{moved_note}",
                          epoch=latest_epoch, epochs=req.epochs)
        else:
            self.progress("train", f"starting training{moved_note}", epoch=0, epochs=req.epochs)

        speeds = []
        last = {"epoch": latest_epoch, "step": None}
        saved = {}

        def on_line(line):
            parsed = applio.parse_epoch_line(line)
            if parsed and parsed["model"] == self.run_id:
                last["epoch"], last["step"] = parsed["epoch"], parsed["step"]
                if parsed["seconds"] is not None:
                    speeds.append(parsed["seconds"])
                recent = speeds[-5:]
                per_epoch = sum(recent) / len(recent) if recent else None
                remaining = max(0, req.epochs - parsed["epoch"])
                eta = round(per_epoch * remaining, 1) if per_epoch is not None else None
                self.progress(
                    "train",
                    f"epoch {parsed['epoch']}/{req.epochs}"
                    + (f", {per_epoch:.1f} s/epoch, about {format_eta(eta)} left" if eta is not None else ""),
                    epoch=parsed["epoch"], epochs=req.epochs, step=parsed["step"],
                    seconds_per_epoch=round(per_epoch, 3) if per_epoch is not None else None,
                    eta_seconds=eta,
                )
                return
            match = applio.SAVED_CHECKPOINT_RE.match(line)
            if match:
                step = int(match.group("step"))
                saved.setdefault(step, set()).add(match.group("kind"))
                if saved[step] == {"G", "D"}:
                    # Both halves are on disk: older pairs are no longer needed.
                    self.prune_pairs(KEEP_CHECKPOINT_PAIRS)

        # The warm conversion process holds GPU memory that train.py needs.
        stop_warm_converter()
        g_path, d_path = self.pretrained_paths
        started = time.monotonic()
        try:
            result = self.runner.run_script(
                "train", applio.TRAIN_SCRIPT,
                [self.run_id, req.save_every, req.epochs, g_path, d_path, "0", req.batch_size,
                 req.sample_rate, False, False, req.cache_data_in_gpu, False, req.vocoder,
                 req.checkpointing],
                log_path=os.path.join(self.log_dir, "train.log"),
                on_line=on_line,
            )
        finally:
            self.add_time("train", time.monotonic() - started)
            self.save_state()
        final = self.final_model_for(req.epochs)
        if not final:
            raise JobError(
                f"training stopped without writing the final model "
                f"logs/{self.run_id}/{self.run_id}_{req.epochs}e_<steps>s.pth (Applio exit code "
                f"{result.returncode}, last epoch reported: {last['epoch'] or 'none'}). "
                f"{self.failure_hint(result.lines)} Applio's output:\n{result.excerpt()}"
            )
        return final, latest_epoch, speeds

    def failure_hint(self, lines):
        """What to do next, for the failures Applio is known to report."""
        text = "\n".join(lines).lower()
        if "not enough data present" in text:
            return (f"The dataset gives fewer than 3 batches of {self.req.batch_size} clips: add audio "
                    "or lower input.batch_size.")
        if "bus error" in text or "shared memory" in text:
            total = shm_info()["total_bytes"]
            size = f"{total / 2 ** 20:.0f} MiB" if total is not None else "missing"
            return (f"Applio's data loader ran out of shared memory: /dev/shm is {size} on this worker, and its 4 "
                    f"loader processes need about {SHM_RECOMMENDED_BYTES // 2 ** 30} GiB. On RunPod change the "
                    "endpoint's GPU type to one with more system memory (`voicestudio doctor` shows the /dev/shm a "
                    "worker gets); in your own Docker container use --shm-size=2g or more. A lower input.batch_size "
                    "needs less. Submitting the job again resumes from the last checkpoint.")
        if "out of memory" in text:
            return ("The GPU ran out of memory: lower input.batch_size or set input.checkpointing to "
                    "true; submitting the job again resumes from the last checkpoint.")
        if "do not match the selected model" in text:
            return "The pretrained weights do not fit this sample rate and vocoder."
        if "error occurred extracting the model" in text:
            return ("Applio could not write the model file (check APPLIO_DIR/assets/config.json and "
                    "free disk space); submitting the job again resumes from the last checkpoint.")
        if "training has been successfully completed" in text:
            return "Applio reported success but wrote no model file."
        return "The run keeps its checkpoints; submitting the same job again resumes it."

    def run_index(self):
        index_path = self.exp(f"{self.run_id}.index")
        # Applio skips an existing index; one left by a crash or an older dataset is stale.
        if os.path.lexists(index_path):
            os.unlink(index_path)
        self.progress("index", f"building the index ({self.req.index_algorithm})")
        started = time.monotonic()
        result = self.runner.run_script(
            "index", applio.INDEX_SCRIPT, [self.exp_dir, self.req.index_algorithm],
            log_path=os.path.join(self.log_dir, "index.log"),
        )
        self.add_time("index", time.monotonic() - started)
        if not os.path.isfile(index_path) or os.path.getsize(index_path) == 0:
            raise JobError(
                f"Applio did not write the index logs/{self.run_id}/{self.run_id}.index (exit code "
                f"{result.returncode}); its output:\n{result.excerpt()}"
            )
        return index_path

    # ---- the whole job -----------------------------------------------------
    def execute(self):
        req = self.req
        self.check_applio()
        dataset_sha = req.dataset.digest()
        fps = fingerprints(req, dataset_sha)
        os.makedirs(self.run_dir, exist_ok=True)
        lease = RunLease(os.path.join(self.run_dir, "lease.json"), self.ctx.job_id, self.ctx.reporter,
                         on_wait=lambda message: self.progress("waiting", message),
                         sleep=self.ctx.sleep or self.ctx.cancellation.sleep)
        try:
            lease.acquire(self.run_id, report_busy=req.if_busy == "report")
        except RunBusy as busy:
            return {"run_id": self.run_id, "status": "busy", "holder_job_id": busy.holder_job_id}
        try:
            self.state = self.load_state()
            cached = self.cached_result(fps)
            if cached:
                # No progress update here: runpod-python sends it from a thread, and one
                # arriving after the result leaves the job shown as IN_PROGRESS.
                self.ctx.reporter.log(f"run {self.run_id}: already finished with these settings")
                return cached
            require_cuda(self.settings)
            self.ensure_link()
            return self.run_stages(fps)
        finally:
            lease.release()

    def cached_result(self, fps):
        result = self.state.get("result")
        if not result or result.get("fingerprints") != {k: fps[k] for k in ("train", "index")}:
            return None
        if result["training"]["epochs"] != self.req.epochs:
            return None
        for key in ("model", "index"):
            if self.store.size_of(result[key]["sha256"]) is None:
                return None
        public = {k: v for k, v in result.items() if k != "fingerprints"}
        public["cached"] = True
        return public

    def run_stages(self, fps):
        req = self.req
        facts = self.state.setdefault("facts", {})

        # unpack
        if not (self.stage_done("unpack", fps["unpack"]) and os.path.isdir(self.dataset_dir)):
            self.invalidate("unpack")
            archive = req.dataset.local_path(self.ctx, self.ctx.scratch("dataset"), "dataset.archive")
            facts["dataset"] = self.run_unpack(archive)
            self.mark("unpack", fps["unpack"], "done")
        # preprocess (not incremental: always from a clean slate)
        if not self.stage_done("preprocess", fps["preprocess"]):
            self.invalidate("preprocess")
            self.mark("preprocess", fps["preprocess"], "running")
            facts["preprocess"] = self.run_preprocess()
            self.mark("preprocess", fps["preprocess"], "done")
        unreadable = facts.get("preprocess", {}).get("unreadable")
        if unreadable:
            self.warnings.append(
                f"Applio could not read {unreadable} of the {facts.get('dataset', {}).get('files')} dataset "
                f"file(s) and left them out (logs/preprocess.log has the details), e.g. "
                f"{facts['preprocess'].get('unreadable_example')!r}"
            )
        self.check_slice_lengths()
        # extract (resumable: Applio skips finished files)
        if not self.stage_done("extract", fps["extract"]):
            entry = self.stage_state("extract")
            resuming = bool(entry) and entry.get("fp") == fps["extract"]
            if not resuming:
                self.invalidate("extract")
            self.mark("extract", fps["extract"], "running")
            facts["extract"] = self.run_extract(resuming)
            self.mark("extract", fps["extract"], "done")
        self.check_index_algorithm()
        # train (resumable from G_/D_ checkpoints)
        final, resumed_from, speeds = self.run_train(fps["train"])
        self.mark("train", fps["train"], "done", epochs=final["epoch"], steps=final["step"],
                  model_file=os.path.basename(final["path"]))
        if speeds:
            facts["seconds_per_epoch"] = round(sum(speeds) / len(speeds), 3)
        # index
        index_path = self.exp(f"{self.run_id}.index")
        if not (self.stage_done("index", fps["index"]) and os.path.isfile(index_path)):
            self.invalidate("index")
            self.mark("index", fps["index"], "running")
            index_path = self.run_index()
            self.mark("index", fps["index"], "done")

        # Storing the blobs takes seconds; a progress update this close to the result
        # could reach RunPod after it (see execute).
        model_sha, model_size = self.store.ingest_file(final["path"])
        index_sha, index_size = self.store.ingest_file(index_path)
        # Keep one checkpoint pair so the run can be extended with more epochs later.
        self.prune_pairs(1)
        for epoch, _, path in self.final_models():
            if epoch != final["epoch"]:
                os.unlink(path)

        timings = dict(self.state.get("timings", {}))
        timings["total"] = round(sum(timings.values()), 3)
        info = final["info"]
        result = {
            "run_id": self.run_id,
            "status": "finished",
            "cached": False,
            "model": {"sha256": model_sha, "size": model_size, "blob": model_sha,
                      "filename": os.path.basename(final["path"])},
            "index": {"sha256": index_sha, "size": index_size, "blob": index_sha,
                      "filename": os.path.basename(index_path)},
            "training": {
                "epochs": final["epoch"],
                "steps": final["step"],
                "sample_rate": info.get("sample_rate") or req.sample_rate,
                "embedder": info.get("embedder") or req.embedder,
                "f0_method": req.f0_method,
                "vocoder": info.get("vocoder") or req.vocoder,
                "batch_size": req.batch_size,
                "save_every": req.save_every,
                "pretrained": req.pretrained_kind,
                "index_algorithm": req.index_algorithm,
                "dataset_sha256": req.dataset.digest(),
                "dataset_files": facts.get("dataset", {}).get("files"),
                "dataset_seconds": facts.get("preprocess", {}).get("dataset_seconds"),
                "slices": facts.get("preprocess", {}).get("slices"),
                "resumed_from_epoch": resumed_from,
                "seconds_per_epoch": facts.get("seconds_per_epoch"),
            },
            "timings": timings,
            "warnings": self.warnings,
        }
        stored = dict(result)
        stored["fingerprints"] = {"train": fps["train"], "index": fps["index"]}
        self.state["result"] = stored
        self.save_state()
        return result


def format_eta(seconds):
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def train_task(ctx, fields):
    req = parse_request(fields)
    return TrainingRun(ctx, req).execute()
