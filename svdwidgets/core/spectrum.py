"""What :func:`svdwidgets.conv_svd` returns: the singular values and, on request, vectors.

Every spectrum has ``values`` (a 1-D CPU tensor, descending, with multiplicity), ``method`` (which
method ran), ``exact`` (whether the values are those of the operator exactly as
``torch.nn.functional.conv2d`` computes it) and ``vector(i)``, the ``i``-th real unit singular
vector pair ``(v, u)`` with ``A v = σ_i u``: ``v`` in the input space ``(c_in, H, W)``, ``u`` in
the output space ``(c_out, H', W')`` (1-D for a Linear layer; exchanged for a ConvTranspose2d,
whose input space is its forward convolution's output space).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import scipy.linalg
import torch

from svdwidgets.core.fft import BlockValues, PolyphaseKernel, symbols
from svdwidgets.core.geometry import ConvGeometry
from svdwidgets.core.operator import ConvOperator
from svdwidgets.core.solvers import scipy_blas_single_thread, single_threaded_lapack
from svdwidgets.errors import SVDWidgetsError

__all__ = ["DenseSpectrum", "FFTSpectrum", "FrequencyDirection", "Spectrum", "TopKSpectrum"]


class Spectrum:
    """Base class: values, the method that ran, exactness, and singular vectors."""

    method: str
    exact: bool
    values: torch.Tensor
    geometry: ConvGeometry | None
    solver: str

    def __init__(
        self,
        values: torch.Tensor,
        *,
        method: str,
        exact: bool,
        geometry: ConvGeometry | None,
        solver: str,
    ) -> None:
        self.values = values
        self.method = method
        self.exact = exact
        self.geometry = geometry
        self.solver = solver

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def __repr__(self) -> str:
        top = f"{float(self.values[0]):.4g}" if len(self) else "-"
        return (
            f"{type(self).__name__}(method={self.method!r}, exact={self.exact}, "
            f"n={len(self)}, sigma_max={top})"
        )

    @property
    def sigma_max(self) -> float:
        return float(self.values[0])

    def _check_index(self, i: object) -> int:
        if isinstance(i, bool) or not isinstance(i, int):
            raise SVDWidgetsError(f"a singular vector index must be an int, got {i!r}")
        if not 0 <= i < len(self):
            raise SVDWidgetsError(
                f"singular vector index {i} is out of range: this spectrum has {len(self)} "
                f"values (method {self.method!r})"
            )
        return i

    def vector(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(v, u)``: real unit right and left singular vectors for ``values[i]``."""
        raise SVDWidgetsError(f"method {self.method!r} gives singular values only, no vectors")

    def vectors(self, indices: Iterable[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``[vector(i) for i in indices]``, computed together where the method can share work
        (the ``fft`` method decomposes each frequency block once for all its directions)."""
        return [self.vector(i) for i in indices]

    def _oriented(self, v: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shape the forward operator's vectors for the layer the user gave."""
        g = self.geometry
        if g is None:
            return v, u
        if g.kind == "linear":
            return v.reshape(-1), u.reshape(-1)
        if g.kind == "conv_transpose":
            return u, v
        return v, u


_SEPARATION = 0.01
"""Inverse iteration is used for a block's ``rank``-th triplet when its σ² is this far (relatively)
from its neighbours'; closer ones take the block's SVD."""


def _inverse_iteration(
    block: torch.Tensor,
    rank: int,
    values: torch.Tensor,
    cache: dict[tuple[int, ...], Any],
    key: tuple[int, ...],
) -> tuple[torch.Tensor, float, torch.Tensor] | None:
    """``(u, σ, v)`` of ``block``'s ``rank``-th singular value by inverse iteration on the Gram
    matrix of its smaller side, shifted to ``σ_r² (1 + 1e-4)``; None where the values say the
    triplet is not well separated or the residual check fails (then the caller takes the SVD).
    ``values`` are the block's singular values, descending (those the spectrum computed)."""
    sv = values.double()
    if rank >= len(sv) or not float(sv[0]) > 0:
        return None
    lam = float(sv[rank]) ** 2
    if lam < 0.01 * float(sv[0]) ** 2:
        return None
    above = float(sv[rank - 1]) ** 2 if rank > 0 else math.inf
    below = float(sv[rank + 1]) ** 2 if rank + 1 < len(sv) else 0.0
    if above - lam < _SEPARATION * lam or lam - below < _SEPARATION * lam:
        return None
    m, n = block.shape
    if rank + 1 >= len(sv) and len(sv) < min(m, n):
        return None  # the values were cut at k: the neighbour below is unknown
    right_side = n <= m
    gram_key = (*key, -2)
    if gram_key not in cache:
        cache[gram_key] = block.mH @ block if right_side else block @ block.mH
    gram = cache[gram_key]
    size = gram.shape[0]
    shifted = gram - (lam * (1 + 1e-4)) * torch.eye(size, dtype=gram.dtype)
    lu, pivots = torch.linalg.lu_factor(shifted)
    gen = torch.Generator().manual_seed(rank)
    x = torch.randn(size, 1, generator=gen, dtype=gram.dtype)
    for _ in range(4):
        x = torch.linalg.lu_solve(lu, pivots, x)
        x = x / torch.linalg.vector_norm(x)
    x = x[:, 0]
    gx = gram @ x
    rayleigh = float((x.conj() @ gx).real)
    if float(torch.linalg.vector_norm(gx - rayleigh * x)) > 1e-3 * lam or rayleigh <= 0:
        return None
    if right_side:
        right = x
        image = block @ right
        sigma = float(torch.linalg.vector_norm(image))
        left = image / sigma
    else:
        left = x
        image = block.mH @ left
        sigma = float(torch.linalg.vector_norm(image))
        right = image / sigma
    return left, sigma, right


_GRAM_FLOOR = 1e-4
"""A block's ``rank``-th triplet comes from its Gram matrix when ``σ_r ≥ _GRAM_FLOOR · σ_1``;
smaller ones (where dividing by ``σ_r`` would cost digits) take the block's SVD."""


def _subset_size(rank: int, side: int) -> int:
    """How many top eigenpairs one Gram decomposition serving ``rank`` computes: the next
    power of two ≥ ``rank + 1`` (at least 8), so that the number depends on ``rank`` alone and
    :meth:`FFTSpectrum.vector` and :meth:`FFTSpectrum.vectors` give the same bits."""
    return min(side, max(8, 1 << rank.bit_length()))


def _gram_pairs(block: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(left, sigma, right)``: the top ``count`` singular triplets of a complex block, from
    the top eigenpairs of its Gram matrix on the smaller side, formed in complex128 and solved
    by LAPACK's MRRR for that subset only (``scipy.linalg.eigh(subset_by_index=...)``,
    ``zheevr``); the other side's vectors are ``B x / σ``. Columns descending, in the block's
    dtype.

    What a block whose values are too close for inverse iteration gets: two to three times
    cheaper than its SVD at 512 channels (one tridiagonalisation, no QR sweeps for all
    vectors; ResNet-18's 512x1024 stride-2 shortcut blocks 0.08 s against 0.2 s), one
    decomposition for every rank of the subset, and in double precision, where near-equal
    values cost little accuracy (angle error about ``eps64 · σ_1² / gap``).
    """
    wide = block.to(torch.complex128 if block.is_complex() else torch.float64)
    m, n = wide.shape
    right_side = n <= m
    gram = wide.mH @ wide if right_side else wide @ wide.mH
    size = gram.shape[0]
    count = min(count, size)
    with scipy_blas_single_thread():  # torch's idle OpenMP threads would fight its own
        _, vecs = scipy.linalg.eigh(
            gram.numpy(), subset_by_index=[size - count, size - 1], driver="evr", check_finite=False
        )
    x = torch.from_numpy(vecs[:, ::-1].copy())  # (a one-column view keeps a negative stride)
    image = wide @ x if right_side else wide.mH @ x
    sigma = torch.linalg.vector_norm(image, dim=0)
    other = image / sigma.clamp_min(torch.finfo(sigma.dtype).tiny)
    left, right = (other, x) if right_side else (x, other)
    return left.to(block.dtype), sigma.to(block.real.dtype), right.to(block.dtype)


def _gram_triplet(
    matrix: torch.Tensor,
    values: torch.Tensor,
    rank: int,
    cache: dict[tuple[int, ...], Any],
    key: tuple[int, ...],
) -> tuple[torch.Tensor, float, torch.Tensor] | None:
    """``(u, σ, v)``: ``matrix``'s ``rank``-th triplet from :func:`_gram_pairs`, the subset's
    decomposition kept in ``cache`` under ``(*key, subset size)``; None where ``σ_r`` (from its
    descending ``values``) is below ``_GRAM_FLOOR · σ_1`` or beyond the matrix's rank."""
    side = min(matrix.shape)
    if not (
        rank < min(side, len(values)) and float(values[rank]) >= _GRAM_FLOOR * float(values[0]) > 0
    ):
        return None
    subset_key = (*key, _subset_size(rank, side))
    if subset_key not in cache:
        cache[subset_key] = _gram_pairs(matrix, subset_key[-1])
    left, sigma, right = cache[subset_key]
    return left[:, rank], float(sigma[rank]), right[:, rank]


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / torch.linalg.vector_norm(x)


@dataclass(frozen=True)
class FrequencyDirection:
    """A singular vector of the ``fft`` method seen in the frequency domain.

    The real singular vector is the real (``part == "real"``) or imaginary part of the plane
    wave ``exp(2πi (f_h j / N_h + f_w l / N_w))`` times ``right`` on the coarse (polyphase)
    grid. ``right`` is the complex channel direction, shape ``(c_in, s_h, s_w)`` (zero outside
    the vector's group); ``left`` the output channel direction, shape ``(c_out,)``.
    """

    sigma: float
    frequency: tuple[int, int]
    grid: tuple[int, int]
    group: int
    rank: int
    part: str
    right: torch.Tensor
    left: torch.Tensor


class FFTSpectrum(Spectrum):
    """Values of the ``fft`` method, with the per-frequency view.

    ``frequency_values`` has shape ``(N_h, N_w, groups * r)``: each frequency's singular values
    on the full plane, descending; ``frequency_of(i)`` names the frequency of ``values[i]``.
    """

    def __init__(
        self,
        blocks: BlockValues,
        kernel: PolyphaseKernel,
        geometry: ConvGeometry,
        *,
        exact: bool,
        solver: str,
        k: int | None,
    ) -> None:
        # Expanded and sorted where the block values were computed (on a GPU the sort of
        # millions of values is what the CPU would spend most of a layer's time on); the
        # spectrum then keeps everything on the CPU.
        per_entry = blocks.values.shape[2] * blocks.values.shape[3]
        flat = blocks.values.reshape(-1)
        mult = blocks.multiplicity.to(flat.device)
        repeats = mult.reshape(-1).repeat_interleave(per_entry)
        expanded = flat.repeat_interleave(repeats)
        values, order = torch.sort(expanded, descending=True, stable=True)
        if k is not None:
            values, order = values[:k], order[:k]
        values, order, repeats = values.cpu(), order.cpu(), repeats.cpu()
        if blocks.values.device.type != "cpu":
            blocks = dataclasses.replace(blocks, values=blocks.values.cpu())
        super().__init__(values, method="fft", exact=exact, geometry=geometry, solver=solver)
        self._blocks = blocks
        self._kernel = kernel
        self._order = order
        self._repeats = repeats
        self._ends = repeats.cumsum(0)
        self._inverse: torch.Tensor | None = None  # position -> index, built by twin()
        self.shortcut = blocks.shortcut

    @property
    def grid(self) -> tuple[int, int]:
        """The (coarse, for strided layers) frequency grid ``(N_h, N_w)``."""
        return self._blocks.grid

    @property
    def frequency_values(self) -> torch.Tensor:
        from svdwidgets.core.fft import _full_plane

        half = self._blocks.values
        full = _full_plane(half, self.grid)
        merged = full.reshape(*full.shape[:2], -1)
        return merged.sort(dim=-1, descending=True).values

    def _locate(self, i: int) -> tuple[int, int, int, int, int]:
        """``values[i]`` -> (f_h, f_w, group, rank, copy)."""
        position = int(self._order[i])
        entry = int(torch.searchsorted(self._ends, position, right=True))
        copy = position - (int(self._ends[entry]) - int(self._repeats[entry]))
        _, half_w, groups, r = self._blocks.values.shape
        fh, rest = divmod(entry, half_w * groups * r)
        fw, rest = divmod(rest, groups * r)
        group, rank = divmod(rest, r)
        return fh, fw, group, rank, copy

    @property
    def block_values(self) -> torch.Tensor:
        """``(N_h, N_w//2 + 1, groups, r)``: each half-plane frequency block's values."""
        return self._blocks.values

    @property
    def frequencies(self) -> torch.Tensor:
        """``(n, 2)`` int64: the half-plane frequency ``(f_h, f_w)`` of every value, in order.

        Row ``i`` equals ``frequency_of(i)``; vectorised for widgets that look frequencies up
        on every click.
        """
        entry = torch.searchsorted(self._ends, self._order, right=True)
        _, half_w, groups, r = self._blocks.values.shape
        block = entry // (groups * r)
        return torch.stack([block // half_w, block % half_w], dim=1)

    def frequency_of(self, i: int) -> tuple[int, int]:
        fh, fw, *_ = self._locate(self._check_index(i))
        return fh, fw

    def twin(self, i: int) -> int | None:
        """The index of the other real singular vector of ``values[i]``'s conjugate pair.

        For real weights the blocks of frequencies ``f`` and ``-f`` are complex conjugates
        (Sedghi et al. 2019): one ``σ``, and one complex plane wave whose real and imaginary
        parts (``direction(i).part``) are two orthogonal real singular vectors. Both share the
        channel direction (the real part of the complex direction), so an objective on the
        channel direction cannot tell them apart. ``None`` for a self-conjugate frequency (a
        real block: one real vector), or when the twin lies beyond the ``k`` values computed.
        """
        fh, fw, group, rank, copy = self._locate(self._check_index(i))
        nh, _ = self.grid
        _, half_w, groups, r = self._blocks.values.shape
        if int(self._blocks.multiplicity[fh, fw]) == 2:
            entry = ((fh * half_w + fw) * groups + group) * r + rank
            position = int(self._ends[entry]) - int(self._repeats[entry]) + (1 - copy)
        else:  # columns f_w = 0 and N_w/2 hold f and -f as two entries
            ch = (-fh) % nh
            if ch == fh:
                return None
            entry = ((ch * half_w + fw) * groups + group) * r + rank
            position = int(self._ends[entry]) - int(self._repeats[entry])
        if getattr(self, "_inverse", None) is None:  # (absent in spectra cached before it)
            inverse = torch.full((int(self._ends[-1]),), -1, dtype=torch.int64)
            inverse[self._order] = torch.arange(len(self._order))
            self._inverse = inverse
        j = int(self._inverse[position])  # type: ignore[index]
        return None if j < 0 else j

    def direction(self, i: int) -> FrequencyDirection:
        """The frequency, group and complex channel directions of ``values[i]``."""
        return self._direction(i, None)

    def vectors(self, indices: Iterable[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``[vector(i) for i in indices]``, with one SVD per frequency block (the top
        directions of a layer share blocks: a conjugate pair always, several ranks often);
        the same numbers as :meth:`vector`, which decomposes the block on every call."""
        blocks: dict[tuple[int, ...], Any] = {}
        return [self._vector(self._direction(i, blocks)) for i in indices]

    def _direction(self, i: int, blocks: dict[tuple[int, ...], Any] | None) -> FrequencyDirection:
        fh, fw, group, rank, copy = self._locate(self._check_index(i))
        nh, nw = self.grid
        part = "real" if copy == 0 else "imag"
        if copy == 0 and self._blocks.multiplicity[fh, fw] == 1 and 0 < fh and 2 * fh > nh:
            # Columns f_w = 0, N_w/2 hold f and -f both: the upper one gives the other part.
            part = "imag"
        ch = (-fh) % nh
        if self._blocks.multiplicity[fh, fw] == 1 and ch < fh:
            # -f's block is the conjugate of f's (real weights): decompose the lower one and
            # conjugate, so that both parts of a pair come from one decomposition, to the bit
            lvec, sigma_r, right = self._pair(ch, fw, group, rank, blocks)
            lvec, right = lvec.conj(), right.conj()
        else:
            lvec, sigma_r, right = self._pair(fh, fw, group, rank, blocks)
        # Fix the phase: the largest entry of the right vector is real and positive, so that a
        # real block (self-conjugate frequency) gives real vectors.
        anchor = right[int(right.abs().argmax())]
        phase = anchor / anchor.abs()
        right, lvec = right / phase, lvec / phase
        g = self.geometry
        assert g is not None
        sh, sw = g.stride
        c_in_g, m = g.c_in // g.groups, g.c_out // g.groups
        right_full = right.new_zeros((g.c_in, sh, sw))
        right_full[group * c_in_g : (group + 1) * c_in_g] = right.reshape(c_in_g, sh, sw)
        left_full = lvec.new_zeros((g.c_out,))
        left_full[group * m : (group + 1) * m] = lvec
        return FrequencyDirection(
            sigma=sigma_r,
            frequency=(fh, fw),
            grid=(nh, nw),
            group=group,
            rank=rank,
            part=part,
            right=right_full,
            left=left_full,
        )

    def vector(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._vector(self.direction(i))

    def _pair(
        self, fh: int, fw: int, group: int, rank: int, blocks: dict[tuple[int, ...], Any] | None
    ) -> tuple[torch.Tensor, float, torch.Tensor]:
        """``(u, σ, v)``: the ``rank``-th singular triplet of one frequency block (complex).

        Where the block's values say the triplet is well separated (σ_r within a factor 10 of
        the block's σ_1 and 1% away from its neighbours, in σ²), it comes from inverse
        iteration on the block's Gram matrix shifted just above σ_r² (one LU, a few solves:
        about 6x cheaper than the block's SVD at 512 channels), checked by its residual;
        otherwise, or when the check fails, from the top eigenpairs of the block's complex128
        Gram matrix (:func:`_gram_pairs`), and only below ``_GRAM_FLOOR · σ_1`` from the block's
        SVD. ``blocks`` (a dict) keeps what one call of :meth:`vectors` computed for the next
        directions of the same block.
        """
        cache: dict[tuple[int, ...], Any] = {} if blocks is None else blocks
        key = (fh, fw, group)
        with single_threaded_lapack():  # small blocks: torch's thread pool only costs here
            if key not in cache:
                # the block and the vectors built from it live on the CPU, as the values
                cache[key] = symbols(self._kernel, torch.tensor([[fh, fw]]))[0, group].cpu()
            block = cache[key]
            values = self._blocks.values[fh, fw, group].double()
            if getattr(self, "shortcut", "") == "single-tap":
                tapped = self._tap_pair(block, values, group, rank, cache)
                if tapped is not None:
                    return tapped
            fast = _inverse_iteration(block, rank, values, cache, key)
            if fast is not None:
                return fast
            from_gram = _gram_triplet(block, values, rank, cache, (*key, -2))
            if from_gram is not None:
                return from_gram
            svd_key = (*key, -1)
            if svd_key not in cache:
                cache[svd_key] = torch.linalg.svd(block, full_matrices=False)
            left, sigma, right_h = cache[svd_key]
        return left[:, rank], float(sigma[rank]), right_h.mH[:, rank]

    def _tap_pair(
        self,
        block: torch.Tensor,
        values: torch.Tensor,
        group: int,
        rank: int,
        cache: dict[tuple[int, ...], Any],
    ) -> tuple[torch.Tensor, float, torch.Tensor] | None:
        """The ``rank``-th triplet of a single-tap layer's block (a 1x1 conv, strided or not),
        or None below ``_GRAM_FLOOR · σ_1`` (then the block's own SVD).

        Every block is a unit phase ``c`` times the tap matrix ``T`` (the block at frequency 0),
        so ``B = (c U) Σ Vᴴ`` from one decomposition of ``T`` serves every frequency; the
        columns no tap reads (three of four in a stride-2 1x1 conv) are dropped first, and for
        real weights it is real. ResNet-50's 2048x1024 stride-2 shortcut: 102 s of per-block
        SVDs for its top 16 directions before, one Gram of side 1024 now.
        """
        tap_key = (-3, group)
        if tap_key not in cache:
            tap = symbols(self._kernel, torch.tensor([[0, 0]]))[0, group].cpu()
            used = tap.abs().amax(dim=0) > 0
            reduced = tap[:, used]
            cache[tap_key] = (tap, used, reduced if bool(reduced.imag.any()) else reduced.real)
        tap, used, reduced = cache[tap_key]
        triplet = _gram_triplet(reduced, values, rank, cache, (-4, group))
        if triplet is None:
            return None
        left, sigma, right_used = triplet
        phase = (tap.conj() * block).sum() / tap.abs().square().sum()
        right = torch.zeros(tap.shape[1], dtype=block.dtype)
        right[used] = right_used.to(block.dtype)
        return phase * left.to(block.dtype), sigma, right

    def _vector(self, d: FrequencyDirection) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.geometry
        assert g is not None
        nh, nw = d.grid
        fh, fw = d.frequency
        jh = torch.arange(nh, dtype=torch.float64)
        jw = torch.arange(nw, dtype=torch.float64)
        theta = 2 * math.pi * (fh * jh[:, None] / nh + fw * jw[None, :] / nw)
        wave = torch.polar(torch.ones_like(theta), theta).to(d.right.dtype)
        sh, sw = g.stride
        # (c_in, s_h, s_w, N_h, N_w) -> (c_in, N_h, s_h, N_w, s_w) -> (c_in, H, W)
        z_in = d.right[:, :, :, None, None] * wave
        z_in = z_in.permute(0, 3, 1, 4, 2).reshape(g.c_in, nh * sh, nw * sw)
        z_out = d.left[:, None, None] * wave
        pick = torch.real if d.part == "real" else torch.imag
        v, u = pick(z_in), pick(z_out)
        norm_v = torch.linalg.vector_norm(v)
        # |wave| = 1 everywhere: ||z_in|| = ||right|| sqrt(N_h N_w), no pass over z_in needed
        norm_z = float(torch.linalg.vector_norm(d.right)) * math.sqrt(nh * nw)
        if float(norm_v) < 1e-6 * norm_z:
            other = torch.imag if d.part == "real" else torch.real
            v, u = other(z_in), other(z_out)
            norm_v = torch.linalg.vector_norm(v)
        unit_v = v / norm_v  # what _unit(v) computes, without a second norm
        return self._oriented(unit_v.to(self.values.dtype), _unit(u).to(self.values.dtype))


class DenseSpectrum(Spectrum):
    """Values of the dense operator (``exact`` method on small layers); vectors on request.

    ``block_values``: ``(groups, r)``, the values of each diagonal block of a grouped
    convolution's matrix (``(1, r)`` when ``groups == 1``); the spectrum is all of them,
    sorted, and the ``i``-th vector is its block's, zero outside that block's channels.
    """

    def __init__(
        self, block_values: torch.Tensor, operator: ConvOperator, *, k: int | None, solver: str
    ) -> None:
        flat = block_values.reshape(-1)
        values, self._order = torch.sort(flat, descending=True, stable=True)
        self._rank = block_values.shape[-1]
        super().__init__(
            values if k is None else values[:k],
            method="exact",
            exact=True,
            geometry=operator.geometry,
            solver=solver,
        )
        self._operator = operator
        self._uv: tuple[torch.Tensor, torch.Tensor] | None = None

    def vector(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = self._check_index(i)
        if self._uv is None:
            with single_threaded_lapack():
                u, _, vh = torch.linalg.svd(self._operator.to_dense_blocks(), full_matrices=False)
            self._uv = (u.cpu(), vh.cpu())
        u, vh = self._uv
        block, j = divmod(int(self._order[i]), self._rank)
        g = self._operator.geometry
        v_i = torch.zeros((u.shape[0], vh.shape[-1]), dtype=vh.dtype)
        u_i = torch.zeros((u.shape[0], u.shape[1]), dtype=u.dtype)
        v_i[block] = vh[block, j]
        u_i[block] = u[block, :, j]
        v_i, u_i = v_i.reshape(g.in_shape), u_i.reshape(g.out_shape)
        return self._oriented(v_i.to(self.values.dtype), u_i.to(self.values.dtype))


class TopKSpectrum(Spectrum):
    """The top ``k`` values and vectors of a matrix-free solver (``exact`` on large layers)."""

    def __init__(
        self,
        values: torch.Tensor,
        left: torch.Tensor,
        right: torch.Tensor,
        geometry: ConvGeometry,
        *,
        solver: str,
    ) -> None:
        super().__init__(values, method="exact", exact=True, geometry=geometry, solver=solver)
        self._left = left
        self._right = right

    def vector(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = self._check_index(i)
        g = self.geometry
        assert g is not None
        return self._oriented(
            self._right[:, i].reshape(g.in_shape), self._left[:, i].reshape(g.out_shape)
        )
