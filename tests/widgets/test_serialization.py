"""Arrays cross the widget wire as binary buffers with dtype and shape, and come back equal."""

from __future__ import annotations

import numpy as np
import pytest

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets.serialization import DTYPES, array_from_json, array_to_json


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_every_dtype(dtype: str) -> None:
    a = (np.arange(24) % 7).astype(dtype).reshape(2, 3, 4)
    wire = array_to_json(a)
    assert wire is not None
    assert wire["dtype"] == dtype
    assert wire["shape"] == [2, 3, 4]
    assert isinstance(wire["buffer"], memoryview)
    assert wire["buffer"].nbytes == a.nbytes
    # the kernel receives buffers as bytes (or memoryviews) from the comm
    back = array_from_json({**wire, "buffer": bytes(wire["buffer"])})
    assert back is not None
    assert back.dtype == a.dtype
    np.testing.assert_array_equal(back, a)


def test_non_contiguous_input_is_sent_in_c_order() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4).T
    wire = array_to_json(a)
    assert wire is not None
    back = array_from_json(dict(wire))
    assert back is not None
    np.testing.assert_array_equal(back, a)


def test_none_and_bad_input() -> None:
    assert array_to_json(None) is None
    assert array_from_json(None) is None
    with pytest.raises(SVDWidgetsError, match="int64"):
        array_to_json(np.arange(3))
    with pytest.raises(SVDWidgetsError, match="complex64"):
        array_from_json({"dtype": "complex64", "shape": [1], "buffer": b"\0" * 8})
    with pytest.raises(SVDWidgetsError, match=r"\(2, 2\) needs 4 values, the buffer holds 3"):
        array_from_json({"dtype": "float32", "shape": [2, 2], "buffer": b"\0" * 12})
