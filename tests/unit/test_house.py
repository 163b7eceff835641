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


def test_the_tools_and_the_bench_use_the_layers_public_names_only() -> None:
    files = [p for folder in ("tools/fairtrack_tools", "bench") for p in (ROOT / folder).rglob("*.py")]
    assert len(files) > 20, f"found only {len(files)} modules under the tools and the bench: wrong root?"
    uses = [use for p in files for use in _private_uses(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]
    assert uses == [], "use a public name of the layer (or make one public):\n" + "\n".join(uses)


def test_the_private_name_check_finds_what_it_looks_for() -> None:
    sample = (
        "from fairtrack.protocols import gtag\n"
        "from fairtrack.stores.queue import _chunk\n"
        "import fairtrack.anonymise.useragent as ua\n"
        "ua._parse.cache_info()\n"
        "gtag._pairs('', '')\n"
        "local = object()\n"
        "local._fine = 1\n"
    )
    assert _private_uses(sample, "sample.py") == [
        "sample.py:2: from fairtrack.stores.queue import _chunk",
        "sample.py:4: ua._parse",
        "sample.py:5: gtag._pairs",
    ]
