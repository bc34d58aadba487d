"""The info task and the --local-job command line."""

import json
import os
import subprocess
import sys
import unittest

from tests.support import HANDLER, WorkerEnv


class InfoTests(unittest.TestCase):
    def setUp(self):
        self.env = WorkerEnv()

    def tearDown(self):
        self.env.cleanup()

    def test_info_reports_environment_and_baked_files(self):
        result, _ = self.env.run({"task": "info"})
        self.assertEqual(result["worker"]["protocol"], 1)
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

    def test_info_without_volume_or_applio(self):
        result, _ = self.env.run({"task": "info"}, APPLIO_DIR=os.path.join(self.env.root, "none"),
                                 VOICESTUDIO_VOLUME=os.path.join(self.env.root, "none"))
        self.assertFalse(result["applio"]["present"])
        self.assertFalse(result["volume"]["present"])
        self.assertIsNone(result["volume"]["free_bytes"])


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
        code = (
            "import sys; sys.path.insert(0, %r); import handler; "
            "import vsworker.tasks, vsworker.training, vsworker.convert, vsworker.separate, vsworker.info; "
            "bad = [m for m in ('runpod', 'torch', 'numpy') if m in sys.modules]; print(bad)"
        ) % os.path.dirname(HANDLER)
        proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(proc.stdout.strip(), "[]")


RUNPOD_STUB = """
import json, os

def progress_update(job, progress):
    with open(os.environ["STUB_OUT"] + ".progress", "a") as fh:
        fh.write(json.dumps({"job": job["id"], "progress": progress}) + "\\n")

def start(config):
    # What runpod.serverless.start does with a queued job, minus the network.
    job = json.loads(os.environ["STUB_JOB"])
    result = config["handler"](job)
    with open(os.environ["STUB_OUT"], "w") as fh:
        json.dump(result, fh)
"""


class RunpodEntryTests(unittest.TestCase):
    """`python -u handler.py` hands the handler to runpod.serverless.start and
    reports progress through runpod.serverless.progress_update (runpod stubbed)."""

    def setUp(self):
        self.env = WorkerEnv()
        package = os.path.join(self.env.root, "stub", "runpod", "serverless")
        os.makedirs(package)
        with open(os.path.join(package, "..", "__init__.py"), "w") as fh:
            fh.write("from . import serverless\n")
        with open(os.path.join(package, "__init__.py"), "w") as fh:
            fh.write(RUNPOD_STUB)

    def tearDown(self):
        self.env.cleanup()

    def test_runpod_mode(self):
        from tests.test_training import train_input

        out = os.path.join(self.env.root, "result.json")
        job = {"id": "rp-1", "input": train_input(epochs=2)}
        proc = subprocess.run(
            [sys.executable, "-u", HANDLER], cwd=os.path.dirname(HANDLER), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=120,
            env=self.env.env(PYTHONPATH=os.path.join(self.env.root, "stub"), STUB_OUT=out,
                             STUB_JOB=json.dumps(job)),
        )
        self.assertEqual(proc.returncode, 0, proc.stdout)
        with open(out) as fh:
            result = json.load(fh)
        self.assertEqual(result["training"]["epochs"], 2)
        with open(out + ".progress") as fh:
            updates = [json.loads(line) for line in fh]
        self.assertTrue(all(u["job"] == "rp-1" for u in updates))
        stages = [u["progress"]["stage"] for u in updates]
        for stage in ("unpack", "preprocess", "extract", "train", "index"):
            self.assertIn(stage, stages)
        self.assertEqual(stages[-1], "index")  # nothing sent right before the result
        self.assertIn("| epoch=2 |", proc.stdout)  # Applio's lines go to the worker log


if __name__ == "__main__":
    unittest.main()
