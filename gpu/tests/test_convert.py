"""The convert task with the stand-in VoiceConverter in the warm child process."""

import base64
import io
import os
import threading
import unittest
import wave

from tests.support import WorkerEnv, b64, encode_audio, requires_ffmpeg, standin, wav_bytes
from vsworker import converter as converter_module
from vsworker.converter import stop_warm_converter


def model_bytes(root, sample_rate=40000, embedder="contentvec", name="alice", epochs=300, **extra):
    """An inference model laid out like Applio's extract_model output (extra: more entries, e.g. the
    stand-in's standin_voice)."""
    path = os.path.join(root, f"{name}-{sample_rate}-{embedder}-{epochs}.pth")
    standin.save_pth(path, {
        "weight": {"emb_g.weight": "tensor"},
        "config": [1025, 32, 192, 192, 768, 2, 6, 3, 0, "1", [3, 7, 11], [[1, 3, 5]] * 3, [10, 10, 2, 2],
                   512, [16, 16, 4, 4], 1, 256, sample_rate],
        "epoch": epochs, "step": epochs * 10, "sr": sample_rate, "f0": True, "version": "v2",
        "embedder_model": embedder, "vocoder": "HiFi-GAN", "model_name": name, **extra,
    })
    with open(path, "rb") as fh:
        return fh.read()


def decode_wav(data):
    with wave.open(io.BytesIO(data)) as w:
        return w.getframerate(), w.getnframes() / w.getframerate()


