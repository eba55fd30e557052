"""torchvision and timm models by name: real imports, real error paths, nothing downloaded.

torchvision does not import beside the CPU torch of our machines (and timm needs it), so here
the tests check the errors a user gets, from the real failed import; where the libraries import,
the other tests build the models and check the unknown-name and not-cached errors with an
empty torch hub cache.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

import svdwidgets as sw
from svdwidgets.zoo import ExternalModel, external, load_timm, load_torchvision


def _import_error(library: str) -> Exception | None:
    try:
        importlib.import_module(library)
    except Exception as err:  # ImportError, or torchvision's RuntimeError beside a foreign torch
        return err
    return None


TORCHVISION_ERROR = _import_error("torchvision")
TIMM_ERROR = _import_error("timm")
needs_torchvision = pytest.mark.skipif(
    TORCHVISION_ERROR is not None, reason=f"torchvision does not import: {TORCHVISION_ERROR}"
)
needs_timm = pytest.mark.skipif(
    TIMM_ERROR is not None, reason=f"timm does not import: {TIMM_ERROR}"
)


@pytest.mark.skipif(TORCHVISION_ERROR is None, reason="torchvision imports here")
@pytest.mark.parametrize("pretrained", [True, False])
def test_torchvision_not_importable_says_why(pretrained: bool) -> None:
    assert TORCHVISION_ERROR is not None
    with pytest.raises(sw.SVDWidgetsError) as info:
        load_torchvision("resnet18", pretrained=pretrained)
    message = str(info.value)
    assert message.startswith("cannot build torchvision model 'resnet18': torchvision ")
    # the real import error, named and quoted, on one line
    assert type(TORCHVISION_ERROR).__name__ in message
    assert " ".join(str(TORCHVISION_ERROR).split())[:60] in message
    assert "\n" not in message
    assert torch.__version__ in message or "not installed" in message
    assert "svdwidgets.profile" in message  # what to do instead


@pytest.mark.skipif(TIMM_ERROR is None, reason="timm imports here")
def test_timm_not_importable_says_why() -> None:
    assert TIMM_ERROR is not None
    with pytest.raises(sw.SVDWidgetsError) as info:
        load_timm("resnet18")
    message = str(info.value)
    assert message.startswith("cannot build timm model 'resnet18': timm ")
    assert type(TIMM_ERROR).__name__ in message
    assert "torchvision" in message  # timm needs it: the usual reason here


def test_unknown_name_lists_close_matches() -> None:
    message = external._unknown("torchvision", "resnet1888", ["resnet18", "resnet34", "vgg16"])
    assert "'resnet1888'" in message and "resnet18" in message and "vgg16" not in message
    assert "3 names are known" in external._unknown("timm", "zzz", ["a", "b", "c"])


def test_zoo_reexports() -> None:
    import svdwidgets.zoo as zoo

    assert {"load_torchvision", "load_timm", "ExternalModel"} <= set(zoo.__all__)
    assert zoo.load_torchvision is external.load_torchvision


@needs_torchvision
def test_torchvision_unknown_name() -> None:
    unknown = r"unknown torchvision model 'resnet1888'.*resnet18"
    with pytest.raises(sw.SVDWidgetsError, match=unknown):
        load_torchvision("resnet1888")
    with pytest.raises(sw.SVDWidgetsError, match="not an image classifier"):
        load_torchvision("fasterrcnn_resnet50_fpn")
    with pytest.raises(sw.SVDWidgetsError, match="has no weights 'NOPE'"):
        load_torchvision("resnet18", weights="NOPE")


@needs_torchvision
def test_torchvision_weights_not_cached_are_not_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty torch hub cache
    with pytest.raises(sw.SVDWidgetsError, match=r"not in torch hub's cache.*pretrained=False"):
        load_torchvision("resnet18")
    assert not list(tmp_path.rglob("*.pth"))


@needs_torchvision
def test_torchvision_random_weights_profile() -> None:
    found = load_torchvision("resnet18", pretrained=False)
    assert isinstance(found, ExternalModel)
    assert found.input_shape == (3, 224, 224) and not found.pretrained
    assert found.class_names is None and found.mean is None
    prof = sw.profile(found.model, (3, 32, 32), layers=["conv1", "fc"], cache=False, progress=False)
    assert prof.layers == ["conv1", "fc"]


@needs_timm
def test_timm_unknown_name_and_random_weights() -> None:
    with pytest.raises(sw.SVDWidgetsError, match=r"unknown timm model 'resnet1888'.*resnet18"):
        load_timm("resnet1888")
    found = load_timm("resnet18", pretrained=False)
    assert found.source == "timm" and found.input_shape[0] == 3 and not found.pretrained


@needs_timm
def test_timm_weights_not_cached_are_not_downloaded() -> None:
    import timm

    cfg = external._as_dict(timm.create_model("resnet18", pretrained=False).pretrained_cfg)
    if external._timm_cached_file(cfg) is not None:
        pytest.skip("timm's resnet18 weights are cached on this machine")
    with pytest.raises(sw.SVDWidgetsError, match="not cached on this machine"):
        load_timm("resnet18")
