"""One conversion through Applio's VoiceConverter in the warm child process, shared by the tasks that convert
(`convert`, `audition`): staging the model files, the model's embedder, the converter's arguments, and the
checks of what Applio did."""

import os
import uuid

from .errors import ConfigError, JobError, ValidationError
from .pthmeta import rvc_model_info
from .choices import EMBEDDERS, UNIMPLEMENTED_F0
from .task_settings import read
from .validation import describe

INDEX_READ_ERROR = "An error occurred reading the FAISS index"
STAGED_MODELS_KEPT = 16  # staged model/index files kept in scratch for warm reuse


def models_dir(settings):
    path = os.path.join(settings.scratch, "models")
    if "trained" in path:
        # Applio's VoiceConverter rewrites "trained" to "added" in index paths.
        raise ConfigError(
            f"VOICESTUDIO_SCRATCH ({settings.scratch}) must not contain the word 'trained': "
            "Applio rewrites it in index paths"
        )
    return path


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


def model_embedder(model_path, field, requested):
    """The model's metadata and the embedder to convert with: the one it was trained with, else the
    requested one, else contentvec."""
    info = rvc_model_info(model_path, field)
    embedder = info.get("embedder")
    if embedder and requested and embedder != requested:
        raise ValidationError(
            f"input.embedder is {requested!r} but the model ({field}) was trained with {embedder!r}; "
            "omit input.embedder to use the model's"
        )
    embedder = embedder or requested or "contentvec"
    if embedder not in EMBEDDERS:
        raise JobError(f"{field} was trained with embedder {embedder!r}, which this worker does not support")
    return info, embedder


def applio_kwargs(req, input_wav, output_wav, model_path, index_path, embedder):
    """VoiceConverter.convert_audio's keyword arguments for one file; req holds the conversion settings
    (pitch, f0_method, index_rate, volume_envelope, protect, split_audio, autotune, autotune_strength,
    clean_audio, clean_strength)."""
    return {
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
        # re-encoding resamples; FFmpeg encodes any other format.
        "export_format": "WAV",
        "sid": 0,
    }


def run(ctx, converter, kwargs, index_field):
    """Convert with VoiceConverter.convert_audio(**kwargs) (Applio 3.6.4's keyword arguments) in the warm
    process (converter.get_converter); returns its response. Fails when Applio failed, wrote no audio, or could
    not read the index (it would have converted without it)."""
    try:
        with ctx.cancellation.stopping(converter.kill):
            response = converter.convert(kwargs, ctx.reporter)
    except JobError:
        ctx.cancellation.check()  # the process was killed because the job was cancelled
        raise
    excerpt = converter.excerpt(response["request_id"])
    if not response.get("ok"):
        raise JobError(f"Applio conversion failed: {response.get('error')}; output:\n{excerpt}")
    output_wav = kwargs["audio_output_path"]
    if not os.path.isfile(output_wav) or os.path.getsize(output_wav) <= 44:
        # VoiceConverter prints some errors and returns normally.
        raise JobError(f"Applio conversion finished without writing audio; output:\n{excerpt}")
    unread_index = [line for line in converter.output_lines(response["request_id"]) if INDEX_READ_ERROR in line]
    if unread_index:
        # rvc/infer/pipeline.py prints this and converts without the index.
        raise JobError(
            f"Applio could not read {index_field} ({unread_index[0][:300]}), and would have converted without "
            f"it, so index_rate {kwargs['index_rate']} would have had no effect. Send the model's own index again "
            "(a copy cut short or of another file fails this way), or convert without it (index_rate 0)"
        )
    return response


def read_settings(fields, req):
    """The conversion settings the CLI sends (convert's, for audition too): ranges, choices and defaults from
    task_settings.json."""
    req.pitch = read(fields, "convert", "pitch")
    req.index_rate = read(fields, "convert", "index_rate")
    req.protect = read(fields, "convert", "protect")
    req.volume_envelope = read(fields, "convert", "volume_envelope")
    if fields.has("f0_method") and fields.data["f0_method"] in UNIMPLEMENTED_F0:
        raise ValidationError(
            f"input.f0_method {describe(fields.data['f0_method'])}: Applio 3.6.4 accepts the hybrid "
            "methods but does not implement them; use rmvpe, fcpe, crepe or crepe-tiny"
        )
    req.f0_method = read(fields, "convert", "f0_method")
