"""Explorer.close() frees everything it made; renders are bounded (issue #14, item 6)."""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

import ipywidgets as ipw
import pytest

import svdwidgets as sw
from svdwidgets import SVDWidgetsError
from svdwidgets.featurevis import jobs
from svdwidgets.featurevis.render import MAX_SIZE, MAX_STEPS
from svdwidgets.zoo import load_default

FAST = {"steps": 2}


@pytest.fixture(scope="module")
def bundle() -> Any:
    return load_default()


def _gallery_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(jobs.THREAD_PREFIX)]


def _wait_no_gallery_thread(timeout: float) -> bool:
    end = time.monotonic() + timeout
    while _gallery_threads():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def _explorer(bundle: Any, **kwargs: Any) -> sw.Explorer:
    return sw.Explorer(
        bundle.model,
        bundle.images[::25],
        bundle.labels[::25],
        bundle.class_names,
        k=2,
        n_examples=2,
        render_options=FAST,
        **kwargs,
    )


def test_close_leaves_no_widget_registered_and_no_thread(bundle: Any) -> None:
    _explorer(bundle, autostart=False).close()  # warm caches and lazy imports
    assert _wait_no_gallery_thread(10)
    before = set(ipw.Widget.widgets)
    ex = _explorer(bundle)
    assert ex.wait(60)
    made = len(set(ipw.Widget.widgets) - before)
    assert made > 50  # views, layouts, styles, the selection: the count is real
    ex.close()
    assert set(ipw.Widget.widgets) == before
    assert _wait_no_gallery_thread(5)
    # a selection after close() reaches nothing: no render, no thread
    ex.selection.select(ex.layer, [0, 1, 2])
    ex.gallery.render()
    time.sleep(0.2)
    assert not _gallery_threads()
    ex.close()  # twice is harmless


def test_an_unclosed_gallerys_thread_exits_when_idle(bundle: Any) -> None:
    ex = _explorer(bundle)
    try:
        assert ex.wait(60)
        assert _wait_no_gallery_thread(jobs.WORKER_IDLE_S + 5)
        # the next render starts a thread again, and it renders
        ex.gallery.add([3])
        assert ex.wait(60)
        assert all(c["state"] == "done" for c in ex.gallery.items)
    finally:
        ex.close()


def test_rss_stays_bounded_over_create_close_cycles(bundle: Any) -> None:
    psutil = pytest.importorskip("psutil")
    proc = psutil.Process()
    for _ in range(1):  # warm up allocator pools and caches
        _explorer(bundle, autostart=False).close()
    gc.collect()
    start = proc.memory_info().rss
    for _ in range(4):
        _explorer(bundle, autostart=False).close()
    gc.collect()
    growth = proc.memory_info().rss - start
    print(f"RSS growth over 4 cycles: {growth / 2**20:.1f} MiB")
    # before the fix every cycle kept ~109 widgets and ~45 MB; allow noise, not a leak
    assert growth < 60 << 20, f"RSS grew {growth / 2**20:.0f} MiB over 4 cycles"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"steps": 10**9}, rf"steps=1000000000 exceeds the limit of {MAX_STEPS}"),
        ({"size": 100000}, rf"size=100000 exceeds the limit of {MAX_SIZE}"),
        ({"steps": 0}, r"steps must be a positive int, got 0"),
        (5, r"render_options must be a dict .* got 5"),
    ],
)
def test_render_options_are_checked_before_anything_runs(
    bundle: Any, options: Any, match: str
) -> None:
    before = set(ipw.Widget.widgets)
    with pytest.raises(SVDWidgetsError, match=match):
        sw.Explorer(bundle.model, input_shape=(1, 28, 28), render_options=options)
    assert set(ipw.Widget.widgets) == before  # refused before any widget was made


def test_render_refuses_steps_past_the_limit(bundle: Any) -> None:
    prof = sw.profile(bundle.model, (1, 28, 28), progress=False, cache=False)
    from svdwidgets.featurevis import render_singular_vectors

    with pytest.raises(SVDWidgetsError, match=rf"steps=10001 exceeds the limit of {MAX_STEPS}"):
        render_singular_vectors(prof, prof.layers[0], [0], steps=MAX_STEPS + 1)
    with pytest.raises(SVDWidgetsError, match=rf"exceeds the limit of {MAX_SIZE}"):
        render_singular_vectors(prof, prof.layers[0], [0], size=MAX_SIZE + 1, kind="channel")


def test_class_names_must_be_a_sequence(bundle: Any) -> None:
    with pytest.raises(SVDWidgetsError, match=r"class_names must be a sequence .* got 10"):
        sw.Explorer(bundle.model, bundle.images[:4], bundle.labels[:4], class_names=10)  # type: ignore[arg-type]
    with pytest.raises(SVDWidgetsError, match=r"got 'abc'"):
        sw.Explorer(bundle.model, bundle.images[:4], bundle.labels[:4], class_names="abc")
