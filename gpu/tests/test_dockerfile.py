"""Static checks of gpu/Dockerfile (it cannot be built here) and of the
build-time weight verification helper."""

import gzip
import hashlib
import http.server
import importlib.util
import os
import re
import shlex
import shutil
import tempfile
import threading
import unittest
import zipfile

from tests.support import GPU_DIR
from vsworker import APPLIO_TAG
from vsworker.settings import DEFAULT_APPLIO_DIR, DEFAULT_SEPARATOR_MODEL, DEFAULT_SEPARATOR_MODEL_DIR, DEFAULT_VOLUME

DOCKERFILE = os.path.join(GPU_DIR, "Dockerfile")


def load_dockerfile():
    with open(DOCKERFILE, encoding="utf-8") as fh:
        text = fh.read()
    # Join continuation lines into logical instructions, dropping comments.
    logical, current = [], ""
    for line in text.splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    return text, logical


def version_tuple(text):
    return tuple(int(p) for p in text.split("."))


class DockerfileTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.text, cls.instructions = load_dockerfile()
        cls.runs = [i[4:] for i in cls.instructions if i.startswith("RUN ")]

    def args(self, name):
        match = re.search(rf"^ARG {name}=(\S+)$", self.text, re.MULTILINE)
        self.assertIsNotNone(match, f"ARG {name} missing")
        return match.group(1)

    def test_base_image_is_a_pinned_cuda_12_8_runtime_for_amd64(self):
        froms = [i for i in self.instructions if i.startswith("FROM ")]
        self.assertEqual(len(froms), 1)
        self.assertRegex(froms[0], r"^FROM --platform=linux/amd64 nvidia/cuda:12\.8\.\d+-(cudnn-)?runtime-ubuntu\d+\.\d+$")
        self.assertNotIn(":latest", froms[0])

    def test_python_3_12(self):
        self.assertIn("python3.12", self.runs[0])
        self.assertEqual(len(re.findall(r"python3\.12 -m venv", self.text)), 3)

    def test_applio_is_pinned_to_the_tag_and_commit(self):
        self.assertEqual(self.args("APPLIO_TAG"), APPLIO_TAG)
        self.assertRegex(self.args("APPLIO_COMMIT"), r"^[0-9a-f]{40}$")
        clone = next(r for r in self.runs if "git clone" in r)
        self.assertIn('--branch "${APPLIO_TAG}" https://github.com/IAHispano/Applio.git /app/applio', clone)
        self.assertIn('test "$(git -C /app/applio rev-parse HEAD)" = "${APPLIO_COMMIT}"', clone)
        self.assertIn("/app/applio", DEFAULT_APPLIO_DIR)

    def test_requirements_with_the_cuda_12_8_torch_index(self):
        install = next(r for r in self.runs if "/app/applio/requirements.txt" in r)
        self.assertIn("torch==2.11.0 torchaudio==2.11.0 --index-url https://download.pytorch.org/whl/cu128", install)
        self.assertLess(install.index("--index-url https://download.pytorch.org/whl/cu128"),
                        install.index("-r /app/applio/requirements.txt"))
        self.assertIn("startswith('12.8')", install)

    def test_config_json_prerequisites_and_checksum_step(self):
        step = next(r for r in self.runs if "prerequisites" in r)
        parts = [p.strip() for p in step.split("&&")]
        self.assertEqual(parts[0], "cp assets/config_template.json assets/config.json")
        self.assertIn("core.py prerequisites --pretraineds_hifigan True --models True --exe False", parts[1])
        self.assertTrue(any("applio_weights.py verify" in p for p in parts[2:]))
        self.assertTrue(self.text.index("WORKDIR /app/applio") < self.text.index("core.py prerequisites"))
        self.assertIn("COPY docker/applio_weights.py", self.text)

    def test_every_accepted_embedder_is_baked_and_verified(self):
        # Applio downloads a missing embedder with wget on first use (on every cold
        # worker) and later treats a partial download as present.
        from vsworker.choices import EMBEDDERS

        step = next(r for r in self.runs if "fetch-embedders" in r)
        parts = [p.strip() for p in step.split("&&")]
        fetch = shlex.split(next(p for p in parts if "fetch-embedders" in p))
        verify = shlex.split(next(p for p in parts if "applio_weights.py verify " in p + " "))
        fetched = fetch[fetch.index("fetch-embedders") + 1:]
        verified = [verify[i + 1] for i, word in enumerate(verify) if word == "--embedder"]
        for name in EMBEDDERS:
            if name == "contentvec":  # core.py prerequisites --models True
                continue
            with self.subTest(embedder=name):
                self.assertIn(name, fetched)
                self.assertIn(name, verified)

    def test_applio_logs_stay_as_shipped(self):
        self.assertFalse([i for i in self.instructions if i.startswith("VOLUME")])
        checks = next(r for r in self.runs if "logs/mute/" in r)
        for path in ("logs/mute/", "logs/reference/reference.wav"):
            self.assertIn(path, checks)

    def test_audio_separator_and_its_model(self):
        step = next(r for r in self.runs if "audio-separator" in r)
        self.assertRegex(step, r'"audio-separator\[gpu\]==\d+\.\d+\.\d+"')
        self.assertIn("--download_model_only", step)
        self.assertIn("--model_file_dir /app/separator-models", step)
        self.assertEqual(self.args("SEPARATOR_MODEL"), DEFAULT_SEPARATOR_MODEL)
        self.assertEqual(DEFAULT_SEPARATOR_MODEL_DIR, "/app/separator-models")
        self.assertIn("verify-file", step)

    def test_ffmpeg(self):
        self.assertIn("ffmpeg", self.runs[0])
        self.assertIn("FFMPEG_PATH=/usr/bin/ffmpeg", self.text)

    def test_runpod_is_pinned_at_1_10_1_or_later(self):
        match = re.search(r"runpod==(\d+\.\d+\.\d+)", self.text)
        self.assertIsNotNone(match, "runpod must be pinned exactly")
        self.assertGreaterEqual(version_tuple(match.group(1)), (1, 10, 1))

    def test_the_tests_run_the_runpod_the_image_installs(self):
        with open(os.path.join(GPU_DIR, "requirements-test.txt"), encoding="utf-8") as fh:
            tested = re.search(r"^runpod==(\S+)$", fh.read(), re.MULTILINE)
        self.assertIsNotNone(tested, "requirements-test.txt must pin runpod")
        self.assertEqual(tested.group(1), re.search(r"runpod==(\d+\.\d+\.\d+)", self.text).group(1))

    def test_the_scoring_packages_are_those_the_tests_run(self):
        with open(os.path.join(GPU_DIR, "requirements-test.txt"), encoding="utf-8") as fh:
            tested = dict(line.lower().split("==") for line in fh.read().split() if "==" in line)
        step = next(r for r in self.runs if "Resemblyzer==" in r)
        self.assertIn("/opt/worker-venv/bin/pip install torch==2.13.0 --no-deps "
                      "--index-url https://download.pytorch.org/whl/cpu", step)
        installed = dict(word.lower().split("==") for word in shlex.split(step) if "==" in word)
        for name in ("torch", "resemblyzer", "webrtcvad", "librosa", "speechmos", "onnxruntime", "numpy", "setuptools"):
            self.assertIn(name, installed)
        for name, version in installed.items():
            with self.subTest(package=name):
                self.assertEqual(version, tested.get(name), f"{name}: the image and requirements-test.txt differ")
        # Installed before the worker's code comes in, and checked (models load, a vowel is scored) after.
        self.assertLess(self.text.index("Resemblyzer=="), self.text.index("COPY vsworker"))
        self.assertGreater(self.text.index("from vsworker.scoring import self_check"), self.text.index("COPY vsworker"))

    def test_every_pip_package_is_pinned(self):
        for run in self.runs:
            for command in run.split("&&"):
                words = shlex.split(command)
                if "pip" not in " ".join(words[:1]) or "install" not in words:
                    continue
                args = words[words.index("install") + 1:]
                skip_next = False
                for arg in args:
                    if skip_next:
                        skip_next = False
                        continue
                    if arg in ("-r", "--index-url", "--extra-index-url", "-c"):
                        skip_next = True
                        continue
                    if arg.startswith("-"):  # a flag without a value (--no-deps)
                        continue
                    with self.subTest(command=command.strip(), package=arg):
                        self.assertRegex(arg, r"^[A-Za-z0-9_.\-\[\]]+==\d+(\.\d+)*(\.post\d+)?$")

    def test_environment_matches_the_worker_defaults(self):
        self.assertIn(f"APPLIO_DIR={DEFAULT_APPLIO_DIR}", self.text)
        self.assertIn(f"VOICESTUDIO_VOLUME={DEFAULT_VOLUME}", self.text)
        self.assertIn("APPLIO_PYTHON=/opt/applio-venv/bin/python", self.text)
        self.assertIn('PATH="/opt/worker-venv/bin:${PATH}"', self.text)

    def test_worker_files_and_cmd(self):
        self.assertIn("COPY handler.py /app/worker/handler.py", self.text)
        self.assertIn("COPY vsworker /app/worker/vsworker", self.text)
        self.assertEqual(self.instructions[-1], 'CMD ["python", "-u", "handler.py"]')
        self.assertIn("WORKDIR /app/worker", self.instructions)

    def test_dockerignore(self):
        with open(os.path.join(GPU_DIR, ".dockerignore")) as fh:
            entries = fh.read().split()
        self.assertIn("tests/", entries)
        self.assertIn("**/__pycache__/", entries)
        for needed in ("handler.py", "vsworker", "docker"):
            self.assertNotIn(needed, entries)


