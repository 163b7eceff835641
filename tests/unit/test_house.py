"""The newcomer test: no module a newcomer opens is a room too big to walk.

A Python file in the layer (``layers/common/fairtrack``) or the tools (``tools/fairtrack_tools``)
stays within 600 lines; a Lambda handler (``functions/*/*.py``) within 40: it only wires the layer
together. A file past its limit is split by responsibility, not trimmed.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE_LIMIT = 600
HANDLER_LIMIT = 40
CHECKED = ("layers/common/fairtrack", "tools/fairtrack_tools")


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _over(files: list[Path], limit: int) -> list[str]:
    return [f"{p.relative_to(ROOT)}: {n} lines (limit {limit})" for p in files if (n := _lines(p)) > limit]


def test_no_module_of_the_layer_or_the_tools_passes_600_lines() -> None:
    files = [p for folder in CHECKED for p in (ROOT / folder).rglob("*.py")]
    assert len(files) > 20, f"found only {len(files)} modules to check under the layer and the tools: wrong root?"
    offenders = _over(files, MODULE_LIMIT)
    assert offenders == [], "split these by responsibility:\n" + "\n".join(offenders)


def test_no_handler_passes_40_lines() -> None:
    handlers = sorted((ROOT / "functions").glob("*/*.py"))
    assert len(handlers) >= 3, f"found {len(handlers)} handlers under functions/: wrong root?"
    offenders = _over(handlers, HANDLER_LIMIT)
    assert offenders == [], "a handler only wires; move the rest into the layer:\n" + "\n".join(offenders)


def _private_uses(source: str, where: str) -> list[str]:
    """Where a module's ``source`` reads a private name of the layer: ``from fairtrack.x import
    _name``, or ``alias._name`` on a name bound by importing from ``fairtrack``."""
    tree = ast.parse(source)
    layer_names: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "fairtrack":
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{where}:{node.lineno}: from {node.module} import {alias.name}")
                layer_names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            layer_names.update(
                (a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] == "fairtrack"
            )
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in layer_names
            and _private(node.attr)
        ):
            found.append(f"{where}:{node.lineno}: {node.value.id}.{node.attr}")
    return sorted(found, key=lambda use: int(use.split(":")[1]))


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _tools_and_bench() -> list[tuple[str, str]]:
    """Each module of the tools and the bench: its path from the root, its source."""
    files = [p for folder in ("tools/fairtrack_tools", "bench") for p in (ROOT / folder).rglob("*.py")]
    assert len(files) > 20, f"found only {len(files)} modules under the tools and the bench: wrong root?"
    return [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in files]


def test_the_tools_and_the_bench_use_the_layers_public_names_only() -> None:
    uses = [use for where, source in _tools_and_bench() for use in _private_uses(source, where)]
    assert uses == [], "use a public name of the layer (or make one public):\n" + "\n".join(uses)


LAYER = ROOT / "layers/common"


def _layer_file(module: str) -> Path | None:
    """The source of ``module`` (``fairtrack.x.y``) in the layer, or None when the layer has no such module."""
    base = LAYER.joinpath(*module.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def _declared_all(tree: ast.Module) -> list[str] | None:
    """The literal ``__all__`` of a module (``__all__ = [...]`` or ``__all__: list[str] = [...]``), or None."""
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and node.value is not None:
            names = ast.literal_eval(node.value)
            assert isinstance(names, list), "__all__ is a list of names"
            return [str(name) for name in names]
    return None


def _bound(statements: list[ast.stmt]) -> set[str]:
    """The names the module-level ``statements`` define or import (``if``/``try`` bodies included:
    a package's ``TYPE_CHECKING`` imports are the names its ``__getattr__`` loads)."""
    names: set[str] = set()
    for node in statements:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.If | ast.Try):
            nested = node.body + node.orelse
            if isinstance(node, ast.Try):
                nested += [s for handler in node.handlers for s in handler.body] + node.finalbody
            names |= _bound(nested)
    return names


def _docstring_only(tree: ast.Module) -> bool:
    return len(tree.body) == 1 and ast.get_docstring(tree) is not None


def _all_problems(source: str, where: str) -> list[str]:
    """What is wrong with a layer module's ``__all__``: missing, naming something the module does not
    define or import, or naming a private name. A package that is only a docstring has nothing to export."""
    tree = ast.parse(source)
    if _docstring_only(tree):
        return []
    exported = _declared_all(tree)
    if exported is None:
        return [f"{where}: no __all__"]
    bound = _bound(tree.body)
    return [
        f"{where}: __all__ names {name!r}, which it does not define or import" for name in exported if name not in bound
    ] + [f"{where}: __all__ names the private {name!r}" for name in exported if _private(name)]


