"""Randomly initialised stand-ins for the weights `core.py prerequisites` downloads.

Run with the Python that has Applio's requirements, in a scratch copy of an Applio
3.6.4 checkout (never in the user's own checkout, never in this repository):

    APPLIO_PYTHON make_weights.py APPLIO_COPY [--sample-rates 40000 48000]

It builds each network with Applio's own classes, so the shapes and state-dict keys
are exactly what Applio loads, and writes it where and how Applio reads it:

- rvc/models/embedders/contentvec/{config.json,pytorch_model.bin}: transformers'
  HubertModel with Applio's HubertModelWithFinalProj head (hubert-base shape,
  768 → 256 projection), read by rvc/lib/utils.py load_embedding;
- rvc/models/predictors/rmvpe.pt: the state dict of RMVPE's E2E(4, 1, (2, 2)), read
  by RMVPE0Predictor;
- rvc/models/pretraineds/hifi-gan/f0{G,D}<sr>k.pth: {"model": state_dict} of the
  Synthesizer/MultiPeriodDiscriminator that train.py builds from rvc/configs/<sr>.json,
  read by train.py as torch.load(...)["model"];
- logs/reference/contentvec/feats.npy: what logs/reference/create_reference.py makes
  from reference.wav (the file the 3.6.4 source archive leaves out), so train.py takes
  its "reference set" branch as it does in the image.

Nothing here is Applio's code; the classes are imported from the checkout at run time.
The outputs are noise: the weights only let the real code paths run.
"""

import argparse
import json
import os
import sys
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("applio_dir", help="the scratch copy of Applio 3.6.4 to fill")
    parser.add_argument("--sample-rates", type=int, nargs="+", default=[40000, 48000],
                        choices=[32000, 40000, 48000])
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)

    os.chdir(args.applio_dir)
    sys.path.insert(0, os.getcwd())  # Applio imports "rvc..." relative to its checkout
    import torch

    torch.manual_seed(args.seed)
    started = time.monotonic()
    written = [make_contentvec(torch), make_rmvpe(torch)]
    for sample_rate in args.sample_rates:
        written += make_pretrained(torch, sample_rate)
    written.append(make_reference_features(torch))
    for path in written:
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    print(f"weights ready in {time.monotonic() - started:.1f} s")
    return 0


def make_contentvec(torch):
    from transformers import HubertConfig
    from rvc.lib.utils import HubertModelWithFinalProj

    folder = os.path.join("rvc", "models", "embedders", "contentvec")
    os.makedirs(folder, exist_ok=True)
    # hubert-base (12 layers, 768 wide) with the 256-wide final_proj of ContentVec.
    config = HubertConfig(classifier_proj_size=256, architectures=["HubertModelWithFinalProj"])
    model = HubertModelWithFinalProj(config)
    config.to_json_file(os.path.join(folder, "config.json"))
    # load_embedding downloads pytorch_model.bin when that exact file is missing.
    path = os.path.join(folder, "pytorch_model.bin")
    torch.save(model.state_dict(), path)
    return path


def make_rmvpe(torch):
    from rvc.lib.predictors.RMVPE import E2E

    folder = os.path.join("rvc", "models", "predictors")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "rmvpe.pt")
    torch.save(E2E(4, 1, (2, 2)).state_dict(), path)
    return path


def make_pretrained(torch, sample_rate):
    from rvc.lib.algorithm.discriminators import MultiPeriodDiscriminator
    from rvc.lib.algorithm.synthesizers import Synthesizer

    with open(os.path.join("rvc", "configs", f"{sample_rate}.json"), "r", encoding="utf-8") as fh:
        config = json.load(fh)
    data, model = config["data"], config["model"]
    # The same constructor call as train.py (HiFi-GAN, f0, not randomised slices).
    net_g = Synthesizer(
        data["filter_length"] // 2 + 1,
        config["train"]["segment_size"] // data["hop_length"],
        **model,
        use_f0=True,
        sr=sample_rate,
        vocoder="HiFi-GAN",
    )
    net_d = MultiPeriodDiscriminator(model["use_spectral_norm"], version="v2")
    folder = os.path.join("rvc", "models", "pretraineds", "hifi-gan")
    os.makedirs(folder, exist_ok=True)
    paths = []
    for kind, net in (("G", net_g), ("D", net_d)):
        path = os.path.join(folder, f"f0{kind}{str(sample_rate)[:2]}k.pth")
        torch.save({"model": net.state_dict()}, path)
        paths.append(path)
    return paths


def make_reference_features(torch):
    """create_reference.py's recipe for contentvec: reference.wav at 16 kHz, trimmed to
    whole 320-sample frames, reflect-padded by 40, through the embedder."""
    import librosa
    import numpy as np
    from transformers import HubertModel

    reference = os.path.join("logs", "reference")
    audio, _ = librosa.load(os.path.join(reference, "reference.wav"), sr=16000)
    audio = audio[: (len(audio) // 320) * 320]
    model = HubertModel.from_pretrained(os.path.join("rvc", "models", "embedders", "contentvec"))
    model.eval()
    feats = torch.from_numpy(audio).to(torch.float32)
    feats = torch.nn.functional.pad(feats.unsqueeze(0), (40, 40), mode="reflect").view(1, -1)
    with torch.no_grad():
        out = model(feats)["last_hidden_state"].squeeze(0).float().numpy()
    os.makedirs(os.path.join(reference, "contentvec"), exist_ok=True)
    path = os.path.join(reference, "contentvec", "feats.npy")
    np.save(path, out)
    return path


if __name__ == "__main__":
    sys.exit(main())
