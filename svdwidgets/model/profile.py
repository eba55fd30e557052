"""``profile``: the spectrum of every linear layer of a model, with random-matrix fits.

The paper this project implements (Praggastis et al., "The SVD of Convolutional Weights: A CNN
Interpretability Framework", 2022) applies the decomposition to every linear layer of a
classifier and checks the spectra against random matrix theory. :func:`profile` finds every
Conv2d, ConvTranspose2d and Linear layer with one shape-probing forward pass, computes each
layer's spectrum with :func:`svdwidgets.conv_svd` on the input size it really sees, optionally
with the following BatchNorm folded in, and caches the result on disk.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from svdwidgets.core import rmt
from svdwidgets.core import weightwatcher as ww
from svdwidgets.core.checks import check_dtype, check_memory_budget, resolve_device
from svdwidgets.core.conv_svd import DEFAULT_MEMORY_BUDGET, METHODS, auto_choice, spectrum_of
from svdwidgets.core.geometry import ConvGeometry, geometry_from
from svdwidgets.core.sigma_max import REL_TOL, SigmaMaxInterval, sigma_max_interval
from svdwidgets.core.solvers import batched_svdvals
from svdwidgets.core.spectrum import FFTSpectrum, Spectrum
from svdwidgets.errors import SVDWidgetsError, SVDWidgetsWarning
from svdwidgets.model.cache import SpectrumCache, default_cache_dir, probe_key, spectrum_key
from svdwidgets.model.discover import LayerRecord, find_layers
from svdwidgets.model.folding import FOLD_BN_DEFAULT, fold_batchnorm

if TYPE_CHECKING:
    import pandas as pd

    from svdwidgets.model.compare import MethodCurve

__all__ = ["BAD_WEIGHTS", "NOT_CALLED", "LayerProfile", "Profile", "profile"]

NOT_CALLED = "not called by the forward pass"
"""The ``skipped`` reason of a layer the probing forward pass never used."""
BAD_WEIGHTS = ("raise", "skip")
"""What :func:`profile` does with NaN/inf weights (``on_bad_weights``)."""


@dataclass
class LayerProfile:
    """One layer of a profile: its record, spectrum (or why there is none), and timings.

    ``weight`` is the weight that was analysed (BN-folded when asked), in the forward
    convolution's layout; ``note`` keeps the warning of an approximate spectrum.
    """

    record: LayerRecord
    spectrum: Spectrum | None
    weight: torch.Tensor | None = None
    geometry: ConvGeometry | None = None
    reason: str | None = None
    note: str | None = None
    seconds: float = 0.0
    cached: bool = False
    folded: bool = False
    sigma_max: SigmaMaxInterval | None = None
    """The operator's exact σ_max as an interval (None when not computed)."""
    why: str | None = None
    """Why this method ran (``auto``'s reason, or "asked")."""
    weightwatcher: dict[str, Any] | None = None
    """WeightWatcher's options for a ``slices`` row (see :mod:`svdwidgets.core.weightwatcher`)."""
    _fits: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.record.name

    def fits(self) -> dict[str, Any]:
        """RMT fits of the layer.

        ``method="slices"``: WeightWatcher's own row, equal to ``weightwatcher`` 0.7.7's
        ``analyze(mp_fit=True)`` with the same options (its column names: ``alpha``,
        ``alpha_weighted``, ``stable_rank``, ``log_norm``, ``sigma_mp``, ``num_spikes``, ``D``,
        ``xmin``, ... see :func:`svdwidgets.core.weightwatcher.weightwatcher_metrics`), or
        ``ww_skipped`` with the reason WeightWatcher leaves the layer out.

        Other methods: our fits of the operator spectrum and of the unfolded weight. The
        operator's spectrum pools its frequency blocks, each ``c_out/groups`` x
        ``s_h*s_w*c_in/groups``; the unfolded weight is ``c_out x c_in/groups*kh*kw``. ``alpha``,
        ``alpha_weighted``, ``ks_powerlaw`` (Clauset's fit, tails of at least 10), and our
        Marchenko–Pastur estimator ``mp_sigma``, ``mp_spikes`` (above ``λ₊`` plus one
        Tracy–Widom scale), ``mp_ks`` (:func:`svdwidgets.core.rmt.marchenko_pastur_fit`: not
        WeightWatcher's ``sigma_mp``/``num_spikes``); ``unfolded_`` prefix for the weight's.
        Fits that cannot be made (a top-k spectrum, too few values) are NaN.
        """
        if self._fits is None:
            self._fits = _fits(self)
        return self._fits