def test_every_module_of_the_layer_has_a_curated_all() -> None:
    files = sorted((LAYER / "fairtrack").rglob("*.py"))
    assert len(files) > 50, f"found only {len(files)} modules in the layer: wrong root?"
    problems = [p for f in files for p in _all_problems(f.read_text(encoding="utf-8"), str(f.relative_to(ROOT)))]
    assert problems == [], "give each module an __all__ of its public names:\n" + "\n".join(problems)


def _exports(module: str) -> list[str] | None:
    """``module``'s ``__all__`` (empty when it declares none), or None when the layer has no such module."""
    path = _layer_file(module)
    return None if path is None else _declared_all(ast.parse(path.read_text(encoding="utf-8"))) or []


def _unexported_uses(source: str, where: str) -> tuple[int, list[str]]:
    """How many names a module's ``source`` reads from the layer, and which of them are not in the
    ``__all__`` of the module they come from: ``from fairtrack.x import name`` (``name`` in
    ``fairtrack.x.__all__``, or a submodule of ``fairtrack.x``), and ``alias.name`` where ``alias``
    is a layer module (``import fairtrack.x as alias``, ``from fairtrack import x``; its dunders aside)."""
    tree = ast.parse(source)
    modules: dict[str, str] = {}  # local name -> layer module
    checked = 0
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "fairtrack":
            module = node.module or ""
            exported = _exports(module)
            for alias in node.names:
                checked += 1
                if _layer_file(f"{module}.{alias.name}") is not None:
                    modules[alias.asname or alias.name] = f"{module}.{alias.name}"
                elif exported is None:
                    found.append(
                        f"{where}:{node.lineno}: from {module} import {alias.name} (no such module in the layer)"
                    )
                elif alias.name not in exported:
                    found.append(f"{where}:{node.lineno}: from {module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name.split(".")[0] == "fairtrack":
                    modules[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and not (node.attr.startswith("__") and node.attr.endswith("__"))  # a module's own __file__, __name__
        ):
            module = modules[node.value.id]
            checked += 1
            if node.attr not in (_exports(module) or []) and _layer_file(f"{module}.{node.attr}") is None:
                found.append(f"{where}:{node.lineno}: {node.value.id}.{node.attr} ({module})")
    return checked, sorted(found, key=lambda use: int(use.split(":")[1]))


def test_the_tools_and_the_bench_import_only_what_the_layer_exports() -> None:
    results = [_unexported_uses(source, where) for where, source in _tools_and_bench()]
    checked = sum(n for n, _ in results)
    assert checked >= 100, f"checked only {checked} uses of the layer under the tools and the bench: wrong root?"
    uses = [use for _, found in results for use in found]
    assert uses == [], "use a name in the module's __all__ (or export it):\n" + "\n".join(uses)


# a module of the tools as it should not be: what each check must find in it
PLANTED = """\
from fairtrack.protocols import gtag
from fairtrack.stores.queue import QueueSender, _chunk
from fairtrack.api.admin import where
from fairtrack.nowhere import thing
import fairtrack.anonymise.useragent as ua
gtag.hits
gtag._pairs('', '')
ua.reduce('')
ua._parse.cache_info()
ua.lru_cache
ua.__file__
local = object()
local._fine = 1
"""


def test_the_private_name_check_finds_what_it_looks_for() -> None:
    assert _private_uses(PLANTED, "planted.py") == [
        "planted.py:2: from fairtrack.stores.queue import _chunk",
        "planted.py:7: gtag._pairs",
        "planted.py:9: ua._parse",
    ]


def test_the_export_check_finds_what_it_looks_for() -> None:
    # 10 uses: five imported names, five attributes of layer modules (a dunder is not a use)
    assert _unexported_uses(PLANTED, "planted.py") == (
        10,
        [
            "planted.py:2: from fairtrack.stores.queue import _chunk",
            "planted.py:3: from fairtrack.api.admin import where",
            "planted.py:4: from fairtrack.nowhere import thing (no such module in the layer)",
            "planted.py:7: gtag._pairs (fairtrack.protocols.gtag)",
            "planted.py:9: ua._parse (fairtrack.anonymise.useragent)",
            "planted.py:10: ua.lru_cache (fairtrack.anonymise.useragent)",
        ],
    )


def test_the_all_check_finds_what_it_looks_for() -> None:
    assert _all_problems('"""Only a docstring."""\n', "pkg/__init__.py") == []
    assert _all_problems("def f() -> None: ...\n", "none.py") == ["none.py: no __all__"]
    sample = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from fairtrack.hit import Hit\n"
        "__all__ = ['Hit', 'LIMIT', 'gone', '_hidden', 'f']\n"
        "LIMIT = 1\n"
        "def f() -> None: ...\n"
        "def _hidden() -> None: ...\n"
    )
    assert _all_problems(sample, "m.py") == [
        "m.py: __all__ names 'gone', which it does not define or import",
        "m.py: __all__ names the private '_hidden'",
    ]
