"""Random image transforms for feature visualization, one draw per image, in one batched op.

Transformation robustness (Olah et al. 2017, "Feature Visualization", Distill; Lucent's
``standard_transforms``: pad, jitter, random scale, random rotation, jitter) keeps the optimised
image from exploiting single-pixel patterns. Lucent applies them with one random draw shared by
the whole batch (and ``lucent.optvis.transform`` needs torchvision); here every image gets its
own draw from its own seeded generator, and all of pad + translate + scale + rotate is one
``affine_grid`` / ``grid_sample`` call, cropped back to the input size so the layer sees
activations of the profiled shape. Because each image's draws depend only on its own seed, a
batched render and one-image renders see the same transforms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["Jitter", "apply", "draw"]

# Lucent's standard_transforms: scales 1 + (i - 5) / 50, i = 0..10, and rotations in degrees
# from -10..10 plus five extra zeros.
LUCENT_SCALES = tuple(1 + (i - 5) / 50.0 for i in range(11))
LUCENT_ANGLES = tuple(float(a) for a in [*range(-10, 11), 0, 0, 0, 0, 0])


@dataclass(frozen=True)
class Jitter:
    """The transform family: translations up to ``shift`` pixels, Lucent's scales and angles.

    ``fill`` is the grey value shown where the transformed image leaves the frame (Lucent pads
    with 0.5). ``Jitter.for_size(n)`` scales Lucent's 128-px setting (pad 12 + jitter 8 + 4) to
    an ``n``-px image.
    """

    shift: int
    scale: bool = True
    rotate: bool = True
    fill: float = 0.5

    @staticmethod
    def for_size(size: int) -> Jitter:
        return Jitter(shift=max(1, round(size * 12 / 128)))

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


def apply(images: torch.Tensor, params: torch.Tensor, fill: float) -> torch.Tensor:
    """Transform ``images`` ``(B, C, H, W)`` by per-image ``params`` ``(B, 4)`` (see :func:`draw`).

    Output pixel ``p`` samples the input at ``R(-angle) (p - c - d) / scale + c`` (bilinear),
    ``fill`` outside the frame: the image is scaled and rotated about its centre ``c`` and
    shifted by ``d``.
    """
    b, _, h, w = images.shape
    p = params.to(device=images.device, dtype=torch.float32)
    dx, dy, s, a = p[:, 0], p[:, 1], p[:, 2], p[:, 3]
    cos, sin = torch.cos(a) / s, torch.sin(a) / s
    # affine_grid works in [-1, 1] coordinates (align_corners=False): a pixel is 2/size wide
    tx, ty = -2 * dx / w, -2 * dy / h
    theta = torch.stack(
        [
            torch.stack([cos, -sin * h / w, cos * tx - sin * ty * h / w], dim=1),
            torch.stack([sin * w / h, cos, sin * tx * w / h + cos * ty], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta.to(images.dtype), [b, images.shape[1], h, w], align_corners=False)
    out = F.grid_sample(
        images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return out + fill
