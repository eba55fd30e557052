"""The per-layer overview of a profile: σ_max (exact vs fft), stable rank and α by layer.

One row per layer of :meth:`svdwidgets.Profile.to_dataframe`, in network order, three panels
side by side sharing the rows:

* **σ_max** — the spectral norm of the operator as PyTorch runs the layer (``exact``:
  Lanczos top-1 when the profile's spectrum is not exact) beside the ``fft`` value, which is
  exact for circular padding only (Sedghi, Gupta & Long, ICLR 2019): for zero-padded layers the
  gap is the error of the circular approximation most tools report.
* **stable rank** ``Σσ² / σ_max²`` of the operator spectrum (log axis).
* **power-law α** of the ESD tail of the operator spectrum and of the unfolded weight matrix
  (WeightWatcher's definitions, Martin & Mahoney 2021), with WeightWatcher's 2 ≤ α ≤ 6
  range of well-trained layers shaded.

A layer the profile skipped keeps its row, labelled ``(skipped)``, with no marks.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from svdwidgets.errors import SVDWidgetsError, SVDWidgetsWarning
from svdwidgets.plots import _style as st

__all__ = ["plot_profile", "sigma_max_table"]


def sigma_max_table(prof: Any, *, exact: bool = True) -> Any:
    """``σ_max`` of each layer by the ``exact`` and ``fft`` methods (a DataFrame by layer).

    Columns ``sigma_max_exact`` and ``sigma_max_fft``: the profile's own value where its
    method is that one (or ``fft`` ran exact, i.e. circular padding), otherwise computed on
    the profiled weight (BN-folded when the profile folded it): the exact top-1 by Lanczos
    (skipped with ``exact=False``: NaN), the fft spectrum's top value (NaN where the stride
    does not divide the input size). NaN for skipped layers.
    """
    import pandas as pd

    from svdwidgets.core.conv_svd import spectrum_of
    from svdwidgets.model.profile import Profile

    if not isinstance(prof, Profile):
        raise SVDWidgetsError(
            f"need a Profile (svdwidgets.profile(model, input_shape)); got {type(prof).__name__}"
        )
    rows = {}
    names = list(prof.to_dataframe().index)
    for name in names:
        e = prof.entry(name)
        spec = e.spectrum
        row = {"sigma_max_exact": math.nan, "sigma_max_fft": math.nan}
        if spec is not None and e.geometry is not None and e.weight is not None:
            if spec.exact:
                row["sigma_max_exact"] = spec.sigma_max
            if spec.method == "fft":
                row["sigma_max_fft"] = spec.sigma_max
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SVDWidgetsWarning)
                if math.isnan(row["sigma_max_exact"]) and exact:
                    top = spectrum_of(e.weight, e.geometry, method="exact", k=1)
                    row["sigma_max_exact"] = top.sigma_max
                if math.isnan(row["sigma_max_fft"]) and e.geometry.stride_divides_input:
                    row["sigma_max_fft"] = spectrum_of(e.weight, e.geometry, method="fft").sigma_max
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("layer")


def plot_profile(prof: Any, *, exact: bool = True, title: str | None = None) -> Figure:
    """σ_max (exact vs fft), stable rank and power-law α of every layer of a profile.

    Parameters
    ----------
    prof:
        a :class:`~svdwidgets.Profile` (``svdwidgets.profile(model, input_shape)``).
    exact:
        compute the exact σ_max (Lanczos top-1, :func:`svdwidgets.conv_svd` ``method="exact",
        k=1``) of layers whose profiled spectrum is not exact. ``False`` leaves them out (fast
        on a large model).
    title:
        the figure title (default: the model's class name).

    The numbers are :meth:`~svdwidgets.Profile.to_dataframe`'s (``stable_rank``, ``alpha``,
    ``unfolded_alpha``: WeightWatcher's definitions, Martin & Mahoney 2021) and
    :func:`sigma_max_table`'s (Sedghi, Gupta & Long 2019 for ``fft``).
    """
    table = sigma_max_table(prof, exact=exact)
    df = prof.to_dataframe()
    names = list(df.index)
    if not names:
        raise SVDWidgetsError("the profile has no layers to plot")
    skipped = df["skipped"].notna().to_numpy()
    labels = [f"{n} (skipped)" if s else n for n, s in zip(names, skipped, strict=True)]
    y = np.arange(len(names), dtype=np.float64)
    fig = st.new_figure(st.FULL, 1.35 + 0.2 * len(names))
    axes = fig.subplots(1, 3, sharey=True, gridspec_kw={"width_ratios": (1.2, 1, 1)})
    for ax in axes:
        st.style_axes(ax)
        ax.grid(True, axis="x", linewidth=0.4, color="#dddddd")
        ax.grid(False, axis="y")
    ax_s, ax_r, ax_a = axes
    ax_s.set_yticks(y, labels, fontsize=st.TICK)
    ax_s.set_ylim(len(names) - 0.5, -0.5)
    for tick, s in zip(ax_s.get_yticklabels(), skipped, strict=True):
        if s:
            tick.set_color("#888888")

    exact_v = table["sigma_max_exact"].reindex(names).to_numpy(dtype=np.float64)
    fft_v = table["sigma_max_fft"].reindex(names).to_numpy(dtype=np.float64)
    ax_s.scatter(
        fft_v,
        y,
        marker="s",
        s=22,
        facecolors="none",
        edgecolors=st.COLORS["fft"],
        linewidths=1.1,
        zorder=3,
        label="fft (circular padding)",
    ).set_gid("sigma-fft")
    ax_s.scatter(
        exact_v,
        y,
        marker="o",
        s=16,
        color=st.COLORS["exact"],
        zorder=4,
        label="exact (as PyTorch runs it)",
    ).set_gid("sigma-exact")
    _log_if_wide(ax_s, np.concatenate((exact_v, fft_v)))
    ax_s.set_xlabel("spectral norm σ_max", fontsize=st.LABEL)
    ax_s.set_title("(a) σ_max: exact vs fft", fontsize=st.LABEL, loc="left")

    ranks = df["stable_rank"].to_numpy(dtype=np.float64) if "stable_rank" in df else y * np.nan
    ax_r.scatter(
        ranks, y, marker="o", s=16, color=st.COLORS["main"], zorder=3, label="_stable rank"
    ).set_gid("stable-rank")
    ax_r.set_xscale("log")
    finite = ranks[np.isfinite(ranks) & (ranks > 0)]
    if finite.size:
        lo, hi = float(finite.min()) / 1.6, float(finite.max()) * 1.6
        ax_r.set_xlim(lo, hi)
        st.readable_log_axis(ax_r.xaxis, lo, hi)
    ax_r.set_xlabel("stable rank (operator)", fontsize=st.LABEL)
    ax_r.set_title("(b) stable rank", fontsize=st.LABEL, loc="left")

    ax_a.axvspan(2, 6, color="#e8e8e8", zorder=0, linewidth=0, label="2 ≤ α ≤ 6 (WeightWatcher)")
    for column, marker, face, label, gid in (
        ("alpha", "o", st.COLORS["main"], "α of the operator spectrum", "alpha"),
        ("unfolded_alpha", "D", "none", "α of the unfolded weight W", "unfolded-alpha"),
    ):
        values = df[column].to_numpy(dtype=np.float64) if column in df else y * np.nan
        ax_a.scatter(
            values,
            y,
            marker=marker,
            s=16 if marker == "o" else 14,
            facecolors=face,
            edgecolors=st.COLORS["main"] if face != "none" else st.COLORS["unfolded"],
            linewidths=1.0,
            zorder=3,
            label=label,
        ).set_gid(gid)
    ax_a.set_xlabel("α of the ESD tail", fontsize=st.LABEL)
    ax_a.set_title("(c) power-law α", fontsize=st.LABEL, loc="left")
    handles, labels = [], []
    for ax in (ax_s, ax_a):
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    st.legend_below(ax_s, handles=handles, labels=labels, ncols=3)
    model = getattr(prof, "model", None)
    name = type(model).__name__ if model is not None else "model"
    fig.suptitle(
        f"{name}: {len(prof.layers)} layers" if title is None else title, fontsize=st.TITLE
    )
    return fig


def _log_if_wide(ax: Any, values: np.ndarray) -> None:
    finite = values[np.isfinite(values) & (values > 0)]
    if finite.size and finite.max() / finite.min() > 20:
        ax.set_xscale("log")
        st.readable_log_axis(ax.xaxis, float(finite.min()) / 1.3, float(finite.max()) * 1.3)
