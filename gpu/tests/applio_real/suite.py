"""The worker against a real Applio 3.6.4 on the CPU (opt-in: `npm run test:applio`).

Runs gpu/handler.py and vsworker as the image does, with APPLIO_DIR pointing at a scratch
copy of a real Applio 3.6.4 checkout and APPLIO_PYTHON at the Python that has Applio's
requirements. One training run, as a client would drive it:

    train a minute of generated singing and speech (one more clip unreadable) for 2 epochs,
    a checkpoint every epoch; Applio's training is killed right after the checkpoint and
    the small weights of epoch 1 -> the same job again resumes, trains epoch 2 and builds
    the index -> convert with rmvpe and with crepe-tiny -> a dataset Applio cannot read at
    all -> audition both saved epochs (a spoken and a sung guide, the dataset's clips as
    the singer).

Applio's weights are not downloaded: make_weights.py writes randomly initialised ones of
the right shapes into the scratch copy, so the audio that comes out is noise and the
checks are about mechanics: progress parsed from train.py's real output, checkpoints,
the .pth and .index and their metadata, resume, the output WAV's length and rate, and
errors that quote Applio's own lines, and that the audition's scores are in range and its
outputs decode. Files are inspected with torch/faiss in Applio's Python and with ffprobe,
not with the worker's own readers.

The audition scores with Resemblyzer, librosa and speechmos in the worker's Python (the one
running this suite): without them that test is skipped; the GPU test environment has them
(PYTHON=$(npm run --silent setup:python) npm run test:applio -- ...).

    VOICESTUDIO_APPLIO_DIR      an Applio 3.6.4 checkout (only read; copied to scratch)
    VOICESTUDIO_APPLIO_PYTHON   its Python (default: <checkout>/.venv/bin/python)
    VOICESTUDIO_APPLIO_KEEP=1   keep the scratch folder (its path is printed)

Run from gpu/: python3 -m unittest -v tests.applio_real.suite
"""

import base64
import glob
import importlib
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest
import wave

from tests.support import HANDLER, WorkerEnv, b64, find_ffmpeg, sha256, tar_bytes
from vsworker.pthmeta import checkpoint_epoch, rvc_model_info

HERE = os.path.dirname(os.path.abspath(__file__))
APPLIO_DIR = os.environ.get("VOICESTUDIO_APPLIO_DIR") or None
APPLIO_PYTHON = os.environ.get("VOICESTUDIO_APPLIO_PYTHON") or (
    os.path.join(APPLIO_DIR, ".venv", "bin", "python") if APPLIO_DIR else None
)
KEEP = os.environ.get("VOICESTUDIO_APPLIO_KEEP") == "1"
SKIP_REASON = "no Applio given: pass --applio DIR to npm run test:applio, or set VOICESTUDIO_APPLIO_DIR"

APPLIO_VERSION = "3.6.4"
RUN_ID = "real-cpu"
UNREADABLE_RUN_ID = "real-cpu-unreadable"
SAMPLE_RATE = 40000
EPOCHS = 2
BATCH_SIZE = 4
# Applio's "Simple" cut into 5 s chunks: half the training rows of the default 3 s slices,
# so an epoch on a shared 2-core CPU takes minutes, not ten.
CUT = {"cut_preprocess": "Simple", "chunk_len": 5.0, "overlap_len": 0.3}
CONVERT_SECONDS = 4.0
CONVERT_INPUT_RATE = 44100
JOB_TIMEOUT_SECONDS = 60 * 60
EPOCH_LINE_RE = re.compile(r"^(?P<run>\S+) \| epoch=(?P<epoch>\d+) \| step=(?P<step>\d+) \| "
                           r"time=\S+ \| training_speed=(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d)")
SAVED_RE = re.compile(r"^\[train\] Saved model '(?P<path>.*/(?P<kind>[GD])_\d+\.pth)' \(epoch (?P<epoch>\d+)\)$")
# The small inference weights Applio extracts right after each saved checkpoint (save_every_weights).
FIRST_WEIGHTS_RE = re.compile(rf"^\[train\] Saved model '.*/{RUN_ID}_1e_\d+s\.pth' \(epoch 1 and step \d+\)$")

