# GATT identifiers (docs/protocol.md, "GATT").
import bluetooth

# The fine-motor service and its characteristics: 4d2f00xx-b1a6-4c1e-9f3a-6e6b5f1a7c20.
SERVICE = bluetooth.UUID("4d2f0001-b1a6-4c1e-9f3a-6e6b5f1a7c20")
DATA = bluetooth.UUID("4d2f0002-b1a6-4c1e-9f3a-6e6b5f1a7c20")
CONTROL = bluetooth.UUID("4d2f0003-b1a6-4c1e-9f3a-6e6b5f1a7c20")
STATUS = bluetooth.UUID("4d2f0004-b1a6-4c1e-9f3a-6e6b5f1a7c20")

# The service UUID as it appears in advertising data (little-endian bytes).
SERVICE_LE = bytes(reversed(bytes.fromhex("4d2f0001b1a64c1e9f3a6e6b5f1a7c20")))

# Standard services.
DEVICE_INFO = bluetooth.UUID(0x180A)
MANUFACTURER = bluetooth.UUID(0x2A29)
MODEL = bluetooth.UUID(0x2A24)
SERIAL = bluetooth.UUID(0x2A25)
FIRMWARE_REV = bluetooth.UUID(0x2A26)
HARDWARE_REV = bluetooth.UUID(0x2A27)
BATTERY = bluetooth.UUID(0x180F)
BATTERY_LEVEL = bluetooth.UUID(0x2A19)

# Manufacturer-specific advertising data: the company id reserved for testing, then ours.
COMPANY_ID = 0xFFFF
KIND_CODES = {"stylus": 1, "grip": 2}
