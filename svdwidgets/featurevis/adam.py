"""Adam on the one tensor a render optimises, without ``torch.optim``.

Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", ICLR) is Lucent's
optimiser (``torch.optim.Adam``, lr 0.05). This is the same update as ``torch.optim.Adam``
with its defaults (betas 0.9 / 0.999, eps 1e-8, no weight decay, no AMSGrad), written out on
one tensor: five in-place ops per step. Two reasons not to call ``torch.optim`` here: creating
the first optimiser of a process imports ``torch._dynamo`` (1.3 s on our CPUs, paid by the
first render a notebook asks for), and every ``Optimizer.step`` goes through profiler and
compiler wrappers that cost as much as the update itself on a small image batch.
"""

from __future__ import annotations

import torch

from svdwidgets.errors import SVDWidgetsError

__all__ = ["Adam"]


class Adam:
    """``torch.optim.Adam([param], lr=lr, betas=betas, eps=eps)`` for one tensor."""

    def __init__(
        self,
        param: torch.Tensor,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if not lr > 0:
            raise SVDWidgetsError(f"lr must be positive, got {lr!r}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1) or not eps >= 0:
            raise SVDWidgetsError(f"betas must lie in [0, 1) and eps >= 0, got {betas}, {eps}")
        self.param = param
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), eps
        self.steps = 0
        self._m = torch.zeros_like(param, memory_format=torch.preserve_format)
        self._v = torch.zeros_like(param, memory_format=torch.preserve_format)

    def zero_grad(self) -> None:
        self.param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grad = self.param.grad
        if grad is None:
            raise SVDWidgetsError("Adam.step() before a backward pass set the gradient")
        b1, b2 = self.betas
        self.steps += 1
        self._m.lerp_(grad, 1 - b1)
        self._v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        step_size = self.lr / (1 - b1**self.steps)
        denom = (self._v.sqrt() / (1 - b2**self.steps) ** 0.5).add_(self.eps)
        self.param.addcdiv_(self._m, denom, value=-step_size)
