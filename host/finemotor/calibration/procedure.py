"""Calibration procedures as data: ``calibration/<device>.toml`` (docs/calibration.md).

A procedure names the device and channel, the fit model, the weights (in the unit they are
sold in) and their order, the series (preloads, increasing, decreasing), the stability
criterion of a reading, and the class limits it is verified against.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from finemotor.calibration.iso7500 import ClassLimits
from finemotor.calibration.names import DEVICES, FIT_MODELS, FitModel
from finemotor.errors import CalibrationError
from finemotor.units import KGF_N

UNITS_N: dict[str, float] = {"N": 1.0, "kg": KGF_N, "g": KGF_N / 1000.0}
"""Newtons per unit a weight may be given in."""
_WEIGHT = re.compile(r"^\s*([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*([A-Za-z]*)\s*$")


@dataclass(frozen=True)
class Stability:
    """A reading is stable when the means of its ``block_s`` blocks over the last ``window_s``
    lie within ``max_spread_pct`` of the range; it must be by ``timeout_s``."""

    window_s: float
    block_s: float
    max_spread_pct: float
    timeout_s: float


@dataclass(frozen=True)
class Procedure:
    """One device's calibration procedure (see ``calibration/grip.toml``)."""

    device: str
    channel: str
    model: FitModel
    unit: str
    range: float
    loads: tuple[float, ...]
    preloads: int
    increasing_series: int
    decreasing_series: int
    required_class: str
    accept_deviation_pct: float
    load_prompt: str
    unload_prompt: str
    stability: Stability
    recalibrate_above_pct: float
    classes: tuple[ClassLimits, ...]

    @property
    def range_n(self) -> float:
        """The top of the range in newtons."""
        return self.range * UNITS_N[self.unit]

    def newtons(self, load: float) -> float:
        """A load in the procedure's unit, in newtons."""
        return load * UNITS_N[self.unit]

    def prompt(self, load: float | None) -> str:
        """The prompt for a load (None: unload)."""
        if load is None:
            return self.unload_prompt
        return self.load_prompt.format(load=f"{load:g}", unit=self.unit)

    def limits(self, name: str) -> ClassLimits:
        """The limits of class ``name``."""
        for c in self.classes:
            if c.name == name:
                return c
        raise CalibrationError(f"no class {name!r} in the procedure")

    def reaches(self, klass: str | None) -> bool:
        """True if ``klass`` is the required class or a better one."""
        names = [c.name for c in self.classes]
        return klass is not None and names.index(klass) <= names.index(self.required_class)


def procedures_dir() -> Path:
    """The ``calibration/`` directory of the source tree this package runs from."""
    return Path(__file__).resolve().parents[3] / "calibration"


def load_procedure(name_or_path: str | Path) -> Procedure:
    """Load ``calibration/<device>.toml`` (by device name) or a procedure file.

    Raises:
        CalibrationError: the file is missing, is not TOML, or breaks a rule of ISO 7500-1 the
            procedure relies on (the message names the field).
    """
    path = Path(name_or_path)
    if str(name_or_path) in DEVICES:
        path = procedures_dir() / f"{name_or_path}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CalibrationError(
            f"cannot read the calibration procedure {path.name} ({exc.strerror}): run from a "
            "source checkout of finemotor or pass --procedure FILE"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise CalibrationError(f"{path.name} is not valid TOML: {exc}") from exc
    return parse_procedure(data, path.name)


