"""Images on the widget wire: uint8 arrays as PNG bytes (Pillow), sent as binary buffers; and
their smaller copies for an exported page (:func:`page_image`)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from svdwidgets.errors import SVDWidgetsError

__all__ = ["page_image", "png_bytes", "to_uint8_hwc"]


def to_uint8_hwc(image: Any) -> np.ndarray:
    """An image as uint8 ``(H, W, C)``, ``C`` 1 or 3.

    uint8 input is ``(H, W, C)`` or ``(H, W)`` (a rendering); anything else is a float image
    ``(C, H, W)`` or ``(H, W)`` in [0, 1] (a dataset input: a tensor as models take it), clipped.
    """
    detach = getattr(image, "detach", None)
    if callable(detach):
        image = detach().cpu().numpy()
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    elif a.ndim == 3 and a.dtype != np.uint8:
        a = np.transpose(a, (1, 2, 0))
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise SVDWidgetsError(
            "an image must be uint8 (H, W[, C]) or float (C, H, W) / (H, W) with C in (1, 3); "
            f"got {a.dtype} of shape {tuple(np.shape(image))}"
        )
    if a.dtype != np.uint8:
        a = (np.clip(np.nan_to_num(a.astype(np.float64)), 0.0, 1.0) * 255.0).round()
        a = a.astype(np.uint8)
    return np.ascontiguousarray(a)


def png_bytes(image: Any) -> bytes:
    """PNG encoding of :func:`to_uint8_hwc` of ``image`` (greyscale or RGB, lossless)."""
    from PIL import Image

    a = to_uint8_hwc(image)
    pil = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)  # mode L or RGB from the shape
    buf = io.BytesIO()
    pil.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def page_image(png: bytes, max_side: int) -> bytes:
    """A copy of a PNG image for an exported page: at most ``max_side`` px on its longer side
    (Lanczos), WebP-encoded (quality 80; JPEG at 88 where Pillow has no WebP), or the PNG
    itself where that is not smaller.

    The live widgets keep lossless PNGs; a page holds every layer's cards, where a 224 px
    rendering and six 224 px dataset examples shown at 112 and 36 CSS px cost about 1 MB a card
    (ResNet-50: over 400 MB for 8 cards per layer). ``max_side`` is twice the displayed size,
    for high-density screens. WebP at 80 is as close to the original as JPEG at 88 (PSNR
    33.4 vs 33.6 dB on 224 px photographs) at two thirds of the bytes; every current browser
    reads it. An image smaller than it is shown (under ``max_side / 2``: a 28 px digit in a
    112 px card) stays the PNG: the gallery upscales it pixelated, where lossy blocks would show.
    """
    from PIL import Image, features

    if max_side < 1:
        raise SVDWidgetsError(f"max_side must be a positive number of pixels, got {max_side!r}")
    with Image.open(io.BytesIO(png)) as im:
        im.load()
        if 2 * max(im.size) < max_side:
            return png
        pil = im.convert("L" if im.mode in ("L", "LA", "I", "I;16", "1") else "RGB")
    if max(pil.size) > max_side:
        scale = max_side / max(pil.size)
        size = (max(1, round(pil.width * scale)), max(1, round(pil.height * scale)))
        pil = pil.resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    if features.check("webp"):
        pil.save(buf, format="WEBP", quality=80, method=4)
    else:
        pil.save(buf, format="JPEG", quality=88, optimize=True)
    out = buf.getvalue()
    return out if len(out) < len(png) else png
