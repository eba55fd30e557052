"""An exported page's compact cards: the rendering and dataset examples at twice their shown size,
WebP where that is smaller, PNG otherwise; the live gallery's PNGs untouched."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_images

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.explorer_page import page_card
from svdwidgets.widgets.images import page_image, png_bytes


def _photo(side: int, seed: int = 0) -> np.ndarray:
    """A ``side`` px crop of a real photograph (scikit-learn's sample image), uint8 HWC; another
    ``seed``, another place in it."""
    top, left = 100 + 7 * seed, 200 + 5 * seed
    return np.ascontiguousarray(
        load_sample_images().images[0][top : top + side, left : left + side]
    )


def _decoded(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def test_a_photograph_becomes_a_smaller_webp_at_most_max_side() -> None:
    png = png_bytes(_photo(224))
    out = page_image(png, 72)
    im = _decoded(out)
    assert im.format == "WEBP" and im.size == (72, 72)
    assert len(out) * 10 < len(png)  # 224 px PNG of a photo vs a 72 px WebP
    # the same picture: the PNG shrunk the same way is close to what the page shows
    ref = np.asarray(_decoded(png).resize((72, 72), Image.Resampling.LANCZOS), dtype=float)
    assert np.abs(np.asarray(im, dtype=float) - ref).mean() < 6  # of 255


def test_webp_is_as_close_as_jpeg_at_88_in_fewer_bytes() -> None:
    """Why WebP at 80: on 224 px photographs it is as faithful as the JPEG at 88 that the page
    used before, and smaller."""
    png = png_bytes(_photo(224, seed=3))
    original = np.asarray(_decoded(png), dtype=float)
    webp = page_image(png, 224)
    buf = io.BytesIO()
    _decoded(png).save(buf, format="JPEG", quality=88, optimize=True)

    def error(data: bytes) -> float:
        return float(np.abs(np.asarray(_decoded(data), dtype=float) - original).mean())

    assert error(webp) < 1.1 * error(buf.getvalue())
    assert len(webp) < 0.8 * len(buf.getvalue())


def test_an_image_already_small_keeps_its_size() -> None:
    png = png_bytes(_photo(100))
    im = _decoded(page_image(png, 224))
    assert im.size == (100, 100)


def test_a_small_digit_stays_a_png() -> None:
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a "1": flat areas, sharp edges
    png = png_bytes(digit)
    assert page_image(png, 224) == png


def test_bad_max_side_names_the_value() -> None:
    with pytest.raises(SVDWidgetsError, match="got 0"):
        page_image(png_bytes(_photo(32)), 0)


def test_page_card_compacts_the_image_and_examples_only() -> None:
    card = {
        "layer": "conv",
        "index": 3,
        "sigma": 2.5,
        "image": png_bytes(_photo(224)),
        "examples": [png_bytes(_photo(224)) for _ in range(2)],
        "example_ids": [4, 9],
    }
    out = page_card(card, 112)
    assert _decoded(out["image"]).size == (224, 224)  # twice the 112 px shown
    assert [_decoded(e).size for e in out["examples"]] == [(72, 72)] * 2  # thumbnails 36 px
    assert {k: v for k, v in out.items() if k not in ("image", "examples")} == {
        k: v for k, v in card.items() if k not in ("image", "examples")
    }
    assert card["image"][:4] == b"\x89PNG"  # the live card is left as it was


def test_page_cards_share_one_table_of_dataset_examples() -> None:
    photos = {i: png_bytes(_photo(224, seed=i)) for i in (4, 9, 11)}

    def card(index: int, ids: list[int]) -> dict:
        return {
            "index": index,
            "image": png_bytes(_photo(224)),
            "examples": [photos[i] for i in ids],
            "example_ids": ids,
        }

    table: dict[str, bytes] = {}
    first = page_card(card(0, [4, 9]), 112, table)
    second = page_card(card(1, [9, 11]), 112, table)
    # each input once, however many cards show it; the cards name them by id
    assert sorted(table) == ["11", "4", "9"]
    assert first["examples"] == second["examples"] == []
    assert (first["example_ids"], second["example_ids"]) == ([4, 9], [9, 11])
    # the same thumbnails a card carrying its own would have
    alone = page_card(card(1, [9, 11]), 112)
    assert alone["examples"] == [table["9"], table["11"]]
    assert first["image"] == alone["image"]
