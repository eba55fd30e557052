"""A disk cache of layer spectra, keyed by (weights hash, input size, method, options).

A second :func:`svdwidgets.profile` of the same model reads every spectrum back instead of
recomputing it. Entries are pickles written by this package into the user's own cache folder
(``$SVDWIDGETS_CACHE`` or ``~/.cache/svdwidgets``), written atomically; a corrupt or unreadable
entry is treated as a miss and overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path

import torch

from svdwidgets.core.geometry import ConvGeometry
from svdwidgets.core.spectrum import Spectrum

__all__ = ["SpectrumCache", "default_cache_dir", "probe_key", "spectrum_key"]

_FORMAT = 1  # bump when the pickled classes change incompatibly


def default_cache_dir() -> Path:
    env = os.environ.get("SVDWIDGETS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "svdwidgets"


def weights_hash(weight: torch.Tensor) -> str:
    """SHA-256 of the weight's dtype, shape and bytes."""
    t = weight.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def spectrum_key(weight: torch.Tensor, geometry: ConvGeometry, options: dict[str, object]) -> str:
    """The cache key of one layer's spectrum."""
    from svdwidgets import __version__

    meta = json.dumps(
        {
            "geometry": geometry.describe(),
            "options": options,
            "format": _FORMAT,
            "version": __version__,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256((weights_hash(weight) + meta).encode()).hexdigest()


class SpectrumCache:
    """Spectra on disk under ``directory`` (one file per key)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.pkl"

    def get(self, key: str) -> Spectrum | None:
        value = self.get_object(key)
        return value if isinstance(value, Spectrum) else None

    def get_object(self, key: str) -> object | None:
        """Any cached value (None on a miss or an unreadable entry)."""
        path = self._path(key)
        try:
            with path.open("rb") as f:
                return pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            return None

    def put(self, key: str, spectrum: object) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(spectrum, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def probe_key(model: torch.nn.Module, example_shape: tuple[int, ...], dtype: torch.dtype) -> str:
    """The cache key of a model's shape-probing pass (its layers' input sizes).

    It covers what decides those sizes: the module tree with every hyperparameter
    (``repr``), the bytecode and constants of each module class's ``forward``, and the input
    shape. A change to any forward method's code, or to the architecture, misses.
    """
    h = hashlib.sha256(f"{_FORMAT}{example_shape}{dtype}{model!r}".encode())
    for cls in sorted({type(m) for m in model.modules()}, key=lambda c: c.__qualname__):
        code = getattr(cls.forward, "__code__", None)
        h.update(f"{cls.__module__}.{cls.__qualname__}".encode())
        if code is not None:
            h.update(code.co_code)
            h.update(repr(code.co_consts).encode())
    return "probe-" + h.hexdigest()
