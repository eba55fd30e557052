"""VectorGallery's Python state: cards, background renders, examples, links, errors, cancel.

The model is the bundled MNIST network; renders use few steps (the images are compared with a
direct :func:`~svdwidgets.featurevis.render_singular_vectors` call of the same settings, so
their quality is not the point here; see tests/featurevis for that).
"""

from __future__ import annotations

import io
import threading
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.featurevis import ImageCache, render_singular_vectors, top_activating
from svdwidgets.widgets import Selection, VectorGallery
from svdwidgets.widgets.vector_gallery import distinct_directions, twins
from svdwidgets.zoo import load_default

FAST = {"steps": 12}


@pytest.fixture(scope="module")
def bundle() -> Any:
    return load_default()


@pytest.fixture(scope="module")
def prof(bundle: Any) -> sw.Profile:
    return sw.profile(bundle.model, (1, 28, 28), fold_bn=True, progress=False, cache=False)


def _pixels(png: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(png)))


def test_cards_are_distinct_directions_with_their_twins(prof: sw.Profile) -> None:
    spec = prof["block.conv2"]
    chosen = distinct_directions(spec, 8)
    assert len(chosen) == 8
    seen: set[int] = set()
    for i, tw in chosen:
        assert i not in seen and not seen.intersection(tw)
        seen.update([i, *tw])
        assert tw == ([] if spec.twin(i) is None else [spec.twin(i)])
        for j in tw:  # a twin carries the same σ and channel direction (FFTSpectrum.twin)
            assert float(spec.values[j]) == pytest.approx(float(spec.values[i]), rel=1e-6)
    # by σ: the cards' first indices are the smallest indices not taken by an earlier twin
    assert [i for i, _ in chosen] == sorted(i for i, _ in chosen)
    assert twins(prof["fc"], 0) == []  # a Linear layer's spectrum has no conjugate pairs


def test_background_render_matches_a_direct_render(bundle: Any, prof: sw.Profile) -> None:
    data, labels = bundle.images[::10], bundle.labels[::10]
    g = VectorGallery(
        prof,
        "block.conv1",
        k=3,
        data=data,
        labels=labels,
        class_names=bundle.class_names,
        n_examples=4,
        render_options=FAST,
    )
    assert g.wait(300), g.status
    assert g.error == "" and not g.busy and g.progress == 1.0
    assert [c["state"] for c in g.items] == ["done"] * 3
    direct = render_singular_vectors(prof, "block.conv1", g.indices, kind="channel", **FAST)
    for b, card in enumerate(g.items):
        px = _pixels(card["image"])
        np.testing.assert_array_equal(px, direct.images[b][:, :, 0])
        assert card["after"] == pytest.approx(float(direct.after[b]))
        assert card["sigma"] == pytest.approx(float(prof["block.conv1"].values[card["index"]]))
        top = top_activating(prof, data, "block.conv1", card["index"], n=4)
        assert card["example_ids"] == [int(i) for i in top.top_indices]
        want = [bundle.class_names[int(labels[i])] for i in top.top_indices]
        assert card["example_labels"] == want
        first = (top.top_images[0, 0].numpy() * 255).round().astype(np.uint8)
        np.testing.assert_array_equal(_pixels(card["examples"][0]), first)
    # PNGs travel as binary buffers, not in the JSON
    from ipywidgets.widgets.widget import _remove_buffers

    _, paths, _ = _remove_buffers(g.get_state())
    assert ["items", 0, "image"] in paths and ["items", 0, "examples", 0] in paths
    g.close()


def test_the_first_layer_renders_whole_vectors(prof: sw.Profile) -> None:
    g = VectorGallery(prof, "stem.conv", k=2, render_options=FAST, autostart=False)
    # one input channel: the channel direction is a grey level, so the vector itself is shown
    assert g.kind("stem.conv") == "vector" and g.kind("block.conv2") == "channel"
    assert all(c["aliases"] == [] for c in g.items)
    assert g.items[0]["state"] == "pending" and g.items[0]["image"] is None
    g.close()


