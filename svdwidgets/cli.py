"""The ``svdwidgets`` command: a report of a model's layer spectra, and JupyterLab on the notebooks.

``svdwidgets report MODEL --out DIR`` profiles every Conv2d, ConvTranspose2d and Linear layer of
a model with :func:`svdwidgets.profile` (the SVD of each layer as the operator PyTorch runs,
Praggastis et al. 2022; methods and their papers in ``DESIGN.md``) and writes into ``DIR``:

``layers.csv`` (and ``layers.parquet`` when pyarrow is importable)
    the per-layer table of :meth:`svdwidgets.Profile.to_dataframe`, shapes written ``16x1x3x3``.
``overview.png``, ``layers/<layer>.png``
    σ_max (exact vs fft), stable rank and power-law α per layer; each layer's sorted σ and the
    ESD of λ = σ² with its Marchenko–Pastur and power-law fits (:mod:`svdwidgets.plots`; needs
    matplotlib).
``report.html``
    a standalone, offline, interactive figure: the table, the frequency maps of the ``fft``
    layers and, with labelled data, the class hypergraph (needs ipywidgets).
``explorer.html``
    the :class:`~svdwidgets.Explorer` of the last conv layer as a standalone page: spectrum,
    frequency map, rendered singular vectors and class hypergraph, linked (needs ipywidgets and
    torch-lucent; ``--no-explorer`` leaves it out).
``report.json``
    what was run: the model, input shape, method, skipped layers, versions, files.

MODEL is one of

* ``default``: the bundled SmallResNet on MNIST digits (:func:`svdwidgets.zoo.load_default`),
  with its 1,000 held-out digits as data;
* ``NAME``, ``torchvision:NAME`` or ``timm:NAME``: a torchvision or timm classifier
  (:mod:`svdwidgets.zoo.external`), with its pretrained weights when they are cached on this
  machine (``--download`` fetches them, ``--random-init`` skips them);
* a checkpoint file, read without running code from it: a ``state_dict`` (also inside a
  ``{"state_dict": ...}`` training checkpoint) with ``--arch`` naming the architecture to load it
  into, or a TorchScript archive with ``--arch`` (its tensors are loaded into the eager
  architecture, as svdwidgets walks eager modules). A whole pickled module
  (``torch.save(model)``) is refused, because ``torch.load(weights_only=True)`` refuses it:
  unpickling it would run code named in the file;
* ``package.module:callable``: a function or class of yours, called without arguments, that
  returns the ``nn.Module`` (the current folder is importable). Importing it runs your code.

``--arch`` takes the same names: ``default``, a torchvision or ``timm:`` name (random weights),
or ``package.module:callable``.

Bad input (a missing file, a file that is not a checkpoint, a refused pickle, an unknown model,
an input shape the model does not run on) prints one line on stderr and exits with status 2;
the report is written into a temporary sibling of ``DIR`` and renamed at the end, so ``DIR``
never holds half a report.

``svdwidgets lab`` copies the notebooks into a working folder (default
``~/svdwidgets-notebooks``; copies that exist are never overwritten) and starts JupyterLab there
on the quickstart.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import importlib.util
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError, SVDWidgetsWarning

if TYPE_CHECKING:
    import pandas as pd

    from svdwidgets.model.profile import Profile

__all__ = ["ModelSource", "lab_command", "load_model", "main", "parse_shape", "write_report"]

EXIT_BAD_INPUT = 2
"""Exit status for bad input (as argparse uses for usage errors)."""

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".tar", ".zip")
"""A MODEL ending in one of these is a file, also when it does not exist (then: no such file)."""

EXACT_SIGMA_LIMIT = 50_000
"""``overview.png`` computes the exact σ_max (Lanczos) of the approximate layers by default
only when none has more values than this: it took 15 minutes for ResNet-18 at 224x224 on our
two shared cores, about a second for the bundled model (``--exact-sigma-max`` forces it)."""

MAX_FREQUENCY_MAPS = 8
"""The most frequency maps in ``report.html`` (evenly spaced over the layers); PNGs cover all."""

QUICKSTART = "01-quickstart.ipynb"
NOTEBOOK_DIR = Path("~/svdwidgets-notebooks")


# --------------------------------------------------------------------------- models and data


@dataclass(frozen=True)
class ModelSource:
    """A model to report on, with what is known about its input and its data.

    ``input_shape`` is ``(C, H, W)`` of one input, or ``None`` when only the user can say.
    ``images``/``labels``/``class_names`` are labelled data for the class hypergraph, or None.
    """

    model: nn.Module
    description: str
    input_shape: tuple[int, ...] | None = None
    images: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    class_names: list[str] | None = None


def load_model(
    spec: str, *, arch: str | None = None, pretrained: bool = True, download: bool = False
) -> ModelSource:
    """The model that MODEL names (see the module docstring for the forms it takes)."""
    if spec == "default":
        if arch is not None:
            raise SVDWidgetsError(f"--arch {arch!r} is for checkpoint files, not MODEL 'default'")
        return _default_source()
    path = Path(spec).expanduser()
    if path.exists() or spec.lower().endswith(CHECKPOINT_SUFFIXES) or os.sep in spec or "/" in spec:
        return load_checkpoint(path, arch=arch)
    if arch is not None:
        raise SVDWidgetsError(
            f"--arch {arch!r} is for checkpoint files; MODEL {spec!r} is not a file"
        )
    return _architecture(spec, pretrained=pretrained, download=download, role="MODEL")


def _default_source() -> ModelSource:
    from svdwidgets.zoo import load_default

    bundle = load_default()
    return ModelSource(
        bundle.model,
        "the bundled SmallResNet (MNIST digits)",
        (1, 28, 28),
        bundle.images,
        bundle.labels,
        bundle.class_names,
    )


def _architecture(name: str, *, pretrained: bool, download: bool, role: str) -> ModelSource:
    """``default``, ``timm:NAME``, ``torchvision:NAME``, ``module:callable``, or ``NAME``."""
    from svdwidgets.zoo import ExternalModel, SmallResNet, load_timm, load_torchvision

    if name == "default":  # an architecture only: --arch default
        return ModelSource(SmallResNet(), "SmallResNet", (1, 28, 28))
    library, sep, rest = name.partition(":")
    found: ExternalModel
    if sep and library == "timm":
        found = load_timm(rest, pretrained=pretrained, download=download)
    elif sep and library == "torchvision":
        found = load_torchvision(rest, pretrained=pretrained, download=download)
    elif sep:
        return _user_callable(library, rest)
    else:
        try:
            found = load_torchvision(name, pretrained=pretrained, download=download)
        except SVDWidgetsError as err:  # a bare NAME is a torchvision name
            near = difflib.get_close_matches(name, ["default"], n=1, cutoff=0.7)
            hint = " (did you mean 'default'?)" if near else ""
            raise SVDWidgetsError(f"{role}{hint}: {err}") from err
    weights = found.weights if found.pretrained else "random weights"
    return ModelSource(
        found.model,
        f"{found.source} {found.name} ({weights})",
        found.input_shape,
        class_names=found.class_names,
    )


def _user_callable(module_name: str, attr: str) -> ModelSource:
    spec = f"{module_name}:{attr}"
    if not module_name or not attr:
        raise SVDWidgetsError(f"expected package.module:callable, got {spec!r}")
    cwd = os.getcwd()
    if cwd not in sys.path:  # as `python -m` does: the user's module next to them is importable
        sys.path.insert(0, cwd)
    try:
        obj: Any = importlib.import_module(module_name)
    except SystemExit as err:  # the module ran a script's sys.exit on import: no model
        raise SVDWidgetsError(
            f"importing {module_name!r} for {spec!r} called sys.exit({err.code!r}); the module "
            "must define the model without running a script on import"
        ) from err
    except Exception as err:
        raise SVDWidgetsError(
            f"cannot import {module_name!r} for {spec!r} ({type(err).__name__}: {err})"
        ) from err
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SVDWidgetsError(f"{module_name!r} has no attribute {attr!r} (from {spec!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SVDWidgetsError(f"{spec!r} is a {type(obj).__name__}, not a callable")
    try:
        model = obj()
    except (Exception, SystemExit) as err:
        raise SVDWidgetsError(
            f"calling {spec}() failed ({type(err).__name__}: {err}); it must build the model "
            "without arguments"
        ) from err
    if not isinstance(model, nn.Module):
        raise SVDWidgetsError(f"{spec}() returned a {type(model).__name__}, not a torch.nn.Module")
    shape: Any = getattr(model, "input_shape", None)  # a model may say what it takes
    return ModelSource(model, spec, tuple(shape) if _is_shape(shape) else None)


def _is_shape(value: object) -> bool:
    return isinstance(value, (tuple, list)) and all(isinstance(v, int) and v > 0 for v in value)


def load_checkpoint(path: Path, *, arch: str | None = None) -> ModelSource:
    """A model from a checkpoint file, read without running code from it.

    A ``state_dict`` (``torch.load(weights_only=True)``) or a TorchScript archive
    (``torch.jit.load``, which restores TorchScript code, never pickled Python objects) is
    loaded into the architecture ``arch`` with strict key and shape checks.
    """
    if not path.exists():
        raise SVDWidgetsError(f"no such checkpoint file: {path}")
    if not path.is_file():
        raise SVDWidgetsError(f"{path} is a folder, not a checkpoint file")
    if _is_torchscript(path):
        try:
            scripted = torch.jit.load(str(path), map_location="cpu")
        except Exception as err:
            raise SVDWidgetsError(
                f"{path} looks like a TorchScript archive but torch.jit.load fails on it "
                f"({type(err).__name__}: {err})"
            ) from err
        if arch is None:
            raise SVDWidgetsError(
                f"{path} is a TorchScript archive: svdwidgets reads layers of eager modules, "
                "which a scripted model does not have; pass --arch with the architecture it was "
                "scripted from (default, a torchvision name or module:callable) to load its "
                "tensors into"
            )
        state = dict(scripted.state_dict())
        kind = "TorchScript archive"
    else:
        state = _state_dict(_torch_load(path), path)
        kind = "state_dict"
        if arch is None:
            raise SVDWidgetsError(
                f"{path} holds a state_dict ({len(state)} tensors, e.g. {next(iter(state))!r}) "
                "but not the architecture: pass --arch NAME (default, a torchvision name, "
                "timm:NAME or package.module:callable)"
            )
    source = _architecture(arch, pretrained=False, download=False, role="--arch")
    _load_state(source.model, state, path, arch)
    return ModelSource(
        source.model.eval(),
        f"{source.description.split(' (')[0]} from the {kind} {path.name}",
        source.input_shape,
        *_arch_data(arch),
    )


def _arch_data(arch: str) -> tuple[Any, Any, Any]:
    """The bundled digits go with the bundled architecture (any weights of it read digits)."""
    if arch != "default":
        return (None, None, None)
    d = _default_source()
    return (d.images, d.labels, d.class_names)


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives are zip files with a ``code/`` folder (torch.save's have none)."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/" in n or n.startswith("code/") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def _torch_load(path: Path) -> object:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's pickle-protocol notes
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        operand = re.search(r"Unsupported operand \d+", text)
        if "Weights only load failed" not in text or operand:
            detail = f"a pickle it cannot read: {operand.group(0)}" if operand else text
            raise SVDWidgetsError(
                f"{path} is not a PyTorch checkpoint (torch.load: {_first_line(detail)})"
            ) from err
        named = _GLOBAL.search(text)
        what = f"it names {named.group(1)}" if named else "it names Python objects"
        raise SVDWidgetsError(
            f"{path} is a pickled object ({what}, e.g. a whole module from torch.save(model)) "
            "that torch.load(weights_only=True) refuses: unpickling it would import and run "
            "code named in the file. If you trust it, load it yourself "
            "(torch.load(path, weights_only=False)) and call svdwidgets.profile; or save "
            "model.state_dict() and pass that file with --arch"
        ) from err
    except Exception as err:  # not a zip, not a pickle, truncated: torch raises many kinds
        raise SVDWidgetsError(
            f"{path} is not a PyTorch checkpoint (torch.load: {type(err).__name__}: "
            f"{_first_line(str(err)) or 'unreadable'})"
        ) from err


def _state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    candidate = obj
    if isinstance(obj, Mapping) and not _all_tensors(obj):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), Mapping) and _all_tensors(obj[key]):
                candidate = obj[key]
                break
    if not isinstance(candidate, Mapping) or not candidate or not _all_tensors(candidate):
        what = type(obj).__name__
        if isinstance(obj, Mapping):
            what = f"a dict with keys {list(obj)[:5]}"
        raise SVDWidgetsError(
            f"{path} is a torch file but holds {what}, not a state_dict (a dict of tensors, "
            "as model.state_dict() returns)"
        )
    state = {str(k): v for k, v in candidate.items()}
    if all(k.startswith("module.") for k in state):  # saved from DataParallel
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _all_tensors(d: Mapping[Any, Any]) -> bool:
    return all(isinstance(v, torch.Tensor) for v in d.values())


def _load_state(model: nn.Module, state: dict[str, torch.Tensor], path: Path, arch: str) -> None:
    expected = model.state_dict()
    # TorchScript keeps non-persistent buffers (e.g. fixed normalisation) in its state_dict
    buffers = {name for name, _ in model.named_buffers()} - set(expected)
    state = {k: v for k, v in state.items() if k not in buffers}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        parts = [
            f"{label} {items[:3]}{' ...' if len(items) > 3 else ''}"
            for label, items in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("wrong shapes (file vs --arch)", wrong),
            )
            if items
        ]
        raise SVDWidgetsError(
            f"the state_dict in {path} does not fit --arch {arch!r}: {'; '.join(parts)}"
        )
    model.load_state_dict(state)


def load_data(path: Path, input_shape: tuple[int, ...] | None) -> tuple[Any, Any, Any]:
    """``--data FILE``: ``torch.save({"images": (N, C, H, W), "labels": (N,), "class_names":
    [...]})`` (class names optional), read with ``weights_only=True``."""
    if not path.is_file():
        raise SVDWidgetsError(f"no such data file: {path}")
    obj = _torch_load(path)
    if not isinstance(obj, Mapping) or "images" not in obj or "labels" not in obj:
        raise SVDWidgetsError(
            f"--data {path} must hold a dict with 'images' (N, C, H, W) and 'labels' (N,), got "
            f"{list(obj) if isinstance(obj, Mapping) else type(obj).__name__}"
        )
    images, labels = obj["images"], obj["labels"]
    if not isinstance(images, torch.Tensor) or images.ndim < 2 or not images.is_floating_point():
        raise SVDWidgetsError(
            f"--data {path}: 'images' must be a float tensor (N, ...), got "
            f"{getattr(images, 'shape', type(images).__name__)}"
        )
    if (
        not isinstance(labels, torch.Tensor)
        or labels.shape != images.shape[:1]
        or labels.is_floating_point()
    ):
        raise SVDWidgetsError(
            f"--data {path}: 'labels' must be an integer tensor of shape ({images.shape[0]},), "
            f"got {getattr(labels, 'shape', type(labels).__name__)}"
        )
    if input_shape is not None and tuple(images.shape[1:]) != tuple(input_shape):
        raise SVDWidgetsError(
            f"--data {path}: images of shape {tuple(images.shape[1:])} do not match the input "
            f"shape {tuple(input_shape)}"
        )
    if labels.numel() and int(labels.min()) < 0:
        raise SVDWidgetsError(f"--data {path}: labels must be >= 0, got {int(labels.min())}")
    names = obj.get("class_names")
    if names is not None:
        if not isinstance(names, (list, tuple)) or len(names) <= int(labels.max()):
            raise SVDWidgetsError(
                f"--data {path}: 'class_names' must be a list with a name for each label "
                f"0..{int(labels.max())}, got {names!r:.200}"
            )
        names = [str(n) for n in names]
    return images, labels.long(), names


def parse_shape(text: str) -> tuple[int, ...]:
    """``"3,224,224"`` (or ``3x224x224``) to ``(3, 224, 224)``; positive integers only."""
    parts = [p.strip() for p in re.split(r"[,x×]", text.strip())]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if not shape or any(s <= 0 for s in shape):
        raise SVDWidgetsError(
            f"--input-shape must be positive integers like 3,224,224 (C,H,W), got {text!r}"
        )
    return shape


# --------------------------------------------------------------------------- the report


def profile_source(
    source: ModelSource,
    input_shape: tuple[int, ...] | None,
    *,
    method: str = "auto",
    fold_bn: bool = False,
    k: int | None = None,
    cache: bool = True,
) -> Profile:
    """:func:`svdwidgets.profile` of the model on ``input_shape`` (or the source's own)."""
    import svdwidgets as sw

    shape = input_shape if input_shape is not None else source.input_shape
    if shape is None:
        raise SVDWidgetsError(
            f"{source.description} does not say what input it takes: pass --input-shape C,H,W"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SVDWidgetsWarning)  # kept per layer in the `note` column
        return sw.profile(
            source.model, shape, method=method, fold_bn=fold_bn, k=k, cache=cache, progress=False
        )


def table(prof: Profile) -> pd.DataFrame:
    """The per-layer table for files: shapes as ``16x1x3x3``, no Python tuples."""
    df = prof.to_dataframe().reset_index()
    for column in df.columns:
        if df[column].map(lambda v: isinstance(v, tuple)).any():
            df[column] = df[column].map(
                lambda v: "x".join(str(s) for s in v) if isinstance(v, tuple) else v
            )
    return df


def write_report(
    prof: Profile,
    source: ModelSource,
    out: Path,
    *,
    overwrite: bool = False,
    exact_sigma_max: bool | None = None,
    explorer: bool = True,
) -> dict[str, Any]:
    """Write the report of ``prof`` into ``out`` all at once; returns what ``report.json`` says.

    Everything that can fail on bad input (the table, the hypergraph of the data) is computed
    first; the files are then written into a temporary sibling folder, which replaces ``out``
    only when every file is written: a failure or an interrupt leaves ``out`` as it was.
    ``exact_sigma_max``: compute the exact σ_max of approximate layers for ``overview.png``
    (None: when they are small, see :data:`EXACT_SIGMA_LIMIT`). ``explorer``: also write
    ``explorer.html``, the :class:`~svdwidgets.Explorer` of the model's last conv layer with its
    gallery rendered (feature visualization: seconds on the bundled model, minutes for an
    ImageNet network on a CPU).
    """
    _check_out(out, overwrite)
    df = table(prof)
    notes: dict[str, str] = {}
    exact, notes["overview.png"] = _exact_overview(prof, exact_sigma_max)
    figure = None
    if importlib.util.find_spec("ipywidgets") is not None:
        figure, notes["report.html"] = _html_figure(prof, source, df)
    else:
        notes["report.html"] = "skipped: ipywidgets is not importable (svdwidgets[widgets])"
    dashboard = None
    if not explorer:
        notes["explorer.html"] = "skipped (--no-explorer)"
    elif not all(importlib.util.find_spec(m) is not None for m in ("ipywidgets", "lucent")):
        notes["explorer.html"] = (
            "skipped: the Explorer needs ipywidgets and torch-lucent (see the README's install)"
        )
    else:
        dashboard, notes["explorer.html"] = _explorer(prof, source)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the report is an ordinary folder
        files = _write_files(prof, source, df, figure, notes, tmp, exact, dashboard)
        summary = _summary(prof, source, out, files, notes)
        (tmp / "report.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        _replace(tmp, out)
    except OSError as err:  # a full disk, a folder made read-only meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
        raise SVDWidgetsError(f"cannot write the report into --out {out}: {err}") from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _check_out(out: Path, overwrite: bool) -> None:
    """Fail before the work on an ``out`` the report could not be written to."""
    if out.exists() and not out.is_dir():
        raise SVDWidgetsError(f"--out {out} is a file; the report is a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise SVDWidgetsError(
            f"--out {out} exists and is not empty: choose another folder or pass --overwrite"
        )
    # the report is written next to out and renamed: out's nearest existing ancestor must be
    # a folder we can create folders in (tried, not guessed from permission bits)
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise SVDWidgetsError(f"--out {out} cannot be created: {parent} is a file")
    try:
        probe = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".probe", dir=parent))
        probe.rmdir()
    except OSError as err:
        raise SVDWidgetsError(
            f"--out {out} is not writable: cannot create a folder in {parent} "
            f"({err.strerror or type(err).__name__})"
        ) from err


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


