"""``svdwidgets report``: a model's layer table, figures and pages, written to a folder at once."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from svdwidgets.analysis import DEFAULT_HYPERGRAPH_K, DEFAULT_THRESHOLD, Analysis, layer_table
from svdwidgets.cli.sources import ModelSource
from svdwidgets.errors import SVDWidgetsError, SVDWidgetsWarning
from svdwidgets.model.folding import FOLD_BN_DEFAULT

if TYPE_CHECKING:
    import pandas as pd

    from svdwidgets.model.profile import Profile

__all__ = [
    "EXACT_SIGMA_LIMIT",
    "MAX_FREQUENCY_MAPS",
    "analysis_of",
    "check_out",
    "file_stems",
    "profile_source",
    "spread",
    "table",
    "write_report",
]

EXACT_SIGMA_LIMIT = 50_000
"""``overview.png`` computes the exact σ_max (Lanczos) of the approximate layers by default
only when none has more values than this: it took 15 minutes for ResNet-18 at 224x224 on our
two shared cores, about a second for the bundled model (``--exact-sigma-max`` forces it)."""

MAX_FREQUENCY_MAPS = 8
"""The most frequency maps in ``report.html`` (evenly spaced over the layers); PNGs cover all."""


def analysis_of(
    source: ModelSource,
    input_shape: tuple[int, ...] | None,
    *,
    method: str = "auto",
    fold_bn: bool = FOLD_BN_DEFAULT,
    k: int | None = None,
    cache: bool = True,
) -> Analysis:
    """The :class:`~svdwidgets.Analysis` of the source's model and data on ``input_shape`` (or
    the source's own), its profile computed (bad input fails here, before any file)."""
    shape = input_shape if input_shape is not None else source.input_shape
    if shape is None:
        raise SVDWidgetsError(
            f"{source.description} does not say what input it takes: pass --input-shape C,H,W"
        )
    images = source.images
    fits = images is None or tuple(images.shape[1:]) == tuple(shape)
    analysis = Analysis(
        source.model,
        images if fits else None,
        source.labels if fits else None,
        source.class_names,
        shape,
        method=method,
        fold_bn=fold_bn,
        k=k,
        cache=cache,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SVDWidgetsWarning)  # kept per layer in the `note` column
        analysis.profile()  # first: a model that does not run on the shape says so itself
    if not fits:
        raise SVDWidgetsError(
            f"the data of {source.description} are inputs of shape "
            f"{tuple(images.shape[1:])}, not --input-shape {tuple(shape)}"  # type: ignore[union-attr]
        )
    return analysis


def profile_source(
    source: ModelSource,
    input_shape: tuple[int, ...] | None,
    *,
    method: str = "auto",
    fold_bn: bool = FOLD_BN_DEFAULT,
    k: int | None = None,
    cache: bool = True,
) -> Profile:
    """:func:`svdwidgets.profile` of the model on ``input_shape`` (or the source's own)."""
    analysis = analysis_of(source, input_shape, method=method, fold_bn=fold_bn, k=k, cache=cache)
    return analysis.profile()


def table(prof: Profile) -> pd.DataFrame:
    """The per-layer table for files (:func:`svdwidgets.analysis.layer_table`)."""
    return layer_table(prof)


