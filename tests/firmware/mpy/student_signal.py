# The simulated student's signal under MicroPython, for comparison with CPython.
# Usage: micropython student_signal.py SEED SECONDS RATE [PROFILE_JSON]
# Prints one line per sample: the hex of four little-endian doubles (tip, barrel a, barrel b,
# grip), then "TRUTH <json>".
import binascii
import json
import struct
import sys

from student import Student

seed, seconds, rate = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
profile = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
s = Student(seed=seed, profile=profile)
buf = bytearray(32)
for i in range(int(seconds * rate)):
    t = i / rate
    tip, a, b = s.pen(t)
    struct.pack_into("<4d", buf, 0, tip, a, b, s.grip(t))
    print(binascii.hexlify(buf).decode())
print("TRUTH " + json.dumps(s.truth()))
