"""``svdwidgets sweep CHECKPOINTS... --arch ARCH --out DIR``: a sweep's table, figure and page.

Results are kept per source in ``DIR/results`` (one JSON each): running the same command again
computes only the sources that are missing (new checkpoints, or ones that failed).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.model.folding import FOLD_BN_DEFAULT

HELP = "profile many checkpoints (in process, or on a Dask cluster) into one table and figure"


def add_parser(commands: Any) -> None:
    import svdwidgets as sw

    p = commands.add_parser(
        "sweep",
        help=HELP,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "checkpoints",
        metavar="CHECKPOINT",
        nargs="+",
        help="state_dict files or globs ('ckpt/*.pt', quoted)",
    )
    p.add_argument(
        "--arch",
        metavar="ARCH",
        required=True,
        help="the architecture the checkpoints load into (as report's --arch)",
    )
    p.add_argument("--out", metavar="DIR", required=True, type=Path, help="the output folder")
    p.add_argument("--input-shape", metavar="C,H,W", help="one input's shape")
    p.add_argument("--method", default="auto", choices=sw.METHODS)
    p.add_argument(
        "--fold-bn",
        action=argparse.BooleanOptionalAction,
        default=FOLD_BN_DEFAULT,
        help="fold each BatchNorm into the conv before it (default: not folded)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running Dask scheduler (tcp://host:8786)"
    )
    where.add_argument(
        "--workers", type=int, metavar="N", help="a local Dask cluster of N worker processes"
    )


def run(args: argparse.Namespace) -> int:
    import svdwidgets as sw
    from svdwidgets.cli import parse_shape
    from svdwidgets.sweeps.sources import resolve

    start = time.perf_counter()
    shape = parse_shape(args.input_shape) if args.input_shape is not None else None
    if args.workers is not None and args.workers < 1:
        raise SVDWidgetsError(f"--workers must be at least 1, got {args.workers}")
    args.out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        executor = _executor(args, stack)
        bar = _bar(len(resolve(args.checkpoints, args.arch)), stack)
        result = sw.sweep(
            args.checkpoints,
            arch=args.arch,
            input_shape=shape,
            executor=executor,
            out=args.out / "results",
            method=args.method,
            fold_bn=args.fold_bn,
            on_result=lambda r: bar.update(1) if bar is not None else None,
        )
    files = write(result, args.out)
    n = len(result.sources)
    print(
        f"svdwidgets sweep: {n - len(result.failed)} of {n} sources profiled in "
        f"{time.perf_counter() - start:.1f} s; wrote {args.out}: {', '.join(files)}"
    )
    for f in result.failed:
        print(f"  failed {f.source}: {f.error.splitlines()[0]}")
    return 1 if result.failed else 0


def write(result: Any, out: Path) -> list[str]:
    """``sweep.csv``, ``sweep.png`` (when a source was profiled) and ``report.html``."""
    from svdwidgets import plots

    df = result.to_dataframe()
    df.to_csv(out / "sweep.csv", index=False)
    files = ["sweep.csv"]
    png = b""
    if len(result.failed) < len(result.sources):
        fig = plots.plot_sweep(df)
        plots.save_figure(fig, out / "sweep.png")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        png = buf.getvalue()
        files.append("sweep.png")
    failed = "".join(
        f"<li><b>{html.escape(f.source)}</b>: {html.escape(f.error)}</li>" for f in result.failed
    )
    image = f'<img alt="sweep" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
    page = (
        "<!doctype html><meta charset=utf-8><title>svdwidgets sweep</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{font-size:12px;border-collapse:"
        "collapse}td,th{padding:2px 6px;border-bottom:1px solid #ddd}img{max-width:100%}</style>"
        f"<h1>Sweep of {len(result.sources)} sources</h1>{image if png else ''}"
        + (f"<h2>Failed</h2><ul>{failed}</ul>" if failed else "")
        + "<h2>Layers</h2>"
        + df.drop(columns=[c for c in ("error",) if c in df.columns]).to_html(
            index=False, na_rep=""
        )
    )
    (out / "report.html").write_text(page)
    files.append("report.html")
    return files


def _executor(args: argparse.Namespace, stack: ExitStack) -> Any:
    if args.scheduler is None and args.workers is None:
        return None
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:
        raise SVDWidgetsError(
            "--scheduler/--workers need dask.distributed: pip install 'svdwidgets[sweep]'"
        ) from err
    if args.scheduler is not None:
        try:
            return stack.enter_context(Client(args.scheduler, timeout="20s"))
        except OSError as err:
            raise SVDWidgetsError(f"cannot reach the scheduler {args.scheduler!r}: {err}") from err
    cluster = stack.enter_context(
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    )
    return stack.enter_context(Client(cluster))


def _bar(total: int, stack: ExitStack) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return stack.enter_context(tqdm(total=total, desc="sources", unit="source"))
