"""``python -m svdwidgets``: the quickstart on the bundled default model, from a terminal.

The README's main job. It loads the small ResNet trained on MNIST digits that ships with the
package, computes each layer's spectrum with :func:`svdwidgets.conv_svd` (``method="auto"``)
and prints one row per layer; then it opens the :class:`svdwidgets.Explorer` on the model and
its digits — what ``notebooks/01-quickstart.ipynb`` shows — renders its gallery and writes it
as a standalone page (``--out``, default ``svdwidgets-quickstart/explorer.html``) that any
browser opens without Python. ``svdwidgets lab`` opens the live notebook.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from svdwidgets.core.conv_svd import conv_svd
from svdwidgets.errors import SVDWidgetsWarning
from svdwidgets.model.discover import find_layers


def summary_rows(model: torch.nn.Module, example: torch.Tensor) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for layer in find_layers(model, example):
        start = time.perf_counter()
        with warnings.catch_warnings():
            # an approximate spectrum is reported in the table (exact=False) instead
            warnings.simplefilter("ignore", SVDWidgetsWarning)
            spec = conv_svd(layer.module, layer.input_size)
        top = spec if spec.exact else conv_svd(layer.module, layer.input_size, method="exact", k=1)
        seconds = time.perf_counter() - start
        values = spec.values.double()
        m = layer.module
        rows.append(
            {
                "layer": layer.name,
                "kind": layer.kind,
                "weight": "x".join(str(s) for s in m.weight.shape),  # type: ignore[union-attr]
                "input": "x".join(str(s) for s in layer.input_shape),
                "stride": _first(getattr(m, "stride", None)),
                "padding": _first(getattr(m, "padding", None)),
                "method": spec.method,
                "exact": spec.exact,
                "n": len(spec),
                "sigma_max": float(values[0]),
                "sigma_max_exact": float(top.values[0]),
                "sigma_min": float(values[-1]),
                "stable_rank": float(values.square().sum() / values[0] ** 2),
                "ms": 1e3 * seconds,
            }
        )
    return rows


def _first(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple) and len(set(value)) == 1:
        return str(value[0])
    return str(value)


def format_table(rows: list[dict[str, object]]) -> str:
    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    headers = list(rows[0])
    cells = [[cell(r[h]) for h in headers] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m svdwidgets",
        description="The layer spectra of the bundled model, and its Explorer as a page.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("svdwidgets-quickstart"),
        help="folder for explorer.html (default: ./svdwidgets-quickstart)",
    )
    parser.add_argument(
        "--no-explorer", action="store_true", help="print the table only (no rendering)"
    )
    args = parser.parse_args(argv)
    from svdwidgets.zoo import load_default

    bundle = load_default()
    print(
        "svdwidgets: the singular values of every layer of the bundled model "
        "(SmallResNet on MNIST digits), as the layer runs in PyTorch"
    )
    print(format_table(summary_rows(bundle.model, bundle.images[:1])))
    print(
        "method fft with exact=False: zero padding, so the values are those of the circular "
        "convolution on the same grid; sigma_max_exact is the operator's own (Lanczos)."
    )
    if args.no_explorer:
        return 0
    return _explorer_page(bundle, args.out)


def _explorer_page(bundle: object, out: Path) -> int:
    try:
        from svdwidgets.explorer import Explorer
    except ImportError as err:  # the widgets extra is missing
        print(f"no Explorer page: {err} (pip install -e '.[widgets]')", file=sys.stderr)
        return 2
    start = time.perf_counter()
    explorer = Explorer(
        bundle.model,  # type: ignore[attr-defined]
        bundle.images[::3],  # type: ignore[attr-defined]
        bundle.labels[::3],  # type: ignore[attr-defined]
        bundle.class_names,  # type: ignore[attr-defined]
        layer="block.conv2",
    )
    opened = explorer.timings["open"]
    explorer.wait()
    out.mkdir(parents=True, exist_ok=True)
    page = explorer.export_html(out / "explorer.html", title="svdwidgets quickstart")
    gallery = explorer.gallery
    print(
        f"\nExplorer: opened in {opened:.1f} s, {len(gallery.items)} singular vectors of "
        f"{gallery.layer} rendered ({gallery.status}); "
        f"page written in {time.perf_counter() - start:.1f} s in all"
    )
    if gallery.error:
        print(f"gallery error: {gallery.error}", file=sys.stderr)
    print(f"open {page.resolve()} in a browser (no Python needed; the views stay linked),")
    print("or run `svdwidgets lab` for the live dashboard in JupyterLab (notebooks/01-quickstart).")
    explorer.close()
    return 1 if gallery.error else 0


if __name__ == "__main__":
    raise SystemExit(main())
