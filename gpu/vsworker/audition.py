"""The `audition` task: each saved epoch of a model converts the same guide phrases in the warm converter, every
result is scored against the singer's held-out clips (scoring.py), and one epoch is recommended."""

import os
import time

from . import conversion, scoring
from .audio import encode, to_wav, wav_info
from .choices import EMBEDDERS, OUTPUT_MODES
from .converter import get_converter
from .errors import ValidationError
from .fileref import InlineBudget, output_file, parse_file_ref, parse_file_ref_list
from .hardware import require_cuda
from .requests import run_keyed
from .validation import Fields

TASK = "audition"
MAX_EPOCHS = 12  # with the index, within conversion.STAGED_MODELS_KEPT: staging never prunes this job's files
MAX_GUIDES = 8
MAX_SINGER_CLIPS = 32
MAX_GUIDE_SECONDS = 60
# The converted phrases travel inline ("auto") only while all of them together stay this small; RunPod drops
# results over about 20 MB.
OUTPUT_INLINE_TOTAL_MAX_BYTES = 8 * 1024 * 1024
OUTPUT_FORMAT = "flac"  # lossless at half a WAV's size; browsers play it
# An epoch is recommended only if its F0 error (RMSE over all phrases) is within this bound: beyond it the
# melody audibly drifts. 50 cents is a quarter tone.
F0_RMSE_BOUND_CENTS = 50.0
# Similarity "stops rising" at the first epoch after which it gains less than one point (0.01 of cosine).
SIMILARITY_PLATEAU_GAIN = 0.01


class AuditionRequest:
    pass


def parse_request(fields):
    req = AuditionRequest()
    budget = InlineBudget()
    req.index = parse_file_ref(fields, "index", budget=budget)
    items = fields.array("epochs", MAX_EPOCHS, required=True)
    if not items:
        raise ValidationError("input.epochs is empty; send at least one epoch")
    req.epochs = []
    for i, item in enumerate(items):
        entry = Fields(item, f"input.epochs[{i}]")
        epoch = entry.integer("epoch", 1, 100000, required=True)
        model = parse_file_ref(entry, "model", required=True, budget=budget)
        entry.finish("an epoch ({\"epoch\": number, \"model\": file reference})")
        if any(epoch == other for other, _ in req.epochs):
            raise ValidationError(f"input.epochs[{i}].epoch {epoch} is listed twice")
        req.epochs.append((epoch, model))
    req.epochs.sort(key=lambda pair: pair[0])
    req.guides = parse_file_ref_list(fields, "guides", MAX_GUIDES, budget=budget)
    req.singer_clips = parse_file_ref_list(fields, "singer_clips", MAX_SINGER_CLIPS, budget=budget)
    conversion.read_settings(fields, req)
    req.embedder = fields.enum("embedder", EMBEDDERS)
    req.output_mode = fields.enum("output_mode", OUTPUT_MODES, default="auto")
    req.request_key = fields.request_key()
    fields.finish("task 'audition'")
    # Autotune and cleaning would change what the scores measure; splitting is for long files.
    req.split_audio = req.autotune = req.clean_audio = False
    req.autotune_strength = req.clean_strength = 0.0
    return req


def audition_task(ctx, fields):
    req = parse_request(fields)
    return run_keyed(ctx, TASK, req.request_key, lambda: audition(ctx, req))


class Phrase:
    """A guide phrase: the WAV Applio reads, and its scores as a guide."""

    def __init__(self, index, ref, wav, seconds):
        self.index = index
        self.ref = ref
        self.wav = wav
        self.seconds = seconds
        self.track = None
        self.similarity = None
        self.dnsmos = None


