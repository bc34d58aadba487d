"""The `separate` task: vocals/instrumental separation with audio-separator and
the model baked into the image. Results are always blobs (stems are large)."""

import glob
import json
import os
import shutil
import subprocess
import time

from .applio import quote_lines
from .audio import to_wav, wav_info
from .errors import ConfigError, JobError, ValidationError
from .fileref import InlineBudget, parse_file_ref
from .requests import run_keyed
from .task_settings import read

TASK = "separate"
MAX_INPUT_SECONDS = 3600
SEPARATE_TIMEOUT_SECONDS = 3600
# audio-separator names its files after the stem unless told otherwise.
OUTPUT_NAMES = {"Vocals": "vocals", "Instrumental": "instrumental"}


def parse_request(fields):
    budget = InlineBudget()
    audio = parse_file_ref(fields, "input", required=True, budget=budget)
    stems = read(fields, "separate", "stems")
    fmt = read(fields, "separate", "output_format")
    key = fields.request_key()
    fields.finish("task 'separate'")
    return audio, stems, fmt, key


def resolve_separator(settings):
    binary = settings.separator_bin
    if os.sep not in binary:
        found = shutil.which(binary)
        if not found:
            raise ConfigError(
                f"audio-separator not found ({binary}); install audio-separator or set "
                "VOICESTUDIO_SEPARATOR_BIN"
            )
        binary = found
    elif not os.access(binary, os.X_OK):
        raise ConfigError(f"VOICESTUDIO_SEPARATOR_BIN={binary} is not executable")
    model = os.path.join(settings.separator_model_dir, settings.separator_model)
    if not os.path.isfile(model):
        # audio-separator would download it at run time; the image bakes it instead.
        raise ConfigError(
            f"separation model {model} is missing; it is baked into the image at build time "
            "(set VOICESTUDIO_SEPARATOR_MODEL_DIR/VOICESTUDIO_SEPARATOR_MODEL for local use)"
        )
    return binary


def separate_task(ctx, fields):
    audio, stems, fmt, key = parse_request(fields)
    return run_keyed(ctx, TASK, key, lambda: separate(ctx, audio, stems, fmt))


def separate(ctx, audio, stems, fmt):
    settings = ctx.settings
    store = ctx.store  # outputs are blobs: the volume is required
    binary = resolve_separator(settings)
    ffmpeg = settings.resolve_ffmpeg()
    started = time.monotonic()

    work = ctx.scratch("separate")
    source = audio.local_path(ctx, work, "input.bin")
    input_wav = os.path.join(work, "input.wav")
    to_wav(ffmpeg, source, input_wav, "input.input")
    seconds = wav_info(input_wav).seconds
    if seconds > MAX_INPUT_SECONDS:
        raise ValidationError(f"input.input is {seconds:.0f} s long; the limit is {MAX_INPUT_SECONDS} s")

    out_dir = os.path.join(work, "stems")
    os.makedirs(out_dir)
    cmd = [
        binary, input_wav,
        "--model_filename", settings.separator_model,
        "--model_file_dir", settings.separator_model_dir,
        "--output_dir", out_dir,
        "--output_format", fmt.upper(),
        "--custom_output_names", json.dumps(OUTPUT_NAMES),
    ]
    if stems != "both":
        cmd += ["--single_stem", stems.capitalize()]
    ctx.progress(TASK, "separate", f"separating {seconds:.1f} s of audio with {settings.separator_model}")
    ctx.reporter.log("[separate] running: " + " ".join(cmd))
    try:
        proc = subprocess.run(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace", timeout=SEPARATE_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise JobError(f"audio-separator took longer than {SEPARATE_TIMEOUT_SECONDS} s") from None
    lines = proc.stdout.splitlines()
    for line in lines[-200:]:
        ctx.reporter.log(f"[separate] {line}")

    wanted = ["vocals", "instrumental"] if stems == "both" else [stems]
    result = {"stems": {}, "model": settings.separator_model, "input_seconds": round(seconds, 3)}
    # No progress update right before the result: runpod-python sends it from a thread,
    # and one arriving after the result leaves the job shown as IN_PROGRESS.
    for stem in wanted:
        found = glob.glob(os.path.join(out_dir, f"{stem}.*"))
        if not found or os.path.getsize(found[0]) == 0:
            raise JobError(
                f"audio-separator did not write the {stem} stem (exit code {proc.returncode}); "
                f"output:\n{quote_lines(lines)}"
            )
        sha, size = store.ingest_file(found[0])
        result["stems"][stem] = {"sha256": sha, "size": size, "blob": sha, "format": fmt}
    result["timings"] = {"total": round(time.monotonic() - started, 3)}
    return result
