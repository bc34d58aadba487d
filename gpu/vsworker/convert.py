"""The `convert` task: one audio file through a trained RVC model (Applio's
VoiceConverter in the warm child process)."""

import os
import time
import uuid

from .audio import OUTPUT_FORMATS, encode, to_wav, wav_info
from .choices import EMBEDDERS, OUTPUT_MODES, UNIMPLEMENTED_F0
from .converter import get_converter, has_model_loaded
from .errors import ConfigError, JobError, ValidationError
from .fileref import InlineBudget, output_file, parse_file_ref
from .hardware import require_cuda
from .pthmeta import rvc_model_info
from .requests import run_keyed
from .task_settings import read

TASK = "convert"
INDEX_READ_ERROR = "An error occurred reading the FAISS index"
MAX_INPUT_SECONDS = 3600
STAGED_MODELS_KEPT = 16  # staged model/index files kept in scratch for warm reuse


class ConvertRequest:
    pass


def parse_request(fields):
    req = ConvertRequest()
    budget = InlineBudget()
    req.model = parse_file_ref(fields, "model", required=True, budget=budget)
    req.index = parse_file_ref(fields, "index", budget=budget)
    req.audio = parse_file_ref(fields, "input", required=True, budget=budget)
    # What the CLI sends: ranges, choices and defaults from task_settings.json.
    req.pitch = read(fields, "convert", "pitch")
    req.index_rate = read(fields, "convert", "index_rate")
    req.protect = read(fields, "convert", "protect")
    req.volume_envelope = read(fields, "convert", "volume_envelope")
    if fields.has("f0_method") and fields.data["f0_method"] in UNIMPLEMENTED_F0:
        raise ValidationError(
            f"input.f0_method {fields.data['f0_method']!r}: Applio 3.6.4 accepts the hybrid "
            "methods but does not implement them; use rmvpe, fcpe, crepe or crepe-tiny"
        )
    req.f0_method = read(fields, "convert", "f0_method")
    req.split_audio = fields.boolean("split_audio", default=False)
    req.autotune = fields.boolean("autotune", default=False)
    req.autotune_strength = fields.number("autotune_strength", 0.0, 1.0, default=1.0)
    req.clean_audio = fields.boolean("clean_audio", default=False)
    req.clean_strength = fields.number("clean_strength", 0.0, 1.0, default=0.7)
    req.output_format = fields.enum("output_format", tuple(OUTPUT_FORMATS), default="wav")
    req.output_mode = fields.enum("output_mode", OUTPUT_MODES, default="auto")
    req.embedder = fields.enum("embedder", EMBEDDERS)
    req.request_key = fields.request_key()
    fields.finish("task 'convert'")
    if req.autotune and req.pitch:
        # rvc/infer/pipeline.py multiplies f0 by the pitch factor only in the branch without autotune.
        raise ValidationError(
            f"input.autotune cannot be combined with input.pitch {req.pitch}: Applio 3.6.4 applies the "
            "pitch shift only when autotune is off, and autotune snaps unvoiced frames to about 49 Hz, "
            "which defeats input.protect; send pitch 0 with autotune, or autotune false"
        )
    return req


def stage_file(ref, ctx, directory, suffix):
    """Put a model/index at a stable path named by its hash, so the warm
    VoiceConverter sees the same path again and keeps the model loaded."""
    os.makedirs(directory, exist_ok=True)
    sha = ref.digest()
    path = os.path.join(directory, sha + suffix)
    if os.path.exists(path):
        return path
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    if ref.is_inline:
        with open(tmp, "wb") as fh:
            fh.write(ref.data)
    else:
        os.symlink(ctx.store.require(ref.sha256, ref.field), tmp)
    os.replace(tmp, path)
    _prune_staged(directory, keep=path)
    return path


def _prune_staged(directory, keep):
    """Scratch is the container disk: keep only the most recently staged files."""
    entries = []
    for name in os.listdir(directory):
        full = os.path.join(directory, name)
        try:
            entries.append((os.lstat(full).st_mtime, full))
        except FileNotFoundError:
            continue
    for _, full in sorted(entries, reverse=True)[STAGED_MODELS_KEPT:]:
        if full != keep:
            try:
                os.unlink(full)
            except FileNotFoundError:
                pass


def convert_task(ctx, fields):
    req = parse_request(fields)
    return run_keyed(ctx, TASK, req.request_key, lambda: convert(ctx, req))


