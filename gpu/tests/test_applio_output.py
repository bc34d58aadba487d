"""Reading Applio's output: tqdm bars are dropped, lines glued to a bar are kept."""

import os
import sys
import tempfile
import unittest

from tests.support import WorkerEnv
from vsworker.applio import ApplioRunner, strip_progress_bar
from vsworker.progress import MemoryReporter

# What Applio 3.6.4's preprocess.py printed for an unreadable FLAC (captured from a real run):
# the pool's print lands right after the main process's open tqdm bar, on the same line.
GLUED = ("  0%|          | 0/2 [00:00<?, ?it/s]Error processing audio: An error occurred loading the "
         "audio: Error opening '/data/0/bad.flac': Error : unknown error in flac decoder.")


class StripProgressBarTests(unittest.TestCase):
    def test_a_line_glued_to_a_bar_keeps_its_text(self):
        self.assertEqual(strip_progress_bar(GLUED + "\n"), GLUED[GLUED.index("Error"):])

    def test_bars_alone_are_dropped(self):
        for bar in ("100%|██████████| 25/25 [00:54<00:00,  2.16s/it]",
                    "Loading weights: 100%|██████████| 211/211 [00:00<00:00, 25991.13it/s]",
                    " 50%|█████     | 1/2 [00:01<00:01,  1.20s/it] 50%|█████     | 1/2 [00:02<00:02]",
                    " 40%|████      |"):
            self.assertEqual(strip_progress_bar(bar), "", bar)

    def test_other_lines_are_kept_with_their_indentation(self):
        for line in ('  File "rvc/train/train.py", line 12, in <module>',
                     "real-cpu | epoch=1 | step=8 | time=12:36:47 | training_speed=0:09:58"):
            self.assertEqual(strip_progress_bar(line + "\n"), line)


class RunScriptTests(unittest.TestCase):
    def test_an_error_printed_while_a_bar_is_open_reaches_the_caller(self):
        env = WorkerEnv(with_applio=False)
        self.addCleanup(env.cleanup)
        os.makedirs(env.applio)
        script = os.path.join(env.applio, "bar.py")
        with open(script, "w", encoding="utf-8") as fh:
            # tqdm's way: "\r" + bar, no newline; then a plain print on the same line.
            fh.write("import sys\n"
                     "sys.stdout.write('Starting\\n\\r  0%|          | 0/2 [00:00<?, ?it/s]')\n"
                     "print('Error processing audio: bad file')\n"
                     "sys.stdout.write('\\r100%|##########| 2/2 [00:01<00:00,  1.90it/s]\\n')\n")
        seen = []
        result = ApplioRunner(env.settings(), MemoryReporter()).run_script(
            "preprocess", script, [], log_path=os.path.join(tempfile.mkdtemp(dir=env.root), "x.log"),
            on_line=seen.append)
        self.assertEqual(seen, ["Starting", "Error processing audio: bad file"])
        self.assertEqual(result.lines, seen)
        self.assertIn("  > Error processing audio: bad file", result.excerpt())


if __name__ == "__main__":
    unittest.main()
