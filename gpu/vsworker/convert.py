"""The `convert` task: one audio file through a trained RVC model (Applio's
VoiceConverter in the warm child process)."""

import os
import time

from . import conversion
from .audio import OUTPUT_FORMATS, encode, to_wav, wav_info
from .choices import EMBEDDERS, OUTPUT_MODES
from .converter import get_converter, has_model_loaded
from .errors import ValidationError
from .fileref import InlineBudget, output_file, parse_file_ref
from .hardware import require_cuda
from .requests import run_keyed

TASK = "convert"
MAX_INPUT_SECONDS = 3600


class ConvertRequest:
    pass


def parse_request(fields):
    req = ConvertRequest()
    budget = InlineBudget()
    req.model = parse_file_ref(fields, "model", required=True, budget=budget)
    req.index = parse_file_ref(fields, "index", budget=budget)
    req.audio = parse_file_ref(fields, "input", required=True, budget=budget)
    conversion.read_settings(fields, req)
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


def convert_task(ctx, fields):
    req = parse_request(fields)
    return run_keyed(ctx, TASK, req.request_key, lambda: convert(ctx, req))


def convert(ctx, req):
    settings = ctx.settings
    settings.require_applio(os.path.join("rvc", "infer", "infer.py"))
    require_cuda(settings)
    ffmpeg = settings.resolve_ffmpeg()
    started = time.monotonic()

    models_dir = conversion.models_dir(settings)
    model_path = conversion.stage_file(req.model, ctx, models_dir, ".pth")
    info, embedder = conversion.model_embedder(model_path, "input.model", req.embedder)
    index_path = conversion.stage_file(req.index, ctx, models_dir, ".index") if req.index else ""

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
    kwargs = conversion.applio_kwargs(req, input_wav, output_wav, model_path, index_path, embedder)
    # Progress only when a model load (seconds) follows: runpod-python sends updates from a thread, and
    # one sent right before a sub-second warm conversion can reach RunPod after the result and leave
    # the job shown as IN_PROGRESS (runpod-python#250). Training and separation follow the same rule.
    if not has_model_loaded(settings, model_path):
        ctx.progress(TASK, "convert", f"loading the voice model, then converting {source_info.seconds:.1f} s of audio")
    converter = get_converter(settings)
    load_seconds = round(time.monotonic() - started, 3)
    response = conversion.run(ctx, converter, kwargs, "input.index")
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
