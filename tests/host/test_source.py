"""open_source: kit names as URLs."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from finemotor.errors import FinemotorError
from finemotor.samples import SampleBlock
from finemotor.source import open_source
from finemotor.stream import KitLinkCounters


def test_a_simulated_grip_streams_through_its_source_name() -> None:
    blocks: list[SampleBlock] = []

    async def run() -> KitLinkCounters:
        async with open_source("sim://grip?seed=4&chip=hx711", on_blocks=blocks.extend) as link:
            assert link.info is not None and link.info.rate_hz == 80
            assert link.info.model == "FM-GRIP-1-HX"
            await asyncio.sleep(3.0)
            return link.counters()

    counters = asyncio.run(run())
    seq = np.concatenate([b.seq for b in blocks])
    np.testing.assert_array_equal(seq, np.arange(seq[0], seq[0] + len(seq)))
    assert 150 < len(seq) < 320
    assert counters.lost == 0 and counters.malformed == 0


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("usb://x", "unknown kit source"),
        ("sim://pencil", "sim://stylus"),
        ("ble://not-a-kit", "kit id"),
        ("sim://grip?seed=x", "integer"),
        ("serial://", "names no port"),
    ],
)
def test_bad_names_say_what_to_write(name: str, words: str) -> None:
    async def run() -> None:
        async with open_source(name):
            pass

    with pytest.raises(FinemotorError, match=words):
        asyncio.run(run())
