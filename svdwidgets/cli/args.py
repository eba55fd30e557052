"""The ``svdwidgets`` command line: the parser, ``main`` and the report command's run.

Each job lives in its own module: :mod:`~svdwidgets.cli.sources` (models, checkpoints, data),
:mod:`~svdwidgets.cli.report` (the report folder), :mod:`~svdwidgets.cli.lab` (JupyterLab) and
:mod:`svdwidgets.sweeps.command` (``svdwidgets sweep``).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from svdwidgets.cli.lab import NOTEBOOK_DIR, QUICKSTART, run_lab
from svdwidgets.cli.report import EXACT_SIGMA_LIMIT, analysis_of, check_out, write_report
from svdwidgets.cli.sources import ModelSource, load_data, load_model, parse_shape
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.model.folding import FOLD_BN_DEFAULT

__all__ = ["EXIT_BAD_INPUT", "main"]

EXIT_BAD_INPUT = 2
"""Exit status for bad input (as argparse uses for usage errors)."""


_REPORT_HELP = """\
Profile every Conv2d, ConvTranspose2d and Linear layer of MODEL with svdwidgets.profile (the
SVD of each layer as the operator PyTorch runs it; Praggastis et al. 2022) and write into --out:
layers.csv (and layers.parquet when pyarrow is installed), overview.png and layers/*.png,
report.html (standalone, offline, interactive) and report.json (what was run)."""

_REPORT_EPILOG = """\
MODEL:
  default                the bundled SmallResNet on MNIST digits (with its held-out digits)
  NAME, torchvision:NAME a torchvision classifier; pretrained weights if cached here
  timm:NAME              a timm model; pretrained weights if cached here
  FILE --arch ARCH       a state_dict or TorchScript file, loaded into ARCH: default, a
                         torchvision name, timm:NAME or package.module:callable
  package.module:callable  your function or class that returns the nn.Module

A whole pickled module (torch.save(model)) is refused: torch.load(weights_only=True) would
have to run code named in the file. Save model.state_dict() and pass --arch instead.
Bad input: one line on stderr, exit status 2, and --out is left as it was.

examples:
  svdwidgets report default --out report-default
  svdwidgets report my_cnn.pt --arch my_cnn:SmallCNN --input-shape 1,28,28 --out report-mine"""


class _Parser(argparse.ArgumentParser):
    """Usage errors on one line of stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    import svdwidgets as sw

    parser = _Parser(
        prog="svdwidgets",
        description="Read CNNs through the SVD of their layers (Praggastis et al. 2022).",
    )
    parser.add_argument("--version", action="version", version=f"svdwidgets {sw.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    report = commands.add_parser(
        "report",
        help="profile a model's layers and write a table, PNGs and an HTML figure",
        description=_REPORT_HELP,
        epilog=_REPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument(
        "model",
        metavar="MODEL",
        help="default | NAME | torchvision:NAME | timm:NAME | a checkpoint file | module:callable",
    )
    report.add_argument("--out", metavar="DIR", required=True, type=Path, help="the report folder")
    report.add_argument("--input-shape", metavar="C,H,W", help="one input's shape")
    report.add_argument("--method", default="auto", choices=sw.METHODS)
    report.add_argument(
        "--arch", metavar="ARCH", help="the architecture a checkpoint's tensors are loaded into"
    )
    report.add_argument(
        "--data",
        metavar="FILE",
        type=Path,
        help="labelled images for the class hypergraph: torch.save({'images', 'labels', "
        "'class_names'})",
    )
    report.add_argument(
        "--fold-bn",
        action=argparse.BooleanOptionalAction,
        default=FOLD_BN_DEFAULT,
        help="fold each BatchNorm into the conv before it (default: not folded)",
    )
    report.add_argument("--k", type=int, help="only the top k singular values per layer")
    report.add_argument(
        "--exact-sigma-max",
        action=argparse.BooleanOptionalAction,
        help="overview.png: the exact σ_max (Lanczos) of approximate layers (default: when "
        f"none has over {EXACT_SIGMA_LIMIT:,} values)",
    )
    report.add_argument(
        "--random-init", action="store_true", help="torchvision/timm: random weights"
    )
    report.add_argument(
        "--download", action="store_true", help="torchvision/timm: fetch weights not cached"
    )
    report.add_argument("--no-cache", action="store_true", help="do not use the spectrum cache")
    report.add_argument(
        "--no-explorer",
        action="store_true",
        help="do not write explorer.html (it renders feature visualizations: slow on a CPU "
        "for an ImageNet network)",
    )
    report.add_argument("--overwrite", action="store_true", help="replace an existing report")
    from svdwidgets.sweeps import command as sweep_command

    sweep_command.add_parser(commands)
    lab = commands.add_parser(
        "lab",
        help="open JupyterLab on the quickstart notebook",
        description="Copy the svdwidgets notebooks into --dir (existing copies are kept) and "
        "start JupyterLab there; arguments after -- go to JupyterLab.",
    )
    lab.add_argument("--port", type=int, help="the server's port (default: JupyterLab's)")
    lab.add_argument("--dir", default=str(NOTEBOOK_DIR), help=f"default: {NOTEBOOK_DIR}")
    lab.add_argument("--notebook", default=QUICKSTART, help=f"default: {QUICKSTART}")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser")
    lab.add_argument(
        "--print-command", action="store_true", help="print the JupyterLab command, do not run"
    )
    return parser


def _run_report(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if args.k is not None and args.k <= 0:
        raise SVDWidgetsError(f"--k must be a positive integer, got {args.k}")
    check_out(args.out, args.overwrite)  # before the work, not after it
    shape = parse_shape(args.input_shape) if args.input_shape is not None else None
    source = load_model(
        args.model, arch=args.arch, pretrained=not args.random_init, download=args.download
    )
    if args.data is not None:
        images, labels, names = load_data(args.data, shape or source.input_shape)
        if shape is None and source.input_shape is None:
            shape = tuple(images.shape[1:])
        source = ModelSource(
            source.model, source.description, source.input_shape, images, labels,
            names or source.class_names,
        )  # fmt: skip
    analysis = analysis_of(
        source,
        shape,
        method=args.method,
        fold_bn=args.fold_bn,
        k=args.k,
        cache=not args.no_cache,
    )
    prof = analysis.profile()
    try:
        summary = write_report(
            analysis,
            source,
            args.out,
            overwrite=args.overwrite,
            exact_sigma_max=args.exact_sigma_max,
            explorer=not args.no_explorer,
        )
    finally:
        analysis.close()
    print(
        f"svdwidgets: {summary['model']}, input {tuple(summary['input_shape'])}, "
        f"{analysis.caption}: "
        f"{len(prof)} layers profiled, {len(prof.skipped)} skipped, "
        f"{time.perf_counter() - start:.1f} s"
    )
    for name, reason in prof.skipped.items():
        print(f"  skipped {name}: {reason}")
    pngs = [f for f in summary["files"] if f.endswith(".png")]
    others = [f for f in summary["files"] if not f.endswith(".png")]
    print(f"wrote {args.out}: {', '.join(others)}" + (f", {len(pngs)} PNGs" if pngs else ""))
    for name, note in summary["notes"].items():
        print(f"  {name}: {note}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The ``svdwidgets`` command; returns its exit status (2 for bad input)."""
    try:
        args, extra = _parser().parse_known_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error (already printed)
        return done.code if isinstance(done.code, int) else EXIT_BAD_INPUT
    try:
        if args.command == "lab":
            return run_lab(args, [a for a in extra if a != "--"])
        if extra:
            raise SVDWidgetsError(f"unrecognized arguments: {' '.join(extra)}")
        if args.command == "sweep":
            from svdwidgets.sweeps import command as sweep_command

            with _signals_as_exit():
                return sweep_command.run(args)
        with _signals_as_exit():
            return _run_report(args)
    except SVDWidgetsError as err:
        print(f"svdwidgets {args.command}: error: {_one_line(str(err))}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _one_line(text: str, limit: int = 600) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


@contextlib.contextmanager
def _signals_as_exit() -> Iterator[None]:
    """SIGTERM and SIGHUP raise SystemExit, so that ``finally`` clauses (the ``.partial``
    folder's removal) run instead of the process dying where it stands."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    names = [n for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    previous = {n: signal.signal(getattr(signal, n), leave) for n in names}
    try:
        yield
    finally:
        for n, handler in previous.items():
            signal.signal(getattr(signal, n), handler)