def _replace(tmp: Path, out: Path) -> None:
    if out.is_dir() and any(out.iterdir()):
        old = out.with_name(f".{out.name}.{os.getpid()}.old")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if out.is_dir():
            out.rmdir()
        tmp.rename(out)


def _write_files(
    prof: Profile,
    source: ModelSource,
    df: pd.DataFrame,
    figure: Any,
    notes: dict[str, str],
    folder: Path,
    exact: bool,
    dashboard: Any = None,
) -> list[str]:
    written = ["layers.csv"]
    df.to_csv(folder / "layers.csv", index=False)
    if importlib.util.find_spec("pyarrow") is not None:
        df.to_parquet(folder / "layers.parquet", index=False)
        written.append("layers.parquet")
    else:
        notes["layers.parquet"] = "skipped: pyarrow is not importable (pip install pyarrow)"
    if importlib.util.find_spec("matplotlib") is not None:
        written += _write_pngs(prof, folder, exact)
    else:
        notes["png"] = "skipped: matplotlib is not importable (pip install matplotlib)"
    if figure is not None:
        from svdwidgets.widgets import export_html

        export_html(folder / "report.html", figure, title=f"svdwidgets: {source.description}")
        written.append("report.html")
    if dashboard is not None:
        dashboard.export_html(folder / "explorer.html", title=f"svdwidgets: {source.description}")
        dashboard.close()
        written.append("explorer.html")
    return [*written, "report.json"]


