"""The result of a sweep: one table over every (source, layer), what failed, each layer's ESD."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.sweeps.sources import Source


@dataclass(frozen=True)
class Failure:
    source: str
    error: str


class Sweep:
    """Results of :func:`svdwidgets.sweep`, in the order of its sources."""

    def __init__(self, sources: list[Source], results: list[dict[str, Any]], folder: Path):
        self.sources = sources
        self.results = results
        self.folder = folder
        self._by_name = {r["source"]: r for r in results}

    def __repr__(self) -> str:
        ok = len(self.sources) - len(self.failed)
        return f"Sweep({ok} of {len(self.sources)} sources profiled, results in {self.folder})"

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sources]

    @property
    def failed(self) -> list[Failure]:
        """Every source that failed, with its error (the others are complete)."""
        return [Failure(r["source"], r["error"]) for r in self.results if r["status"] == "failed"]

    def to_dataframe(self) -> pd.DataFrame:
        """One row per (source, layer): ``source``, ``step``, ``epoch``, ``status``
        (``computed``, ``cached`` or ``failed``: a failed source has one row, no layer, and its
        ``error``), then the columns of :meth:`svdwidgets.Profile.to_dataframe`."""
        rows: list[dict[str, Any]] = []
        for s, r in zip(self.sources, self.results, strict=True):
            head = {"source": s.name, "step": s.step, "epoch": s.epoch, "status": r["status"]}
            if r["status"] == "failed":
                rows.append({**head, "error": r["error"]})
            else:
                rows.extend({**head, **row} for row in r["rows"])
        df = pd.DataFrame(rows)
        for column in ("step", "epoch"):
            df[column] = df[column].astype("Int64")
        return df

    def spectrum(self, source: str, layer: str) -> dict[str, np.ndarray]:
        """A layer's kept spectrum in one source: ``top`` σ (descending), the ESD histogram of
        log10 λ (``edges``, ``counts``) and ``count`` (how many σ the layer has in all)."""
        r = self._by_name.get(source)
        if r is None:
            raise SVDWidgetsError(f"no source {source!r} in this sweep; sources: {self.names}")
        if r["status"] == "failed":
            raise SVDWidgetsError(f"source {source!r} failed: {r['error']}")
        if layer not in r["spectra"]:
            raise SVDWidgetsError(
                f"no layer {layer!r} in source {source!r}; layers: {list(r['spectra'])}"
            )
        spec = r["spectra"][layer]
        return {
            "top": np.asarray(spec["top"], dtype=float),
            "edges": np.asarray(spec["esd"]["edges"], dtype=float),
            "counts": np.asarray(spec["esd"]["counts"], dtype=float),
            "count": np.asarray(spec["count"]),
        }
