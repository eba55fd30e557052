"""Render jobs off the kernel's main thread: one worker, one job at a time, cancel, close.

A :class:`RenderQueue` belongs to whoever composes the views (the Explorer, later the analysis
object) and is handed to the gallery, which only draws what it reports. A job renders singular
directions of one layer (:func:`~svdwidgets.featurevis.render_singular_vectors`, on a private
deep copy of the model, so the notebook keeps using the model meanwhile) and then fetches the
dataset inputs that score highest on each (:func:`~svdwidgets.featurevis.top_activating`). It
reports :class:`RenderEvent` values to its listener, one per finished image and one per
direction's examples, on the worker thread.

The worker thread starts with the first job and exits after :data:`WORKER_IDLE_S` idle seconds;
:meth:`RenderQueue.close` cancels every job, joins the thread and makes every later
:meth:`~RenderQueue.submit` a no-op: a closed queue starts no thread.
"""

from __future__ import annotations

import atexit
import copy
import queue
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from svdwidgets.errors import SVDWidgetsError

__all__ = ["WORKER_IDLE_S", "RenderEvent", "RenderJob", "RenderQueue"]

WORKER_IDLE_S = 2.0
"""A queue's worker thread exits after this many idle seconds (the next job starts one)."""
THREAD_PREFIX = "svdwidgets-render-"

_QUEUES: weakref.WeakSet[RenderQueue] = weakref.WeakSet()


@atexit.register
def _stop_workers() -> None:
    """Stop every worker before the interpreter tears torch down under a running render."""
    for q in list(_QUEUES):
        q._shutdown(timeout=10.0)


@dataclass(frozen=True)
class RenderEvent:
    """What a job reports, in order: ``started`` (``indices`` to render), ``progress``
    (``step`` of ``total``), ``image`` (one direction: ``index``, ``image`` uint8 (H, W, C),
    ``before``, ``after``, ``state`` ``"done"`` or ``"cancelled"``, ``message``), ``examples``
    (one direction: ``index``, ``images``, ``ids``, ``scores``), then one of ``done``
    (``seconds``), ``cancelled`` (``step``) or ``failed`` (``error``); ``idle`` once no job
    is left."""

    kind: str
    job: RenderJob | None
    index: int = -1
    image: np.ndarray | None = None
    before: float = float("nan")
    after: float = float("nan")
    state: str = ""
    message: str = ""
    images: np.ndarray | None = None
    ids: tuple[int, ...] = ()
    scores: tuple[float, ...] = ()
    step: int = 0
    total: int = 0
    seconds: float = 0.0
    indices: tuple[int, ...] = ()
    error: BaseException | None = None


Listener = Callable[[RenderEvent], object]


@dataclass(eq=False)
class RenderJob:
    """Render ``indices`` of ``layer`` as ``kind`` and fetch ``n_examples`` inputs for each."""

    layer: str
    indices: tuple[int, ...]
    kind: str
    n_examples: int
    listener: Listener
    cancel: threading.Event = field(default_factory=threading.Event)


