"""The server's sample codec gives back every array bit for bit, and shrinks real ones."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from finemotor.server.codec import decode_index, decode_samples, encode_index, encode_samples


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 300).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, n, elements=st.floats(allow_nan=True, allow_infinity=True)),
            hnp.arrays(np.int32, (n, 3)),
        )
    )
)
@example((np.array([-0.0]), np.zeros((1, 3), dtype=np.int32)))  # -0.0 once came back as 0.0
def test_any_arrays_round_trip_exactly(arrays: tuple[np.ndarray, np.ndarray]) -> None:
    t, counts = arrays
    t2, counts2 = decode_samples(encode_samples(t, counts))
    assert t2.tobytes() == t.tobytes()  # NaNs, infinities, signed zeros: bit for bit
    np.testing.assert_array_equal(counts2, counts)


def test_tick_times_and_noisy_counts_shrink_and_round_trip() -> None:
    rng = np.random.default_rng(3)
    n = 65536
    ticks = np.round(np.arange(n) * 3125.0 + rng.normal(0, 20, n)).astype(np.int64) + 10**7
    t = ticks / 1e6
    counts = (20000 + 5000 * np.sin(np.arange(n) / 300) + rng.normal(0, 40, n)).astype(np.int32)
    data = encode_samples(t, counts.reshape(-1, 1))
    t2, c2 = decode_samples(data)
    assert t2.tobytes() == t.tobytes()
    np.testing.assert_array_equal(c2[:, 0], counts)
    assert len(data) < 0.3 * (t.nbytes + counts.nbytes)


def test_the_block_index_round_trips() -> None:
    index = encode_index([0, 16, 32], [16, 16, 7])
    assert decode_index(index) == [(0, 16), (16, 16), (32, 7)]
