"""Neutral, unit-bearing sample containers handed from one pipeline stage to the next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # numpy only in annotations: the kinds below are read without it
    import numpy as np
    import numpy.typing as npt

DeviceKind = Literal["stylus", "grip"]
DEVICE_KINDS: tuple[DeviceKind, ...] = ("stylus", "grip")
"""Every device kind, in the order commands list them."""
SIM_KIT_IDS: dict[str, str] = {"stylus": "5A1001", "grip": "5A2002"}
"""The label ids of the simulated kits (``--sim``, ``sim://``, the demo)."""


@dataclass(frozen=True)
class SampleBlock:
    """Consecutive raw samples from one device, on the device's own time axis.

    Attributes:
        kind: which device produced them.
        channels: channel names, one per column of ``counts`` (see docs/protocol.md).
        seq: unwrapped sample index of each sample (int64), strictly increasing by 1.
        t: device time of each sample in seconds (float64), from the device's ticks.
        counts: raw sensor counts, shape ``(n, len(channels))`` (int32).
    """

    kind: DeviceKind
    channels: tuple[str, ...]
    seq: npt.NDArray[np.int64]
    t: npt.NDArray[np.float64]
    counts: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return int(self.seq.shape[0])