def convert(ctx, req):
    settings = ctx.settings
    settings.require_applio(os.path.join("rvc", "infer", "infer.py"))
    require_cuda(settings)
    ffmpeg = settings.resolve_ffmpeg()
    started = time.monotonic()

    models_dir = os.path.join(settings.scratch, "models")
    if "trained" in models_dir:
        # Applio's VoiceConverter rewrites "trained" to "added" in index paths.
        raise ConfigError(
            f"VOICESTUDIO_SCRATCH ({settings.scratch}) must not contain the word 'trained': "
            "Applio rewrites it in index paths"
        )
    model_path = stage_file(req.model, ctx, models_dir, ".pth")
    info = rvc_model_info(model_path, "input.model")
    embedder = info.get("embedder")
    if embedder and req.embedder and embedder != req.embedder:
        raise ValidationError(
            f"input.embedder is {req.embedder!r} but the model was trained with {embedder!r}; "
            "omit input.embedder to use the model's"
        )
    embedder = embedder or req.embedder or "contentvec"
    if embedder not in EMBEDDERS:
        raise JobError(
            f"input.model was trained with embedder {embedder!r}, which this worker does not support"
        )
    index_path = stage_file(req.index, ctx, models_dir, ".index") if req.index else ""

    work = ctx.scratch("convert")
    source = req.audio.local_path(ctx, work, "input.bin")
    input_wav = os.path.join(work, "input.wav")
    to_wav(ffmpeg, source, input_wav, "input.input")
    source_info = wav_info(input_wav)
    if source_info.seconds > MAX_INPUT_SECONDS:
        raise ValidationError(
            f"input.input is {source_info.seconds:.0f} s long; the limit is {MAX_INPUT_SECONDS} s"
        )
    if source_info.frames == 0:
        raise ValidationError("input.input contains no audio samples")

    output_wav = os.path.join(work, "output.wav")
    kwargs = {
        "audio_input_path": input_wav,
        "audio_output_path": output_wav,
        "model_path": model_path,
        "index_path": index_path,
        "pitch": req.pitch,
        "f0_method": req.f0_method,
        "index_rate": req.index_rate if index_path else 0.0,
        "volume_envelope": req.volume_envelope,
        "protect": req.protect,
        "split_audio": req.split_audio,
        "f0_autotune": req.autotune,
        "f0_autotune_strength": req.autotune_strength,
        "embedder_model": embedder,
        "embedder_model_custom": None,
        "clean_audio": req.clean_audio,
        "clean_strength": req.clean_strength,
        # Always WAV from Applio: libsndfile cannot write M4A and Applio's own
        # re-encoding resamples; FFmpeg encodes the requested format below.
        "export_format": "WAV",
        "sid": 0,
    }
    # Progress only when a model load (seconds) follows: runpod-python sends updates from a thread, and
    # one sent right before a sub-second warm conversion can reach RunPod after the result and leave
    # the job shown as IN_PROGRESS (runpod-python#250). Training and separation follow the same rule.
    if not has_model_loaded(settings, model_path):
        ctx.progress(TASK, "convert", f"loading the voice model, then converting {source_info.seconds:.1f} s of audio")
    converter = get_converter(settings)
    load_seconds = round(time.monotonic() - started, 3)
    try:
        with ctx.cancellation.stopping(converter.kill):
            response = converter.convert(kwargs, ctx.reporter)
    except JobError:
        ctx.cancellation.check()  # the process was killed because the job was cancelled
        raise
    excerpt = converter.excerpt(response["request_id"])
    if not response.get("ok"):
        raise JobError(f"Applio conversion failed: {response.get('error')}; output:\n{excerpt}")
    if not os.path.isfile(output_wav) or os.path.getsize(output_wav) <= 44:
        # VoiceConverter prints some errors and returns normally.
        raise JobError(f"Applio conversion finished without writing audio; output:\n{excerpt}")
    unread_index = [line for line in converter.output_lines(response["request_id"]) if INDEX_READ_ERROR in line]
    if unread_index:
        # rvc/infer/pipeline.py prints this and converts without the index.
        raise JobError(
            f"Applio could not read input.index ({unread_index[0][:300]}), and would have converted without "
            f"it, so index_rate {req.index_rate} would have had no effect. Send the model's own index again "
            "(a copy cut short or of another file fails this way), or convert without it (index_rate 0)"
        )
    out_info = wav_info(output_wav)

    final, final_rate = output_wav, out_info.sample_rate
    if req.output_format != "wav":
        final = os.path.join(work, "output." + OUTPUT_FORMATS[req.output_format]["ext"])
        final_rate = encode(ffmpeg, output_wav, final, req.output_format, out_info.sample_rate)
    output = output_file(final, ctx, req.output_mode)
    output.update({
        "format": req.output_format,
        "sample_rate": final_rate,
        "duration_seconds": round(out_info.seconds, 3),
    })
    return {
        "output": output,
        "model": {
            "sha256": req.model.digest(),
            "embedder": embedder,
            "sample_rate": info.get("sample_rate"),
            "vocoder": info.get("vocoder"),
            "epochs": info.get("epochs"),
            "warm": bool(response.get("reused_model")),
        },
        "settings": {
            "pitch": req.pitch, "index_rate": kwargs["index_rate"], "protect": req.protect,
            "volume_envelope": req.volume_envelope, "f0_method": req.f0_method,
            "split_audio": req.split_audio, "autotune": req.autotune,
            "autotune_strength": req.autotune_strength, "clean_audio": req.clean_audio,
            "clean_strength": req.clean_strength,
        },
        "timings": {
            "prepare": load_seconds,
            "convert": response.get("seconds"),
            "total": round(time.monotonic() - started, 3),
        },
    }
