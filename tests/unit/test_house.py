"""The newcomer test: no module a newcomer opens is a room too big to walk.

A Python file in the layer (``layers/common/fairtrack``) or the tools (``tools/fairtrack_tools``)
stays within 600 lines; a Lambda handler (``functions/*/*.py``) within 40: it only wires the layer
together. A file past its limit is split by responsibility, not trimmed.
"""

from __future__ import annotations

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
