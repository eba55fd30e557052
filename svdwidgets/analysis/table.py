"""The layer table: one function that the main job, ``svdwidgets report`` and the Explorer use.

:func:`layer_table` is :meth:`svdwidgets.Profile.to_dataframe` with the layer as a column and
shapes written ``16x1x3x3`` (no Python tuples: it goes to CSV, Parquet and HTML as it is); its
``attrs`` say how it was computed (``fold_bn``, ``method``, ``input_shape``), and
:func:`folding_caption` is the sentence every table and page shows about BatchNorm.
:func:`format_text` prints chosen columns for a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    import pandas as pd

    from svdwidgets.model.profile import Profile

__all__ = ["TEXT_COLUMNS", "folding_caption", "format_text", "layer_table"]

TEXT_COLUMNS = (
    "layer",
    "kind",
    "weight_shape",
    "input_size",
    "stride",
    "padding",
    "method",
    "exact",
    "n_values",
    "sigma_max",
    "sigma_max_circular",
    "stable_rank",
    "alpha",
)
"""The columns ``python -m svdwidgets`` prints (every column is in the CSV)."""


def folding_caption(fold_bn: object) -> str:
    """``"BatchNorm: folded"`` or ``"BatchNorm: not folded"``: what every table and page says."""
    return "BatchNorm: folded" if fold_bn else "BatchNorm: not folded"


def layer_table(prof: Profile) -> pd.DataFrame:
    """One row per layer (skipped ones too, with their reason), for files and pages.

    The columns of :meth:`~svdwidgets.Profile.to_dataframe`, with ``layer`` as the first column
    and every tuple (shapes, strides, sizes) written as ``16x1x3x3``. ``df.attrs`` holds
    ``fold_bn``, ``method`` and ``input_shape`` of the profile.
    """
    df = prof.to_dataframe().reset_index()
    for column in df.columns:
        if df[column].map(lambda v: isinstance(v, tuple)).any():
            df[column] = df[column].map(
                lambda v: "x".join(str(s) for s in v) if isinstance(v, tuple) else v
            )
    if "kind" in df.columns:  # a Linear layer has no stride or padding (its geometry is 1x1)
        linear = df["kind"] == "linear"
        for column in ("stride", "padding", "padding_mode"):
            if column in df.columns:
                df[column] = df[column].astype(object).where(~linear, None)
    df.attrs.update(
        fold_bn=bool(prof.options.get("fold_bn")),
        method=str(prof.options.get("method")),
        input_shape=tuple(cast("Sequence[int]", prof.options.get("input_shape", ()))),
    )
    return df


def format_text(df: pd.DataFrame, columns: Sequence[str] = TEXT_COLUMNS) -> str:
    """The table's ``columns`` (those it has) as aligned text; floats to 4 significant digits."""

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "-" if v is None else str(v)

    headers = [c for c in columns if c in df.columns]
    cells = [[cell(v) for v in row] for row in df[headers].itertuples(index=False)]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)
