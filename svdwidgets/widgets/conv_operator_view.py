"""ConvOperatorView: what "the SVD of a convolution" is, on a conv small enough to look at.

A teaching widget (ipywidgets + bqplot) for a tiny ``Conv2d`` with ``c_in, c_out <= 4`` channels
on ``n x n`` inputs. Sliders set the kernel size ``k``, ``n``, the stride, the padding and the
channels, a toggle the padding mode (``zeros`` / ``circular``); the weight is random (seeded,
scaled by ``1/sqrt(c_in k²)``) or given. On each released change three views update together:

(a) **the operator** — the dense ``c_out·H'·W' x c_in·n²`` matrix ``A`` of the layer exactly as
    ``torch.nn.functional.conv2d`` runs it (bias excluded), built column by column by
    :class:`svdwidgets.core.operator.ConvOperator`, as a heat map with the channel blocks
    outlined;
(b) **the frequency blocks** of the ``fft`` method (Sedghi, Gupta & Long, "The Singular Values
    of Convolutional Layers", ICLR 2019): the 2-D DFT block-diagonalises a *circular*
    convolution into one ``c_out x c_in`` matrix ``M(f)`` per frequency ``f`` of the grid; with
    a stride ``s`` the polyphase rearrangement (Senderovich et al., NeurIPS 2022) makes them
    ``c_out x s²·c_in`` on the ``(n/s) x (n/s)`` grid. Shown as ``|M(f)|`` tiled by frequency,
    or as ``σ_1(M(f))`` per frequency;
(c) **the spectrum** — the exact singular values of ``A`` (``torch.linalg.svdvals`` in float64)
    against the ``fft`` values (those of the circular convolution on the same grid, exact only
    when the layer *is* one: ``spec.exact``) and the ``unfolded`` values (the ``c_out x
    c_in·k²`` reshaped weight that DeepDataProfiler uses, Praggastis et al. 2022 — a different
    object), with the largest gap between ``fft`` and exact.

Settings that describe no convolution (a kernel larger than the padded input, a circular
padding wider than the input) show a message in the widget instead of the plots; a stride that
does not divide ``n`` leaves ``fft`` out with its reason. The constructor raises
:class:`~svdwidgets.SVDWidgetsError` for bad arguments. Results are cached per setting, so
moving a slider back costs nothing. The view only draws: the numbers are
:func:`svdwidgets.core.teaching.teaching_picture`'s (tested there against the dense operator).
"""

from __future__ import annotations

import html
import time
from collections import OrderedDict
from typing import Any, Protocol, cast

import bqplot as bq
import ipywidgets as ipw
import numpy as np
import traitlets

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets._errors import TraitValueError
from svdwidgets.widgets._sync import held

OperatorPicture = Any
"""What :meth:`Teaching.teaching_picture` returns: a
:class:`svdwidgets.core.teaching.OperatorPicture` (matrix, exact, fft, unfolded, blocks,
geometry and its gaps), read through its attributes."""

__all__ = ["LIMITS", "PADDING_MODES", "ConvOperatorView", "Teaching"]

PADDING_MODES = ("zeros", "circular")
LIMITS: dict[str, tuple[int, int]] = {
    "kernel_size": (1, 7),
    "n": (1, 12),
    "stride": (1, 3),
    "padding": (0, 3),
    "c_in": (1, 4),
    "c_out": (1, 4),
}
"""The range of each setting (the sliders' ranges): small enough to draw every matrix entry
and to update in well under 100 ms."""

SETTINGS = (*LIMITS, "padding_mode")
BLOCK_VIEWS = ("entries", "sigma")
COLORS = {"exact": "#1f77b4", "fft": "#ff7f0e", "unfolded": "#2ca02c", "grid": "#7f7f7f"}
_CACHE_SIZE = 16


class Teaching(Protocol):
    """The maths the view draws (default :mod:`svdwidgets.core.teaching`): it computes nothing."""

    def random_weight(self, c_out: int, c_in: int, kernel_size: int, seed: int) -> Any: ...
    def check_weight(self, weight: object) -> Any: ...
    def teaching_picture(
        self, weight: Any, *, n: int, stride: int, padding: int, padding_mode: str
    ) -> Any: ...


