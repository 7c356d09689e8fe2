# A simulated kit's factory calibration: what the kit's maker would have measured, written to
# cal.bin from the world's hidden truth (a real kit is calibrated with weights; see
# calibration/). Load cells get a linear model (the truth's gain and zero; their small
# non-linearity and hysteresis stay as measurement error); the FSR pads get a monotone table.
import binascii
import struct

from chips.analog import ADC_FULL_MV
from fm.calstore import CalStore

CALIBRATED_AT = 1793059200  # the simulated kits' factory calibration date (2026-10-27)
_PAD_FORCES_N = (0.5, 1.0, 2.0, 4.0, 8.0)


def _pad_counts(t, force_n):
    g = force_n ** t["alpha"] / t["r1_ohm"]
    gr = g * t["r_fixed_ohm"]
    mv = t["vcc_mv"] * gr / (1.0 + gr)
    return mv * 4095.0 / ADC_FULL_MV[3] + t.get("adc_offset_lsb", 0.0)


def _linear(t):
    return struct.pack("<BBif", 1, 1, round(t["offset_counts"]), 1.0 / t["counts_per_n"])


def _table(t):
    zero = round(t.get("adc_offset_lsb", 0.0))
    pts = [(0.0, 0.0)]
    for f in _PAD_FORCES_N:
        if f > t["threshold_n"]:
            x = _pad_counts(t, f) - zero
            if x > pts[-1][0] + 1.0 and x < 4095 - zero:
                pts.append((x, f))
    if len(pts) < 2:
        return struct.pack("<BBi", 0, 0, 0)
    coeffs = []
    for x, f in pts:
        coeffs.append(x)
        coeffs.append(f)
    return struct.pack("<BBi", 3, len(coeffs), zero) + struct.pack("<%df" % len(coeffs), *coeffs)


def write_factory_calibration(world, path="cal.bin"):
    # The factory station runs the firmware's own device set-up once (gain, rate, the chip's
    # internal offset calibration), reads the sensors' truth as they are then configured, and
    # stores the calibration through the firmware's own store (checked, atomic, CRC-sealed).
    from fm import devices

    if world.kind == "stylus":
        from boards import stylus as board

        devices.stylus(board)
    else:
        from boards import grip as board

        devices.grip(board)
    truth = world.truth
    if world.kind == "stylus":
        parts = (_linear(truth["tip"]), _table(truth["barrel_a"]), _table(truth["barrel_b"]))
    else:
        parts = (_linear(truth["grip"]),)
    blob = struct.pack("<BIB", 1, CALIBRATED_AT, len(parts)) + b"".join(parts)
    store = CalStore(path, len(parts))
    store.stage_chunk(0, blob)
    reason = store.commit(len(blob), binascii.crc32(blob) & 0xFFFFFFFF)
    if reason:
        raise ValueError("factory calibration refused: " + reason)


def prepare_flash(world, kind, chip, kit_id):
    # What a kit's flash and board variant hold before its firmware starts, for both runners:
    # the bridge ADC fitted, the kit id on its label, and the factory calibration of a new kit.
    import sys

    if chip is not None:  # the board variant fitted with this bridge ADC (what the firmware reads)
        sys.modules["boards." + kind].ADC_CHIP = chip
    if kit_id is not None:
        with open("kit_id.txt", "w") as f:
            f.write(kit_id)
    try:
        open("cal.bin").close()
    except OSError:  # a new kit: comes calibrated from the factory
        write_factory_calibration(world)
