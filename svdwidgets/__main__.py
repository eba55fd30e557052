"""``python -m svdwidgets``: the quickstart on the bundled default model, from a terminal.

The README's main job. It loads the small ResNet trained on MNIST digits that ships with the
package, builds one :class:`svdwidgets.Analysis` of it and its digits, and prints the layer
table (:meth:`svdwidgets.Analysis.table`: the same rows ``svdwidgets report`` writes and the
Explorer shows; each layer's spectrum by ``method="auto"``, with its exact σ_max); then it opens
the :class:`svdwidgets.Explorer` on the same analysis — what ``notebooks/01-quickstart.ipynb``
shows — renders its gallery and writes it as a standalone page (``--out``, default
``svdwidgets-quickstart/explorer.html``) that any browser opens without Python.
``svdwidgets lab`` opens the live notebook. BatchNorm is not folded unless ``--fold-bn``
(:data:`svdwidgets.model.folding.FOLD_BN_DEFAULT`, as everywhere).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from svdwidgets.analysis import Analysis, format_text
from svdwidgets.model.folding import FOLD_BN_DEFAULT


def build_parser() -> argparse.ArgumentParser:
    """The main job's options (``--fold-bn`` defaults to :data:`FOLD_BN_DEFAULT`)."""
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
    parser.add_argument(
        "--fold-bn",
        action=argparse.BooleanOptionalAction,
        default=FOLD_BN_DEFAULT,
        help="fold each BatchNorm into the conv before it (default: not folded)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from svdwidgets.zoo import load_default

    bundle = load_default()
    analysis = Analysis(
        bundle.model,
        bundle.images[::3],  # the digits are sorted by class: a stride, not a prefix
        bundle.labels[::3],
        bundle.class_names,
        fold_bn=args.fold_bn,
    )
    print(
        "svdwidgets: the singular values of every layer of the bundled model "
        f"(SmallResNet on MNIST digits), as the layer runs in PyTorch; {analysis.caption}"
    )
    print(format_text(analysis.table()))
    print(
        "sigma_max is the operator's own (exact); method fft with exact=False: zero padding, so "
        "the spectrum is the circular convolution's on the same grid, whose top value is "
        "sigma_max_circular."
    )
    try:
        if args.no_explorer:
            return 0
        return _explorer_page(analysis, args.out)
    finally:
        analysis.close()


def _explorer_page(analysis: Analysis, out: Path) -> int:
    try:
        from svdwidgets.explorer import Explorer
    except ImportError as err:  # the widgets extra is missing
        print(f"no Explorer page: {err} (pip install -e '.[widgets]')", file=sys.stderr)
        return 2
    start = time.perf_counter()
    explorer = Explorer(analysis.model, analysis=analysis, layer="block.conv2")
    explorer.wait()
    opened = explorer.timings.get("filled", explorer.timings["open"])
    out.mkdir(parents=True, exist_ok=True)
    page = explorer.export_html(out / "explorer.html", title="svdwidgets quickstart")
    gallery = explorer.gallery
    print(
        f"\nExplorer: filled in {opened:.1f} s, {len(gallery.items)} singular vectors of "
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