# Applio's Python: versions, and the files the worker produced, read with torch/faiss/numpy.
VERSIONS_PROBE = r"""
import json, platform
from importlib import metadata
out = {"python": platform.python_version()}
for name in ("torch", "torchaudio", "transformers", "numpy", "scipy", "librosa", "faiss-cpu",
             "scikit-learn", "soundfile", "torchcrepe", "torchfcpe", "tensorboard"):
    try:
        out[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        out[name] = None
import torch
out["cuda_available"] = torch.cuda.is_available()
out["torch_threads"] = torch.get_num_threads()
print(json.dumps(out))
"""
INSPECT_PROBE = r"""
import glob, json, os, sys
import faiss, numpy, torch
exp, model, index = sys.argv[1:4]
cpt = torch.load(model, map_location="cpu", weights_only=True)
out = {"model": {k: cpt.get(k) for k in ("sr", "f0", "version", "epoch", "step", "embedder_model",
                                         "vocoder", "model_name")}}
out["model"]["config_sample_rate"] = cpt["config"][-1]
out["model"]["tensors"] = len(cpt["weight"])
out["checkpoints"] = {}
for path in sorted(glob.glob(os.path.join(exp, "[GD]_*.pth"))):
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    out["checkpoints"][os.path.basename(path)] = ckpt["iteration"]
faiss_index = faiss.read_index(index)
out["index"] = {"ntotal": faiss_index.ntotal, "d": faiss_index.d}
out["feature_rows"] = sum(numpy.load(p, mmap_mode="r").shape[0]
                          for p in glob.glob(os.path.join(exp, "extracted", "*.npy")))
print(json.dumps(out))
"""


def say(message):
    print(f"[applio] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ audio ----
def singing_expression(notes, note_seconds):
    """An FFmpeg aevalsrc expression: a sung-like line, four harmonics with 5.5 Hz
    vibrato, one note per note_seconds, each note faded in and out."""
    freq = str(notes[-1])
    for index in range(len(notes) - 2, -1, -1):
        freq = f"if(lt(t,{(index + 1) * note_seconds}),{notes[index]},{freq})"
    vibrato = "0.6*sin(2*PI*5.5*t)"
    partials = "+".join(
        f"{weight}*sin({k}*(2*PI*ld(0)*ld(1)+{vibrato}))"
        for k, weight in ((1, 1.0), (2, 0.5), (3, 0.3), (4, 0.15))
    )
    envelope = f"min(1,ld(1)*25)*min(1,({note_seconds}-ld(1))*25)"
    return (f"st(0,{freq});st(1,mod(t,{note_seconds}));"
            f"0.25*{envelope}*({partials})+0.003*(random(2)-0.5)")


def make_singing(ffmpeg, path, notes, note_seconds, rate, codec_args):
    subprocess.run(
        [ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"aevalsrc='{singing_expression(notes, note_seconds)}':s={rate}:d={len(notes) * note_seconds}",
         "-ac", "1", *codec_args, path],
        check=True,
    )


def make_speech(ffmpeg, path, text, voice, pitch, rate):
    raw = path + ".espeak.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", "140", "-w", raw, text],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", raw, "-ar", str(rate),
                    "-ac", "1", "-c:a", "flac", path], check=True)
    os.unlink(raw)


SPEECH = [
    ("en-us", 40, "The quick brown fox jumps over the lazy dog while the band tunes up for the "
                  "evening show, and everyone in the hall waits quietly for the very first song."),
    ("en-gb", 65, "She sells sea shells by the sea shore, and the shells she sells are surely sea "
                  "shells, so she says to every single passer by who stops to listen to her."),
    ("en-us+f3", 55, "Every morning I warm up my voice with scales and long vowels, then I read the "
                     "lyrics aloud slowly before I sing them through from the top to the end."),
]
MELODIES = [
    [220, 247, 262, 294, 330, 294, 262, 247, 220, 196, 220, 262, 247, 220, 196, 175, 196, 220, 247, 220],
    [262, 294, 330, 349, 392, 440, 392, 349, 330, 294, 262, 294, 330, 294, 262, 247, 262, 294, 330, 262],
    [196, 220, 247, 262, 247, 220, 196, 175, 196, 220, 262, 294, 262, 220, 196, 220, 247, 262, 294, 330],
]
CONVERT_MELODY = [262, 294, 330, 349, 392, 349, 330, 294]
# The audition's guides: a spoken phrase (a voice the dataset does not have) and a short sung one.
AUDITION_SPEECH = ("en-us+m3", 50, "Every saved epoch sings this same short phrase for the audition.")
AUDITION_MELODY = [330, 294, 262, 294, 330, 330]
# The libraries the audition's scores need in the worker's Python (gpu/requirements-test.txt installs them).
SCORING_LIBRARIES = ("resemblyzer", "librosa", "speechmos")


def missing_scoring_library():
    """The first scoring library the worker's Python (this one) cannot import, or None."""
    for name in SCORING_LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError as error:
            return f"{name} ({error})"
    return None


def ffprobe_path(ffmpeg):
    """FFPROBE_PATH (as the CLI reads it), else the ffprobe beside ffmpeg, else PATH's."""
    if os.environ.get("FFPROBE_PATH"):
        return os.environ["FFPROBE_PATH"]
    sibling = os.path.join(os.path.dirname(ffmpeg), "ffprobe")
    return sibling if os.path.isfile(sibling) else shutil.which("ffprobe")


