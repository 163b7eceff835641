"""Package re-exports that load their module on first use.

A stage package (``fairtrack.stores``, ``fairtrack.consent``...) names its public API in ``__all__``
without importing every module behind it: a Lambda that needs one store must not pay, at cold start,
for the modules of the others (the ingest handler leaves the consent receipts unloaded until the
first receipt). The package's ``__getattr__`` imports the module that holds a name when the name is
first read, and keeps it in the package's namespace, so later reads are plain attribute reads; the
modules inside the layer import each other by full module path.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, modules: Mapping[str, tuple[str, ...]]) -> Callable[[str], object]:
    """The ``__getattr__`` of ``package``: each public name read from the submodule that holds it.

    ``modules`` maps a submodule's short name to the names it exports. An unknown name raises
    ``AttributeError``, so ``from package import submodule`` still imports the submodule."""
    where = {name: module for module, names in modules.items() for name in names}

    def getattr_(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # read once: __getattr__ is not asked again
        return value

    return getattr_
