"""Lazy package exports: a package's names are imported from their modules when first used.

A package ``__init__`` lists ``{name: module}`` and sets ``__getattr__ = lazy_exports(...)``
(PEP 562), and imports the same names under ``TYPE_CHECKING`` for type checkers and IDEs, so
``import finemotor`` (and the command line) loads neither numpy nor any radio stack.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], object]:
    """Return a module ``__getattr__`` importing ``exports[name]`` on first use of ``name``.

    Args:
        package: the package's ``__name__``, for the error message.
        exports: each exported name and the module that defines it.
    """

    def __getattr__(name: str) -> object:  # noqa: N807  (PEP 562's hook has this name)
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # once: later lookups are plain
        return value

    return __getattr__
