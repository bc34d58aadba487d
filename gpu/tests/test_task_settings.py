"""The CLI/worker agreement: for every setting in task_settings.json (the CLI's settings tables,
exported; test/unit/tasks/export.test.ts keeps the file equal to them), the worker's own request
parsing accepts its default, its bounds and each choice, and rejects a value just outside and an
unknown choice with a message naming the field."""

import json
import os
import unittest

from tests.support import GPU_DIR, b64
from vsworker import task_settings
from vsworker.convert import parse_request as parse_convert
from vsworker.errors import ValidationError
from vsworker.separate import parse_request as parse_separate
from vsworker.train_request import parse_request as parse_train
from vsworker.validation import Fields

JSON_PATH = os.path.join(GPU_DIR, "vsworker", "task_settings.json")
SHA = "a" * 64

# Per task: the smallest valid request, and how to read a setting back from what parse_request returns.
TASKS = {
    "train": ({"run_id": "alice", "dataset": {"blob": SHA}}, lambda req, wire: getattr(req, wire)),
    "convert": ({"model": {"blob": SHA}, "input": {"data": b64(b"RIFF")}}, lambda req, wire: getattr(req, wire)),
    "separate": ({"input": {"data": b64(b"RIFF")}}, lambda req, wire: req[{"stems": 1, "output_format": 2}[wire]]),
}
PARSERS = {"train": parse_train, "convert": parse_convert, "separate": parse_separate}


def load_document():
    with open(JSON_PATH, "r", encoding="utf-8") as fh:
        return json.load(fh)


def parse(task, **fields):
    base, read_back = TASKS[task]
    request = PARSERS[task](Fields({**base, **fields}, "input"))
    return lambda wire: read_back(request, wire)


def settings():
    for task, spec in load_document()["tasks"].items():
        for setting in spec["settings"]:
            yield task, setting


def accepted(task, setting):
    """Values the CLI may send: the default, the bounds and a value between them, or every choice."""
    if setting["type"] in ("integer", "number"):
        low, high = setting["min"], setting["max"]
        middle = (low + high) // 2 if setting["type"] == "integer" else (low + high) / 2
        return [low, middle, high]
    if setting["type"] == "choice":
        return list(setting["choices"])
    if setting["type"] == "boolean":
        return [True, False]
    raise AssertionError(f"{task}.{setting['wire']}: no accepted values known for type {setting['type']!r}")


def rejected(setting):
    """Values just outside what the setting allows."""
    if setting["type"] == "integer":
        return [setting["min"] - 1, setting["max"] + 1, setting["min"] + 0.5, "1", True]
    if setting["type"] == "number":
        span = setting["max"] - setting["min"]
        return [setting["min"] - span / 1000, setting["max"] + span / 1000, "0.5", True]
    if setting["type"] == "choice":
        numeric = all(isinstance(c, int) and not isinstance(c, bool) for c in setting["choices"])
        return [max(setting["choices"]) + 1, str(setting["choices"][0])] if numeric else ["not-a-choice", setting["choices"][0].upper() + "!", 3]
    if setting["type"] == "boolean":
        return ["true", 1]
    raise AssertionError(f"{setting['wire']}: no rejected values known for type {setting['type']!r}")


class TaskSettingsTests(unittest.TestCase):
    def test_the_worker_reads_the_file_next_to_it(self):
        self.assertEqual(os.path.realpath(task_settings.PATH), os.path.realpath(JSON_PATH))
        document = load_document()
        self.assertEqual(document["version"], 1)
        self.assertEqual(set(task_settings.SETTINGS), set(document["tasks"]))
        self.assertEqual(set(document["tasks"]), set(TASKS), "a task in task_settings.json has no parser in this test")

    def test_every_setting_defaults_as_declared(self):
        for task, setting in settings():
            with self.subTest(task=task, wire=setting["wire"]):
                self.assertIn("default", setting, "a setting the worker defaults needs a default in the table")
                self.assertEqual(parse(task)(setting["wire"]), setting["default"])
                self.assertEqual(parse(task, **{setting["wire"]: setting["default"]})(setting["wire"]), setting["default"])

    def test_every_setting_accepts_its_bounds_and_choices(self):
        for task, setting in settings():
            for value in accepted(task, setting):
                with self.subTest(task=task, wire=setting["wire"], value=value):
                    self.assertEqual(parse(task, **{setting["wire"]: value})(setting["wire"]), value)

    def test_every_setting_rejects_a_value_just_outside_naming_the_field(self):
        for task, setting in settings():
            for value in rejected(setting):
                with self.subTest(task=task, wire=setting["wire"], value=value):
                    with self.assertRaises(ValidationError) as caught:
                        parse(task, **{setting["wire"]: value})
                    self.assertIn(f"input.{setting['wire']} must be", str(caught.exception))

    def test_messages_say_what_is_allowed(self):
        with self.assertRaises(ValidationError) as caught:
            parse("convert", pitch=25)
        self.assertEqual(str(caught.exception), "input.pitch must be an integer from -24 to 24, got 25")
        with self.assertRaises(ValidationError) as caught:
            parse("train", sample_rate=44100)
        self.assertEqual(str(caught.exception), "input.sample_rate must be one of 32000, 40000, 48000, got 44100")
        with self.assertRaises(ValidationError) as caught:
            parse("train", vocoder="WaveNet")
        self.assertEqual(str(caught.exception), "input.vocoder must be one of 'HiFi-GAN', 'MRF HiFi-GAN', 'RefineGAN', got 'WaveNet'")


if __name__ == "__main__":
    unittest.main()