@requires_ffmpeg
class ConvertTests(unittest.TestCase):
    def setUp(self):
        stop_warm_converter()
        self.env = WorkerEnv()
        self.model = model_bytes(self.env.root)
        self.addCleanup(stop_warm_converter)

    def tearDown(self):
        self.env.cleanup()

    def convert(self, **fields):
        job = {"task": "convert", "model": {"data": b64(self.model)},
               "input": {"data": b64(wav_bytes(2.0, 44100, 330))}}
        job.update(fields)
        return self.env.run(job)

    def test_inline_conversion_and_warm_model(self):
        result, reporter = self.convert(pitch=12, index_rate=0.5, protect=0.2, volume_envelope=0.8,
                                        f0_method="fcpe", split_audio=True, clean_audio=True, clean_strength=0.4)
        self.assertNotIn("error", result, result.get("error"))
        output = result["output"]
        self.assertEqual(set(output), {"sha256", "size", "data", "format", "sample_rate", "duration_seconds"})
        rate, seconds = decode_wav(base64.b64decode(output["data"]))
        self.assertEqual(rate, 40000)  # the model's rate
        self.assertAlmostEqual(seconds, 2.0, places=2)
        self.assertEqual(output["sample_rate"], 40000)
        self.assertEqual(result["model"]["embedder"], "contentvec")
        self.assertFalse(result["model"]["warm"])
        self.assertEqual(result["settings"]["pitch"], 12)
        self.assertEqual(result["settings"]["index_rate"], 0.0)  # no index given
        self.assertTrue(any("Pitch factor 2.000, f0 fcpe, protect 0.2" in l for l in reporter.lines))
        first_pid = converter_module._warm["process"].pid

        again, reporter = self.convert()
        self.assertTrue(again["model"]["warm"])
        self.assertEqual(converter_module._warm["process"].pid, first_pid)
        self.assertFalse(any("Loaded voice model" in l for l in reporter.lines))

        other = model_bytes(self.env.root, sample_rate=48000)
        third, reporter = self.convert(model={"data": b64(other)})
        self.assertFalse(third["model"]["warm"])
        self.assertEqual(third["output"]["sample_rate"], 48000)
        self.assertTrue(any("Loaded voice model" in l for l in reporter.lines))

    def test_progress_only_before_loading_a_model(self):
        # runpod-python sends progress from a thread; an update right before a sub-second warm
        # conversion could reach RunPod after the result and leave the job IN_PROGRESS.
        first, reporter = self.convert()
        self.assertFalse(first["model"]["warm"])
        self.assertEqual([u["stage"] for u in reporter.updates], ["convert"])
        self.assertIn("loading the voice model", reporter.updates[0]["message"])
        again, reporter = self.convert()
        self.assertTrue(again["model"]["warm"])
        self.assertEqual(reporter.updates, [])
        other, reporter = self.convert(model={"data": b64(model_bytes(self.env.root, sample_rate=48000))})
        self.assertFalse(other["model"]["warm"])
        self.assertEqual([u["stage"] for u in reporter.updates], ["convert"])

    def test_training_stops_the_warm_converter_first(self):
        from tests.test_training import train_input

        self.convert()
        process = converter_module._warm["process"]
        self.assertTrue(process.alive())
        result, _ = self.env.run(train_input(epochs=2))
        self.assertNotIn("error", result, result.get("error"))
        self.assertIsNone(converter_module._warm["process"])
        self.assertFalse(process.alive())

    def test_blob_model_with_index_and_blob_output(self):
        model_sha = self.env.put_blob(self.model)
        index_sha = self.env.put_blob(b"FAKE-FAISS index")
        result, reporter = self.convert(model={"blob": model_sha}, index={"blob": index_sha},
                                        index_rate=0.75, output_mode="blob")
        self.assertNotIn("error", result, result.get("error"))
        self.assertEqual(result["output"]["blob"], result["output"]["sha256"])
        self.assertNotIn("data", result["output"])
        rate, _ = decode_wav(self.env.read_blob(result["output"]["sha256"]))
        self.assertEqual(rate, 40000)
        self.assertTrue(any("Using index" in l and index_sha in l and "0.75" in l for l in reporter.lines))

    def test_an_index_applio_cannot_read_fails_the_job(self):
        index_sha = self.env.put_blob(b"not a faiss index")
        result, _ = self.convert(index={"blob": index_sha}, index_rate=0.75)
        self.assertIn("Applio could not read input.index", result["error"])
        self.assertIn("An error occurred reading the FAISS index", result["error"])
        self.assertIn("index_rate 0", result["error"])
        result, _ = self.convert(index={"blob": index_sha}, index_rate=0.0)  # Applio does not read it then
        self.assertNotIn("error", result, result.get("error"))

    def test_large_output_becomes_a_blob(self):
        long_input = wav_bytes(46.0, 16000, 200)  # 46 s at 48 kHz 16-bit ≈ 4.4 MB out
        model_sha = self.env.put_blob(model_bytes(self.env.root, sample_rate=48000))
        input_sha = self.env.put_blob(long_input)
        result, _ = self.convert(model={"blob": model_sha}, input={"blob": input_sha}, output_mode="inline")
        self.assertNotIn("error", result, result.get("error"))
        self.assertIn("blob", result["output"])
        self.assertGreater(result["output"]["size"], 4 * 1024 * 1024)

    def test_other_input_and_output_formats(self):
        m4a = encode_audio(wav_bytes(2.0, 44100, 330), "m4a", self.env.root)
        result, _ = self.convert(input={"data": b64(m4a)}, output_format="mp3")
        self.assertNotIn("error", result, result.get("error"))
        self.assertEqual(result["output"]["format"], "mp3")
        self.assertEqual(result["output"]["sample_rate"], 44100)  # MP3 has no 40 kHz
        data = base64.b64decode(result["output"]["data"])
        self.assertTrue(data[:3] == b"ID3" or data[0] == 0xFF)
        result, _ = self.convert(output_format="flac")
        self.assertEqual(base64.b64decode(result["output"]["data"])[:4], b"fLaC")

    def test_autotune_with_a_pitch_shift_is_refused(self):
        # Applio 3.6.4 shifts the pitch only when autotune is off (rvc/infer/pipeline.py).
        result, reporter = self.convert(pitch=-3, autotune=True)
        self.assertIn("input.autotune cannot be combined with input.pitch -3", result["error"])
        self.assertIn("send pitch 0 with autotune, or autotune false", result["error"])
        self.assertFalse(any("Converting audio" in line for line in reporter.lines))
        result, reporter = self.convert(pitch=0, autotune=True, autotune_strength=0.5)
        self.assertNotIn("error", result, result.get("error"))
        self.assertTrue(result["settings"]["autotune"])

    def test_embedder_comes_from_the_model(self):
        self.model = model_bytes(self.env.root, embedder="spin")
        result, reporter = self.convert()
        self.assertEqual(result["model"]["embedder"], "spin")
        self.assertTrue(any("Loaded embedder 'spin'" in l for l in reporter.lines))
        result, _ = self.convert(embedder="contentvec")
        self.assertIn("input.embedder is 'contentvec' but the model (input.model) was trained with 'spin'", result["error"])

    def test_a_cancelled_conversion_stops_the_conversion_process(self):
        from tests.support import MemoryReporter, TaskContext, handle_job, wait_until
        from vsworker.context import Cancellation

        cancellation = Cancellation()
        reporter = MemoryReporter()
        ctx = TaskContext(self.env.settings(), reporter, "job-1", cancellation=cancellation)
        job = {"task": "convert", "model": {"data": b64(self.model)}, "input": {"data": b64(wav_bytes(1.0, 16000))}}
        results = []
        os.environ["FAKE_APPLIO_FAULT"] = "infer-hang"  # read by the conversion process it starts
        self.addCleanup(os.environ.pop, "FAKE_APPLIO_FAULT", None)
        worker = threading.Thread(target=lambda: results.append(handle_job({"id": "job-1", "input": job}, ctx)))
        worker.start()
        wait_until(lambda: any("Converting audio" in line for line in reporter.lines), what="the conversion to start")
        process = converter_module._warm["process"]
        cancellation.cancel()
        worker.join(timeout=60)
        self.assertIn("the job was cancelled", results[0]["error"])
        wait_until(lambda: not process.alive(), timeout=30, what="the conversion process to end")

        del os.environ["FAKE_APPLIO_FAULT"]
        again, _ = self.convert()  # a new conversion process
        self.assertNotIn("error", again, again.get("error"))
        self.assertFalse(again["model"]["warm"])

    def test_applio_prints_an_error_and_writes_nothing(self):
        result, _ = self.env.run(
            {"task": "convert", "model": {"data": b64(self.model)},
             "input": {"data": b64(wav_bytes(1.0, 16000))}},
            FAKE_APPLIO_FAULT="infer-no-output",
        )
        self.assertIn("finished without writing audio", result["error"])
        self.assertIn("An error occurred during conversion", result["error"])

    def test_bad_models_and_inputs(self):
        checkpoint = os.path.join(self.env.root, "G_100.pth")
        standin.save_pth(checkpoint, {"model": {}, "iteration": 10, "optimizer": {}})
        with open(checkpoint, "rb") as fh:
            result, _ = self.convert(model={"data": b64(fh.read())})
        self.assertIn("input.model: this is a training checkpoint", result["error"])
        result, _ = self.convert(model={"data": b64(b"not a model at all")})
        self.assertIn("input.model: not a PyTorch zip checkpoint", result["error"])
        result, _ = self.convert(input={"data": b64(b"definitely not audio")})
        self.assertIn("input.input: FFmpeg could not decode it", result["error"])
        result, _ = self.convert(f0_method="hybrid[rmvpe+fcpe]")
        self.assertIn("does not implement them", result["error"])
        result, _ = self.convert(model={"blob": "c" * 64})
        self.assertIn("input.model: blob " + "c" * 64 + " is not in the store", result["error"])

    def test_inline_job_works_without_a_volume(self):
        result, _ = self.env.run(
            {"task": "convert", "model": {"data": b64(self.model)},
             "input": {"data": b64(wav_bytes(1.0, 16000))}},
            VOICESTUDIO_VOLUME=os.path.join(self.env.root, "no-volume"),
        )
        self.assertNotIn("error", result, result.get("error"))
        self.assertIn("data", result["output"])

    def test_scratch_path_with_trained_in_it_is_refused(self):
        result, _ = self.env.run(
            {"task": "convert", "model": {"data": b64(self.model)},
             "input": {"data": b64(wav_bytes(1.0, 16000))}},
            VOICESTUDIO_SCRATCH=os.path.join(self.env.root, "trained-models"),
        )
        self.assertIn("must not contain the word 'trained'", result["error"])

    def test_inline_size_limits(self):
        big = b"\x00" * (4 * 1024 * 1024 + 1)
        result, _ = self.convert(input={"data": b64(big)})
        self.assertIn("input.input.data is too large", result["error"])
        three_mib = b"\x00" * (3 * 1024 * 1024)
        result, _ = self.convert(model={"data": b64(three_mib)}, input={"data": b64(three_mib + b"x" * 1024)})
        self.assertIn("inline files of one job may total at most", result["error"])


class StagingTests(unittest.TestCase):
    def test_staged_models_are_bounded_and_reused(self):
        import tempfile
        import shutil

        from vsworker.conversion import STAGED_MODELS_KEPT, stage_file
        from vsworker.fileref import FileRef

        folder = tempfile.mkdtemp(prefix="vs-stage-")
        self.addCleanup(shutil.rmtree, folder, True)
        paths = []
        for i in range(STAGED_MODELS_KEPT + 5):
            ref = FileRef("input.model", data=f"model {i}".encode())
            paths.append(stage_file(ref, ctx=None, directory=folder, suffix=".pth"))
            old = 1000000 + i  # strictly increasing mtimes without sleeping
            os.utime(paths[-1], (old, old))
        self.assertEqual(len(os.listdir(folder)), STAGED_MODELS_KEPT)
        self.assertTrue(os.path.exists(paths[-1]))
        self.assertFalse(os.path.exists(paths[0]))
        again = stage_file(FileRef("input.model", data=b"model 20"), ctx=None, directory=folder, suffix=".pth")
        self.assertEqual(again, paths[-1])  # same bytes, same path: the warm model stays loaded


if __name__ == "__main__":
    unittest.main()