def audition(ctx, req):
    settings = ctx.settings
    settings.require_applio(os.path.join("rvc", "infer", "infer.py"))
    require_cuda(settings)
    ffmpeg = settings.resolve_ffmpeg()
    started = time.monotonic()
    work = ctx.scratch("audition")
    raw = os.path.join(work, "samples.f32")

    # Every model is read before anything is scored, so a wrong file fails the job at once.
    models_dir = conversion.models_dir(settings)
    index_path = conversion.stage_file(req.index, ctx, models_dir, ".index") if req.index else ""
    models = []
    for epoch, model in req.epochs:
        model_path = conversion.stage_file(model, ctx, models_dir, ".pth")
        info, embedder = conversion.model_embedder(model_path, model.field, req.embedder)
        if info.get("epochs") is not None and info["epochs"] != epoch:
            raise ValidationError(f"{model.field} is the model of epoch {info['epochs']}, not of epoch {epoch} "
                                  "as its entry says")
        models.append((epoch, model, model_path, info, embedder))

    ctx.progress(TASK, "prepare", f"scoring {len(req.guides)} guide phrase(s) against "
                                  f"{len(req.singer_clips)} clip(s) of the singer")
    where = scoring.device()
    encoder = scoring.SpeakerEncoder(where)
    singer_seconds, embeddings = 0.0, []
    for i, ref in enumerate(req.singer_clips):
        samples = scoring.load_samples(ffmpeg, ref.local_path(ctx, work, f"singer-{i}.bin"), raw, ref.field)
        singer_seconds += len(samples) / scoring.SAMPLE_RATE
        embeddings.append(encoder.embed(samples, ref.field))
    singer = scoring.mean_embedding(embeddings)

    phrases = []
    for i, ref in enumerate(req.guides):
        source = ref.local_path(ctx, work, f"guide-{i}.bin")
        wav = to_wav(ffmpeg, source, os.path.join(work, f"guide-{i}.wav"), ref.field)
        seconds = wav_info(wav).seconds
        if seconds > MAX_GUIDE_SECONDS:
            raise ValidationError(f"{ref.field} is {seconds:.0f} s long; a guide phrase may last at most "
                                  f"{MAX_GUIDE_SECONDS} s")
        phrase = Phrase(i, ref, wav, seconds)
        samples = scoring.load_samples(ffmpeg, wav, raw, ref.field)
        phrase.track = scoring.pitch_track(samples)
        phrase.similarity = scoring.similarity(encoder.embed(samples, ref.field), singer)
        phrase.dnsmos = scoring.naturalness(samples)
        phrases.append(phrase)

    converter = get_converter(settings)
    epochs, outputs, convert_seconds = [], [], 0.0
    for position, (epoch, model, model_path, info, embedder) in enumerate(models):
        ctx.cancellation.check()
        ctx.progress(TASK, "epoch", f"epoch {epoch} ({position + 1} of {len(models)}): converting and "
                                    f"scoring {len(phrases)} phrase(s)", epoch=epoch)
        scored = []
        for phrase in phrases:
            ctx.cancellation.check()
            output_wav = os.path.join(work, f"e{epoch}-g{phrase.index}.wav")
            kwargs = conversion.applio_kwargs(req, phrase.wav, output_wav, model_path, index_path, embedder)
            convert_started = time.monotonic()
            conversion.run(ctx, converter, kwargs, "input.index")
            convert_seconds += time.monotonic() - convert_started
            samples = scoring.load_samples(ffmpeg, output_wav, raw, f"the output of epoch {epoch}")
            accuracy = scoring.pitch_accuracy(phrase.track, scoring.pitch_track(samples), req.pitch)
            out_info = wav_info(output_wav)
            encoded = os.path.join(work, f"e{epoch}-g{phrase.index}.{OUTPUT_FORMAT}")
            rate = encode(ffmpeg, output_wav, encoded, OUTPUT_FORMAT, out_info.sample_rate)
            outputs.append((encoded, rate, out_info.seconds))
            scored.append({
                "guide": phrase.index,
                "similarity": round(scoring.similarity(
                    encoder.embed(samples, f"the output of epoch {epoch}", require_voice=False), singer), 4),
                **accuracy.as_dict(),
                "dnsmos": scoring.naturalness(samples),
                "accuracy": accuracy,
                "output": len(outputs) - 1,
            })
        epochs.append(_epoch_summary(epoch, model, info, scored))

    _attach_outputs(ctx, req.output_mode, epochs, outputs)
    return {
        "epochs": epochs,
        "guides": [{
            "guide": p.index, "sha256": p.ref.digest(), "duration_seconds": round(p.seconds, 3),
            "similarity": round(p.similarity, 4), "dnsmos": p.dnsmos,
        } for p in phrases],
        "singer": {"clips": len(req.singer_clips), "seconds": round(singer_seconds, 3)},
        "recommendation": recommend([(e["epoch"], e["similarity"], e["f0_rmse_cents"]) for e in epochs]),
        "scoring": scoring.methods(where),
        "settings": {
            "pitch": req.pitch, "f0_method": req.f0_method, "index_rate": req.index_rate if index_path else 0.0,
            "protect": req.protect, "volume_envelope": req.volume_envelope,
        },
        "timings": {
            "convert": round(convert_seconds, 3),
            "total": round(time.monotonic() - started, 3),
        },
    }


