"""``svdwidgets.sweep``: many sources profiled on an executor, resumable, exactly once per source.

One task per source. The client keeps at most one result per source (keyed by its name), and a
worker writes a source's result file atomically: a task retried after its worker died yields the
same single result, and a rerun reads the files back and computes only what is missing.
"""

from __future__ import annotations

import concurrent.futures
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.sweeps.result import Sweep
from svdwidgets.sweeps.sources import Source, cache_key, resolve
from svdwidgets.sweeps.task import run_source

PROFILE_OPTIONS = ("method", "layers", "cache", "fold_bn", "k", "memory_budget")
"""The options of :func:`svdwidgets.profile` a sweep passes on (the same for every source)."""


def default_out() -> Path:
    root = os.environ.get("SVDWIDGETS_CACHE") or "~/.cache/svdwidgets"
    return Path(root).expanduser() / "sweeps"


def sweep(
    sources: object,
    *,
    input_shape: tuple[int, ...] | None = None,
    executor: Any = None,
    arch: str | None = None,
    out: str | Path | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    **profile_options: Any,
) -> Sweep:
    """Profile every source (see :func:`svdwidgets.profile`) and gather the results.

    Parameters
    ----------
    sources:
        checkpoint files (state_dicts or TorchScript archives, read without running code from
        them, loaded into ``arch``), globs of them, ``(name, callable)`` pairs whose callable
        builds the model (it must pickle for process executors: a module-level function), or
        ``torchvision:NAME`` / ``timm:NAME`` (random weights; needs that package).
    input_shape:
        ``(C, H, W)`` of one input; default: what the source says (the bundled model does).
    executor:
        ``None`` (in this process, one source after another), any
        ``concurrent.futures.Executor``, or a ``dask.distributed.Client`` (one task per source;
        a task whose worker dies is rerun by the scheduler).
    arch:
        the architecture of checkpoint files, as the CLI's ``--arch``.
    out:
        the folder of result files, one JSON per source (default ``$SVDWIDGETS_CACHE/sweeps``).
    on_result:
        called in this process with each source's result as it arrives (a progress bar).
    profile_options:
        ``method``, ``layers``, ``cache``, ``fold_bn``, ``k``, ``memory_budget``.
    """
    unknown = sorted(set(profile_options) - set(PROFILE_OPTIONS))
    if unknown:
        raise SVDWidgetsError(
            f"sweep does not take {unknown}: profile options are {list(PROFILE_OPTIONS)}"
        )
    if input_shape is not None:
        if not (
            isinstance(input_shape, (tuple, list))
            and all(isinstance(v, int) and v > 0 for v in input_shape)
        ):
            raise SVDWidgetsError(
                f"input_shape must be positive ints like (3, 32, 32), got {input_shape!r}"
            )
        input_shape = tuple(input_shape)
    folder = Path(out).expanduser() if out is not None else default_out()
    folder.mkdir(parents=True, exist_ok=True)
    resolved = resolve(sources, arch)
    jobs = [
        (s, str(folder / f"{cache_key(s, input_shape, profile_options)}.json")) for s in resolved
    ]
    results: dict[str, dict[str, Any]] = {}

    def keep(result: dict[str, Any]) -> None:
        results[result["source"]] = result  # one per source, however often a task ran
        if on_result is not None:
            on_result(result)

    if executor is None:
        for s, path in jobs:
            keep(run_source(s, input_shape, profile_options, path))
    elif _is_dask_client(executor):
        _run_dask(executor, jobs, input_shape, profile_options, keep)
    elif isinstance(executor, concurrent.futures.Executor):
        futures = [
            executor.submit(run_source, s, input_shape, profile_options, path) for s, path in jobs
        ]
        for f in concurrent.futures.as_completed(futures):
            keep(f.result())
    else:
        raise SVDWidgetsError(
            f"executor must be None, a concurrent.futures.Executor or a dask.distributed.Client, "
            f"got {type(executor).__name__}"
        )
    return Sweep(resolved, [results[s.name] for s in resolved], folder)


def _is_dask_client(executor: object) -> bool:
    try:
        from distributed import Client
    except ImportError:
        return False
    return isinstance(executor, Client)


def _run_dask(
    client: Any,
    jobs: list[tuple[Source, str]],
    input_shape: tuple[int, ...] | None,
    options: dict[str, Any],
    keep: Callable[[dict[str, Any]], None],
) -> None:
    from distributed import as_completed

    futures = [
        client.submit(
            run_source,
            s,
            input_shape,
            options,
            path,
            key=f"svdwidgets-sweep-{Path(path).stem}-{uuid.uuid4().hex[:8]}",
        )
        for s, path in jobs
    ]
    for f in as_completed(futures):
        keep(f.result())
