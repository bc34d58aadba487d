"""The info task and the --local-job command line."""

import json
import os
import subprocess
import sys
import unittest

from tests.support import HANDLER, WorkerEnv, b64, tar_bytes, wav_bytes


class InfoTests(unittest.TestCase):
    def setUp(self):
        self.env = WorkerEnv()

    def tearDown(self):
        self.env.cleanup()

    def test_info_reports_environment_and_baked_files(self):
        result, _ = self.env.run({"task": "info"})
        self.assertEqual(result["worker"]["protocol"], 1)
        self.assertIs(result["worker"]["allow_cpu"], True)  # WorkerEnv runs the stand-in with VOICESTUDIO_ALLOW_CPU=1
        self.assertEqual(result["applio"]["version"], "3.6.4")
        self.assertTrue(result["applio"]["present"])
        self.assertTrue(result["applio"]["config_json"])
        self.assertTrue(result["volume"]["present"])
        self.assertIsInstance(result["volume"]["free_bytes"], int)
        files = {f["name"]: f for f in result["files"]}
        self.assertTrue(files["rvc/models/pretraineds/hifi-gan/f0G40k.pth"]["present"])
        self.assertGreater(files["rvc/models/pretraineds/hifi-gan/f0G40k.pth"]["size"], 0)
        self.assertFalse(files["rvc/models/predictors/rmvpe.pt"]["present"])  # not in the stand-in
        self.assertEqual(result["limits"]["chunk_max_bytes"], 4 * 1024 * 1024)
        torch = result["torch"]
        if not torch["available"]:  # no torch on the test machine: reported, not fatal
            self.assertIn("torch", torch["error"])
        self.assertFalse(result["separator"]["model"]["present"])
        shm = result["shm"]  # Applio's training DataLoader passes its batches through /dev/shm
        self.assertEqual((shm["path"], shm["recommended_bytes"]), ("/dev/shm", 2 * 1024 ** 3))
        if os.path.isdir("/dev/shm"):
            stat = os.statvfs("/dev/shm")
            self.assertEqual(shm["total_bytes"], stat.f_blocks * stat.f_frsize)

    def test_info_without_volume_or_applio(self):
        result, _ = self.env.run({"task": "info"}, APPLIO_DIR=os.path.join(self.env.root, "none"),
                                 VOICESTUDIO_VOLUME=os.path.join(self.env.root, "none"))
        self.assertFalse(result["applio"]["present"])
        self.assertFalse(result["volume"]["present"])
        self.assertIsNone(result["volume"]["free_bytes"])


FAKE_APPLIO_PYTHON = """#!{python}
import json, os, sys
if sys.argv[1:2] == ["-c"] and "VOICESTUDIO_TORCH" in sys.argv[2]:
    with open({counter!r}, "a") as fh:
        fh.write("probe\\n")
    print("VOICESTUDIO_TORCH " + json.dumps({probe!r}))
    sys.exit(0)
os.execv(sys.executable, [sys.executable] + sys.argv[1:])
"""


