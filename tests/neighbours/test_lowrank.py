"""Low-rank truncation: exactness at full rank, Eckart–Young, the bundled model's curve."""

from __future__ import annotations

import functools

import pytest
import torch
from conv_reference import dense_conv_matrix
from torch import nn

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsError, SVDWidgetsWarning
from svdwidgets.neighbours.lowrank import (
    accuracy,
    rank_curve,
    truncate_fft,
    truncate_model,
    truncate_unfolded,
)
from svdwidgets.zoo import load_default


@functools.lru_cache(maxsize=1)
def _bundle():  # type: ignore[no-untyped-def]
    return load_default()


@torch.no_grad()
def _unfolded_product(pair: nn.Sequential) -> torch.Tensor:
    first, second = pair[0], pair[1]
    return second.weight.reshape(second.weight.shape[0], -1) @ first.weight.reshape(
        first.weight.shape[0], -1
    )


@pytest.mark.parametrize(
    "layer",
    [
        nn.Conv2d(5, 6, 3, stride=2, padding=1),
        nn.Conv2d(4, 3, (3, 2), dilation=(1, 2), padding_mode="circular", padding=1),
        nn.Linear(7, 5),
    ],
)
def test_full_rank_reproduces_the_layer(layer: nn.Module) -> None:
    torch.manual_seed(0)
    layer = layer.double()
    full = min(layer.weight.shape[0], layer.weight[0].numel())
    pair = truncate_unfolded(layer, full)  # type: ignore[arg-type]
    x = (
        torch.randn(3, 7)
        if isinstance(layer, nn.Linear)
        else torch.randn(3, layer.in_channels, 9, 8)
    )
    x = x.double()
    with torch.no_grad():
        assert torch.allclose(pair(x), layer(x), atol=1e-12)


def test_truncation_is_eckart_young() -> None:
    torch.manual_seed(1)
    conv = nn.Conv2d(6, 8, 3, padding=1, bias=False).double()
    w = conv.weight.detach().reshape(8, -1)
    s = torch.linalg.svdvals(w)
    for r in (1, 3, 5):
        wr = _unfolded_product(truncate_unfolded(conv, r))
        assert torch.linalg.matrix_rank(wr) == r
        err = torch.linalg.matrix_norm(w - wr)
        assert float(err) == pytest.approx(float(s[r:].square().sum().sqrt()), rel=1e-10)
        # and the runnable pair computes exactly the conv with that rank-r weight
        x = torch.randn(2, 6, 7, 7, dtype=torch.float64)
        ref = torch.nn.functional.conv2d(x, wr.reshape(8, 6, 3, 3), padding=1)
        with torch.no_grad():
            assert torch.allclose(truncate_unfolded(conv, r)(x), ref, atol=1e-12)


def test_fft_truncation_against_the_dense_operator() -> None:
    torch.manual_seed(2)
    n = 6
    conv = nn.Conv2d(4, 3, 3, padding=1, padding_mode="circular", bias=False).double()
    dense = dense_conv_matrix(conv.weight, (n, n), padding=1, padding_mode="circular")
    values = sw.conv_svd(conv, (n, n), method="fft", dtype=torch.float64)
    blocks = values.frequency_values  # (N_h, N_w, r): the whole plane
    full = truncate_fft(conv, (n, n), 3)
    x = torch.randn(2, 4, n, n, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(full(x), conv(x), atol=1e-12)  # full rank: the same layer
    for r in (1, 2):
        small = truncate_fft(conv, (n, n), r)
        approx = dense_conv_matrix(
            small.weight, (n, n), padding=small.padding, padding_mode="circular"
        )
        sv = torch.linalg.svdvals(approx)
        assert int((sv > 1e-9).sum()) == r * n * n  # rank r at every frequency
        dropped = blocks[..., r:].square().sum()
        err = torch.linalg.matrix_norm(dense - approx)
        assert float(err) == pytest.approx(float(dropped.sqrt()), rel=1e-8)


def test_truncate_model_copies_and_keeps_the_original() -> None:
    b = _bundle()
    before = {k: v.clone() for k, v in b.model.state_dict().items()}
    new = truncate_model(b.model, {"block.conv2": 8, "fc": 10})
    assert isinstance(new.get_submodule("block.conv2"), nn.Sequential)
    assert isinstance(b.model.get_submodule("block.conv2"), nn.Conv2d)
    assert all(torch.equal(before[k], v) for k, v in b.model.state_dict().items())
    x = b.images[:64]
    with torch.no_grad():
        full = truncate_model(b.model, {"down.conv": 32, "fc": 10})
        assert torch.allclose(full(x), b.model(x), atol=1e-4)
    with pytest.warns(SVDWidgetsWarning, match="circular"):
        circ = truncate_model(b.model, {"block.conv1": 4}, method="fft", input_shape=(1, 28, 28))
    assert circ.get_submodule("block.conv1").padding_mode == "circular"


def test_accuracy_versus_rank_on_the_bundled_model() -> None:
    b = _bundle()
    images, labels = b.images[::2], b.labels[::2]  # the split is sorted by class
    df = rank_curve(b.model, images, labels, layers=["block.conv2", "fc"], ranks=[1, 16, 32])
    base = accuracy(b.model, images, labels)
    acc = df.set_index(["layer", "rank", "truncated"])["accuracy"]
    # measured on all 1,000 digits: block.conv2 0.316 / 0.989 / 0.989, fc rank 1: 0.200
    assert acc[("block.conv2", 32, True)] == base  # full rank is the model
    assert acc[("block.conv2", 16, True)] >= base - 0.02  # half the rank: within 2 points
    assert acc[("block.conv2", 1, True)] < base - 0.4  # rank 1: much worse
    assert acc[("fc", 1, True)] < 0.5
    row = df[(df.layer == "block.conv2") & (df["rank"] == 16)].iloc[0]
    assert row.params == 16 * (32 * 9 + 32)
    assert row.compression == pytest.approx(32 * 32 * 9 / (16 * (32 * 9 + 32)))
    assert row.macs == row.params * 14 * 14


def test_bad_input() -> None:
    conv = nn.Conv2d(4, 6, 3)
    with pytest.raises(SVDWidgetsError, match=r"\[1, 6\]"):
        truncate_unfolded(conv, 7)
    with pytest.raises(SVDWidgetsError, match="groups"):
        truncate_unfolded(nn.Conv2d(4, 4, 3, groups=2), 1)
    with pytest.raises(SVDWidgetsError, match=r"stride=\(2, 2\)"):
        truncate_fft(nn.Conv2d(4, 4, 3, stride=2, padding_mode="circular", padding=1), 8, 2)
    with pytest.raises(SVDWidgetsError, match="unknown layer"):
        truncate_model(_bundle().model, {"nope": 1})
    with pytest.raises(SVDWidgetsError, match="input_shape"):
        truncate_model(_bundle().model, {"block.conv1": 1}, method="fft")
