"""The README's layout section names the tree as it is, and the README and docs/ link to pages and
headings that exist: cheap checks that fail when a move or a rename leaves the docs behind."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
# Every package folder under these must be named in the layout (functions/: every function folder).
PACKAGE_ROOTS = ("layers/common/fairtrack", "tools/fairtrack_tools")


def layout_entries() -> list[str]:
    """The first column of the fenced block under the README's ``## Layout`` heading."""
    text = README.read_text()
    section = text[text.index("\n## Layout\n") :]
    block = re.search(r"```[a-z]*\n(.*?)```", section, re.S)
    assert block is not None, "the Layout section has no fenced block"
    return [line.split()[0] for line in block.group(1).splitlines() if line.strip()]


def package_folders() -> set[str]:
    folders = {p.parent.relative_to(ROOT).as_posix() for r in PACKAGE_ROOTS for p in (ROOT / r).rglob("__init__.py")}
    folders |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "functions").iterdir() if p.is_dir()}
    return {f for f in folders if "__pycache__" not in f}


def test_every_path_the_layout_names_exists() -> None:
    entries = layout_entries()
    assert len(entries) > 10
    missing = [e for e in entries if not (ROOT / e.rstrip("/")).exists()]
    assert not missing, f"the README's layout names paths that do not exist: {missing}"
    assert not [e for e in entries if (ROOT / e).is_dir() and not e.endswith("/")], "folders end with /"


def test_the_layout_names_every_package_folder() -> None:
    named = {e.rstrip("/") for e in layout_entries()}
    found = package_folders()
    assert any(f.startswith("functions/") for f in found) and len(found) > 5, found
    unnamed = sorted(found - named)
    assert not unnamed, f"package folders the README's layout does not name: {unnamed}"


def _anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation other than - and _ removed, spaces to -."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    headings = re.findall(r"^#{1,6} (.+)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_every_relative_link_of_the_readme_and_docs_reaches_a_page_and_heading() -> None:
    broken = []
    pages = [README, *sorted(DOCS.glob("*.md"))]
    for page in pages:
        for link in _links(page):
            if re.match(r"[a-z]+:", link):
                continue  # absolute URLs are not checked here
            path, _, anchor = link.partition("#")
            target = (page.parent / path).resolve() if path else page
            if not target.exists():
                broken.append(f"{page.name}: {link}")
            elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
                broken.append(f"{page.name}: {link} (no such heading)")
    assert not broken, broken


def test_the_readme_links_every_docs_page() -> None:
    linked = {(ROOT / link.partition("#")[0]).resolve() for link in _links(README)}
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def test_the_readme_stays_short() -> None:
    assert len(README.read_text().splitlines()) <= 250
