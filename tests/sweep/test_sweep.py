"""``svdwidgets.sweep`` on a real Dask LocalCluster of worker processes, and in process.

Every sweep's rows are compared with serial :func:`svdwidgets.profile` calls on the same
checkpoints; a worker process is killed while it runs a task; a bad checkpoint fails alone.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

import svdwidgets as sw
from svdwidgets import cli
from svdwidgets.zoo import SmallResNet

distributed = pytest.importorskip("distributed")

SHAPE = (1, 28, 28)
TIMING = ["seconds"]  # wall time of a profile: the one column two runs do not share


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVDWIDGETS_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def _checkpoints(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` state_dicts of the bundled architecture, each weight perturbed differently."""
    torch.manual_seed(seed)
    base = SmallResNet().state_dict()
    paths = []
    for i in range(n):
        state = {
            k: v + 0.05 * (i + 1) * torch.randn_like(v) if v.is_floating_point() else v
            for k, v in base.items()
        }
        paths.append(folder / f"run_epoch{i}.pt")
        torch.save(state, paths[-1])
    return paths


def _serial(path: Path) -> pd.DataFrame:
    """The reference: one profile call on the checkpoint, as ``svdwidgets report`` makes it."""
    model = cli.load_checkpoint(path, arch="default").model
    return cli.table(sw.profile(model, SHAPE, cache=False, progress=False))


def _normalised(df: pd.DataFrame) -> pd.DataFrame:
    """Missing as None in every column (a JSON round trip turns None into NaN and back)."""
    df = df.drop(columns=TIMING).astype(object)
    return df.where(df.notna(), None).reset_index(drop=True)


def _assert_rows_equal(df: pd.DataFrame, source: str, want: pd.DataFrame) -> None:
    got = df[df.source == source].reindex(columns=want.columns)
    pd.testing.assert_frame_equal(_normalised(got), _normalised(want))


def _assert_equal_to_serial(df: pd.DataFrame, paths: list[Path]) -> None:
    for path in paths:
        _assert_rows_equal(df, path.stem, _serial(path))


def test_sweep_is_the_function_and_sweeps_is_the_package() -> None:
    import svdwidgets.sweeps

    assert callable(sw.sweep) and sw.sweep is svdwidgets.sweeps.sweep
    assert sw.Sweep is svdwidgets.sweeps.Sweep


def test_dask_rows_equal_serial_profiles_and_a_bad_checkpoint_fails_alone(
    client, tmp_path: Path
) -> None:
    paths = _checkpoints(tmp_path, 2)
    (tmp_path / "run_epoch7.pt").write_bytes(b"not a checkpoint")
    wrong = nn.Linear(3, 4).state_dict()  # a state_dict of another architecture
    torch.save(wrong, tmp_path / "run_epoch8.pt")
    out = tmp_path / "out"

    s = sw.sweep(str(tmp_path / "*.pt"), arch="default", executor=client, out=out, cache=False)

    assert s.names == [f"run_epoch{i}" for i in (0, 1, 7, 8)]
    assert [f.source for f in s.failed] == ["run_epoch7", "run_epoch8"]
    assert "not a PyTorch checkpoint" in s.failed[0].error
    assert "does not fit --arch 'default'" in s.failed[1].error
    df = s.to_dataframe()
    good = df[df.status != "failed"]
    assert set(good.status) == {"computed"}
    assert list(good.epoch.unique()) == [0, 1]
    assert Counter(zip(good.source, good.layer, strict=True)).most_common(1)[0][1] == 1
    _assert_equal_to_serial(df, paths)
    assert len(list(out.glob("*.json"))) == 2  # failures are not written: a rerun retries them

    again = sw.sweep(str(tmp_path / "*.pt"), arch="default", executor=client, out=out, cache=False)
    df2 = again.to_dataframe()
    assert set(df2[df2.status != "failed"].status) == {"cached"}  # nothing recomputed
    pd.testing.assert_frame_equal(
        df2.drop(columns="status"), df.drop(columns="status"), check_dtype=False
    )


