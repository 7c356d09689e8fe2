# Realtime, with the bridge: an event that comes on the socket reaches the handler between two
# statements of a main program that calls nothing (preempt.start(sock=...), as run_kit.py).
# Usage: bridge_jump.py PORT. Prints "R key value" lines.
import sys

from world import World

w = World("stylus", seed=3, realtime=True)
import bluetooth  # noqa: E402
import preempt  # noqa: E402

bluetooth.connect_bridge("127.0.0.1", int(sys.argv[1]))
ble = bluetooth.BLE()
seen = [0]


def count(event, data):
    seen[0] += 1


ble.irq(count)
R_started = preempt.start(sock=bluetooth._bridge.sock)
i = 0
at = -1
while i < 20_000_000:  # the bridge sends a connection 0.1 s after its hello
    if seen[0]:
        at = i
        break
    i += 1
print("R started", 1 if R_started else 0)
print("R at", at)
for k, v in preempt.counts().items():
    print("R", k, v)
