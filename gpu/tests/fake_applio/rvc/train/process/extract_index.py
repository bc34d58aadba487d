"""Stand-in for Applio 3.6.4 rvc/train/process/extract_index.py.

argv: exp_dir index_algorithm(Auto|Faiss|KMeans)
Quirks kept: an existing <model>.index is skipped silently (even if stale);
no extracted/ folder or no features -> exit 1; KMeans (always for "KMeans",
for "Auto" above 200 000 rows) with fewer than 10 000 feature rows fails like
sklearn's MiniBatchKMeans (traceback, exit 1); otherwise writes
<exp_dir>/<model>.index and prints "Saved index file '<path>'".
"""

import hashlib
import os
import sys

sys.path.append(os.getcwd())

from rvc.lib import standin  # noqa: E402


def main():
    exp_dir, algorithm = sys.argv[1], sys.argv[2]
    assert algorithm in ("Auto", "Faiss", "KMeans"), algorithm
    feature_dir = os.path.join(exp_dir, "extracted")
    model_name = os.path.basename(exp_dir)
    if not os.path.exists(feature_dir):
        standin.say(f"Feature to generate index file not found at {feature_dir}. Did you run preprocessing and feature extraction steps?")
        sys.exit(1)
    index_path = os.path.join(exp_dir, f"{model_name}.index")
    if os.path.exists(index_path):
        return
    standin.say(f"Generating index for '{model_name}', this may take a while...")
    names = sorted(os.listdir(feature_dir))
    if not names:
        standin.say(f"Feature files in {feature_dir} could not be loaded correctly. Did you run preprocessing and feature extraction steps?")
        sys.exit(1)
    rows = sum(standin.read_npy_rows(os.path.join(feature_dir, n)) for n in names)
    if rows > 2e5 or algorithm == "KMeans":
        # MiniBatchKMeans(n_clusters=10000).fit(big_npy), outside any try: block.
        if rows < 10000:
            standin.say("Traceback (most recent call last):")
            standin.say('  File "rvc/train/process/extract_index.py", line 50, in <module>')
            standin.say(f"ValueError: n_samples={rows} should be >= n_clusters=10000.")
            sys.exit(1)
    if "index-no-file" in standin.faults():
        return
    digest = hashlib.sha256("|".join(names).encode()).hexdigest()
    with open(index_path, "w") as fh:
        fh.write(f"FAKE-FAISS IVF,Flat rows={rows} algorithm={algorithm} features={digest}\n")
    standin.say(f"Saved index file '{index_path}'")


if __name__ == "__main__":
    main()