def _explorer(prof: Profile, source: ModelSource) -> tuple[Any, str]:
    """The Explorer of ``prof`` on its last conv layer, gallery rendered; and what it shows."""
    import svdwidgets as sw

    convs = [n for n in prof.layers if prof.entry(n).record.kind == "conv"]
    dashboard = sw.Explorer(
        prof.model,
        source.images,
        source.labels,
        source.class_names,
        input_shape=None if source.images is not None else _input_shape(prof),
        profile=prof,
        layer=convs[-1] if convs else None,
    )
    dashboard.wait()
    error = dashboard.gallery.error
    what = f"the Explorer on {dashboard.layer} (linked views; choosing a layer needs the kernel)"
    return dashboard, what + (f"; gallery error: {error}" if error else "")


def _summary(
    prof: Profile, source: ModelSource, out: Path, files: list[str], notes: dict[str, str]
) -> dict[str, Any]:
    import svdwidgets as sw

    return {
        "model": source.description,
        "input_shape": list(_input_shape(prof)),
        "options": {k: v for k, v in prof.options.items() if k != "input_shape"},
        "layers": prof.layers,
        "skipped": prof.skipped,
        "out": str(out),
        "files": files,
        "notes": notes,
        "versions": {"svdwidgets": sw.__version__, "torch": torch.__version__},
    }


