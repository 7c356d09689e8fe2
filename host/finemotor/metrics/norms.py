"""Normative comparison of grip strength: only against a table that names its origin.

finemotor ships no table. Grip norms are device- and protocol-specific; a comparison is
made only with a :class:`NormTable` that states its published source, the population it
describes and the device it was measured with.
"""

from __future__ import annotations

from dataclasses import dataclass

from finemotor.errors import FinemotorError
from finemotor.metrics.results import Metric, absent, present

NO_TABLE = (
    "no normative table given: grip norms are device-specific, and finemotor ships none "
    "(see docs/metrics.md, Norms)"
)


@dataclass(frozen=True)
class NormRow:
    """Mean and SD of grip strength (kgf) for one age band, sex and hand."""

    age_min: float
    age_max: float
    sex: str
    hand: str
    mean_kgf: float
    sd_kgf: float


@dataclass(frozen=True)
class NormTable:
    """A normative table with its provenance.

    Attributes:
        source: the publication (authors, year, title, journal).
        population: who was measured (country, ages, how many).
        device: the dynamometer and protocol (e.g. Jamar, 2nd handle position, ASHT).
        rows: the table.
    """

    source: str
    population: str
    device: str
    rows: tuple[NormRow, ...]

    def __post_init__(self) -> None:
        if not (self.source.strip() and self.population.strip() and self.device.strip()):
            raise FinemotorError("a normative table must name its source, population and device")

    def z_score(self, value_kgf: float, age: float, sex: str, hand: str) -> Metric:
        """Return the z-score of ``value_kgf`` against the matching row, or why not."""
        for r in self.rows:
            if r.age_min <= age < r.age_max and r.sex == sex and r.hand == hand and r.sd_kgf > 0:
                return present(
                    (value_kgf - r.mean_kgf) / r.sd_kgf,
                    "SD",
                    note=f"vs {self.source}; {self.population}; {self.device}",
                )
        return absent("SD", f"no row for age {age:g}, sex {sex}, hand {hand} in {self.source}")
