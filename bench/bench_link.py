"""Sample-to-host latency and host CPU per kit, over the virtual radio with simulated kits.

Latency: for every sample, the host time its block was handed on minus the host time the
device sampled it (its device tick mapped through the time sync). It includes the kit's
batching (a sample waits up to ~20 ms for its frame), the kit's stream task, the bridge and
the two bumble stacks, and the host's decoding. Host CPU: this process's CPU time over wall
time while streaming (the kits' firmware runs in their own MicroPython processes). Median of
several runs for the CPU figure.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import numpy as np

from finemotor.kitlink import KitLink
from finemotor.samples import SampleBlock
from finemotor.transport.scan import wait_for_pairing_window
from finemotor.transport.virtual.radio import VirtualRadio
from finemotor.transport.virtual.simkit import SimKit

SECONDS = 15.0
KIT_IDS = {"stylus": "5A1001", "grip": "5A2002"}


async def stream(kinds: tuple[str, ...], seconds: float) -> dict[str, object]:
    """Stream from the given kits; return latencies (s) per kind and host CPU share."""
    arrivals: dict[str, list[tuple[float, SampleBlock]]] = {k: [] for k in kinds}
    async with VirtualRadio() as radio:
        sims = [SimKit(radio, k, seed=i + 1, kit_id=KIT_IDS[k]) for i, k in enumerate(kinds)]
        links: dict[str, KitLink] = {}
        try:
            for sim in sims:
                await sim.start()
            for sim in sims:
                sim.press_button(300)
                await wait_for_pairing_window(KIT_IDS[sim.kind], 15.0, radio.scanner_backend)
                kind = sim.kind

                def take(blocks: list[SampleBlock], kind: str = kind) -> None:
                    now = time.monotonic()
                    arrivals[kind].extend((now, b) for b in blocks)

                links[kind] = KitLink(sim.address, on_blocks=take, backend=radio.client_backend)
                await links[kind].open()
            await asyncio.sleep(2.0)  # settle, and let the clock sync gather exchanges
            for a in arrivals.values():
                a.clear()
            cpu0, wall0 = time.process_time(), time.monotonic()
            await asyncio.sleep(seconds)
            cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
            out: dict[str, object] = {"cpu_share": cpu}
            for kind, link in links.items():
                lat = []
                for arrived, block in arrivals[kind]:
                    sampled = np.asarray(link.clock.to_host(block.t * 1e6))
                    lat.append(arrived - sampled)
                out[kind] = np.concatenate(lat) if lat else np.array([])
            return out
        finally:
            for link in links.values():
                await link.close()
            for sim in sims:
                await sim.stop()


def main() -> None:
    """Print latency percentiles and host CPU per kit."""
    one = asyncio.run(stream(("stylus",), SECONDS))
    lat = np.asarray(one["stylus"])
    print(
        f"stylus, sample to host: p50 {np.percentile(lat, 50) * 1e3:.1f} ms, "
        f"p95 {np.percentile(lat, 95) * 1e3:.1f} ms, max {lat.max() * 1e3:.1f} ms "
        f"({lat.size} samples over {SECONDS:g} s)"
    )
    cpus1 = [float(one["cpu_share"])]
    cpus2 = []
    for _ in range(2):
        two = asyncio.run(stream(("stylus", "grip"), SECONDS))
        cpus2.append(float(two["cpu_share"]))
        glat = np.asarray(two["grip"])
    print(
        f"grip (beside the stylus), sample to host: p50 {np.percentile(glat, 50) * 1e3:.1f} ms, "
        f"p95 {np.percentile(glat, 95) * 1e3:.1f} ms"
    )
    cpus1.append(float(asyncio.run(stream(("stylus",), SECONDS))["cpu_share"]))
    c1, c2 = statistics.median(cpus1), statistics.median(cpus2)
    print(
        f"host CPU (this process, incl. the virtual radio's two bumble stacks per kit): "
        f"1 kit {c1 * 100:.1f} % of a core, 2 kits {c2 * 100:.1f} % "
        f"(median of {len(cpus1)} and {len(cpus2)} runs)"
    )


if __name__ == "__main__":
    main()
