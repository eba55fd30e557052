"""A disk cache of layer spectra, keyed by (weights hash, input size, method, options).

A second :func:`svdwidgets.profile` of the same model reads every spectrum back instead of
recomputing it. Entries live in the cache folder (``$SVDWIDGETS_CACHE`` or
``~/.cache/svdwidgets``), one file per key, and nothing in them is ever unpickled: a file is a
magic line, the SHA-256 of the rest, and an ``.npz`` archive (read with ``allow_pickle=False``)
holding the arrays and a JSON description of the objects. Objects are rebuilt only from a fixed
list of our own classes (spectra, geometries, FFT blocks), their tensors on the CPU.

The checksum detects corruption (a torn write, flipped bytes), not forgery: someone who can
write to the cache folder can write a well-formed entry with wrong values. Entries are written
atomically (a temporary file, then ``os.replace``). A malformed, corrupt or unreadable entry is a
miss with a :class:`~svdwidgets.SVDWidgetsWarning`, and is overwritten. A folder that cannot be
written (read-only, full, a path under a file) turns the cache into an in-memory one for the
rest of the process, with a warning. Entries of the old pickle format (``*.pkl``) are ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from svdwidgets._atomic import write_atomically
from svdwidgets.core.comparison import SlicesSpectrum, UnfoldedSpectrum
from svdwidgets.core.density import AxisSampling, SpectralDensitySpectrum
from svdwidgets.core.fft import BlockValues, PolyphaseKernel
from svdwidgets.core.geometry import ConvGeometry
from svdwidgets.core.operator import ConvOperator
from svdwidgets.core.spectrum import (
    DenseSpectrum,
    FFTSpectrum,
    FrequencyDirection,
    Spectrum,
    TopKSpectrum,
)
from svdwidgets.errors import SVDWidgetsWarning

__all__ = ["SpectrumCache", "default_cache_dir", "probe_key", "spectrum_key"]

# 5: a grouped layer's exact spectrum is its diagonal blocks' (DenseSpectrum keeps the block
# order; 4 held one dense decomposition); 4: a spectrum entry carries its note (the
# approximation warning); 3: Linear spectra are named "dense" (2 stored them as "fft");
# 2: checksummed npz + JSON (1 was pickle). Part of every key: a new format never reads an old
# entry.
_FORMAT = 5
_MAGIC = b"SVDWCACHE2\n"
_SUFFIX = ".svdw"
_CLASSES: dict[str, type] = {
    c.__name__: c
    for c in (
        Spectrum,
        FFTSpectrum,
        DenseSpectrum,
        TopKSpectrum,
        UnfoldedSpectrum,
        SlicesSpectrum,
        SpectralDensitySpectrum,
        AxisSampling,
        FrequencyDirection,
        ConvGeometry,
        BlockValues,
        PolyphaseKernel,
        ConvOperator,
    )
}
_DTYPES: dict[str, torch.dtype] = {
    str(d): d
    for d in (
        torch.float16,
        torch.float32,
        torch.float64,
        torch.complex64,
        torch.complex128,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.uint8,
        torch.bool,
    )
}


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
    from svdwidgets._version import __version__

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


class _Unencodable(Exception):
    """A value this format does not store (the entry is then not written)."""


def _encode(value: object, arrays: list[np.ndarray]) -> object:
    """JSON for ``value``; its tensors appended to ``arrays`` (referenced by index)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        if str(t.dtype) not in _DTYPES:
            raise _Unencodable(f"tensor of dtype {t.dtype}")
        arrays.append(t.numpy())
        return {"tensor": len(arrays) - 1, "dtype": str(t.dtype)}
    if isinstance(value, torch.dtype):
        if str(value) not in _DTYPES:
            raise _Unencodable(f"dtype {value}")
        return {"dtype": str(value)}
    if isinstance(value, torch.device):
        return {"device": "cpu"}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, arrays) for v in value]
        return {"tuple": items} if isinstance(value, tuple) else {"list": items}
    if isinstance(value, dict):
        return {"dict": [[_encode(k, arrays), _encode(v, arrays)] for k, v in value.items()]}
    cls = type(value)
    if _CLASSES.get(cls.__name__) is cls:
        state = (
            {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            if dataclasses.is_dataclass(value)
            else vars(value)
        )
        return {"object": cls.__name__, "state": {k: _encode(v, arrays) for k, v in state.items()}}
    raise _Unencodable(f"a {cls.__name__}")


def _decode(value: object, arrays: dict[str, np.ndarray]) -> object:
    """The inverse of :func:`_encode`; anything unexpected raises ValueError/KeyError/TypeError."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        raise ValueError("a bare JSON list")
    if not isinstance(value, dict) or len(value) not in (1, 2):
        raise ValueError(f"unexpected {type(value).__name__}")
    if "tensor" in value:
        array = arrays[f"a{int(value['tensor'])}"]
        tensor = torch.from_numpy(np.array(array, copy=True))
        if str(tensor.dtype) != value["dtype"]:
            raise ValueError(f"tensor dtype {tensor.dtype}, entry says {value['dtype']}")
        return tensor
    if "dtype" in value:
        return _DTYPES[str(value["dtype"])]
    if "device" in value:
        return torch.device("cpu")
    if "tuple" in value:
        return tuple(_decode(v, arrays) for v in value["tuple"])
    if "list" in value:
        return [_decode(v, arrays) for v in value["list"]]
    if "dict" in value:
        return {_decode(k, arrays): _decode(v, arrays) for k, v in value["dict"]}
    if "object" in value:
        cls = _CLASSES[str(value["object"])]
        state = value["state"]
        if not isinstance(state, dict):
            raise ValueError("object state is not a mapping")
        obj: object = object.__new__(cls)
        for name, item in state.items():
            object.__setattr__(obj, str(name), _decode(item, arrays))
        return obj
    raise ValueError(f"unexpected keys {sorted(value)}")


def dumps(value: object) -> bytes:
    """The bytes of one entry (raises ``_Unencodable`` for values outside the format)."""
    arrays: list[np.ndarray] = []
    meta = json.dumps(_encode(value, arrays), allow_nan=True).encode()
    buffer = io.BytesIO()
    named = {f"a{i}": a for i, a in enumerate(arrays)}
    np.savez(buffer, meta=np.frombuffer(meta, dtype=np.uint8), **named)  # type: ignore[arg-type]
    payload = buffer.getvalue()
    return _MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def loads(data: bytes) -> object:
    """The value of one entry; ValueError when it is malformed or its checksum does not match."""
    head = len(_MAGIC)
    if not data.startswith(_MAGIC) or len(data) < head + 65 or data[head + 64 : head + 65] != b"\n":
        raise ValueError("not an svdwidgets cache entry (bad header)")
    payload = data[head + 65 :]
    if hashlib.sha256(payload).hexdigest().encode() != data[head : head + 64]:
        raise ValueError("checksum mismatch (the entry is corrupt)")
    with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    return _decode(meta, arrays)


class SpectrumCache:
    """Spectra on disk under ``directory`` (one file per key), or in memory when it is unusable."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._memory: dict[str, object] | None = None

    @property
    def in_memory(self) -> bool:
        """True once the folder proved unusable and entries are kept in this process only."""
        return self._memory is not None

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}{_SUFFIX}"

    def _fall_back(self, err: OSError) -> None:
        warnings.warn(
            f"the svdwidgets cache folder {self.directory} cannot be written "
            f"({type(err).__name__}: {err}); caching in memory for this process instead "
            "(set $SVDWIDGETS_CACHE or pass cache=<folder> to use another folder)",
            SVDWidgetsWarning,
            stacklevel=4,
        )
        self._memory = {}

    def get(self, key: str) -> Spectrum | None:
        found = self.get_spectrum(key)
        return None if found is None else found[0]

    def get_spectrum(self, key: str) -> tuple[Spectrum, str | None] | None:
        """A spectrum and the note made when it was computed (the approximation warning)."""
        value = self.get_object(key)
        if isinstance(value, Spectrum):  # stored without a note (:meth:`put`)
            return value, None
        if not isinstance(value, dict) or set(value) != {"spectrum", "note"}:
            return None
        spectrum, note = value["spectrum"], value["note"]
        if not isinstance(spectrum, Spectrum) or not (note is None or isinstance(note, str)):
            return None
        return spectrum, note

    def put_spectrum(self, key: str, spectrum: Spectrum, note: str | None) -> None:
        """Store ``spectrum`` with its note (a warm hit shows the note a cold run showed)."""
        self.put(key, {"spectrum": spectrum, "note": note})

    def get_object(self, key: str) -> object | None:
        """Any cached value (None on a miss or an unreadable entry)."""
        if self._memory is not None:
            return self._memory.get(key)
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:  # missing, or the folder is not readable: a miss
            return None
        try:
            return loads(data)
        except Exception as err:  # any malformed entry: never trust it, say so, recompute
            warnings.warn(
                f"ignoring the corrupt svdwidgets cache entry {path} ({type(err).__name__}: "
                f"{err}); it is recomputed and overwritten",
                SVDWidgetsWarning,
                stacklevel=3,
            )
            return None

    def put(self, key: str, value: object) -> None:
        if self._memory is not None:
            self._memory[key] = value
            return
        try:
            data = dumps(value)
        except _Unencodable:
            return  # not a value this format stores: it is simply not cached
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data)
        except OSError as err:
            self._fall_back(err)
            self._memory[key] = value  # type: ignore[index]


