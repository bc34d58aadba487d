"""Objective scores of a converted phrase, for the `audition` task, and the speaker embeddings of the `screen` task.

- speaker similarity: cosine between Resemblyzer embeddings (its weights ship inside the PyPI package);
- pitch accuracy: F0 error in cents and voicing agreement between the guide, with the requested pitch shift
  applied, and the output; F0 from librosa's probabilistic YIN (pYIN), which needs no weights at all;
- naturalness: DNSMOS P.835 through speechmos, whose ONNX models ship inside the package.

Nothing is downloaded at run time. torchfcpe and torchcrepe (neural F0 with bundled weights) were the first
choice, but both import torchaudio, whose last release (2.11.1) cannot load with torch 2.13.

Only the standard library is imported at module level: numpy, torch, librosa, Resemblyzer and speechmos are
imported inside the functions, so the handler starts fast and the other tasks never load them.
"""

import math
import os
import warnings

from .audio import to_mono_f32
from .errors import JobError

SAMPLE_RATE = 16000  # what Resemblyzer, the F0 tracker and DNSMOS all read
F0_HOP = 160  # 10 ms frames
F0_FRAME = 1024  # 64 ms: long enough for two periods at F0_MIN_HZ
F0_MIN_HZ = 50.0  # below a bass's low E2 (82 Hz)
F0_MAX_HZ = 1100.0  # above a soprano's C6 (1047 Hz)
# Resemblyzer trims silences and needs speech left over; a shorter clip gives no reliable embedding.
MIN_VOICED_SECONDS = 0.5
EMBEDDING_DIMENSIONS = 256  # Resemblyzer's model_embedding_size

PITCH_METHOD = f"librosa 0.11.0 pYIN, {F0_MIN_HZ:g}-{F0_MAX_HZ:g} Hz, 10 ms frames"
NATURALNESS_METHOD = "DNSMOS P.835 (speechmos 0.0.1.1); trained on speech, indicative for singing"


def device():
    """Where torch runs: the GPU when there is one."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_samples(ffmpeg, src, scratch_path, what):
    """Any audio file as mono float32 samples at SAMPLE_RATE (FFmpeg resamples)."""
    import numpy as np

    to_mono_f32(ffmpeg, src, scratch_path, SAMPLE_RATE, what)
    samples = np.fromfile(scratch_path, dtype=np.float32)
    os.unlink(scratch_path)
    return np.clip(samples, -1.0, 1.0)


class SpeakerEncoder:
    """Resemblyzer's voice encoder, loaded once per job."""

    def __init__(self, where):
        with warnings.catch_warnings():
            # webrtcvad (Resemblyzer's voice activity detector) imports the deprecated pkg_resources.
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
            warnings.filterwarnings("ignore", message="Please import `binary_dilation`")  # Resemblyzer on SciPy 1.17
            from resemblyzer import VoiceEncoder, preprocess_wav

        self._preprocess = preprocess_wav
        self._encoder = VoiceEncoder(where, verbose=False)

    def voice(self, samples):
        """The clip's voice: Resemblyzer's volume normalisation and its VAD cutting the silences."""
        import numpy as np

        with np.errstate(divide="ignore", invalid="ignore"):  # a silent clip: log10(0) in the normalisation
            return self._preprocess(samples, source_sr=SAMPLE_RATE)

    def embed_voice(self, speech, what, whole=None):
        """The embedding (unit length) of a clip's voice, as voice() returns it. With too little voice left, `whole`
        (the clip itself) is embedded instead when given: a converted output of an epoch that gives noise or
        silence then scores low instead of failing the audition; without it that is an error naming the clip."""
        if len(speech) < MIN_VOICED_SECONDS * SAMPLE_RATE:
            if whole is not None:
                return self._encoder.embed_utterance(whole)
            raise JobError(
                f"{what} has less than {MIN_VOICED_SECONDS} s of voice once silences are cut; "
                "a speaker embedding needs more, send a longer clip"
            )
        return self._encoder.embed_utterance(speech)

    def embed(self, samples, what, require_voice=True):
        """The embedding of one clip (unit length). A clip of the request (require_voice) needs voice left once
        silences are cut; a converted output without it is embedded whole."""
        return self.embed_voice(self.voice(samples), what, whole=None if require_voice else samples)


def speaker_model():
    """The speaker encoder's name and installed version, for results."""
    from importlib.metadata import version

    return f"resemblyzer {version('resemblyzer')}"