def _input_shape(prof: Profile) -> tuple[int, ...]:
    return tuple(cast("Sequence[int]", prof.options["input_shape"]))


def _exact_overview(prof: Profile, choice: bool | None) -> tuple[bool, str]:
    sizes = {}
    for name in prof.layers:
        entry = prof.entry(name)
        if entry.spectrum is not None and not entry.spectrum.exact:
            g = entry.geometry
            sizes[name] = g.n_values if g is not None else len(entry.spectrum)
    if not sizes:
        return False, "every profiled spectrum is exact"
    largest = max(sizes, key=sizes.__getitem__)
    exact = choice if choice is not None else sizes[largest] <= EXACT_SIGMA_LIMIT
    if exact:
        return True, f"exact σ_max (Lanczos) of the {len(sizes)} approximate layers"
    why = (
        "--no-exact-sigma-max"
        if choice is False
        else (f"{largest} has {sizes[largest]:,} values; --exact-sigma-max computes them")
    )
    return False, f"no exact σ_max of the {len(sizes)} approximate layers ({why})"


def _write_pngs(prof: Profile, folder: Path, exact: bool) -> list[str]:
    """``overview.png`` (:func:`svdwidgets.plots.plot_profile`: σ_max exact vs fft, stable
    rank, α per layer) and ``layers/<layer>.png`` (:func:`svdwidgets.plots.plot_layer`: sorted
    σ and the ESD with its fits)."""
    from svdwidgets.plots import plot_layer, plot_profile, save_figure

    save_figure(plot_profile(prof, exact=exact), folder / "overview.png")
    files = ["overview.png"]
    (folder / "layers").mkdir()
    for name, stem in zip(prof.layers, file_stems(prof.layers), strict=True):
        save_figure(plot_layer(prof.entry(name)), folder / "layers" / f"{stem}.png")
        files.append(f"layers/{stem}.png")
    return files


