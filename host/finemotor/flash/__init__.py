"""Putting the firmware on a kit: ``finemotor flash --port PORT stylus|grip``.

The kit runs MicroPython on an ESP32-S3. Flashing copies the kit's firmware onto its
filesystem over the USB cable with mpremote (its Python API, not a hand-written REPL
protocol), precompiled by mpy-cross for the ESP32-S3 (``-march=xtensawin``):

========================  ==============================================================
on the kit                from
========================  ==============================================================
``main.py``               ``firmware/<kind>/main.py`` (source: MicroPython runs it at boot)
``lib/fm/**.mpy``         ``firmware/lib/fm/**.py`` (shared library and sensor drivers)
``lib/boards/*.mpy``      ``firmware/boards/__init__.py`` and ``<kind>.py`` (the pin map)
``kit_id.txt``            the kit id on the label (6 hex digits), read by ``fm.kit.kit_id()``
========================  ==============================================================

Paths are relative to the kit's working directory, ``/`` on the ESP32-S3 (whose ``sys.path``
has ``/lib``). What the kit keeps is never touched: its calibration (``cal.bin``), its bonds,
``boot.py``. Files under ``lib/fm`` and ``lib/boards`` that are not part of this firmware are
removed (a stale ``.py`` there would be imported instead of the new ``.mpy``). Files whose
SHA-256 on the kit already matches are not copied again; after copying every file's hash and
the kit id are read back and compared, and a few modules are imported on the kit to prove it
can load them. Then the kit is soft-reset and starts its new firmware.

:mod:`~finemotor.flash.plan` builds what goes on the kit, :mod:`~finemotor.flash.ports` names
the serial ports and their problems, :mod:`~finemotor.flash.repl` talks to the kit's REPL and
runs the scripts of ``on_kit/`` there, :mod:`~finemotor.flash.install` does the flashing.
"""

from __future__ import annotations

from finemotor.flash.install import FlashResult, flash
from finemotor.flash.plan import KINDS, MARCH, FlashPlan, PlannedFile, build_plan, normalize_kit_id
from finemotor.flash.ports import available_ports, port_problem

__all__ = [
    "KINDS",
    "MARCH",
    "FlashPlan",
    "FlashResult",
    "PlannedFile",
    "available_ports",
    "build_plan",
    "flash",
    "normalize_kit_id",
    "port_problem",
]