class CudaCheckTests(unittest.TestCase):
    """train and convert refuse to run on the CPU unless VOICESTUDIO_ALLOW_CPU=1."""

    def setUp(self):
        self.env = WorkerEnv()

    def tearDown(self):
        self.env.cleanup()

    def fake_python(self, **probe):
        """An APPLIO_PYTHON whose torch probe reports `probe`; everything else runs normally."""
        path = os.path.join(self.env.root, "fake-python")
        self.counter = os.path.join(self.env.root, "probes.txt")
        with open(path, "w") as fh:
            fh.write(FAKE_APPLIO_PYTHON.format(python=sys.executable, counter=self.counter, probe=probe))
        os.chmod(path, 0o755)
        return path

    def probes(self):
        try:
            with open(self.counter) as fh:
                return len(fh.read().splitlines())
        except FileNotFoundError:
            return 0

    def test_train_and_convert_fail_without_a_cuda_gpu(self):
        python = self.fake_python(version="2.11.0+cu128", cuda_build="12.8", cuda_available=False)
        train = {"task": "train", "run_id": "alice", "dataset": {"data": b64(tar_bytes({"a.wav": wav_bytes(1.0)}))}}
        convert = {"task": "convert", "model": {"data": b64(b"model")}, "input": {"data": b64(b"audio")}}
        for job in (train, convert):
            result, reporter = self.env.run(job, APPLIO_PYTHON=python, VOICESTUDIO_ALLOW_CPU="")
            with self.subTest(task=job["task"]):
                self.assertIn("no CUDA GPU visible: the endpoint's GPU/driver does not match CUDA 12.8; set "
                              "Allowed CUDA versions ≥ 12.8 in the endpoint settings", result["error"])
                self.assertIn("VOICESTUDIO_ALLOW_CPU=1", result["error"])
                self.assertFalse(any("running:" in line for line in reporter.lines))
        self.assertEqual(self.probes(), 2)  # a failed probe is not cached

    def test_probe_runs_once_per_process_and_not_at_all_when_cpu_is_allowed(self):
        from vsworker.hardware import require_cuda

        python = self.fake_python(version="2.11.0+cu128", cuda_build="12.8", cuda_available=True,
                                  gpu_name="NVIDIA GeForce RTX 4090")
        self.assertIsNone(require_cuda(self.env.settings(APPLIO_PYTHON=python, VOICESTUDIO_ALLOW_CPU="1")))
        self.assertEqual(self.probes(), 0)
        for _ in range(2):
            info = require_cuda(self.env.settings(APPLIO_PYTHON=python, VOICESTUDIO_ALLOW_CPU=""))
            self.assertEqual(info["gpu_name"], "NVIDIA GeForce RTX 4090")
        self.assertEqual(self.probes(), 1)
        result, _ = self.env.run({"task": "info"}, APPLIO_PYTHON=python)
        self.assertTrue(result["torch"]["cuda_available"])
        self.assertEqual(self.probes(), 1)  # info reuses the cached probe

    def extract_log(self, reporter):
        return [line for line in reporter.lines if line.startswith("[extract] ")]

    def test_without_cuda_extraction_runs_on_the_cpu(self):
        from tests.test_training import train_input

        python = self.fake_python(version="2.11.0", cuda_build=None, cuda_available=False, mps_available=True)
        result, reporter = self.env.run(train_input(epochs=2), APPLIO_PYTHON=python)
        self.assertNotIn("error", result, result.get("error"))
        log = self.extract_log(reporter)
        self.assertRegex(log[0], r"extract\.py \S+ rmvpe \d+ - 32000 ")  # Applio's GPU list for its CPU mode
        self.assertIn("[extract] Starting pitch extraction on cpu using rmvpe...", log)
        info, _ = self.env.run({"task": "info"}, APPLIO_PYTHON=python)
        self.assertEqual(info["torch"]["devices"], {"extract": "cpu", "train": "mps", "convert": "cpu"})

    def test_with_cuda_extraction_runs_on_gpu_0(self):
        from tests.test_training import train_input

        python = self.fake_python(version="2.11.0+cu128", cuda_build="12.8", cuda_available=True,
                                  gpu_name="NVIDIA GeForce RTX 4090")
        result, reporter = self.env.run(train_input(epochs=2), APPLIO_PYTHON=python, VOICESTUDIO_ALLOW_CPU="",
                                        FAKE_APPLIO_CUDA="1")
        self.assertNotIn("error", result, result.get("error"))
        self.assertIn("[extract] Starting pitch extraction on cuda:0 using rmvpe...", self.extract_log(reporter))
        info, _ = self.env.run({"task": "info"}, APPLIO_PYTHON=python)
        self.assertEqual(info["torch"]["devices"], {"extract": "cuda", "train": "cuda", "convert": "cuda"})

    def test_torch_that_does_not_load_is_reported(self):
        from vsworker.errors import ConfigError
        from vsworker.hardware import require_cuda

        python = self.fake_python(error="ModuleNotFoundError: No module named 'torch'")
        with self.assertRaises(ConfigError) as caught:
            require_cuda(self.env.settings(APPLIO_PYTHON=python, VOICESTUDIO_ALLOW_CPU=""))
        self.assertIn("torch does not load in APPLIO_PYTHON", str(caught.exception))
        self.assertIn("No module named 'torch'", str(caught.exception))


