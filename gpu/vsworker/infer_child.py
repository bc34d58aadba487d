"""Long-lived conversion process: imports Applio's VoiceConverter once and serves
requests, so a warm worker keeps the last voice model (and embedder) loaded.

Started by converter.py as `APPLIO_PYTHON -u infer_child.py` with cwd=APPLIO_DIR.
Protocol: one JSON request per line on stdin, {"id": n, "kwargs": {...}} (the
keyword arguments of VoiceConverter.convert_audio in Applio 3.6.4); one JSON
response per line on the original stdout. Everything Applio prints is moved to
stderr, which the parent logs, so it cannot corrupt the protocol.
This file runs inside Applio's environment and imports only the standard
library itself.
"""

import json
import os
import sys
import time
import traceback


def main():
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # stray prints (Python or C) now land on stderr
    sys.stdout = sys.stderr

    def reply(obj):
        protocol.write(json.dumps(obj) + "\n")
        protocol.flush()

    sys.path.insert(0, os.getcwd())  # Applio imports "rvc..." relative to its checkout
    try:
        from rvc.infer.infer import VoiceConverter

        converter = VoiceConverter()
    except BaseException as exc:  # report import failures (missing torch, CUDA...) to the parent
        traceback.print_exc()
        reply({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    reply({"ready": True, "pid": os.getpid()})

    for raw in sys.stdin:
        raw = raw.strip()
        if not raw:
            continue
        request = json.loads(raw)
        kwargs = request["kwargs"]
        reused = converter.loaded_model == kwargs["model_path"]
        started = time.monotonic()
        print(f"--- request {request['id']}", flush=True)
        try:
            converter.convert_audio(**kwargs)
            print(f"--- end request {request['id']}", flush=True)
            reply({"id": request["id"], "ok": True, "reused_model": reused,
                   "seconds": round(time.monotonic() - started, 3)})
        except BaseException as exc:
            traceback.print_exc()
            print(f"--- end request {request['id']}", flush=True)
            reply({"id": request["id"], "ok": False, "error": f"{type(exc).__name__}: {exc}",
                   "reused_model": reused})
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
