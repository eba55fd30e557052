"""Models from torchvision and timm, with their pretrained weights when this machine has them.

:func:`load_torchvision` and :func:`load_timm` build an image classifier by name and return it
with the input shape it was trained on (and, for pretrained weights, the normalisation and the
class names the weights carry), ready for :func:`svdwidgets.profile`. They never download
anything unless asked (``download=True``): pretrained weights are read from the cache the
library itself uses (torch hub's ``<torch.hub.get_dir()>/checkpoints`` for torchvision and
legacy timm weights, the Hugging Face hub cache for timm), and when they are not there the
error says where they would be and how to get them. Every failure is an
:class:`~svdwidgets.SVDWidgetsError` with the offending name in the message: the library not
importable (with its own import error: torchvision does not import beside a torch it was not
built for), an unknown name (with the close matches), weights not cached.

The models are those of the libraries, unchanged: :func:`svdwidgets.profile` then reads every
layer through the SVD of the operator PyTorch runs (Praggastis et al., "The SVD of
Convolutional Weights: A CNN Interpretability Framework", 2022; the methods in ``DESIGN.md``).
Neither library is a dependency of svdwidgets.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError

__all__ = ["ExternalModel", "load_timm", "load_torchvision"]

_DEFAULT_INPUT = (3, 224, 224)


@dataclass(frozen=True)
class ExternalModel:
    """What :func:`load_torchvision` and :func:`load_timm` return.

    ``model`` is in eval mode on the CPU. ``input_shape`` is ``(C, H, W)`` of one input as the
    weights were evaluated (torchvision: the crop size of the weights' transforms; timm: the
    pretrained config's ``input_size``). ``mean``/``std`` are the per-channel normalisation the
    inputs need and ``class_names`` the names of the outputs; both are ``None`` for random
    weights (``pretrained=False``). ``weights`` names the weights loaded (torchvision's enum
    entry, timm's ``arch.tag``, or a file) or is ``None``.
    """

    model: nn.Module
    name: str
    source: str
    input_shape: tuple[int, int, int]
    pretrained: bool
    weights: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    class_names: list[str] | None = None


def load_torchvision(
    name: str, pretrained: bool = True, *, weights: str = "DEFAULT", download: bool = False
) -> ExternalModel:
    """A torchvision image classifier by name (``"resnet18"``), pretrained when possible.

    Parameters
    ----------
    name:
        a name of ``torchvision.models.list_models(torchvision.models)`` (the classifiers).
    pretrained:
        load the weights ``weights`` (default: the builder's ``DEFAULT`` entry, e.g.
        ``ResNet18_Weights.IMAGENET1K_V1``) from torch hub's cache; ``False`` builds the
        architecture with random weights.
    weights:
        the entry of the model's weights enum to load (``"IMAGENET1K_V2"``), or ``"DEFAULT"``.
    download:
        fetch weights that are not cached (needs the network); off by default, so that nothing
        is downloaded behind the user's back.

    Raises :class:`~svdwidgets.SVDWidgetsError` when torchvision does not import, the name is
    unknown (with close matches), or the weights are not cached and ``download`` is off.
    """
    if not isinstance(name, str):
        raise SVDWidgetsError(f"a torchvision model name must be a string, got {name!r}")
    tv = _import("torchvision", name)
    classifiers = tv.models.list_models(module=tv.models)
    if name not in classifiers:
        everything = tv.models.list_models()
        if name in everything:
            raise SVDWidgetsError(
                f"torchvision model {name!r} is not an image classifier (it is registered in "
                f"{_builder_module(tv, name)}); load_torchvision loads the models of "
                "torchvision.models.list_models(torchvision.models)"
            )
        raise SVDWidgetsError(_unknown("torchvision", name, classifiers))
    enum = tv.models.get_model_weights(name)
    entry = _weights_entry(enum, name, weights)
    input_shape = _torchvision_input_shape(entry)
    if not pretrained:
        model = tv.models.get_model(name, weights=None)
        return ExternalModel(_ready(model), name, "torchvision", input_shape, False)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(entry.url).path)
    if not cached.exists() and not download:
        raise SVDWidgetsError(
            f"the pretrained weights {entry!r} of torchvision model {name!r} are not in torch "
            f"hub's cache ({cached}), and download=False: fetch them once where there is a "
            f"network ({entry.url}) and put the file there (or set $TORCH_HOME), pass "
            "download=True, or pass pretrained=False for random weights"
        )
    try:
        model = tv.models.get_model(name, weights=entry)
    except OSError as err:  # urllib's URLError is an OSError
        raise SVDWidgetsError(
            f"could not download the weights {entry!r} of torchvision model {name!r} from "
            f"{entry.url} ({type(err).__name__}: {err}): no network? Put the file at {cached}, "
            "or pass pretrained=False for random weights"
        ) from err
    transform = entry.transforms()
    return ExternalModel(
        _ready(model),
        name,
        "torchvision",
        input_shape,
        True,
        weights=repr(entry),
        mean=_floats(getattr(transform, "mean", None)),
        std=_floats(getattr(transform, "std", None)),
        class_names=_names(entry.meta.get("categories")),
    )


def load_timm(name: str, pretrained: bool = True, *, download: bool = False) -> ExternalModel:
    """A timm model by name (``"resnet18"`` or ``"resnet18.a1_in1k"``), pretrained when possible.

    Parameters
    ----------
    name:
        a timm architecture, optionally with a pretrained tag (``timm.list_models()``,
        ``timm.list_pretrained()``).
    pretrained:
        load the weights of the tag (default: timm's default tag of the architecture) from the
        Hugging Face hub cache (or, for weights timm still hosts by URL, torch hub's cache);
        ``False`` builds the architecture with random weights.
    download:
        fetch weights that are not cached (needs the network); off by default.

    timm itself needs torchvision: where torchvision does not import, neither does timm, and
    the error says so. Raises :class:`~svdwidgets.SVDWidgetsError` for an unknown name (with
    close matches), a model without pretrained weights, or weights not cached.
    """
    if not isinstance(name, str):
        raise SVDWidgetsError(f"a timm model name must be a string, got {name!r}")
    timm = _import("timm", name)
    if not timm.is_model(name):
        raise SVDWidgetsError(_unknown("timm", name, timm.list_models()))
    try:
        model = timm.create_model(name, pretrained=False)
    except RuntimeError as err:  # e.g. an invalid pretrained tag
        raise SVDWidgetsError(f"timm cannot build {name!r}: {err}") from err
    cfg = _as_dict(getattr(model, "pretrained_cfg", None))
    input_shape = _shape(cfg.get("input_size"))
    if not pretrained:
        return ExternalModel(_ready(model), name, "timm", input_shape, False)
    tag = cfg.get("tag")
    full = f"{name.split('.')[0]}.{tag}" if tag else name
    if not (cfg.get("hf_hub_id") or cfg.get("url") or cfg.get("file")):
        raise SVDWidgetsError(
            f"timm has no pretrained weights for {name!r}: pass pretrained=False for random "
            "weights, or pick a name of timm.list_pretrained()"
        )
    cached = _timm_cached_file(cfg)
    local = cached[0] if cached is not None else None
    if cached is None and not download:
        raise SVDWidgetsError(
            f"the pretrained weights of timm model {full!r} are not cached on this machine "
            f"({_timm_source(cfg)}), and download=False: fetch them once where there is a "
            "network (timm.create_model(name, pretrained=True)), pass download=True, or pass "
            "pretrained=False for random weights"
        )
    try:
        if cached is not None:  # read the cached file itself: no hub request at all
            overlay = {"file": str(cached[0]), "source": None, "custom_load": cached[1]}
            model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay)
        else:
            model = timm.create_model(name, pretrained=True)
    except OSError as err:
        raise SVDWidgetsError(
            f"could not download the weights of timm model {full!r} from {_timm_source(cfg)} "
            f"({type(err).__name__}: {err}): no network? Or pass pretrained=False"
        ) from err
    return ExternalModel(
        _ready(model),
        name,
        "timm",
        input_shape,
        True,
        weights=f"{full} ({local})" if local is not None else full,
        mean=_floats(cfg.get("mean")),
        std=_floats(cfg.get("std")),
        class_names=_names(cfg.get("label_names")) or _timm_class_names(timm, model),
    )


def _import(library: str, name: str) -> ModuleType:
    """Import torchvision or timm, or say why not (with their own error, on one line)."""
    import importlib

    try:
        return importlib.import_module(library)
    except Exception as err:  # ImportError, or torchvision's RuntimeError beside a foreign torch
        detail = f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
        try:
            version = metadata.version(library)
        except metadata.PackageNotFoundError:
            version = None
        needs = " (timm needs torchvision)" if library == "timm" else ""
        if version is None:
            what = f"{library} is not installed ({detail}): pip install {library}{needs}"
        else:
            what = (
                f"{library} {version} is installed but does not import beside torch "
                f"{torch.__version__} ({detail}): install the build made for this torch{needs}"
            )
        raise SVDWidgetsError(
            f"cannot build {library} model {name!r}: {what}; or build the model yourself and "
            "pass it to svdwidgets.profile"
        ) from err


def _unknown(library: str, name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
    hint = f"close matches: {', '.join(close)}" if close else f"{len(known)} names are known"
    return f"unknown {library} model {name!r} ({hint})"


def _builder_module(tv: ModuleType, name: str) -> str:
    try:
        return str(tv.models.get_model_builder(name).__module__)
    except Exception:
        return "another torchvision.models submodule"


def _weights_entry(enum: Any, name: str, weights: str) -> Any:
    if not isinstance(weights, str):
        raise SVDWidgetsError(f"weights must be an entry name like 'DEFAULT', got {weights!r}")
    key = weights.split(".")[-1]
    entries = [e.name for e in enum]
    if key != "DEFAULT" and key not in entries:
        raise SVDWidgetsError(
            f"torchvision model {name!r} has no weights {weights!r}; its weights are "
            f"{entries} (or 'DEFAULT')"
        )
    return enum[key] if key != "DEFAULT" else enum.DEFAULT


def _torchvision_input_shape(entry: Any) -> tuple[int, int, int]:
    crop = getattr(entry.transforms(), "crop_size", None)
    if isinstance(crop, (list, tuple)) and crop:
        h = int(crop[0])
        w = int(crop[1]) if len(crop) > 1 else h
        return (3, h, w)
    return _DEFAULT_INPUT


def _shape(value: object) -> tuple[int, int, int]:
    if isinstance(value, (list, tuple)) and len(value) == 3:
        c, h, w = (int(v) for v in value)
        return (c, h, w)
    return _DEFAULT_INPUT


def _timm_cached_file(cfg: dict[str, Any]) -> tuple[Path, bool] | None:
    """The cached weights file timm would read for ``cfg``, and whether it needs the model's
    own loader (``custom_load``: e.g. original ``.npz`` files); None if not cached. Never
    downloads."""
    custom = bool(cfg.get("custom_load", False))
    if cfg.get("file"):
        path = Path(cfg["file"])
        return (path, custom) if path.exists() else None
    repo = cfg.get("hf_hub_id")
    if repo:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        if cfg.get("hf_hub_filename"):
            found = try_to_load_from_cache(repo, cfg["hf_hub_filename"])
            if isinstance(found, str):
                return Path(found), custom
        for filename in ("model.safetensors", "pytorch_model.bin"):  # timm's native files
            found = try_to_load_from_cache(repo, filename)
            if isinstance(found, str):
                return Path(found), False
    url = cfg.get("url")
    if isinstance(url, (list, tuple)):
        url = url[0] if url else None
    if isinstance(url, str) and url:
        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
        if path.exists():
            return path, custom
    return None


def _as_dict(cfg: object) -> dict[str, Any]:
    """timm keeps a model's pretrained config as a dict (older versions: a dataclass)."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return dataclasses.asdict(cfg)
    return dict(cfg) if isinstance(cfg, dict) else {}


def _timm_source(cfg: dict[str, Any]) -> str:
    if cfg.get("hf_hub_id"):
        return f"Hugging Face hub repository {cfg['hf_hub_id']}"
    return str(cfg.get("url") or cfg.get("file"))


def _timm_class_names(timm: ModuleType, model: nn.Module) -> list[str] | None:
    """ImageNet class descriptions, where timm knows them (``timm.data.ImageNetInfo``)."""
    try:
        subset = timm.data.infer_imagenet_subset(model)
        if subset is None:
            return None
        return _names(timm.data.ImageNetInfo(subset).label_descriptions())
    except Exception:
        return None


def _ready(model: nn.Module) -> nn.Module:
    return model.eval()


def _floats(values: object) -> tuple[float, ...] | None:
    if isinstance(values, (list, tuple)) and values:
        return tuple(float(v) for v in values)
    return None


def _names(values: object) -> list[str] | None:
    if isinstance(values, (list, tuple)) and values:
        return [str(v) for v in values]
    return None
