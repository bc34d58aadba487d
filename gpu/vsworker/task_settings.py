"""The settings the CLI sends each task, as the CLI declares them: task_settings.json, written
from the CLI's settings tables (src/tasks/, `npm run export:settings`) and checked against them
by a test, so the CLI and the worker cannot disagree on a range, a choice list or a default.
Loaded once, at import."""

import json
import os

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "task_settings.json")


def _load(path):
    with open(path, "r", encoding="utf-8") as fh:
        document = json.load(fh)
    if document.get("version") != 1:
        raise RuntimeError(f"{path}: version {document.get('version')!r}; this worker reads version 1")
    return {
        task: {setting["wire"]: setting for setting in spec["settings"]}
        for task, spec in document["tasks"].items()
    }


SETTINGS = _load(PATH)


def setting(task, wire):
    """One setting's declaration: {"name", "wire", "type", "min"/"max" or "choices", "default", "help"}."""
    return SETTINGS[task][wire]


def choices(task, wire):
    return tuple(setting(task, wire)["choices"])


def read(fields, task, wire):
    """input.<wire> of `task`, checked for its type and range or choices (validation.Fields'
    messages, which name the field) and defaulted as the CLI declares it."""
    spec = setting(task, wire)
    kind = spec["type"]
    default = spec.get("default")
    if kind == "integer":
        return fields.integer(wire, spec["min"], spec["max"], default=default)
    if kind == "number":
        # JSON (from JavaScript) writes 1.0 as 1: a number setting is a float, bounds and default too.
        value = fields.number(wire, float(spec["min"]), float(spec["max"]), default=default)
        return None if value is None else float(value)
    if kind == "boolean":
        return fields.boolean(wire, default=default)
    if kind == "choice":
        options = tuple(spec["choices"])
        if all(isinstance(c, int) and not isinstance(c, bool) for c in options):
            return fields.integer(wire, 0, 0, default=default, choices=options)
        return fields.enum(wire, options, default=default)
    if kind == "string":
        return fields.string(wire, default=default)
    raise RuntimeError(f"{PATH}: {task}.{wire} has type {kind!r}, which this worker does not know")
