"""Bad input and absurd sizes are refused at the boundary, before any allocation (issue #14)."""

from __future__ import annotations

import re
import time
import tracemalloc

import pytest
import torch
from torch import nn

import svdwidgets as sw
from svdwidgets import SVDWidgetsError

W = torch.randn(4, 4, 3, 3, generator=torch.Generator().manual_seed(0))


def _refused_quickly(call: object, match: str) -> None:
    """``call`` raises SVDWidgetsError matching ``match`` within 1 s and under 50 MB."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SVDWidgetsError, match=match):
            call()  # type: ignore[operator]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < 50 << 20


# ---------------------------------------------------------------------------------------------
# Item 7: size guards
# ---------------------------------------------------------------------------------------------


def test_fft_at_100000_squared_is_refused_naming_the_estimate_and_the_budget() -> None:
    _refused_quickly(
        lambda: sw.conv_svd(W, (100000, 100000), padding=1, method="fft", padding_mode="circular"),
        r"372\.5 GiB.*memory_budget=1073741824",
    )


def test_auto_at_100000_squared_is_refused() -> None:
    with pytest.warns(sw.SVDWidgetsWarning):
        _refused_quickly(lambda: sw.conv_svd(W, (100000, 100000), padding=1), r"GiB.*memory_budget")


def test_exact_top_1_at_100000_squared_is_refused_before_numpy_allocates() -> None:
    _refused_quickly(
        lambda: sw.conv_svd(W, (100000, 100000), padding=1, method="exact", k=1),
        r"Lanczos basis for k=1.*GiB.*memory_budget",
    )


def test_circular_4096_with_a_small_budget_is_refused_not_run_for_minutes() -> None:
    _refused_quickly(
        lambda: sw.conv_svd(
            W, (4096, 4096), padding=1, padding_mode="circular", k=1, memory_budget=1 << 20
        ),
        r"640\.0 MiB.*memory_budget=1048576",
    )


def test_a_layer_that_fits_still_gives_the_dense_answer() -> None:
    # the guard refuses only what does not fit: 16x16 values of a 1-channel layer fit easily
    w = torch.randn(1, 1, 3, 3, dtype=torch.float64)
    spec = sw.conv_svd(w, (16, 16), padding=1, padding_mode="circular", dtype=torch.float64)
    dense = torch.linalg.svdvals(
        torch.stack(
            [
                nn.functional.conv2d(
                    nn.functional.pad(e.reshape(1, 1, 16, 16), (1, 1, 1, 1), mode="circular"), w
                ).flatten()
                for e in torch.eye(16 * 16, dtype=torch.float64)
            ],
            dim=1,
        )
    )
    assert torch.allclose(spec.values, dense, atol=1e-9)


def test_a_stride_past_the_input_is_refused() -> None:
    _refused_quickly(lambda: sw.conv_svd(W, (8, 8), stride=10**6), r"stride \(1000000, 1000000\)")


def test_a_stride_equal_to_the_input_still_works() -> None:
    w = torch.randn(2, 1, 3, 3, dtype=torch.float64)
    spec = sw.conv_svd(w, (8, 8), stride=8, padding=0, dtype=torch.float64, method="exact")
    # one output position: the operator is the weight itself, flattened, on the top-left patch
    expected = torch.linalg.svdvals(w.reshape(2, 9))
    assert torch.allclose(spec.values[:2], expected, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Item 8: raw or misleading errors
# ---------------------------------------------------------------------------------------------


class _Net(nn.Module):
    def __init__(self, keyword: bool = False) -> None:
        super().__init__()
        self.keyword = keyword
        self.c = nn.Conv2d(1, 2, 3, padding=1)
        self.fc = nn.Linear(2 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.c(input=x) if self.keyword else self.c(x)
        return self.fc(y.flatten(1))


def _profile(model: nn.Module, *args: object, **kwargs: object) -> sw.Profile:
    return sw.profile(model, *args, cache=False, progress=False, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"device": "bogus"}, r"device 'bogus'"),
        ({"device": "cuda"} if not torch.cuda.is_available() else {"device": "nope"}, r"device '"),
        ({"dtype": torch.int32}, r"torch\.int32"),
        ({"k": 0}, r"k must be .* got 0"),
        ({"memory_budget": -1}, r"memory_budget .* got -1"),
    ],
)
def test_profile_refuses_bad_options_instead_of_an_empty_profile(
    kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(SVDWidgetsError, match=match):
        _profile(_Net(), (1, 8, 8), **kwargs)


def test_profile_refuses_an_int_input_shape() -> None:
    with pytest.raises(SVDWidgetsError, match=r"input_shape .* got 8"):
        _profile(_Net(), 8)


def test_meta_tensors_are_refused_by_name() -> None:
    with pytest.raises(SVDWidgetsError, match="meta device"):
        _profile(_Net().to("meta"), (1, 8, 8))
    with pytest.raises(SVDWidgetsError, match=r"shape \(4, 4, 3, 3\) is on the meta device"):
        sw.conv_svd(torch.empty(4, 4, 3, 3, device="meta"), (8, 8))


def test_a_conv_called_by_keyword_is_profiled_like_one_called_positionally() -> None:
    torch.manual_seed(0)
    by_keyword = _Net(keyword=True)
    positional = _Net()
    positional.load_state_dict(by_keyword.state_dict())
    a = _profile(by_keyword, (1, 8, 8))
    b = _profile(positional, (1, 8, 8))
    assert a.layers == b.layers == ["c", "fc"]
    assert not a.skipped
    assert torch.equal(a["c"].values, b["c"].values)


def test_float32_weights_near_the_top_of_the_range_are_refused_not_nan() -> None:
    huge = W / W.abs().max() * 3e38
    with pytest.raises(SVDWidgetsError, match=r"too large for float32.*3e\+38.*float64"):
        sw.conv_svd(huge, (8, 8), padding=1)
    # float64 gives finite values: the circular operator's norm scales with the weight
    spec = sw.conv_svd(huge, (8, 8), padding=1, padding_mode="circular", dtype=torch.float64)
    ref = sw.conv_svd(W, (8, 8), padding=1, padding_mode="circular", dtype=torch.float64)
    scale = 3e38 / float(W.abs().max())
    assert torch.isfinite(spec.values).all()
    assert torch.allclose(spec.values / scale, ref.values, rtol=1e-5)


def test_the_overflow_message_names_the_largest_entry() -> None:
    huge = W / W.abs().max() * 1e38
    with pytest.raises(SVDWidgetsError) as err:
        sw.conv_svd(huge, (8, 8), padding=1)
    assert re.search(r"largest entry is 1e\+38", str(err.value))
