"""A hole made on purpose in a simulated kit's BLE stream: the radio loses five data
notifications in flight; the host sees the hole, asks the kit for it, and the kit's ring buffer
fills it. Nothing is lost, nothing is delivered twice, and every sample comes in order."""

from __future__ import annotations

import asyncio

import numpy as np
from aiotest import eventually, run

from finemotor.protocol.constants import DATA_UUID
from finemotor.protocol.frames import decode_frames
from finemotor.samples import SampleBlock
from finemotor.source import open_simulated
from finemotor.stream import KitLinkCounters


def test_lost_notifications_make_a_hole_the_kit_backfills() -> None:
    got: list[SampleBlock] = []

    async def main() -> tuple[KitLinkCounters, list[bytes]]:
        async with open_simulated("sim://grip?seed=2", got.extend) as (link, sim):
            await eventually(lambda: sum(len(b) for b in got) > 640, 10.0)  # 2 s streaming
            sim.radio.lose_notifications(sim.address, 5, DATA_UUID)
            await eventually(lambda: len(sim.radio.lost_notifications) == 5, 5.0)
            await eventually(lambda: link.counters().backfilled > 0, 10.0)
            await asyncio.sleep(1.0)  # streaming goes on after the hole
            return link.counters(), list(sim.radio.lost_notifications)

    counters, lost = run(main(), 60.0)
    decoded, errors = decode_frames(lost)
    assert decoded is not None and not errors and decoded.n_frames == 5
    in_lost = int(decoded.count.sum())
    assert counters.gaps >= 1 and counters.lost == 0 and counters.malformed == 0
    assert counters.backfilled >= in_lost  # every lost sample came back from the ring
    seq = np.concatenate([b.seq for b in got])
    np.testing.assert_array_equal(seq, np.arange(seq[0], seq[0] + seq.shape[0]))
    # the lost frames' samples are in what was delivered, once each
    first = int(decoded.seq[0])
    assert np.count_nonzero((seq % 65536) == first) == 1
