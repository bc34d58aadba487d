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


# What Applio 3.6.4's preprocess.py printed for an unreadable FLAC (captured from a real run, npm run test:applio):
# the pool's print lands right after the main process's open tqdm bar, on the same line.
CAPTURED_GLUED = ("  0%|          | 0/2 [00:00<?, ?it/s]Error processing audio: An error occurred loading the "
                  "audio: Error opening '/data/0/bad.flac': Error : unknown error in flac decoder.")


class ProgressBarTests(unittest.TestCase):
    def test_a_line_captured_from_real_applio_keeps_its_error(self):
        self.assertEqual(without_progress_bar(CAPTURED_GLUED), CAPTURED_GLUED[CAPTURED_GLUED.index("Error"):])

    def test_bars_alone_are_dropped(self):
        for bar in ("100%|██████████| 25/25 [00:54<00:00,  2.16s/it]",
                    "Loading weights: 100%|██████████| 211/211 [00:00<00:00, 25991.13it/s]",
                    " 50%|█████     | 1/2 [00:01<00:01,  1.20s/it] 50%|█████     | 1/2 [00:02<00:02]"):
            self.assertEqual(without_progress_bar(bar), "", bar)

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
