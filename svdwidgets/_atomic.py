"""Writing a file so that no reader ever sees part of it (a kill or a full disk mid-write)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(
    path: Path, data: bytes, *, mode: int | None = None, durable: bool = False
) -> None:
    """Write ``data`` to ``path``: a hidden temporary file beside it (same file system), then
    ``os.replace``. On any failure the temporary file is removed and the error propagates;
    ``path`` keeps its previous content, or stays absent.

    ``mode``: permissions to give the file (``mkstemp`` makes it owner-only); ``durable``:
    fsync before the rename, so that the new content survives a crash of the machine.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
