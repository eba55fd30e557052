"""The render cache is keyed by what is rendered, not by (model, layer, index) (#13, item 4)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from svdwidgets.featurevis import ImageCache, render_singular_vectors, singular_objective
from svdwidgets.model.profile import Profile, profile
from svdwidgets.zoo import load_default

FAST: dict[str, Any] = {"steps": 3}
LAYER = "block.conv2"  # followed by block.bn2: folding changes its singular vectors


@pytest.fixture(scope="module")
def profiles() -> tuple[Profile, Profile]:
    model = load_default().model
    plain = profile(model, (1, 28, 28), cache=False, progress=False, fold_bn=False)
    folded = profile(model, (1, 28, 28), cache=False, progress=False, fold_bn=True)
    return plain, folded


def test_the_same_index_with_and_without_folding_is_two_entries(profiles: Any) -> None:
    plain, folded = profiles
    a = singular_objective(plain, LAYER, 0)
    b = singular_objective(folded, LAYER, 0)
    assert not torch.allclose(a.basis, b.basis, atol=1e-3)  # two directions, one index
    assert a.fingerprint(0) != b.fingerprint(0)
    cache = ImageCache()
    first = render_singular_vectors(plain, LAYER, [0], cache=cache, **FAST)
    second = render_singular_vectors(folded, LAYER, [0], cache=cache, **FAST)
    assert len(cache) == 2 and cache.misses == 2 and cache.hits == 0
    assert not first.cached.any() and not second.cached.any()
    # the same vector again: one entry, a hit, the image it rendered the first time
    again = render_singular_vectors(folded, LAYER, [0], cache=cache, **FAST)
    assert len(cache) == 2 and cache.hits == 1 and again.cached.all()
    np.testing.assert_array_equal(again.images, second.images)


def test_a_conjugate_twin_is_the_same_direction_and_one_entry(profiles: Any) -> None:
    _, folded = profiles
    spectrum = folded[LAYER]
    i = next(k for k in range(len(spectrum.values)) if spectrum.twin(k) is not None)
    j = spectrum.twin(i)
    objective = singular_objective(folded, LAYER, [i, j])
    torch.testing.assert_close(objective.basis[0], objective.basis[1], rtol=0, atol=0)
    assert objective.fingerprint(0) == objective.fingerprint(1)
    cache = ImageCache()
    one = render_singular_vectors(folded, LAYER, [i], cache=cache, **FAST)
    other = render_singular_vectors(folded, LAYER, [j], cache=cache, **FAST)
    assert len(cache) == 1 and cache.hits == 1 and other.cached.all()
    np.testing.assert_array_equal(one.images, other.images)


def test_settings_and_sides_are_part_of_the_key(profiles: Any) -> None:
    _, folded = profiles
    cache = ImageCache()
    render_singular_vectors(folded, LAYER, [0], cache=cache, **FAST)
    render_singular_vectors(folded, LAYER, [0], cache=cache, steps=4)
    render_singular_vectors(folded, LAYER, [0], cache=cache, side="left", **FAST)
    assert len(cache) == 3 and cache.hits == 0


def test_a_cold_render_equals_the_cached_one(profiles: Any) -> None:
    """The seed comes from the direction, so what the key names is what a cold render draws."""
    _, folded = profiles
    cold = render_singular_vectors(folded, LAYER, [2, 0], **FAST)
    cache = ImageCache()
    render_singular_vectors(folded, LAYER, [0], cache=cache, **FAST)
    warm = render_singular_vectors(folded, LAYER, [2, 0], cache=cache, **FAST)
    assert warm.cached.tolist() == [False, True]
    assert np.abs(warm.images.astype(int) - cold.images.astype(int)).max() <= 1
