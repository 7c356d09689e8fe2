"""Run on the kit (MicroPython, raw REPL) by ``finemotor flash``, which sends this file and
then ``inspect_kit(DIRS)``: prints one line, the ``repr`` of a dict of what the kit holds.

``files``: path -> (size, hex SHA-256 or '' without hashlib) of every file under DIRS and of
``main.py`` and ``kit_id.txt``; ``kit_id``; ``main`` (the start of main.py); ``uid`` (the
chip id, hex); ``machine``; ``version``; ``mpy`` (the .mpy version it loads); ``hashlib``.
"""

import os
import sys

try:
    import hashlib
    import binascii

    HASHES = 1
except ImportError:
    HASHES = 0


def _sha256(path):
    s = hashlib.sha256()
    b = bytearray(512)
    m = memoryview(b)
    with open(path, "rb") as f:
        while 1:
            n = f.readinto(b)
            if not n:
                break
            s.update(m[:n])
    return binascii.hexlify(s.digest()).decode()


def _walk(folder, files):
    try:
        entries = list(os.ilistdir(folder))
    except OSError:
        return
    for e in entries:
        path = folder + "/" + e[0]
        if e[1] == 0x4000:
            _walk(path, files)
        else:
            files[path] = (os.stat(path)[6], _sha256(path) if HASHES else "")


def _read(path, n):
    try:
        with open(path) as f:
            return f.read(n)
    except OSError:
        return None


def inspect_kit(dirs):
    files = {}
    for folder in dirs:
        _walk(folder, files)
    for path in ("main.py", "kit_id.txt"):
        try:
            files[path] = (os.stat(path)[6], _sha256(path) if HASHES else "")
        except OSError:
            pass
    uid = None
    try:
        import machine

        uid = binascii.hexlify(machine.unique_id()).decode()
    except Exception:
        pass
    print(
        repr(
            {
                "files": files,
                "kit_id": _read("kit_id.txt", 64),
                "main": _read("main.py", 600),
                "uid": uid,
                "machine": sys.implementation._machine,
                "version": ".".join(str(v) for v in sys.implementation.version[:3]),
                "mpy": getattr(sys.implementation, "_mpy", 0),
                "hashlib": HASHES,
            }
        )
    )
