"""The networks people study, profiled with defaults: complete, σ_max exact, against a dense
reference (issue 12, item 1).

Random weights (``pretrained=False``): nothing is downloaded. These tests run in the second
environment ``scripts/test.sh`` builds (``.venv-zoo``: torch 2.14.1, torchvision 0.29.1, timm),
where ``SVDWIDGETS_REQUIRE_ZOO=1`` turns a missing library into a failure; in the main
environment (torch 2.13 CPU, where torchvision does not import) they skip with the import error.
CI runs this representative subset; ``benchmarks/bench_zoo.py`` runs every model at 64 and 224 px.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from zoo_models import (
    analysable,
    library,
    operator_matrix,
    output_numel,
    required,
    size_for,
)

import svdwidgets as sw
from svdwidgets.model.profile import NOT_CALLED
from svdwidgets.zoo import load_timm, load_torchvision

TORCHVISION, TORCHVISION_ERROR = library("torchvision")
TIMM, TIMM_ERROR = library("timm")
_MISSING = TORCHVISION_ERROR or TIMM_ERROR
# in the zoo environment a missing library fails the tests (no silent skip)
needs_zoo = pytest.mark.skipif(
    _MISSING is not None and not required(),
    reason=f"torchvision/timm do not import here ({_MISSING!r}); they run in .venv-zoo",
)
pytestmark = needs_zoo

# (name, input size): a representative subset of both libraries, kept to a few minutes on 2 cores
CASES = [
    ("torchvision:resnet18", 64),
    ("torchvision:resnet18", 224),
    ("torchvision:googlenet", 64),  # aux heads: not called in eval mode
    ("torchvision:inception_v3", 75),  # its smallest input; aux head not called
    ("torchvision:squeezenet1_0", 64),
    ("torchvision:mobilenet_v3_small", 64),
    ("torchvision:shufflenet_v2_x0_5", 64),
    ("torchvision:mnasnet0_5", 64),
    ("torchvision:efficientnet_b0", 64),
    ("torchvision:regnet_x_400mf", 64),
    ("timm:dla34", 64),
    ("timm:cspresnet50", 64),
    ("timm:hrnet_w18_small", 64),
    ("timm:rexnet_100", 64),
    ("timm:ghostnet_100", 64),
    ("timm:ese_vovnet19b_dw", 64),
    ("timm:selecsls42b", 64),
    ("timm:mixnet_s", 64),
]
# largest operator side the dense reference builds (basis vectors through the module)
_DENSE_SIDE = 5000


def test_zoo_libraries_import() -> None:
    """In the zoo environment both libraries import beside its torch."""
    assert TORCHVISION is not None and TIMM is not None, f"{_MISSING!r}"


def _load(name: str) -> nn.Module:
    source, _, arch = name.partition(":")
    loader = load_timm if source == "timm" else load_torchvision
    torch.manual_seed(0)  # the same random weights whatever ran before
    found = loader(arch, pretrained=False)
    assert found.source == source and not found.pretrained and found.weights is None
    assert found.input_shape[0] == 3 and not found.model.training
    return found.model


def _reference_layer(prof: sw.Profile, model: nn.Module) -> tuple[str, bool]:
    """The smallest conv with a kernel wider than 1 (padding where the model has it): the
    layer whose circular spectrum differs most from the operator's; and whether it is small
    enough for the dense reference."""
    modules = dict(model.named_modules())
    best: tuple[int, str] | None = None
    for name in prof.layers:
        m = modules[name]
        if not isinstance(m, nn.Conv2d) or m.kernel_size == (1, 1):
            continue
        shape = prof.entry(name).record.input_shape
        side = max(math.prod(shape), output_numel(m, shape))
        if best is None or side < best[0]:
            best = (side, name)
    assert best is not None, "no conv layer with a kernel wider than 1"
    return best[1], best[0] <= _DENSE_SIDE


@pytest.mark.parametrize(
    ("name", "size"), CASES, ids=[f"{n.replace(':', '-')}-{s}" for n, s in CASES]
)
def test_profile_every_layer_exact_sigma_max(name: str, size: int) -> None:
    model = _load(name)
    size = size_for(name, size)
    prof = sw.profile(model, (3, size, size), cache=False, progress=False)
    # every Conv2d, ConvTranspose2d and Linear module: a row, or skipped with its reason
    modules = analysable(model)
    assert set(prof.layers) | set(prof.skipped) == set(modules)
    assert not set(prof.layers) & set(prof.skipped)
    assert len(prof.layers) + len(prof.skipped) == len(modules)
    for layer, reason in prof.skipped.items():
        assert reason == NOT_CALLED, (layer, reason)
    if name.endswith(("googlenet", "inception_v3")):
        assert prof.skipped and all(
            n.startswith(("aux1.", "aux2.", "AuxLogits.")) for n in prof.skipped
        )
    else:
        assert not prof.skipped
    # σ_max in every row, inside its interval, the interval converged to 1e-4
    df = prof.to_dataframe()
    rows = df[df["skipped"].isna()]
    assert len(rows) == len(prof.layers)
    assert rows["sigma_max"].notna().all() and (rows["sigma_max"] > 0).all()
    for layer in prof.layers:
        iv = prof.entry(layer).sigma_max
        assert iv is not None and iv.converged, (layer, iv)
        assert iv.lower <= rows.loc[layer, "sigma_max"] <= iv.upper
        assert iv.upper / iv.lower - 1 <= 1e-4 + 1e-12
        assert isinstance(rows.loc[layer, "why"], str) and rows.loc[layer, "why"]
    # one layer against the dense operator built by running the module on basis vectors
    # (none is small enough at 224 px: there the model's 64 px case holds the conv check, and
    # the classifier's check below is the dense one)
    layer, small = _reference_layer(prof, model)
    if small:
        record = prof.entry(layer).record
        iv = prof.entry(layer).sigma_max
        assert iv is not None
        dense = torch.linalg.svdvals(operator_matrix(record.module, record.input_shape))
        top = float(dense[0])
        assert iv.lower * (1 - 2e-6) <= top <= iv.upper * (1 + 2e-6), (layer, iv, top)
        spec = prof[layer]
        if spec.exact:  # the whole spectrum (k=None) is the operator's
            n = min(len(spec), 16)
            torch.testing.assert_close(spec.values[:n].double(), dense[:n], rtol=1e-4, atol=1e-6)
    else:
        assert size > 64 and (name, 64) in CASES, f"{layer}: too large to densify"
    # the classifier: a Linear layer's σ_max is its matrix's
    linear = [n for n in prof.layers if isinstance(prof.entry(n).record.module, nn.Linear)]
    if linear:
        w = prof.entry(linear[-1]).record.module.weight.detach().double()  # type: ignore[union-attr]
        top = float(torch.linalg.svdvals(w)[0])
        assert rows.loc[linear[-1], "sigma_max"] == pytest.approx(top, rel=1e-5)


def test_googlenet_aux_heads_listed_as_not_called() -> None:
    """GoogLeNet has 64 Conv2d/Linear modules; eval mode never calls the 6 of its aux heads."""
    model = _load("torchvision:googlenet")
    everything = sw.profile(
        model, (3, 64, 64), method="unfolded", exact_sigma_max=False, cache=False, progress=False
    )
    assert len(analysable(model)) == 64
    assert len(everything.layers) == 58
    assert everything.skipped == {
        n: NOT_CALLED for n in analysable(model) if n.startswith(("aux1.", "aux2."))
    }


def test_report_command_resnet18_random_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``svdwidgets report resnet18`` for real: without cached weights it refuses to download
    (one line, status 2); ``--random-init`` builds the architecture and writes the report."""
    from svdwidgets import cli

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))  # an empty torch hub cache
    monkeypatch.setenv("SVDWIDGETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert cli.main(["report", "resnet18", "--out", str(tmp_path / "no")]) == 2
    assert not (tmp_path / "no").exists() and not list((tmp_path).rglob("*.pth"))
    out = tmp_path / "r18"
    argv = ["report", "resnet18", "--random-init", "--input-shape", "3,32,32", "--no-explorer"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    with (out / "layers.csv").open(newline="") as f:
        rows = {row["layer"]: row for row in csv.DictReader(f)}
    model = _load("torchvision:resnet18")
    assert list(rows) == analysable(model)  # forward order = definition order in ResNet
    assert all(float(r["sigma_max"]) > 0 for r in rows.values())
    assert (out / "report.html").exists() and (out / "overview.png").exists()


@pytest.mark.parametrize(
    ("arch", "cls", "fragment"),
    [
        ("nf_resnet26", "ScaledStdConv2d", "differs from the operator"),
        ("tf_efficientnet_lite0", "Conv2dSame", "pads or reshapes by itself"),
    ],
)
def test_timm_convs_with_their_own_forward_are_skipped(arch: str, cls: str, fragment: str) -> None:
    """timm's weight-standardised and "same"-padded convs compute another operator than their
    weight and attributes describe: skipped with the reason, never a wrong row."""
    model = _load(f"timm:{arch}")
    prof = sw.profile(model, (3, 64, 64), cache=False, progress=False, exact_sigma_max=False)
    modules = dict(model.named_modules())
    own = {n for n in analysable(model) if type(modules[n]).__name__ == cls}
    assert own and set(prof.skipped) == own
    assert all(f"{cls} overrides forward" in r and fragment in r for r in prof.skipped.values())
    assert set(prof.layers) == set(analysable(model)) - own
