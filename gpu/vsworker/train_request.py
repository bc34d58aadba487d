"""The `train` task's request: its fields, checked and defaulted (parse_request), and the
fingerprints of each stage's inputs, which decide what a retried or re-submitted job reuses."""

import hashlib
import json

from .archive import MAX_MEMBERS, member_name, safe_member_path
from .choices import CHUNK_LENS, CUT_MODES, NORMALIZATION_MODES, OVERLAP_LENS
from .errors import JobError, ValidationError
from .fileref import InlineBudget, parse_file_ref
from .task_settings import read
from .validation import describe


class TrainRequest:
    pass


def parse_request(fields):
    req = TrainRequest()
    req.run_id = fields.run_id("run_id")
    budget = InlineBudget()
    req.dataset = parse_file_ref(fields, "dataset", required=True, budget=budget)
    req.exclude = _excluded_members(fields)
    # What the CLI sends: ranges, choices and defaults from task_settings.json.
    req.sample_rate = read(fields, "train", "sample_rate")
    req.epochs = read(fields, "train", "epochs")
    req.batch_size = read(fields, "train", "batch_size")
    req.save_every = read(fields, "train", "save_every")
    req.f0_method = read(fields, "train", "f0_method")
    req.embedder = read(fields, "train", "embedder")
    req.vocoder = read(fields, "train", "vocoder")
    req.pretrained = fields.boolean("pretrained", default=True)
    req.pretrained_g = parse_file_ref(fields, "pretrained_g", inline=False)
    req.pretrained_d = parse_file_ref(fields, "pretrained_d", inline=False)
    req.index_algorithm = read(fields, "train", "index_algorithm")
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


def _excluded_members(fields):
    """The dataset members to leave out (names as the screen task reports them), sorted and without repeats."""
    items = fields.array("exclude", MAX_MEMBERS) or []
    names = set()
    for i, item in enumerate(items):
        field = f"{fields.name('exclude')}[{i}]"
        if not isinstance(item, str) or not item:
            raise ValidationError(f"{field} must be the path of a file in the dataset archive, got {describe(item)}")
        try:
            parts = safe_member_path(item, field)
        except JobError as exc:
            raise ValidationError(str(exc)) from None
        if not parts:
            raise ValidationError(f"{field} {describe(item)} names no file")
        names.add(member_name(parts))
    return tuple(sorted(names))


def _fp(*parts):
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def fingerprints(req, dataset_sha):
    # Without exclusions the fingerprint is what it was before `exclude` existed, so those runs are not redone.
    unpack_fp = _fp("unpack", dataset_sha, list(req.exclude)) if req.exclude else _fp("unpack", dataset_sha)
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
