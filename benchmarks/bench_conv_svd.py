"""Time the full circular spectrum of every conv layer of ResNet-18, ResNet-50 and VGG-16.

Side by side, in one run, on the same random (seeded, Kaiming-scaled) weights:

(a) the published reference, Sedghi, Gupta & Long (ICLR 2019), re-implemented from the paper::

        transforms = np.fft.fft2(kernel, (n, n), axes=[0, 1])   # kernel: (kh, kw, c_in, c_out)
        np.linalg.svd(transforms, compute_uv=False)             # all n x n frequencies

(b) the stock torch path: ``torch.fft.rfft2`` of the zero-padded kernel (the half plane), one
    ``torch.linalg.svdvals`` call on all the blocks (default driver, default torch threading),
    every value repeated by its frequency's multiplicity (conjugate frequencies twice) and
    sorted. On CUDA also (b') the same with ``driver="gesvda"`` in chunks of 4096 matrices.
(c) the engine: ``svdwidgets.conv_svd(weight, (n, n), stride=s, padding=p,
    padding_mode="circular")``; circular padding, so its ``fft`` method is exact.

(b) and (c) return the same object (all values, with multiplicity, sorted); (a) returns the
paper's per-frequency array. Strided layers: (a) and (b), as published, ignore the stride and
compute the stride-1 circular operator on the n x n grid; (c) computes the strided operator
exactly (polyphase). They are timed as they are, but their values are compared only on
stride-1 layers (``--check``), against a float64 reference (numpy, complex128, kernel wrapped
onto the grid).

Run from the repository root. The recommended CPU run is ``--size 56`` (reference included)::

    python benchmarks/bench_conv_svd.py --size 56 --check --per-layer --markdown out.md

On 2 shared cores of an AMD EPYC (torch 2.13 CPU) it took about 2 minutes for all three models
(load average ~2); ``--size 224`` with the reference and ``--check`` took 46 minutes of wall
time there, almost all of it the reference (a) on a machine under load.
On CUDA: ``--device cuda`` (or ``all`` for both tables).

Options: ``--models resnet18,resnet50,vgg16``, ``--skip-reference``, ``--device cpu|cuda|all``,
``--repeat R`` (min of R runs), ``--check`` (accuracy), ``--per-layer``, ``--markdown PATH``,
``--no-dedup`` (by default identical layer shapes within a model are timed once and their time
multiplied by their count; the output says so), ``--seed``.

Timings and threading: (a) uses numpy's BLAS threads and (b) torch's default threads; (c) runs
single-threaded LAPACK calls in a pool of ``torch.get_num_threads()`` threads. Threaded LAPACK
on small matrices degrades badly when the cores are shared (10-100x slower calls were seen on a
loaded 2-core machine), so on a busy machine (a) and (b) suffer more than (c): take numbers
for publication on a quiet machine, with ``--repeat 3``. The load average is printed.

Layer shapes and how the input sizes are derived: ``benchmarks/layers.py``.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from layers import MODELS, ConvLayer, model_layers

import svdwidgets as sw
from svdwidgets.core.solvers import GESVDA_CHUNK

CHUNK_BYTES = 2 << 30
"""(a) and (b) split the frequencies into chunks only when one layer's blocks exceed this."""
REL_FLOOR = 1e-4
"""Accuracy is measured on the values ``>= REL_FLOOR * sigma_max``."""

METHOD_LABELS = {
    "a": "(a) reference numpy",
    "b": "(b) stock torch",
    "b_gesvda": "(b') stock torch, gesvda chunked",
    "c": "(c) svdwidgets",
}
METHOD_NOTES = {
    "a": "np.fft.fft2 + np.linalg.svd, all n² frequencies, on the CPU; stride-1 operator",
    "b": "rfft2 + torch.linalg.svdvals (default driver), half plane; stride-1 operator",
    "b_gesvda": f"as (b), driver='gesvda' in chunks of {GESVDA_CHUNK}; stride-1 operator",
    "c": "conv_svd(..., padding_mode='circular'); exact strided operator",
}