def test_a_worker_killed_mid_task_leaves_complete_results(client, tmp_path: Path) -> None:
    paths = _checkpoints(tmp_path, 4, seed=1)
    out = tmp_path / "out"
    pids = client.run(os.getpid)  # {worker address: pid}
    killed: dict[str, object] = {}

    def kill_one_busy_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = {w: keys for w, keys in client.processing().items() if keys}
            if busy:
                worker, keys = next(iter(busy.items()))
                time.sleep(0.3)  # inside the task: loading, profiling
                killed.update(worker=worker, keys=list(keys))
                os.kill(pids[worker], 9)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_busy_worker)
    delivered: Counter[str] = Counter()
    killer.start()
    s = sw.sweep(
        [str(p) for p in paths],
        arch="default",
        executor=client,
        out=out,
        cache=False,
        on_result=lambda r: delivered.update([r["source"]]),
    )
    killer.join()

    assert killed["keys"], "no task was running on the killed worker"
    assert s.failed == []
    assert delivered == Counter({p.stem: 1 for p in paths})
    df = s.to_dataframe()
    assert len(df) == 4 * 5 and not df.duplicated(["source", "layer"]).any()
    _assert_equal_to_serial(df, paths)
    assert sorted(p.name for p in out.glob("*.json")) == sorted(
        f"{sw.sweeps.sources.cache_key(src, None, {'cache': False})}.json" for src in s.sources
    )


def build_a() -> nn.Module:
    torch.manual_seed(3)
    return SmallResNet()


def test_thread_pool_and_callable_sources_equal_the_profile(tmp_path: Path) -> None:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        s = sw.sweep(
            [("a_step10", build_a)], executor=pool, out=tmp_path, cache=False, input_shape=SHAPE
        )
    df = s.to_dataframe()
    assert list(df.step.unique()) == [10] and df.epoch.isna().all()
    _assert_rows_equal(
        df, "a_step10", cli.table(sw.profile(build_a(), SHAPE, cache=False, progress=False))
    )
    spec = s.spectrum("a_step10", "fc")
    dense = torch.linalg.svdvals(build_a().fc.weight.detach().double()).numpy()
    assert spec["top"] == pytest.approx(dense, rel=1e-5)
    assert spec["counts"].sum() == spec["count"] == 10


def test_bad_input_names_the_value(tmp_path: Path) -> None:
    (tmp_path / "x.pt").write_bytes(b"")
    with pytest.raises(sw.SVDWidgetsError, match="torchvision"):
        sw.sweep(["torchvision:resnet18"], out=tmp_path)
    with pytest.raises(sw.SVDWidgetsError, match="timm"):
        sw.sweep(["timm:resnet18"], out=tmp_path)
    with pytest.raises(sw.SVDWidgetsError, match="arch="):
        sw.sweep([tmp_path / "x.pt"], out=tmp_path)
    with pytest.raises(sw.SVDWidgetsError, match=r"nothere\*\.pt"):
        sw.sweep(str(tmp_path / "nothere*.pt"), arch="default", out=tmp_path)
    with pytest.raises(sw.SVDWidgetsError, match="'x'"):
        sw.sweep([tmp_path / "x.pt", tmp_path / "x.pt"], arch="default", out=tmp_path)
    with pytest.raises(sw.SVDWidgetsError, match="progress"):
        sw.sweep([("a", build_a)], out=tmp_path, progress=True)
    with pytest.raises(sw.SVDWidgetsError, match=r"\(1, 0, 3\)"):
        sw.sweep([("a", build_a)], out=tmp_path, input_shape=(1, 0, 3))
    s = sw.sweep([("a", build_a)], out=tmp_path)
    assert "input_shape=(C, H, W)" in s.failed[0].error
    with pytest.raises(sw.SVDWidgetsError, match="int"):
        sw.sweep([("a", build_a)], out=tmp_path, executor=3)