def file_stems(names: Sequence[str], limit: int = 120) -> list[str]:
    """A distinct, portable file name stem per layer name (``layer4.1.conv2`` stays as is)."""
    stems: list[str] = []
    for name in names:
        stem = re.sub(r"[^\w.-]", "_", name).strip(".") or "layer"
        if len(stem) > limit:
            stem = stem[:limit]
        base, n = stem, 1
        while stem in stems:
            n += 1
            stem = f"{base}-{n}"
        stems.append(stem)
    return stems


def _html_figure(prof: Profile, source: ModelSource, df: pd.DataFrame) -> tuple[Any, str]:
    """The widget ``report.html`` shows, and what it shows.

    Every layer at once, as a page can without a kernel: the table, the frequency maps of up to
    :data:`MAX_FREQUENCY_MAPS` fft conv layers and, with labelled data, the class hypergraph.
    (``explorer.html`` is the linked dashboard of one layer.)
    """
    import html

    import ipywidgets as ipw

    import svdwidgets as sw
    from svdwidgets.widgets import FrequencyMap, HypergraphView

    head = ipw.HTML(
        f"<h2>{html.escape(source.description)}</h2><p>input shape "
        f"{_input_shape(prof)}, method {prof.options['method']!r}: "
        f"{len(prof)} layers, {len(prof.skipped)} skipped</p>"
    )
    columns = [c for c in ("layer", "kind", "weight_shape", "input_size", "stride", "padding",
                           "method", "exact", "n_values", "sigma_max", "stable_rank", "alpha")
               if c in df.columns]  # fmt: skip
    parts: list[Any] = [head, ipw.HTML(df[columns].to_html(index=False, float_format="%.4g"))]
    fft = [
        n
        for n in prof.layers
        if isinstance(prof[n], sw.FFTSpectrum) and prof.entry(n).record.kind == "conv"
    ]
    chosen = spread(fft, MAX_FREQUENCY_MAPS)
    for name in chosen:
        spec = prof[name]
        status = "" if spec.exact else ", circular approximation"
        parts.append(FrequencyMap.from_spectrum(spec, layer_name=f"{name} (fft{status})"))  # type: ignore[arg-type]
    method = prof.options["method"]
    shown = [
        f"frequency maps of {len(chosen)} of {len(fft)} fft conv layers"
        if fft
        else f"no frequency maps (no conv layer has an fft spectrum with method {method!r})"
    ]
    if source.images is not None and source.labels is not None:
        hg = sw.class_hypergraph(prof, source.images, source.labels, class_names=source.class_names)
        parts.append(HypergraphView.from_hypergraph(hg))
        shown.append("the class hypergraph")
    shown.insert(0, "the table")
    return ipw.VBox(parts), ", ".join(shown)