def _default_teaching() -> Teaching:
    # The one computation a widget imports: a teaching view must draw a tiny conv from sliders
    # alone (ConvOperatorView(kernel_size=3, n=6)); its maths is core/teaching.py's, imported
    # when such a view is made, never with the widgets (pyproject's import contracts list it).
    from svdwidgets.core import teaching

    return cast(Teaching, teaching)


def _tiles(blocks: np.ndarray) -> np.ndarray:
    """``(N_h, N_w, m, c)`` -> the ``(N_h·m, N_w·c)`` image of the ``|M(f)|`` tiles."""
    nh, nw, m, c = blocks.shape
    return np.abs(blocks).transpose(0, 2, 1, 3).reshape(nh * m, nw * c)


def _centres(tiles: int, per: int = 1) -> np.ndarray:
    """Cell centres on a heat-map axis of ``tiles`` unit tiles of ``per`` cells each.

    Tile ``t`` covers ``[t - 0.5, t + 0.5]``, so the axis reads in tiles (matrix indices, or
    frequencies for the block view). bqplot's HeatMap sizes cells from neighbouring centres,
    so a lone cell is sent as two half-width cells of the same value (the same picture).
    """
    if tiles * per == 1:
        return np.array([-0.25, 0.25])
    inner = (np.arange(per, dtype=np.float64) + 0.5) / per - 0.5
    return (np.arange(tiles, dtype=np.float64)[:, None] + inner[None, :]).reshape(-1)


