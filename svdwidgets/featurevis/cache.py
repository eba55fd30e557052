"""A cache of rendered singular-vector images: in-memory LRU, optionally backed by a folder.

A render is determined by the model's weights (the network the image runs through up to the
layer), the direction it maximises and the settings (size, steps, learning rate, transforms,
seed, precision): that is the key (:func:`render_key`). The direction enters through
:meth:`SingularObjective.fingerprint <svdwidgets.featurevis.objectives.SingularObjective.
fingerprint>`, a hash of the basis vector itself (its bytes, dtype and shape), never through
(layer, index): the same index of a profile with and without BatchNorm folding names two
directions and gets two entries, and the same direction asked for twice is one. The weights
enter through :func:`svdwidgets.model.cache.weights_hash` of every parameter and buffer. Each
image is rendered from its own seed (from the direction), so an entry does not depend on which
other directions were rendered in the same batch, and a widget asking twice pays once.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from svdwidgets._atomic import write_atomically
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.model.cache import weights_hash

__all__ = ["CachedImage", "ImageCache", "model_hash", "render_key"]

_FORMAT = 2  # 2: keyed by the direction's fingerprint (1: by layer and index)


@dataclass(frozen=True)
class CachedImage:
    """One rendered image ``(H, W, C)`` uint8 and its objective before and after."""

    image: np.ndarray
    before: float
    after: float


def model_hash(model: nn.Module) -> str:
    """SHA-256 over the names and :func:`weights_hash` of every parameter and buffer."""
    h = hashlib.sha256()
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        # weights_hash cannot view a 0-d tensor (BatchNorm's num_batches_tracked) as bytes
        h.update(f"{name}{tuple(t.shape)}".encode())
        h.update(weights_hash(t.reshape(-1)).encode())
    return h.hexdigest()


def render_key(weights: str, direction: str, settings: dict[str, object]) -> str:
    """The cache key of one rendered image: :func:`model_hash`, the direction's fingerprint
    (:meth:`~svdwidgets.featurevis.objectives.SingularObjective.fingerprint`), the settings."""
    meta = json.dumps(
        {"direction": direction, "settings": settings, "format": _FORMAT},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256((weights + meta).encode()).hexdigest()


class ImageCache:
    """Rendered images by key: the last ``maxsize`` in memory, all of them in ``directory``.

    ``hits`` and ``misses`` count lookups. Thread-safe; disk entries are ``.npz`` files written
    atomically, and an unreadable one is a miss.
    """

    def __init__(self, maxsize: int = 512, directory: str | Path | None = None) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
            raise SVDWidgetsError(f"maxsize must be a non-negative int, got {maxsize!r}")
        self.maxsize = maxsize
        self.directory = None if directory is None else Path(directory)
        self.hits = 0
        self.misses = 0
        self._memory: OrderedDict[str, CachedImage] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._memory)

    def clear(self) -> None:
        """Forget the in-memory entries (the folder is left alone)."""
        with self._lock:
            self._memory.clear()

    def get(self, key: str) -> CachedImage | None:
        with self._lock:
            item = self._memory.get(key)
            if item is not None:
                self._memory.move_to_end(key)
        if item is None and self.directory is not None:
            item = self._read(key)
            if item is not None:
                self._remember(key, item)
        with self._lock:
            if item is None:
                self.misses += 1
            else:
                self.hits += 1
        return item

    def put(self, key: str, item: CachedImage) -> None:
        self._remember(key, item)
        if self.directory is not None:
            self._write(key, item)

    def _remember(self, key: str, item: CachedImage) -> None:
        with self._lock:
            self._memory[key] = item
            self._memory.move_to_end(key)
            while len(self._memory) > self.maxsize:
                self._memory.popitem(last=False)

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.npz"

    def _read(self, key: str) -> CachedImage | None:
        try:
            with np.load(self._path(key)) as f:
                return CachedImage(
                    image=f["image"], before=float(f["before"]), after=float(f["after"])
                )
        except (OSError, KeyError, ValueError):
            return None

    def _write(self, key: str, item: CachedImage) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, image=item.image, before=item.before, after=item.after)
        write_atomically(path, buffer.getvalue())
