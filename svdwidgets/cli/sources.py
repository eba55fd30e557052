"""Where a report's model and data come from: MODEL names, checkpoint files, ``--data`` files.

Every reader here refuses to run code from a file: state_dicts are read with
``torch.load(weights_only=True)``, TorchScript archives with ``torch.jit.load``; a whole pickled
module is refused with the reason (see :mod:`svdwidgets.cli`).
"""

from __future__ import annotations

import difflib
import importlib
import os
import pickle
import re
import sys
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "ModelSource",
    "load_checkpoint",
    "load_data",
    "load_model",
    "parse_shape",
]

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".tar", ".zip")
"""A MODEL ending in one of these is a file, also when it does not exist (then: no such file)."""


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


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
