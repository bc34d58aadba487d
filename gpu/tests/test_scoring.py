"""The audition scores, computed for real on the CPU (Resemblyzer, pYIN, DNSMOS) over speech that espeak-ng
and FFmpeg make in the test."""

import importlib.util
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from tests.support import FFMPEG, GPU_DIR

ESPEAK = shutil.which("espeak-ng")
SCORING_LIBS = ("numpy", "torch", "librosa", "resemblyzer", "speechmos")
MISSING_LIBS = [name for name in SCORING_LIBS if importlib.util.find_spec(name) is None]

SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "She sells sea shells by the sea shore every summer morning.",
    "A journey of a thousand miles begins with a single step forward.",
    "Singing in the rain is what we love to do on a cloudy day.",
)


def requires_scoring(cls):
    cls = unittest.skipIf(FFMPEG is None, "ffmpeg not found: set FFMPEG_PATH or put ffmpeg on PATH")(cls)
    cls = unittest.skipIf(ESPEAK is None, "espeak-ng not found: it speaks the test phrases")(cls)
    return unittest.skipIf(
        MISSING_LIBS, f"{', '.join(MISSING_LIBS)} not installed: run `npm run setup:python` and use its python",
    )(cls)


def speak(voice, text, path):
    subprocess.run([ESPEAK, "-v", voice, "-w", path, text], check=True, capture_output=True)
    return path


