"""The train task's stages, each one Applio script run in a subprocess on the run's folder:
unpack (the dataset archive into Applio's speaker folder, converting what Applio cannot read),
preprocess (slicing), extract (pitch and features), train (resumed from the newest readable
G_/D_ checkpoint) and index; with the checks that fail a job early when Applio would fail late
or silently do less, and the setup Applio needs (config.json, pretrained weights, the link from
APPLIO_DIR/logs/<run_id> to the run's folder on the volume). training.py runs them in order."""

import glob
import json
import os
import shutil
import time
import uuid

from . import applio
from .applio_limits import (
    FEATURE_ROWS_PER_SECOND, FLOAT_WAV_HEADER, KMEANS_CLUSTERS, LOADER_BUCKETS, MAX_SLICE_SECONDS,
    MIN_SLICE_SECONDS, MIN_TRAIN_BATCHES, cpu_limit, loader_batches, loader_bucket, loader_length,
    npy_is_complete, npy_rows,
)
from .archive import member_name, unpack
from .audio import APPLIO_AUDIO_EXTENSIONS, CONVERTIBLE_EXTENSIONS, DATASET_AUDIO_EXTENSIONS, to_wav
from .checkpoints import KEEP_CHECKPOINT_PAIRS, Checkpoints
from .converter import stop_warm_converter
from .errors import ConfigError, JobError, ValidationError
from .hardware import SHM_RECOMMENDED_BYTES, extraction_gpus, shm_info
from .run_state import RunState

TASK = "train"


class TrainingStages:
    """One run's folders, state and checkpoints, and its stages; TrainingRun runs them in order."""

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
        self.log_dir = os.path.join(self.run_dir, "logs")
        self.runner = applio.ApplioRunner(self.settings, ctx.reporter, ctx.cancellation)
        self.state = RunState(self.run_dir, self.run_id, ctx.reporter.log)
        self.checkpoints = Checkpoints(self.exp_dir, self.run_id, ctx.reporter.log)
        self.warnings = []

    def progress(self, stage, message, **fields):
        self.ctx.progress(TASK, stage, message, run_id=self.run_id, **fields)

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
            return [self.exp("eval"), self.exp("training_data.json")] + self.checkpoints.files()
        if name == "index":
            return [self.exp(f"{self.run_id}.index")]
        raise KeyError(name)

    def invalidate(self, name):
        self.state.invalidate(name, self.stage_outputs)

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
        exclude = frozenset(self.req.exclude)
        excluded = set()

        def destination(parts):
            name = member_name(parts)
            if name in exclude:
                excluded.add(name)
                return None
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
            skipped = [name for name in skipped if name not in excluded]
            missing = [name for name in self.req.exclude if name not in excluded]
            if missing:
                raise ValidationError(
                    f"input.exclude names {missing[0]!r}, which is not a file of the dataset archive"
                    + (f" (nor are {len(missing) - 1} more of its names)" if len(missing) > 1 else "")
                    + "; exclude only the names the screen task reported for this dataset"
                )
            if not written:
                raise JobError(
                    "input.dataset archive contains no audio files (accepted: "
                    + ", ".join(DATASET_AUDIO_EXTENSIONS) + ")"
                    + (f"; skipped: {', '.join(skipped[:10])}" if skipped else "")
                    + (f"; {len(excluded)} left out by input.exclude" if excluded else "")
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
        self.state.add_time("unpack", elapsed)
        return {"files": len(written), "converted": len(to_convert), "skipped": skipped[:20],
                "excluded": len(excluded)}

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
        self.state.add_time("preprocess", time.monotonic() - started)
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
        self.state.add_time("extract", time.monotonic() - started)
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


    def run_train(self, fp):
        req = self.req
        entry = self.state.stage("train")
        if entry and entry.get("fp") != fp:
            self.invalidate("train")
        elif not entry and (glob.glob(self.exp("G_*.pth")) or self.checkpoints.final_models()):
            # Files without a record (state lost): we cannot tell what produced them.
            self.invalidate("train")

        self.warnings += self.checkpoints.drop_unreadable_final_models()
        pairs = self.checkpoints.checkpoint_pairs(repair=True)
        latest_epoch = pairs[-1][1] if pairs else 0
        finished = max((epoch for epoch, _, _ in self.checkpoints.final_models()), default=0)
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
        final = self.checkpoints.final_model_for(req.epochs)
        if final:
            return final, latest_epoch, []
        if not pairs and self.checkpoints.set_aside_checkpoints():
            raise self.checkpoints.no_readable_checkpoint()
        if pairs and latest_epoch == req.epochs:
            # Checkpoint of the last epoch but no final model: Applio would not train
            # again (the epoch loop is already complete), so redo the last interval.
            self.ctx.reporter.log(
                f"checkpoint at epoch {latest_epoch} has no final model; retraining from the previous checkpoint"
            )
            self.checkpoints.delete_pair(pairs[-1][0])
            pairs = pairs[:-1]
            latest_epoch = pairs[-1][1] if pairs else 0
        pairs = self.checkpoints.drop_pairs_numbered_above_newest(pairs)

        self.state.mark("train", fp, "running", epochs=req.epochs)
        for names, moved, reasons in self.checkpoints.moved_aside:
            self.warnings.append(
                f"checkpoint {', '.join(names)} could not be read ({'; '.join(reasons)}) and "
                f"{'were' if len(moved) > 1 else 'was'} moved aside as "
                f"{', '.join(moved)} in runs/{self.run_id}/applio/; training resumed from epoch {latest_epoch}. "
                "They stay on the volume (up to several hundred MB each) until the run is deleted"
            )
        moved_count = sum(len(moved) for _, moved, _ in self.checkpoints.moved_aside)
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
                    self.checkpoints.prune_pairs(KEEP_CHECKPOINT_PAIRS)

        # The warm conversion process holds GPU memory that train.py needs.
        stop_warm_converter()
        g_path, d_path = self.pretrained_paths
        started = time.monotonic()
        try:
            result = self.runner.run_script(
                "train", applio.TRAIN_SCRIPT,
                [self.run_id, req.save_every, req.epochs, g_path, d_path, "0", req.batch_size,
                 # save_every_weights: the small inference model of every saved epoch, for audition
                 req.sample_rate, False, True, req.cache_data_in_gpu, False, req.vocoder,
                 req.checkpointing],
                log_path=os.path.join(self.log_dir, "train.log"),
                on_line=on_line,
            )
        finally:
            self.state.add_time("train", time.monotonic() - started)
            self.state.save()
        final = self.checkpoints.final_model_for(req.epochs)
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
        self.state.add_time("index", time.monotonic() - started)
        if not os.path.isfile(index_path) or os.path.getsize(index_path) == 0:
            raise JobError(
                f"Applio did not write the index logs/{self.run_id}/{self.run_id}.index (exit code "
                f"{result.returncode}); its output:\n{result.excerpt()}"
            )
        return index_path


def format_eta(seconds):
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"
