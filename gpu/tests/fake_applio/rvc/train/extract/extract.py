"""Stand-in for Applio 3.6.4 rvc/train/extract/extract.py.

argv: exp_dir f0_method n_threads gpus("-"|"0"|"0-1") sample_rate embedder
      [custom_embedder|"None"] [include_mutes]
Quirks kept: files whose outputs exist are skipped (so a crash resumes);
features have 50 rows per second of audio; a GPU list other than "-" on a
machine without CUDA (FAKE_APPLIO_CUDA unset: the stand-in has no torch) fails
every file inside the worker pool: pitch extraction prints a per-file error
while its tqdm bar is open, embedding extraction fails silently, and the file
list comes out empty;
model_info.json gets "embedder_model"; config.json is copied from
rvc/configs/<sr>.json only if absent; filelist.txt holds paths relative to cwd
("logs/<model>/...") plus include_mutes x speakers rows pointing into logs/mute*.
"""

import glob
import os
import random
import sys

sys.path.append(os.getcwd())

from rvc.lib import standin  # noqa: E402

F0_METHODS = ("crepe", "crepe-tiny", "rmvpe", "fcpe")
EMBEDDERS = ("contentvec", "spin", "spin-v2", "chinese-hubert-base", "japanese-hubert-base",
             "korean-hubert-base", "custom")


def generate_filelist(model_path, sample_rate, include_mutes):
    cwd = os.getcwd()
    names = None
    for folder in ("sliced_audios", "extracted", "f0", "f0_voiced"):
        found = {n.split(".")[0] for n in os.listdir(os.path.join(model_path, folder))}
        names = found if names is None else names & found
    info_path = os.path.join(model_path, "model_info.json")
    embedder = (standin.read_json(info_path, {}) or {}).get("embedder_model", "contentvec")
    mute = {"spin": "mute_spin", "spin-v2": "mute_spin-v2"}.get(embedder, "mute")
    mute_base = os.path.join(cwd, "logs", mute)
    options, sids = [], []
    for name in sorted(names):
        sid = name.split("_")[0]
        if sid not in sids:
            sids.append(sid)
        rel = lambda *p: os.path.relpath(os.path.join(model_path, *p))  # noqa: E731
        options.append("|".join([rel("sliced_audios", name + ".wav"), rel("extracted", name + ".npy"),
                                 rel("f0", name + ".wav.npy"), rel("f0_voiced", name + ".wav.npy"), sid]))
    if include_mutes > 0:
        row = "|".join([
            os.path.relpath(os.path.join(mute_base, "sliced_audios", f"mute{sample_rate}.wav")),
            os.path.relpath(os.path.join(mute_base, "extracted", "mute.npy")),
            os.path.relpath(os.path.join(mute_base, "f0", "mute.wav.npy")),
            os.path.relpath(os.path.join(mute_base, "f0_voiced", "mute.wav.npy")),
        ])
        for sid in sids * include_mutes:
            options.append(f"{row}|{sid}")
    info = standin.read_json(info_path, {})
    info["speakers_id"] = len(sids)
    standin.write_json(info_path, info)
    random.shuffle(options)
    with open(os.path.join(model_path, "filelist.txt"), "w") as fh:
        fh.write("\n".join(options))


def main():
    exp_dir, f0_method = sys.argv[1], sys.argv[2]
    threads, gpus, sample_rate, embedder = int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
    include_mutes = int(sys.argv[8]) if len(sys.argv) > 8 else 2
    assert f0_method in F0_METHODS and embedder in EMBEDDERS, (f0_method, embedder)
    wav_path = os.path.join(exp_dir, "sliced_audios_16k")
    if not os.path.exists(wav_path):
        standin.say(f"Folder for feature extraction not found at {wav_path}. Did you run the preprocessing step?")
        sys.exit(1)
    for folder in ("f0", "f0_voiced", "extracted"):
        os.makedirs(os.path.join(exp_dir, folder), exist_ok=True)
    info_path = os.path.join(exp_dir, "model_info.json")
    info = standin.read_json(info_path, {})
    info["embedder_model"] = embedder
    standin.write_json(info_path, info)
    files = sorted(glob.glob(os.path.join(wav_path, "*.wav")))
    if not files:
        standin.say(f"Sliced audios not found at {wav_path}. Did you run the preprocessing step?")
        sys.exit(1)
    devices = ["cpu"] if gpus == "-" else [f"cuda:{i}" for i in gpus.split("-")]
    no_cuda = gpus != "-" and not os.environ.get("FAKE_APPLIO_CUDA")
    standin.say(f"Starting pitch extraction on {', '.join(devices)} using {f0_method}...")
    with standin.ProgressBar(len(files)) as bar:
        for path in files:
            name = os.path.basename(path)
            coarse = os.path.join(exp_dir, "f0", name + ".npy")
            full = os.path.join(exp_dir, "f0_voiced", name + ".npy")
            if no_cuda:
                standin.say(f"An error occurred extracting file {path} on {devices[0]}: "
                            "Torch not compiled with CUDA enabled")
            elif not (os.path.exists(coarse) and os.path.exists(full)):
                samples = (os.path.getsize(path) - 58) // 4  # float32 mono slices at 16 kHz
                frames = max(1, samples // 160)  # hop 160 @ 16 kHz
                standin.write_npy(full, (frames,), "f", 220.0)
                standin.write_npy(coarse, (frames,), "q", 50)
            bar.update()
    standin.say("Pitch extraction completed in 0.01 seconds.")
    standin.say(f"Starting embedding extraction with {threads} cores on {', '.join(devices)}...")
    for path in [] if no_cuda else files:  # the pool's exception is never retrieved
        out = os.path.join(exp_dir, "extracted", os.path.basename(path).replace("wav", "npy"))
        if os.path.exists(out):
            continue
        # One 768-d row per 320 samples at 16 kHz (50 rows per second), like ContentVec.
        samples = (os.path.getsize(path) - 58) // 4
        standin.write_npy(out, (max(1, samples // 320), 768), "f", 0.5)
    standin.say("Embedding extraction completed in 0.01 seconds.")
    config_save = os.path.join(exp_dir, "config.json")
    if not os.path.exists(config_save):
        with open(os.path.join("rvc", "configs", f"{sample_rate}.json")) as src, open(config_save, "w") as dst:
            dst.write(src.read())
    generate_filelist(exp_dir, sample_rate, include_mutes)


if __name__ == "__main__":
    main()