def ffmpeg_filter(src, dest, audio_filter):
    subprocess.run([FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-i", src, "-af", audio_filter, dest],
                   check=True)
    return dest


def pitch_shift_filter(rate, cents):
    """Pitch up by `cents` at the same duration: play faster (asetrate), back to the rate, stretch back (atempo)."""
    ratio = 2.0 ** (cents / 1200.0)
    return f"asetrate={rate}*{ratio!r},aresample={rate},atempo={1.0 / ratio!r}"


@requires_scoring
class ScoringTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from vsworker import scoring

        cls.scoring = scoring
        cls.tmp = tempfile.mkdtemp(prefix="vs-scoring-")
        cls.encoder = scoring.SpeakerEncoder("cpu")
        cls.wavs = {}
        for voice in ("en-us+m3", "en-us+f4"):
            for i, text in enumerate(SENTENCES):
                cls.wavs[voice, i] = speak(voice, text, os.path.join(cls.tmp, f"{voice}-{i}.wav"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def samples(self, path):
        return self.scoring.load_samples(FFMPEG, path, os.path.join(self.tmp, "samples.f32"), path)

    def embed(self, path):
        return self.encoder.embed(self.samples(path), path)

    def test_a_voice_is_closer_to_itself_than_to_another_voice(self):
        singer = self.scoring.mean_embedding([self.embed(self.wavs["en-us+m3", i]) for i in (1, 2, 3)])
        same = self.scoring.similarity(self.embed(self.wavs["en-us+m3", 0]), singer)
        other = self.scoring.similarity(self.embed(self.wavs["en-us+f4", 0]), singer)
        self.assertGreater(same, 0.85)
        self.assertGreater(same - other, 0.15, f"same voice {same:.3f}, other voice {other:.3f}")

    def pitch_error(self, cents, semitones_applied):
        guide = self.wavs["en-us+m3", 0]
        shifted = ffmpeg_filter(guide, os.path.join(self.tmp, f"shift{cents}.wav"), pitch_shift_filter(22050, cents))
        return self.scoring.pitch_accuracy(self.scoring.pitch_track(self.samples(guide)),
                                           self.scoring.pitch_track(self.samples(shifted)), semitones_applied)

    def test_an_exact_pitch_shifted_copy_has_no_pitch_error_once_the_shift_is_applied(self):
        # Not 0: pYIN's 10-cent steps on espeak's fast glides and atempo's few milliseconds of delay leave
        # about 17 cents; half the 50-cent bound of the audition still tells an exact copy from a detuned one.
        accuracy = self.pitch_error(200, 2)
        self.assertLess(accuracy.rmse_cents, 25)
        self.assertGreater(accuracy.voicing_agreement, 0.9)
        self.assertGreater(accuracy.frames_compared, 100)
        # The same copy against the guide unshifted is two semitones off.
        self.assertAlmostEqual(self.pitch_error(200, 0).rmse_cents, 200, delta=20)

    def test_a_copy_detuned_by_50_cents_is_50_cents_off(self):
        self.assertAlmostEqual(self.pitch_error(50, 0).rmse_cents, 50, delta=12)

    def test_no_frame_voiced_in_both_gives_no_pitch_error(self):
        import numpy as np

        voiced = self.scoring.PitchTrack(np.full(10, 200.0), np.ones(10, dtype=bool))
        silent = self.scoring.PitchTrack(np.full(10, np.nan), np.zeros(10, dtype=bool))
        accuracy = self.scoring.pitch_accuracy(voiced, silent, 0)
        self.assertIsNone(accuracy.rmse_cents)
        self.assertEqual(accuracy.voicing_agreement, 0.0)

    def test_pooled_rmse_weights_phrases_by_their_voiced_frames(self):
        acc = self.scoring.PitchAccuracy
        pooled = self.scoring.pooled_rmse([acc(10.0, 300, 100), acc(40.0, 100, 300), acc(None, 0.0, 0)])
        self.assertAlmostEqual(pooled, math.sqrt((100 * 100 + 1600 * 300) / 400))
        self.assertIsNone(self.scoring.pooled_rmse([acc(None, 0.5, 0)]))

    def test_dnsmos_rates_noisy_speech_below_clean_speech(self):
        clean = self.wavs["en-us+m3", 1]
        noisy = os.path.join(self.tmp, "noisy.wav")
        subprocess.run([FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-i", clean,
                        "-f", "lavfi", "-i", "anoisesrc=color=white:amplitude=0.3:seed=7:sample_rate=22050",
                        "-filter_complex", "amix=inputs=2:duration=first", noisy], check=True)
        clean_mos = self.scoring.naturalness(self.samples(clean))
        noisy_mos = self.scoring.naturalness(self.samples(noisy))
        self.assertEqual(set(clean_mos), {"ovrl", "sig", "bak", "p808"})
        self.assertGreater(clean_mos["bak"] - noisy_mos["bak"], 0.5, (clean_mos, noisy_mos))
        self.assertGreater(clean_mos["ovrl"], noisy_mos["ovrl"])

    def test_too_little_voice_for_an_embedding_is_an_error_naming_the_clip(self):
        import numpy as np

        from vsworker.errors import JobError

        with self.assertRaisesRegex(JobError, "clip.wav has less than 0.5 s of voice"):
            self.encoder.embed(np.zeros(self.scoring.SAMPLE_RATE, dtype=np.float32), "clip.wav")

    def test_an_output_without_voice_is_embedded_whole_and_scores_below_the_voice(self):
        # What a real Applio gives from untrained (random) weights: low noise, no voice for Resemblyzer to keep.
        import numpy as np

        singer = self.scoring.mean_embedding([self.embed(self.wavs["en-us+m3", i]) for i in (1, 2, 3)])
        noise = (0.01 * np.random.default_rng(0).standard_normal(2 * self.scoring.SAMPLE_RATE)).astype(np.float32)
        for output in (noise, np.zeros(self.scoring.SAMPLE_RATE, dtype=np.float32)):
            score = self.scoring.similarity(self.encoder.embed(output, "an output", require_voice=False), singer)
            self.assertTrue(-1.0 <= score <= 1.0, score)
            self.assertLess(score, self.scoring.similarity(self.embed(self.wavs["en-us+m3", 0]), singer))


OFFLINE_CHECK = """
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access during scoring")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.getaddrinfo = refuse
sys.path.insert(0, sys.argv[1])
from vsworker.scoring import self_check
print(self_check())
"""


@requires_scoring
class OfflineTests(unittest.TestCase):
    def test_every_model_loads_and_scores_with_the_network_refused(self):
        # A fresh interpreter, so that importing the libraries and loading their weights happen under the ban.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "TORCH_HOME"))}
        proc = subprocess.run([sys.executable, "-c", OFFLINE_CHECK, GPU_DIR], capture_output=True, text=True,
                              env=env, timeout=600)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        self.assertIn("'embedding_size': 256", proc.stdout)
        self.assertIn("'f0_rmse_cents': 0.0", proc.stdout)
        self.assertIn("'dnsmos': {'ovrl'", proc.stdout)


if __name__ == "__main__":
    unittest.main()
