"""Corrupt cache entries and unusable cache folders.

A malformed or byte-flipped entry is a miss with a warning (never a UnicodeDecodeError, never a
silently different σ); a folder that cannot be written falls back to an in-memory cache with a
warning, and profile, the Explorer and the report still work. (Tests run as root, for whom a
read-only mode blocks nothing: an unusable folder is a path under a regular file, or a file.)
"""

from __future__ import annotations

import importlib
import random
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import svdwidgets as sw
from svdwidgets import cli
from svdwidgets.errors import SVDWidgetsWarning
from svdwidgets.model.cache import SpectrumCache


def _spectrum() -> sw.Spectrum:
    torch.manual_seed(0)
    return sw.conv_svd(nn.Conv2d(2, 3, 3, padding=1).weight, (5, 5), padding=1, method="exact")


def _assert_miss(store: SpectrumCache, key: str) -> None:
    with pytest.warns(SVDWidgetsWarning, match="corrupt svdwidgets cache entry"):
        assert store.get(key) is None


def test_byte_flips_are_warned_misses(tmp_path: Path) -> None:
    store, key = SpectrumCache(tmp_path), "cd" * 32
    spec = _spectrum()
    store.put(key, spec)
    path = store._path(key)
    good = path.read_bytes()
    rng = random.Random(0)
    positions = sorted({*range(0, 80, 7), *rng.sample(range(len(good)), 40), len(good) - 1})
    for pos in positions:
        for flip in (0x01, 0x80, 0xFF):  # one bit, the high bit (multi-byte UTF-8), all bits
            data = bytearray(good)
            data[pos] ^= flip
            path.write_bytes(bytes(data))
            _assert_miss(store, key)
    path.write_bytes(good)
    back = store.get(key)
    assert back is not None and torch.equal(back.values, spec.values)


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xfe\x80garbage", b"SVDWCACHE2\n", b"SVDWCACHE2\n" + b"0" * 64 + b"\n", b"PK\x03"],
)
def test_malformed_entries_are_warned_misses(tmp_path: Path, data: bytes) -> None:
    store, key = SpectrumCache(tmp_path), "ef" * 32
    store.put(key, _spectrum())
    store._path(key).write_bytes(data)
    _assert_miss(store, key)


def test_truncated_entries_are_warned_misses(tmp_path: Path) -> None:
    store, key = SpectrumCache(tmp_path), "12" * 32
    store.put(key, _spectrum())
    good = store._path(key).read_bytes()
    for n in (1, 20, 76, len(good) // 2, len(good) - 1):
        store._path(key).write_bytes(good[:n])
        _assert_miss(store, key)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 2, 3))


def _unusable_folders(tmp_path: Path) -> list[Path]:
    regular = tmp_path / "a-file"
    regular.write_text("not a folder")
    return [regular / "cache", regular]  # a path under a regular file; a file itself


def test_profile_falls_back_to_memory(tmp_path: Path) -> None:
    net = _net()
    fresh = sw.profile(net, (1, 6, 6), cache=False)
    for folder in _unusable_folders(tmp_path):
        with pytest.warns(SVDWidgetsWarning, match="caching in memory"):
            prof = sw.profile(net, (1, 6, 6), cache=folder)
        for name in fresh.layers:
            assert torch.equal(prof[name].values, fresh[name].values)
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_in_memory_cache_serves_hits_without_touching_the_disk(tmp_path: Path) -> None:
    (folder,) = _unusable_folders(tmp_path)[:1]
    store, spec = SpectrumCache(folder), _spectrum()
    with pytest.warns(SVDWidgetsWarning, match="caching in memory"):
        store.put("34" * 32, spec)
    assert store.in_memory
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.put("56" * 32, spec)  # one warning per cache, not per entry
        assert store.get("34" * 32) is spec and store.get("78" * 32) is None


def test_explorer_and_report_work_with_an_unusable_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("mlxtend")
    folder = _unusable_folders(tmp_path)[0]
    monkeypatch.setenv("SVDWIDGETS_CACHE", str(folder))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )
    torch.manual_seed(0)
    images, labels = torch.rand(12, 1, 8, 8), torch.arange(12) % 2
    with pytest.warns(SVDWidgetsWarning, match="caching in memory"):
        ex = sw.Explorer(net, images, labels, ["a", "b"], render_options={"steps": 2})
        assert ex.wait(60)  # the profile (and its warning) runs on the analysis's worker
    ex.close()
    # the report, on a small user model (the module importable from tmp_path)
    name = "cache_fallback_net_" + tmp_path.name.replace("-", "_")
    (tmp_path / f"{name}.py").write_text(
        "from torch import nn\n\n\nclass Net(nn.Sequential):\n    def __init__(self):\n"
        "        super().__init__(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),\n"
        "                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    torch.save(importlib.import_module(name).Net().state_dict(), "net.pt")
    torch.save({"images": images, "labels": labels}, "data.pt")
    args = ["report", "net.pt", "--arch", f"{name}:Net", "--data", "data.pt", "--out", "rep"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SVDWidgetsWarning)
        status = cli.main([*args, "--no-explorer"])
    _, stderr = capsys.readouterr()
    assert status == 0, stderr
    assert (tmp_path / "rep" / "report.html").exists()
    assert (tmp_path / "a-file").read_text() == "not a folder"
