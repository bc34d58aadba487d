"""voicestudio GPU worker: runs Applio 3.6.4 jobs on RunPod Serverless or locally.

Every module in this package imports only the Python standard library at module
level; heavy dependencies (runpod, torch) are imported lazily where they are used.
"""

WORKER_VERSION = "1.0.0"
# Bumped whenever a task's input or output shape changes incompatibly.
PROTOCOL_VERSION = 1
# The Applio release this worker is written against (script argv, file names, log lines).
APPLIO_TAG = "3.6.4"
