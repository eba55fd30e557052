"""``python -m svdwidgets``: the spectrum of every layer of the bundled default model.

Until the Explorer exists this is the main job: it loads the small ResNet trained on MNIST
digits that ships with the package, finds its layers, computes each layer's spectrum with
:func:`svdwidgets.conv_svd` (``method="auto"``) and prints one row per layer.
"""

from __future__ import annotations

import time
import warnings

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


def main() -> None:
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


if __name__ == "__main__":
    main()