class RenderQueue:
    """Render jobs for one profile on one background thread (see the module docstring).

    Parameters
    ----------
    prof:
        the :class:`~svdwidgets.Profile` whose directions are rendered.
    data:
        inputs ``(N, C, H, W)`` for the dataset examples (optional).
    cache:
        an :class:`~svdwidgets.featurevis.ImageCache` (default: a new in-memory one).
    options:
        keywords for :func:`~svdwidgets.featurevis.render_singular_vectors` (``steps``,
        ``side``, ``size``, ``seed``, ...); ``kind`` comes with each job.
    progress_interval:
        the least seconds between two ``progress`` events of a job.
    """

    def __init__(
        self,
        prof: Any,
        *,
        data: Any = None,
        cache: Any = None,
        options: Mapping[str, Any] | None = None,
        progress_interval: float = 0.1,
    ) -> None:
        from svdwidgets.featurevis.cache import ImageCache
        from svdwidgets.model.profile import Profile

        if not isinstance(prof, Profile):
            raise SVDWidgetsError(f"RenderQueue needs a Profile, got {type(prof).__name__}")
        self._prof = prof
        self._data = data
        self.cache = cache if cache is not None else ImageCache()
        self._options = {k: v for k, v in dict(options or {}).items() if k != "kind"}
        self._interval = float(progress_interval)
        self._examples: dict[tuple[str, int, str], RenderEvent] = {}
        self._lock = threading.RLock()
        self._jobs: queue.Queue[RenderJob | None] = queue.Queue()
        self._outstanding: list[RenderJob] = []
        self._idle = threading.Event()
        self._idle.set()
        self._worker: threading.Thread | None = None
        self._private: Any = None
        self._closed = False
        self.last_error: BaseException | None = None
        _QUEUES.add(self)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def busy(self) -> bool:
        """A job is queued or running."""
        return not self._idle.is_set()

    def submit(
        self,
        layer: str,
        indices: Sequence[int],
        *,
        kind: str,
        listener: Listener,
        n_examples: int = 0,
    ) -> RenderJob | None:
        """Queue a job; None (and nothing started) once the queue is closed."""
        with self._lock:
            if self._closed:
                return None
            job = RenderJob(layer, tuple(int(i) for i in indices), kind, n_examples, listener)
            self._outstanding.append(job)
            self._idle.clear()
            self._jobs.put(job)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._run, name=f"{THREAD_PREFIX}{id(self):x}", daemon=True
                )
                self._worker.start()
            return job

    def cancel(self) -> None:
        """Stop the running job at its next step and drop the queued ones."""
        with self._lock:
            for job in self._outstanding:
                job.cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or running; False if ``timeout`` seconds passed first."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Cancel every job, stop the thread (joined) and start none from now on."""
        with self._lock:
            self._closed = True
        self._shutdown(timeout=None)
        self._private = None  # the model's deep copy

    def _shutdown(self, timeout: float | None) -> None:
        self.cancel()
        self._jobs.put(None)
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    # ----------------------------------------------------------------------------------------
    # The worker
    # ----------------------------------------------------------------------------------------

    def _private_profile(self) -> Any:
        """The profile with a deep copy of its model: renders never touch the user's model."""
        if self._private is None:
            from svdwidgets.model.profile import Profile

            prof = self._prof
            entries = list(prof._entries.values())
            self._private = Profile(entries, dict(prof.options), copy.deepcopy(prof.model))
        return self._private

    def _run(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=WORKER_IDLE_S)
            except queue.Empty:
                with self._lock:  # submit() queues under the lock: nothing can slip in now
                    if self._jobs.empty():
                        self._worker = None
                        return
                continue
            if job is None:
                return
            try:
                if job.cancel.is_set():  # dropped before it started: still one final event
                    job.listener(RenderEvent("cancelled", job))
                else:
                    self._do(job)
            except Exception as err:  # reported; the worker lives on
                self.last_error = err
                job.listener(RenderEvent("failed", job, error=err))
            finally:
                with self._lock:
                    self._outstanding.remove(job)
                    idle = not self._outstanding
                if idle:
                    job.listener(RenderEvent("idle", None))
                    self._idle.set()

    def _do(self, job: RenderJob) -> None:
        from svdwidgets.featurevis.render import RenderCancelled, render_singular_vectors

        job.listener(RenderEvent("started", job, indices=job.indices))
        started = time.perf_counter()
        last = [0.0]

        def progress(step: int, total: int) -> None:
            now = time.perf_counter()
            if step == total or now - last[0] >= self._interval:
                last[0] = now
                job.listener(RenderEvent("progress", job, step=step, total=total))

        if job.indices:
            try:
                result = render_singular_vectors(
                    self._private_profile(),
                    job.layer,
                    list(job.indices),
                    cache=self.cache,
                    progress=progress,
                    cancel=job.cancel,
                    **{**self._options, "kind": job.kind},
                )
            except RenderCancelled as stop:
                partial = stop.partial
                _report_images(job, partial, "cancelled", f"cancelled after {partial.steps} steps")
                job.listener(RenderEvent("cancelled", job, step=partial.steps))
                return
            _report_images(job, result, "done")
        seconds = time.perf_counter() - started
        if job.n_examples and self._data is not None:
            self._fetch_examples(job)
        job.listener(RenderEvent("done", job, seconds=seconds))

    def _fetch_examples(self, job: RenderJob) -> None:
        """The dataset examples of the job's directions: those not cached yet in one pass over
        the data (:func:`~svdwidgets.featurevis.examples.top_activating_each`)."""
        from svdwidgets.featurevis.examples import top_activating_each

        if job.cancel.is_set():
            return
        options = {k: v for k, v in self._options.items() if k in ("side", "frequency")}
        missing = [
            i
            for i in dict.fromkeys(job.indices)
            if (found := self._examples.get((job.layer, i, job.kind))) is None
            or len(found.ids) < job.n_examples
        ]
        if missing:
            tops = top_activating_each(
                self._private_profile(),
                self._data,
                job.layer,
                missing,
                n=job.n_examples,
                kind=job.kind,
                **options,
            )
            for i, top in zip(missing, tops, strict=True):
                self._examples[(job.layer, i, job.kind)] = RenderEvent(
                    "examples",
                    None,
                    index=i,
                    images=top.top_images.detach().cpu().numpy(),
                    ids=tuple(int(x) for x in top.top_indices),
                    scores=tuple(float(s) for s in top.top_scores),
                )
        for i in job.indices:
            if job.cancel.is_set():
                return
            found = self._examples[(job.layer, i, job.kind)]
            job.listener(
                RenderEvent(
                    "examples",
                    job,
                    index=i,
                    images=found.images,
                    ids=found.ids,
                    scores=found.scores,
                )
            )


def _report_images(job: RenderJob, rendered: Any, state: str, message: str = "") -> None:
    """One ``image`` event per direction of a render (a whole one, or what a cancel left)."""
    for b, i in enumerate(rendered.indices):
        job.listener(
            RenderEvent(
                "image",
                job,
                index=int(i),
                image=rendered.images[b],
                before=float(rendered.before[b]),
                after=float(rendered.after[b]),
                state=state,
                message=message,
            )
        )
