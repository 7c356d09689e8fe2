"""requirements.lock pins, with hashes, a version of every dependency pyproject.toml names, and
one that pyproject.toml allows (renew it with ``make lock`` after changing a dependency)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, tuple[str, int]]:
    text = (REPO / "requirements.lock").read_text()
    pins = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = re.match(r"([A-Za-z0-9_.\-]+)==([^\s\\]+)", block)
        if m:
            pins[canonicalize_name(m.group(1))] = (m.group(2), block.count("--hash=sha256:"))
    return pins


def test_every_dependency_is_pinned_with_hashes_within_its_range() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    pins = _pins()
    for text in wanted:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock: run make lock"
        version, hashes = pins[name]
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {req.name} {version}, pyproject.toml asks {req.specifier}:"
            " run make lock"
        )
        assert hashes >= 1
    assert all(hashes >= 1 for _, hashes in pins.values())


def test_the_lock_names_no_index_or_folder() -> None:
    text = (REPO / "requirements.lock").read_text()
    assert "--index-url" not in text and "--find-links" not in text and "file://" not in text
