"""Packaging hook: the wheel carries the firmware tree, so an installed finemotor can flash a
kit and run the simulated kits with no source checkout.

Everything else about the package is in pyproject.toml. The firmware sources (``firmware/``)
are copied into the built package as ``finemotor/_firmware``; uPlot for the therapist view must
already be in ``host/finemotor/relay/static/vendor`` (``make setup`` fetches it from npm).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
VENDOR = HERE / "host" / "finemotor" / "relay" / "static" / "vendor"


class BuildWithFirmware(build_py):
    """``build_py`` that also copies ``firmware/`` into the package (not for editable
    installs, which run from the checkout's own tree)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        if not (VENDOR / "uPlot.iife.min.js").is_file():
            raise SystemExit("uPlot is missing: run `make setup` (it fetches uPlot from npm) first")
        dest = Path(self.build_lib) / "finemotor" / "_firmware"
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(
            HERE / "firmware",
            dest,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.mpy", "build"),
        )


setup(cmdclass={"build_py": BuildWithFirmware})
