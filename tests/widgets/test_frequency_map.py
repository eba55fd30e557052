"""FrequencyMap's Python state: traits from a real spectrum, binary round trips, selection."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets import FrequencyMap
from svdwidgets.widgets.frequency_map import (
    frequency_table,
    frequency_values_from_json,
    value_order,
)
from svdwidgets.widgets.serialization import array_from_json


def _spectrum(
    c_out: int = 4, c_in: int = 3, size: tuple[int, int] = (6, 5), stride: int = 1
) -> sw.FFTSpectrum:
    torch.manual_seed(0)
    weight = torch.randn(c_out, c_in, 3, 3)
    spec = sw.conv_svd(weight, size, padding=1, padding_mode="circular", stride=stride)
    assert isinstance(spec, sw.FFTSpectrum)
    return spec


def _wire(widget: FrequencyMap, name: str) -> np.ndarray:
    """What the front end receives for an array trait, decoded again (buffers as bytes)."""
    state = widget.get_state(name)[name]
    decode = frequency_values_from_json if name == "frequency_values" else array_from_json
    back = decode({**state, "buffer": bytes(state["buffer"])})
    assert back is not None
    return back


def _brute_force(spec: sw.FFTSpectrum, f: tuple[int, int]) -> list[int]:
    nh, nw = spec.grid
    conj = ((-f[0]) % nh, (-f[1]) % nw)
    return [i for i in range(len(spec)) if spec.frequency_of(i) in (f, conj)]


def test_traits_from_a_circular_conv_spectrum() -> None:
    spec = _spectrum()
    w = FrequencyMap.from_spectrum(spec, layer_name="conv")
    assert w.layer_name == "conv"
    assert w.grid == spec.grid == (6, 5)
    assert w.frequency_values.shape == (6, 5, 3)
    assert w.frequency_values.dtype == np.float32
    np.testing.assert_allclose(w.frequency_values, spec.frequency_values.numpy(), rtol=1e-6)
    assert w.rank == 0 and not w.log_scale
    assert w.selected_frequency is None
    assert w.selected_indices.shape == (0,) and w.selected_indices.dtype == np.int32
    # every frequency's values, with multiplicity, are the layer's spectrum
    np.testing.assert_allclose(
        np.sort(w.frequency_values.ravel())[::-1], spec.values.numpy(), rtol=1e-5
    )


def test_state_round_trips_as_binary_buffers_on_the_half_plane() -> None:
    w = FrequencyMap.from_spectrum(_spectrum(), layer_name="conv")
    state = w.get_state()
    sent = state["frequency_values"]
    # a real layer's map is conjugate-symmetric: only f_w <= N_w/2 travels, with the width
    assert set(sent) == {"dtype", "shape", "buffer", "width"}
    assert isinstance(sent["buffer"], memoryview)
    assert sent["dtype"] == "float32" and sent["shape"] == [6, 3, 3] and sent["width"] == 5
    np.testing.assert_array_equal(_wire(w, "frequency_values"), w.frequency_values)
    assert state["n_values"] == len(_spectrum()) == 6 * 5 * 3
    assert "selected_indices" not in state  # kernel side only: the browser never read it
    w.selected_frequency = (1, 2)
    assert len(w.selected_indices) > 0 and "selected_indices" not in w.get_state()
    # ipywidgets' own buffer extraction finds the array: nothing is sent as a list of floats,
    # and no index table travels (the browser derives it, see test_value_order_*)
    from ipywidgets.widgets.widget import _remove_buffers

    _, paths, buffers = _remove_buffers(w.get_state())
    assert paths == [["frequency_values", "buffer"]]
    assert sum(memoryview(b).nbytes for b in buffers) == 6 * 3 * 3 * 4


@pytest.mark.parametrize("width", [6, 7])
def test_values_without_conjugate_symmetry_travel_whole(width: int) -> None:
    values = np.random.default_rng(0).random((4, width, 2)).astype(np.float32)
    w = FrequencyMap(frequency_values=values)
    sent = w.get_state("frequency_values")["frequency_values"]
    assert "width" not in sent and sent["shape"] == [4, width, 2]
    np.testing.assert_array_equal(_wire(w, "frequency_values"), values)
    assert w.n_values == 0  # no spectrum behind it: a click selects nothing


def _weight(kind: str) -> tuple[torch.Tensor, dict[str, int]]:
    torch.manual_seed(1)
    if kind == "ties":  # every singular value 1: the order is the position order alone
        return torch.eye(3).reshape(3, 3, 1, 1).repeat(1, 1, 3, 3) / 3, {"padding": 1}
    if kind == "groups":
        return torch.randn(6, 2, 3, 3), {"groups": 3, "padding": 1}
    if kind == "stride":
        return torch.randn(4, 3, 3, 3), {"stride": 2, "padding": 1}
    if kind == "double":
        return torch.randn(4, 3, 3, 3, dtype=torch.float64), {"padding": 1}
    return torch.randn(5, 3, 3, 3), {"padding": 1}


@pytest.mark.parametrize("size", [(6, 5), (6, 8), (5, 5), (7, 6), (1, 4)])
@pytest.mark.parametrize("kind", ["plain", "ties", "groups", "stride", "double"])
def test_value_order_is_the_spectrums_order(size: tuple[int, int], kind: str) -> None:
    """What the browser relies on to name values by index (frequency_order.ts does the same):
    the map's values, ordered by value_order, give the spectrum's frequency of every index."""
    weight, options = _weight(kind)
    if kind == "stride":  # a (2 N_h, 2 N_w) input: an N_h x N_w frequency grid
        size = (2 * size[0], 2 * size[1])
    spec = sw.conv_svd(weight, size, padding_mode="circular", **options)
    assert isinstance(spec, sw.FFTSpectrum)
    w = FrequencyMap.from_spectrum(spec)
    assert w.frequency_values.dtype == spec.values.numpy().dtype  # as the spectrum sorted them
    order = value_order(w.frequency_values)
    expected = np.array([spec.frequency_of(i) for i in range(len(spec))])
    np.testing.assert_array_equal(order, expected)
    assert w.n_values == len(spec)
    # and the values in that order are the spectrum's, bit for bit
    np.testing.assert_array_equal(np.sort(w.frequency_values.ravel())[::-1], spec.values.numpy())


def test_value_order_of_a_top_k_spectrum_is_its_prefix() -> None:
    torch.manual_seed(0)
    spec = sw.conv_svd(torch.randn(4, 3, 3, 3), (6, 6), padding=1, padding_mode="circular", k=7)
    assert isinstance(spec, sw.FFTSpectrum)
    w = FrequencyMap.from_spectrum(spec)
    assert w.n_values == 7
    np.testing.assert_array_equal(
        value_order(w.frequency_values)[:7], [spec.frequency_of(i) for i in range(7)]
    )


def test_frequencies_that_are_not_the_values_order_are_refused() -> None:
    spec = _spectrum()
    table = frequency_table(spec)
    with pytest.raises(SVDWidgetsError, match=r"90 frequencies given are not those"):
        FrequencyMap(frequency_values=spec.frequency_values.numpy(), frequencies=table[::-1])


def test_front_end_messages_set_the_selection() -> None:
    w = FrequencyMap.from_spectrum(_spectrum())
    w.set_state({"selected_frequency": [4, 1]})  # a JSON list from the browser
    assert w.selected_frequency == (4, 1)
    assert len(w.selected_indices) > 0
    w.set_state({"selected_frequency": None})
    assert w.selected_frequency is None
    assert len(w.selected_indices) == 0
    w.set_state({"rank": 2, "log_scale": True})
    assert (w.rank, w.log_scale) == (2, True)


@pytest.mark.parametrize(("size", "stride"), [((6, 5), 1), ((8, 8), 1), ((7, 4), 1), ((8, 6), 2)])
def test_selection_is_the_frequency_and_its_conjugate(size: tuple[int, int], stride: int) -> None:
    spec = _spectrum(size=size, stride=stride)
    w = FrequencyMap.from_spectrum(spec)
    nh, nw = spec.grid
    assert w.grid == (nh, nw)
    total = 0
    for fh in range(nh):
        for fw in range(nw):
            w.selected_frequency = (fh, fw)
            expected = _brute_force(spec, (fh, fw))
            assert w.selected_indices.tolist() == expected, (fh, fw)
            # the selected values are that frequency's singular values (once per copy)
            got = np.sort(spec.values.numpy()[w.selected_indices])
            conj = ((-fh) % nh, (-fw) % nw)
            cells = {(fh, fw), conj}
            want = np.sort(np.concatenate([w.frequency_values[c] for c in cells]))
            np.testing.assert_allclose(got, want, rtol=1e-5)
            total += len(expected)
    # every value is selected by exactly its frequency and its conjugate
    assert total == 2 * len(spec) - sum(
        1 for i in range(len(spec)) if _is_self_conjugate(spec.frequency_of(i), (nh, nw))
    )


def _is_self_conjugate(f: tuple[int, int], grid: tuple[int, int]) -> bool:
    return f == ((-f[0]) % grid[0], (-f[1]) % grid[1])


def test_top_k_spectrum_selects_among_the_kept_values() -> None:
    torch.manual_seed(0)
    weight = torch.randn(4, 3, 3, 3)
    spec = sw.conv_svd(weight, (6, 6), padding=1, padding_mode="circular", k=5)
    assert isinstance(spec, sw.FFTSpectrum) and len(spec) == 5
    w = FrequencyMap.from_spectrum(spec)
    f = spec.frequency_of(0)
    w.selected_frequency = f
    assert w.selected_indices.tolist() == _brute_force(spec, f)
    assert 0 in w.selected_indices.tolist()


def test_the_bundled_models_layer() -> None:
    from svdwidgets.zoo import load_default

    layer = load_default().model.block.conv1
    spec = sw.conv_svd(layer.weight, (14, 14), padding=1, padding_mode="circular")
    assert isinstance(spec, sw.FFTSpectrum)
    w = FrequencyMap.from_spectrum(spec, layer_name="block.conv1", rank=3, log_scale=True)
    assert w.frequency_values.shape == (14, 14, 32)
    assert w.rank == 3 and w.log_scale
    w.selected_frequency = (2, 11)
    assert w.selected_indices.tolist() == _brute_force(spec, (2, 11))
    assert len(w.selected_indices) == 2 * 32


def test_bad_input_names_the_value() -> None:
    torch.manual_seed(0)
    dense = sw.conv_svd(torch.randn(2, 2, 3, 3), (4, 4), padding=1, method="exact")
    with pytest.raises(SVDWidgetsError, match="got DenseSpectrum from method 'exact'"):
        FrequencyMap.from_spectrum(dense)  # type: ignore[arg-type]
    with pytest.raises(SVDWidgetsError, match="got ndarray"):
        FrequencyMap.from_spectrum(np.zeros((4, 4, 2)))  # type: ignore[arg-type]
    spec = _spectrum()
    with pytest.raises(SVDWidgetsError, match=r"rank 3 is out of range: .* \[0, 2\]"):
        FrequencyMap.from_spectrum(spec, rank=3)
    w = FrequencyMap.from_spectrum(spec)
    with pytest.raises(SVDWidgetsError, match="rank -1 is out of range"):
        w.rank = -1
    with pytest.raises(SVDWidgetsError, match=r"\(6, 0\) is outside the 6x5 frequency grid"):
        w.selected_frequency = (6, 0)
    with pytest.raises(SVDWidgetsError, match=r"3-D array, got shape \(2,\)"):
        w.frequency_values = np.zeros(2)  # type: ignore[assignment]
    assert w.rank == 0 and w.selected_frequency is None


def test_a_bad_selection_from_the_browser_is_rolled_back() -> None:
    spec = sw.conv_svd(torch.randn(4, 3, 3, 3), (6, 6), padding=1, padding_mode="circular")
    fmap = FrequencyMap.from_spectrum(spec, layer_name="conv")
    fmap.set_state({"selected_frequency": [1, 2]})
    good = fmap.selected_indices.copy()
    with pytest.raises(SVDWidgetsError, match=r"\(9, 2\) is outside the 6x6"):
        fmap.set_state({"selected_frequency": [9, 2]})
    assert fmap.selected_frequency == (1, 2)
    np.testing.assert_array_equal(fmap.selected_indices, good)


def test_show_spectrum_switches_layers_and_clears_the_selection() -> None:
    w = FrequencyMap.from_spectrum(_spectrum(), layer_name="a")
    w.selected_frequency = (1, 1)
    other = _spectrum(c_out=5, c_in=2, size=(8, 8))
    w.show_spectrum(other, layer_name="b")
    assert w.layer_name == "b" and w.selected_frequency is None and w.grid == (8, 8)
    assert w.frequency_values.shape == (8, 8, 2) and w.n_values == len(other)
    w.selected_frequency = (3, 2)
    assert sorted(w.selected_indices) == _brute_force(other, (3, 2))
    with pytest.raises(SVDWidgetsError, match="FFTSpectrum"):
        w.show_spectrum(sw.conv_svd(torch.randn(2, 2, 3, 3), (6, 6), method="exact"))
