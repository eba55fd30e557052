"""A planted file in the cache folder never runs code: entries are never unpickled.

Someone who can write to a shared ``$SVDWIDGETS_CACHE`` used to be able to replace an entry
with a pickle whose ``__reduce__`` runs a command on the next ``profile``.
"""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsWarning
from svdwidgets.model.cache import SpectrumCache, loads


class _Planted:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        # unpickling this calls os.mkdir(marker): the folder appearing means code ran
        return (os.mkdir, (str(self.marker),))


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 2, 3))


def test_planted_pickles_do_not_run_and_are_misses(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    net = _net()
    fresh = sw.profile(net, (1, 6, 6), cache=False)
    sw.profile(net, (1, 6, 6), cache=cache)  # writes every entry
    entries = [p for p in cache.rglob("*") if p.is_file()]
    assert entries and all(p.suffix == ".svdw" for p in entries)
    marker = tmp_path / "pwned"
    planted = pickle.dumps(_Planted(marker))
    for p in entries:
        p.write_bytes(planted)  # every entry, the probe's included
        p.with_suffix(".pkl").write_bytes(planted)  # and the old format's file names
    with pytest.warns(SVDWidgetsWarning, match="corrupt svdwidgets cache entry"):
        again = sw.profile(net, (1, 6, 6), cache=cache)
    assert not marker.exists()
    for name in fresh.layers:
        assert torch.equal(again[name].values, fresh[name].values)
    # the entries were rewritten in the safe format and read back without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", SVDWidgetsWarning)
        third = sw.profile(net, (1, 6, 6), cache=cache)
    assert all(third.to_dataframe()["cached"])
    assert not marker.exists()


def test_a_pickle_with_a_valid_header_is_still_refused(tmp_path: Path) -> None:
    # even a file that passes the checksum is read with allow_pickle=False and an allowlist
    import hashlib

    from svdwidgets.model import cache as cache_module

    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Planted(marker))
    entry = cache_module._MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    with pytest.raises(Exception):  # noqa: B017 - any refusal, as long as nothing runs
        loads(entry)
    store = SpectrumCache(tmp_path)
    path = store._path("ab" * 32)
    path.parent.mkdir(parents=True)
    path.write_bytes(entry)
    with pytest.warns(SVDWidgetsWarning):
        assert store.get_object("ab" * 32) is None
    assert not marker.exists()


def test_spectra_come_back_on_the_cpu_with_the_same_vectors(tmp_path: Path) -> None:
    torch.manual_seed(1)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    store = SpectrumCache(tmp_path)
    for i, kw in enumerate(
        [
            {"padding_mode": "circular"},
            {"method": "exact"},
            {"method": "unfolded"},
            {"method": "slices"},
            {"method": "spectral-density"},
        ]
    ):
        mode = kw.pop("padding_mode", "zeros")
        spec = sw.conv_svd(conv.weight, (6, 6), padding=1, padding_mode=mode, **kw)
        key = f"{i:02d}" * 32
        store.put(key, spec)
        back = store.get(key)
        assert back is not None and type(back) is type(spec)
        assert back.values.device.type == "cpu" and torch.equal(back.values, spec.values)
        assert (back.method, back.exact) == (spec.method, spec.exact)
        if spec.method != "spectral-density":
            for a, b in zip(spec.vector(0), back.vector(0), strict=True):
                assert torch.equal(a, b)
