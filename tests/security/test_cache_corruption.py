"""Corrupt entries and unusable folders (issue #14.5): a miss with a warning, never an
exception and never a silently different σ; an unusable folder falls back to memory."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsWarning
from svdwidgets.model.cache import SpectrumCache


def _model() -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(4, 2, 1))


def test_every_single_byte_flip_is_a_miss_with_a_warning(tmp_path: Path) -> None:
    reference = sw.profile(_model(), (3, 6, 6), cache=False, progress=False)
    sw.profile(_model(), (3, 6, 6), cache=tmp_path, progress=False)
    entries = sorted(tmp_path.glob("*/*.pt"))
    assert entries
    originals = {e: e.read_bytes() for e in entries}
    size = min(len(b) for b in originals.values())
    for position in range(0, size, max(1, size // 40)):  # ~40 positions across the file
        for entry, raw in originals.items():
            flipped = bytearray(raw)
            flipped[position] ^= 0x5A
            entry.write_bytes(bytes(flipped))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            again = sw.profile(_model(), (3, 6, 6), cache=tmp_path, progress=False)
        assert any(issubclass(w.category, SVDWidgetsWarning) for w in caught), position
        for name in reference.layers:
            assert torch.equal(again[name].values, reference[name].values), (position, name)


@pytest.mark.parametrize("cut", [0, 5, 40, -1])
def test_truncated_entries_are_misses(tmp_path: Path, cut: int) -> None:
    cache = SpectrumCache(tmp_path)
    key = "ef" + "2" * 62
    cache.put(key, torch.arange(5.0))
    entry = next(tmp_path.glob("*/*.pt"))
    raw = entry.read_bytes()
    entry.write_bytes(raw[:cut])
    with pytest.warns(SVDWidgetsWarning, match="corrupt"):
        assert cache.get_object(key) is None


@pytest.mark.parametrize("kind", ["a file in the way", "a file as the folder"])
def test_an_unusable_folder_falls_back_to_memory(tmp_path: Path, kind: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    folder = blocker / "cache" if kind == "a file in the way" else blocker
    with pytest.warns(SVDWidgetsWarning, match="caching in memory"):
        first = sw.profile(_model(), (3, 6, 6), cache=folder, progress=False)
    reference = sw.profile(_model(), (3, 6, 6), cache=False, progress=False)
    for name in reference.layers:
        assert torch.equal(first[name].values, reference[name].values)
    assert blocker.read_text() == "not a folder"


def test_the_memory_fallback_serves_hits_and_is_bounded(tmp_path: Path) -> None:
    blocker = tmp_path / "f"
    blocker.write_text("x")
    cache = SpectrumCache(blocker)
    with pytest.warns(SVDWidgetsWarning):
        cache.put("aa" + "0" * 62, torch.ones(1))
    assert cache.in_memory
    assert torch.equal(cache.get_object("aa" + "0" * 62), torch.ones(1))
    from svdwidgets.model import cache as module

    for i in range(module.MEMORY_ENTRIES + 5):
        cache.put(f"{i:064x}", i)
    assert cache.get_object("aa" + "0" * 62) is None
    assert cache.get_object(f"{module.MEMORY_ENTRIES + 4:064x}") == module.MEMORY_ENTRIES + 4