def _epoch_summary(epoch, model, info, scored):
    rmse = scoring.pooled_rmse([s.pop("accuracy") for s in scored])
    return {
        "epoch": epoch,
        "model_sha256": model.digest(),
        "embedder": info.get("embedder"),
        "similarity": round(sum(s["similarity"] for s in scored) / len(scored), 4),
        "f0_rmse_cents": None if rmse is None else round(rmse, 2),
        "voicing_agreement": round(sum(s["voicing_agreement"] for s in scored) / len(scored), 4),
        "dnsmos_ovrl": round(sum(s["dnsmos"]["ovrl"] for s in scored) / len(scored), 3),
        "phrases": scored,
    }


def _attach_outputs(ctx, mode, epochs, outputs):
    """Replace each phrase's output number by its file: all inline when mode allows and they are small together,
    else all blobs."""
    total = sum(os.path.getsize(path) for path, _, _ in outputs)
    file_mode = "inline" if mode == "inline" or (mode == "auto" and total <= OUTPUT_INLINE_TOTAL_MAX_BYTES) else "blob"
    if file_mode == "inline" and total > OUTPUT_INLINE_TOTAL_MAX_BYTES:
        file_mode = "blob"  # "inline" cannot be honoured without RunPod dropping the result
    described = []
    for path, rate, seconds in outputs:
        output = output_file(path, ctx, file_mode)
        output.update({"format": OUTPUT_FORMAT, "sample_rate": rate, "duration_seconds": round(seconds, 3)})
        described.append(output)
    for epoch in epochs:
        for phrase in epoch["phrases"]:
            phrase["output"] = described[phrase["output"]]


def recommend(rows):
    """rows: (epoch, mean similarity, F0 RMSE in cents or None), by epoch. The epoch with the highest similarity
    among those whose F0 error is within F0_RMSE_BOUND_CENTS, and the epoch after which similarity stops rising."""
    plateau = next((rows[i][0] for i in range(len(rows) - 1)
                    if rows[i + 1][1] - rows[i][1] < SIMILARITY_PLATEAU_GAIN), None)
    within = [r for r in rows if r[2] is not None and r[2] <= F0_RMSE_BOUND_CENTS]
    best = max(rows, key=lambda r: (r[1], -r[0]))
    if within:
        chosen = max(within, key=lambda r: (r[1], -r[0]))
        reason = (f"epoch {chosen[0]} has the highest speaker similarity ({chosen[1]:.1%}) of the {len(within)} "
                  f"epoch(s) whose F0 error is within {F0_RMSE_BOUND_CENTS:g} cents")
        if best[1] > chosen[1]:
            reason += (f"; epoch {best[0]} sounds more like the singer ({best[1]:.1%}) but misses the melody "
                       f"({_cents(best[2])})")
    else:
        chosen = best
        closest = min((r for r in rows if r[2] is not None), key=lambda r: r[2], default=None)
        reason = (f"no epoch keeps the F0 error within {F0_RMSE_BOUND_CENTS:g} cents"
                  + (f" (the closest: epoch {closest[0]}, {_cents(closest[2])})" if closest else "")
                  + f", so epoch {chosen[0]}, the one most like the singer ({chosen[1]:.1%}), is named; a fair pitch "
                    "score needs dry, single-voice guides and the pitch shift the singer needs")
    if len(rows) > 1:
        if plateau is None:
            reason += f". Similarity still rises at the last epoch ({rows[-1][0]}): more training may help"
        else:
            reason += (f". Similarity stops rising after epoch {plateau} (the next gains less than "
                       f"{SIMILARITY_PLATEAU_GAIN * 100:g} point)")
    return {
        "epoch": chosen[0],
        "within_f0_bound": bool(within),
        "plateau_epoch": plateau,
        "f0_rmse_bound_cents": F0_RMSE_BOUND_CENTS,
        "plateau_gain": SIMILARITY_PLATEAU_GAIN,
        "reason": reason,
    }


def _cents(value):
    return "no voiced frame in common" if value is None else f"F0 error {value:.0f} cents"
