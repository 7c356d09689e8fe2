# Golden vectors, firmware side: pack every vector with the firmware's own code and compare.
# Usage: micropython vectors_fw.py VECTORS.json WORKDIR
# Prints one line per vector: "PASS <name>" or "FAIL <name>: <detail>".
import binascii
import json
import os
import sys

from fm import calstore, control, status, wire


def hexs(b):
    return binascii.hexlify(b).decode()


def report(ok, name, detail=""):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + detail))


doc = json.load(open(sys.argv[1]))
os.chdir(sys.argv[2])

for v in doc["frames"]:
    lay = v["layout"]
    rec = wire.record_size(lay)
    n = len(v["samples"])
    buf = bytearray(wire.HEADER_SIZE + rec * n)
    wire.pack_header(buf, v["type"], lay, v["seq"], v["tick"], n, v["flags"])
    for i, s in enumerate(v["samples"]):
        off = wire.HEADER_SIZE + i * rec
        wire.put_i24(buf, off, s[0])
        if lay == wire.LAYOUT_STYLUS:
            wire.put_u12x2(buf, off + 3, s[1], s[2])
        if wire.get_i24(buf, off) != s[0]:
            report(False, "frame " + v["name"], "get_i24 round trip")
    report(hexs(buf) == v["hex"], "frame " + v["name"], hexs(buf))

for i, v in enumerate(doc["status"]):
    buf = bytearray(status.STATUS_SIZE)
    status.pack_status(
        buf,
        v["state"],
        v["battery_percent"],
        v["battery_mv"],
        v["health"],
        v["flags"],
        v["rate_hz"],
        v["missed"],
        v["overwritten"],
        v["next_seq"],
        v["faults"],
    )
    report(hexs(buf) == v["hex"], "status %d" % i, hexs(buf))


class VectorKit:
    # Answers the control point with the values a vector prescribes, and records the calls.
    def __init__(self, spec):
        self.spec = spec
        self.calls = []
        self.cal = calstore.CalStore("cal_vectors.bin", 1)

    def start(self):
        self.calls.append("start")
        return True

    def stop(self):
        self.calls.append("stop")

    def next_seq(self):
        return self.spec.get("next_seq", 0)

    def now(self):
        return self.spec.get("now", 0)

    def set_rate(self, hz):
        self.calls.append(("rate", hz))
        return self.spec.get("rate", 0)

    def identify(self, s):
        self.calls.append(("identify", s))

    def backfill(self, seq, count):
        self.calls.append(("backfill", seq, count))
        return tuple(self.spec["backfill"])

    def tare(self, n):
        return None

    def info(self):
        return (1, 200, 6400, 3)


for v in doc["control"]:
    kit = VectorKit(v["kit"])
    cp = control.Control(kit)
    resp = cp.handle(binascii.unhexlify(v["request"]), v.get("encrypted", True))
    report(hexs(resp) == v["response"], "control " + v["name"], hexs(resp))

for v in doc["calibration"]:
    blob = binascii.unhexlify(v["hex"])
    nch = len(v["channels"]) if v["valid"] else v["device_channels"]
    reason = calstore.check_blob(blob, nch)
    report((reason is None) == v["valid"], "calibration " + v["name"], str(reason))
    if not v["valid"]:
        continue
    # The same blob through the control point: staged in chunks, committed, read back.
    store = calstore.CalStore("cal_%d.bin" % nch, nch)
    holder = VectorKit({})
    holder.cal = store
    cp = control.Control(holder)
    cp.max_payload = 20
    for off in range(0, len(blob), 12):
        cmd = bytes((control.OP_CAL_STAGE, 1, off & 0xFF, off >> 8)) + blob[off : off + 12]
        r = cp.handle(cmd)
        if r[3] != control.OK:
            report(False, "calibration stage " + v["name"], hexs(r))
    crc = v["crc32"]
    commit = bytes((control.OP_CAL_COMMIT, 2, len(blob) & 0xFF, len(blob) >> 8))
    commit += bytes(((crc >> s) & 0xFF for s in (0, 8, 16, 24)))
    r = cp.handle(commit)
    again = calstore.CalStore("cal_%d.bin" % nch, nch)
    report(r[3] == control.OK and again.blob == blob, "calibration store " + v["name"], hexs(r))

# Calibration writes the kit must refuse (the stored record stays), and damaged stored
# records it must read as "not calibrated".
writes = doc["calibration_writes"]
nch = writes["channels"]


def fresh_control(path):
    try:
        os.remove(path)
    except OSError:
        pass
    holder = VectorKit({})
    holder.cal = calstore.CalStore(path, nch)
    cp = control.Control(holder)
    cp.max_payload = writes["max_payload"]
    return cp


for k, seq in enumerate(writes["sequences"]):
    cp = fresh_control("calw_%d.bin" % k)
    bad = ""
    for i, step in enumerate(seq["steps"]):
        got = hexs(cp.handle(binascii.unhexlify(step["request"])))
        if got != step["response"]:
            bad = "step %d: %s, expected %s" % (i, got, step["response"])
            break
    report(not bad, "calibration write " + seq["name"], bad)

for k, v in enumerate(writes["damaged"]):
    path = "cald_%d.bin" % k
    with open(path, "wb") as f:
        f.write(binascii.unhexlify(v["file"]))
    holder = VectorKit({})
    holder.cal = calstore.CalStore(path, nch)
    cp = control.Control(holder)
    cp.max_payload = writes["max_payload"]
    got = hexs(cp.handle(binascii.unhexlify(v["read"]["request"])))
    ok = got == v["read"]["response"] and not holder.cal.calibrated()
    report(ok, "damaged " + v["name"], got)
