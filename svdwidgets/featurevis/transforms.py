"""Random image transforms for feature visualization, one draw per image, in one batched op.

Transformation robustness (Olah et al. 2017, "Feature Visualization", Distill; Lucent's
``standard_transforms``: pad, jitter, random scale, random rotation, jitter) keeps the optimised
image from exploiting single-pixel patterns. Lucent applies them with one random draw shared by
the whole batch (and ``lucent.optvis.transform`` needs torchvision); here every image gets its
own draw from its own seeded generator, and all of pad + translate + scale + rotate is one
``affine_grid`` / ``grid_sample`` call, cropped back to the input size so the layer sees
activations of the profiled shape. Because each image's draws depend only on its own seed, a
batched render and one-image renders see the same transforms.

All draws are made before the optimisation starts, so a render builds the sampling grids of
many steps at once (:class:`Schedule`); each step then costs one ``grid_sample`` and one add.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["Jitter", "Schedule", "apply", "draw"]

# Lucent's standard_transforms: scales 1 + (i - 5) / 50, i = 0..10, and rotations in degrees
# from -10..10 plus five extra zeros.
LUCENT_SCALES = tuple(1 + (i - 5) / 50.0 for i in range(11))
LUCENT_ANGLES = tuple(float(a) for a in [*range(-10, 11), 0, 0, 0, 0, 0])


@dataclass(frozen=True)
class Jitter:
    """The transform family: translations up to ``shift`` pixels, Lucent's scales and angles.

    ``fill`` is the grey value shown where the transformed image leaves the frame (Lucent pads
    with 0.5). ``Jitter.for_size(n)`` scales Lucent's 128-px translations to an ``n``-px image:
    its ``standard_transforms`` translate twice, by ``jitter(8)`` and ``jitter(4)`` (offsets
    0-7 and 0-3 pixels, a span of 10 pixels; the pad of 12 only makes room for them), so here
    ``shift = 5 n / 128`` (at least 1) and offsets are drawn in ``-shift..shift``.
    """

    shift: int
    scale: bool = True
    rotate: bool = True
    fill: float = 0.5

    @staticmethod
    def for_size(size: int) -> Jitter:
        return Jitter(shift=max(1, round(size * 5 / 128)))

    def describe(self) -> dict[str, object]:
        return {"shift": self.shift, "scale": self.scale, "rotate": self.rotate, "fill": self.fill}


def draw(jitter: Jitter, steps: int, generator: torch.Generator) -> torch.Tensor:
    """``(steps, 4)`` draws for one image: ``dx``, ``dy`` (pixels), scale, angle (radians)."""
    shifts = torch.randint(-jitter.shift, jitter.shift + 1, (steps, 2), generator=generator)
    scales = torch.tensor(LUCENT_SCALES)[torch.randint(0, 11, (steps,), generator=generator)]
    angles = torch.tensor(LUCENT_ANGLES)[
        torch.randint(0, len(LUCENT_ANGLES), (steps,), generator=generator)
    ]
    if not jitter.scale:
        scales = torch.ones_like(scales)
    if not jitter.rotate:
        angles = torch.zeros_like(angles)
    return torch.cat([shifts.float(), scales[:, None], (angles * math.pi / 180)[:, None]], dim=1)


def _theta(params: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``affine_grid``'s ``(N, 2, 3)`` matrices for ``params`` ``(N, 4)`` (see :func:`apply`)."""
    p = params.to(torch.float32)
    dx, dy, s, a = p[:, 0], p[:, 1], p[:, 2], p[:, 3]
    cos, sin = torch.cos(a) / s, torch.sin(a) / s
    # affine_grid works in [-1, 1] coordinates (align_corners=False): a pixel is 2/size wide
    tx, ty = -2 * dx / w, -2 * dy / h
    return torch.stack(
        [
            torch.stack([cos, -sin * h / w, cos * tx - sin * ty * h / w], dim=1),
            torch.stack([sin * w / h, cos, sin * tx * w / h + cos * ty], dim=1),
        ],
        dim=1,
    )


