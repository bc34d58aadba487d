"""A training run's state.json, written atomically: per stage, the fingerprint of everything
its output depends on and whether it finished, the time each stage took, what earlier stages
found out (facts) and the finished result. A stage whose fingerprint still matches is skipped;
one whose inputs changed has its output wiped, and with it the output of every stage derived
from it (DEPENDENTS): a new dataset therefore also deletes the stale index, which Applio would
otherwise keep because it skips an existing <model>.index."""

import json
import os
import shutil
import uuid

STAGES = ("unpack", "preprocess", "extract", "train", "index")
DEPENDENTS = {
    "unpack": ("preprocess",),
    "preprocess": ("extract",),
    "extract": ("train", "index"),
    "train": (),
    "index": (),
}
STATE_VERSION = 1


class RunState:
    def __init__(self, run_dir, run_id, log):
        self.run_dir = run_dir
        self.run_id = run_id
        self.path = os.path.join(run_dir, "state.json")
        self.log = log
        self.data = None

    def load(self):
        self.data = self._read()

    def _read(self):
        try:
            with open(self.path, "r", encoding="utf-8") as fh:
                state = json.load(fh)
            if state.get("version") == STATE_VERSION and state.get("run_id") == self.run_id:
                return state
        except FileNotFoundError:
            pass
        except ValueError:
            self.log(f"run {self.run_id}: state.json unreadable; starting over")
        return {"version": STATE_VERSION, "run_id": self.run_id, "stages": {}, "timings": {},
                "result": None}

    def save(self):
        os.makedirs(self.run_dir, exist_ok=True)
        tmp = f"{self.path}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.data, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def stage(self, name):
        return self.data["stages"].get(name)

    def done(self, name, fp):
        entry = self.stage(name)
        return bool(entry) and entry.get("fp") == fp and entry.get("status") == "done"

    def mark(self, name, fp, status, **extra):
        entry = {"fp": fp, "status": status}
        entry.update(extra)
        self.data["stages"][name] = entry
        self.save()

    def add_time(self, name, seconds):
        timings = self.data.setdefault("timings", {})
        timings[name] = round(timings.get(name, 0.0) + seconds, 3)

    def invalidate(self, name, outputs):
        """Deletes the output of stage name and of every stage derived from it (outputs(stage)
        lists a stage's files and folders) and forgets that they ran."""
        for dependent in DEPENDENTS[name]:
            self.invalidate(dependent, outputs)
        for path in outputs(name):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.unlink(path)
        if self.data["stages"].pop(name, None) is not None:
            self.save()
        if name in ("train", "index"):
            self.data["result"] = None
