"""The lists of choices the worker's tasks accept, in one place: the train and convert
requests and the Dockerfile's baked weights (tests/test_dockerfile.py) read them from here.
Each list is Applio 3.6.4's own, or the part of it this worker supports."""

# ---- train ----
SAMPLE_RATES = (32000, 40000, 48000)
F0_METHODS = ("rmvpe", "crepe", "crepe-tiny", "fcpe")  # pitch extraction for training
EMBEDDERS = (
    "contentvec", "spin", "spin-v2",
    "chinese-hubert-base", "japanese-hubert-base", "korean-hubert-base",
)
VOCODERS = ("HiFi-GAN", "MRF HiFi-GAN", "RefineGAN")
INDEX_ALGORITHMS = ("Auto", "Faiss", "KMeans")
CUT_MODES = ("Skip", "Simple", "Automatic")
NORMALIZATION_MODES = ("none", "pre", "post")
CHUNK_LENS = tuple(x / 2 for x in range(1, 11))  # 0.5 .. 5.0 (Applio's choices)
OVERLAP_LENS = (0.0, 0.1, 0.2, 0.3, 0.4)

# ---- convert ----
CONVERT_F0_METHODS = ("rmvpe", "fcpe", "crepe", "crepe-tiny")
# Accepted by Applio's CLI but not implemented in rvc/infer/pipeline.py (get_f0).
UNIMPLEMENTED_F0 = (
    "hybrid[crepe+rmvpe]", "hybrid[crepe+fcpe]", "hybrid[rmvpe+fcpe]", "hybrid[crepe+rmvpe+fcpe]",
)
OUTPUT_MODES = ("auto", "inline", "blob")

# ---- separate ----
STEMS = ("both", "vocals", "instrumental")
STEM_FORMATS = ("flac", "wav")
