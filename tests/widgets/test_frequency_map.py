"""FrequencyMap's Python state: traits from a real spectrum, binary round trips, selection."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets import FrequencyMap
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
    back = array_from_json({**state, "buffer": bytes(state["buffer"])})
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


def test_state_round_trips_as_binary_buffers() -> None:
    w = FrequencyMap.from_spectrum(_spectrum(), layer_name="conv")
    state = w.get_state()
    for name in ("frequency_values", "rank_indices", "index_frequencies"):
        assert set(state[name]) == {"dtype", "shape", "buffer"}
        assert isinstance(state[name]["buffer"], memoryview)
    assert "selected_indices" not in state  # kernel side only: the browser never read it
    assert state["frequency_values"]["dtype"] == "float32"
    assert state["frequency_values"]["shape"] == [6, 5, 3]
    np.testing.assert_array_equal(_wire(w, "frequency_values"), w.frequency_values)
    w.selected_frequency = (1, 2)
    assert len(w.selected_indices) > 0 and "selected_indices" not in w.get_state()
    # ipywidgets' own buffer extraction finds the arrays: nothing is sent as a list of floats
    from ipywidgets.widgets.widget import _remove_buffers

    _, paths, buffers = _remove_buffers(w.get_state())
    assert ["frequency_values", "buffer"] in paths and ["selected_indices", "buffer"] not in paths
    n = len(w.index_frequencies)
    # float32 values, int32 rank indices, 16-bit frequency pairs
    assert state["index_frequencies"]["dtype"] == "uint16"
    assert sum(memoryview(b).nbytes for b in buffers) == 6 * 5 * 3 * 4 + 6 * 5 * 2 * 4 + n * 2 * 2


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


@pytest.mark.parametrize("size", [(6, 5), (6, 8), (5, 5), (7, 6)])
@pytest.mark.parametrize("rank", [0, 2])
def test_rank_indices_name_each_frequency_value_and_its_twin(
    size: tuple[int, int], rank: int
) -> None:
    spec = _spectrum(size=size)
    w = FrequencyMap.from_spectrum(spec, rank=rank)
    fv = spec.frequency_values.numpy()
    nh, nw = size
    assert w.rank_indices.shape == (nh, nw, 2)
    for fh in range(nh):
        for fw in range(nw):
            i, j = (int(x) for x in w.rank_indices[fh, fw])
            # the value shown at (fh, fw) is values[i], and i sits at this frequency or -f
            assert float(spec.values[i]) == pytest.approx(float(fv[fh, fw, rank]), rel=1e-5)
            assert spec.frequency_of(i) in ((fh, fw), ((-fh) % nh, (-fw) % nw))
            twin = spec.twin(i)
            assert j == (-1 if twin is None else twin)
    # the browser's lookup of a selected index's frequency
    np.testing.assert_array_equal(
        w.index_frequencies, [spec.frequency_of(i) for i in range(len(spec))]
    )
    w.rank = 1  # a new rank: the table follows
    assert float(spec.values[int(w.rank_indices[0, 0, 0])]) == pytest.approx(float(fv[0, 0, 1]))


def test_show_spectrum_switches_layers_and_clears_the_selection() -> None:
    w = FrequencyMap.from_spectrum(_spectrum(), layer_name="a")
    w.selected_frequency = (1, 1)
    other = _spectrum(c_out=5, c_in=2, size=(8, 8))
    w.show_spectrum(other, layer_name="b")
    assert w.layer_name == "b" and w.selected_frequency is None and w.grid == (8, 8)
    assert w.frequency_values.shape == (8, 8, 2) and w.rank_indices.shape == (8, 8, 2)
    w.selected_frequency = (3, 2)
    assert sorted(w.selected_indices) == _brute_force(other, (3, 2))
    with pytest.raises(SVDWidgetsError, match="FFTSpectrum"):
        w.show_spectrum(sw.conv_svd(torch.randn(2, 2, 3, 3), (6, 6), method="exact"))


def test_a_grid_beyond_16_bit_frequency_indices_is_refused() -> None:
    values = np.zeros((65537, 1, 1), np.float32)
    with pytest.raises(SVDWidgetsError, match="65537x1"):
        FrequencyMap(frequency_values=values, frequencies=np.zeros((1, 2), np.int64))