def write_report(
    analysis: Analysis | Profile,
    source: ModelSource,
    out: Path,
    *,
    overwrite: bool = False,
    exact_sigma_max: bool | None = None,
    explorer: bool = True,
) -> dict[str, Any]:
    """Write the report of ``analysis`` into ``out`` all at once; returns what ``report.json``
    says.

    ``analysis`` is the :class:`~svdwidgets.Analysis` of the source (or a Profile of its model,
    then analysed with the source's data): the table, ``report.html``'s hypergraph and
    ``explorer.html`` all come from it, so they show the same rows and the same directions.

    Everything that can fail on bad input (the table, the hypergraph of the data) is computed
    first; the files are then written into a temporary sibling folder, which replaces ``out``
    only when every file is written: a failure or an interrupt leaves ``out`` as it was.
    ``exact_sigma_max``: compute the exact σ_max of approximate layers for ``overview.png``
    (None: when they are small, see :data:`EXACT_SIGMA_LIMIT`). ``explorer``: also write
    ``explorer.html``, the :class:`~svdwidgets.Explorer` of the model's last conv layer with its
    gallery rendered (feature visualization: seconds on the bundled model, minutes for an
    ImageNet network on a CPU).
    """
    check_out(out, overwrite)
    if not isinstance(analysis, Analysis):
        analysis = Analysis(
            analysis.model, source.images, source.labels, source.class_names, profile=analysis
        )
    prof = analysis.profile()
    df = analysis.table()
    notes: dict[str, str] = {}
    exact, notes["overview.png"] = _exact_overview(prof, exact_sigma_max)
    figure = None
    if importlib.util.find_spec("ipywidgets") is not None:
        figure, notes["report.html"] = _html_figure(analysis, source, df)
    else:
        notes["report.html"] = "skipped: ipywidgets is not importable (svdwidgets[widgets])"
    dashboard = None
    if not explorer:
        notes["explorer.html"] = "skipped (--no-explorer)"
    elif not all(importlib.util.find_spec(m) is not None for m in ("ipywidgets", "lucent")):
        notes["explorer.html"] = (
            "skipped: the Explorer needs ipywidgets and torch-lucent (see the README's install)"
        )
    else:
        dashboard, notes["explorer.html"] = _explorer(analysis, source)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the report is an ordinary folder
        files = _write_files(prof, source, df, figure, notes, tmp, exact, dashboard)
        summary = _summary(analysis, source, out, files, notes)
        (tmp / "report.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        _replace(tmp, out)
    except OSError as err:  # a full disk, a folder made read-only meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
        raise SVDWidgetsError(f"cannot write the report into --out {out}: {err}") from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def check_out(out: Path, overwrite: bool) -> None:
    """Fail before the work on an ``out`` the report could not be written to."""
    if out.exists() and not out.is_dir():
        raise SVDWidgetsError(f"--out {out} is a file; the report is a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise SVDWidgetsError(
            f"--out {out} exists and is not empty: choose another folder or pass --overwrite"
        )
    # the report is written next to out and renamed: out's nearest existing ancestor must be
    # a folder we can create folders in (tried, not guessed from permission bits)
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise SVDWidgetsError(f"--out {out} cannot be created: {parent} is a file")
    try:
        probe = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".probe", dir=parent))
        probe.rmdir()
    except OSError as err:
        raise SVDWidgetsError(
            f"--out {out} is not writable: cannot create a folder in {parent} "
            f"({err.strerror or type(err).__name__})"
        ) from err


def _replace(tmp: Path, out: Path) -> None:
    if out.is_dir() and any(out.iterdir()):
        old = out.with_name(f".{out.name}.{os.getpid()}.old")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if out.is_dir():
            out.rmdir()
        tmp.rename(out)


def _write_files(
    prof: Profile,
    source: ModelSource,
    df: pd.DataFrame,
    figure: Any,
    notes: dict[str, str],
    folder: Path,
    exact: bool,
    dashboard: Any = None,
) -> list[str]:
    written = ["layers.csv"]
    df.to_csv(folder / "layers.csv", index=False)
    if importlib.util.find_spec("pyarrow") is not None:
        df.to_parquet(folder / "layers.parquet", index=False)
        written.append("layers.parquet")
    else:
        notes["layers.parquet"] = "skipped: pyarrow is not importable (pip install pyarrow)"
    if importlib.util.find_spec("matplotlib") is not None:
        written += _write_pngs(prof, folder, exact)
    else:
        notes["png"] = "skipped: matplotlib is not importable (pip install matplotlib)"
    if figure is not None:
        from svdwidgets.widgets import export_html

        export_html(folder / "report.html", figure, title=f"svdwidgets: {source.description}")
        written.append("report.html")
    if dashboard is not None:
        dashboard.export_html(folder / "explorer.html", title=f"svdwidgets: {source.description}")
        dashboard.close()
        written.append("explorer.html")
    return [*written, "report.json"]


