"""``svdwidgets sweep``: the table, figure and page it writes, resuming, and bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

import svdwidgets as sw
from svdwidgets import cli
from svdwidgets.zoo import SmallResNet

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVDWIDGETS_CACHE", str(tmp_path_factory.mktemp("cache")))


def test_sweep_command_writes_table_figure_page_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    for i in (1, 2):
        torch.save(SmallResNet().state_dict(), tmp_path / f"ck_step{i}00.pt")
    (tmp_path / "ck_step900.pt").write_bytes(b"junk")
    out = tmp_path / "out"
    argv = ["sweep", str(tmp_path / "*.pt"), "--arch", "default", "--out", str(out)]
    argv += ["--method", "fft"]

    assert cli.main(argv) == 1  # one source failed: said, and the others written
    printed = capsys.readouterr().out
    assert "2 of 3 sources profiled" in printed and "failed ck_step900" in printed
    table = pd.read_csv(out / "sweep.csv")
    good = table[table.status == "computed"]
    assert list(good.step.unique()) == [100, 200] and len(good) == 2 * 5
    ref = cli.table(
        sw.profile(
            cli.load_checkpoint(tmp_path / "ck_step100.pt", arch="default").model,
            (1, 28, 28),
            method="fft",
            cache=False,
            progress=False,
        )
    )
    got = good[good.source == "ck_step100"].reset_index(drop=True)
    assert got.sigma_max.tolist() == pytest.approx(ref.sigma_max.tolist(), rel=1e-12)
    assert got.layer.tolist() == ref.layer.tolist()
    assert (out / "sweep.png").read_bytes()[:8] == PNG_MAGIC
    page = (out / "report.html").read_text()
    assert "ck_step200" in page and "not a PyTorch checkpoint" in page

    assert cli.main(argv) == 1
    again = pd.read_csv(out / "sweep.csv")
    assert set(again[again.status != "failed"].status) == {"cached"}


def test_sweep_command_bad_input_exits_2(tmp_path: Path) -> None:
    base = ["sweep", str(tmp_path / "none*.pt"), "--arch", "default", "--out", str(tmp_path)]
    assert cli.main(base) == 2
    torch.save(SmallResNet().state_dict(), tmp_path / "a.pt")
    assert (
        cli.main(
            [
                "sweep",
                str(tmp_path / "a.pt"),
                "--arch",
                "default",
                "--out",
                str(tmp_path),
                "--workers",
                "0",
            ]
        )
        == 2
    )
