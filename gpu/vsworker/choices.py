"""The lists of choices the worker's tasks accept, in one place: the train and convert
requests and the Dockerfile's baked weights (tests/test_dockerfile.py) read them from here.
Each list is Applio 3.6.4's own, or the part of it this worker supports. Those the CLI sends
come from task_settings.json (the CLI's declaration); the others are the worker's own."""

from . import task_settings

# ---- train ----
SAMPLE_RATES = task_settings.choices("train", "sample_rate")
F0_METHODS = task_settings.choices("train", "f0_method")  # pitch extraction for training
EMBEDDERS = task_settings.choices("train", "embedder")
VOCODERS = task_settings.choices("train", "vocoder")
INDEX_ALGORITHMS = task_settings.choices("train", "index_algorithm")
CUT_MODES = ("Skip", "Simple", "Automatic")
NORMALIZATION_MODES = ("none", "pre", "post")
CHUNK_LENS = tuple(x / 2 for x in range(1, 11))  # 0.5 .. 5.0 (Applio's choices)
OVERLAP_LENS = (0.0, 0.1, 0.2, 0.3, 0.4)

# ---- convert ----
CONVERT_F0_METHODS = task_settings.choices("convert", "f0_method")
# Accepted by Applio's CLI but not implemented in rvc/infer/pipeline.py (get_f0).
UNIMPLEMENTED_F0 = (
    "hybrid[crepe+rmvpe]", "hybrid[crepe+fcpe]", "hybrid[rmvpe+fcpe]", "hybrid[crepe+rmvpe+fcpe]",
)
OUTPUT_MODES = ("auto", "inline", "blob")

# ---- separate ----
STEMS = task_settings.choices("separate", "stems")
STEM_FORMATS = task_settings.choices("separate", "output_format")