def _explorer(analysis: Analysis, source: ModelSource) -> tuple[Any, str]:
    """The Explorer of ``analysis`` on its last conv layer, gallery rendered; and what it shows."""
    import svdwidgets as sw

    prof = analysis.profile()
    convs = [n for n in prof.layers if prof.entry(n).record.kind == "conv"]
    dashboard = sw.Explorer(analysis.model, analysis=analysis, layer=convs[-1] if convs else None)
    dashboard.wait()
    error = dashboard.gallery.error
    what = f"the Explorer on {dashboard.layer} (linked views; choosing a layer needs the kernel)"
    return dashboard, what + (f"; gallery error: {error}" if error else "")


def _summary(
    analysis: Analysis, source: ModelSource, out: Path, files: list[str], notes: dict[str, str]
) -> dict[str, Any]:
    import svdwidgets as sw

    prof = analysis.profile()
    return {
        "model": source.description,
        "input_shape": list(_input_shape(prof)),
        "options": {k: v for k, v in prof.options.items() if k != "input_shape"},
        "batchnorm": analysis.caption,
        "layers": prof.layers,
        "skipped": prof.skipped,
        "out": str(out),
        "files": files,
        "notes": notes,
        "versions": {"svdwidgets": sw.__version__, "torch": torch.__version__},
    }


def _input_shape(prof: Profile) -> tuple[int, ...]:
    return tuple(cast("Sequence[int]", prof.options["input_shape"]))


def _exact_overview(prof: Profile, choice: bool | None) -> tuple[bool, str]:
    sizes = {}
    for name in prof.layers:
        entry = prof.entry(name)
        if entry.spectrum is not None and not entry.spectrum.exact:
            g = entry.geometry
            sizes[name] = g.n_values if g is not None else len(entry.spectrum)
    if not sizes:
        return False, "every profiled spectrum is exact"
    largest = max(sizes, key=sizes.__getitem__)
    exact = choice if choice is not None else sizes[largest] <= EXACT_SIGMA_LIMIT
    if exact:
        return True, f"exact σ_max (Lanczos) of the {len(sizes)} approximate layers"
    why = (
        "--no-exact-sigma-max"
        if choice is False
        else (f"{largest} has {sizes[largest]:,} values; --exact-sigma-max computes them")
    )
    return False, f"no exact σ_max of the {len(sizes)} approximate layers ({why})"


def _write_pngs(prof: Profile, folder: Path, exact: bool) -> list[str]:
    """``overview.png`` (:func:`svdwidgets.plots.plot_profile`: σ_max exact vs fft, stable
    rank, α per layer) and ``layers/<layer>.png`` (:func:`svdwidgets.plots.plot_layer`: sorted
    σ and the ESD with its fits)."""
    from svdwidgets.plots import plot_layer, plot_profile, save_figure

    save_figure(plot_profile(prof, exact=exact), folder / "overview.png")
    files = ["overview.png"]
    (folder / "layers").mkdir()
    for name, stem in zip(prof.layers, file_stems(prof.layers), strict=True):
        save_figure(plot_layer(prof.entry(name)), folder / "layers" / f"{stem}.png")
        files.append(f"layers/{stem}.png")
    return files


def file_stems(names: Sequence[str], limit: int = 120) -> list[str]:
    """A distinct, portable file name stem per layer name (``layer4.1.conv2`` stays as is)."""
    stems: list[str] = []
    for name in names:
        stem = re.sub(r"[^\w.-]", "_", name).strip(".") or "layer"
        if len(stem) > limit:
            stem = stem[:limit]
        base, n = stem, 1
        while stem in stems:
            n += 1
            stem = f"{base}-{n}"
        stems.append(stem)
    return stems


