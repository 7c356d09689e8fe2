"""Run on the kit (MicroPython, raw REPL) by ``finemotor flash``, which sends this file and
then ``load_check(MODULES)``: imports each module from the flashed ``lib`` folder, forgets
them again, and prints ``loaded`` if every one imported.
"""

import sys


def load_check(modules):
    saved = sys.path[:]
    sys.path[:] = ["lib"]
    try:
        for name in modules:
            __import__(name)
    finally:
        sys.path[:] = saved
        for name in list(sys.modules):
            if name.split(".")[0] in ("fm", "boards"):
                del sys.modules[name]
    print("loaded")
