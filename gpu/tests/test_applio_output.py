"""Reading Applio's output: tqdm bars, and the lines printed while a bar is open."""

import os
import textwrap
import unittest

from tests.support import WorkerEnv
from vsworker.applio import ApplioRunner, without_progress_bar
from vsworker.progress import MemoryReporter

try:
    import tqdm  # noqa: F401  (in gpu/requirements-test.txt; Applio 3.6.4 pins tqdm too)
except ImportError:
    tqdm = None

# What Applio's extract.py does: a bar per device on stderr, and a per-file error printed with print()
# from the worker while the bar is open.
MID_BAR_ERRORS = """
import sys
from tqdm import tqdm
files = ["a.wav", "b.wav", "c.wav"]
with tqdm(total=len(files), leave=True) as pbar:
    for name in files:
        if name != "b.wav":
            print(f"An error occurred extracting file {name} on cuda:0: Torch not compiled with CUDA enabled", flush=True)
        pbar.update(1)
print("Pitch extraction completed in 0.01 seconds.", flush=True)
"""


class ProgressBarTests(unittest.TestCase):
    def test_lines_printed_while_a_bar_is_open_are_kept(self):
        glued = "  0%|          | 0/3 [00:00<?, ?it/s]Error processing audio: Error opening 'x.wav'"
        self.assertEqual(without_progress_bar(glued), "Error processing audio: Error opening 'x.wav'")
        self.assertEqual(without_progress_bar(" 67%|██████▋   | 2/3 [00:01<00:00,  1.99it/s]"), "")
        self.assertEqual(without_progress_bar("Extracting: 100%|██████████| 3/3 [00:01<00:00, 2.1s/it]"), "")
        self.assertEqual(without_progress_bar("Preprocess completed in 1.00 seconds."),
                         "Preprocess completed in 1.00 seconds.")

    @unittest.skipIf(tqdm is None, "tqdm is not installed: run `npm run setup:python` and use its python")
    def test_real_tqdm_output_through_the_runner(self):
        env = WorkerEnv(with_applio=False)
        self.addCleanup(env.cleanup)
        os.makedirs(env.applio)
        with open(os.path.join(env.applio, "bars.py"), "w", encoding="utf-8") as fh:
            fh.write(textwrap.dedent(MID_BAR_ERRORS))
        reporter = MemoryReporter()
        result = ApplioRunner(env.settings(), reporter).run_script("extract", "bars.py", [])
        self.assertEqual(result.lines, [
            "An error occurred extracting file a.wav on cuda:0: Torch not compiled with CUDA enabled",
            "An error occurred extracting file c.wav on cuda:0: Torch not compiled with CUDA enabled",
            "Pitch extraction completed in 0.01 seconds.",
        ])
        self.assertIn("extracting file c.wav on cuda:0", result.excerpt())


if __name__ == "__main__":
    unittest.main()
