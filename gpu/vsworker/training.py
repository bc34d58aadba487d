"""The `train` task: dataset archive → Applio preprocess → extract → train → index.

A run lives on the volume in <volume>/voicestudio/runs/<run_id>/ and is linked
into Applio as APPLIO_DIR/logs/<run_id> (train.py only looks under cwd/logs).
Its state.json (run_state.py) records, per stage, a fingerprint of everything the
stage's output depends on (train_request.py). A retried or re-submitted job skips
stages whose fingerprint still matches, resumes extraction and training where they
stopped (Applio skips extracted files and resumes from the newest G_/D_ checkpoint,
checkpoints.py), and wipes a stage's output, and everything derived from it, when
its inputs changed. The stages themselves are in stages.py; this module runs them in
order under the run's lease and assembles the result.
"""

import os

from .hardware import require_cuda
from .lease import RunBusy, RunLease
from .stages import TrainingStages
from .train_request import fingerprints, parse_request


class TrainingRun(TrainingStages):
    """One train job: the stages in order, skipped or resumed as state.json allows, then the result."""

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
            self.state.load()
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
        result = self.state.data.get("result")
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
        facts = self.state.data.setdefault("facts", {})

        # unpack
        if not (self.state.done("unpack", fps["unpack"]) and os.path.isdir(self.dataset_dir)):
            self.invalidate("unpack")
            archive = req.dataset.local_path(self.ctx, self.ctx.scratch("dataset"), "dataset.archive")
            facts["dataset"] = self.run_unpack(archive)
            self.state.mark("unpack", fps["unpack"], "done")
        # preprocess (not incremental: always from a clean slate)
        if not self.state.done("preprocess", fps["preprocess"]):
            self.invalidate("preprocess")
            self.state.mark("preprocess", fps["preprocess"], "running")
            facts["preprocess"] = self.run_preprocess()
            self.state.mark("preprocess", fps["preprocess"], "done")
        unreadable = facts.get("preprocess", {}).get("unreadable")
        if unreadable:
            self.warnings.append(
                f"Applio could not read {unreadable} of the {facts.get('dataset', {}).get('files')} dataset "
                f"file(s) and left them out (logs/preprocess.log has the details), e.g. "
                f"{facts['preprocess'].get('unreadable_example')!r}"
            )
        self.check_slice_lengths()
        # extract (resumable: Applio skips finished files)
        if not self.state.done("extract", fps["extract"]):
            entry = self.state.stage("extract")
            resuming = bool(entry) and entry.get("fp") == fps["extract"]
            if not resuming:
                self.invalidate("extract")
            self.state.mark("extract", fps["extract"], "running")
            facts["extract"] = self.run_extract(resuming)
            self.state.mark("extract", fps["extract"], "done")
        self.check_index_algorithm()
        # train (resumable from G_/D_ checkpoints)
        final, resumed_from, speeds = self.run_train(fps["train"])
        self.state.mark("train", fps["train"], "done", epochs=final["epoch"], steps=final["step"],
                  model_file=os.path.basename(final["path"]))
        if speeds:
            facts["seconds_per_epoch"] = round(sum(speeds) / len(speeds), 3)
        # index
        index_path = self.exp(f"{self.run_id}.index")
        if not (self.state.done("index", fps["index"]) and os.path.isfile(index_path)):
            self.invalidate("index")
            self.state.mark("index", fps["index"], "running")
            index_path = self.run_index()
            self.state.mark("index", fps["index"], "done")

        # Storing the blobs takes seconds; a progress update this close to the result
        # could reach RunPod after it (see execute).
        model_sha, model_size = self.store.ingest_file(final["path"])
        index_sha, index_size = self.store.ingest_file(index_path)
        saved_epochs = self.store_saved_epochs(final, model_sha, model_size)
        # Keep one checkpoint pair so the run can be extended with more epochs later.
        self.checkpoints.prune_pairs(1)

        timings = dict(self.state.data.get("timings", {}))
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
                "dataset_excluded": facts.get("dataset", {}).get("excluded", 0),
                "dataset_seconds": facts.get("preprocess", {}).get("dataset_seconds"),
                "slices": facts.get("preprocess", {}).get("slices"),
                "resumed_from_epoch": resumed_from,
                "seconds_per_epoch": facts.get("seconds_per_epoch"),
            },
            "saved_epochs": saved_epochs,
            "timings": timings,
            "warnings": self.warnings,
        }
        stored = dict(result)
        stored["fingerprints"] = {"train": fps["train"], "index": fps["index"]}
        self.state.data["result"] = stored
        self.state.save()
        return result


    def store_saved_epochs(self, final, model_sha, model_size):
        """The inference model Applio writes every save_every epochs becomes a blob, listed with its epoch so
        audition can compare them; the run's files are then removed (the blob store holds them). Epochs saved by
        an earlier job of this run (one later extended) stay listed while their blobs exist."""
        saved = {int(epoch): entry for epoch, entry in self.state.data.get("saved_epochs", {}).items()}
        for epoch, step, path in self.checkpoints.final_models():
            if path == final["path"]:
                sha, size = model_sha, model_size
            elif epoch == final["epoch"]:
                continue
            else:
                sha, size = self.store.ingest_file(path)
                os.unlink(path)
            saved[epoch] = {"epoch": epoch, "step": step, "sha256": sha, "size": size, "blob": sha,
                            "filename": os.path.basename(path)}
        kept = {epoch: entry for epoch, entry in saved.items()
                if epoch <= final["epoch"] and self.store.size_of(entry["sha256"]) is not None}
        self.state.data["saved_epochs"] = {str(epoch): entry for epoch, entry in kept.items()}
        return [kept[epoch] for epoch in sorted(kept)]


def train_task(ctx, fields):
    req = parse_request(fields)
    return TrainingRun(ctx, req).execute()
