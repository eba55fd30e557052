"""Everything a lent GPU should measure, in one run: solvers, the engine, rendering, the Explorer.

Run through ``bash benchmarks/gpu_suite.sh`` (which installs the project first). Sections, each
side by side in the same process and each guarded (a failure is recorded, the run goes on):

1. **solvers** on batches of random complex64 blocks of the shapes the ``fft`` method produces
   (plus a graded, ill-conditioned batch): chunked ``gesvda`` with its Frobenius check (the
   engine's default), the Triton one-sided Jacobi in float64 and float32 rotations
   (:mod:`svdwidgets.core.jacobi`), and the stock default driver; accuracy against LAPACK in
   complex128 on the CPU: ``max |σ - σ_ref| / σ_max`` and the largest relative error of the
   values ``>= 1e-4 σ_max`` (the solver contract: 1e-5 and 1e-3). From it, the proposed solver
   table: per shape, the fastest solver that meets the contract (``--write-table`` writes it
   to ``svdwidgets/core/solver_table.json``).
2. **engine**: the full circular spectrum of every conv layer of ResNet-18, ResNet-50 and VGG-16
   at 224 (``benchmarks/layers.py``; identical layer shapes timed once and counted), through
   ``sw.conv_svd`` with each solver, against the stock paths of ``bench_conv_svd.py`` (rfft2 +
   ``svdvals``: chunked ``gesvda``, and the default driver, the latter cut off after a time
   budget). Accuracy: the Frobenius identity ``Σσ² = (n/s)² ‖W‖²`` (exact) and the largest
   deviation from float64 LAPACK on the CPU, relative to σ_max. Achieved rate: LAPACK's flop
   count of the SVDs (``4·(4mn² - 4n³/3)`` real flops per complex ``m x n`` block, values only)
   over the time, as a fraction of the device's fp32 / fp64 peak.
3. **featurevis**: ``bench_featurevis.py --gpu-only`` (64 directions of ResNet-18 layer3 at
   128 px, 256 steps: ours vs stock batched Lucent).
4. **explorer**: ``sw.profile`` and ``sw.Explorer`` on ResNet-50 at 224 on CUDA.

``--dry-run`` runs every section on the CPU with tiny sizes (Triton's interpreter for the
Jacobi solver), so that a device run does not fail on a typo. Writes ``suite.json`` and
``suite.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
# this checkout's svdwidgets, never an installed copy (a wheelhouse's wheel was measured
# instead of the checkout in the second H200 run)
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import svdwidgets as sw  # noqa: E402
from svdwidgets.core import jacobi, solvers  # noqa: E402
from svdwidgets.core.jacobi import jacobi_svdvals  # noqa: E402

jacobi.FLOAT32_ON_CUDA_UNVERIFIED_OK = True  # measured here, accuracy included

SOLVERS = ("gesvda", "jacobi-f64", "jacobi-f32")
CONTRACT_ABS = 1e-5  # every σ within 1e-5 σ_max
CONTRACT_REL = 1e-3  # 1e-3 relative for σ >= 1e-4 σ_max
# dense fp32 / fp64 (non-tensor-core) peaks, from NVIDIA's data sheets (SXM parts)
PEAKS = {"H100": (67e12, 34e12), "H200": (67e12, 34e12), "A100": (19.5e12, 9.7e12)}

# (m, n, batch): c_out x s²c_in blocks of the fft method at 224 (rfft half plane counts)
SOLVER_SHAPES = [
    (64, 12, 12 * 1024),  # ResNet stem 7x7/2 on 3 channels: polyphase 4·3 columns (112 x 57)
    (64, 64, 56 * 29),  # ResNet stage 1 (56 x 29 frequencies)
    (128, 128, 28 * 15),
    (128, 256, 28 * 15),  # a strided 3x3: 4·64 input phases
    (256, 256, 14 * 8),
    (512, 512, 7 * 4),
]
DRY_SHAPES = [(8, 3, 4), (6, 6, 3), (5, 9, 2)]
MODELS = ("resnet18", "resnet50", "vgg16")


def log(msg: str) -> None:
    print(msg, flush=True)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str, repeat: int) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls after one warm-up (compiles, caches), and a result."""
    out = fn()
    sync(device)
    times = []
    for _ in range(repeat):
        sync(device)
        t = time.perf_counter()
        out = fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def guarded(results: dict[str, Any], key: str, fn: Callable[[], Any]) -> None:
    t = time.perf_counter()
    try:
        results[key] = fn()
    except Exception as err:  # the suite goes on: one failing section must not cost the rest
        traceback.print_exc()
        results[key] = {"error": f"{type(err).__name__}: {err}"}
    log(f"[{key}] {time.perf_counter() - t:.1f} s")


