"""A grid of images with titles: the feature-visualization gallery, for print.

The images are what :func:`svdwidgets.featurevis.render_singular_vectors` returns
(``Rendering.images``: uint8 ``(N, H, W, C)``; feature visualization after Olah et al.,
"Feature Visualization", Distill 2017, through Lucent), or dataset examples converted to uint8.
Each image is drawn pixel for pixel (nearest-neighbour, no smoothing); one-channel images in
grey from 0 (black) to 255 (white).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.plots import _style as st

__all__ = ["plot_gallery"]


def _images(images: Any) -> np.ndarray:
    detach = getattr(images, "detach", None)
    if callable(detach):
        images = detach().cpu().numpy()
    a = np.asarray(images)
    if a.dtype != np.uint8:
        raise SVDWidgetsError(
            f"gallery images must be uint8 (N, H, W, C), as Rendering.images; got dtype {a.dtype}"
        )
    if a.ndim == 3:  # (N, H, W): one channel
        a = a[..., None]
    if a.ndim != 4 or a.shape[-1] not in (1, 3, 4) or 0 in a.shape:
        raise SVDWidgetsError(
            f"gallery images must have shape (N, H, W, C) with C in 1, 3, 4 and no empty axis; "
            f"got {a.shape}"
        )
    return a


def plot_gallery(
    images: Any,
    titles: Sequence[str],
    *,
    ncols: int | None = None,
    title: str = "",
    width: float | None = None,
) -> Figure:
    """A grid of ``images`` (uint8 ``(N, H, W, C)``), each with its title over it.

    Parameters
    ----------
    images:
        uint8 ``(N, H, W, C)`` with ``C`` in 1 (grey), 3 (RGB) or 4 (RGBA); ``(N, H, W)`` is
        one channel. ``render_singular_vectors(...).images`` as it comes.
    titles:
        one title per image (``"i = 3, σ = 2.1"``).
    ncols:
        images per row (default: up to 6, the rows as evenly filled as they can be).
    title:
        a title over the grid.
    width:
        figure width in inches (default: a column for up to 4 images per row, else the text
        width).

    Olah, Mordvintsev & Schubert, "Feature Visualization", Distill 2017.
    """
    a = _images(images)
    n = a.shape[0]
    if isinstance(titles, str) or len(titles) != n:
        got = "a str" if isinstance(titles, str) else f"{len(titles)} titles"
        raise SVDWidgetsError(f"need one title per image: {n} images, got {got}")
    if ncols is None:  # up to 6 per row, rows as even as they can be
        ncols = math.ceil(n / math.ceil(n / 6))
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise SVDWidgetsError(f"ncols must be a positive int; got {ncols!r}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    if width is None:
        width = st.COLUMN if ncols <= 4 else st.FULL
    cell = width / ncols
    h, w = a.shape[1:3]
    fig = st.new_figure(width, nrows * (cell * h / w + 0.17) + (0.3 if title else 0.05))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= n:
            continue
        img = a[k]
        if img.shape[-1] == 1:
            im = ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            im = ax.imshow(img, interpolation="nearest")
        im.set_gid(f"gallery-{k}")
        ax.set_title(str(titles[k]), fontsize=st.SMALL, pad=2)
    if title:
        fig.suptitle(title, fontsize=st.LABEL)
    return fig


def plot_cards(
    cards: Sequence[Mapping[str, Any]],
    *,
    layer: str,
    title: str = "",
    status: str = "",
    **kwargs: Any,
) -> Figure:
    """:func:`plot_gallery` of a VectorGallery's cards (``{"index", "sigma", "image": PNG}``).

    Cards without an image yet are left out; none at all is an error that says to wait.
    """
    import io

    from PIL import Image

    shown = [c for c in cards if c.get("image")]
    if not shown:
        raise SVDWidgetsError(
            f"the gallery of {layer!r} has no rendered image yet ({status!r}): "
            "wait for it (gallery.wait()) before saving"
        )
    images = np.stack([np.array(Image.open(io.BytesIO(c["image"]))) for c in shown])
    titles = [f"i = {c['index']}, σ = {c['sigma']:.3g}" for c in shown]
    options = {"title": f"{title or 'Singular vectors'} · {layer}"}
    return plot_gallery(images, titles, **{**options, **kwargs})