class WeightVerificationTests(unittest.TestCase):
    """gpu/docker/applio_weights.py catches partial downloads Applio would keep."""

    @classmethod
    def setUpClass(cls):
        path = os.path.join(GPU_DIR, "docker", "applio_weights.py")
        spec = importlib.util.spec_from_file_location("applio_weights", path)
        cls.weights = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cls.weights)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vs-weights-")
        self.old_cwd = os.getcwd()
        os.chdir(self.tmp)

    def tearDown(self):
        os.chdir(self.old_cwd)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_zip(self, path, payload):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", payload)
        with open(path, "rb") as fh:
            return fh.read()

    def test_sizes_checksums_and_zip_structure(self):
        good = self.write_zip("rvc/good.pth", b"x" * 1000)
        partial = self.write_zip("rvc/partial.pth", b"y" * 1000)
        with open("rvc/partial.pth", "r+b") as fh:
            fh.truncate(len(partial) - 40)
        self.write_zip("rvc/tampered.pth", b"z" * 1000)
        facts = {
            "good.pth": (len(good), hashlib.sha256(good).hexdigest()),
            "partial.pth": (len(partial), None),
            "tampered.pth": (os.path.getsize("rvc/tampered.pth"), "0" * 64),
            "missing.pth": (10, None),
        }
        files = [(name, f"rvc/{name}") for name in facts]
        problems = self.weights.verify(files, facts=lambda url: facts[url.rsplit("/", 1)[1]], log=lambda line: None)
        text = "\n".join(problems)
        self.assertNotIn("good.pth", text)
        self.assertIn("rvc/partial.pth:", text)
        self.assertIn("rvc/tampered.pth: sha256 differs", text)
        self.assertIn("rvc/missing.pth: missing", text)

    @unittest.skipIf(importlib.util.find_spec("requests") is None,
                     "requests is not installed: run `npm run setup:python` and use its python")
    def test_sizes_from_head_are_those_of_the_file_not_of_a_compressed_body(self):
        body = b"weights " * 4096
        compressed = gzip.compress(body)
        seen = []

        class Server(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self):
                encoding = self.headers.get("Accept-Encoding", "")
                seen.append(encoding)
                self.send_response(200)
                if self.path == "/always-gzip" or "gzip" in encoding:
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(compressed)))
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        self.assertEqual(self.weights.remote_facts(f"{base}/file"), (len(body), None))
        self.assertEqual(seen[-1], "identity")
        # A server that compresses anyway: its Content-Length is not the file's size.
        self.assertEqual(self.weights.remote_facts(f"{base}/always-gzip"), (None, None))

    def test_expected_files_match_what_the_worker_reports(self):
        from vsworker.info import BAKED_APPLIO_FILES

        self.assertEqual(sorted(local for _, local in self.weights.PREREQUISITES), sorted(BAKED_APPLIO_FILES))


if __name__ == "__main__":
    unittest.main()
