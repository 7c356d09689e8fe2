# The kit's flash as the firmware sees it through `open()`: files written on the simulated
# device cost the flash's time when they are committed (closed), and are counted.
#
# World installs this over the built-in `open` (the unix port lets a script override builtins,
# MICROPY_CAN_OVERRIDE_BUILTINS). Reading is free, and so is a descriptor (a device such as the
# serial line, not flash); a file opened by name to write is wrapped, and its
# close calls world.flash_commit(name, bytes written): extmod/vfs_lfsx.c commits a littlefs
# file on close, which on the ESP32 runs with the flash cache disabled, so no callback runs
# meanwhile (world.stall).
import builtins
import io

_open = builtins.open


class _Written(io.IOBase):  # an IOBase: native stream users (json.dump) accept it
    def __init__(self, f, name, world):
        self._f = f
        self._name = name
        self._world = world
        self._n = 0
        self._open = True

    def write(self, b):
        self._n += len(b)
        return self._f.write(b)

    def flush(self):
        self._f.flush()

    def ioctl(self, req, arg):
        return 0

    def close(self):
        if self._open:
            self._open = False
            self._f.close()
            self._world.flash_commit(self._name, self._n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getattr__(self, name):
        return getattr(self._f, name)


def install(world):
    def open(name, mode="r", *args, **kw):  # noqa: A001  (replaces the built-in)
        f = _open(name, mode, *args, **kw)
        if isinstance(name, str) and ("w" in mode or "a" in mode or "+" in mode):
            return _Written(f, name, world)
        return f

    builtins.open = open