def _ticks(size: int, most: int = 7) -> np.ndarray:
    """Round integer ticks on an axis of ``size`` unit cells: ``0, step, 2·step, …``."""
    steps = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
    step = next((t for t in steps if -(-size // t) <= most), steps[-1])
    return np.arange(0, size, step, dtype=np.float64)


def _heat(image: np.ndarray) -> np.ndarray:
    """The image as sent: float32, a single row or column doubled (see :func:`_centres`)."""
    out = image.astype(np.float32)
    if out.shape[0] == 1:
        out = np.repeat(out, 2, axis=0)
    if out.shape[1] == 1:
        out = np.repeat(out, 2, axis=1)
    return out


def _grid_lines(rows: int, cols: int, row_step: int, col_step: int) -> tuple[np.ndarray, ...]:
    """Segments ``(x, y)`` (each ``(L, 2)``) on the boundaries between ``step``-sized blocks."""
    xs, ys = [], []
    for r in range(row_step, rows, row_step):
        xs.append([-0.5, cols - 0.5])
        ys.append([r - 0.5, r - 0.5])
    for c in range(col_step, cols, col_step):
        xs.append([c - 0.5, c - 0.5])
        ys.append([-0.5, rows - 0.5])
    if not xs:  # bqplot needs some data; the mark is hidden
        return np.zeros((1, 2)), np.zeros((1, 2))
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


# ------------------------------------------------------------------------------------------------
# The widget
# ------------------------------------------------------------------------------------------------


def _check_int(name: str, value: object) -> int:
    lo, hi = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TraitValueError(f"{name} must be an int in [{lo}, {hi}], got {value!r}")
    if not lo <= int(value) <= hi:
        raise TraitValueError(f"{name}={value!r} is out of range: it must lie in [{lo}, {hi}]")
    return int(value)


def _check_weight(teaching: Teaching, given: object) -> Any:
    weight = teaching.check_weight(given)
    for name, v in zip(("c_out", "c_in", "kernel_size"), weight.shape[:3], strict=True):
        lo, hi = LIMITS[name]
        if not lo <= int(v) <= hi:
            raise SVDWidgetsError(
                f"weight of shape {tuple(weight.shape)}: {name}={int(v)} is outside [{lo}, {hi}] "
                "(the view draws every entry of the operator); slice a few channels"
            )
    return weight


class ConvOperatorView(ipw.VBox):
    """A tiny convolution's dense operator, frequency blocks and spectrum, driven by sliders.

    See the module docstring for what each view shows and which paper it follows. Settings are
    traits (linked to the sliders, recomputed when a slider is released); change several at
    once with :meth:`update`. :attr:`picture` holds the numbers drawn, :attr:`message` the
    reason when the settings describe no convolution (then the plots are hidden).

    Parameters
    ----------
    weight:
        a ``(c_out, c_in, k, k)`` tensor or array (``c_in, c_out <= 4``, ``k <= 7``); it fixes
        the kernel size and channels. Default: a random weight from ``seed``.
    kernel_size, n, stride, padding, c_in, c_out:
        the layer (``nn.Conv2d`` semantics), within :data:`LIMITS`.
    padding_mode:
        ``"zeros"`` or ``"circular"``.
    seed:
        the random weight's seed.
    blocks_view:
        ``"entries"`` (``|M(f)|`` tiled by frequency) or ``"sigma"`` (``σ_1(M(f))``).
    teaching:
        where the numbers come from (:class:`Teaching`); default :mod:`svdwidgets.core.teaching`.
    """

    kernel_size = traitlets.Int(3, help="Kernel size k (k x k).")
    n = traitlets.Int(6, help="Input size n (n x n).")
    stride = traitlets.Int(1, help="Stride.")
    padding = traitlets.Int(1, help="Padding on each side.")
    c_in = traitlets.Int(1, help="Input channels.")
    c_out = traitlets.Int(1, help="Output channels.")
    padding_mode = traitlets.Enum(PADDING_MODES, "zeros", help="zeros or circular.")
    seed = traitlets.Int(0, help="Seed of the random weight.")
    blocks_view = traitlets.Enum(BLOCK_VIEWS, "entries", help="What the frequency view shows.")
    message = traitlets.Unicode("", help="Why the settings show nothing ('' when they do).")

    def __init__(
        self,
        weight: object = None,
        *,
        kernel_size: int = 3,
        n: int = 6,
        stride: int = 1,
        padding: int = 1,
        c_in: int = 1,
        c_out: int = 1,
        padding_mode: str = "zeros",
        seed: int = 0,
        blocks_view: str = "entries",
        teaching: Teaching | None = None,
        **kwargs: Any,
    ) -> None:
        settings = {
            "kernel_size": kernel_size,
            "n": n,
            "stride": stride,
            "padding": padding,
            "c_in": c_in,
            "c_out": c_out,
        }
        self._teaching = _default_teaching() if teaching is None else teaching
        self._given: Any = None
        if weight is not None:
            self._given = _check_weight(self._teaching, weight)
            c_out_w, c_in_w, k_w, _ = self._given.shape
            settings.update(kernel_size=int(k_w), c_in=int(c_in_w), c_out=int(c_out_w))
        for name, value in settings.items():
            settings[name] = _check_int(name, value)
        if padding_mode not in PADDING_MODES:
            raise SVDWidgetsError(
                f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}"
            )
        if blocks_view not in BLOCK_VIEWS:
            raise SVDWidgetsError(f"blocks_view must be one of {BLOCK_VIEWS}, got {blocks_view!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise SVDWidgetsError(f"seed must be a non-negative int, got {seed!r}")
        self._ready = False
        self._batch = False
        self._cache: OrderedDict[tuple[Any, ...], OperatorPicture | str] = OrderedDict()
        self._picture: OperatorPicture | None = None
        self.update_seconds = 0.0
        super().__init__(**kwargs)
        with self.hold_trait_notifications():
            for name, value in settings.items():
                setattr(self, name, value)
            self.padding_mode, self.seed, self.blocks_view = padding_mode, seed, blocks_view
        # a setting that describes no convolution is a bad argument here (a slider shows it)
        result = self._compute()
        if isinstance(result, str):
            raise SVDWidgetsError(result)
        self._build()
        self.children = [self._controls, self._figures, self._summary, self._message]
        self.add_class("svdw-conv-operator-view")
        self._link()
        self._ready = True
        self._refresh()

    # -- public ----------------------------------------------------------------------------

    @property
    def settings(self) -> dict[str, object]:
        """The current layer settings, as keywords for :meth:`update`."""
        return {name: getattr(self, name) for name in SETTINGS}

    @property
    def weight(self) -> Any:
        """The weight shown (a tensor): the given one, or the seeded random one."""
        if self._given is not None:
            return self._given
        return self._teaching.random_weight(self.c_out, self.c_in, self.kernel_size, self.seed)

    @property
    def picture(self) -> OperatorPicture | None:
        """The numbers drawn now; ``None`` while the settings describe no convolution."""
        return self._picture

    @property
    def matrix(self) -> np.ndarray | None:
        """The dense operator ``A`` drawn in view (a) (float64), or ``None``."""
        return None if self._picture is None else self._picture.matrix

    @property
    def figures(self) -> tuple[Any, Any, Any]:
        """The three bqplot figures: operator, frequency blocks, spectrum."""
        return self._fig_matrix, self._fig_blocks, self._fig_spectrum

    def update(self, **settings: object) -> None:
        """Set several settings at once (one recomputation): ``view.update(n=8, stride=2)``."""
        unknown = sorted(set(settings) - set(SETTINGS) - {"seed", "blocks_view"})
        if unknown:
            raise SVDWidgetsError(
                f"unknown setting(s) {unknown}; expected {[*SETTINGS, 'seed', 'blocks_view']}"
            )
        self._batch = True
        try:
            with self.hold_trait_notifications():
                for name, value in settings.items():
                    setattr(self, name, value)
        finally:
            self._batch = False
        self._refresh()

    # -- validation and observers ------------------------------------------------------------

    @traitlets.validate(*LIMITS)
    def _valid_int(self, proposal: traitlets.Bunch) -> int:
        name = proposal["trait"].name
        value = _check_int(name, proposal["value"])
        if self._given is not None and name in ("kernel_size", "c_in", "c_out"):
            fixed = {"c_out": 0, "c_in": 1, "kernel_size": 2}[name]
            if value != int(self._given.shape[fixed]):
                raise TraitValueError(
                    f"{name}={value} does not fit the given weight of shape "
                    f"{tuple(self._given.shape)}"
                )
        return value

    @traitlets.validate("seed")
    def _valid_seed(self, proposal: traitlets.Bunch) -> int:
        value = proposal["value"]
        if value < 0:
            raise TraitValueError(f"seed must be a non-negative int, got {value!r}")
        return int(value)

    @traitlets.observe(*SETTINGS, "seed", "blocks_view")
    def _on_setting(self, change: traitlets.Bunch) -> None:
        if self._ready and not self._batch:
            self._refresh()

    # -- computing ---------------------------------------------------------------------------

    def _key(self) -> tuple[Any, ...]:
        seed = None if self._given is not None else self.seed
        return (*(getattr(self, name) for name in SETTINGS), seed)

    def _compute(self) -> OperatorPicture | str:
        """The picture for the current settings, or the message why there is none (cached)."""
        key = self._key()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        result: OperatorPicture | str
        try:
            result = self._teaching.teaching_picture(
                self.weight,
                n=self.n,
                stride=self.stride,
                padding=self.padding,
                padding_mode=self.padding_mode,
            )
        except SVDWidgetsError as err:
            result = f"these settings describe no convolution: {err}"
        self._cache[key] = result
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    # -- building ----------------------------------------------------------------------------

    def _build(self) -> None:
        self._sliders = {
            name: ipw.IntSlider(
                min=lo,
                max=hi,
                description=label,
                continuous_update=False,
                style={"description_width": "70px"},
                layout=ipw.Layout(width="230px"),
            )
            for (name, (lo, hi)), label in zip(
                LIMITS.items(),
                ("kernel k", "input n", "stride s", "padding p", "c_in", "c_out"),
                strict=True,
            )
        }
        self._mode = ipw.ToggleButtons(
            options=list(PADDING_MODES),
            description="padding",
            style={"button_width": "80px", "description_width": "60px"},
            layout=ipw.Layout(width="auto"),
        )
        self._seed = ipw.BoundedIntText(
            min=0,
            max=2**31 - 1,
            description="seed",
            continuous_update=False,
            layout=ipw.Layout(width="150px"),
            style={"description_width": "40px"},
        )
        if self._given is not None:
            for name in ("kernel_size", "c_in", "c_out"):
                self._sliders[name].disabled = True
            self._seed.disabled = True
        self._blocks_toggle = ipw.ToggleButtons(
            options=[("|M(f)|", "entries"), ("σ₁(M(f))", "sigma")],
            style={"button_width": "120px"},
        )
        self._controls = ipw.VBox(
            [
                ipw.HBox(
                    [self._sliders[k] for k in ("kernel_size", "n", "stride", "padding")],
                    layout=ipw.Layout(flex_flow="row wrap"),
                ),
                ipw.HBox(
                    [self._sliders["c_in"], self._sliders["c_out"], self._mode, self._seed],
                    layout=ipw.Layout(flex_flow="row wrap", align_items="center"),
                ),
            ]
        )
        margin = {"top": 50, "bottom": 50, "left": 60, "right": 70}
        size = {"width": "100%", "height": "380px"}

        # (a) the operator
        self._xs_a, self._ys_a = bq.LinearScale(), bq.LinearScale(reverse=True)
        self._cs_a = bq.ColorScale(scheme="RdBu", mid=0.0)
        sc_a = {"x": self._xs_a, "y": self._ys_a, "color": self._cs_a}
        self._heat_a = bq.HeatMap(color=np.zeros((2, 2), dtype=np.float32), scales=sc_a)
        self._lines_a = bq.Lines(
            x=np.zeros((1, 2)),
            y=np.zeros((1, 2)),
            scales={"x": self._xs_a, "y": self._ys_a},
            colors=[COLORS["grid"]],
            stroke_width=1,
        )
        self._ax_ax = bq.Axis(scale=self._xs_a, label="input index (c, h, w)", tick_format="d")
        self._ax_ay = bq.Axis(
            scale=self._ys_a, side="left", label="output index (o, i, j)", tick_format="d"
        )
        self._fig_matrix = bq.Figure(
            marks=[self._heat_a, self._lines_a],
            axes=[
                self._ax_ax,
                self._ax_ay,
                _color_axis(self._cs_a),
            ],
            fig_margin=margin,
            animation_duration=0,
            layout=ipw.Layout(**size),
        )
        self._fig_matrix.add_class("svdw-cov-matrix")

        # (b) the frequency blocks
        self._xs_b, self._ys_b = bq.LinearScale(), bq.LinearScale(reverse=True)
        self._cs_b = bq.ColorScale(scheme="viridis", min=0.0)
        sc_b = {"x": self._xs_b, "y": self._ys_b, "color": self._cs_b}
        self._heat_b = bq.HeatMap(color=np.zeros((2, 2), dtype=np.float32), scales=sc_b)
        self._lines_b = bq.Lines(
            x=np.zeros((1, 2)),
            y=np.zeros((1, 2)),
            scales={"x": self._xs_b, "y": self._ys_b},
            colors=["white"],
            stroke_width=1.5,
        )
        self._ax_bx = bq.Axis(scale=self._xs_b, label="f_w", tick_format="d")
        self._ax_by = bq.Axis(scale=self._ys_b, side="left", label="f_h", tick_format="d")
        self._fig_blocks = bq.Figure(
            marks=[self._heat_b, self._lines_b],
            axes=[
                self._ax_bx,
                self._ax_by,
                _color_axis(self._cs_b),
            ],
            fig_margin=margin,
            animation_duration=0,
            layout=ipw.Layout(**size),
        )
        self._fig_blocks.add_class("svdw-cov-blocks")

        # (c) the spectrum
        self._xs_c, self._ys_c = bq.LinearScale(), bq.LinearScale(min=0.0)
        sc_c = {"x": self._xs_c, "y": self._ys_c}
        tip = bq.Tooltip(fields=["x", "y"], labels=["rank", "σ"], formats=["d", ".4g"])
        self._line_exact = bq.Lines(
            x=[1.0], y=[0.0], scales=sc_c, colors=[COLORS["exact"]], stroke_width=2.5
        )
        self._dots_fft = bq.Scatter(
            x=[1.0],
            y=[0.0],
            scales=sc_c,
            colors=[COLORS["fft"]],
            marker="cross",
            default_size=30,
            tooltip=tip,
        )
        self._dots_unfolded = bq.Scatter(
            x=[1.0],
            y=[0.0],
            scales=sc_c,
            colors=[COLORS["unfolded"]],
            marker="diamond",
            default_size=50,
            tooltip=tip,
        )
        self._ax_rank = bq.Axis(scale=self._xs_c, label="rank i", tick_format="d")
        self._fig_spectrum = bq.Figure(
            marks=[self._dots_fft, self._dots_unfolded, self._line_exact],
            axes=[
                self._ax_rank,
                bq.Axis(scale=self._ys_c, side="left", label="σ_i", tick_format=".2g"),
            ],
            title="singular values",
            fig_margin={**margin, "right": 20},
            animation_duration=0,
            layout=ipw.Layout(**size),
        )
        self._fig_spectrum.add_class("svdw-cov-spectrum")

        self._caption_a, self._caption_b, self._caption_c = ipw.HTML(), ipw.HTML(), ipw.HTML()
        column = {"flex": "1 1 0", "min_width": "330px"}
        self._blocks_panel = ipw.VBox([self._fig_blocks])
        self._figures = ipw.HBox(
            [
                ipw.VBox([self._fig_matrix, self._caption_a], layout=ipw.Layout(**column)),
                ipw.VBox(
                    [self._blocks_toggle, self._blocks_panel, self._caption_b],
                    layout=ipw.Layout(**column),
                ),
                ipw.VBox([self._fig_spectrum, self._caption_c], layout=ipw.Layout(**column)),
            ],
            layout=ipw.Layout(flex_flow="row wrap"),
        )
        self._summary = ipw.HTML()
        self._summary.add_class("svdw-cov-summary")
        self._message = ipw.HTML()
        self._message.add_class("svdw-cov-message")

    def _link(self) -> None:
        self._links = [
            traitlets.link((self, name), (slider, "value"))
            for name, slider in self._sliders.items()
        ]
        self._links += [
            traitlets.link((self, "padding_mode"), (self._mode, "value")),
            traitlets.link((self, "seed"), (self._seed, "value")),
            traitlets.link((self, "blocks_view"), (self._blocks_toggle, "value")),
        ]

    # -- drawing -----------------------------------------------------------------------------

    def _refresh(self) -> None:
        start = time.perf_counter()
        result = self._compute()
        if isinstance(result, str):
            self._picture = None
            self.message = result
            self._message.value = f"<b>⚠ {html.escape(result)}</b>"
            self._figures.layout.visibility = "hidden"
            self._summary.value = ""
        else:
            self._picture = result
            self.message = ""
            self._message.value = ""
            self._figures.layout.visibility = "visible"
            self._draw_matrix(result)
            self._draw_blocks(result)
            self._draw_spectrum(result)
            self._draw_summary(result)
        self.update_seconds = time.perf_counter() - start

    def _draw_matrix(self, p: OperatorPicture) -> None:
        g = p.geometry
        rows, cols = p.matrix.shape
        limit = float(np.abs(p.matrix).max()) or 1.0
        out_cells = g.output_size[0] * g.output_size[1]
        lx, ly = _grid_lines(rows, cols, out_cells, g.input_size[0] * g.input_size[1])
        with held(self._heat_a, self._lines_a, self._xs_a, self._ys_a, self._cs_a):
            self._xs_a.min, self._xs_a.max = -0.5, cols - 0.5
            self._ys_a.min, self._ys_a.max = -0.5, rows - 0.5
            self._cs_a.min, self._cs_a.max = -limit, limit
            self._heat_a.x, self._heat_a.y = _centres(cols), _centres(rows)
            self._heat_a.color = _heat(p.matrix)
            self._lines_a.x, self._lines_a.y = lx, ly
            self._lines_a.visible = g.c_in > 1 or g.c_out > 1
        self._ax_ax.tick_values, self._ax_ay.tick_values = _ticks(cols), _ticks(rows)
        self._fig_matrix.title = f"A: {rows} × {cols} (conv2d as torch runs it)"
        self._caption_a.value = (
            f"column c·n²+h·n+w: input channel c at (h, w), n = {g.input_size[0]}; row: output "
            f"channel o at (i, j) of the {g.output_size[0]}×{g.output_size[1]} output. "
            "Lines separate the channel blocks; each block is a (doubly) banded Toeplitz matrix"
            + (" that wraps around (circulant)" if g.padding_mode == "circular" else "")
            + "."
        )

    def _draw_blocks(self, p: OperatorPicture) -> None:
        if p.blocks is None:
            self._blocks_panel.layout.visibility = "hidden"
            self._caption_b.value = f"<b>fft:</b> {html.escape(p.fft_note)}."
            return
        self._blocks_panel.layout.visibility = "visible"
        nh, nw, m, c = p.blocks.shape
        if self.blocks_view == "entries":
            image, per = _tiles(p.blocks), (m, c)
            show_lines = m > 1 or c > 1
            self._ax_bx.label = f"f_w (a tile: {c} input channels)"
            self._ax_by.label = f"f_h (a tile: {m} output channels)"
            title = f"|M(f)|: {nh}×{nw} blocks of {m}×{c}"
        else:
            sigma = p.block_sigma
            assert sigma is not None
            image, per = sigma, (1, 1)
            show_lines = False
            self._ax_bx.label, self._ax_by.label = "f_w", "f_h"
            title = f"σ₁(M(f)) on the {nh}×{nw} frequency grid"
        lx, ly = _grid_lines(nh, nw, 1, 1)
        self._ax_bx.tick_values = _ticks(nw)
        self._ax_by.tick_values = _ticks(nh)
        with held(self._heat_b, self._lines_b, self._xs_b, self._ys_b, self._cs_b):
            self._xs_b.min, self._xs_b.max = -0.5, nw - 0.5
            self._ys_b.min, self._ys_b.max = -0.5, nh - 0.5
            self._cs_b.max = float(image.max()) or 1.0
            self._heat_b.x, self._heat_b.y = _centres(nw, per[1]), _centres(nh, per[0])
            self._heat_b.color = _heat(image)
            self._lines_b.x, self._lines_b.y = lx, ly
            self._lines_b.visible = show_lines
        self._fig_blocks.title = title
        s = p.geometry.stride[0]
        self._caption_b.value = (
            "The 2-D DFT turns the circular convolution into one block M(f) per frequency "
            f"(Sedghi et al. 2019): {m}×{c} = c_out × "
            + (f"s²·c_in (polyphase, stride {s})" if s > 1 else "c_in")
            + f"; its singular values, over all {nh * nw} frequencies, are the fft spectrum."
        )

    def _draw_spectrum(self, p: OperatorPicture) -> None:
        with held(self._line_exact, self._dots_fft, self._dots_unfolded):
            self._ax_rank.tick_values = _ticks(p.exact.size + 1)[1:] if p.exact.size > 1 else [1.0]
            self._line_exact.x = np.arange(1, p.exact.size + 1, dtype=np.float64)
            self._line_exact.y = p.exact
            if p.fft is not None:
                self._dots_fft.x = np.arange(1, p.fft.size + 1, dtype=np.float64)
                self._dots_fft.y = p.fft
            self._dots_fft.visible = p.fft is not None
            self._dots_unfolded.x = np.arange(1, p.unfolded.size + 1, dtype=np.float64)
            self._dots_unfolded.y = p.unfolded

        def key(color: str, label: str) -> str:
            return f'<span style="color:{color};font-weight:bold">■</span> {html.escape(label)}'

        g = p.geometry
        keys = [key(COLORS["exact"], f"exact: svdvals(A), {p.exact.size} values")]
        if p.fft is not None:
            keys.append(
                key(
                    COLORS["fft"],
                    f"fft (circular on the {g.input_size[0] // g.stride[0]}² grid), "
                    f"{p.fft.size} values, exact={p.fft_exact}",
                )
            )
        keys.append(
            key(
                COLORS["unfolded"],
                f"unfolded W ({g.c_out}×{g.c_in * g.kernel[0] ** 2}), {p.unfolded.size} "
                "values: not the operator",
            )
        )
        self._caption_c.value = "<br>".join(keys)

    def _draw_summary(self, p: OperatorPicture) -> None:
        g = p.geometry
        frob_w = p.weight_norm2
        parts = [
            f"<b>A</b>: ℝ^{g.dim_in} → ℝ^{g.dim_out} (c_in={g.c_in}, n={g.input_size[0]}, "
            f"k={g.kernel[0]}, s={g.stride[0]}, p={g.padding[0]}, {g.padding_mode})",
            f"σ_max exact {p.exact[0]:.4g}",
        ]
        if p.fft is not None and p.gap is not None and p.top_gap is not None:
            parts.append(f"fft {p.fft[0]:.4g} ({p.top_gap:+.2%})")
            parts.append(f"max |σ_i(fft) − σ_i(exact)| / σ_max = {p.gap:.2e} over {p.common} ranks")
            verdict = "yes" if p.fft_exact else "no"
            parts.append(f"<b>fft exact here: {verdict}</b> — {html.escape(p.fft_note)}")
        else:
            parts.append(f"<b>fft:</b> {html.escape(p.fft_note)}")
        grid = (g.input_size[0] // g.stride[0]) ** 2
        parts.append(
            f"Σσ² = ‖A‖²_F = {np.sum(p.exact**2):.4g}; (n/s)²·‖W‖²_F = {grid * frob_w:.4g}"
        )
        parts.append(f"computed in {p.seconds * 1e3:.0f} ms")
        self._summary.value = " · ".join(parts)


def _color_axis(scale: bq.ColorScale) -> bq.ColorAxis:
    """A colour bar whose labels do not stack: bqplot draws the bar about a quarter of the
    figure high, where its default ten ticks overlap; three short ones read."""
    return bq.ColorAxis(scale=scale, side="right", num_ticks=3, tick_format=".2g")
