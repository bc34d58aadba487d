"""The worker's module layout (gpu/vsworker): each task lives in its own module (the train
task in training*.py), and no task module imports another task's module, so that changing one
task cannot break another; what two tasks share lives in a non-task module (choices.py,
hardware.py, ...). Module-level imports are checked in test_info_and_cli.py (standard library only)."""

import ast
import glob
import os
import unittest

from tests.support import HANDLER

VSWORKER = os.path.join(os.path.dirname(HANDLER), "vsworker")
# Each task's module, by name; a module named <name>_<anything> belongs to the same task.
TASK_MODULES = {
    "blob_has/put/commit/get": "blob_tasks",
    "info": "info",
    "train": "training",
    "convert": "convert",
    "separate": "separate",
    "audition": "audition",
    "screen": "screen",
}


def task_of(module):
    for task, name in TASK_MODULES.items():
        if module == name or module.startswith(name + "_"):
            return task
    return None


def imported_modules(source):
    """The vsworker modules a source imports, anywhere in it (lazy imports in functions too)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import x
                found.update(alias.name for alias in node.names)
            elif node.level == 0 and node.module and node.module.split(".")[0] == "vsworker":
                parts = node.module.split(".")
                found.update([parts[1]] if len(parts) > 1 else [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "vsworker" and len(parts) > 1:
                    found.add(parts[1])
    return found


def cross_task_imports(sources):
    """[(importer, imported)] for each task module that imports a module of another task."""
    bad = []
    for module, source in sorted(sources.items()):
        task = task_of(module)
        if task is None:
            continue
        for imported in sorted(imported_modules(source)):
            other = task_of(imported)
            if other is not None and other != task:
                bad.append((module, imported))
    return bad


def worker_sources():
    sources = {}
    for path in glob.glob(os.path.join(VSWORKER, "*.py")):
        with open(path, "r", encoding="utf-8") as fh:
            sources[os.path.basename(path)[:-3]] = fh.read()
    return sources


class LayoutTests(unittest.TestCase):
    def test_no_task_module_imports_another_task_module(self):
        bad = cross_task_imports(worker_sources())
        self.assertEqual(bad, [], "\n".join(
            f"vsworker/{importer}.py imports vsworker/{imported}.py, a module of another task; "
            "move what they share to a non-task module" for importer, imported in bad))

    def test_the_check_finds_each_form_of_import(self):
        sources = {
            "convert": "from .training import EMBEDDERS\n",
            "separate": "def f():\n    from . import info\n",
            "info": "import vsworker.blob_tasks\n",
            "training": "from .training_request import parse_request\nfrom .choices import EMBEDDERS\n",
            "blob_tasks": "from vsworker import separate\n",
            "choices": "from .convert import F0_METHODS\n",  # not a task module: it may (checked elsewhere)
        }
        self.assertEqual(cross_task_imports(sources), [
            ("blob_tasks", "separate"), ("convert", "training"), ("info", "blob_tasks"), ("separate", "info"),
        ])

    def test_every_dispatched_task_has_a_task_module(self):
        from vsworker import tasks

        modules = {module for module, _ in tasks.OTHER_TASKS.values()}
        modules |= {function.__module__.rsplit(".", 1)[1] for function in tasks.BLOB_TASKS.values()}
        for module in sorted(modules):
            with self.subTest(module=module):
                self.assertIsNotNone(task_of(module), f"{module} is not in TASK_MODULES")
                self.assertTrue(os.path.isfile(os.path.join(VSWORKER, module + ".py")), module)


if __name__ == "__main__":
    unittest.main()