def spread(items: Sequence[str], most: int) -> list[str]:
    """At most ``most`` items, evenly spaced, first and last included."""
    if len(items) <= most:
        return list(items)
    if most == 1:
        return [items[0]]
    picks = sorted({round(i * (len(items) - 1) / (most - 1)) for i in range(most)})
    return [items[i] for i in picks]


# --------------------------------------------------------------------------- lab


def notebook_sources() -> Path | None:
    """Where the notebooks shipped with svdwidgets are: package data, or the source checkout."""
    package = Path(__file__).resolve().parent
    for folder in (package / "notebooks", package.parent / "notebooks"):
        if folder.is_dir() and any(folder.glob("*.ipynb")):
            return folder
    return None


def prepare_notebooks(work: Path, notebook: str = QUICKSTART) -> tuple[Path, list[str]]:
    """Copy the shipped notebooks missing from ``work`` into it; return ``notebook``'s path."""
    sources = notebook_sources()
    if sources is None:
        raise SVDWidgetsError(
            "the svdwidgets notebooks are not installed with this package (looked in "
            f"{Path(__file__).resolve().parent / 'notebooks'} and the source checkout)"
        )
    if not (sources / notebook).is_file() and not (work / notebook).is_file():
        shipped = sorted(p.name for p in sources.glob("*.ipynb"))
        raise SVDWidgetsError(f"no notebook {notebook!r} in {sources}; there are {shipped}")
    work.mkdir(parents=True, exist_ok=True)
    copied = []
    for nb in sorted(sources.glob("*.ipynb")):
        if not (work / nb.name).exists():  # never overwrite the user's edited copy
            shutil.copy2(nb, work / nb.name)
            copied.append(nb.name)
    return work / notebook, copied


