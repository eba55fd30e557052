"""RankView: accuracy against the kept rank of each layer, a slider per layer (bqplot).

Low-rank truncation after Yang et al., "Learning Low-rank Deep Neural Networks via Singular
Vector Orthogonality Regularization and Singular Value Sparsification" (CVPR Workshops 2020):
each layer keeps the top ``r`` singular components of its *unfolded* weight
(``c_out x c_in·kh·kw``, Eckart–Young) and runs as the factorised pair of
:func:`svdwidgets.neighbours.lowrank.truncate_unfolded`.

The view shows, for the layers of a model:

* a slider per layer (``1 … full rank``, ``continuous_update=False``): when one is released
  the model with *all* the chosen truncations
  (:func:`~svdwidgets.neighbours.lowrank.truncate_model`) is evaluated on the given images
  (:func:`~svdwidgets.neighbours.lowrank.accuracy`), and the
  accuracy, the parameters and multiply-adds of the layers (compression and FLOPs ratio) are
  updated. A layer at its full rank is left as it is (not factorised). Results are cached per
  combination of ranks: going back to one costs nothing.
* the precomputed :func:`~svdwidgets.neighbours.lowrank.rank_curve` — each layer truncated
  *alone* — as accuracy against the kept fraction ``r / full rank``, one line per layer, with
  the sliders' positions marked at the current joint accuracy.

Kernel-side traits: ``ranks`` (``{layer: rank}``, every layer; assigning a partial dict sets
the missing layers to full rank) and the read-only results ``accuracy``, ``compression`` and
``macs_ratio``. The model's numbers are computed in the kernel; the browser only draws.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

import bqplot as bq
import ipywidgets as ipw
import numpy as np
import traitlets

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets._errors import TraitValueError

if TYPE_CHECKING:
    import pandas as pd

RankEvaluation = Any
"""What :meth:`Evaluator.evaluate` returns (:class:`svdwidgets.neighbours.lowrank.RankEvaluation`:
ranks, accuracy, params, macs, their base values and ratios), read through its attributes."""

__all__ = ["Evaluator", "RankView"]

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


class Evaluator(Protocol):
    """What the view draws from (:class:`svdwidgets.neighbours.lowrank.RankEvaluator`)."""

    full_ranks: dict[str, int]
    base_cost: dict[str, tuple[int, int]]

    @property
    def n_images(self) -> int: ...
    @property
    def curve(self) -> Any: ...
    def curve_points(self, layer: str) -> tuple[np.ndarray, np.ndarray]: ...
    def evaluate(self, ranks: Mapping[str, int]) -> RankEvaluation: ...
    def truncated_model(self, ranks: Mapping[str, int]) -> Any: ...


_EVALUATOR = ("full_ranks", "base_cost", "n_images", "curve", "curve_points", "evaluate")


def _default_evaluator(model: object, images: object, labels: object, **options: Any) -> Evaluator:
    # RankView(model, images, labels) as before: the evaluation is neighbours/lowrank.py's,
    # imported when such a view is made, never with the widgets (pyproject's contracts list it)
    from svdwidgets.neighbours.lowrank import RankEvaluator

    return RankEvaluator(model, images, labels, **options)  # type: ignore[arg-type]


class RankView(ipw.VBox):
    """Accuracy of a model against the kept rank of each of its layers, a slider per layer.

    The view only draws: the numbers come from an :class:`Evaluator`
    (:class:`svdwidgets.neighbours.lowrank.RankEvaluator`), given, or made from ``model``,
    ``images``, ``labels`` and the options below.

    Parameters
    ----------
    model:
        the network (left untouched: every evaluation truncates a deep copy), or an
        :class:`Evaluator` (then without ``images``, ``labels``, ``layers``, ``curve``).
    images, labels:
        the data the accuracy is measured on (one forward pass of all of it per slider release).
    layers:
        the Conv2d / Linear layers to offer (default: the ``curve``'s layers, or every
        truncatable layer of the model).
    curve:
        a :func:`~svdwidgets.neighbours.lowrank.rank_curve` table to draw; computed on
        ``images`` (each layer at ranks 1, 2, 4, … and full) when not given.
    ranks:
        the ranks to start from (default: every layer at full rank).
    batch_size:
        images per forward pass.
    """

    ranks = traitlets.Dict(
        value_trait=traitlets.Int(),
        key_trait=traitlets.Unicode(),
        help="{layer: kept rank} of every layer; missing layers mean full rank.",
    )
    accuracy = traitlets.Float(read_only=True, help="Accuracy of the model with `ranks` applied.")
    compression = traitlets.Float(
        read_only=True, help="Parameters of the layers, original / truncated."
    )
    macs_ratio = traitlets.Float(
        read_only=True, help="Multiply-adds per input of the layers, truncated / original."
    )

    def __init__(
        self,
        model: object,
        images: object = None,
        labels: object = None,
        *,
        layers: Sequence[str] | None = None,
        curve: pd.DataFrame | None = None,
        ranks: Mapping[str, int] | None = None,
        batch_size: int = 500,
        **kwargs: Any,
    ) -> None:
        if all(hasattr(model, a) for a in _EVALUATOR):
            given = {"images": images, "labels": labels, "layers": layers, "curve": curve}
            extra = [k for k, v in given.items() if v is not None]
            if extra:
                raise SVDWidgetsError(f"an evaluator is given: {extra} belong to it, not here")
            self._evaluator = cast(Evaluator, model)
        else:
            self._evaluator = _default_evaluator(
                model, images, labels, layers=layers, curve=curve, batch_size=batch_size
            )
        self._full = dict(self._evaluator.full_ranks)
        self._base_cost = dict(self._evaluator.base_cost)
        self._cache: dict[tuple[int, ...], RankEvaluation] = {}
        self._last: RankEvaluation | None = None
        self._updating = False
        self._build()
        super().__init__(
            children=[self._controls, self._figure, self._table, self._status], **kwargs
        )
        self.add_class("svdw-rank-view")
        self.ranks = dict(self._full) if ranks is None else dict(ranks)

    # ----------------------------------------------------------------------------------------
    # Building
    # ----------------------------------------------------------------------------------------

    def _build(self) -> None:
        self._colors = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(self._full)}
        self._sliders = {}
        for n, full in self._full.items():
            slider = ipw.IntSlider(
                value=full,
                min=1,
                max=full,
                step=1,
                description=n,
                continuous_update=False,
                style={"description_width": "110px"},
                layout=ipw.Layout(width="360px"),
            )
            slider.observe(self._on_slider, "value")
            self._sliders[n] = slider
        self._reset = ipw.Button(
            description="full rank everywhere", layout=ipw.Layout(width="170px")
        )
        self._reset.on_click(lambda _: self.reset())
        self._controls = ipw.VBox(
            [
                ipw.HTML("<b>kept rank per layer</b> (release a slider to evaluate)"),
                *self._sliders.values(),
                self._reset,
            ]
        )
        xs = bq.LinearScale(min=0.0, max=1.0)
        ys = bq.LinearScale(min=0.0, max=1.0)
        sc = {"x": xs, "y": ys}
        self._curves: dict[str, Any] = {}
        for n in self._full:
            x, y = self.curve_points(n)
            self._curves[n] = bq.Lines(
                x=x,
                y=y,
                scales=sc,
                colors=[self._colors[n]],
                marker="circle",
                marker_size=24,
                stroke_width=2,
                labels=[n],
                display_legend=True,
            )
        curve = self._evaluator.curve
        base = float(curve.loc[~curve["truncated"].astype(bool), "accuracy"].iloc[0])
        self._base_line = bq.Lines(
            x=[0.0, 1.0], y=[base, base], scales=sc, colors=["#888888"], line_style="dotted"
        )
        self._joint_line = bq.Lines(
            x=[0.0, 1.0], y=[base, base], scales=sc, colors=["#000000"], line_style="dashed"
        )
        self._marks = bq.Scatter(
            x=np.ones(len(self._full)),
            y=np.full(len(self._full), base),
            scales=sc,
            colors=[self._colors[n] for n in self._full],
            default_size=110,
            stroke="black",
            tooltip=bq.Tooltip(
                fields=["x", "y"], labels=["r / full", "accuracy"], formats=[".2f", ".3f"]
            ),
        )
        self._figure = bq.Figure(
            marks=[self._base_line, self._joint_line, *self._curves.values(), self._marks],
            axes=[
                bq.Axis(scale=xs, label="kept rank r / full rank", tick_format=".1f"),
                bq.Axis(scale=ys, side="left", label="accuracy", tick_format=".1f"),
            ],
            title="accuracy against kept rank (lines: one layer truncated alone)",
            legend_location="bottom-right",
            fig_margin={"top": 40, "bottom": 55, "left": 60, "right": 20},
            animation_duration=0,
            layout=ipw.Layout(width="100%", height="380px"),
        )
        self._figure.add_class("svdw-rank-figure")
        self._table = ipw.HTML()
        self._status = ipw.HTML()
        self._status.add_class("svdw-rank-status")

    # ----------------------------------------------------------------------------------------
    # Public API
    # ----------------------------------------------------------------------------------------

    @property
    def layers(self) -> list[str]:
        """The layers with a slider, in network order."""
        return list(self._full)

    @property
    def full_ranks(self) -> dict[str, int]:
        """Each layer's full (unfolded) rank, ``min(c_out, c_in·kh·kw)``."""
        return dict(self._full)

    @property
    def sliders(self) -> dict[str, ipw.IntSlider]:
        """The slider of each layer."""
        return dict(self._sliders)

    @property
    def figure(self) -> Any:
        """The bqplot figure of the curves."""
        return self._figure

    @property
    def curve(self) -> pd.DataFrame:
        """The rank-curve rows of the view's layers."""
        return self._evaluator.curve

    @property
    def evaluation(self) -> RankEvaluation:
        """The evaluation of the current ``ranks``."""
        assert self._last is not None
        return self._last

    def curve_points(self, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """``(r / full rank, accuracy)`` of ``layer`` truncated alone, ascending in ``r``."""
        self._check_layer(layer)
        return self._evaluator.curve_points(layer)

    def set_rank(self, layer: str, rank: int) -> None:
        """Keep ``rank`` components of ``layer`` (the others as they are), as its slider does."""
        self._check_layer(layer)
        self._check_rank(layer, rank)
        self.ranks = {**self.ranks, layer: int(rank)}

    def reset(self) -> None:
        """Every layer back to full rank (the model itself)."""
        self.ranks = dict(self._full)

    def truncated_model(self) -> Any:
        """A copy of the model with the current ranks (the model itself when none is below
        full): what ``accuracy`` was measured on."""
        return self._evaluator.truncated_model(self.ranks)

    def evaluate(self, ranks: Mapping[str, int]) -> RankEvaluation:
        """The model with ``ranks`` (missing layers at full rank) evaluated, or its cached
        evaluation; does not move the sliders."""
        full = self._normalise(ranks)
        key = tuple(full[n] for n in self._full)
        if key not in self._cache:
            self._cache[key] = self._evaluator.evaluate(full)
        return self._cache[key]

    # ----------------------------------------------------------------------------------------
    # Validation and observers
    # ----------------------------------------------------------------------------------------

    def _check_layer(self, layer: object) -> str:
        if not isinstance(layer, str) or layer not in self._full:
            raise SVDWidgetsError(f"unknown layer {layer!r}; the view's layers are {self.layers}")
        return layer

    def _check_rank(self, layer: str, rank: object) -> int:
        full = self._full[layer]
        if (
            isinstance(rank, bool)
            or not isinstance(rank, (int, np.integer))
            or not 1 <= rank <= full
        ):
            raise SVDWidgetsError(
                f"rank {rank!r} for layer {layer!r} is out of range: it keeps 1 … {full} components"
            )
        return int(rank)

    def _normalise(self, ranks: object) -> dict[str, int]:
        if not isinstance(ranks, Mapping):
            raise SVDWidgetsError(f"ranks must be a dict {{layer: rank}}, got {ranks!r}")
        for name, rank in ranks.items():
            self._check_rank(self._check_layer(name), rank)
        return {n: int(ranks.get(n, full)) for n, full in self._full.items()}

    @traitlets.validate("ranks")
    def _valid_ranks(self, proposal: traitlets.Bunch) -> dict[str, int]:
        try:
            return self._normalise(proposal["value"])
        except SVDWidgetsError as err:
            raise TraitValueError(str(err)) from err

    @traitlets.observe("ranks")
    def _on_ranks(self, change: traitlets.Bunch) -> None:
        with self._guard():
            for n, slider in self._sliders.items():
                slider.value = change["new"][n]
        self._status.value = "<i>evaluating …</i>"
        cached = tuple(change["new"][n] for n in self._full) in self._cache
        self._last = self.evaluate(change["new"])
        with self.hold_trait_notifications():
            self.set_trait("accuracy", self._last.accuracy)
            self.set_trait("compression", self._last.compression)
            self.set_trait("macs_ratio", self._last.macs_ratio)
        self._draw(cached)

    def _on_slider(self, change: traitlets.Bunch) -> None:
        if self._updating:
            return
        layer = next(n for n, s in self._sliders.items() if s is change["owner"])
        self.set_rank(layer, int(change["new"]))

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        self._updating = True
        try:
            yield
        finally:
            self._updating = False

    # ----------------------------------------------------------------------------------------
    # Drawing
    # ----------------------------------------------------------------------------------------

    def _draw(self, cached: bool) -> None:
        ev = self.evaluation
        x = np.array([ev.ranks[n] / self._full[n] for n in self._full])
        with self._marks.hold_sync(), self._joint_line.hold_sync():
            self._marks.x, self._marks.y = x, np.full(x.size, ev.accuracy)
            self._joint_line.y = [ev.accuracy, ev.accuracy]
        base = self.evaluate({})
        rows = []
        for n in self._full:
            p0, m0 = self._base_cost[n]
            p, m = ev.layer_params[n], ev.layer_macs[n]
            larger = (
                " (pair larger than the layer)" if ev.ranks[n] < self._full[n] and p > p0 else ""
            )
            rows.append(
                f"<tr><td style='color:{self._colors[n]}'>■ {html.escape(n)}</td>"
                f"<td>{ev.ranks[n]} / {self._full[n]}</td><td>{p0:,} → {p:,}{larger}</td>"
                f"<td>{m0:,} → {m:,}</td></tr>"
            )
        self._table.value = (
            "<table class='svdw-rank-table' cellpadding='3'><tr><th>layer</th><th>rank</th>"
            "<th>parameters</th><th>multiply-adds per input</th></tr>" + "".join(rows) + "</table>"
        )
        self._status.value = (
            f"<b>accuracy {ev.accuracy:.3f}</b> (intact {base.accuracy:.3f}) on "
            f"{self._evaluator.n_images:,} images · parameters of the layers {ev.base_params:,} → "
            f"{ev.params:,} (compression {ev.compression:.2f}×) · multiply-adds "
            f"{ev.base_macs:,} → {ev.macs:,} ({ev.macs_ratio:.2f}×) · "
            + ("cached" if cached else f"evaluated in {ev.seconds:.2g} s")
        )
