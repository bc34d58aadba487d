#!/usr/bin/env python3
"""Build-time helper for the image: fetch extra embedders and verify Applio's weights.

Applio's `core.py prerequisites` skips any file that already exists and checks
no sizes or checksums, so a download cut short would pass unnoticed and, for
pretrained weights, make training silently start from scratch. This script
compares every file with what Hugging Face reports for it (X-Linked-Size /
Content-Length, and the sha256 in X-Linked-Etag for LFS files) and checks the
zip structure of torch files.

Usage (cwd = Applio checkout, run with Applio's Python, which has `requests`):
  applio_weights.py fetch-embedders spin spin-v2
  applio_weights.py verify [--embedder spin ...]
  applio_weights.py verify-file PATH
"""

import argparse
import hashlib
import os
import re
import sys
import zipfile

BASE_URL = "https://huggingface.co/IAHispano/Applio/resolve/main/Resources"
# The files Applio 3.6.4's prerequisites_download.py fetches with
# --pretraineds_hifigan True --models True (remote path -> local path).
PREREQUISITES = [
    (f"pretrained_v2/{name}", f"rvc/models/pretraineds/hifi-gan/{name}")
    for name in ("f0D32k.pth", "f0D40k.pth", "f0D48k.pth", "f0G32k.pth", "f0G40k.pth", "f0G48k.pth")
] + [
    (f"refinegan/{name}", f"rvc/models/pretraineds/refinegan/{name}")
    for name in ("f0D24k.pth", "f0G24k.pth", "f0D32k.pth", "f0G32k.pth")
] + [
    ("predictors/rmvpe.pt", "rvc/models/predictors/rmvpe.pt"),
    ("predictors/fcpe.pt", "rvc/models/predictors/fcpe.pt"),
    ("embedders/contentvec/pytorch_model.bin", "rvc/models/embedders/contentvec/pytorch_model.bin"),
    ("embedders/contentvec/config.json", "rvc/models/embedders/contentvec/config.json"),
]
# Applio downloads other embedders on first use (rvc/lib/utils.py load_embedding);
# baking them avoids that download on every cold worker.
EMBEDDER_DIRS = {
    "spin": "spin",
    "spin-v2": "spin-v2",
    "chinese-hubert-base": "chinese_hubert_base",
    "japanese-hubert-base": "japanese_hubert_base",
    "korean-hubert-base": "korean_hubert_base",
}


def embedder_files(name):
    folder = EMBEDDER_DIRS[name]
    return [(f"embedders/{folder}/{f}", f"rvc/models/embedders/{folder}/{f}")
            for f in ("pytorch_model.bin", "config.json")]


def remote_facts(url):
    """(size, sha256 or None) as Hugging Face reports them, without downloading."""
    import requests

    # requests asks for gzip by default, and the Content-Length of a compressed answer is not the
    # file's size: ask for the file as it is, and trust no length that describes an encoded body.
    identity = {"Accept-Encoding": "identity"}
    response = requests.head(url, allow_redirects=False, timeout=60, headers=identity)
    if response.status_code in (301, 302, 303, 307, 308) and "X-Linked-Size" not in response.headers:
        response = requests.head(url, allow_redirects=True, timeout=60, headers=identity)
    response.raise_for_status()
    headers = response.headers
    encoded = headers.get("Content-Encoding", "identity").strip().lower() != "identity"
    size = headers.get("X-Linked-Size") or (None if encoded else headers.get("Content-Length"))
    etag = (headers.get("X-Linked-Etag") or headers.get("ETag") or "").replace("W/", "").strip('"')
    return (int(size) if size else None), (etag if re.fullmatch(r"[0-9a-f]{64}", etag) else None)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_local(path):
    """Problems visible without the network: missing, empty, broken zip."""
    if not os.path.isfile(path):
        return "missing"
    if os.path.getsize(path) == 0:
        return "empty"
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except zipfile.BadZipFile as exc:
            return f"broken zip ({exc})"
        if bad:
            return f"corrupted zip member {bad}"
    return None


def verify(files, facts=remote_facts, log=print):
    """Return a list of 'path: problem' strings (empty when everything matches)."""
    problems = []
    for remote, local in files:
        problem = check_local(local)
        if problem is None:
            size, sha = facts(f"{BASE_URL}/{remote}")
            actual = os.path.getsize(local)
            if size is not None and actual != size:
                problem = f"size {actual} but the server has {size} bytes (partial download)"
            elif sha is not None and sha256_of(local) != sha:
                problem = f"sha256 differs from the server's {sha}"
        if problem:
            problems.append(f"{local}: {problem}")
        else:
            log(f"ok {local} ({os.path.getsize(local)} bytes)")
    return problems


def fetch(files):
    import requests

    for remote, local in files:
        if os.path.isfile(local):
            continue
        os.makedirs(os.path.dirname(local), exist_ok=True)
        part = local + ".part"
        with requests.get(f"{BASE_URL}/{remote}", stream=True, timeout=60) as response:
            response.raise_for_status()
            with open(part, "wb") as fh:
                for block in response.iter_content(1 << 20):
                    fh.write(block)
        os.replace(part, local)  # never leave a partial file under the real name
        print(f"fetched {local}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fetch_parser = sub.add_parser("fetch-embedders")
    fetch_parser.add_argument("names", nargs="+", choices=sorted(EMBEDDER_DIRS))
    verify_parser = sub.add_parser("verify")
    verify_parser.add_argument("--embedder", action="append", default=[], choices=sorted(EMBEDDER_DIRS))
    file_parser = sub.add_parser("verify-file")
    file_parser.add_argument("path")
    args = parser.parse_args(argv)

    if args.command == "fetch-embedders":
        fetch([f for name in args.names for f in embedder_files(name)])
        return 0
    if args.command == "verify-file":
        problem = check_local(args.path)
        if problem:
            print(f"{args.path}: {problem}", file=sys.stderr)
            return 1
        print(f"ok {args.path} ({os.path.getsize(args.path)} bytes)")
        return 0
    files = PREREQUISITES + [f for name in args.embedder for f in embedder_files(name)]
    problems = verify(files)
    if problems:
        print("Applio weights failed verification; delete them and rebuild:", file=sys.stderr)
        for problem in problems:
            print("  " + problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
