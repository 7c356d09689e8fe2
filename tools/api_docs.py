"""Build the API reference from the docstrings with pdoc (``make docs``), into build/api.

Fails (exit status 1) on any warning pdoc gives (a module that does not import, a name in
``__all__`` that does not resolve...) and on any cross-reference in a docstring
(``:class:`X```, ``:func:`X```, ``:mod:`X``` ...) that names nothing: a broken reference.

    python tools/api_docs.py [OUTPUT_DIR]
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pdoc
import pdoc.docstrings
import pdoc.extract
import pdoc.render

PACKAGE = "finemotor"
ROLE = re.compile(r"(?::py)?:(mod|func|data|const|class|meth|attr|exc|obj):`~?([^`]+)`")


def modules() -> list[ModuleType]:
    """Every module of the package (``__main__`` aside: importing it runs the command; and
    the schema migrations, which are Alembic's scripts, not API)."""
    root = importlib.import_module(PACKAGE)
    out = [root]
    for info in pkgutil.walk_packages(root.__path__, f"{PACKAGE}."):
        if not info.name.endswith("__main__") and ".migrations" not in info.name:
            out.append(importlib.import_module(info.name))
    return out


def specs(mods: list[ModuleType]) -> list[str]:
    """The module names to give pdoc so that it renders every public module once (it walks a
    package's submodules itself, except where the package's ``__all__`` lists only names)."""
    out: list[str] = []
    covered: set[str] = set()
    for module in sorted(mods, key=lambda m: m.__name__):
        name = module.__name__
        if name in covered or name.rpartition(".")[2].startswith("_"):
            continue
        out.append(name)
        info = pkgutil.ModuleInfo(None, name, hasattr(module, "__path__"))  # type: ignore[arg-type]
        covered.update(m.name for m in pdoc.extract.walk_packages2([info]))
    return out


def _lookup(start: Any, dotted: str) -> bool:
    obj = start
    for part in dotted.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            return False
    return True


def _class_has(cls: type, name: str) -> bool:
    """``name`` is an attribute, field or method of ``cls`` (set in its methods, too)."""
    if _lookup(cls, name) or name in getattr(cls, "__annotations__", {}):
        return True
    return re.search(rf"\bself\.{re.escape(name)}\b", inspect.getsource(cls)) is not None


def _has_member(module: ModuleType, name: str) -> bool:
    """``name`` (or ``Class.name``) is a member of a class defined in ``module``."""
    owner, _, member = name.rpartition(".")
    classes = [
        cls
        for cls_name, cls in vars(module).items()
        if inspect.isclass(cls) and cls.__module__ == module.__name__ and owner in ("", cls_name)
    ]
    return any(_class_has(cls, member) for cls in classes)


def resolves(module: ModuleType, target: str) -> bool:
    """Whether a docstring reference in ``module`` names something that exists."""
    target = target.removesuffix("()")
    if _lookup(module, target) or _has_member(module, target):
        return True
    parts = target.split(".")
    for i in range(len(parts), 0, -1):  # an absolute name: the longest importable module
        try:
            base = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        return _lookup(base, ".".join(parts[i:])) if i < len(parts) else True
    return False


def broken_references(mods: list[ModuleType]) -> list[str]:
    """Each reference in the package's docstrings that names nothing, with where it is."""
    out = []
    for module in mods:
        path = Path(inspect.getfile(module))
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for _role, target in ROLE.findall(line):
                if not resolves(module, target):
                    out.append(f"{path}:{line_no}: {target!r} names nothing")
    return out


def _convert(docstring: str, docformat: str, source_file: Path | None) -> str:
    # pdoc reads Sphinx roles but not their "~" (show the last part): drop it so they link.
    return _pdoc_convert(re.sub(r"(:[a-z]+:`)~", r"\1", docstring), docformat, source_file)


_pdoc_convert = pdoc.docstrings.convert


def main(argv: list[str]) -> int:
    """Build the reference into ``argv[0]`` (default build/api); 1 on a warning or a broken
    reference."""
    out = Path(argv[0] if argv else "build/api")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mods = modules()
        for module in mods:  # load lazily exported names, so pdoc finds them
            for name in getattr(module, "__all__", ()):
                getattr(module, name)
        pdoc.docstrings.convert = _convert  # type: ignore[assignment]
        pdoc.render.configure(docformat="google", footer_text=f"{PACKAGE} API reference")
        pdoc.pdoc(*specs(mods), output_directory=out)
    problems = [f"pdoc: {w.message}" for w in caught] + broken_references(mods)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s): the API reference is not clean", file=sys.stderr)
        return 1
    print(f"API reference in {out}/index.html")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
