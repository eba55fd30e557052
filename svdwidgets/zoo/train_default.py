"""Train the bundled default model: ``python -m svdwidgets.zoo.train_default``.

Deterministic by construction: ``torch.manual_seed``, a seeded ``torch.Generator`` for the
batch order and the augmentation, ``torch.use_deterministic_algorithms(True)``, two CPU
threads, and the fixed stratified split of :func:`svdwidgets.zoo.data.split_indices` (4,000
train digits, 1,000 held out). Training uses AdamW with a one-cycle learning-rate schedule and
random shifts of up to two pixels (zero fill) as the only augmentation. The script saves the
float32 ``state_dict`` with ``torch.save`` (by default over the bundled file) and prints the
held-out accuracy, which then goes into
:data:`svdwidgets.zoo.default.DEFAULT_TEST_ACCURACY` by hand.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.zoo.data import load_digits, split_indices
from svdwidgets.zoo.default import WEIGHTS_PATH, SmallResNet

__all__ = ["accuracy", "main", "train"]

SEED = 0
EPOCHS = 30
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4
MAX_SHIFT = 2


def _shift(images: torch.Tensor, generator: torch.Generator, max_shift: int) -> torch.Tensor:
    """Translate each image by a random integer (dy, dx) in [-max_shift, max_shift], zero fill."""
    if max_shift == 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (max_shift, max_shift, max_shift, max_shift))
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
    out = torch.empty_like(images)
    for i, (dy, dx) in enumerate(offsets.tolist()):
        out[i] = padded[i, :, dy : dy + h, dx : dx + w]
    return out


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` that ``model`` (put in eval mode) classifies as ``labels``."""
    model.eval()
    predictions = torch.cat([model(chunk).argmax(dim=1) for chunk in images.split(500)])
    return float((predictions == labels).float().mean())


def train(epochs: int = EPOCHS, seed: int = SEED) -> tuple[SmallResNet, float]:
    """Train a :class:`SmallResNet` from scratch; return it (eval mode) and its test accuracy.

    Changes global torch state, as a script does: it seeds the global generator and turns on
    ``torch.use_deterministic_algorithms``. Raises :class:`~svdwidgets.errors.SVDWidgetsError`
    if ``epochs`` is not a positive int or ``seed`` is not an int.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise SVDWidgetsError(f"epochs must be a positive int, got {epochs!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SVDWidgetsError(f"seed must be an int, got {seed!r}")
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    generator = torch.Generator().manual_seed(seed)

    images, labels = load_digits()
    train_idx, test_idx = split_indices(labels)
    x_train, y_train = images[train_idx], labels[train_idx]
    x_test, y_test = images[test_idx], labels[test_idx]

    model = SmallResNet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    steps_per_epoch = -(-len(x_train) // BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=LEARNING_RATE, epochs=epochs, steps_per_epoch=steps_per_epoch
    )
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total = 0.0
        for batch in order.split(BATCH_SIZE):
            x = _shift(x_train[batch], generator, MAX_SHIFT)
            loss = F.cross_entropy(model(x), y_train[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        test_acc = accuracy(model, x_test, y_test)
        print(f"epoch {epoch + 1:2d}  loss {total / len(x_train):.4f}  test acc {test_acc:.4f}")
    model.eval()
    return model, accuracy(model, x_test, y_test)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: train, save the float32 state_dict, print the held-out accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--output", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    start = time.perf_counter()
    model, test_acc = train(epochs=args.epochs, seed=args.seed)
    elapsed = time.perf_counter() - start
    state = {k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save(state, args.output)
    print(f"test accuracy {test_acc:.4f} ({round(test_acc * 1000)}/1000), {elapsed:.0f} s")
    print(f"saved {args.output} ({args.output.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
