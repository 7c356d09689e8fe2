"""Numbers and identifiers of wire protocol v1."""

from __future__ import annotations

from dataclasses import dataclass

from finemotor.samples import DeviceKind

PROTOCOL_VERSION = 1
HEADER_SIZE = 10
FRAME_LIVE = 0
FRAME_BACKFILL = 1
FLAG_SENSOR_FAULT = 0x01
FLAG_RESUMED = 0x02

TICK_MODULUS = 1 << 30
"""Device ticks are microseconds modulo 2**30 (the ESP32's ``time.ticks_us`` period)."""
SEQ_MODULUS = 1 << 16
"""Sequence numbers are sample indices modulo 2**16."""
TICK_RESOLUTION_US = 8
"""Frame ticks are exact to 8 microseconds (the ring keeps ticks in 8 us steps)."""

ATT_MTU_DEFAULT = 23
ATT_MTU_MAX = 247

SERVICE_UUID = "4d2f0001-b1a6-4c1e-9f3a-6e6b5f1a7c20"
DATA_UUID = "4d2f0002-b1a6-4c1e-9f3a-6e6b5f1a7c20"
CONTROL_UUID = "4d2f0003-b1a6-4c1e-9f3a-6e6b5f1a7c20"
STATUS_UUID = "4d2f0004-b1a6-4c1e-9f3a-6e6b5f1a7c20"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
COMPANY_ID = 0xFFFF
KIND_CODES: dict[int, DeviceKind] = {1: "stylus", 2: "grip"}


@dataclass(frozen=True)
class Layout:
    """What one sample record holds: a BrainFlow-style descriptor of a device's channels.

    Attributes:
        layout_id: the byte carried in every frame header.
        name: a readable name.
        kind: the device that sends this layout.
        record_size: bytes per sample record.
        channel_names: one name per channel, in column order of decoded counts.
        channel_bits: ADC bits of each channel (24 = signed int24, 12 = unsigned 12-bit).
    """

    layout_id: int
    name: str
    kind: DeviceKind
    record_size: int
    channel_names: tuple[str, ...]
    channel_bits: tuple[int, ...]


LAYOUTS: dict[int, Layout] = {
    1: Layout(1, "stylus.v1", "stylus", 6, ("tip", "barrel_a", "barrel_b"), (24, 12, 12)),
    2: Layout(2, "grip.v1", "grip", 3, ("force",), (24,)),
}