def parse_procedure(data: dict[str, Any], source: str = "procedure") -> Procedure:
    """Check and build a :class:`Procedure` from TOML data.

    Raises:
        CalibrationError: a field is missing or out of its rules.
    """

    def need(key: str, table: dict[str, Any] = data) -> Any:
        if key not in table:
            raise CalibrationError(f"{source}: the field {key!r} is missing; add it")
        return table[key]

    def bad(msg: str) -> CalibrationError:
        return CalibrationError(f"{source}: {msg}")

    try:
        stab = need("stability")
        check = need("check")
        proc = Procedure(
            device=str(need("device")),
            channel=str(need("channel")),
            model=cast(FitModel, str(need("model"))),
            unit=str(need("unit")),
            range=float(need("range")),
            loads=tuple(float(v) for v in need("loads")),
            preloads=int(need("preloads")),
            increasing_series=int(need("increasing_series")),
            decreasing_series=int(need("decreasing_series")),
            required_class=str(need("required_class")),
            accept_deviation_pct=float(need("accept_deviation_pct")),
            load_prompt=str(need("load_prompt")),
            unload_prompt=str(need("unload_prompt")),
            stability=Stability(
                float(need("window_s", stab)),
                float(need("block_s", stab)),
                float(need("max_spread_pct", stab)),
                float(need("timeout_s", stab)),
            ),
            recalibrate_above_pct=float(need("recalibrate_above_pct", check)),
            classes=tuple(
                ClassLimits(
                    str(need("name", c)),
                    float(need("q", c)),
                    float(need("b", c)),
                    float(need("v", c)),
                    float(need("f0", c)),
                    float(need("a", c)),
                )
                for c in need("classes")
            ),
        )
    except (TypeError, ValueError) as exc:
        raise bad(f"a field has the wrong type ({exc})") from exc
    if proc.device not in DEVICES:
        raise bad(f"device {proc.device!r} is not one of {', '.join(DEVICES)}")
    if proc.model not in FIT_MODELS:
        raise bad(f"model {proc.model!r} is not one of {', '.join(FIT_MODELS)}")
    if proc.unit not in UNITS_N:
        raise bad(f"unit {proc.unit!r} is not one of {', '.join(UNITS_N)}")
    loads = proc.loads
    if len(loads) < 5:
        raise bad(f"{len(loads)} loads: ISO 7500-1 and ASTM E4 ask for at least 5")
    if any(b <= a for a, b in itertools.pairwise(loads)) or loads[0] <= 0:
        raise bad(f"loads {list(loads)} must be positive and strictly increasing")
    if loads[-1] > proc.range:
        raise bad(f"load {loads[-1]:g} {proc.unit} is beyond the range {proc.range:g}")
    if loads[0] < 0.2 * proc.range * 0.999:
        raise bad(f"load {loads[0]:g} {proc.unit} is below 20 % of the range (ISO 7500-1)")
    if proc.increasing_series < 3 or proc.decreasing_series < 0:
        raise bad("ISO 7500-1 asks for 3 increasing series (and a decreasing one for v)")
    if not proc.classes:
        raise bad("no class limits: add the [[classes]] tables")
    proc.limits(proc.required_class)
    s = proc.stability
    if not (0 < s.block_s < s.window_s < s.timeout_s and s.max_spread_pct > 0):
        raise bad("stability needs 0 < block_s < window_s < timeout_s and max_spread_pct > 0")
    return proc


def parse_weight(text: str, proc: Procedure, asked: float) -> float:
    """The weight typed at a prompt, in the procedure's unit (empty: the one asked).

    Raises:
        CalibrationError: not a weight with a unit, an unknown unit, or not the weight asked.
    """
    if not text.strip():
        return asked
    m = _WEIGHT.match(text)
    if m is None:
        raise CalibrationError(
            f"{text!r} is not a weight: press Enter for {asked:g} {proc.unit}, or type the "
            f"weight with its unit, e.g. {asked:g} {proc.unit}"
        )
    value, unit = float(m.group(1)), m.group(2)
    if not unit:
        raise CalibrationError(
            f"{text!r} has no unit: type it with one (kg, g or N), e.g. {asked:g} {proc.unit}"
        )
    units = {u.lower(): u for u in UNITS_N}
    if unit.lower() not in units:
        raise CalibrationError(
            f"unit {unit!r} is not one the kit takes: give the weight in kg, g or N "
            f"(1 lb = 0.4536 kg), e.g. {asked:g} {proc.unit}"
        )
    newtons = value * UNITS_N[units[unit.lower()]]
    got = newtons / UNITS_N[proc.unit]
    if got > proc.range * 1.001:
        raise CalibrationError(
            f"{text} is beyond the range of the procedure ({proc.range:g} {proc.unit}): take "
            "it off; the kit's calibration is unchanged"
        )
    if abs(got - asked) > asked * proc.accept_deviation_pct / 100.0:
        raise CalibrationError(
            f"{text} is not the load asked ({asked:g} {proc.unit}): the loads go in order; "
            "unload and start again. The kit's calibration is unchanged"
        )
    return got