def _fits(layer: LayerProfile) -> dict[str, Any]:
    out: dict[str, Any] = {}
    spec, g, w = layer.spectrum, layer.geometry, layer.weight
    if spec is None or g is None or w is None:
        return out
    if spec.method == "slices":
        return _weightwatcher_fits(w, g, layer.weightwatcher)
    complete = spec.geometry is not None and len(spec) >= _expected_count(spec, g)
    sh, sw = g.stride
    block = (g.c_out // g.groups, (g.c_in // g.groups) * sh * sw)
    values, copies = _distinct_values(spec, complete)
    # one block repeated `copies` times: stable and effective rank scale by `copies`
    out["stable_rank"] = copies * rmt.stable_rank(values) if complete else math.nan
    out["effective_rank"] = copies * rmt.effective_rank(values) if complete else math.nan
    for prefix, vals, shape, ok in (
        ("", values, block, complete),
        (
            "unfolded_",
            _unfolded_values(w, g, spec, values),
            (w.shape[0], w[0].numel()),
            True,
        ),
    ):
        try:
            if not ok:
                raise SVDWidgetsError("only the top-k values were computed")
            # a tail of n values of the pooled spectrum holds n / copies values of the block
            min_tail = max(2, -(-_MIN_TAIL // copies)) if not prefix else _MIN_TAIL
            row = dict(rmt.rmt_row(vals, *shape, min_tail=min_tail))
        except SVDWidgetsError:
            row = dict.fromkeys(_RMT_COLUMNS, math.nan)
        spikes = row["num_spikes"]
        if not prefix and isinstance(spikes, int):
            row["num_spikes"] = spikes * copies
        out.update({prefix + name: row[k] for k, name in _RMT_COLUMNS.items()})
    return out


def _weightwatcher_fits(
    weight: torch.Tensor, g: ConvGeometry, options: dict[str, Any] | None
) -> dict[str, Any]:
    """WeightWatcher's row of a layer (``weight`` in the forward conv's layout)."""
    if g.kind == "conv_transpose":
        return {"ww_skipped": "WeightWatcher does not analyse ConvTranspose2d layers"}
    if g.kind == "linear":
        row = ww.weightwatcher_metrics(weight[:, :, 0, 0], "dense", options)
    else:
        row = ww.weightwatcher_metrics(weight, "conv2d", options)
    if isinstance(row, ww.WWSkipped):
        return {"ww_skipped": row.reason}
    return row


def _unfolded_values(
    w: torch.Tensor, g: ConvGeometry, spec: Spectrum, block: torch.Tensor
) -> torch.Tensor:
    """Singular values of the weight reshaped to ``c_out x c_in/groups*kh*kw``.

    A single-tap layer without groups puts each kernel tap in its own column of its one block,
    so the block and the unfolded weight share their nonzero singular values: reuse them
    rather than decompose the same matrix twice (that doubled the cost of a 1x1 layer).
    """
    count = min(w.shape[0], w[0].numel())
    if isinstance(spec, FFTSpectrum) and spec.shortcut == "single-tap" and g.groups == 1:
        top = block[:count]
        if len(top) == count:
            return top
    return batched_svdvals(w.double().reshape(1, w.shape[0], -1))[0]


def _distinct_values(spec: Spectrum, complete: bool) -> tuple[torch.Tensor, int]:
    """The values to fit, and how often each occurs in the spectrum.

    A single-tap layer (1x1 convs, non-overlapping patches) has the same block at every
    frequency, so its pooled ESD *is* one block's: fitting that block gives the same
    distribution at a cost independent of the input size (a 1x1 layer's spectrum takes
    milliseconds; fitting its 200k repeated values took 50-100 ms).
    """
    if complete and isinstance(spec, FFTSpectrum) and spec.shortcut == "single-tap":
        one = spec.block_values[0, 0].reshape(-1).double().sort(descending=True).values
        return one, len(spec) // len(one)
    return spec.values.double(), 1


_MIN_TAIL = 10
_RMT_COLUMNS = {
    "alpha": "alpha",
    "alpha_weighted": "alpha_weighted",
    "ks_powerlaw": "ks_powerlaw",
    # our MP estimator, named apart from WeightWatcher's sigma_mp / num_spikes (other definitions)
    "sigma_mp": "mp_sigma",
    "num_spikes": "mp_spikes",
    "ks_mp": "mp_ks",
}


def _expected_count(spec: Spectrum, g: ConvGeometry) -> int:
    if spec.method in ("fft", "spectral-density"):
        sh, sw = g.stride
        nh, nw = g.input_size[0] // sh, g.input_size[1] // sw
        return nh * nw * g.groups * min(g.c_out // g.groups, (g.c_in // g.groups) * sh * sw)
    return g.n_values


class Profile:
    """The layers of a model and their spectra, indexed by dotted module name."""

    def __init__(
        self, entries: list[LayerProfile], options: dict[str, object], model: nn.Module
    ) -> None:
        self._entries = {e.name: e for e in entries}
        self.options = options
        self.model = model

    @property
    def layers(self) -> list[str]:
        """Names of the analysed layers, in forward order (skipped layers excluded)."""
        return [n for n, e in self._entries.items() if e.spectrum is not None]

    @property
    def skipped(self) -> dict[str, str]:
        """Layers that could not be analysed, with the reason."""
        return {n: e.reason or "" for n, e in self._entries.items() if e.spectrum is None}

    def entry(self, name: str) -> LayerProfile:
        if name not in self._entries:
            raise SVDWidgetsError(
                f"unknown layer {name!r}; the profiled layers are {list(self._entries)}"
            )
        return self._entries[name]

    def __getitem__(self, name: str) -> Spectrum:
        e = self.entry(name)
        if e.spectrum is None:
            raise SVDWidgetsError(f"layer {name!r} was not analysed: {e.reason}")
        return e.spectrum

    def __iter__(self) -> Iterator[str]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        return f"Profile({len(self)} layers, {len(self.skipped)} skipped)"

    def method_comparison(self) -> Callable[[str, str, int | None], MethodCurve]:
        """``compare(layer, method, k)`` for the SpectrumView's comparison boxes.

        See :func:`svdwidgets.model.compare.method_comparison` (the view imports no torch: it
        is handed this callable and runs it off the kernel's thread).
        """
        from svdwidgets.model.compare import method_comparison

        return method_comparison(self)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per layer (skipped ones too, with their reason), important columns first.

        Columns, in order: kind, σ_max (exact: the operator's, from :mod:`svdwidgets.core.sigma_max`
        unless ``exact_sigma_max=False``), ``sigma_max_circular`` (the top of the ``fft``
        spectrum, NaN for other methods), method, exact, ``why`` (the reason for the method),
        ``alpha``, stable and effective rank,
        number of values, ``skipped`` (the reason), BN folded, the σ_max interval
        (``sigma_max_lower``, ``sigma_max_upper``), the rest of the fits
        (:meth:`LayerProfile.fits`: of the operator spectrum and the unfolded weight,
        ``alpha_weighted`` (α·log10 λ_max), ``ks_powerlaw``, our MP estimator's ``mp_sigma``,
        ``mp_spikes``, ``mp_ks``, ``unfolded_`` prefix for the weight's; with
        ``method="slices"`` WeightWatcher's whole row under its own names), geometry (weight
        shape, stride, padding, padding mode, input size), solver, seconds, cached, and the
        long ``note`` last.
        """
        import pandas as pd

        rows = []
        for e in self._entries.values():
            m, g, spec, iv = e.record.module, e.geometry, e.spectrum, e.sigma_max
            circular = spec.sigma_max if spec is not None and spec.method == "fft" else math.nan
            row: dict[str, Any] = {
                "layer": e.name,
                "kind": e.record.kind,
                "sigma_max": iv.value if iv else (spec.sigma_max if spec else math.nan),
                "sigma_max_circular": circular,
                "method": spec.method if spec else None,
                "exact": spec.exact if spec else None,
                "why": e.why,
            }
            fits = dict(e.fits())
            for name in _FIRST_FITS:
                row[name] = fits.pop(name, math.nan)
            row.update(
                {
                    "n_values": len(spec) if spec else 0,
                    "skipped": e.reason,
                    "bn_folded": e.folded,
                    "sigma_max_lower": iv.lower if iv else math.nan,
                    "sigma_max_upper": iv.upper if iv else math.nan,
                }
            )
            row.update(fits)
            row.update(
                {
                    "weight_shape": tuple(getattr(m, "weight").shape),  # noqa: B009
                    "stride": g.stride if g else None,
                    "padding": g.padding if g else None,
                    "padding_mode": g.padding_mode if g else None,
                    "input_size": e.record.input_size if e.record.calls else None,
                    "solver": spec.solver if spec else None,
                    "seconds": e.seconds,
                    "cached": e.cached,
                    "note": e.note,
                }
            )
            rows.append(row)
        return pd.DataFrame(rows).set_index("layer")

    def _repr_html_(self) -> str:
        """The table's important columns in a notebook (the long note left out).

        A ``slices`` profile shows WeightWatcher's headline metrics in place of our fits;
        columns with no value in any row are left out.
        """
        import html

        df = self.to_dataframe()
        columns = _HTML_WW_COLUMNS if self.options.get("method") == "slices" else _HTML_COLUMNS
        shown = [c for c in columns if c in df.columns and df[c].notna().any()]
        folded = "BatchNorm folded" if self.options.get("fold_bn") else "BatchNorm not folded"
        head = (
            f"<p><b>{html.escape(repr(self))}</b> &middot; input "
            f"{html.escape(str(self.options.get('input_shape')))} &middot; method "
            f"{html.escape(str(self.options.get('method')))} &middot; {folded}</p>"
        )
        return head + df[shown].to_html(float_format=lambda x: f"{x:.4g}", na_rep="")


_FIRST_FITS = ("alpha", "stable_rank", "effective_rank")
_HTML_COLUMNS = (
    "kind",
    "sigma_max",
    "sigma_max_circular",
    "method",
    "exact",
    "why",
    "alpha",
    "stable_rank",
    "effective_rank",
    "n_values",
    "input_size",
    "seconds",
    "skipped",
)
_HTML_WW_COLUMNS = (
    "kind",
    "sigma_max",
    "method",
    "alpha",
    "alpha_weighted",
    "stable_rank",
    "log_norm",
    "log_spectral_norm",
    "D",
    "sigma_mp",
    "num_spikes",
    "num_evals",
    "input_size",
    "seconds",
    "skipped",
    "ww_skipped",
)
"""WeightWatcher's headline columns, for a ``slices`` profile."""


def profile(
    model: nn.Module,
    input_shape: Sequence[int] | None = None,
    *,
    example_input: torch.Tensor | None = None,
    method: str = "auto",
    layers: Sequence[str] | None = None,
    device: torch.device | str | None = None,
    cache: bool | str | Path = True,
    progress: bool | Callable[[str, int, int], object] = True,
    fold_bn: bool = FOLD_BN_DEFAULT,
    k: int | None = None,
    dtype: torch.dtype = torch.float32,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    exact_sigma_max: bool = True,
    on_bad_weights: str = "raise",
    weightwatcher: dict[str, Any] | None = None,
) -> Profile:
    """The spectrum of every Conv2d, ConvTranspose2d and Linear layer of ``model``.

    Parameters
    ----------
    model:
        any ``nn.Module`` (nested, residual, user-defined).
    input_shape, example_input:
        one of them: the shape of one input without the batch dimension (``(3, 224, 224)``), or
        an example batch. One forward pass records the input size of every layer.
    method, k, dtype, memory_budget:
        passed to :func:`svdwidgets.conv_svd` for every layer.
    layers:
        only these layers (dotted names); an unknown name is an error.
    device:
        where spectra are computed (default: the model's device).
    cache:
        ``True`` (``$SVDWIDGETS_CACHE`` or ``~/.cache/svdwidgets``), a folder, or ``False``.
    progress:
        a tqdm progress bar over layers; or a callable ``progress(layer, done, total)`` called
        before each layer (an exception it raises stops the profile: how a job cancels).
    fold_bn:
        fold a BatchNorm2d that directly consumes a conv's output into the conv (eval-mode
        statistics) before the SVD: the operator the network applies between nonlinearities.
    exact_sigma_max:
        compute every layer's σ_max on the operator itself (:mod:`svdwidgets.core.sigma_max`):
        ``LayerProfile.sigma_max`` is an interval at most ``1e-4`` relative wide, and the
        table's ``sigma_max`` is exact even where the spectrum is the circular approximation
        (its top value stays beside it as ``sigma_max_circular``).
    on_bad_weights:
        ``"raise"`` (default): NaN/inf weights raise :class:`SVDWidgetsError` naming the layer;
        ``"skip"``: the layer goes to ``skipped`` with the reason, and a warning is issued.
    weightwatcher:
        with ``method="slices"``, the options of WeightWatcher's row (``conv2d_norm``,
        ``mp_fit``, ``min_evals``, ``max_evals``, ``max_N``; defaults
        :data:`svdwidgets.core.weightwatcher.WW_OPTIONS`, i.e. WeightWatcher's own, with
        ``mp_fit=True``). Each row's fits are then ``weightwatcher.WeightWatcher(model).analyze(
        mp_fit=True, **weightwatcher)``'s for that layer (unfolded BN-free weights, so
        ``fold_bn=False`` for the same numbers).

    Layers the forward pass never calls (an auxiliary head in eval mode) are in ``skipped``
    with the reason ``"not called by the forward pass"``.

    Every layer found is in the result: one that cannot be analysed is listed in
    ``Profile.skipped`` with its reason, never dropped silently.
    """
    if not isinstance(model, nn.Module):
        raise SVDWidgetsError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if method not in METHODS:
        raise SVDWidgetsError(f"unknown method {method!r}; expected one of {METHODS}")
    _check_options(k, dtype, memory_budget)
    if on_bad_weights not in BAD_WEIGHTS:
        raise SVDWidgetsError(
            f"on_bad_weights must be one of {BAD_WEIGHTS}, got {on_bad_weights!r}"
        )
    if weightwatcher is not None and method != "slices":
        raise SVDWidgetsError(
            f"weightwatcher={weightwatcher!r} sets WeightWatcher's row, which only "
            f"method='slices' computes (method={method!r})"
        )
    ww_options = ww.check_options(weightwatcher)
    model_device = _model_device(model)
    if model_device.type == "meta":
        raise SVDWidgetsError(
            f"the parameters of {type(model).__name__} are on the meta device (they have no "
            "values); load or materialise them first (model.to_empty(...) + load_state_dict)"
        )
    dev = _device(device, model_device)
    example = _example(model, input_shape, example_input, model_device)
    store = _store(cache)
    records = _probe(model, example, store)
    records += _not_called(model, records)
    chosen = _select(records, layers)
    options: dict[str, object] = {"method": method, "k": k, "dtype": str(dtype), "fold_bn": fold_bn}
    entries = []
    report = _Progress(progress, len(chosen) * (2 if exact_sigma_max else 1))
    try:
        for record in chosen:
            report(record.name)
            entry = _analyse(
                record, model, fold_bn, store, options, method, k, dev, dtype, memory_budget
            )
            if entry.reason and entry.reason.startswith(_BAD) and on_bad_weights == "raise":
                raise SVDWidgetsError(entry.reason + "; pass on_bad_weights='skip' to skip it")
            if entry.reason and entry.reason.startswith(_BAD):
                warnings.warn(f"profile: {entry.reason}; skipped", SVDWidgetsWarning, stacklevel=2)
            if entry.spectrum is not None and entry.geometry is not None:
                entry.why = (
                    auto_choice(entry.geometry, k, dtype, memory_budget)[1]
                    if method == "auto"
                    else f"method={method!r} asked"
                )
            if method == "slices":
                entry.weightwatcher = ww_options
            entries.append(entry)
            report.finished()
        if exact_sigma_max:
            _exact_sigma_maxes(entries, store, dev, report)
    finally:
        report.close()  # a cancelled profile leaves no progress bar behind
    options["exact_sigma_max"] = exact_sigma_max
    if method == "slices":
        options["weightwatcher"] = ww_options
    return Profile(entries, {**options, "input_shape": tuple(example.shape[1:])}, model)


def _check_options(k: object, dtype: object, memory_budget: object) -> None:
    """The options every layer shares, checked once before the forward pass (not per layer)."""
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise SVDWidgetsError(f"k must be a positive int or None, got {k!r}")
    check_dtype(dtype)
    check_memory_budget(memory_budget)


def _device(device: object, model_device: torch.device) -> torch.device:
    dev = resolve_device(device, model_device)
    if dev.type == "meta":
        raise SVDWidgetsError(f"device {device!r} cannot compute values; use 'cpu' or 'cuda'")
    return dev


_BAD = "layer "


def _not_called(model: nn.Module, records: list[LayerRecord]) -> list[LayerRecord]:
    """Conv2d, ConvTranspose2d and Linear modules the probing pass never called."""
    seen = {r.name for r in records}
    return [
        LayerRecord(name, m, (), calls=0)
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and name not in seen
    ]


def _sigma_max(
    entry: LayerProfile, store: SpectrumCache | None, device: torch.device
) -> SigmaMaxInterval | None:
    """The exact σ_max interval of an analysed layer, warm-started at its spectrum's top."""
    spec, w, g = entry.spectrum, entry.weight, entry.geometry
    if spec is None or w is None or g is None:
        return None
    key = spectrum_key(w, g, {"sigma_max_interval": REL_TOL})
    cached = store.get_object(key) if store is not None else None
    if isinstance(cached, tuple) and len(cached) == 5:
        lower, upper, how, matvecs, converged = cached
        return SigmaMaxInterval(lower, upper, how, matvecs, converged=converged)
    if spec.exact and spec.method in ("fft", "exact", "dense") and len(spec):
        # the spectrum is the operator's own: its top value is σ_max to the solver's precision
        # (backward-stable SVD: relative error a small multiple of the dtype's epsilon)
        eps = 1e-5 if spec.values.dtype == torch.float32 else 1e-12
        sigma = spec.sigma_max
        return SigmaMaxInterval(
            sigma * (1 - eps), sigma * (1 + eps), f"spectrum-{spec.method}", estimate=sigma
        )
    start = left = None
    if len(spec) and spec.geometry == g:
        try:
            a, b = spec.vector(0)
            start, left = (b, a) if g.kind == "conv_transpose" else (a, b)
        except SVDWidgetsError:
            pass
    interval = sigma_max_interval(w, g, start=start, start_left=left, device=device)
    if store is not None:
        store.put(
            key,
            (interval.lower, interval.upper, interval.method, interval.matvecs, interval.converged),
        )
    return interval


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _example(
    model: nn.Module,
    input_shape: Sequence[int] | None,
    example_input: torch.Tensor | None,
    device: torch.device,
) -> torch.Tensor:
    if (input_shape is None) == (example_input is None):
        raise SVDWidgetsError("pass exactly one of input_shape=(C, H, W) or example_input=batch")
    if example_input is not None:
        if not isinstance(example_input, torch.Tensor) or example_input.ndim < 2:
            raise SVDWidgetsError(
                f"example_input must be a batch tensor (N, ...), got "
                f"{getattr(example_input, 'shape', type(example_input).__name__)}"
            )
        example = example_input[:1].to(device)
    else:
        if not isinstance(input_shape, (tuple, list, torch.Size)):
            raise SVDWidgetsError(
                f"input_shape must be a sequence of positive ints like (3, 224, 224), got "
                f"{input_shape!r}"
            )
        shape = tuple(input_shape)
        if not shape or not all(isinstance(s, int) and s > 0 for s in shape):
            raise SVDWidgetsError(
                f"input_shape must be positive ints like (3, 224, 224), got {input_shape!r}"
            )
        example = torch.zeros((1, *shape), device=device)
    first = next((m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))), None)
    if isinstance(first, nn.Conv2d) and example.ndim == 4 and example.shape[1] != first.in_channels:
        name = next(n for n, m in model.named_modules() if m is first)
        raise SVDWidgetsError(
            f"the input has {example.shape[1]} channels (shape {tuple(example.shape[1:])}) but "
            f"the first layer {name!r} expects in_channels={first.in_channels}"
        )
    return example


def _select(records: list[LayerRecord], layers: Sequence[str] | None) -> list[LayerRecord]:
    if layers is None:
        return records
    if isinstance(layers, str):
        layers = [layers]
    known = {r.name for r in records}
    unknown = [n for n in layers if n not in known]
    if unknown:
        raise SVDWidgetsError(f"unknown layer(s) {unknown}; the model's layers are {sorted(known)}")
    wanted = set(layers)
    return [r for r in records if r.name in wanted]


def _probe(
    model: nn.Module, example: torch.Tensor, store: SpectrumCache | None
) -> list[LayerRecord]:
    """``find_layers``, or its cached answer (a warm profile then runs no forward pass)."""
    if store is None:
        return find_layers(model, example)
    key = probe_key(model, tuple(example.shape), example.dtype)
    cached = store.get_object(key)
    modules = dict(model.named_modules())
    if isinstance(cached, list) and all(len(e) == 5 and e[0] in modules for e in cached):
        return [
            LayerRecord(name, modules[name], shape, calls, bn, foreign)
            for name, shape, calls, bn, foreign in cached
        ]
    records = find_layers(model, example)
    store.put(key, [(r.name, r.input_shape, r.calls, r.batchnorm, r.foreign) for r in records])
    return records


def _store(cache: bool | str | Path) -> SpectrumCache | None:
    if cache is False:
        return None
    if cache is True:
        return SpectrumCache(default_cache_dir())
    if isinstance(cache, (str, Path)):
        return SpectrumCache(cache)
    raise SVDWidgetsError(f"cache must be True, False or a folder, got {cache!r}")


class _Progress:
    """The profile's progress, one unit per layer's spectrum and one per layer's σ_max: a
    callable ``progress(label, done, total)`` called before each unit (an exception it raises
    stops the profile: how a job cancels), a tqdm bar, or nothing."""

    def __init__(self, enabled: bool | Callable[[str, int, int], object], total: int) -> None:
        self.total, self.done = total, 0
        self._call = enabled if callable(enabled) else None
        self._bar: Any = None
        if self._call is None and enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc="svdwidgets.profile", unit="step")

    def __call__(self, label: str) -> None:
        if self._call is not None:
            self._call(label, self.done, self.total)
        elif self._bar is not None:
            self._bar.set_postfix_str(label)

    def finished(self) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _exact_sigma_maxes(
    entries: list[LayerProfile],
    store: SpectrumCache | None,
    device: torch.device,
    report: _Progress,
) -> None:
    """Every analysed layer's exact σ_max interval (:func:`_sigma_max`), set on its entry.

    On the CPU with two threads or more, the layers run side by side, each on one thread, the
    costliest first: one Lanczos step is one image's convolution and its adjoint, too small to
    keep two threads busy (ResNet-18 at 224 px: 6.1 s on torch's 2 threads one layer after
    another, 4.8 s two layers at a time on one thread each). Each layer's numbers do not
    depend on which worker ran it (one thread each, no shared state).
    """
    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    from svdwidgets.core.solvers import single_threaded_lapack

    todo = [e for e in entries if e.spectrum is not None]
    for entry in entries:  # the layers without a spectrum have no σ_max: done at once
        if entry.spectrum is None:
            report(f"{entry.name} (σ_max)")
            report.finished()
    workers = min(torch.get_num_threads(), len(todo))
    if device.type != "cpu" or workers < 2:
        for entry in todo:
            report(f"{entry.name} (σ_max)")
            entry.sigma_max = _sigma_max(entry, store, device)
            report.finished()
        return

    def one(entry: LayerProfile) -> SigmaMaxInterval | None:
        with single_threaded_lapack():
            return _sigma_max(entry, store, device)

    todo.sort(key=_matvec_cost, reverse=True)
    running: dict[Future[SigmaMaxInterval | None], LayerProfile] = {}

    def collect(futures: set[Future[SigmaMaxInterval | None]]) -> None:
        for future in futures:
            running.pop(future).sigma_max = future.result()
            report.finished()

    with ThreadPoolExecutor(workers, thread_name_prefix="svdwidgets-sigma-max") as pool:
        try:
            for entry in todo:
                if len(running) >= workers:
                    collect(wait(running, return_when=FIRST_COMPLETED).done)
                report(f"{entry.name} (σ_max)")  # may raise: the profile is cancelled
                running[pool.submit(one, entry)] = entry
            collect(wait(running).done)
        finally:
            for future in running:
                future.cancel()


def _matvec_cost(entry: LayerProfile) -> int:
    """Multiply-adds of one application of the layer's operator (what one Lanczos step costs,
    up to the steps' count)."""
    w, g = entry.weight, entry.geometry
    if w is None or g is None:
        return 0
    out_positions = math.prod(g.out_shape[1:]) if g.kind != "linear" else 1
    return int(w.numel()) * int(out_positions)


def _bad_weights(module: nn.Module) -> str | None:
    """Why the module's weight cannot be analysed (NaN/inf entries), or None."""
    w = getattr(module, "weight", None)
    if not isinstance(w, torch.Tensor):
        return None
    finite = torch.isfinite(w.detach())
    if bool(finite.all()):
        return None
    nan = int(torch.isnan(w.detach()).sum())
    inf = int((~finite).sum()) - nan
    return f"the weight {tuple(w.shape)} has {nan} NaN and {inf} inf entries"


def _analyse(
    record: LayerRecord,
    model: nn.Module,
    fold_bn: bool,
    store: SpectrumCache | None,
    options: dict[str, object],
    method: str,
    k: int | None,
    device: torch.device,
    dtype: torch.dtype,
    memory_budget: int,
) -> LayerProfile:
    start = time.perf_counter()
    if record.calls == 0:
        return LayerProfile(record, None, reason=NOT_CALLED)
    if record.foreign is not None:
        return LayerProfile(record, None, reason=record.foreign)
    bad = _bad_weights(record.module)
    if bad:
        return LayerProfile(record, None, reason=f"{_BAD}{record.name!r}: {bad}")
    reuse = ""
    if record.calls > 1:
        reuse = f"the module runs {record.calls} times; profiled on its first input"
    try:
        weight, geometry = geometry_from(record.module, record.input_size)
        folded = False
        if fold_bn and record.batchnorm is not None and geometry.kind == "conv":
            bn = model.get_submodule(record.batchnorm)
            weight = fold_batchnorm(weight, bn)  # type: ignore[arg-type]
            folded = True
        key = spectrum_key(weight, geometry, {**options, "folded": folded})
        cached = store.get_spectrum(key) if store is not None else None
        note = None
        if cached is None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", SVDWidgetsWarning)
                spectrum = spectrum_of(
                    weight,
                    geometry,
                    method=method,
                    k=k,
                    device=device,
                    dtype=dtype,
                    memory_budget=memory_budget,
                )
            note = "; ".join(str(w.message) for w in caught) or None
            if store is not None:
                store.put_spectrum(key, spectrum, note)
        else:
            spectrum, note = cached
    except SVDWidgetsError as err:
        return LayerProfile(record, None, reason=str(err), seconds=time.perf_counter() - start)
    return LayerProfile(
        record,
        spectrum,
        weight=weight,
        geometry=geometry,
        note="; ".join(n for n in (note, reuse) if n) or None,
        seconds=time.perf_counter() - start,
        cached=cached is not None,
        folded=folded,
    )
