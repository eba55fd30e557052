"""Arrays on the widget wire: binary buffers with their dtype and shape, never lists of floats.

``array_to_json`` turns a numpy array into ``{"dtype", "shape", "buffer"}`` whose ``buffer`` (a
memoryview) ipywidgets sends as a binary comm buffer (base64 in exported HTML); the front end's
``serializers.ts`` reads it as a typed array without copying. The format is bqplot's
(``bqplot/traits.py::array_to_json``). :class:`NDArray` is the trait that holds such an array.
"""

from __future__ import annotations

from typing import Any, TypedDict

import numpy as np
import traitlets

from svdwidgets.errors import SVDWidgetsError

__all__ = [
    "DTYPES",
    "ArrayJSON",
    "NDArray",
    "array_from_json",
    "array_serialization",
    "array_to_json",
]

DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64")
"""The dtypes the front end has typed arrays for (JavaScript has no 64-bit integer array)."""


class ArrayJSON(TypedDict):
    """The wire format of an array (``IArrayJSON`` in ``serializers.ts``)."""

    dtype: str
    shape: list[int]
    buffer: memoryview


def array_to_json(value: np.ndarray | None, widget: object = None) -> ArrayJSON | None:
    """A C-contiguous array -> ``{"dtype", "shape", "buffer"}``; ``None`` stays ``None``."""
    if value is None:
        return None
    a = np.ascontiguousarray(value)
    if a.dtype.name not in DTYPES:
        raise SVDWidgetsError(
            f"cannot send a {a.dtype.name} array of shape {a.shape} to the browser: "
            f"convert it to one of {', '.join(DTYPES)}"
        )
    return {"dtype": a.dtype.name, "shape": list(a.shape), "buffer": a.reshape(-1).data}


def array_from_json(value: dict[str, Any] | None, widget: object = None) -> np.ndarray | None:
    """``{"dtype", "shape", "buffer"}`` (buffer: bytes, memoryview) -> a new numpy array."""
    if value is None:
        return None
    dtype = value.get("dtype")
    if dtype not in DTYPES:
        raise SVDWidgetsError(f"unsupported array dtype from the browser: {dtype!r}")
    shape = tuple(int(n) for n in value["shape"])
    flat = np.frombuffer(value["buffer"], dtype=dtype)
    if flat.size != int(np.prod(shape)):
        raise SVDWidgetsError(
            f"a {dtype} array of shape {shape} needs {int(np.prod(shape))} values, "
            f"the buffer holds {flat.size}"
        )
    return flat.reshape(shape).copy()


array_serialization = {"to_json": array_to_json, "from_json": array_from_json}
"""``.tag(sync=True, **array_serialization)`` for an :class:`NDArray` trait."""


class NDArray(traitlets.TraitType[np.ndarray, Any]):
    """A numpy array of a fixed number of dimensions and dtype, cast on assignment.

    ``dtype`` may be several dtypes: an array of one of them keeps it, anything else is cast
    to the first.
    """

    def __init__(self, dtype: str | tuple[str, ...], ndim: int, **kwargs: Any) -> None:
        names = (dtype,) if isinstance(dtype, str) else dtype
        self.dtypes = tuple(np.dtype(d) for d in names)
        self.dtype = self.dtypes[0]
        self.ndim = ndim
        super().__init__(**kwargs)
        kinds = " or ".join(d.name for d in self.dtypes)
        self.info_text = f"a {ndim}-D {kinds} array"

    def validate(self, obj: Any, value: Any) -> np.ndarray | None:
        if value is None and self.allow_none:
            return None
        try:
            a = np.asarray(value)
            if a.dtype not in self.dtypes:
                a = a.astype(self.dtype)
        except (TypeError, ValueError) as exc:
            raise SVDWidgetsError(
                f"{self.name} must be convertible to a {self.dtype.name} array, "
                f"got {type(value).__name__}: {exc}"
            ) from exc
        if a.ndim != self.ndim:
            raise SVDWidgetsError(
                f"{self.name} must be a {self.ndim}-D array, got shape {tuple(a.shape)}"
            )
        return a

    def make_dynamic_default(self) -> np.ndarray:
        return np.zeros((0,) * self.ndim, dtype=self.dtype)
