"""finemotor: host library for the fine-motor sensor kit (stylus and grip dynamometer).

Open a kit by name and read its forces in newtons on the kit's own clock::

    import asyncio
    from finemotor import open_forces

    async def main() -> None:
        async with open_forces("sim://grip") as kit:  # or ble://5A2002, serial://..., replay://
            async for f in kit.during(5.0):
                print(f"{f.t[-1]:.2f} s  {f['force'].values.max():.1f} {f['force'].unit}")

    asyncio.run(main())

The names here:

- kits: :func:`open_forces` (a kit's :class:`Forces`), :func:`open_source` /
  :func:`open_link` (its :class:`KitLink` and raw :class:`SampleBlock` s), :func:`to_forces`;
  a link's :class:`KitLinkCounters`, and :class:`KitTransport`, what a link drives (Bluetooth,
  the USB cable, or a transport of one's own);
- calibration: :class:`DeviceCalibration`, :class:`ChannelCalibration`;
- metrics: the live engines :class:`PenEngine`, :class:`GripEngine`, and offline
  :func:`summarize_pen`, :func:`summarize_grip`, :func:`summarize_block`;
- recordings: :class:`Recording` (the reader of what sessions recorded);
- errors: :class:`FinemotorError` and its kinds.

Units inside the library: newtons, seconds, hertz. A channel without a calibration stays in
raw units (``"raw"``: the tared counts), never called newtons. Kilograms-force appear only
at display for grip strength, because clinical norms use them. The names are imported when
first used, so ``import finemotor`` loads neither numpy nor a Bluetooth stack.
"""

from typing import TYPE_CHECKING

from finemotor._lazy import lazy_exports
from finemotor.errors import (
    BluetoothUnavailableError,
    CalibrationError,
    FinemotorError,
    InputFileError,
    KitCommandError,
    PairingRefusedError,
    ProtocolError,
    RecordingError,
    TransportError,
)

if TYPE_CHECKING:
    from finemotor.calibration.model import ChannelCalibration, DeviceCalibration
    from finemotor.forces import (
        BARREL_PADS,
        ChannelData,
        Forces,
        ForceStream,
        barrel_sum,
        open_forces,
        to_forces,
    )
    from finemotor.kitlink import KitLink
    from finemotor.metrics.grip import GripSummary
    from finemotor.metrics.live import GripEngine, LiveSnapshot, PenEngine
    from finemotor.metrics.pen import PenSummary
    from finemotor.metrics.results import Metric
    from finemotor.metrics.summary import summarize_block, summarize_grip, summarize_pen
    from finemotor.recording import Recording
    from finemotor.samples import DeviceKind, SampleBlock
    from finemotor.source import open_link, open_source

__all__ = [
    "BARREL_PADS",
    "BluetoothUnavailableError",
    "CalibrationError",
    "ChannelCalibration",
    "ChannelData",
    "DeviceCalibration",
    "DeviceKind",
    "FinemotorError",
    "ForceStream",
    "Forces",
    "GripEngine",
    "GripSummary",
    "InputFileError",
    "KitCommandError",
    "KitLink",
    "KitLinkCounters",
    "KitTransport",
    "LiveSnapshot",
    "Metric",
    "PairingRefusedError",
    "PenEngine",
    "PenSummary",
    "ProtocolError",
    "Recording",
    "RecordingError",
    "SampleBlock",
    "TransportError",
    "__version__",
    "barrel_sum",
    "open_forces",
    "open_link",
    "open_source",
    "summarize_block",
    "summarize_grip",
    "summarize_pen",
    "to_forces",
]
__version__ = "0.1.0"

_EXPORTS = {
    "ChannelCalibration": "finemotor.calibration.model",
    "DeviceCalibration": "finemotor.calibration.model",
    "BARREL_PADS": "finemotor.forces",
    "ChannelData": "finemotor.forces",
    "Forces": "finemotor.forces",
    "ForceStream": "finemotor.forces",
    "barrel_sum": "finemotor.forces",
    "open_forces": "finemotor.forces",
    "to_forces": "finemotor.forces",
    "KitLink": "finemotor.kitlink",
    "KitLinkCounters": "finemotor.stream",
    "KitTransport": "finemotor.transport.contract",
    "GripSummary": "finemotor.metrics.grip",
    "GripEngine": "finemotor.metrics.live",
    "LiveSnapshot": "finemotor.metrics.live",
    "PenEngine": "finemotor.metrics.live",
    "PenSummary": "finemotor.metrics.pen",
    "Metric": "finemotor.metrics.results",
    "summarize_block": "finemotor.metrics.summary",
    "summarize_grip": "finemotor.metrics.summary",
    "summarize_pen": "finemotor.metrics.summary",
    "Recording": "finemotor.recording",
    "DeviceKind": "finemotor.samples",
    "SampleBlock": "finemotor.samples",
    "open_link": "finemotor.source",
    "open_source": "finemotor.source",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
