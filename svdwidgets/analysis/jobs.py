"""Long work off the caller's thread: a small job runner with progress and cancel.

A :class:`JobRunner` runs submitted functions one at a time on one worker thread (started on
the first submit, exiting after :data:`IDLE_SECONDS` without work, started again by the next
submit). A job's function receives a :class:`JobContext`: ``ctx.progress(done, total, what)``
reports progress (and raises :class:`JobCancelled` once the job is cancelled, so every progress
report is a cancellation point), ``ctx.cancelled`` is the job's :class:`threading.Event`.

``runner.close()`` cancels every queued and running job, waits for the worker thread to exit
and refuses further submits: afterwards the runner has no thread and starts none. Nothing here
touches widgets; a widget or the Explorer is handed a runner (or an :class:`Analysis` that owns
one) and observes its jobs through the ``on_progress`` / ``on_done`` callbacks, which run on the
worker thread.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from svdwidgets.errors import SVDWidgetsError

__all__ = ["IDLE_SECONDS", "Job", "JobCancelled", "JobContext", "JobRunner"]

IDLE_SECONDS = 2.0
"""A worker thread with nothing to do for this long exits (the next submit starts another)."""

STATES = ("queued", "running", "done", "failed", "cancelled")


class JobCancelled(Exception):
    """Raised inside a job's function by :meth:`JobContext.progress` once the job is cancelled."""


@dataclass
class JobContext:
    """What a job's function is handed: progress reports and the cancel flag."""

    job: Job

    @property
    def cancelled(self) -> threading.Event:
        return self.job.cancel_event

    def progress(self, done: int, total: int, what: str = "", detail: str = "") -> None:
        """Report ``done`` of ``total`` steps (``what``: the step, ``detail``: the item just
        done, e.g. a layer's name); raises once cancelled."""
        self.check()
        self.job._report(done, total, what, detail)

    def check(self) -> None:
        """Raise :class:`JobCancelled` when the job was cancelled."""
        if self.job.cancel_event.is_set():
            raise JobCancelled(self.job.name)


@dataclass(eq=False)
class Job:
    """One submitted piece of work: its state, progress, result or error."""

    name: str
    fn: Callable[[JobContext], Any]
    on_progress: Callable[[Job], None] | None = None
    on_done: Callable[[Job], None] | None = None
    state: str = "queued"
    done: int = 0
    total: int = 0
    what: str = ""
    detail: str = ""
    error: BaseException | None = None
    seconds: float = 0.0
    cancel_event: threading.Event = field(default_factory=threading.Event)
    _finished: threading.Event = field(default_factory=threading.Event)
    _value: Any = None

    def cancel(self) -> None:
        """Ask the job to stop: a queued job never runs; a running one stops at its next
        progress report (its state becomes ``"cancelled"``)."""
        self.cancel_event.set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished (done, failed or cancelled); False on timeout."""
        return self._finished.wait(timeout)

    def result(self, timeout: float | None = None) -> Any:
        """The function's return value; raises its error, or :class:`JobCancelled`."""
        if not self.wait(timeout):
            raise TimeoutError(f"job {self.name!r} still {self.state} after {timeout} s")
        if self.state == "cancelled":
            raise JobCancelled(self.name)
        if self.error is not None:
            raise self.error
        return self._value

    def _report(self, done: int, total: int, what: str, detail: str = "") -> None:
        self.done, self.total, self.what = int(done), int(total), str(what)
        self.detail = str(detail)
        if self.on_progress is not None:
            self.on_progress(self)

    def _finish(self, state: str, value: Any = None, error: BaseException | None = None) -> None:
        self.state, self._value, self.error = state, value, error
        self._finished.set()
        if self.on_done is not None:
            self.on_done(self)

    def __repr__(self) -> str:
        step = f" {self.done}/{self.total}" if self.total else ""
        return f"Job({self.name!r}, {self.state}{step})"


class JobRunner:
    """Runs jobs one at a time on a worker thread; ``close()`` cancels all and starts none."""

    def __init__(self, name: str = "svdwidgets-jobs", idle_seconds: float = IDLE_SECONDS) -> None:
        self.name = name
        self.idle_seconds = idle_seconds
        self._queue: collections.deque[Job] = collections.deque()
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._running: Job | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def thread(self) -> threading.Thread | None:
        """The worker thread while it is alive, else None."""
        t = self._thread
        return t if t is not None and t.is_alive() else None

    def submit(
        self,
        fn: Callable[[JobContext], Any],
        *,
        name: str = "job",
        on_progress: Callable[[Job], None] | None = None,
        on_done: Callable[[Job], None] | None = None,
    ) -> Job:
        """Queue ``fn(ctx)``; returns its :class:`Job` at once."""
        if not callable(fn):
            raise SVDWidgetsError(f"a job must be a callable taking a JobContext, got {fn!r}")
        job = Job(name, fn, on_progress, on_done)
        with self._lock:
            if self._closed:
                raise SVDWidgetsError(f"the job runner {self.name!r} is closed: it starts no job")
            self._queue.append(job)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            self._lock.notify_all()
        return job

    @property
    def jobs(self) -> list[Job]:
        """The running job (first) and the queued ones."""
        with self._lock:
            return ([self._running] if self._running else []) + list(self._queue)

    def cancel_all(self) -> None:
        """Cancel every queued and running job (the runner stays open)."""
        with self._lock:
            queued = list(self._queue)
            self._queue.clear()
            running = self._running
        for job in queued:
            job.cancel()
            job._finish("cancelled")
        if running is not None:
            running.cancel()

    def close(self, timeout: float | None = 10.0) -> None:
        """Cancel every job, wait for the worker thread to exit; no job starts afterwards."""
        with self._lock:
            self._closed = True
        self.cancel_all()
        with self._lock:
            self._lock.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _work(self) -> None:
        while True:
            with self._lock:
                deadline = time.monotonic() + self.idle_seconds
                while not self._queue and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._lock.wait(left)
                if not self._queue or self._closed:
                    self._thread = None  # under the lock: the next submit starts another
                    return
                job = self._queue.popleft()
                self._running = job
            self._run(job)
            with self._lock:
                self._running = None

    @staticmethod
    def _run(job: Job) -> None:
        if job.cancel_event.is_set():
            job._finish("cancelled")
            return
        job.state = "running"
        start = time.perf_counter()
        try:
            value = job.fn(JobContext(job))
        except JobCancelled:
            job.seconds = time.perf_counter() - start
            job._finish("cancelled")
        except BaseException as err:
            job.seconds = time.perf_counter() - start
            job._finish("cancelled" if job.cancel_event.is_set() else "failed", error=err)
        else:
            job.seconds = time.perf_counter() - start
            job._finish("done", value)
