"""Run a script under the MicroPython unix port with the firmware and its simulation importable.

`run_mpy(script_or_code, *args)` starts `micropython -X heapsize=<heap>` with MICROPYPATH set to
the simulation (first: its `machine.py` and `time.py` replace the built-in modules), then
`firmware/lib`, `firmware` (for `boards`) and the interpreter's frozen modules.

The simulation's and the firmware library's modules run precompiled (mpy-cross, into
build/mpy/sim and build/mpy/lib, refreshed when a source is newer), as a kit carries them:
compiling them in place at import would take heap that belongs to the firmware under test.
The source directories follow on the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
SIM = FIRMWARE / "sim"
BUILD = ROOT / "build" / "mpy"


def tool(name: str) -> str:
    """Path of a MicroPython tool (`make setup` installs them into the venv)."""
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(found).exists():
        raise FileNotFoundError(f"{name} not installed: run `make setup`")
    return found


def micropython() -> str:
    """Path of the MicroPython unix interpreter."""
    return tool("micropython")


def compiled(src_dir: Path) -> Path:
    """src_dir compiled to .mpy under build/mpy/<name>; only stale files are recompiled."""
    mpy_cross = tool("mpy-cross")
    dest = BUILD / src_dir.name
    wanted = set()
    for src in src_dir.rglob("*.py"):
        out = dest / src.relative_to(src_dir).with_suffix(".mpy")
        wanted.add(out)
        if out.exists() and out.stat().st_mtime_ns >= src.stat().st_mtime_ns:
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f"{out.stem}.{os.getpid()}.tmp")
        proc = subprocess.run(
            [mpy_cross, "-o", str(tmp), str(src)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise RuntimeError(f"mpy-cross failed on {src}:\n{proc.stderr}")
        os.replace(tmp, out)
    for old in dest.rglob("*.mpy"):
        if old not in wanted:
            old.unlink(missing_ok=True)
    return dest


def micropypath() -> str:
    """MICROPYPATH for the simulated device: simulation first, then the firmware."""
    lib = FIRMWARE / "lib"
    return ":".join(map(str, [compiled(SIM), SIM, compiled(lib), lib, FIRMWARE, ".frozen"]))


def run_mpy(
    script_path_or_code: str | os.PathLike[str],
    *args: str,
    heap: str = "128k",
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a MicroPython script file (a path) or source code (any string that is not the path
    of an existing .py file); extra args land in `sys.argv[1:]`. Output is text; the return
    code is not checked."""
    target = str(script_path_or_code)
    is_file = isinstance(script_path_or_code, os.PathLike) or (
        "\n" not in target and target.endswith(".py") and Path(target).is_file()
    )
    cmd = [micropython(), "-X", f"heapsize={heap}"]
    cmd += [target] if is_file else ["-c", target]
    env = dict(os.environ, MICROPYPATH=micropypath())
    return subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
