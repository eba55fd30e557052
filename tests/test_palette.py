"""One palette: the TypeScript views read what svdwidgets/_palette.py writes, matplotlib agrees."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib as mpl
import numpy as np

from svdwidgets import _palette

ROOT = Path(__file__).resolve().parent.parent


def test_the_typescript_palette_is_the_python_one() -> None:
    ts = (ROOT / "labextension" / "src" / "palette.ts").read_text(encoding="utf-8")
    assert ts == _palette.typescript(), (
        "labextension/src/palette.ts differs from svdwidgets/_palette.py: "
        "run `python -m svdwidgets._palette`"
    )
    # and the generated text carries every colour (a generator that dropped one would fail)
    for colour in (*_palette.COLORS.values(), *_palette.CATEGORICAL):
        assert f'"{colour}"' in ts
    for colour in _palette.VIRIDIS:
        r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert f"[{r}, {g}, {b}]" in ts


def test_no_view_keeps_its_own_copy() -> None:
    src = ROOT / "labextension" / "src"
    for path in src.glob("*.ts"):
        if path.name == "palette.ts":
            continue
        text = path.read_text(encoding="utf-8")
        found = set(re.findall(r"#[0-9a-fA-F]{6}\b", text))
        assert not found, f"{path.name} hard-codes colours {sorted(found)}: use palette.ts"
    css = (ROOT / "labextension" / "style" / "index.css").read_text(encoding="utf-8")
    bare = re.sub(r"var\([^()]*\)", "", css)  # theme variables and their fallbacks are fine
    palette = {c.lower() for c in (*_palette.COLORS.values(), *_palette.CATEGORICAL)}
    for colour in re.findall(r"#[0-9a-fA-F]{6}\b", bare):
        assert colour.lower() in palette, f"index.css colour {colour} is not in the palette"


def test_the_palette_matches_matplotlib() -> None:
    viridis = mpl.colormaps["viridis"]
    for i, colour in enumerate(_palette.VIRIDIS):
        expected = np.array(viridis(i / (len(_palette.VIRIDIS) - 1))[:3])
        got = np.array(mpl.colors.to_rgb(colour))
        np.testing.assert_allclose(got, expected, atol=1 / 255)
    tab10 = [mpl.colors.to_hex(c) for c in mpl.colormaps["tab10"].colors]  # type: ignore[attr-defined]
    assert set(_palette.COLORS.values()) <= set(tab10)
