"""The `screen` task: the speaker embedding (Resemblyzer, scoring.py) of every clip of a dataset archive, so the
client can keep only the singer's clips. It reads the archive training reads, so nothing is uploaded twice; a clip
that cannot be embedded (not audio, undecodable, too little voice) gets none and a reason, never a failed job."""

import collections
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

from . import scoring
from .applio_limits import cpu_limit
from .archive import member_name, unpack
from .audio import DATASET_AUDIO_EXTENSIONS as AUDIO_EXTENSIONS
from .choices import OUTPUT_MODES
from .errors import JobError
from .fileref import InlineBudget, parse_file_ref
from .requests import run_keyed

TASK = "screen"
EMBEDDING_DECIMALS = 5  # cosine to about 1e-4: far finer than any threshold between voices
# The embeddings travel inside the result ("auto", "inline") only while their JSON stays this small; RunPod drops
# results over about 20 MB. An embedding takes about 2.5 KB of JSON, so this is about 3000 clips.
EMBEDDINGS_INLINE_MAX_BYTES = 8 * 1024 * 1024
# A progress update every this many clips, and only while at least as many remain: an update sent just before the
# result can reach RunPod after it and leave the job shown as IN_PROGRESS (runpod-python#250, see convert.py).
PROGRESS_EVERY = 25


class ScreenRequest:
    pass


def parse_request(fields):
    req = ScreenRequest()
    req.dataset = parse_file_ref(fields, "dataset", required=True, budget=InlineBudget())
    req.output_mode = fields.enum("output_mode", OUTPUT_MODES, default="auto")
    req.request_key = fields.request_key()
    fields.finish("task 'screen'")
    return req


def screen_task(ctx, fields):
    req = parse_request(fields)
    return run_keyed(ctx, TASK, req.request_key, lambda: screen(ctx, req))


class Member:
    """One file of the archive: its name there, where it was unpacked, and what the screen found."""

    def __init__(self, name, path):
        self.name = name
        self.path = path
        self.embedding = None
        self.voice_seconds = 0.0
        self.reason = None

    def as_dict(self):
        entry = {
            "name": self.name,
            "embedding": None if self.embedding is None
            else [round(float(x), EMBEDDING_DECIMALS) for x in self.embedding],
            "voice_seconds": round(self.voice_seconds, 3),
        }
        if self.embedding is None:
            entry["reason"] = self.reason
        return entry


def screen(ctx, req):
    ffmpeg = ctx.settings.resolve_ffmpeg()
    started = time.monotonic()
    work = ctx.scratch("screen")
    members = _unpack(ctx, req, work)

    ctx.progress(TASK, "embed", f"loading the speaker encoder, then embedding {len(members)} clip(s)",
                 done=0, total=len(members))
    where = scoring.device()
    encoder = scoring.SpeakerEncoder(where)
    embed_started = time.monotonic()
    for done, (member, samples) in enumerate(_decoded(ffmpeg, members, work), 1):
        ctx.cancellation.check()
        if samples is not None:
            speech = encoder.voice(samples)
            member.voice_seconds = len(speech) / scoring.SAMPLE_RATE
            try:
                member.embedding = encoder.embed_voice(speech, _what(member))
            except JobError as exc:
                member.reason = str(exc)
        if done % PROGRESS_EVERY == 0 and len(members) - done >= PROGRESS_EVERY:
            ctx.progress(TASK, "embed", f"embedded {done} of {len(members)} clips", done=done, total=len(members))
    embed_seconds = time.monotonic() - embed_started

    result = {
        "model": scoring.speaker_model(),
        "dimensions": scoring.EMBEDDING_DIMENSIONS,
        "device": where,
        "clips": len(members),
    }
    result.update(_embeddings_output(ctx, req.output_mode, [m.as_dict() for m in members], work))
    result["timings"] = {"embed": round(embed_seconds, 3), "total": round(time.monotonic() - started, 3)}
    return result


def _what(member):
    return f"input.dataset member {member.name}"


def _unpack(ctx, req, work):
    """Every file of the archive (hidden files and __MACOSX clutter aside), in archive order."""
    archive = req.dataset.local_path(ctx, work, "dataset.archive")
    files = os.path.join(work, "members")
    os.makedirs(files)
    members = []

    def destination(parts):
        path = os.path.join(files, f"{len(members):05d}{os.path.splitext(parts[-1])[1].lower()}")
        members.append(Member(member_name(parts), path))
        return path

    unpack(archive, destination, label="input.dataset archive")
    if not members:
        raise JobError("input.dataset archive contains no files; send the archive of the clips to screen")
    return members


def _decoded(ffmpeg, members, work):
    """(member, mono samples at scoring.SAMPLE_RATE or None) in member order. FFmpeg decodes a few clips ahead in
    threads while the caller embeds; a member that is not audio or does not decode gets its reason and None."""

    def decode(index, member):
        if os.path.splitext(member.name)[1].lower() not in AUDIO_EXTENSIONS:
            member.reason = f"{_what(member)} is not an audio file (accepted: {', '.join(AUDIO_EXTENSIONS)})"
            return None
        try:
            return scoring.load_samples(ffmpeg, member.path, os.path.join(work, f"{index:05d}.f32"), _what(member))
        except JobError as exc:
            member.reason = str(exc).replace(member.path, member.name)  # FFmpeg names the file it read
            return None
        finally:
            os.unlink(member.path)

    workers = cpu_limit()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = collections.deque()
        for index, member in enumerate(members):
            pending.append((member, pool.submit(decode, index, member)))
            # Bounded look-ahead: decoded clips wait in memory, so only a few more than the pool decodes at once.
            if len(pending) > 2 * workers:
                member, future = pending.popleft()
                yield member, future.result()
        while pending:
            member, future = pending.popleft()
            yield member, future.result()


def _embeddings_output(ctx, mode, embeddings, work):
    """{"embeddings": [...]} inside the result while its JSON is small enough and mode allows, else the same JSON as a
    blob: {"embeddings_blob": {"sha256", "size", "blob"}}."""
    text = json.dumps(embeddings, separators=(",", ":"))
    if mode != "blob" and len(text.encode("utf-8")) <= EMBEDDINGS_INLINE_MAX_BYTES:
        return {"embeddings": embeddings}
    path = os.path.join(work, "embeddings.json")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    sha, size = ctx.store.ingest_file(path)
    return {"embeddings_blob": {"sha256": sha, "size": size, "blob": sha}}
