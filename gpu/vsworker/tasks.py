"""Task dispatch: handle_job() is the single entry point used by both RunPod and --local-job.
Each task lives in its own module (blob_tasks.py, info.py, training.py, convert.py, separate.py, audition.py, screen.py)."""

import importlib
import traceback

from .blob_tasks import BLOB_TASKS
from .errors import JobError, ValidationError
from .validation import Fields, describe


# Imported on use, so blob transfers never depend on the heavier task modules.
OTHER_TASKS = {
    "info": ("info", "info_task"),
    "train": ("training", "train_task"),
    "convert": ("convert", "convert_task"),
    "separate": ("separate", "separate_task"),
    "audition": ("audition", "audition_task"),
    "screen": ("screen", "screen_task"),
}


def task_function(name):
    if name in BLOB_TASKS:
        return BLOB_TASKS[name]
    module_name, function = OTHER_TASKS[name]
    module = importlib.import_module(f"{__package__}.{module_name}")
    return getattr(module, function)


TASK_NAMES = ("info", "blob_has", "blob_put", "blob_commit", "blob_get", "train", "convert", "separate", "audition",
              "screen")


def handle_job(job, ctx):
    """Run one job. Always returns a dict; failures are {"error": "<string>"}
    (RunPod marks those FAILED; a raised exception would arrive as a JSON-in-a-string)."""
    try:
        if not isinstance(job, dict):
            raise ValidationError(f"job must be a JSON object, got {describe(job)}")
        fields = Fields(job.get("input"), "input")
        task = fields.enum("task", TASK_NAMES, required=True)
        handler = task_function(task)
        return handler(ctx, fields)
    except JobError as exc:
        ctx.reporter.log(f"job {ctx.job_id} failed: {exc}")
        return {"error": str(exc)}
    except Exception as exc:  # a bug or an unexpected environment problem
        ctx.reporter.log(traceback.format_exc())
        return {"error": f"internal error in the voicestudio worker ({type(exc).__name__}: {exc}); "
                         "see the worker log for the traceback"}
    finally:
        ctx.cleanup()