def mean_embedding(embeddings):
    """The speaker's embedding from several clips: the mean, scaled to unit length (as Resemblyzer's
    embed_speaker does)."""
    import numpy as np

    mean = np.mean(np.stack(embeddings), axis=0)
    return mean / np.linalg.norm(mean)


def similarity(embedding, reference):
    import numpy as np

    return float(np.dot(embedding, reference) / (np.linalg.norm(embedding) * np.linalg.norm(reference)))


class PitchTrack:
    """F0 per 10 ms frame (Hz, NaN where unvoiced) and the voiced flags."""

    def __init__(self, f0, voiced):
        self.f0 = f0
        self.voiced = voiced


def pitch_track(samples):
    import librosa
    import numpy as np

    f0, voiced, _ = librosa.pyin(
        samples, fmin=F0_MIN_HZ, fmax=F0_MAX_HZ, sr=SAMPLE_RATE, frame_length=F0_FRAME, hop_length=F0_HOP,
    )
    return PitchTrack(f0, np.asarray(voiced, dtype=bool))


class PitchAccuracy:
    def __init__(self, rmse_cents, voicing_agreement, frames_compared):
        self.rmse_cents = rmse_cents  # None when no frame is voiced in both
        self.voicing_agreement = voicing_agreement
        self.frames_compared = frames_compared

    def as_dict(self):
        return {
            "f0_rmse_cents": None if self.rmse_cents is None else round(self.rmse_cents, 2),
            "voicing_agreement": round(self.voicing_agreement, 4),
            "voiced_frames_compared": self.frames_compared,
        }


def pitch_accuracy(guide, output, semitones):
    """How well the output follows the guide's melody moved by `semitones` (Applio multiplies F0 by
    2^(semitones/12)): RMSE in cents over the frames voiced in both, and the share of all frames where
    both agree on voiced or unvoiced. Conversion keeps the timing, so frame i of one is frame i of the other."""
    import numpy as np

    frames = min(len(guide.f0), len(output.f0))
    if frames == 0:
        return PitchAccuracy(None, 0.0, 0)
    g_voiced, o_voiced = guide.voiced[:frames], output.voiced[:frames]
    both = g_voiced & o_voiced
    agreement = float(np.mean(g_voiced == o_voiced))
    if not both.any():
        return PitchAccuracy(None, agreement, 0)
    expected = guide.f0[:frames][both] * 2.0 ** (semitones / 12.0)
    cents = 1200.0 * np.log2(output.f0[:frames][both] / expected)
    return PitchAccuracy(float(np.sqrt(np.mean(cents ** 2))), agreement, int(both.sum()))


def pooled_rmse(accuracies):
    """One RMSE over the voiced frames of several phrases (each weighted by its frame count)."""
    counted = [(a.rmse_cents, a.frames_compared) for a in accuracies if a.rmse_cents is not None]
    frames = sum(n for _, n in counted)
    if frames == 0:
        return None
    return math.sqrt(sum(r * r * n for r, n in counted) / frames)


def naturalness(samples):
    """DNSMOS P.835 scores (1-5): overall, signal, background, and P.808."""
    from speechmos import dnsmos

    scores = dnsmos.run(samples, SAMPLE_RATE)
    return {
        "ovrl": round(float(scores["ovrl_mos"]), 3),
        "sig": round(float(scores["sig_mos"]), 3),
        "bak": round(float(scores["bak_mos"]), 3),
        "p808": round(float(scores["p808_mos"]), 3),
    }


def methods(where):
    """How each score was made, for the result."""
    return {
        "similarity": f"{speaker_model()} embeddings (cosine)",
        "pitch": PITCH_METHOD,
        "naturalness": NATURALNESS_METHOD,
        "device": where,
    }


def self_check():
    """Loads every model from its package and scores a synthetic vowel: run at image build time (gpu/Dockerfile)
    so a missing weights file or a broken install fails the build, not the first audition."""
    import numpy as np

    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    vowel = sum(0.2 / k * np.sin(2 * np.pi * 220.0 * k * t) for k in range(1, 8)).astype(np.float32)
    where = device()
    encoder = SpeakerEncoder(where)
    embedding = encoder.embed(vowel, "the self-check vowel")
    track = pitch_track(vowel)
    accuracy = pitch_accuracy(track, track, 0)
    mos = naturalness(vowel)
    if accuracy.rmse_cents is None or accuracy.rmse_cents > 1.0:
        raise RuntimeError(f"pitch self-check failed: {accuracy.as_dict()}")
    return {"device": where, "embedding_size": int(embedding.shape[0]), "pitch": accuracy.as_dict(),
            "dnsmos": mos}
