"""Lazy package namespaces (PEP 562), in the manner of ``lazy_loader.attach``: one implementation for every
package of gaussflow whose ``__init__`` re-exports names from its modules.

A lazy ``__init__`` imports nothing at import time, so (i) ``import gaussflow`` stays light and (ii) importing a
submodule never executes sibling modules it does not need — which is what keeps ``gaussflow.symbolic`` and
``gaussflow.kernels`` / ``gaussflow.variants`` (they use each other's *modules*) free of package-level cycles.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def attach(package: str, exports: Mapping[str, tuple[str, ...]], subpackages: tuple[str, ...] = ()
           ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for the package named ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to tuple of str
        Module (relative to the package, dotted) → the public names it defines.
    subpackages : tuple of str
        Submodules exposed as attributes themselves, loaded on first access.

    Each name is imported from its module on first access and cached in the package namespace, so later
    lookups are plain attribute reads.
    """
    where = {name: module for module, names in exports.items() for name in names}
    if len(where) != sum(len(names) for names in exports.values()):
        raise ValueError(f"{package}: a name is exported by two modules")
    public = sorted(set(where) | set(subpackages))

    def __getattr__(name: str) -> Any:
        if name in where:
            value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        elif name in subpackages:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        sys.modules[package].__dict__[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(sys.modules[package].__dict__) | set(public))

    return __getattr__, __dir__, public


__all__ = ["attach"]
