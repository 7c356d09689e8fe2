"""Wire protocol v1 as the host speaks it (docs/protocol.md is the law).

The firmware packs (``firmware/lib/fm/wire.py`` and friends); this package decodes with numpy.
Golden vectors in ``tests/vectors/`` keep both implementations honest.
"""

from finemotor.protocol.constants import (
    ATT_MTU_DEFAULT,
    ATT_MTU_MAX,
    FRAME_BACKFILL,
    FRAME_LIVE,
    HEADER_SIZE,
    LAYOUTS,
    PROTOCOL_VERSION,
    SEQ_MODULUS,
    TICK_MODULUS,
    Layout,
)
from finemotor.protocol.frames import DecodedFrames, decode_frame, decode_frames

__all__ = [
    "ATT_MTU_DEFAULT",
    "ATT_MTU_MAX",
    "FRAME_BACKFILL",
    "FRAME_LIVE",
    "HEADER_SIZE",
    "LAYOUTS",
    "PROTOCOL_VERSION",
    "SEQ_MODULUS",
    "TICK_MODULUS",
    "DecodedFrames",
    "Layout",
    "decode_frame",
    "decode_frames",
]