def _html_figure(analysis: Analysis, source: ModelSource, df: pd.DataFrame) -> tuple[Any, str]:
    """The widget ``report.html`` shows, and what it shows.

    Every layer at once, as a page can without a kernel: the table, the frequency maps of up to
    :data:`MAX_FREQUENCY_MAPS` fft conv layers and, with labelled data, the class hypergraph of
    the analysis (operator directions: the Explorer's). (``explorer.html`` is the linked
    dashboard of one layer.)
    """
    import html

    import ipywidgets as ipw

    import svdwidgets as sw
    from svdwidgets.widgets import FrequencyMap, HypergraphView

    prof = analysis.profile()
    head = ipw.HTML(
        f"<h2>{html.escape(source.description)}</h2><p>input shape "
        f"{_input_shape(prof)}, method {prof.options['method']!r}, "
        f"{html.escape(analysis.caption)}: {len(prof)} layers, {len(prof.skipped)} skipped</p>"
    )
    columns = [c for c in ("layer", "kind", "weight_shape", "input_size", "stride", "padding",
                           "method", "exact", "n_values", "sigma_max", "sigma_max_circular",
                           "stable_rank", "alpha")
               if c in df.columns]  # fmt: skip
    table = df[columns].to_html(index=False, float_format="%.4g", border=0, classes="svdw-report")
    parts: list[Any] = [head, ipw.HTML(_TABLE_STYLE + table)]
    fft = [
        n
        for n in prof.layers
        if isinstance(prof[n], sw.FFTSpectrum) and prof.entry(n).record.kind == "conv"
    ]
    chosen = spread(fft, MAX_FREQUENCY_MAPS)
    maps = []
    for name in chosen:
        spec = prof[name]
        status = "" if spec.exact else ", circular approximation"
        maps.append(FrequencyMap.from_spectrum(spec, layer_name=f"{name} (fft{status})"))  # type: ignore[arg-type]
    if maps:  # side by side, each as wide as a column (the map fills its width)
        grid = ipw.Layout(
            grid_template_columns="repeat(auto-fill, minmax(440px, 1fr))", grid_gap="8px 24px"
        )
        parts.append(ipw.GridBox(maps, layout=grid))
    method = prof.options["method"]
    shown = [
        f"frequency maps of {len(chosen)} of {len(fft)} fft conv layers"
        if fft
        else f"no frequency maps (no conv layer has an fft spectrum with method {method!r})"
    ]
    if analysis.has_hypergraph():
        hg = analysis.hypergraph(DEFAULT_HYPERGRAPH_K, DEFAULT_THRESHOLD)
        title = (
            f"Class hypergraph (threshold {DEFAULT_THRESHOLD:g}, top {DEFAULT_HYPERGRAPH_K} "
            "operator directions per layer)"
        )
        parts.append(HypergraphView.from_hypergraph(hg, title=title))
        shown.append("the class hypergraph")
    shown.insert(0, "the table")
    return ipw.VBox(parts), ", ".join(shown)


_TABLE_STYLE = """<style>
table.svdw-report { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.svdw-report { margin: 8px 0 16px; }
table.svdw-report th, table.svdw-report td { padding: 3px 10px; text-align: right; }
table.svdw-report th { border-bottom: 1px solid var(--jp-border-color1, #bdbdbd); }
table.svdw-report td:first-child, table.svdw-report th:first-child { text-align: left; }
table.svdw-report tbody tr:nth-child(odd) { background: var(--jp-layout-color2, #eee); }
</style>"""
"""The report table's look: numbers right-aligned in tabular figures, a rule under the head."""


def spread(items: Sequence[str], most: int) -> list[str]:
    """At most ``most`` items, evenly spaced, first and last included."""
    if len(items) <= most:
        return list(items)
    if most == 1:
        return [items[0]]
    picks = sorted({round(i * (len(items) - 1) / (most - 1)) for i in range(most)})
    return [items[i] for i in picks]