class LocalJobTests(unittest.TestCase):
    def setUp(self):
        self.env = WorkerEnv(with_applio=False)

    def tearDown(self):
        self.env.cleanup()

    def test_result_on_stdout_and_exit_zero_even_for_errors(self):
        proc = self.env.run_local({"task": "blob_get", "sha256": "f" * 64})
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(json.loads(proc.stdout), {"error": f"blob {'f' * 64} is not in the store"})
        for line in proc.stderr.splitlines():
            self.assertEqual(set(json.loads(line)), {"log"})

    def test_info_runs_and_stdout_is_one_document(self):
        proc = self.env.run_local({"task": "info"})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(proc.stdout.strip().splitlines()), 1)
        self.assertEqual(json.loads(proc.stdout)["worker"]["protocol"], 1)

    def test_job_from_stdin(self):
        proc = subprocess.run([sys.executable, HANDLER, "--local-job", "-"],
                              input=json.dumps({"id": "s", "input": {"task": "blob_has", "hashes": []}}),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=self.env.env(), timeout=60)
        self.assertEqual(json.loads(proc.stdout), {"present": [], "missing": [], "sizes": {}, "uploads": {}})

    def test_unreadable_job_file_is_a_usage_error(self):
        bad = os.path.join(self.env.root, "bad.json")
        with open(bad, "w") as fh:
            fh.write("{not json")
        proc = subprocess.run([sys.executable, HANDLER, "--local-job", bad], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=self.env.env(), timeout=60)
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(proc.stdout, "")
        self.assertIn("cannot read the job file", proc.stderr)

    def test_malformed_job_files_are_usage_errors(self):
        cases = {
            "nested": b"[" * 100000,  # json's decoder gives up with RecursionError, not ValueError
            "nested-objects": b'{"a":' * 100000,
            "not-utf8": b'{"id": "\xff\xfe"}',
            "digits": b'{"id": 1' + b"0" * 5000 + b"}",  # past Python's int digit limit
        }
        for name, content in cases.items():
            with self.subTest(name=name):
                bad = os.path.join(self.env.root, f"{name}.json")
                with open(bad, "wb") as fh:
                    fh.write(content)
                proc = subprocess.run([sys.executable, HANDLER, "--local-job", bad], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=self.env.env(), timeout=60)
                self.assertEqual(proc.returncode, 2, proc.stderr[-2000:])
                self.assertEqual(proc.stdout, "")
                self.assertIn(f"cannot read the job file {bad}", proc.stderr)
                self.assertNotIn("Traceback", proc.stderr)
                self.assertLess(len(proc.stderr), 300)

    def test_malformed_sdk_test_input_is_a_usage_error(self):
        # runpod-python parses it itself and would end in a traceback and exit 1; the worker reads it first.
        job_dir = os.path.join(self.env.root, "cwd")
        os.makedirs(job_dir)
        with open(os.path.join(job_dir, "test_input.json"), "w") as fh:
            fh.write("[" * 100000)
        runs = {
            "--test_input": ([HANDLER, "--test_input", "[" * 100000], self.env.root, "the --test_input job"),
            "--test_input not json": ([HANDLER, "--test_input", "{not json"], self.env.root, "the --test_input job"),
            "test_input.json": ([HANDLER], job_dir, "the job file test_input.json"),
        }
        for name, (argv, cwd, what) in runs.items():
            with self.subTest(name=name):
                proc = subprocess.run([sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=self.env.env(), cwd=cwd, timeout=60)
                self.assertEqual(proc.returncode, 2, proc.stderr[-2000:])
                self.assertIn(f"cannot read {what}", proc.stderr)
                self.assertNotIn("Traceback", proc.stderr)

    def test_module_level_imports_are_standard_library_only(self):
        """Static check: every import at module level (not inside functions) is stdlib or ours."""
        import ast
        import glob

        gpu = os.path.dirname(HANDLER)
        sources = [HANDLER] + glob.glob(os.path.join(gpu, "vsworker", "*.py"))
        for path in sources:
            with open(path) as fh:
                tree = ast.parse(fh.read())
            for node in tree.body:  # module level only; lazy imports live inside functions
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [] if node.level else [node.module]
                else:
                    continue
                for name in names:
                    root = name.split(".")[0]
                    with self.subTest(file=os.path.basename(path), module=name):
                        self.assertTrue(root in sys.stdlib_module_names or root == "vsworker", name)

    def test_importing_the_handler_loads_no_third_party_module(self):
        gpu = os.path.dirname(HANDLER)
        code = (
            "import glob, importlib, os, sys; sys.path.insert(0, %r); import handler; "
            "[importlib.import_module('vsworker.' + os.path.basename(p)[:-3]) "
            " for p in sorted(glob.glob(os.path.join(%r, 'vsworker', '*.py'))) if not p.endswith('__init__.py')]; "
            "bad = [m for m in ('runpod', 'torch', 'numpy') if m in sys.modules]; "
            "print(bad, 'vsworker.stages' in sys.modules)"
        ) % (gpu, gpu)
        proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(proc.stdout.strip(), "[] True")  # every module imported, none of the three loaded


if __name__ == "__main__":
    unittest.main()
