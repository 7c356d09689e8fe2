"""docs/library.md is true: each of its Python blocks runs as shown and prints forces with their
unit, and a kit's newton stream takes at most 10 lines of code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "library.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_page_has_its_examples() -> None:
    assert len(BLOCKS) >= 3
    assert any("from finemotor import open_forces" in b for b in BLOCKS)
    assert any("open_source" in b and "to_forces" in b for b in BLOCKS)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i + 1}" for i in range(len(BLOCKS))])
def test_each_block_runs_and_prints_newtons(code: str) -> None:
    if "open_forces" in code or "to_forces" in code:  # the newton stream, in a few lines
        assert len([ln for ln in code.splitlines() if ln.strip()]) <= 10
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 0, done.stderr
    values = re.findall(r"(-?\d+(?:\.\d+)?) N\b", done.stdout)
    assert values, done.stdout
    assert all(-5.0 < float(v) < 900.0 for v in values)
