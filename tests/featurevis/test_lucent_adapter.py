"""The Lucent adapter patches nothing in Lucent (issue #13, item 6) and matches its arithmetic."""

from __future__ import annotations

import types
from typing import Any

import pytest
import torch
from lucent.optvis import objectives as lucent_objectives
from lucent.optvis.param import color as lucent_color
from lucent.optvis.param import spatial as lucent_spatial

from svdwidgets.featurevis import render_singular_vectors
from svdwidgets.featurevis._lucent import fft_image
from svdwidgets.model.profile import profile
from svdwidgets.zoo import load_default

LUCENT = (lucent_spatial, lucent_color, lucent_objectives)


def _attributes(module: types.ModuleType) -> dict[str, int]:
    return {name: id(value) for name, value in vars(module).items()}


@pytest.fixture(scope="module")
def prof() -> Any:
    return profile(load_default().model, (1, 28, 28), cache=False, progress=False)


def test_fft_image_is_lucents_arithmetic() -> None:
    """Same spectrum in, same image out as lucent.optvis.param.spatial.fft_image (on CPU)."""
    assert lucent_spatial.device.type == "cpu"  # this machine has no CUDA: Lucent's is CPU
    for shape in [(2, 3, 28, 28), (1, 1, 15, 9)]:
        ours, image = fft_image(shape, torch.device("cpu"))
        (theirs,), their_image = lucent_spatial.fft_image(list(shape))
        assert ours.shape == theirs.shape and ours.requires_grad
        with torch.no_grad():
            theirs.copy_(torch.randn(theirs.shape, generator=torch.Generator().manual_seed(1)))
            ours.copy_(theirs)
        torch.testing.assert_close(image(), their_image(), rtol=0, atol=0)


def test_a_render_leaves_lucents_modules_as_they_were(prof: Any) -> None:
    before = [_attributes(m) for m in LUCENT]
    render_singular_vectors(prof, "block.conv2", [0, 1], steps=2)
    assert [_attributes(m) for m in LUCENT] == before


def test_the_render_ignores_lucents_module_level_device(prof: Any, monkeypatch: Any) -> None:
    """Lucent's ``device`` names cuda:0 on a CUDA machine; a CPU render must not follow it."""
    monkeypatch.setattr(lucent_spatial, "device", torch.device("meta"))
    out = render_singular_vectors(prof, "block.conv2", [0], steps=2, device="cpu")
    assert out.images.shape == (1, 28, 28, 1) and out.images.any()
    assert lucent_spatial.device == torch.device("meta")  # read by nobody, written by nobody
