"""The lists of choices the worker's tasks accept beyond what the CLI sends, in one place. The settings
the CLI sends are checked against task_settings.json (task_settings.read); EMBEDDERS comes from it too,
since staging and the Dockerfile's baked weights (tests/test_dockerfile.py) need the list itself.
Each list is Applio 3.6.4's own, or the part of it this worker supports."""

from . import task_settings

# ---- train ----
EMBEDDERS = task_settings.choices("train", "embedder")
CUT_MODES = ("Skip", "Simple", "Automatic")
NORMALIZATION_MODES = ("none", "pre", "post")
CHUNK_LENS = tuple(x / 2 for x in range(1, 11))  # 0.5 .. 5.0 (Applio's choices)
OVERLAP_LENS = (0.0, 0.1, 0.2, 0.3, 0.4)

# ---- convert ----
# Accepted by Applio's CLI but not implemented in rvc/infer/pipeline.py (get_f0).
UNIMPLEMENTED_F0 = (
    "hybrid[crepe+rmvpe]", "hybrid[crepe+fcpe]", "hybrid[rmvpe+fcpe]", "hybrid[crepe+rmvpe+fcpe]",
)
OUTPUT_MODES = ("auto", "inline", "blob")