def svd_flops(m: int, n: int) -> float:
    """LAPACK's count for the singular values of a complex m x n matrix (real flops)."""
    m, n = max(m, n), min(m, n)
    return 4.0 * (4.0 * m * n * n - 4.0 * n**3 / 3.0)


# ----------------------------------------------------------------------------- 1. solvers


def graded(batch: int, m: int, n: int, device: str) -> torch.Tensor:
    """Blocks with singular values spread over six decades (tiny values in the contract)."""
    g = torch.Generator().manual_seed(1)
    k = min(m, n)
    qa = torch.linalg.qr(torch.randn(batch, m, k, dtype=torch.complex128, generator=g)).Q
    qb = torch.linalg.qr(torch.randn(batch, n, k, dtype=torch.complex128, generator=g)).Q
    s = torch.logspace(0, -6, k, dtype=torch.float64)
    return (qa * s.to(qa.dtype)) @ qb.mH


def run_solver(name: str, blocks: torch.Tensor) -> torch.Tensor:
    if name == "default":
        return torch.linalg.svdvals(blocks)
    if name == "gesvda":
        if blocks.device.type != "cuda":
            return torch.linalg.svdvals(blocks)  # dry run: LAPACK stands in
        return solvers._cuda_svdvals(blocks)
    precision = torch.float64 if name == "jacobi-f64" else torch.float32
    return jacobi_svdvals(blocks, precision=precision)


