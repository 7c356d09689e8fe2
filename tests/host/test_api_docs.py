"""The API reference (``make docs``, pdoc) builds from the docstrings with no warning and no
broken reference, and documents the public names."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from tools.api_docs import broken_references, resolves

import finemotor
import finemotor.forces

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # pdoc imports and renders every module: about 20 s
def test_the_reference_builds_clean_and_documents_the_public_names(tmp_path: Path) -> None:
    out = tmp_path / "api"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "api_docs.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    index = (out / "finemotor.html").read_text(encoding="utf-8")
    assert [n for n in finemotor.__all__ if n != "__version__" and f'id="{n}"' not in index] == []
    forces = (out / "finemotor" / "forces.html").read_text(encoding="utf-8")
    assert 'href="../finemotor.html#KitLink"' in forces  # a docstring reference became a link
    assert (out / "finemotor" / "metrics" / "live.html").is_file()


def test_references_resolve_as_pdoc_links_them() -> None:
    module = finemotor.forces
    for good in ("to_forces", "Forces.barrel", "ForceStream.during", "finemotor.kitlink.KitLink"):
        assert resolves(module, good), good
    for bad in ("no_such_thing", "Forces.nothing", "finemotor.kitlink.NoSuchLink"):
        assert not resolves(module, bad), bad


def test_a_broken_reference_is_named_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "refs_demo.py").write_text(
        '"""See :func:`here` and :class:`~finemotor.forces.Forces`."""\n\n\n'
        "def here() -> None:\n"
        '    """Unlike :func:`gone`."""\n',
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("refs_demo")
    assert broken_references([module]) == [f"{tmp_path / 'refs_demo.py'}:5: 'gone' names nothing"]