def test_a_selection_adds_the_card_it_lacks(prof: sw.Profile) -> None:
    sel = Selection()
    cache = ImageCache()
    g = VectorGallery(prof, "block.conv2", k=2, selection=sel, cache=cache, render_options=FAST)
    assert g.wait(300)
    shown = g.indices
    twin = prof["block.conv2"].twin(shown[1])
    if twin is not None:
        sel.select("block.conv2", [twin])  # a twin of a card: no new card
        assert g.indices == shown
    sel.select("block.conv2", [20])
    assert g.indices == [*shown, 20]
    assert g.wait(300) and g.items[-1]["state"] == "done"
    sel.select("fc", [7])  # another layer: the gallery keeps its own until it is shown
    assert g.layer == "block.conv2" and g.indices == [*shown, 20]
    # a second gallery on the same cache: the renders come back without optimising
    hits = cache.hits
    g2 = VectorGallery(prof, "block.conv2", k=2, cache=cache, render_options=FAST)
    assert g2.wait(300) and cache.hits == hits + 2
    for a, b in zip(g.items[:2], g2.items, strict=True):
        assert a["image"] == b["image"]
    g.close()
    g2.close()


def test_renders_never_touch_the_users_model(bundle: Any, prof: sw.Profile) -> None:
    model = prof.model
    model.train()  # the user's mode must survive a render in the background
    g = VectorGallery(prof, "block.conv2", k=2, render_options={"steps": 200})
    try:
        x = bundle.images[:4]
        while g.busy or not g.items[0]["state"] == "done":
            # the user runs the model meanwhile: no hook of ours fires, the mode is theirs
            with torch.no_grad():
                assert model(x).shape == (4, 10)
            assert model.training
            assert not model._forward_hooks and not model._forward_pre_hooks
            assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
            if g.wait(0.05):
                break
    finally:
        model.eval()
        g.close()


def test_cancel_stops_the_render_and_keeps_the_partial_images(prof: sw.Profile) -> None:
    started = threading.Event()
    g = VectorGallery(prof, "block.conv2", k=2, render_options={"steps": 5000}, autostart=False)

    def watch(change: Any) -> None:
        if change["new"] > 0:
            started.set()

    g.observe(watch, "progress")
    g.render()
    assert started.wait(120)
    g._on_frontend_msg(g, {"event": "cancel"}, [])  # what the cancel button sends
    assert g.wait(60)
    states = {c["state"] for c in g.items}
    assert states == {"cancelled"}, states
    partial = [c for c in g.items if c["image"] is not None]
    assert all(c["message"].startswith("cancelled after") for c in partial)
    g.close()


def test_a_failing_render_shows_its_error_and_the_gallery_keeps_working(
    prof: sw.Profile,
) -> None:
    # steps and size are checked when the gallery is made; lr only when a render runs
    g = VectorGallery(prof, "block.conv2", k=2, render_options={"lr": -1.0})
    assert g.wait(60)
    assert "lr must be positive" in g.error
    assert {c["state"] for c in g.items} == {"error"}
    assert isinstance(g.last_error, SVDWidgetsError)
    g.show("fc")  # still responsive: another layer, new cards (failing the same way)
    assert g.layer == "fc" and len(g.items) == 2
    g.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prof": "not a profile"}, "needs a Profile"),
        ({"layer": "nope"}, "unknown layer 'nope'"),
        ({"k": 0}, "k must be an int >= 1"),
        ({"data": torch.zeros(3, 28, 28)}, r"non-empty \(N, C, H, W\)"),
        ({"data": torch.zeros(2, 1, 28, 28), "labels": [1, 2, 3]}, "labels must be 2 integers"),
        ({"selection": "x"}, "Selection"),
        ({"render_options": {"steps": 0}}, "steps must be a positive int, got 0"),
    ],
)
def test_bad_arguments(prof: sw.Profile, kwargs: dict[str, Any], match: str) -> None:
    args = {"prof": prof, "autostart": False, **kwargs}
    with pytest.raises(SVDWidgetsError, match=match):
        VectorGallery(args.pop("prof"), **args)


def test_bad_indices(prof: sw.Profile) -> None:
    g = VectorGallery(prof, "fc", k=2, autostart=False)
    with pytest.raises(SVDWidgetsError, match="singular index 10 is out of range"):
        g.show("fc", [10])
    with pytest.raises(SVDWidgetsError, match="singular index -1 is out of range"):
        g.add([-1])
    g.close()