def accuracy(values: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    v = values.double().cpu()
    top = ref[:, :1].clamp_min(1e-300)
    abs_err = float(((v - ref).abs() / top).max())
    keep = ref >= 1e-4 * top
    rel = ((v - ref).abs() / ref.clamp_min(1e-300))[keep]
    return abs_err, float(rel.max()) if rel.numel() else 0.0


def solver_section(
    device: str, dry: bool, repeat: int, only: list[tuple[int, int, int]] | None = None
) -> dict[str, Any]:
    shapes = DRY_SHAPES if dry else (only or SOLVER_SHAPES)
    cases = [("random", s) for s in shapes] + [("graded", shapes[1])]
    rows = []
    names = [*SOLVERS, "default"]
    for kind, (m, n, batch) in cases:
        g = torch.Generator().manual_seed(0)
        if kind == "random":
            cpu = torch.randn(batch, m, n, dtype=torch.complex64, generator=g)
        else:
            cpu = graded(batch, m, n, "cpu").to(torch.complex64)
        sample = min(batch, 64)
        ref = torch.linalg.svdvals(cpu[:sample].to(torch.complex128))
        blocks = cpu.to(device)
        row: dict[str, Any] = {"kind": kind, "m": m, "n": n, "batch": batch}
        for name in names:
            try:
                if name == "default" and not dry and batch > 2048:
                    # the default driver loops matrix by matrix: time a slice and scale it
                    part = blocks[:1024]
                    seconds, _ = timed(lambda p=part, n_=name: run_solver(n_, p), device, 1)
                    seconds *= batch / part.shape[0]
                    values = run_solver(name, blocks[:sample])
                    row[f"{name}_extrapolated"] = True
                else:
                    seconds, values = timed(
                        lambda n_=name, b=blocks: run_solver(n_, b), device, repeat
                    )
                err_abs, err_rel = accuracy(values[:sample], ref)
                row[name] = {
                    "seconds": seconds,
                    "err_abs": err_abs,
                    "err_rel": err_rel,
                    "meets": err_abs <= CONTRACT_ABS and err_rel <= CONTRACT_REL,
                    "gflops": batch * svd_flops(m, n) / seconds / 1e9,
                }
            except Exception as err:
                row[name] = {"error": f"{type(err).__name__}: {str(err)[:200]}"}
            log(f"  solver {kind} {m}x{n} x{batch} {name}: {row[name]}")
        rows.append(row)
    return {"rows": rows, "table": proposed_table(rows)}


def proposed_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per measured shape, the fastest engine solver that meets the contract on random *and*
    graded blocks; rows ordered by size, so that the first match of a block wins."""
    graded_ok = {
        name
        for r in rows
        if r["kind"] == "graded"
        for name in SOLVERS
        if isinstance(r.get(name), dict) and r[name].get("meets")
    }
    table = []
    for r in sorted(
        (r for r in rows if r["kind"] == "random"),
        key=lambda r: (min(r["m"], r["n"]), max(r["m"], r["n"])),
    ):
        ok = [
            (r[name]["seconds"], name)
            for name in SOLVERS
            if isinstance(r.get(name), dict) and r[name].get("meets") and name in graded_ok
        ]
        if ok:
            best = min(ok)[1]
            table.append(
                {
                    "max_short": min(r["m"], r["n"]),
                    "max_long": max(r["m"], r["n"]),
                    "solver": best,
                    "speedup_vs_gesvda": r["gesvda"]["seconds"] / min(ok)[0]
                    if isinstance(r.get("gesvda"), dict) and "seconds" in r["gesvda"]
                    else None,
                }
            )
    return table


# ----------------------------------------------------------------------------- 2. engine


def engine_section(
    device: str,
    dry: bool,
    repeat: int,
    budget_s: float,
    *,
    models: tuple[str, ...] = MODELS,
    paths: tuple[str, ...] = (*SOLVERS, "stock-gesvda", "stock-default"),
    reference: bool = True,
) -> dict[str, Any]:
    from bench_conv_svd import frobenius_deviation, stock_torch
    from layers import model_layers

    size = 16 if dry else 224
    if dry:
        models, paths = ("resnet18",), ("jacobi-f64", "stock-default")
    out: dict[str, Any] = {}
    for model in models:
        layers = model_layers(model, size)
        by_shape = Counter(layer.shape_key for layer in layers)
        unique = list({layer.shape_key: layer for layer in layers}.values())
        counts = {u: by_shape[u.shape_key] for u in unique}
        if dry:
            unique = [u for u in unique if u.c_in <= 16 and u.c_out <= 16][:2] or unique[:1]
        res: dict[str, Any] = {"layers": len(layers), "unique": len(unique), "paths": {}}
        gen = torch.Generator().manual_seed(0)
        weights = {
            u: torch.randn(u.c_out, u.c_in, u.kernel, u.kernel, generator=gen)
            * math.sqrt(2.0 / (u.c_in * u.kernel * u.kernel))
            for u in unique
        }
        refs = {}
        for u in unique if reference else []:
            w64 = weights[u].double()
            n = u.input_size
            refs[u] = sw.conv_svd(
                w64, (n, n), stride=u.stride, padding=u.padding, padding_mode="circular",
                device="cpu",
            ).values  # fmt: skip
        flops = 0.0
        for u in unique:
            grid = u.input_size // u.stride
            blocks = grid * (grid // 2 + 1)
            flops += counts[u] * blocks * svd_flops(u.c_out, u.c_in * u.stride**2)
        res["svd_gflop"] = flops / 1e9
        for path in paths:
            total, done, worst_frob, worst_dev = 0.0, 0, 0.0, 0.0
            started = time.perf_counter()
            for u in unique:
                if time.perf_counter() - started > budget_s:
                    break
                w = weights[u].to(device)
                n = u.input_size
                if path.startswith("stock"):
                    driver = "gesvda" if path == "stock-gesvda" and device == "cuda" else None

                    def fn(w: torch.Tensor = w, n: int = n, d: str | None = driver) -> Any:
                        return stock_torch(w, n, driver=d)

                else:

                    def fn(w: torch.Tensor = w, u: Any = u, n: int = n, p: str = path) -> Any:
                        with solvers.preferred_cuda_solver(p):
                            return sw.conv_svd(
                                w, (n, n), stride=u.stride, padding=u.padding,
                                padding_mode="circular", device=device,
                            ).values  # fmt: skip

                seconds, values = timed(fn, device, repeat)
                total += counts[u] * seconds
                done += 1
                if not path.startswith("stock"):
                    worst_frob = max(worst_frob, frobenius_deviation(values, weights[u], u))
                    if u in refs:
                        ref = refs[u]
                        dev = float((values.double().cpu() - ref).abs().max() / ref[0])
                        worst_dev = max(worst_dev, dev)
                    else:
                        worst_dev = math.nan
                del w
            entry = {
                "seconds": total,
                "complete": done == len(unique),
                "layers_timed": done,
            }
            if not path.startswith("stock"):
                entry |= {"frobenius_dev": worst_frob, "max_dev_vs_f64": worst_dev}
            if done == len(unique) and total > 0:
                entry["gflops"] = flops / total / 1e9
            res["paths"][path] = entry
            log(f"  engine {model} {path}: {entry}")
        out[model] = res
    return out


# ----------------------------------------------------------------------------- 3. featurevis


def featurevis_section(dry: bool) -> dict[str, Any]:
    if dry:
        return {"skipped": "dry run: bench_featurevis.py --gpu-only needs CUDA"}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_featurevis.py"), "--gpu-only"]
    cmd += ["--repeats", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
    lines = proc.stdout.splitlines()
    log("\n".join("  " + line for line in lines[-12:]))
    if proc.returncode:
        log(proc.stderr[-3000:])
    return {"rc": proc.returncode, "tail": lines[-12:], "stderr": proc.stderr[-1500:]}


# ----------------------------------------------------------------------------- 4. explorer


def explorer_section(device: str, dry: bool) -> dict[str, Any]:
    import models

    size = 32 if dry else 224
    n_images = 16 if dry else 512
    torch.manual_seed(0)
    # the dry run takes ResNet-18: ResNet-50's hypergraph alone is minutes on 2 CPU cores
    net = (models.resnet18() if dry else models.resnet50()).eval().to(device)
    out: dict[str, Any] = {"size": size, "images": n_images}
    t = time.perf_counter()
    prof = sw.profile(net, (3, size, size), device=device, cache=False, progress=False)
    sync(device)
    out["profile_s"] = time.perf_counter() - t
    out["profile_layers"] = len(prof.layers)
    data = torch.rand(n_images, 3, size, size, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(n_images) % 10
    names = [f"class {i}" for i in range(10)]
    t = time.perf_counter()
    ex = sw.Explorer(net, data.to(device), labels, names, profile=prof, autostart=False)
    out["explorer_open_s"] = time.perf_counter() - t
    out["explorer_stages"] = {k: float(v) for k, v in dict(ex.timings).items()}
    ex.close()
    return out


# ----------------------------------------------------------------------------- report


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# GPU suite: {report['device']}", ""]
    lines += [f"- {k}: {v}" for k, v in report["env"].items()]
    sol = report.get("solvers", {})
    if "rows" in sol:
        lines += ["", "## Solvers (median s; err = max|Δσ|/σmax, rel = max rel err σ≥1e-4σmax)", ""]
        names = [*SOLVERS, "default"]
        lines.append("| blocks | " + " | ".join(names) + " |")
        lines.append("|---|" + "---|" * len(names))
        for r in sol["rows"]:
            cells = []
            for name in names:
                c = r.get(name, {})
                if "seconds" in c:
                    mark = "" if c["meets"] else " ✗"
                    ext = (
                        " (extrap.)" if r.get(f"{name}_extrapolated") and name == "default" else ""
                    )
                    cells.append(
                        f"{1e3 * c['seconds']:.2f} ms{ext}, err {c['err_abs']:.1e}, "
                        f"rel {c['err_rel']:.1e}{mark}"
                    )
                else:
                    cells.append(str(c.get("error", "-"))[:60])
            lines.append(
                f"| {r['kind']} {r['m']}×{r['n']} ×{r['batch']} | " + " | ".join(cells) + " |"
            )
        lines += ["", f"Proposed table: `{json.dumps(sol['table'])}`"]
    eng = report.get("engine", {})
    if isinstance(eng, dict) and "error" not in eng:
        peak = report["env"].get("peak_fp32_fp64")
        lines += [
            "",
            "## Engine: every conv layer at 224 (s; Frobenius dev; max dev vs f64 / σmax)",
            "",
        ]
        paths = [*SOLVERS, "stock-gesvda", "stock-default"]
        lines.append("| model | " + " | ".join(paths) + " |")
        lines.append("|---|" + "---|" * len(paths))
        for model, res in eng.items():
            cells = []
            for p in paths:
                e = res["paths"].get(p)
                if not e:
                    cells.append("-")
                    continue
                s = f"{e['seconds']:.3f}" + (
                    "" if e["complete"] else f" (≥, {e['layers_timed']}/{res['unique']} shapes)"
                )
                if "frobenius_dev" in e:
                    s += f"; {e['frobenius_dev']:.1e}; {e['max_dev_vs_f64']:.1e}"
                if "gflops" in e and peak:
                    s += f"; {e['gflops']:.0f} GF/s = {100 * e['gflops'] * 1e9 / peak[0]:.1f}% fp32"
                cells.append(s)
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
    fv = report.get("featurevis", {})
    if "tail" in fv:
        lines += ["", "## Feature visualization (bench_featurevis.py --gpu-only)", "", "```"]
        lines += fv["tail"] + ["```"]
    exp = report.get("explorer", {})
    if "profile_s" in exp:
        lines += [
            "",
            "## ResNet-50 on CUDA",
            "",
            f"profile at {exp['size']} px: {exp['profile_s']:.2f} s "
            f"({exp['profile_layers']} layers); "
            f"Explorer with {exp['images']} images: open {exp['explorer_open_s']:.2f} s "
            f"({exp['explorer_stages']})",
        ]
    for key in ("solvers", "engine", "featurevis", "explorer"):
        if isinstance(report.get(key), dict) and "error" in report[key]:
            lines += ["", f"**{key} failed**: {report[key]['error']}"]
    return "\n".join(lines) + "\n"


def env_info(device: str) -> dict[str, Any]:
    import importlib.metadata as md

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
    }
    try:
        info["triton"] = md.version("triton")
    except md.PackageNotFoundError:
        info["triton"] = None
    if device == "cuda":
        name = torch.cuda.get_device_name(0)
        info["gpu"] = name
        for key, peak in PEAKS.items():
            if key in name:
                info["peak_fp32_fp64"] = peak
    info["cpu_count"] = os.cpu_count()
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, interpreter")
    p.add_argument("--out", default="gpu-suite-out")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--sections", default="solvers,engine,featurevis,explorer")
    p.add_argument("--engine-budget", type=float, default=20.0, help="s per model and path")
    p.add_argument("--write-table", action="store_true", help="write the proposed solver table")
    p.add_argument("--shapes", default="", help="solver shapes MxNxB,... (default: all)")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--paths", default=",".join((*SOLVERS, "stock-gesvda", "stock-default")))
    p.add_argument("--no-ref", action="store_true", help="engine: Frobenius check only")
    args = p.parse_args(argv)
    only = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",") if s]
    dry = args.dry_run
    if dry:
        os.environ.setdefault("TRITON_INTERPRET", "1")
    device = "cpu" if dry else "cuda"
    if not dry and not torch.cuda.is_available():
        p.error("CUDA is not available: use --dry-run on a machine without a GPU")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"device": device, "env": env_info(device)}
    log(json.dumps(report["env"]))
    sections = args.sections.split(",")
    repeat = 1 if dry else args.repeat
    runs: dict[str, Callable[[], Any]] = {
        "solvers": lambda: solver_section(device, dry, repeat, only),  # type: ignore[arg-type]
        "engine": lambda: engine_section(
            device,
            dry,
            repeat,
            args.engine_budget,
            models=tuple(args.models.split(",")),
            paths=tuple(args.paths.split(",")),
            reference=not args.no_ref,
        ),
        "featurevis": lambda: featurevis_section(dry),
        "explorer": lambda: explorer_section(device, dry),
    }
    for key in sections:
        guarded(report, key, runs[key])
        # after every section: a run cut short keeps what it measured
        (out_dir / "suite.json").write_text(json.dumps(report, indent=1, default=str))
        (out_dir / "suite.md").write_text(markdown(report))
    md_text = markdown(report)
    print(md_text)
    table = report.get("solvers", {}).get("table")
    if args.write_table and table is not None and not dry:
        path = solvers.SOLVER_TABLE
        doc = json.loads(path.read_text())
        doc["measured_on"] = f"{report['env'].get('gpu')}, torch {torch.__version__}"
        doc["rows"] = [{k: r[k] for k in ("max_short", "max_long", "solver")} for r in table]
        path.write_text(json.dumps(doc, indent=2) + "\n")
        log(f"wrote {path}")
    failed = [k for k in sections if isinstance(report.get(k), dict) and "error" in report[k]]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
