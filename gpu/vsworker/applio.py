"""Running Applio 3.6.4's scripts and reading what they print.

We call the scripts core.py would call, with the same positional argv
(rvc/train/preprocess/preprocess.py, rvc/train/extract/extract.py,
rvc/train/train.py, rvc/train/process/extract_index.py), always with
cwd = APPLIO_DIR because Applio resolves logs/, assets/ and rvc/ relative to it.
Their exit codes mean little (train.py exits 0 even when training crashed), so
callers judge success by the files produced; this module only runs, captures and
parses.
"""

import collections
import datetime
import os
import re
import signal
import subprocess

from .errors import JobError

PREPROCESS_SCRIPT = os.path.join("rvc", "train", "preprocess", "preprocess.py")
EXTRACT_SCRIPT = os.path.join("rvc", "train", "extract", "extract.py")
TRAIN_SCRIPT = os.path.join("rvc", "train", "train.py")
INDEX_SCRIPT = os.path.join("rvc", "train", "process", "extract_index.py")
INFER_MODULE = os.path.join("rvc", "infer", "infer.py")

# "<model> | epoch=3 | step=42 | time=12:00:01 | training_speed=0:00:31[ | lowest_value=...]"
EPOCH_LINE_RE = re.compile(
    r"^(?P<model>.+?) \| epoch=(?P<epoch>\d+) \| step=(?P<step>\d+) \| "
    r"time=(?P<clock>[0-9:]+) \| training_speed=(?P<speed>[^|]+?)\s*(?:\|.*)?$"
)
# "Saved model '/app/applio/logs/run/G_420.pth' (epoch 10)" (checkpoints only; the
# small model line ends with "(epoch N and step S)" and does not match).
SAVED_CHECKPOINT_RE = re.compile(
    r"^Saved model '(?P<path>.*?(?P<kind>[GD])_(?P<step>\d+)\.pth)' \(epoch (?P<epoch>\d+)\)$"
)
LOADED_CHECKPOINT_RE = re.compile(r"^Loaded checkpoint '(?P<path>.+)' \(epoch (?P<epoch>\d+)\)$")
# tqdm bars (Applio prints one per batch); too noisy to log or quote. tqdm ends a bar
# with "\r", not a newline, so a line printed while a bar is open arrives glued to it
# ("  0%|   | 0/2 [00:00<?, ?it/s]Error processing audio: ..."); what follows the last
# complete bar ("...]") is kept.
PROGRESS_BAR_RE = re.compile(r"\d+%\|.*\|")
GLUED_BAR_RE = re.compile(r"^.*\d+%\|[^|]*\|[^\[]*\[[^\]]*\]")
RELEVANT_RE = re.compile(
    r"error|exception|traceback|failed|not found|no such file|out of memory|"
    r"not enough data|do not match|does not match|killed|cannot|could not|"
    r"expected to be integer|no audio files|no wav file",
    re.IGNORECASE,
)
TAIL_LINES = 400


def parse_duration(text):
    """str(datetime.timedelta) back to seconds: '0:01:23' or '1 day, 2:03:04'."""
    text = text.strip()
    days = 0
    match = re.match(r"^(\d+) days?, (.*)$", text)
    if match:
        days, text = int(match.group(1)), match.group(2)
    parts = text.split(":")
    if len(parts) != 3 or not all(p.replace(".", "", 1).isdigit() for p in parts):
        return None
    hours, minutes, seconds = int(parts[0]), int(parts[1]), float(parts[2])
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def strip_progress_bar(line):
    """The text of an output line without tqdm bars; "" when it was only a bar."""
    line = GLUED_BAR_RE.sub("", line).rstrip()
    return "" if PROGRESS_BAR_RE.search(line) else line


def parse_epoch_line(line):
    match = EPOCH_LINE_RE.match(line.strip())
    if not match:
        return None
    return {
        "model": match.group("model"),
        "epoch": int(match.group("epoch")),
        "step": int(match.group("step")),
        "seconds": parse_duration(match.group("speed")),
    }


class ScriptResult:
    def __init__(self, returncode, lines):
        self.returncode = returncode
        self.lines = list(lines)

    def excerpt(self, max_lines=12, max_chars=3000):
        return quote_lines(self.lines, max_lines, max_chars)


def quote_lines(lines, max_lines=12, max_chars=3000):
    """The lines that explain a failure: matching error keywords, plus the last
    few lines, in their original order."""
    lines = [l for l in lines if l.strip()]
    if not lines:
        return "(Applio printed nothing)"
    tail = set(range(max(0, len(lines) - 5), len(lines)))
    budget = max(0, max_lines - len(tail))
    relevant = [i for i, l in enumerate(lines) if i not in tail and RELEVANT_RE.search(l)]
    chosen = [lines[i] for i in sorted(tail | set(relevant[-budget:] if budget else []))]
    text = "\n".join("  > " + l[:400] for l in chosen)
    return text[-max_chars:]


class ApplioRunner:
    def __init__(self, settings, reporter):
        self.settings = settings
        self.reporter = reporter

    def run_script(self, stage, script, args, log_path=None, on_line=None):
        """Run one Applio script to completion, streaming its output."""
        cmd = [self.settings.applio_python, "-u", script] + [str(a) for a in args]
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"  # also reaches train.py's spawned workers
        self.reporter.log(f"[{stage}] running: {' '.join(cmd)}")
        tail = collections.deque(maxlen=TAIL_LINES)
        log_file = None
        if log_path:
            os.makedirs(os.path.dirname(log_path), exist_ok=True)
            log_file = open(log_path, "a", encoding="utf-8")
            log_file.write(f"--- {datetime.datetime.now().isoformat()} {' '.join(cmd)}\n")
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=self.settings.applio_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                encoding="utf-8",
                errors="replace",
                # Own process group, so a failure here can stop train.py's workers too.
                start_new_session=True,
            )
        except OSError as exc:
            if log_file:
                log_file.close()
            raise JobError(
                f"{stage}: cannot start {self.settings.applio_python} {script}: {exc} "
                "(check APPLIO_PYTHON)"
            ) from None
        try:
            for raw in proc.stdout:  # universal newlines: tqdm's '\r' also ends a line
                line = strip_progress_bar(raw)
                if not line:
                    continue
                tail.append(line)
                if log_file:
                    log_file.write(line + "\n")
                    log_file.flush()
                self.reporter.log(f"[{stage}] {line}")
                if on_line:
                    on_line(line)
            returncode = proc.wait()
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            if proc.stdout:
                proc.stdout.close()
            if log_file:
                log_file.close()
        # Spawned workers that outlive their parent would hold the GPU.
        _kill_group(proc)
        self.reporter.log(f"[{stage}] exited with code {returncode}")
        return ScriptResult(returncode, tail)


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
