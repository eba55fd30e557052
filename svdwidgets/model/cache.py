"""A disk cache of layer spectra, keyed by (weights hash, input size, method, options).

A second :func:`svdwidgets.profile` of the same model reads every spectrum back instead of
recomputing it. The cache folder (``$SVDWIDGETS_CACHE`` or ``~/.cache/svdwidgets``) may be
shared or planted, so what is read from it is never trusted:

* entries are written with ``torch.save`` and read with ``torch.load(weights_only=True)``, whose
  unpickler builds only tensors, containers and an allowlist of this package's own data classes
  (:data:`ALLOWED_CLASSES`): a planted file that names any other callable (``os.system``) is
  refused, never run; tensors are mapped to the CPU, so a cache written on a GPU reads anywhere;
* each entry carries a SHA-256 of its bytes: a truncated or corrupted entry is a miss, with a
  warning, and is overwritten (the checksum catches accidents, not forgery: see the README's
  "Security");
* writes are atomic (a temporary file, then a rename); a folder that cannot be written (a file
  in the way, read-only, full) turns the cache into an in-memory one for this process, with a
  warning, and the work goes on.

Entries of the earlier pickle format (``*.pkl``) are never read.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import torch

from svdwidgets.core.fft import BlockValues, PolyphaseKernel
from svdwidgets.core.geometry import ConvGeometry
from svdwidgets.core.operator import ConvOperator
from svdwidgets.core.spectrum import DenseSpectrum, FFTSpectrum, Spectrum, TopKSpectrum
from svdwidgets.errors import SVDWidgetsWarning

__all__ = [
    "ALLOWED_CLASSES",
    "SpectrumCache",
    "default_cache_dir",
    "probe_key",
    "spectrum_key",
]

_FORMAT = 2  # 2: torch.save + weights_only + checksum (1 was plain pickle)
_MAGIC = b"svdwidgets-cache-2\n"
_DIGEST = 32
MEMORY_ENTRIES = 256  # the in-memory fallback keeps this many entries (least recently used out)

ALLOWED_CLASSES: list[Any] = [
    BlockValues,
    ConvGeometry,
    ConvOperator,
    DenseSpectrum,
    FFTSpectrum,
    PolyphaseKernel,
    Spectrum,
    TopKSpectrum,
    collections.OrderedDict,
]
"""What an entry may be built from besides tensors, containers and numbers (data only: none of
these runs code of the file's choosing when built)."""


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
    """Spectra on disk under ``directory`` (one file per key); in memory if it is unusable."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._memory: collections.OrderedDict[str, object] | None = None
        self._lock = threading.Lock()

    @property
    def in_memory(self) -> bool:
        """Whether the folder failed and entries now live in this process only."""
        return self._memory is not None

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.pt"

    def get(self, key: str) -> Spectrum | None:
        value = self.get_object(key)
        return value if isinstance(value, Spectrum) else None

    def get_object(self, key: str) -> object | None:
        """Any cached value (None on a miss; a corrupt or refused entry warns and misses)."""
        with self._lock:
            if self._memory is not None and key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        payload = raw[len(_MAGIC) + _DIGEST :]
        digest = raw[len(_MAGIC) : len(_MAGIC) + _DIGEST]
        if not raw.startswith(_MAGIC) or hashlib.sha256(payload).digest() != digest:
            _warn(f"cache entry {path} is corrupt or not an svdwidgets entry: recomputing it")
            return None
        try:
            with torch.serialization.safe_globals(ALLOWED_CLASSES):
                return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
        except Exception as err:  # refused globals, unreadable tensors: never trusted
            _warn(f"cache entry {path} could not be read safely ({type(err).__name__}): "
                  "recomputing it")  # fmt: skip
            return None

    def put(self, key: str, value: object) -> None:
        with self._lock:
            if self._memory is not None:
                self._remember(key, value)
                return
        buffer = io.BytesIO()
        torch.save(value, buffer)
        payload = buffer.getvalue()
        path = self._path(key)
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
            os.replace(tmp, path)
        except OSError as err:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            _warn(
                f"the cache folder {str(self.directory)!r} cannot be written "
                f"({err.strerror or err}): caching in memory for this process instead; "
                "set $SVDWIDGETS_CACHE or pass cache=... to use another folder"
            )
            with self._lock:
                self._memory = collections.OrderedDict()
                self._remember(key, value)

    def _remember(self, key: str, value: object) -> None:
        assert self._memory is not None
        self._memory[key] = value
        self._memory.move_to_end(key)
        while len(self._memory) > MEMORY_ENTRIES:
            self._memory.popitem(last=False)


def _warn(message: str) -> None:
    warnings.warn(message, SVDWidgetsWarning, stacklevel=3)


def probe_key(model: torch.nn.Module, example_shape: tuple[int, ...], dtype: torch.dtype) -> str:
    """The cache key of a model's shape-probing pass (its layers' input sizes).

    It covers what decides those sizes: the module tree with every hyperparameter
    (``repr``), the bytecode and constants of each module class's ``forward``, and the input
    shape. A change to any forward method's code, or to the architecture, misses.
    """
    h = hashlib.sha256(f"{_FORMAT}{example_shape}{dtype}{model!r}".encode())
    # plain attributes a forward may read (``F.interpolate(x, scale_factor=self.scale)``): two
    # instances of one class that differ there must not share input sizes
    for name, module in model.named_modules():
        h.update(f"{name}:{_attributes(module)}".encode())
    for cls in sorted({type(m) for m in model.modules()}, key=lambda c: c.__qualname__):
        code = getattr(cls.forward, "__code__", None)
        h.update(f"{cls.__module__}.{cls.__qualname__}".encode())
        if code is not None:
            h.update(code.co_code)
            h.update(repr(code.co_consts).encode())
    return "probe-" + h.hexdigest()


_PLAIN = (int, float, complex, str, bool, bytes, type(None))


def _attributes(module: torch.nn.Module) -> str:
    """The module's own attributes (not parameters, buffers or submodules) as a stable string:
    plain values and containers of them by value, tensors by shape and dtype, anything else by
    its type (a forward that reads such an object's inner state can still share a cached probe:
    pass ``cache=False`` to re-probe)."""

    def fingerprint(value: object, depth: int = 0) -> str:
        if isinstance(value, _PLAIN):
            return repr(value)
        if isinstance(value, torch.Tensor):
            return f"tensor{tuple(value.shape)}{value.dtype}"
        if isinstance(value, (tuple, list)) and depth < 3:
            return "[" + ",".join(fingerprint(v, depth + 1) for v in value) + "]"
        if isinstance(value, dict) and depth < 3:
            items = sorted((str(k), fingerprint(v, depth + 1)) for k, v in value.items())
            return "{" + ",".join(f"{k}={v}" for k, v in items) + "}"
        return type(value).__qualname__

    own = {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"}
    return fingerprint(own)