def _attributes(module: torch.nn.Module) -> str:
    """A module's own plain attributes (what ``repr`` may leave out, e.g. ``self.scale``)."""
    skip = {"_parameters", "_buffers", "_modules", "training"}
    parts = []
    for name, value in sorted(vars(module).items()):
        if name in skip or name.endswith("hooks") or name.startswith("_forward"):
            continue
        if value is None or isinstance(value, (bool, int, float, str, tuple, list, dict)):
            parts.append(f"{name}={value!r}")
        elif isinstance(value, torch.Tensor):
            parts.append(f"{name}=tensor{tuple(value.shape)}{value.dtype}")
        else:
            parts.append(f"{name}:{type(value).__qualname__}")
    for name, buffer in module.named_buffers(recurse=False):
        if buffer is not None:
            parts.append(f"buffer {name}{tuple(buffer.shape)}")
    return ";".join(parts)


def probe_key(model: torch.nn.Module, example_shape: tuple[int, ...], dtype: torch.dtype) -> str:
    """The cache key of a model's shape-probing pass (its layers' input sizes).

    It covers what decides those sizes: the module tree with every hyperparameter
    (``repr``), every module's own plain attributes (a ``self.scale`` that a ``forward`` reads
    but ``repr`` does not show), the bytecode and constants of each module class's
    ``forward``, and the input shape. A change to any of them misses. Not covered: global
    state a ``forward`` reads (module-level variables, other functions' code).
    """
    h = hashlib.sha256(f"{_FORMAT}{example_shape}{dtype}{model!r}".encode())
    for name, module in model.named_modules():
        h.update(f"\0{name}\0{_attributes(module)}".encode())
    for cls in sorted({type(m) for m in model.modules()}, key=lambda c: c.__qualname__):
        code = getattr(cls.forward, "__code__", None)
        h.update(f"{cls.__module__}.{cls.__qualname__}".encode())
        if code is not None:
            h.update(code.co_code)
            h.update(repr(code.co_consts).encode())
    return "probe-" + h.hexdigest()
