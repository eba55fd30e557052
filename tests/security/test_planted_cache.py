"""The cache folder is not trusted (issue #14.2): a planted entry never runs code, a cache
written on one device reads on another, and old pickle entries are never read."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import warnings
from pathlib import Path

import pytest
import torch

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsWarning
from svdwidgets.model.cache import _MAGIC, SpectrumCache


class _Payload:
    """A pickle that would create a file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.ReLU())


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*.pt"))


def test_a_planted_entry_with_a_valid_checksum_is_refused_not_run(tmp_path: Path) -> None:
    first = sw.profile(_model(), (2, 6, 6), cache=tmp_path, progress=False)
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker))
    # the attacker controls the folder, so the checksum is theirs too: only the loader stops it
    for entry in _entries(tmp_path):
        entry.write_bytes(_MAGIC + hashlib.sha256(payload).digest() + payload)
    with pytest.warns(SVDWidgetsWarning, match="could not be read safely"):
        again = sw.profile(_model(), (2, 6, 6), cache=tmp_path, progress=False)
    assert not marker.exists()
    assert torch.equal(again["0"].values, first["0"].values)


def test_a_planted_torch_save_naming_os_system_is_refused(tmp_path: Path) -> None:
    cache = SpectrumCache(tmp_path)
    cache.put("ab" + "0" * 62, torch.ones(2))
    entry = _entries(tmp_path)[0]
    marker = tmp_path / "pwned2"
    buffer = io.BytesIO()
    torch.save({"x": _Payload(marker)}, buffer)
    payload = buffer.getvalue()
    entry.write_bytes(_MAGIC + hashlib.sha256(payload).digest() + payload)
    with pytest.warns(SVDWidgetsWarning):
        assert cache.get_object("ab" + "0" * 62) is None
    assert not marker.exists()


def test_old_pickle_entries_are_never_read(tmp_path: Path) -> None:
    marker = tmp_path / "pwned3"
    sw.profile(_model(), (2, 6, 6), cache=tmp_path, progress=False)
    for entry in _entries(tmp_path):
        entry.with_suffix(".pkl").write_bytes(pickle.dumps(_Payload(marker)))
        entry.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a plain miss: nothing to warn about
        sw.profile(_model(), (2, 6, 6), cache=tmp_path, progress=False)
    assert not marker.exists()


def test_entries_load_on_the_cpu_whatever_device_wrote_them(tmp_path: Path) -> None:
    cache = SpectrumCache(tmp_path)
    key = "cd" + "1" * 62
    cache.put(key, {"values": torch.arange(3.0)})
    loaded = cache.get_object(key)
    assert isinstance(loaded, dict) and loaded["values"].device.type == "cpu"