# ----------------------------------------------------------------------------- the methods


def multiplicity(n: int) -> torch.Tensor:
    """How often each column ``0 <= f_w <= n//2`` of the half plane occurs in the full plane."""
    mult = torch.full((n // 2 + 1,), 2, dtype=torch.int64)
    mult[0] = 1
    if n % 2 == 0:
        mult[-1] = 1
    return mult


def reference_numpy(kernel: np.ndarray, n: int) -> np.ndarray:
    """(a) Sedghi et al. (2019), as published: ``kernel`` is ``(kh, kw, c_in, c_out)``.

    Returns the ``(n, n, min(c_in, c_out))`` singular values, one row per frequency. When the
    transforms would exceed :data:`CHUNK_BYTES`, the columns are done a chunk at a time (the
    FFT along the width first, then along the height for each chunk of columns): the same
    numbers, in bounded memory.
    """
    c_in, c_out = kernel.shape[2:]
    itemsize = np.dtype(np.result_type(kernel.dtype, np.complex64)).itemsize
    if n * n * c_in * c_out * itemsize <= CHUNK_BYTES:
        transforms = np.fft.fft2(kernel, (n, n), axes=[0, 1])
        return np.linalg.svd(transforms, compute_uv=False)
    cols = max(1, CHUNK_BYTES // (n * c_in * c_out * itemsize))
    along_w = np.fft.fft(kernel, n, axis=1)  # (kh, n, c_in, c_out)
    out = np.empty((n, n, min(c_in, c_out)), dtype=np.float32 if itemsize == 8 else np.float64)
    for start in range(0, n, cols):
        part = np.fft.fft(along_w[:, start : start + cols], n, axis=0)
        out[:, start : start + cols] = np.linalg.svd(part, compute_uv=False)
        del part
    return out


def _rfft_blocks(weight: torch.Tensor, n: int, rows: slice | None = None) -> torch.Tensor:
    """The half-plane blocks ``(rows, n//2 + 1, c_out, c_in)`` of the zero-padded kernel."""
    if rows is None:
        spectrum = torch.fft.rfft2(weight, s=(n, n))  # (c_out, c_in, n, n//2 + 1)
        return spectrum.permute(2, 3, 0, 1)
    # Only some rows: the FFT along the width, then the DFT along the height for those rows.
    along_w = torch.fft.rfft(weight, n=n, dim=-1)  # (c_out, c_in, kh, n//2 + 1)
    kh = weight.shape[2]
    f = torch.arange(rows.start, rows.stop, dtype=torch.float64, device=weight.device)
    a = torch.arange(kh, dtype=torch.float64, device=weight.device)
    phase = torch.polar(
        torch.ones(kh, f.numel(), dtype=torch.float64, device=weight.device),
        -2 * math.pi * a[:, None] * f[None, :] / n,
    ).to(along_w.dtype)
    return torch.einsum("oiah,af->fhoi", along_w, phase)


def _expand_sort(values: torch.Tensor, n: int) -> torch.Tensor:
    """``(n, n//2+1, r)`` half-plane values -> all values with multiplicity, descending."""
    rows, _, r = values.shape
    repeats = multiplicity(n).to(values.device).repeat_interleave(r).repeat(rows)
    flat = values.reshape(-1).repeat_interleave(repeats)
    return torch.sort(flat, descending=True).values


def stock_torch(weight: torch.Tensor, n: int, *, driver: str | None = None) -> torch.Tensor:
    """(b) rfft2 + ``torch.linalg.svdvals``; all values with multiplicity, sorted, on the CPU.

    ``driver=None`` is one call on all blocks (chunked by rows of frequencies only when they
    exceed :data:`CHUNK_BYTES`); ``driver="gesvda"`` (CUDA) goes through chunks of
    ``GESVDA_CHUNK`` tall matrices, as in the issue.
    """
    c_out, c_in = weight.shape[:2]
    half = n // 2 + 1
    itemsize = 2 * weight.element_size()
    per_row = half * c_out * c_in * itemsize
    row_chunk = n if n * per_row <= CHUNK_BYTES else max(1, CHUNK_BYTES // per_row)
    parts = []
    for start in range(0, n, row_chunk):
        rows = None if row_chunk == n else slice(start, min(n, start + row_chunk))
        blocks = _rfft_blocks(weight, n, rows)
        flat = blocks.reshape(-1, c_out, c_in)
        if driver is None:
            sv = torch.linalg.svdvals(flat)
        else:
            tall = flat if c_out >= c_in else flat.mH
            sv = torch.cat(
                [
                    torch.linalg.svdvals(tall[i : i + GESVDA_CHUNK], driver=driver)
                    for i in range(0, tall.shape[0], GESVDA_CHUNK)
                ]
            )
        parts.append(sv.reshape(blocks.shape[0], half, -1))
        del blocks, flat
    values = parts[0] if len(parts) == 1 else torch.cat(parts)
    return _expand_sort(values, n).cpu()


def gram_eigvalsh(weight: torch.Tensor, n: int) -> torch.Tensor:
    """The Gram variant: ``sqrt(eigvalsh(M^H M))`` per frequency (squares the condition)."""
    c_out, c_in = weight.shape[:2]
    blocks = _rfft_blocks(weight, n).reshape(-1, c_out, c_in)
    gram = blocks.mH @ blocks if c_in <= c_out else blocks @ blocks.mH
    ev = torch.linalg.eigvalsh(gram).flip(-1).clamp_min(0).sqrt()
    return _expand_sort(ev.reshape(n, n // 2 + 1, -1), n).cpu()


def engine(weight: torch.Tensor, layer: ConvLayer, device: str) -> Any:
    """(c) ``svdwidgets.conv_svd``, circular padding (exact ``fft`` method)."""
    n = layer.input_size
    return sw.conv_svd(
        weight,
        (n, n),
        stride=layer.stride,
        padding=layer.padding,
        padding_mode="circular",
        device=device,
    )


def float64_reference(weight: torch.Tensor, n: int) -> np.ndarray:
    """Every singular value of the stride-1 circular convolution on the n x n grid, float64.

    numpy, complex128, no torch and no svdwidgets code: the kernel is wrapped onto the grid
    (taps ``a`` and ``a + n`` coincide, so a kernel larger than the grid is handled exactly),
    then rfft2 and ``np.linalg.svd`` per half-plane frequency; values sorted with multiplicity.
    """
    w = weight.detach().cpu().double().numpy()
    c_out, c_in, kh, kw = w.shape
    wrapped = np.zeros((c_out, c_in, n, n))
    for a in range(kh):
        for b in range(kw):
            wrapped[:, :, a % n, b % n] += w[:, :, a, b]
    blocks = np.fft.rfft2(wrapped, axes=(2, 3)).transpose(2, 3, 0, 1)
    sv = np.linalg.svd(blocks, compute_uv=False)  # (n, n//2+1, r)
    repeats = np.repeat(multiplicity(n).numpy(), sv.shape[-1])
    flat = np.repeat(sv.reshape(n, -1), repeats, axis=1).reshape(-1)
    return np.sort(flat)[::-1]


def max_rel_error(values: torch.Tensor | np.ndarray, ref: np.ndarray) -> float:
    """``max |x_i - ref_i| / ref_i`` over ``ref_i >= REL_FLOOR * ref_0`` (both descending)."""
    x = values.double().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if x.shape != ref.shape:
        return math.inf
    keep = ref >= REL_FLOOR * ref[0]
    return float(np.max(np.abs(x[keep] - ref[keep]) / ref[keep]))


def frobenius_deviation(values: torch.Tensor, weight: torch.Tensor, layer: ConvLayer) -> float:
    """``|Σσ² / ((n/s)² ‖W‖_F²) - 1|``: exact for the circular strided operator when n >= k."""
    grid = layer.input_size // layer.stride
    expect = grid * grid * float(weight.double().square().sum())
    return abs(float(values.double().square().sum()) / expect - 1.0)


# ------------------------------------------------------------------------------- timing


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def timed(fn: Callable[[], Any], device: str, repeat: int) -> tuple[float, Any]:
    """Min wall time of ``repeat`` calls (synchronised on CUDA), and the last result."""
    best, out = math.inf, None
    for _ in range(repeat):
        out = None
        _free(device)
        _sync(device)
        start = time.perf_counter()
        out = fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best, out


@dataclass
class Row:
    """One distinct layer shape of a model: its layers, times and checks."""

    layers: list[ConvLayer]
    times: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    shortcut: str = "?"
    solver: str = "?"
    exact: bool | None = None
    frobenius: float | None = None
    accuracy: dict[str, float] = field(default_factory=dict)

    @property
    def layer(self) -> ConvLayer:
        return self.layers[0]

    @property
    def count(self) -> int:
        return len(self.layers)


def _short_error(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".replace("\n", " ").replace("|", "/")
    return text if len(text) <= 160 else text[:157] + "..."


def run_method(row: Row, key: str, fn: Callable[[], Any], device: str, repeat: int) -> Any:
    """Time ``fn`` for ``row``; on failure record the error and return None (no crash)."""
    try:
        seconds, out = timed(fn, device, repeat)
    except Exception as err:  # a failed method is reported, not fatal
        row.errors[key] = _short_error(err)
        log(f"    {key}: FAILED {row.errors[key]}")
        if os.environ.get("BENCH_TRACEBACK"):
            traceback.print_exc()
        _free(device)
        return None
    row.times[key] = seconds
    return out


# ------------------------------------------------------------------------------ the runs


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def group_layers(layers: list[ConvLayer], dedup: bool) -> list[Row]:
    if not dedup:
        return [Row([layer]) for layer in layers]
    rows: dict[tuple[int, ...], Row] = {}
    for layer in layers:
        rows.setdefault(layer.shape_key, Row([])).layers.append(layer)
    return list(rows.values())


def warm_up(device: str, methods: list[str]) -> None:
    """One untimed call of every method on tiny layers (library loading, thread pools, CUDA).

    A method that fails here is left to fail (and be reported) on the real layers.
    """
    for kernel, stride, padding in ((3, 1, 1), (1, 1, 0), (3, 2, 1)):
        _warm_one(ConvLayer("warmup", 16, 8, kernel, stride, padding, 8), device, methods)
    _sync(device)


def _warm_one(layer: ConvLayer, device: str, methods: list[str]) -> None:
    w = layer.weight().to(device)
    kernel = layer.weight().permute(2, 3, 1, 0).contiguous().numpy()
    calls: list[Callable[[], Any]] = [lambda: stock_torch(w, 8)]
    if "a" in methods:
        calls.append(lambda: reference_numpy(kernel, 8))
    if "b_gesvda" in methods:
        calls.append(lambda: stock_torch(w, 8, driver="gesvda"))
    calls.append(lambda: engine(w, layer, device).values)
    for call in calls:
        try:
            call()
        except Exception as err:  # reported where it matters, on the real layers
            log(f"  warm-up call failed: {_short_error(err)}")


def bench_model(
    model: str,
    device: str,
    methods: list[str],
    args: argparse.Namespace,
    reference_cache: dict[tuple[Any, ...], tuple[float | None, str | None]],
) -> list[Row]:
    layers = model_layers(model, args.size)
    rows = group_layers(layers, dedup=not args.no_dedup)
    for i, row in enumerate(rows, 1):
        times = f" (x{row.count})" if row.count > 1 else ""
        log(f"  [{model} {device} {i}/{len(rows)}] {row.layer.name} {row.layer.describe()}{times}")
        bench_row(row, model, device, methods, args, reference_cache)
        spent = ", ".join(f"{k} {v:.3f}s" for k, v in row.times.items())
        log(f"    {spent}")
        _free(device)
    return rows


def bench_row(
    row: Row,
    model: str,
    device: str,
    methods: list[str],
    args: argparse.Namespace,
    reference_cache: dict[tuple[Any, ...], tuple[float | None, str | None]],
) -> None:
    """Time every method on one layer shape (the first layer of ``row``) and check it."""
    layer = row.layer
    n = layer.input_size
    w_cpu = layer.weight(seed=args.seed)
    w = w_cpu.to(device)

    if "a" in methods:
        # numpy runs on the CPU whatever the device: time it once per layer and reuse it.
        key = (model, layer.name, layer.shape_key, args.seed, args.repeat)
        if key not in reference_cache:
            kernel = w_cpu.permute(2, 3, 1, 0).contiguous().numpy()
            run_method(row, "a", lambda: reference_numpy(kernel, n), "cpu", args.repeat)
            reference_cache[key] = (row.times.get("a"), row.errors.get("a"))
        else:
            seconds, error = reference_cache[key]
            if seconds is not None:
                row.times["a"] = seconds
            if error is not None:
                row.errors["a"] = error

    b_values = run_method(row, "b", lambda: stock_torch(w, n), device, args.repeat)
    if "b_gesvda" in methods:
        run_method(row, "b_gesvda", lambda: stock_torch(w, n, driver="gesvda"), device, args.repeat)
    spec = run_method(row, "c", lambda: engine(w, layer, device), device, args.repeat)
    if spec is not None:
        row.solver = spec.solver
        row.shortcut = getattr(spec, "shortcut", spec.method)
        row.exact = bool(spec.exact)
        if spec.method != "fft" or not spec.exact:
            log(f"    note: the engine ran method={spec.method!r} exact={spec.exact}")
        if n >= layer.kernel:
            row.frobenius = frobenius_deviation(spec.values, w_cpu, layer)

    if args.check and layer.stride == 1:
        try:
            ref = float64_reference(w_cpu, n)
            if spec is not None:
                row.accuracy["c"] = max_rel_error(spec.values, ref)
            if b_values is not None and n >= layer.kernel:
                row.accuracy["b"] = max_rel_error(b_values, ref)
            if n >= layer.kernel:
                row.accuracy["gram"] = max_rel_error(gram_eigvalsh(w, n), ref)
        except Exception as err:  # a failed check is reported, not fatal
            row.errors["check"] = _short_error(err)
            log(f"    check: FAILED {row.errors['check']}")


# ------------------------------------------------------------------------------- output


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.3f}" if seconds < 100 else f"{seconds:.1f}"


def fmt_ratio(num: float | None, den: float | None) -> str:
    if num is None or den is None or den <= 0:
        return "—"
    ratio = num / den
    return f"{ratio:.1f}×" if ratio >= 10 else f"{ratio:.2f}×"


def fmt_err(err: float | None) -> str:
    return "—" if err is None else f"{err:.1e}"


def total(rows: list[Row], key: str) -> tuple[float | None, int]:
    """Sum over all layers (a distinct shape counted once per layer); and how many failed."""
    failed = sum(row.count for row in rows if key not in row.times)
    done = [row.times[key] * row.count for row in rows if key in row.times]
    return (sum(done) if done else None), failed


def ratio(rows: list[Row], num: str, den: str) -> str:
    """``num`` time / ``den`` time, over the layers where both ran (``*``: some did not)."""
    both = [row for row in rows if num in row.times and den in row.times]
    if not both:
        return "—"
    t_num, t_den = total(both, num)[0], total(both, den)[0]
    partial = "*" if len(both) < len(rows) else ""
    return fmt_ratio(t_num, t_den) + partial


def machine_lines(args: argparse.Namespace, devices: list[str]) -> list[str]:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    lines = [
        f"- CPU: {cpu}; {os.cpu_count()} logical cores ({usable} usable by this process)",
        f"- torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}; "
        f"numpy {np.__version__}; Python {platform.python_version()}",
    ]
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        lines.append(f"- GPU: {names} (CUDA {torch.version.cuda})")
    else:
        lines.append("- GPU: none (torch.cuda.is_available() is False)")
    if hasattr(os, "getloadavg"):
        lines.append(f"- load average at start: {_load()} (other processes share these cores)")
    lines.append(
        f"- run: --size {args.size} --repeat {args.repeat} --devices {','.join(devices)}"
        f"{' --check' if args.check else ''}{' --skip-reference' if args.skip_reference else ''}"
        f"{' --no-dedup' if args.no_dedup else ''}, weights seed {args.seed} (Kaiming normal)"
    )
    return lines


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def model_tables(
    model: str, device: str, rows: list[Row], methods: list[str], args: argparse.Namespace
) -> list[str]:
    n_layers = sum(row.count for row in rows)
    strided = sum(row.count for row in rows if row.layer.stride > 1)
    timed_once = (
        f"{len(rows)} distinct shapes, each timed once (min of {args.repeat}) and its time "
        "multiplied by its number of layers"
        if not args.no_dedup
        else f"every layer timed (min of {args.repeat})"
    )
    out = [
        f"### {model}, {device.upper()}, {args.size}×{args.size} input",
        "",
        f"{n_layers} conv layers ({strided} strided); {timed_once}.",
        "",
        "| method | seconds (all layers) | ratio vs (c) | what it computes |",
        "| --- | ---: | ---: | --- |",
    ]
    shortcuts: Counter[str] = Counter()
    solvers: Counter[str] = Counter()
    for row in rows:
        if "c" in row.times:
            shortcuts[row.shortcut] += row.count
            solvers[row.solver] += row.count
        else:
            shortcuts["failed"] += row.count
    for key in methods:
        t, failed = total(rows, key)
        label = METHOD_LABELS[key]
        if key == "a" and device == "cuda":
            label += " (CPU)"
        if key == "c":
            solver = ", ".join(solvers)
            cuts = ", ".join(f"{name} ×{count}" for name, count in shortcuts.most_common())
            label += f" [{solver}; shortcuts: {cuts}]"
        note = METHOD_NOTES[key]
        if failed:
            note += f"; FAILED on {failed} layer(s), total excludes them"
        out.append(f"| {label} | {fmt_s(t)} | {ratio(rows, key, 'c')} | {note} |")
    out.append("")
    if any(key not in row.times for row in rows for key in methods):
        out += ["\\* ratio over the layers where both methods ran.", ""]
    out += kind_table(rows, methods)
    if args.per_layer:
        out += layer_table(rows, methods, args.check)
    if args.check:
        out += accuracy_lines(rows)
    errors = [(row, k, e) for row in rows for k, e in row.errors.items()]
    if errors:
        out.append("Failures:")
        out += [f"- {row.layer.name} ({row.layer.describe()}) {k}: {e}" for row, k, e in errors]
        out.append("")
    return out


KIND_ORDER = ("7x7 stem", "3x3", "1x1", "strided 3x3", "strided 1x1")


def kind_table(rows: list[Row], methods: list[str]) -> list[str]:
    kinds = [k for k in KIND_ORDER if any(row.layer.kind == k for row in rows)]
    head = " | ".join(f"{METHOD_LABELS[m].split(' ')[0]} s" for m in methods)
    baselines = [m for m in ("b", "b_gesvda") if m in methods]
    ratios = " | ".join(f"{METHOD_LABELS[m].split(' ')[0]}/(c)" for m in baselines)
    out = [
        f"| layer kind | layers | {head} | {ratios} | share of (c) |",
        "| --- | ---: | " + " | ".join("---:" for _ in [*methods, *baselines]) + " | ---: |",
    ]
    t_c_all, _ = total(rows, "c")

    def line(name: str, subset: list[Row]) -> str:
        cells = [fmt_s(total(subset, m)[0]) for m in methods]
        cells += [ratio(subset, m, "c") for m in baselines]
        t_c = total(subset, "c")[0]
        share = f"{100 * t_c / t_c_all:.0f}%" if t_c is not None and t_c_all else "—"
        count = sum(row.count for row in subset)
        return f"| {name} | {count} | {' | '.join(cells)} | {share} |"

    for kind in kinds:
        out.append(line(kind, [row for row in rows if row.layer.kind == kind]))
    ones = [row for row in rows if row.layer.kernel == 1]
    if ones:
        out.append(line("all 1x1 (incl. strided)", ones))
    out.append(line("**all layers**", rows))
    out.append("")
    one_by_one = [row for row in rows if row.layer.kind == "1x1"]
    if one_by_one:
        out.append(
            f"1×1 shortcut: on the stride-1 1×1 layers (c) is {ratio(one_by_one, 'b', 'c')} "
            f"faster than per-frequency SVDs (b); on all layers {ratio(rows, 'b', 'c')}."
        )
        out.append("")
    return out


def layer_table(rows: list[Row], methods: list[str], check: bool) -> list[str]:
    head = " | ".join(f"{METHOD_LABELS[m].split(' ')[0]} s" for m in methods)
    extra = " | err (c) | err (b)" if check else ""
    out = [
        f"| layer (×count) | shape | {head} | (c) shortcut | Σσ² dev (c){extra} |",
        "| --- | --- | "
        + " | ".join("---:" for _ in methods)
        + " | --- | ---:"
        + (" | ---: | ---:" if check else "")
        + " |",
    ]
    for row in rows:
        name = row.layer.name + (f" (×{row.count})" if row.count > 1 else "")
        cells = " | ".join(fmt_s(row.times.get(m)) for m in methods)
        errs = ""
        if check:
            errs = f" | {fmt_err(row.accuracy.get('c'))} | {fmt_err(row.accuracy.get('b'))}"
        frob = fmt_err(row.frobenius)
        out.append(f"| {name} | {row.layer.describe()} | {cells} | {row.shortcut} | {frob}{errs} |")
    out.append("")
    return out


def accuracy_lines(rows: list[Row]) -> list[str]:
    ones = [row for row in rows if row.layer.stride == 1]
    out = [
        f"Accuracy on the {sum(r.count for r in ones)} stride-1 layers (max relative error over "
        f"σ ≥ {REL_FLOOR:g}·σ_max, against numpy float64; with shapes deduplicated, the "
        "first layer of each shape):",
        "",
    ]
    for key, label in (("c", "(c) svdwidgets, float32"), ("b", "(b) stock torch, float32")):
        have = [r for r in ones if key in r.accuracy]
        if have:
            worst = max(have, key=lambda r: r.accuracy[key])
            out.append(
                f"- {label}: {fmt_err(worst.accuracy[key])} (worst layer {worst.layer.name}, "
                f"{worst.layer.describe()}); {len(have)} shapes checked"
            )
    gram = [r for r in ones if "gram" in r.accuracy]
    if gram:
        worst = max(gram, key=lambda r: r.accuracy["gram"])
        median = float(np.median([r.accuracy["gram"] for r in gram]))
        out.append(
            "- footnote, Gram + eigvalsh (√eig(MᴴM), float32): max "
            f"{fmt_err(worst.accuracy['gram'])}"
            f" (worst {worst.layer.name}), median over shapes {fmt_err(median)}: it squares "
            "the condition number"
        )
    small = [r for r in ones if r.layer.input_size < r.layer.kernel]
    if small:
        names = ", ".join(r.layer.name for r in small)
        out.append(
            f"- not compared for (b): {names} (grid smaller than the kernel: rfft2(s=(n, n)) "
            "crops the kernel, so (a) and (b) compute a different operator there)"
        )
    frob = [r for r in rows if r.frobenius is not None]
    if frob:
        worst = max(frob, key=lambda r: r.frobenius or 0.0)
        out.append(
            f"- (c) Σσ² = (n/s)²‖W‖²_F on all {len(frob)} shapes with n ≥ k (strided too): "
            f"max deviation {fmt_err(worst.frobenius)} ({worst.layer.name})"
        )
    out.append("")
    return out


def summary_table(
    results: dict[tuple[str, str], list[Row]], methods_of: dict[str, list[str]]
) -> list[str]:
    out = [
        "### Summary (seconds for all conv layers of each model)",
        "",
        "| model | device | (a) s | (b) s | (b') s | (c) s | (a)/(c) | (b)/(c) | (b')/(c) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (model, device), rows in results.items():
        methods = methods_of[device]
        t = {m: (total(rows, m)[0] if m in methods else None) for m in METHOD_LABELS}
        out.append(
            f"| {model} | {device} | {fmt_s(t['a'])} | {fmt_s(t['b'])} | {fmt_s(t['b_gesvda'])}"
            f" | {fmt_s(t['c'])} | {ratio(rows, 'a', 'c')} | {ratio(rows, 'b', 'c')}"
            f" | {ratio(rows, 'b_gesvda', 'c')} |"
        )
    out.append("")
    return out


# --------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=224, help="input image size (default 224)")
    p.add_argument("--models", default="resnet18,resnet50,vgg16", help="comma-separated")
    p.add_argument("--skip-reference", action="store_true", help="skip (a), the slow one")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "all"))
    p.add_argument("--repeat", type=int, default=1, help="min over R runs (default 1)")
    p.add_argument("--check", action="store_true", help="accuracy against float64 (slower)")
    p.add_argument("--markdown", type=Path, help="also write the tables to this file")
    p.add_argument("--per-layer", action="store_true", help="also print a row per layer shape")
    p.add_argument(
        "--no-dedup",
        action="store_true",
        help="time every layer, even when an identical shape was timed already",
    )
    p.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    args = p.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        p.error(f"--models: unknown {unknown}; choose from {','.join(MODELS)}")
    args.model_list = models
    if args.size < 16:
        p.error("--size must be >= 16 (the ResNet stem pads by 3 on a size/2 grid)")
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: CUDA is not available")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    devices = ["cpu"] if args.device == "cpu" else ["cuda"] if args.device == "cuda" else []
    if args.device == "all":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    started = time.perf_counter()
    lines = ["## Circular spectrum of every conv layer: reference vs stock torch vs svdwidgets", ""]
    lines += machine_lines(args, devices)
    lines += [
        "",
        "(a) and (b) ignore the stride (as published): on strided layers they compute the "
        "stride-1 operator on the n×n grid, (c) the strided operator itself; their times are "
        "compared as they are, their values only on stride-1 layers. Times are wall-clock "
        "seconds; ratio = method time / (c) time.",
        "",
    ]
    print("\n".join(lines), flush=True)
    written = list(lines)

    def emit(block: list[str]) -> None:
        print("\n".join(block), flush=True)
        written.extend(block)
        if args.markdown:
            args.markdown.write_text("\n".join(written) + "\n")

    results: dict[tuple[str, str], list[Row]] = {}
    methods_of: dict[str, list[str]] = {}
    reference_cache: dict[tuple[Any, ...], tuple[float | None, str | None]] = {}
    for device in devices:
        methods = ([] if args.skip_reference else ["a"]) + ["b"]
        methods += ["b_gesvda"] if device == "cuda" else []
        methods += ["c"]
        methods_of[device] = methods
        log(f"warming up on {device} ...")
        warm_up(device, methods)
        for model in args.model_list:
            t0 = time.perf_counter()
            rows = bench_model(model, device, methods, args, reference_cache)
            results[(model, device)] = rows
            block = model_tables(model, device, rows, methods, args)
            block.append(f"(this table took {time.perf_counter() - t0:.0f} s of wall time)")
            block.append("")
            emit(block)
    emit(summary_table(results, methods_of))
    load = f"; load average at the end: {_load()}" if hasattr(os, "getloadavg") else ""
    emit([f"Whole run: {time.perf_counter() - started:.0f} s wall time{load}.", ""])
    return 0


if __name__ == "__main__":
    sys.exit(main())
