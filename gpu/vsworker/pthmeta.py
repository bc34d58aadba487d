"""Read the plain metadata of a PyTorch .pth file without torch.

torch.save writes a zip whose "<prefix>/data.pkl" holds the object tree; tensors
are persistent references to other zip entries. We unpickle data.pkl with an
unpickler that resolves *no* real classes (everything except OrderedDict becomes
an inert placeholder), so no code from the file can run. That is enough to read
Applio's metadata: "embedder_model", "sr", "vocoder", "epoch", "step" in small
inference models, and "iteration" in G_/D_ training checkpoints.
"""

import collections
import io
import pickle
import zipfile

from .errors import JobError

MAX_PICKLE_BYTES = 64 * 1024 * 1024


class Opaque:
    """Stand-in for any torch object (tensor, storage, dtype...)."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __repr__(self):
        return f"<{type(self).__name__}>"


class _SafeUnpickler(pickle.Unpickler):
    _stubs = {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        key = (module, name)
        if key not in self._stubs:
            self._stubs[key] = type(f"Opaque[{module}.{name}]", (Opaque,), {})
        return self._stubs[key]

    def persistent_load(self, pid):
        return Opaque()


class PthError(JobError):
    pass


def read_pth_metadata(path, label):
    """Return the top-level dict of a torch zip checkpoint (tensors as Opaque)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("data.pkl")]
            if not names:
                raise PthError(f"{label}: not a PyTorch checkpoint (no data.pkl inside)")
            info = archive.getinfo(sorted(names, key=len)[0])
            if info.file_size > MAX_PICKLE_BYTES:
                raise PthError(f"{label}: checkpoint metadata is unreasonably large")
            raw = archive.read(info)
    except zipfile.BadZipFile:
        raise PthError(
            f"{label}: not a PyTorch zip checkpoint (the file is truncated, corrupted, or "
            "in the legacy pre-1.6 format)"
        ) from None
    except OSError as exc:
        raise PthError(f"{label}: cannot read the file: {exc}") from None
    try:
        obj = _SafeUnpickler(io.BytesIO(raw)).load()
    except Exception as exc:  # any malformed pickle
        raise PthError(f"{label}: checkpoint metadata cannot be parsed: {exc}") from None
    if not isinstance(obj, dict):
        raise PthError(f"{label}: checkpoint does not contain a dictionary")
    return obj


def plain(value):
    """Keep only JSON-friendly scalars from unpickled metadata."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return None


def rvc_model_info(path, label):
    """Metadata of an Applio/RVC inference model (<name>_<e>e_<s>s.pth)."""
    meta = read_pth_metadata(path, label)
    if "weight" not in meta or "config" not in meta:
        if "model" in meta and "iteration" in meta:
            raise PthError(
                f"{label}: this is a training checkpoint (G_/D_*.pth), not an RVC voice model; "
                "use the <name>_<epochs>e_<steps>s.pth file"
            )
        raise PthError(f"{label}: not an RVC voice model (no 'weight'/'config' entries)")
    config = meta.get("config")
    sample_rate = plain(meta.get("sr"))
    if isinstance(config, (list, tuple)) and config and isinstance(config[-1], int):
        sample_rate = config[-1]
    return {
        "sample_rate": sample_rate if isinstance(sample_rate, int) else None,
        "embedder": plain(meta.get("embedder_model")),
        "vocoder": plain(meta.get("vocoder")) or "HiFi-GAN",
        "version": plain(meta.get("version")),
        "f0": plain(meta.get("f0")),
        "epochs": plain(meta.get("epoch")),
        "steps": plain(meta.get("step")),
        "model_name": plain(meta.get("model_name")),
    }


def checkpoint_epoch(path, label):
    """Epoch stored in an Applio G_/D_ training checkpoint."""
    meta = read_pth_metadata(path, label)
    epoch = meta.get("iteration")
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        raise PthError(f"{label}: training checkpoint has no epoch ('iteration')")
    return epoch
