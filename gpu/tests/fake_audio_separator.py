#!/usr/bin/env python3
"""Stand-in for the `audio-separator` CLI (python-audio-separator 0.44.x), tests only.

Accepts the flags the worker passes (--model_filename, --model_file_dir,
--output_dir, --output_format, --custom_output_names, --single_stem) and writes
the stems as <custom name>.<format>. The "vocals" stem is the input itself and
the "instrumental" stem is silence, which is enough to check the plumbing.
Like the real tool it needs the model file (it would otherwise download it).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("audio_files", nargs="*")
    parser.add_argument("-m", "--model_filename", default="model_bs_roformer_ep_317_sdr_12.9755.ckpt")
    parser.add_argument("--model_file_dir", default="/tmp/audio-separator-models/")
    parser.add_argument("--output_dir", default=None)
    parser.add_argument("--output_format", default="FLAC")
    parser.add_argument("--custom_output_names", type=json.loads, default=None)
    parser.add_argument("--single_stem", default=None)
    args = parser.parse_args()
    model = os.path.join(args.model_file_dir, args.model_filename)
    if not os.path.isfile(model):
        print(f"Downloading model {args.model_filename}... failed: no network in tests", flush=True)
        return 1
    if os.environ.get("FAKE_SEPARATOR_FAULT") == "no-output":
        print("Separation finished (simulated: nothing written)", flush=True)
        return 0
    source = args.audio_files[0]
    fmt = args.output_format.lower()
    names = {k.lower(): v for k, v in (args.custom_output_names or {}).items()}
    stems = ["Vocals", "Instrumental"]
    if args.single_stem:
        stems = [s for s in stems if s.lower() == args.single_stem.lower()]
    ffmpeg = os.environ.get("FFMPEG_PATH") or shutil.which("ffmpeg")
    for stem in stems:
        name = names.get(stem.lower(), f"input_({stem})_model")
        out = os.path.join(args.output_dir, f"{name}.{fmt}")
        cmd = [ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", source]
        if stem == "Instrumental":
            cmd += ["-af", "volume=0"]
        subprocess.run(cmd + [out], check=True)
        print(f"Saved {stem} stem to {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
