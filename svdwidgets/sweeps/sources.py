"""What a sweep runs over: checkpoint files, globs, ``(name, callable)`` pairs, zoo names.

A :class:`Source` is a small picklable description: a worker loads the model from it itself, so
no model ever travels through a scheduler.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from svdwidgets.errors import SVDWidgetsError

_EPOCH = re.compile(r"(?:^|[^a-z])(?:epoch|ep)[_\-=]?(\d+)", re.IGNORECASE)
_STEP = re.compile(r"(?:^|[^a-z])(?:step|iter|it)[_\-=]?(\d+)", re.IGNORECASE)
_ZOO = {"torchvision": "torchvision", "timm": "timm"}


@dataclass(frozen=True)
class Source:
    """One model of a sweep. ``kind`` is ``checkpoint``, ``callable`` or ``zoo``."""

    name: str
    kind: str
    path: str | None = None
    arch: str | None = None
    build: Callable[[], nn.Module] | None = None
    zoo: str | None = None

    @property
    def epoch(self) -> int | None:
        found = _EPOCH.search(self.name)
        return int(found.group(1)) if found else None

    @property
    def step(self) -> int | None:
        found = _STEP.search(self.name)
        return int(found.group(1)) if found else None

    def identity(self) -> dict[str, Any]:
        """What the cached result depends on: a changed file (size, mtime) is a new source."""
        ident: dict[str, Any] = {"name": self.name, "kind": self.kind, "arch": self.arch}
        if self.path is not None:
            stat = Path(self.path).stat()
            ident.update(
                path=str(Path(self.path).resolve()), size=stat.st_size, mtime_ns=stat.st_mtime_ns
            )
        if self.build is not None:
            ident["build"] = f"{getattr(self.build, '__module__', '?')}." + getattr(
                self.build, "__qualname__", repr(self.build)
            )
        if self.zoo is not None:
            ident["zoo"] = self.zoo
        return ident

    def load(self) -> tuple[nn.Module, tuple[int, ...] | None]:
        """The model (in eval mode) and the input shape it says it takes, if it does."""
        from svdwidgets import cli

        if self.kind == "checkpoint":
            assert self.path is not None
            src = cli.load_checkpoint(Path(self.path), arch=self.arch)
            return src.model, src.input_shape
        if self.kind == "zoo":
            assert self.zoo is not None
            src = cli.load_model(self.zoo, pretrained=False)
            return src.model.eval(), src.input_shape
        assert self.build is not None
        model = self.build()
        if not isinstance(model, nn.Module):
            raise SVDWidgetsError(
                f"source {self.name!r}: its callable returned a {type(model).__name__}, "
                "not a torch.nn.Module"
            )
        shape: Any = getattr(model, "input_shape", None)
        return model.eval(), tuple(shape) if isinstance(shape, (tuple, list)) else None


def cache_key(source: Source, input_shape: tuple[int, ...] | None, options: dict[str, Any]) -> str:
    """The file name of a source's result: readable name + a hash of everything it depends on."""
    text = json.dumps(
        {"source": source.identity(), "input_shape": input_shape, "options": options},
        sort_keys=True,
        default=repr,
    )
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", source.name)[:80]
    return f"{safe}-{digest}"


def resolve(sources: object, arch: str | None) -> list[Source]:
    """Every source the argument names, in order; a glob expands sorted; names are unique."""
    if isinstance(sources, (str, Path)) or (
        isinstance(sources, tuple) and len(sources) == 2 and callable(sources[1])
    ):
        sources = [sources]
    if not isinstance(sources, Iterable):
        raise SVDWidgetsError(
            f"sources must be a list of paths, globs, (name, callable) pairs or zoo names, "
            f"got {type(sources).__name__}"
        )
    out: list[Source] = []
    for item in sources:
        out.extend(_one(item, arch))
    if not out:
        raise SVDWidgetsError(f"sources {sources!r} name no checkpoint or model")
    names = [s.name for s in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SVDWidgetsError(f"two sources have the same name: {dupes}; rename one")
    return out


def _one(item: object, arch: str | None) -> list[Source]:
    if isinstance(item, tuple) and len(item) == 2:
        name, build = item
        if not isinstance(name, str) or not callable(build):
            raise SVDWidgetsError(f"a pair source must be (name: str, callable), got {item!r}")
        return [Source(name, "callable", build=build)]
    if isinstance(item, Path):
        item = str(item)
    if not isinstance(item, str):
        raise SVDWidgetsError(f"cannot sweep over {item!r} ({type(item).__name__})")
    library, sep, _ = item.partition(":")
    if sep and library in _ZOO:
        if importlib.util.find_spec(_ZOO[library]) is None:
            raise SVDWidgetsError(
                f"source {item!r} needs the package {_ZOO[library]!r}, which does not import here"
            )
        return [Source(item, "zoo", zoo=item)]
    if glob.has_magic(item):
        paths = sorted(glob.glob(str(Path(item).expanduser())))
        if not paths:
            raise SVDWidgetsError(f"the glob {item!r} matches no file")
    else:
        paths = [str(Path(item).expanduser())]
    found = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise SVDWidgetsError(f"no such checkpoint file: {p}")
        if arch is None:
            raise SVDWidgetsError(
                f"checkpoint {p} needs its architecture: pass arch= (as the CLI's --arch: "
                "default, a torchvision name, timm:NAME or package.module:callable)"
            )
        found.append(Source(path.stem, "checkpoint", path=str(path), arch=arch))
    return found
