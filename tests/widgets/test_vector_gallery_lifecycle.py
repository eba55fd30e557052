"""The gallery's lifecycle (#13, item 7): jobs owned outside it, one card per message, links
that unlink, and closing that leaves nothing behind.

Messages are recorded at the comm (the ``comm`` package's DummyComm, which drops them in a
plain kernel-less test): what the front end would receive, byte for byte.
"""

from __future__ import annotations

import gc
import io
import threading
import time
from typing import Any

import ipywidgets as ipw
import pytest
import traitlets
from PIL import Image

import svdwidgets as sw
from svdwidgets.featurevis import jobs as render_jobs
from svdwidgets.featurevis.jobs import RenderQueue
from svdwidgets.widgets import Selection, VectorGallery
from svdwidgets.widgets.selection import SelectionObserver, SpectrumLink
from svdwidgets.zoo import load_default

FAST = {"steps": 2}


@pytest.fixture(scope="module")
def bundle() -> Any:
    return load_default()


@pytest.fixture(scope="module")
def prof(bundle: Any) -> sw.Profile:
    return sw.profile(bundle.model, (1, 28, 28), fold_bn=True, progress=False, cache=False)


def _record(widget: ipw.Widget) -> list[tuple[dict[str, Any], list[Any]]]:
    sent: list[tuple[dict[str, Any], list[Any]]] = []

    def publish(
        msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any
    ) -> None:
        sent.append((data, list(buffers or [])))

    widget.comm.publish_msg = publish  # type: ignore[method-assign]
    return sent


def _render_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(render_jobs.THREAD_PREFIX)]


def test_each_finished_card_is_one_message_with_its_own_pngs(prof: sw.Profile) -> None:
    queue = RenderQueue(prof, options=FAST)
    try:
        g = VectorGallery(
            prof, "block.conv2", k=3, render_options=FAST, jobs=queue, autostart=False
        )
        sent = _record(g)
        g.render()
        assert g.wait(120) and g.error == ""
        cards = [(d["content"], b) for d, b in sent if d.get("method") == "custom"]
        updates = [d["state"] for d, b in sent if d.get("method") == "update"]
        # never the whole list of cards (with every PNG) while the job runs
        assert not [u for u in updates if "items" in u]
        done = [(c, b) for c, b in cards if c["card"]["state"] == "done"]
        assert sorted(c["position"] for c, _ in done) == [0, 1, 2]
        for content, buffers in done:
            # the card's one image travels as its one buffer, at the path the message names
            assert content["event"] == "card" and content["buffer_paths"] == [["card", "image"]]
            assert len(buffers) == 1
            item = g.items[content["position"]]
            assert bytes(buffers[0]) == item["image"] and item["state"] == "done"
            assert Image.open(io.BytesIO(bytes(buffers[0]))).size == (28, 28)
            assert content["card"]["index"] == item["index"]
        # the kernel's items hold every card (an export, a new view get them all)
        assert all(c["state"] == "done" and c["image"] for c in g.items)
        g.close()
    finally:
        queue.close()


def _from_browser(widget: ipw.Widget, content: dict[str, Any]) -> None:
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def test_the_dead_render_message_is_gone(prof: sw.Profile) -> None:
    g = VectorGallery(prof, "block.conv2", k=2, render_options=FAST, autostart=False)
    try:
        _from_browser(g, {"event": "render"})
        assert not g.busy and g.wait(0) and not _render_threads()
        assert all(c["state"] == "pending" for c in g.items)
        _from_browser(g, {"event": "cancel"})  # the message that remains is handled
        assert all(c["state"] == "cancelled" for c in g.items)
    finally:
        g.close()


def test_a_closed_gallery_starts_no_render_thread(prof: sw.Profile) -> None:
    sel = Selection()
    g = VectorGallery(prof, "block.conv2", k=2, selection=sel, render_options=FAST, autostart=False)
    g.close()
    deadline = time.monotonic() + 10
    while _render_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    sel.select("block.conv2", [5, 6])  # would add cards and render them
    g.render()
    time.sleep(0.2)
    assert not _render_threads() and not g.busy
    assert g.jobs.closed
    assert g.jobs.submit("block.conv2", [0], kind="channel", listener=print) is None


def test_a_shared_queue_outlives_a_closed_gallery(prof: sw.Profile) -> None:
    queue = RenderQueue(prof, options=FAST)
    try:
        a = VectorGallery(prof, "block.conv2", k=2, render_options=FAST, jobs=queue)
        a.close()  # cancels its own job, leaves the owner's queue open
        assert not queue.closed
        b = VectorGallery(prof, "block.conv1", k=2, render_options=FAST, jobs=queue)
        assert b.wait(120) and all(c["state"] == "done" for c in b.items)
        b.close()
    finally:
        queue.close()
    assert not _render_threads()


def test_links_unlink(prof: sw.Profile) -> None:
    sel = Selection()
    seen: list[Any] = []
    link = SelectionObserver(sel, seen.append)
    sel.select("block.conv2", [1])
    link.unlink()
    link.unlink()  # twice is harmless
    sel.select("block.conv2", [2])
    assert len(seen) >= 1 and not link.linked
    assert all(c["new"] != [2] for c in seen)
    scatter = ipw.Widget()
    spectrum_link = SpectrumLink(scatter, sel)
    model_id = spectrum_link.model_id
    spectrum_link.unlink()
    assert model_id not in ipw.Widget.widgets and scatter.model_id in ipw.Widget.widgets
    scatter.close()
    sel.close()


def _observers() -> int:
    """Every traitlets observer registered on any live HasTraits object."""
    total = 0
    for obj in gc.get_objects():
        if isinstance(obj, traitlets.HasTraits):
            for by_type in obj._trait_notifiers.values():
                total += sum(len(handlers) for handlers in by_type.values())
    return total


def _hooks(model: Any) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


def test_twenty_explorers_leave_no_thread_hook_or_observer(bundle: Any, prof: sw.Profile) -> None:
    def explorer(autostart: bool) -> sw.Explorer:
        return sw.Explorer(
            bundle.model,
            bundle.images[::100],
            bundle.labels[::100],
            bundle.class_names,
            profile=prof,
            k=2,
            n_examples=1,
            render_options=FAST,
            autostart=autostart,
            hypergraph_k=4,
        )

    explorer(False).close()  # warm lazy imports and caches
    gc.collect()
    threads, hooks = set(threading.enumerate()), _hooks(bundle.model)
    widgets, observers = set(ipw.Widget.widgets), _observers()
    for n in range(20):
        ex = explorer(autostart=n % 10 == 0)  # two render (tiny renders), the rest do not
        if n % 10 == 0:
            ex.select("block.conv2", [3])
            assert ex.wait(120)
        ex.close()
    del ex
    gc.collect()
    assert set(threading.enumerate()) == threads
    assert _hooks(bundle.model) == hooks == 0
    assert set(ipw.Widget.widgets) == widgets
    assert _observers() == observers
