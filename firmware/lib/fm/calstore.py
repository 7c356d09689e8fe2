# Calibration coefficients on flash: staged over the control point, checked, swapped atomically.
#
# The blob (docs/protocol.md, "Calibration record"):
#   u8 format (1) | u32 calibrated_at (unix s) | u8 channels | per channel:
#   u8 model | u8 ncoef | i32 zero | f32 * ncoef
# Models: 0 none, 1 linear, 2 poly, 3 table (x0, N0, x1, N1, ... strictly increasing).
# A new blob is written to a temporary file and renamed over the old one, so a failed write
# leaves the previous calibration in place.
import binascii
import os
import struct

from micropython import const

from fm.errors import StorageError

CAL_FORMAT = const(1)
MAX_BLOB = const(256)
_MAX_MODEL = const(3)
_MAX_COEF = const(32)


def check_blob(blob, channels):
    # Return None if the blob is a valid calibration for `channels` channels, else the reason.
    n = len(blob)
    if n < 6:
        return "too short"
    if blob[0] != CAL_FORMAT:
        return "unknown format"
    if blob[5] != channels:
        return "wrong channel count"
    off = 6
    for _ in range(channels):
        if off + 6 > n:
            return "truncated"
        model = blob[off]
        ncoef = blob[off + 1]
        if model > _MAX_MODEL or ncoef > _MAX_COEF:
            return "bad model"
        if (model == 1 and ncoef != 1) or (model == 3 and (ncoef < 4 or ncoef & 1)):
            return "bad coefficient count"
        off += 6
        if off + 4 * ncoef > n:
            return "truncated"
        prev_x = prev_y = None
        for i in range(ncoef):
            c = struct.unpack_from("<f", blob, off + 4 * i)[0]
            if c != c or c in (float("inf"), float("-inf")):
                return "coefficient not finite"
            if model == 3:
                if i & 1:
                    if prev_y is not None and c <= prev_y:
                        return "table not increasing"
                    prev_y = c
                else:
                    if prev_x is not None and c <= prev_x:
                        return "table not increasing"
                    prev_x = c
        off += 4 * ncoef
    if off != n:
        return "trailing bytes"
    return None


def empty_blob(channels):
    # A valid blob that says every channel is uncalibrated.
    b = bytearray(6 + 6 * channels)
    b[0] = CAL_FORMAT
    b[5] = channels
    return bytes(b)


class CalStore:
    def __init__(self, path, channels):
        self.path = path
        self.channels = channels
        self.stage = bytearray(MAX_BLOB)
        self.staged = 0  # bytes staged so far (contiguous from 0)
        self.blob = self.load()

    def load(self):
        # The stored blob, or an all-uncalibrated one if none or damaged (CRC trailer checked).
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except OSError:
            return empty_blob(self.channels)
        if len(raw) < 4:
            return empty_blob(self.channels)
        body = raw[:-4]
        crc = struct.unpack("<I", raw[-4:])[0]
        if binascii.crc32(body) & 0xFFFFFFFF != crc or check_blob(body, self.channels):
            return empty_blob(self.channels)
        return bytes(body)

    def calibrated(self):
        # True if at least one channel has a calibration model.
        b = self.blob
        off = 6
        for _ in range(b[5]):
            if b[off]:
                return True
            off += 6 + 4 * b[off + 1]
        return False

    def stage_chunk(self, offset, data):
        # Put a chunk of a new blob at `offset`; chunks must arrive in order.
        if offset != self.staged and offset != 0:
            return False
        if offset + len(data) > MAX_BLOB:
            return False
        self.stage[offset : offset + len(data)] = data
        self.staged = offset + len(data)
        return True

    def commit(self, length, crc):
        # Check the staged blob and swap it in. Returns None or the reason it was refused.
        if length != self.staged:
            return "length mismatch"
        body = bytes(self.stage[:length])
        if binascii.crc32(body) & 0xFFFFFFFF != crc:
            return "crc mismatch"
        reason = check_blob(body, self.channels)
        if reason:
            return reason
        tmp = self.path + ".new"
        try:
            with open(tmp, "wb") as f:
                f.write(body)
                f.write(struct.pack("<I", crc))
            os.rename(tmp, self.path)
        except OSError as e:
            raise StorageError("calibration not saved: %s" % e)
        self.blob = body
        self.staged = 0
        return None
