"""The virtual radio: Bluetooth LE in software, and a bleak backend that runs on it.

bumble provides the stack (controllers on an in-process link, host, GATT, SMP); bleak's own
``BleakScanner`` and ``BleakClient`` drive it through ``backend=``::

    async with VirtualRadio() as radio:
        kit = await radio.add_peripheral("F0:00:00:00:00:02")   # a bumble Device: script it
        ...
        devices = await BleakScanner.discover(1.0, backend=VirtualBleakScanner)
        async with BleakClient(devices[0], backend=VirtualBleakClient) as client:
            ...

See docs/virtual-radio.md.
"""

from finemotor.transport.virtual.client import (
    VirtualBleakClient,
    VirtualGATTProtocolError,
    VirtualLinkError,
    VirtualTimeoutError,
)
from finemotor.transport.virtual.radio import (
    CENTRAL_ADDRESS,
    DEFAULT_MTU,
    DEFAULT_RSSI,
    LinkCut,
    VirtualRadio,
    normalize_address,
)
from finemotor.transport.virtual.scanner import (
    VirtualBleakScanner,
    VirtualDeviceDetails,
    advertisement_data,
)

__all__ = [
    "CENTRAL_ADDRESS",
    "DEFAULT_MTU",
    "DEFAULT_RSSI",
    "LinkCut",
    "VirtualBleakClient",
    "VirtualBleakScanner",
    "VirtualDeviceDetails",
    "VirtualGATTProtocolError",
    "VirtualLinkError",
    "VirtualRadio",
    "VirtualTimeoutError",
    "advertisement_data",
    "normalize_address",
]
