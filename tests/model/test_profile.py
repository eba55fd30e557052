"""profile(): spectra per layer, BN folding, cache, DataFrame, RMT contrast, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.model import find_layers
from svdwidgets.model.folding import fold_batchnorm
from svdwidgets.model.profile import profile


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1, padding_mode="circular", bias=False)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 6, 3, stride=2, padding=1)
        self.odd = nn.Conv2d(6, 6, 2, padding="same")  # asymmetric padding: not analysable
        self.head = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.odd(torch.relu(self.conv2(x)))
        return self.head(x.mean(dim=(2, 3)))


def _trained_like_bn(model: Small) -> Small:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model.bn1.running_var.copy_(torch.rand(6, generator=g) + 0.5)
        model.bn1.running_mean.copy_(torch.randn(6, generator=g))
        model.bn1.weight.copy_(torch.randn(6, generator=g))
        model.bn1.bias.copy_(torch.randn(6, generator=g))
    return model.eval()


def test_profile_indexes_layers_by_name_and_matches_conv_svd(tmp_path) -> None:
    torch.manual_seed(0)
    model = Small()
    prof = profile(model, (3, 8, 8), cache=tmp_path, progress=False)
    assert prof.layers == ["conv1", "conv2", "head"]
    assert "odd" in prof.skipped and "asymmetrically" in prof.skipped["odd"]
    with pytest.raises(SVDWidgetsError, match="asymmetrically"):
        prof["odd"]
    torch.testing.assert_close(prof["conv1"].values, sw.conv_svd(model.conv1, (8, 8)).values)
    torch.testing.assert_close(prof["conv2"].values, sw.conv_svd(model.conv2, (8, 8)).values)
    torch.testing.assert_close(prof["head"].values, sw.conv_svd(model.head).values)


def test_batchnorm_is_found_by_tensor_identity_and_folding_equals_conv_then_bn() -> None:
    model = _trained_like_bn(Small())
    records = {r.name: r for r in find_layers(model, torch.zeros(1, 3, 8, 8))}
    assert records["conv1"].batchnorm == "bn1"
    assert records["conv2"].batchnorm is None
    folded = fold_batchnorm(model.conv1.weight, model.bn1)
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        bn_of_conv = model.bn1(model.conv1(x)) - model.bn1(model.conv1(torch.zeros_like(x)))
        conv_folded = nn.functional.conv2d(
            nn.functional.pad(x, (1, 1, 1, 1), mode="circular"), folded
        )
    torch.testing.assert_close(conv_folded, bn_of_conv, rtol=1e-5, atol=1e-5)
    prof = profile(model, (3, 8, 8), cache=False, progress=False, fold_bn=True)
    torch.testing.assert_close(
        prof["conv1"].values,
        sw.conv_svd(folded, (8, 8), padding=1, padding_mode="circular").values,
    )
    assert prof.entry("conv1").folded and not prof.entry("conv2").folded


def test_second_profile_comes_from_the_cache_and_a_changed_weight_misses(tmp_path) -> None:
    torch.manual_seed(1)
    model = Small()
    first = profile(model, (3, 8, 8), cache=tmp_path, progress=False)
    second = profile(model, (3, 8, 8), cache=tmp_path, progress=False)
    assert not any(first.entry(n).cached for n in first.layers)
    assert all(second.entry(n).cached for n in second.layers)
    for name in first.layers:
        torch.testing.assert_close(first[name].values, second[name].values, rtol=0, atol=0)
    v1, _ = first["conv1"].vector(3)
    v2, _ = second["conv1"].vector(3)
    torch.testing.assert_close(v1, v2)
    with torch.no_grad():
        model.conv2.weight[0, 0, 0, 0] += 1
    third = profile(model, (3, 8, 8), cache=tmp_path, progress=False)
    assert third.entry("conv1").cached and not third.entry("conv2").cached
    other_size = profile(model, (3, 12, 12), cache=tmp_path, progress=False)
    assert not other_size.entry("conv1").cached


def test_dataframe_has_one_row_per_layer_with_the_documented_columns() -> None:
    torch.manual_seed(2)
    df = profile(Small(), (3, 8, 8), cache=False, progress=False).to_dataframe()
    assert list(df.index) == ["conv1", "conv2", "odd", "head"]
    for col in (
        "kind",
        "weight_shape",
        "stride",
        "padding",
        "input_size",
        "method",
        "exact",
        "sigma_max",
        "stable_rank",
        "effective_rank",
        "alpha",
        "alpha_weighted",
        "mp_sigma",
        "mp_spikes",
        "mp_ks",
        "unfolded_alpha",
        "skipped",
        "cached",
    ):
        assert col in df.columns, col
    assert df.loc["conv2", "stride"] == (2, 2) and df.loc["conv2", "input_size"] == (8, 8)
    assert df.loc["odd", "skipped"] and df.loc["odd", "n_values"] == 0
    assert df.loc["conv1", "exact"] and df.loc["conv1", "method"] == "fft"
    # WeightWatcher's MP names mean its estimator: ours are named apart
    assert not {"sigma_mp", "num_spikes", "ks_mp"} & set(df.columns)


@pytest.mark.slow
def test_random_weights_look_marchenko_pastur_and_trained_ones_do_not() -> None:
    pytest.importorskip("mlxtend")
    from svdwidgets.zoo import load_default

    model = load_default().model
    trained = profile(model, (1, 28, 28), cache=False, progress=False, layers=["block.conv2"])
    random = load_default().model
    with torch.no_grad():  # same shape and scale, no structure
        w = random.block.conv2.weight
        w.copy_(torch.randn_like(w) * w.std())
    randomised = profile(random, (1, 28, 28), cache=False, progress=False, layers=["block.conv2"])
    t = trained.entry("block.conv2").fits()
    r = randomised.entry("block.conv2").fits()
    assert r["mp_ks"] < 0.02 < t["mp_ks"]
    assert r["alpha"] > 4 > t["alpha"]
    assert r["unfolded_alpha"] > t["unfolded_alpha"]


def test_bad_input() -> None:
    model = Small()
    with pytest.raises(SVDWidgetsError, match="Sequential has no Conv2d"):
        profile(nn.Sequential(nn.ReLU()), (3,), cache=False, progress=False)
    with pytest.raises(SVDWidgetsError, match=r"5 channels .*'conv1' expects in_channels=3"):
        profile(model, (5, 8, 8), cache=False, progress=False)
    with pytest.raises(SVDWidgetsError, match=r"unknown layer\(s\) \['conv9'\]"):
        profile(model, (3, 8, 8), layers=["conv9"], cache=False, progress=False)
    with pytest.raises(SVDWidgetsError, match="exactly one of"):
        profile(model, cache=False, progress=False)
    with pytest.raises(SVDWidgetsError, match=r"input_shape must be positive ints.*\(3, -8, 8\)"):
        profile(model, (3, -8, 8), cache=False, progress=False)
    with pytest.raises(SVDWidgetsError, match="unknown method 'fast'"):
        profile(model, (3, 8, 8), method="fast", cache=False, progress=False)
    with pytest.raises(SVDWidgetsError, match=r"unknown layer 'nope'"):
        profile(model, (3, 8, 8), cache=False, progress=False).entry("nope")


def test_weights_hash_covers_scalars_and_shapes() -> None:
    from svdwidgets.model.cache import weights_hash

    assert weights_hash(torch.tensor(3)) != weights_hash(torch.tensor([3]))
    assert weights_hash(torch.tensor(3)) == weights_hash(torch.tensor(3))


class Counting(Small):
    calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        Counting.calls += 1
        return super().forward(x)


class CountingWider(Counting):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # other code: another probe
        Counting.calls += 1
        return super().forward(x[:, :, :8, :8])


def test_a_warm_profile_runs_no_forward_pass_unless_the_code_changed(tmp_path) -> None:
    torch.manual_seed(3)
    model = Counting()
    profile(model, (3, 8, 8), cache=tmp_path, progress=False)
    before = Counting.calls
    again = profile(model, (3, 8, 8), cache=tmp_path, progress=False)
    assert Counting.calls == before
    assert again.entry("conv2").record.input_shape == (6, 8, 8)
    assert again.entry("conv1").record.batchnorm == "bn1"
    wider = CountingWider()
    wider.load_state_dict(model.state_dict())
    profile(wider, (3, 8, 8), cache=tmp_path, progress=False)
    assert Counting.calls > before


@pytest.mark.parametrize("stride", [1, 2])
def test_single_tap_fits_equal_the_fits_of_the_pooled_spectrum(stride) -> None:
    from svdwidgets.core import rmt

    torch.manual_seed(4)
    conv = nn.Conv2d(24, 40, 1, stride=stride, bias=False)
    entry = profile(nn.Sequential(conv), (24, 12, 12), cache=False, progress=False).entry("0")
    assert entry.spectrum.shortcut == "single-tap"  # type: ignore[union-attr]
    fast = entry.fits()
    values = entry.spectrum.values.double()  # type: ignore[union-attr]
    pooled = rmt.rmt_row(values, 40, 24 * stride * stride)
    names = {"sigma_mp": "mp_sigma", "num_spikes": "mp_spikes", "ks_mp": "mp_ks"}
    for key in ("alpha", "alpha_weighted", "ks_powerlaw", "sigma_mp", "num_spikes", "ks_mp"):
        assert fast[names.get(key, key)] == pytest.approx(pooled[key], rel=1e-9), key  # type: ignore[literal-required]
    unfolded = rmt.rmt_row(
        torch.linalg.svdvals(conv.weight.detach().double().reshape(40, 24)), 40, 24
    )
    for key in ("alpha", "sigma_mp", "ks_mp"):
        name = "unfolded_" + names.get(key, key)
        assert fast[name] == pytest.approx(unfolded[key], rel=1e-5), key  # type: ignore[literal-required]
    assert fast["stable_rank"] == pytest.approx(rmt.stable_rank(values))
    assert fast["effective_rank"] == pytest.approx(rmt.effective_rank(values))
