"""The G_/D_ checkpoints and final models in a run's Applio folder: which pairs are complete
(read from the files, not their names), which one Applio will resume from, pruning older pairs,
finding the final <run>_<E>e_<S>s.pth, and setting aside files the worker cannot read."""

import glob
import os
import re

from .errors import JobError
from .pthmeta import PthError, checkpoint_epoch, rvc_model_info

KEEP_CHECKPOINT_PAIRS = 2  # the newest pair may be half-written when a worker dies
FINAL_MODEL_RE = r"{name}_(\d+)e_(\d+)s\.pth"
CHECKPOINT_RE = re.compile(r"([GD])_(\d+)\.pth")
# A file the worker cannot parse may still be good (a format it does not know): it is renamed
# to <name>.unreadable-<n>, which neither Applio's nor the worker's *.pth globs match, never deleted.
UNREADABLE_SUFFIX = ".unreadable-"


class Checkpoints:
    def __init__(self, exp_dir, run_id, log):
        self.exp_dir = exp_dir
        self.run_id = run_id
        self.log = log
        self.moved_aside = []  # (checkpoint names, names set aside, reasons), for the job's warnings

    def exp(self, *parts):
        return os.path.join(self.exp_dir, *parts)

    def files(self):
        """Every checkpoint and model file of the train stage, set-aside ones included."""
        paths = glob.glob(self.exp("G_*.pth")) + glob.glob(self.exp("D_*.pth"))
        paths += glob.glob(self.exp(f"{self.run_id}_*e_*s.pth"))
        # Set-aside files belong to the checkpoints being invalidated; they are no use to the new ones.
        paths += self.set_aside_checkpoints() + glob.glob(self.exp(f"{self.run_id}_*e_*s.pth{UNREADABLE_SUFFIX}*"))
        return paths

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
                self.log(f"moved aside unreadable checkpoint {', '.join(names)} as "
                                      f"{', '.join(moved)}: {'; '.join(unreadable)}")
                self.moved_aside.append((names, moved, unreadable))
            elif repair:
                for path in entry.values():
                    self.log(f"removing incomplete checkpoint {path}")
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
                self.log(
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
                    self.log(f"ignoring unreadable model {path}: {exc}")
                    continue
                return {"epoch": epoch, "step": step, "path": path, "info": info}
        return None

    def drop_unreadable_final_models(self):
        """Applio writes <run>_<E>e_<S>s.pth only when no file of that name exists
        (train.py: `if not os.path.exists(m)`), and a retry reaches the same name. A
        model cut short by a dying worker or a full volume must make way, or it never
        gets written again; it is moved aside, not deleted (see UNREADABLE_SUFFIX).
        Returns a warning for the job per model moved aside."""
        warnings = []
        for _, _, path in self.final_models():
            try:
                rvc_model_info(path, os.path.basename(path))
            except PthError as exc:
                moved = self.move_aside(path)
                self.log(f"moved aside the unreadable model {path} as {moved}: {exc}")
                warnings.append(f"the model {os.path.basename(path)} could not be read ({exc}); it was "
                                f"moved aside as {moved} and written again")
        return warnings
