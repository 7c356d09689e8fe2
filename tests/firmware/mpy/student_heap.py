# Heap and speed of the simulated student under MicroPython.
# Usage: micropython -X heapsize=128k student_heap.py SECONDS RATE
# Samples pen and grip for SECONDS at RATE Hz, twice over (the second run from where the first
# ended), and prints "HEAP <name> <bytes>" (gc.mem_alloc differences after a collection) and
# "SPEED <name> <samples per second>".
import gc
import sys
import time

gc.collect()
base = gc.mem_alloc()
from student import Student  # noqa: E402

gc.collect()
imported = gc.mem_alloc()
s = Student(seed=11)
gc.collect()
made = gc.mem_alloc()
seconds, rate = float(sys.argv[1]), int(sys.argv[2])
n = int(seconds * rate)


def run(first):
    t0 = time.ticks_us()
    for i in range(first, first + n):
        s.pen(i / rate)
    t1 = time.ticks_us()
    for i in range(first, first + n):
        s.grip(i / rate)
    t2 = time.ticks_us()
    return n * 1e6 / time.ticks_diff(t1, t0), n * 1e6 / time.ticks_diff(t2, t1)


pen_rate, grip_rate = run(0)
gc.collect()
after = gc.mem_alloc()
run(n)
gc.collect()
after2 = gc.mem_alloc()
tr = s.truth()
gc.collect()
with_truth = gc.mem_alloc()
del tr
print("HEAP import", imported - base)
print("HEAP student", made - imported)
print("HEAP run", after - made)
print("HEAP run2", after2 - made)
print("HEAP truth", with_truth - after2)
print("HEAP free", gc.mem_free())
print("SPEED pen", int(pen_rate))
print("SPEED grip", int(grip_rate))
