"""One task of a sweep: a worker loads its source, profiles it, writes the result atomically.

Runs in worker processes: it takes a :class:`~svdwidgets.sweeps.sources.Source` (a description,
never a model) and returns plain data — the layer table, each layer's top singular values and
the histogram of its ESD — small enough for any scheduler.
"""

from __future__ import annotations

import json
import math
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from svdwidgets._atomic import write_atomically as _write
from svdwidgets.errors import SVDWidgetsError, SVDWidgetsWarning
from svdwidgets.sweeps.sources import Source

TOP_VALUES = 64
"""How many of each layer's largest singular values a result keeps."""

ESD_BINS = 40
"""Bins of the histogram of log10 λ (λ = σ²) kept per layer."""

FORMAT = 1
"""The version of the result files; a file of another version is recomputed."""


def run_source(
    source: Source,
    input_shape: tuple[int, ...] | None,
    options: dict[str, Any],
    result_path: str,
) -> dict[str, Any]:
    """The result of one source: read from ``result_path`` if there, else computed and written.

    A failure is returned (``status: failed`` with the error), never raised and never written,
    so a rerun tries it again. Writing is atomic (a temporary file renamed over the target), so
    a task killed mid-way leaves no partial result and its retry writes the same file.
    """
    cached = read_result(Path(result_path))
    if cached is not None:
        cached["status"] = "cached"
        return cached
    try:
        result = _compute(source, input_shape, options)
    except Exception as err:  # a bad source fails alone
        detail = str(err) if isinstance(err, SVDWidgetsError) else traceback.format_exc(limit=3)
        return {
            "format": FORMAT,
            "source": source.name,
            "status": "failed",
            "error": f"{type(err).__name__}: {detail}",
        }
    write_atomically(Path(result_path), result)
    return result


def read_result(path: Path) -> dict[str, Any] | None:
    """A finished result file, or None (absent, unreadable or of another format)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return data


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, json.dumps(data).encode("utf-8"), durable=True)


def _compute(
    source: Source, input_shape: tuple[int, ...] | None, options: dict[str, Any]
) -> dict[str, Any]:
    import svdwidgets as sw
    from svdwidgets.analysis import layer_table as table

    model, own_shape = source.load()
    shape = input_shape if input_shape is not None else own_shape
    if shape is None:
        raise SVDWidgetsError(
            f"source {source.name!r} does not say what input it takes: pass input_shape=(C, H, W)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SVDWidgetsWarning)  # kept per layer in the `note` column
        prof = sw.profile(model, tuple(shape), progress=False, **options)
    rows = [{k: _plain(v) for k, v in row.items()} for row in table(prof).to_dict("records")]
    spectra = {}
    for name in prof.layers:
        values = prof[name].values.detach().double().cpu().numpy()
        spectra[name] = {
            "top": values[:TOP_VALUES].tolist(),
            "esd": _esd(values),
            "count": int(values.size),
        }
    return {
        "format": FORMAT,
        "source": source.name,
        "status": "computed",
        "input_shape": list(shape),
        "rows": rows,
        "spectra": spectra,
    }


def _esd(values: np.ndarray) -> dict[str, list[float]]:
    lam = values[values > 0] ** 2
    if lam.size == 0:
        return {"edges": [], "counts": []}
    counts, edges = np.histogram(np.log10(lam), bins=ESD_BINS)
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def _plain(value: Any) -> Any:
    """JSON's types: numpy scalars as Python numbers, NaN kept (json writes it), None as is."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return float("nan")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