def lab_command(
    notebook: Path, *, port: int | None = None, browser: bool = True, extra: Sequence[str] = ()
) -> list[str]:
    """The JupyterLab command line that opens ``notebook`` with its folder as the root."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={notebook.parent}"]
    if port is not None:
        cmd.append(f"--ServerApp.port={port}")
    if not browser:
        cmd.append("--ServerApp.open_browser=False")
    return [*cmd, *extra, str(notebook)]


def _run_lab(args: argparse.Namespace, extra: Sequence[str]) -> int:
    if args.port is not None and not 0 < args.port < 65536:
        raise SVDWidgetsError(f"--port must be in 1..65535, got {args.port}")
    if importlib.util.find_spec("jupyterlab") is None:
        raise SVDWidgetsError("JupyterLab is not installed: pip install 'svdwidgets[widgets]'")
    work = Path(args.dir).expanduser().resolve()
    notebook, copied = prepare_notebooks(work, args.notebook)
    if copied:
        print(f"svdwidgets: copied {', '.join(copied)} into {work}")
    cmd = lab_command(notebook, port=args.port, browser=not args.no_browser, extra=extra)
    if args.print_command:
        print(subprocess.list2cmdline(cmd))
        return 0
    print(f"svdwidgets: starting JupyterLab on {notebook}", flush=True)
    sys.stderr.flush()
    if os.name == "posix":  # JupyterLab becomes this process: signals and exit status are its
        os.execv(cmd[0], cmd)
    return subprocess.call(cmd)


# --------------------------------------------------------------------------- command line


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
    report.add_argument("--fold-bn", action="store_true", help="fold BatchNorm into its conv")
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
    _check_out(args.out, args.overwrite)  # before the work, not after it
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
    prof = profile_source(
        source,
        shape,
        method=args.method,
        fold_bn=args.fold_bn,
        k=args.k,
        cache=not args.no_cache,
    )
    summary = write_report(
        prof,
        source,
        args.out,
        overwrite=args.overwrite,
        exact_sigma_max=args.exact_sigma_max,
        explorer=not args.no_explorer,
    )
    print(
        f"svdwidgets: {summary['model']}, input {tuple(summary['input_shape'])}: "
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
            return _run_lab(args, [a for a in extra if a != "--"])
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


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


if __name__ == "__main__":
    sys.exit(main())