def probe_audio(ffprobe, path):
    """(sample rate, channels, seconds, codec) as ffprobe reads them."""
    proc = subprocess.run(
        [ffprobe, "-v", "error", "-select_streams", "a:0", "-show_entries",
         "stream=sample_rate,channels,codec_name:format=duration", "-of", "json", path],
        stdout=subprocess.PIPE, text=True, check=True,
    )
    data = json.loads(proc.stdout)
    stream = data["streams"][0]
    return (int(stream["sample_rate"]), int(stream["channels"]), float(data["format"]["duration"]),
            stream["codec_name"])


# ------------------------------------------------------------- processes ----
def child_pids(pid):
    """Every live descendant of pid (from /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "r", encoding="utf-8", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def kill_groups(pids):
    """SIGKILL the process groups of pids (Applio's scripts run in their own sessions)."""
    groups = set()
    for pid in pids:
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            continue
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Job:
    """One `handler.py --local-job` run: its result, progress payloads and log lines."""

    def __init__(self, result, progress, logs, seconds):
        self.result, self.progress, self.logs, self.seconds = result, progress, logs, seconds

    def stages(self):
        return [p["stage"] for p in self.progress]

    def epochs(self):
        return [p for p in self.progress if p["stage"] == "train" and p.get("step")]


def run_job(env, job_input, job_id, on_log=None):
    """Run one job through the handler as a client would, echoing its stages; on_log(line,
    handler_pid) sees every log line as it arrives."""
    path = os.path.join(env.root, f"{job_id}.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"id": job_id, "input": job_input}, fh)
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, HANDLER, "--local-job", path], env=env.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def on_timeout():
        say(f"{job_id}: no result after {JOB_TIMEOUT_SECONDS} s; killing it")
        kill_groups(child_pids(proc.pid))
        proc.kill()

    watchdog = threading.Timer(JOB_TIMEOUT_SECONDS, on_timeout)
    watchdog.start()
    progress, logs = [], []
    try:
        last_stage = None
        for raw in proc.stderr:
            try:
                obj = json.loads(raw)
            except ValueError:
                logs.append(raw.rstrip())
                continue
            if "progress" in obj:
                payload = obj["progress"]
                progress.append(payload)
                if payload["stage"] != last_stage or payload.get("step"):
                    say(f"{job_id} {time.monotonic() - started:7.1f} s  {payload['stage']}: {payload['message']}")
                last_stage = payload["stage"]
            elif "log" in obj:
                logs.append(obj["log"])
                if on_log:
                    on_log(obj["log"], proc.pid)
        output = proc.stdout.read()
        proc.wait()
    finally:
        watchdog.cancel()
        kill_groups(child_pids(proc.pid))
        proc.stdout.close()
        proc.stderr.close()
    seconds = time.monotonic() - started
    result = json.loads(output)
    say(f"{job_id} done in {seconds:.1f} s: "
        + (f"error: {result['error'].splitlines()[0][:200]}" if "error" in result else "ok"))
    return Job(result, progress, logs, seconds)


# ------------------------------------------------------------------ tests ----
@unittest.skipIf(APPLIO_DIR is None, SKIP_REASON)
class RealApplioCpuTests(unittest.TestCase):
    """setUpClass trains (killed, then resumed); the tests check what that left, then convert
    and try a dataset Applio cannot read. Names are numbered to keep the report in order."""

    steps = []  # (step, seconds, note) for the summary

    @classmethod
    def setUpClass(cls):
        cls.check_prerequisites()
        cls.env = WorkerEnv(with_applio=False)
        say(f"scratch folder: {cls.env.root}" + (" (kept)" if KEEP else ""))
        try:
            cls.prepare_applio()
            cls.env.extra_env = {"APPLIO_PYTHON": APPLIO_PYTHON, "VOICESTUDIO_ALLOW_CPU": "1"}
            cls.make_dataset()
            job_input = cls.train_input(RUN_ID, cls.dataset)
            cls.killed = {}
            cls.crashed = run_job(cls.env, job_input, "train-1", on_log=cls.kill_after_first_save)
            cls.record("train: preprocess, extract, epoch 1, killed in epoch 2", cls.crashed.seconds)
            cls.resumed = run_job(cls.env, job_input, "train-2")
            cls.record("train again: resume, epoch 2, index", cls.resumed.seconds)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        from vsworker.converter import stop_warm_converter

        stop_warm_converter()
        cls.print_summary()
        if not KEEP:
            cls.env.cleanup()

    @classmethod
    def kill_after_first_save(cls, line, handler_pid):
        """A worker that dies mid-training: once both halves of epoch 1's checkpoint and the
        small weights Applio extracts after them are on disk, SIGKILL train.py's process group
        (its DataLoader and spawned trainer). A kill between the two would lose epoch 1's
        weights for good (the resumed run starts at epoch 2), and audition needs them."""
        if cls.killed or not FIRST_WEIGHTS_RE.match(line):
            return
        trainers = [pid for pid in child_pids(handler_pid) if "rvc/train/train.py" in cmdline(pid)]
        cls.killed["pids"] = trainers
        say(f"killing Applio's training (pids {trainers}) after the checkpoint and weights of epoch 1")
        kill_groups(trainers)

    # ---- setup ---------------------------------------------------------------
    @classmethod
    def check_prerequisites(cls):
        problems = []
        if not os.path.isfile(os.path.join(APPLIO_DIR, "rvc", "train", "train.py")):
            problems.append(f"{APPLIO_DIR} is not an Applio checkout (no rvc/train/train.py)")
        else:
            with open(os.path.join(APPLIO_DIR, "assets", "config_template.json"), encoding="utf-8") as fh:
                version = json.load(fh).get("version")
            if version != APPLIO_VERSION:
                problems.append(f"{APPLIO_DIR} is Applio {version}; the worker drives {APPLIO_VERSION}")
        if not APPLIO_PYTHON or not shutil.which(APPLIO_PYTHON):
            problems.append(f"Applio's Python {APPLIO_PYTHON} is not executable: pass --python or set "
                            "VOICESTUDIO_APPLIO_PYTHON")
        cls.ffmpeg = find_ffmpeg()
        cls.ffprobe = cls.ffmpeg and ffprobe_path(cls.ffmpeg)
        if not cls.ffmpeg or not cls.ffprobe:
            problems.append("ffmpeg/ffprobe not found: set FFMPEG_PATH or put them on PATH")
        if not shutil.which("espeak-ng"):
            problems.append("espeak-ng not found (it speaks the speech clips): install it")
        if problems:
            raise RuntimeError("cannot run the real-Applio suite: " + "; ".join(problems))

    @classmethod
    def prepare_applio(cls):
        """A scratch copy of the checkout (code and shipped data only), plus random weights."""
        started = time.monotonic()
        source = os.path.realpath(APPLIO_DIR)

        def ignore(folder, names):
            rel = os.path.relpath(folder, source)
            skip = {"__pycache__", ".git"}
            if rel == ".":
                skip |= {".venv", "venv", "env"}
            elif rel == "logs":  # what Applio ships, not the user's own models
                skip |= {n for n in names if not (n.startswith("mute") or n == "reference")}
            elif rel == "assets":
                skip.add("config.json")  # the worker creates it from the template, as in a fresh image
            elif rel == os.path.join("rvc", "models"):
                skip |= {"embedders", "predictors", "pretraineds"}  # generated below
            return skip & set(names)

        shutil.copytree(source, cls.env.applio, ignore=ignore, symlinks=True)
        proc = subprocess.run(
            [APPLIO_PYTHON, os.path.join(HERE, "make_weights.py"), cls.env.applio,
             "--sample-rates", str(SAMPLE_RATE)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"make_weights.py failed:\n{proc.stdout[-3000:]}")
        versions = subprocess.run([APPLIO_PYTHON, "-c", VERSIONS_PROBE], stdout=subprocess.PIPE,
                                  text=True, check=True)
        cls.versions = json.loads(versions.stdout.strip().splitlines()[-1])
        cls.versions["Applio"] = APPLIO_VERSION
        cls.versions["worker python"] = platform.python_version()
        cls.versions["ffmpeg"] = subprocess.run(
            [cls.ffmpeg, "-version"], stdout=subprocess.PIPE, text=True).stdout.split(" Copyright")[0]
        say("versions: " + ", ".join(f"{k} {v}" for k, v in cls.versions.items()))
        cls.record("copy Applio, make random weights", time.monotonic() - started)

    @classmethod
    def make_dataset(cls):
        """About a minute of audio as the CLI sends it (FLAC at the training rate), plus a
        file with an audio extension that no decoder can read."""
        started = time.monotonic()
        folder = os.path.join(cls.env.root, "dataset")
        os.makedirs(folder)
        files = {}
        for index, melody in enumerate(MELODIES, 1):
            path = os.path.join(folder, f"sung{index}.flac")
            make_singing(cls.ffmpeg, path, melody, 0.5, SAMPLE_RATE, ["-c:a", "flac"])
            files[f"singing/sung{index}.flac"] = path
        for index, (voice, pitch, text) in enumerate(SPEECH, 1):
            path = os.path.join(folder, f"spoken{index}.flac")
            make_speech(cls.ffmpeg, path, text, voice, pitch, SAMPLE_RATE)
            files[f"speech/spoken{index}.flac"] = path
        contents, seconds = {}, 0.0
        for name, path in files.items():
            seconds += probe_audio(cls.ffprobe, path)[2]
            with open(path, "rb") as fh:
                contents[name] = fh.read()
        cls.readable_seconds = seconds
        cls.dataset_clips = contents
        cls.dataset_files = len(files) + 1
        cls.unreadable = b"fLaC" + b"\x00 this is not a FLAC stream " * 64
        cls.dataset = tar_bytes(dict(contents, **{"speech/cut-short.flac": cls.unreadable}))
        cls.record(f"generate the dataset ({seconds:.1f} s of audio in {len(files)} clips, "
                   "+1 unreadable)", time.monotonic() - started)

    @staticmethod
    def train_input(run_id, data):
        return dict({"task": "train", "run_id": run_id, "dataset": {"data": b64(data)},
                     "sample_rate": SAMPLE_RATE, "epochs": EPOCHS, "save_every": 1,
                     "batch_size": BATCH_SIZE}, **CUT)

    @classmethod
    def record(cls, step, seconds, note=""):
        cls.steps.append((step, seconds, note))

    @classmethod
    def print_summary(cls):
        lines = ["", "real Applio 3.6.4 on the CPU:"]
        lines += [f"  {seconds:8.1f} s  {step}" + (f"  ({note})" if note else "")
                  for step, seconds, note in cls.steps]
        if getattr(cls, "versions", None):
            lines.append("  versions: " + ", ".join(f"{k} {v}" for k, v in cls.versions.items()))
        print("\n".join(lines), file=sys.stderr, flush=True)

    # ---- helpers ---------------------------------------------------------------
    def exp(self, *parts, run_id=RUN_ID):
        return os.path.join(self.env.volume, "voicestudio", "runs", run_id, "applio", *parts)

    def train_log_epochs(self):
        """(epoch, step, seconds) of every epoch line Applio wrote, over both attempts."""
        path = os.path.join(self.env.volume, "voicestudio", "runs", RUN_ID, "logs", "train.log")
        found = []
        with open(path, "r", encoding="utf-8") as fh:
            for line in fh:
                match = EPOCH_LINE_RE.match(line.strip())
                if match and match.group("run") == RUN_ID:
                    speed = int(match.group("h")) * 3600 + int(match.group("m")) * 60 + int(match.group("s"))
                    found.append((int(match.group("epoch")), int(match.group("step")), speed))
        return found

    def inspect(self, model_path, index_path):
        proc = subprocess.run([APPLIO_PYTHON, "-c", INSPECT_PROBE, self.exp(), model_path, index_path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def finished(self):
        self.assertNotIn("error", self.resumed.result, self.resumed.result.get("error"))
        return self.resumed.result

    def blob_path(self, sha):
        return os.path.join(self.env.volume, "voicestudio", "blobs", sha[:2], sha)

    # ---- 1: the killed training -----------------------------------------------------
    def test_1_killed_training_fails_quoting_applio(self):
        self.assertTrue(self.killed.get("pids"), "train.py was never seen running")
        self.assertEqual(self.crashed.stages()[:4], ["unpack", "preprocess", "extract", "train"])
        error = self.crashed.result.get("error")
        self.assertIsNotNone(error, self.crashed.result)
        self.assertIn("training stopped without writing the final model", error)
        self.assertIn("Applio exit code -9, last epoch reported: 1", error)
        self.assertIn("submitting the same job again resumes it", error)
        quoted = [line[4:] for line in error.splitlines() if line.startswith("  > ")]
        self.assertTrue(any(re.match(r"Saved model '.*D_\d+\.pth' \(epoch 1\)$", q) for q in quoted), error)
        self.assertTrue(any(re.match(rf"{RUN_ID} \| epoch=1 \| step=\d+ \| ", q) for q in quoted), error)

    # ---- 2: the same job again -------------------------------------------------------
    def test_2_the_same_job_resumes_from_the_checkpoint(self):
        result = self.finished()
        self.assertEqual(result["status"], "finished")
        self.assertEqual(result["training"]["resumed_from_epoch"], 1)
        self.assertEqual(result["training"]["epochs"], EPOCHS)
        # Only training and the index ran again: the earlier stages were recorded as done.
        self.assertEqual(sorted(set(self.resumed.stages())), ["index", "train"])
        self.assertEqual(next(u for u in self.resumed.progress if u["stage"] == "train")["message"],
                         "resuming from the checkpoint of epoch 1")
        self.assertTrue(any(re.match(r"\[train\] Loaded checkpoint '.*G_\d+\.pth' \(epoch 1\)$", line)
                            for line in self.resumed.logs), "train.py loaded epoch 1's checkpoint")

    def test_2_progress_is_parsed_from_train_py(self):
        result = self.finished()
        logged = self.train_log_epochs()
        self.assertEqual([epoch for epoch, _, _ in logged], [1, 2], "epoch lines in train.log")
        updates = self.crashed.epochs() + self.resumed.epochs()
        self.assertEqual([(u["epoch"], u["step"]) for u in updates], [(e, s) for e, s, _ in logged])
        for update, (_, _, speed) in zip(updates, logged):
            self.assertEqual(update["epochs"], EPOCHS)
            # Each attempt's first epoch: its own training_speed (whole seconds; 0 on a fast GPU).
            self.assertEqual(update["seconds_per_epoch"], speed)
            self.assertEqual(update["eta_seconds"], speed * (EPOCHS - update["epoch"]))
        training = result["training"]
        self.assertEqual(training["seconds_per_epoch"], logged[-1][2], "the mean of the last attempt")
        self.assertEqual(training["steps"], logged[-1][1])
        self.assertEqual(training["sample_rate"], SAMPLE_RATE)
        self.assertEqual(training["dataset_files"], self.dataset_files)
        # Applio measures what it could read; the unreadable file adds nothing.
        self.assertAlmostEqual(training["dataset_seconds"], self.readable_seconds, delta=0.5)
        for stage in ("unpack", "preprocess", "extract", "train", "index", "total"):
            self.assertGreater(result["timings"][stage], 0, stage)
        for epoch, step, speed in logged:
            self.record(f"  epoch {epoch} (Applio's training_speed)", speed,
                        f"{step // epoch} steps of batch {BATCH_SIZE}, {training['slices']} slices")

    def test_2_warns_about_the_unreadable_clip_in_applio_words(self):
        warnings = self.finished()["warnings"]
        unreadable = [w for w in warnings if "could not read" in w]
        self.assertEqual(len(unreadable), 1, warnings)
        self.assertIn(f"Applio could not read 1 of the {self.dataset_files} dataset file(s)", unreadable[0])
        self.assertIn("Error processing audio: An error occurred loading the audio: ", unreadable[0])

    # ---- 3: what training left -------------------------------------------------------
    def test_3_checkpoints_model_and_index(self):
        result = self.finished()
        steps = result["training"]["steps"]
        model_name = f"{RUN_ID}_{EPOCHS}e_{steps}s.pth"
        self.assertEqual(result["model"]["filename"], model_name)
        self.assertEqual(result["index"]["filename"], f"{RUN_ID}.index")
        for key in ("model", "index"):
            with open(self.blob_path(result[key]["sha256"]), "rb") as fh:
                data = fh.read()
            self.assertEqual((sha256(data), len(data)), (result[key]["sha256"], result[key]["size"]))
        # Every epoch wrote a G_/D_ pair (save_every 1); after success one pair is kept.
        saved = [m.group("kind") + m.group("epoch") for m in
                 map(SAVED_RE.match, self.crashed.logs + self.resumed.logs) if m]
        self.assertEqual(saved, ["G1", "D1", "G2", "D2"])
        facts = self.inspect(self.exp(model_name), self.exp(f"{RUN_ID}.index"))
        self.assertEqual(facts["checkpoints"], {f"D_{steps}.pth": EPOCHS, f"G_{steps}.pth": EPOCHS})
        self.assertEqual(checkpoint_epoch(self.exp(f"D_{steps}.pth"), "D"), EPOCHS)
        # The final model as torch reads it, and as the worker's torch-free reader does.
        model = facts["model"]
        self.assertEqual((model["sr"], model["config_sample_rate"], model["f0"], model["version"]),
                         (SAMPLE_RATE, SAMPLE_RATE, True, "v2"))
        self.assertEqual((model["epoch"], model["step"], model["model_name"]), (EPOCHS, steps, RUN_ID))
        self.assertEqual((model["embedder_model"], model["vocoder"]), ("contentvec", "HiFi-GAN"))
        self.assertGreater(model["tensors"], 100)
        meta = rvc_model_info(self.exp(model_name), model_name)
        self.assertEqual(
            (meta["sample_rate"], meta["embedder"], meta["vocoder"], meta["epochs"], meta["steps"],
             meta["version"], meta["f0"], meta["model_name"]),
            (SAMPLE_RATE, "contentvec", "HiFi-GAN", EPOCHS, steps, "v2", True, RUN_ID),
        )
        self.assertEqual((result["training"]["embedder"], result["training"]["vocoder"]),
                         ("contentvec", "HiFi-GAN"))
        # The index holds every extracted feature row (Auto is Faiss below 200 000 rows);
        # ContentVec gives 50 rows per second of 16 kHz audio.
        self.assertEqual(facts["index"]["d"], 768)
        self.assertEqual(facts["index"]["ntotal"], facts["feature_rows"])
        self.assertGreater(facts["feature_rows"], 40 * self.readable_seconds)

    # ---- 4: convert ----------------------------------------------------------------
    def test_4_convert_with_rmvpe_then_crepe_tiny(self):
        result = self.finished()
        source = os.path.join(self.env.root, "guide.wav")
        make_singing(self.ffmpeg, source, CONVERT_MELODY, CONVERT_SECONDS / len(CONVERT_MELODY),
                     CONVERT_INPUT_RATE, ["-c:a", "pcm_s16le"])
        with open(source, "rb") as fh:
            guide = fh.read()
        jobs = []
        for method in ("rmvpe", "crepe-tiny"):
            started = time.monotonic()
            # In-process, so the second job finds the warm conversion process of the first.
            job, reporter = self.env.run({
                "task": "convert", "model": {"blob": result["model"]["sha256"]},
                "index": {"blob": result["index"]["sha256"]}, "input": {"data": b64(guide)},
                "f0_method": method, "output_mode": "inline",
            }, job_id=f"convert-{method}")
            seconds = time.monotonic() - started
            self.assertNotIn("error", job, job.get("error"))
            self.assertEqual((job["settings"]["f0_method"], job["settings"]["index_rate"]), (method, 0.3))
            self.assertEqual((job["model"]["sample_rate"], job["model"]["embedder"]), (SAMPLE_RATE, "contentvec"))
            # One progress update, and only while a model loads: none right before a warm conversion's result.
            self.assertEqual([u["stage"] for u in reporter.updates], [] if job["model"]["warm"] else ["convert"])
            path = os.path.join(self.env.root, f"converted-{method}.wav")
            with open(path, "wb") as fh:
                fh.write(base64.b64decode(job["output"]["data"]))
            rate, channels, duration, codec = probe_audio(self.ffprobe, path)
            self.assertEqual((rate, channels, codec), (SAMPLE_RATE, 1, "pcm_s16le"))
            self.assertAlmostEqual(duration, CONVERT_SECONDS, delta=0.05)
            self.assertEqual(job["output"]["sample_rate"], SAMPLE_RATE)
            self.assertAlmostEqual(job["output"]["duration_seconds"], duration, delta=0.01)
            with wave.open(path) as wav:
                self.assertTrue(any(wav.readframes(wav.getnframes())), "the converted audio is all zeros")
            jobs.append(job)
            self.record(f"convert {CONVERT_SECONDS:.0f} s with {method}", seconds,
                        f"Applio {job['timings']['convert']:.1f} s, real-time factor "
                        f"{job['timings']['convert'] / CONVERT_SECONDS:.1f}, warm model: {job['model']['warm']}")
        # The second conversion reuses the voice model the warm process loaded.
        self.assertEqual([job["model"]["warm"] for job in jobs], [False, True])

    # ---- 5: a dataset Applio cannot read ----------------------------------------------
    def test_5_unreadable_dataset_fails_quoting_applio(self):
        data = tar_bytes({"take.flac": self.unreadable})
        job = run_job(self.env, self.train_input(UNREADABLE_RUN_ID, data), "train-unreadable")
        self.record("train on a dataset Applio cannot read (fails in preprocess)", job.seconds)
        error = job.result.get("error")
        self.assertIsNotNone(error, job.result)
        self.assertIn("Applio preprocess produced no sliced audio", error)
        quoted = [line[4:] for line in error.splitlines() if line.startswith("  > ")]
        self.assertTrue(any(q.startswith("Error processing audio: An error occurred loading the audio: ")
                            for q in quoted), error)
        self.assertNotIn("extract", job.stages())
        self.assertEqual(glob.glob(self.exp("sliced_audios", "*.wav", run_id=UNREADABLE_RUN_ID)), [])

    # ---- 6: audition over the saved epochs ---------------------------------------------
    def test_6_audition_over_saved_epochs(self):
        result = self.finished()
        missing = missing_scoring_library()
        if missing:
            self.skipTest(f"the worker's Python {sys.executable} cannot import {missing}: run with "
                          "PYTHON=$(npm run --silent setup:python) "
                          "npm run test:applio -- ...")
        # save_every 1: each epoch's small model is a blob; epoch 1's was written by the killed attempt.
        saved = result["saved_epochs"]
        self.assertEqual([s["epoch"] for s in saved], list(range(1, EPOCHS + 1)))
        self.assertEqual(saved[-1]["sha256"], result["model"]["sha256"])
        for entry in saved:
            self.assertEqual(entry["blob"], entry["sha256"])
            with open(self.blob_path(entry["sha256"]), "rb") as fh:
                data = fh.read()
            self.assertEqual((sha256(data), len(data)), (entry["sha256"], entry["size"]))
            self.assertRegex(entry["filename"], rf"^{RUN_ID}_{entry['epoch']}e_{entry['step']}s\.pth$")

        spoken = os.path.join(self.env.root, "audition-spoken.flac")
        make_speech(self.ffmpeg, spoken, AUDITION_SPEECH[2], AUDITION_SPEECH[0], AUDITION_SPEECH[1],
                    CONVERT_INPUT_RATE)
        sung = os.path.join(self.env.root, "audition-sung.wav")
        make_singing(self.ffmpeg, sung, AUDITION_MELODY, 0.5, CONVERT_INPUT_RATE, ["-c:a", "pcm_s16le"])
        guides = [spoken, sung]
        guide_seconds = [probe_audio(self.ffprobe, path)[2] for path in guides]
        guide_refs = []
        for path in guides:
            with open(path, "rb") as fh:
                guide_refs.append({"data": b64(fh.read())})
        started = time.monotonic()
        # In-process, as convert: the warm conversion process loads each epoch's model in turn.
        job, reporter = self.env.run({
            "task": "audition",
            "epochs": [{"epoch": s["epoch"], "model": {"blob": s["blob"]}} for s in saved],
            "index": {"blob": result["index"]["sha256"]},
            "guides": guide_refs,
            "singer_clips": [{"data": b64(data)} for data in self.dataset_clips.values()],
            "f0_method": "rmvpe",
        }, job_id="audition")
        seconds = time.monotonic() - started
        self.assertNotIn("error", job, job.get("error"))
        self.assertEqual([u["epoch"] for u in reporter.updates if u["stage"] == "epoch"],
                         [s["epoch"] for s in saved])
        self.assertEqual(job["singer"]["clips"], len(self.dataset_clips))
        self.assertAlmostEqual(job["singer"]["seconds"], self.readable_seconds, delta=0.5)
        self.assertEqual([g["guide"] for g in job["guides"]], list(range(len(guides))))
        for guide, duration in zip(job["guides"], guide_seconds):
            self.assertAlmostEqual(guide["duration_seconds"], duration, delta=0.05)
            self.assert_similarity(guide["similarity"])

        self.assertEqual([(e["epoch"], e["model_sha256"]) for e in job["epochs"]],
                         [(s["epoch"], s["sha256"]) for s in saved])
        for epoch in job["epochs"]:
            self.assert_similarity(epoch["similarity"])
            self.assertTrue(0.0 <= epoch["voicing_agreement"] <= 1.0, epoch)
            self.assert_cents(epoch["f0_rmse_cents"])
            self.assertEqual([p["guide"] for p in epoch["phrases"]], list(range(len(guides))))
            for phrase, duration in zip(epoch["phrases"], guide_seconds):
                self.assert_similarity(phrase["similarity"])
                self.assertTrue(0.0 <= phrase["voicing_agreement"] <= 1.0, phrase)
                self.assert_cents(phrase["f0_rmse_cents"])
                output = phrase["output"]
                # A few seconds of FLAC per phrase: "auto" sends them inline.
                data = base64.b64decode(output["data"])
                self.assertEqual((sha256(data), len(data)), (output["sha256"], output["size"]))
                path = os.path.join(self.env.root, f"audition-e{epoch['epoch']}-g{phrase['guide']}.flac")
                with open(path, "wb") as fh:
                    fh.write(data)
                rate, channels, seconds_out, codec = probe_audio(self.ffprobe, path)
                self.assertEqual((rate, channels, codec), (SAMPLE_RATE, 1, "flac"))
                self.assertEqual((output["format"], output["sample_rate"]), ("flac", SAMPLE_RATE))
                self.assertAlmostEqual(seconds_out, duration, delta=0.05)
                self.assertAlmostEqual(output["duration_seconds"], seconds_out, delta=0.01)

        recommendation = job["recommendation"]
        self.assertIn(recommendation["epoch"], [s["epoch"] for s in saved])
        self.assertIn(f"epoch {recommendation['epoch']}", recommendation["reason"])
        self.assertEqual(job["scoring"]["device"], "cpu")
        self.assertGreater(job["timings"]["convert"], 0)
        self.assertGreaterEqual(job["timings"]["total"], job["timings"]["convert"])
        self.record(f"audition: {len(saved)} epochs x {len(guides)} phrases ({sum(guide_seconds):.1f} s)", seconds,
                    f"conversions {job['timings']['convert']:.1f} s, worker total {job['timings']['total']:.1f} s; "
                    f"recommends epoch {recommendation['epoch']}")

    def assert_similarity(self, value):
        self.assertTrue(isinstance(value, float) and math.isfinite(value) and -1.0 <= value <= 1.0, value)

    def assert_cents(self, value):
        if value is not None:
            self.assertTrue(isinstance(value, (int, float)) and math.isfinite(value) and value >= 0, value)


if __name__ == "__main__":
    unittest.main()