def apply(images: torch.Tensor, params: torch.Tensor, fill: float) -> torch.Tensor:
    """Transform ``images`` ``(B, C, H, W)`` by per-image ``params`` ``(B, 4)`` (see :func:`draw`).

    Output pixel ``p`` samples the input at ``R(-angle) (p - c - d) / scale + c`` (bilinear),
    ``fill`` outside the frame: the image is scaled and rotated about its centre ``c`` and
    shifted by ``d``.
    """
    b, _, h, w = images.shape
    theta = _theta(params.to(images.device), h, w)
    grid = F.affine_grid(theta.to(images.dtype), [b, images.shape[1], h, w], align_corners=False)
    out = F.grid_sample(
        images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return out + fill


class Schedule:
    """The transforms of every step of a render, :func:`apply` by :func:`apply`, built ahead.

    ``draws`` ``(B, steps, 4)`` are each image's :func:`draw`. ``schedule(images, step)``
    equals ``apply(images, draws[:, step], fill)`` up to float rounding, at the cost of one
    ``grid_sample`` and one add: the grids (``affine_grid``) and the background
    ``fill * (1 - grid_sample(1))`` (the sampling is linear: ``gs(x - f) + f = gs(x) +
    f (1 - gs(1))``) are made for blocks of steps at once, holding at most about
    ``budget_bytes`` of grids.
    """

    def __init__(
        self,
        draws: torch.Tensor,
        size: tuple[int, int],
        fill: float,
        device: torch.device,
        dtype: torch.dtype = torch.float32,
        budget_bytes: int = 32 * 2**20,
    ) -> None:
        if draws.ndim != 3 or draws.shape[2] != 4:
            raise ValueError(f"draws must be (B, steps, 4), got {tuple(draws.shape)}")
        self.batch, self.steps = int(draws.shape[0]), int(draws.shape[1])
        self.size, self.fill = size, float(fill)
        self.device, self.dtype = device, dtype
        h, w = size
        # (steps, B, 2, 3): every step's matrices, made once
        flat = draws.transpose(0, 1).reshape(-1, 4)
        self._theta = _theta(flat, h, w).reshape(self.steps, self.batch, 2, 3).to(device)
        per_step = self.batch * h * w * 2 * torch.finfo(dtype).bits // 8
        self.block = max(1, min(self.steps, budget_bytes // max(per_step, 1)))
        self._start = -1
        self._grids = self._background = torch.empty(0)

    def _build(self, start: int) -> None:
        h, w = self.size
        stop = min(self.steps, start + self.block)
        n = (stop - start) * self.batch
        theta = self._theta[start:stop].reshape(n, 2, 3).to(self.dtype)
        # affine_grid's grid (align_corners=False: pixel centres at (2i + 1)/size - 1), by
        # broadcasting: its batched matmul with an inner dimension of 3 is ten times slower
        ys = (torch.arange(h, device=self.device, dtype=self.dtype) * 2 + 1) / h - 1
        xs = (torch.arange(w, device=self.device, dtype=self.dtype) * 2 + 1) / w - 1
        t = theta[:, :, None, None, :]  # (n, 2, 1, 1, 3)
        grids = (t[..., 0] * xs + t[..., 1] * ys[:, None] + t[..., 2]).movedim(1, -1).contiguous()
        ones = torch.ones(n, 1, h, w, device=self.device, dtype=self.dtype)
        inside = F.grid_sample(
            ones, grids, mode="bilinear", padding_mode="zeros", align_corners=False
        )
        self._grids = grids.reshape(stop - start, self.batch, h, w, 2)
        self._background = (self.fill * (1 - inside)).reshape(stop - start, self.batch, 1, h, w)
        self._start = start

    def __call__(self, images: torch.Tensor, step: int) -> torch.Tensor:
        if not 0 <= step < self.steps:
            raise IndexError(f"step {step} outside the schedule's {self.steps} steps")
        if self._start < 0 or not self._start <= step < self._start + self.block:
            self._build(step - step % self.block)
        k = step - self._start
        out = F.grid_sample(
            images, self._grids[k], mode="bilinear", padding_mode="zeros", align_corners=False
        )
        return out + self._background[k]
