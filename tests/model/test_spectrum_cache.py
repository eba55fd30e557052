"""The spectrum disk cache: arrays + JSON, device-free, self-healing, multi-process safe (#13.5).

No pickle anywhere (tests/security/test_cache_no_pickle.py); here: an entry holds no device
(a CUDA-computed entry loads on a CPU machine), a corrupt or foreign file is recomputed with a
warning and overwritten, two processes writing one entry while a third reads never produce a
torn or wrong read, and a warm hit keeps the approximation note and the ``why`` of a cold run.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsWarning
from svdwidgets.model import cache as spectrum_cache
from svdwidgets.model.cache import SpectrumCache, dumps, loads


def _conv() -> nn.Conv2d:
    torch.manual_seed(0)
    return nn.Conv2d(3, 4, 3, padding=1)


def _spectra() -> dict[str, sw.Spectrum]:
    conv = _conv()
    return {
        "fft": sw.conv_svd(conv, (8, 8), method="fft"),
        "exact dense": sw.conv_svd(conv, (6, 6), method="exact"),
        "exact top-k": sw.conv_svd(conv, (12, 12), method="exact", k=3),
        "unfolded": sw.conv_svd(conv, (8, 8), method="unfolded"),
    }


def _meta(data: bytes) -> Any:
    payload = data[len(spectrum_cache._MAGIC) + 65 :]
    with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
        assert all(archive[n].dtype != object for n in archive.files)
        return json.loads(archive["meta"].tobytes().decode())


def _walk(value: object, seen: set[int] | None = None) -> list[object]:
    """Every object reachable from ``value`` through attributes, containers and dicts."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    out = [value]
    if isinstance(value, (list, tuple)):
        children: list[object] = list(value)
    elif isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    elif hasattr(value, "__dict__") and not isinstance(value, (torch.Tensor, type)):
        children = list(vars(value).values())
    else:
        children = []
    for child in children:
        out += _walk(child, seen)
    return out


@pytest.mark.parametrize("name", ["fft", "exact dense", "exact top-k", "unfolded"])
def test_an_entry_names_no_device_and_loads_on_the_cpu(name: str) -> None:
    spectrum = _spectra()[name]
    # what a CUDA run holds: its objects name a CUDA device (tensors can only be on the CPU
    # here; the encoder moves any tensor there, and a device must not survive in the file)
    planted = 0
    for obj in _walk(spectrum):
        if isinstance(obj, torch.Tensor) or not hasattr(obj, "__dict__"):
            continue
        if isinstance(getattr(obj, "device", None), torch.device):
            object.__setattr__(obj, "device", torch.device("cuda", 1))
            planted += 1
    data = dumps(spectrum)
    text = json.dumps(_meta(data))
    assert "cuda" not in text and "meta" not in text.replace('"meta"', "")
    # an encoded torch.device is {"device": ...}; an object's state may have a "device" key
    devices = [d for d in _walk(_meta(data)) if isinstance(d, dict) and set(d) == {"device"}]
    assert all(d == {"device": "cpu"} for d in devices) and len(devices) == planted
    back = loads(data)
    assert type(back) is type(spectrum)
    torch.testing.assert_close(back.values, spectrum.values, rtol=0, atol=0)
    for obj in _walk(back):
        if isinstance(obj, torch.Tensor):
            assert obj.device.type == "cpu"
        if isinstance(obj, torch.device):
            assert obj.type == "cpu"
    if name != "unfolded":  # vectors come back usable on the CPU
        v, u = back.vector(0)
        assert v.device.type == u.device.type == "cpu"


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 2, 3))


@pytest.mark.parametrize(
    "foreign",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(64),  # another program's file under the same name
        pickle.dumps({"values": [1.0, 2.0]}),  # an old (format 1) pickle
        b"SVDWCACHE2\n" + b"0" * 64 + b"\n" + b"PK\x03\x04truncated",  # a torn entry
    ],
)
def test_a_corrupt_or_foreign_entry_is_recomputed_with_a_warning(
    tmp_path: Path, foreign: bytes
) -> None:
    net = _net()
    fresh = sw.profile(net, (1, 6, 6), cache=False)
    sw.profile(net, (1, 6, 6), cache=tmp_path)
    entries = sorted(p for p in tmp_path.rglob("*.svdw") if not p.name.startswith("probe-"))
    entries = [p for p in entries if "probe-" not in p.name]
    assert entries
    for path in entries:
        path.write_bytes(foreign)
    with pytest.warns(SVDWidgetsWarning, match="corrupt svdwidgets cache entry"):
        again = sw.profile(net, (1, 6, 6), cache=tmp_path)
    for name in fresh.layers:
        assert torch.equal(again[name].values, fresh[name].values)
    with warnings.catch_warnings():  # overwritten: the next run reads them without a word
        warnings.simplefilter("error", SVDWidgetsWarning)
        warm = sw.profile(net, (1, 6, 6), cache=tmp_path)
    assert all(warm.entry(name).cached for name in warm.layers)


# Forked children run no torch kernels (OpenMP after fork can hang): the spectrum is made in
# the parent, and the children only encode, write, read and compare with numpy.
def _writer(directory: str, key: str, spectrum: sw.Spectrum, rounds: int) -> None:
    store = SpectrumCache(directory)
    for _ in range(rounds):
        store.put_spectrum(key, spectrum, "a note")


def _reader(directory: str, key: str, expected: np.ndarray, rounds: int, out: Any) -> None:
    store = SpectrumCache(directory)
    hits = bad = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(rounds):
            found = store.get_spectrum(key)
            if found is not None:
                hits += 1
                same = np.array_equal(found[0].values.numpy(), expected)
                bad += not (same and found[1] == "a note")
    out.put((hits, bad, [str(w.message) for w in caught]))


def test_two_writers_and_a_reader_of_one_entry(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    key, out, folder = "ab" * 32, ctx.Queue(), str(tmp_path)
    spectrum = _spectra()["fft"]
    expected = spectrum.values.numpy().copy()
    _writer(folder, key, spectrum, 1)  # the reader finds an entry from its first read on
    procs = [ctx.Process(target=_writer, args=(folder, key, spectrum, 60)) for _ in range(2)]
    procs.append(ctx.Process(target=_reader, args=(folder, key, expected, 300, out)))
    for p in procs:
        p.start()
    hits, bad, messages = out.get(timeout=60)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert (hits, bad, messages) == (300, 0, [])
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]  # no litter
    assert SpectrumCache(tmp_path).get_spectrum(key) is not None


def test_a_warm_hit_keeps_the_note_and_the_why(tmp_path: Path) -> None:
    # a memory budget too small for the dense operators: the zero-padded convs get the
    # circular (fft) approximation, and its note
    net, budget = _net(), 4096
    cold = sw.profile(net, (1, 10, 10), cache=tmp_path, memory_budget=budget).to_dataframe()
    warm = sw.profile(net, (1, 10, 10), cache=tmp_path, memory_budget=budget).to_dataframe()
    assert not cold["cached"].any() and warm["cached"].all()
    assert cold["note"].str.contains("circular convolution").sum() == 2
    assert warm["note"].tolist() == cold["note"].tolist()
    assert warm["why"].tolist() == cold["why"].tolist()
