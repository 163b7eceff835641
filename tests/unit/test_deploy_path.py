"""The deploy path a newcomer follows (``make deploy``) and the locks every install comes from.

``make deploy`` runs for real here, in a copy of the Makefile, scripts and samconfig.toml, with a
stand-in ``sam`` that records how it was called (and builds a one-module stack): the SAM CLI
itself is never run, and nothing is deployed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]

FAKE_SAM = """#!/usr/bin/env bash
# records each call (telemetry setting and arguments); `build` makes a one-module build
echo "telemetry=${SAM_CLI_TELEMETRY:-unset} $*" >> "$(dirname "$0")/calls.log"
if [ "$1" = build ]; then
  mkdir -p .aws-sam/build/Fn
  echo 'Resources: {}' > .aws-sam/build/template.yaml
  echo 'VALUE = 1' > .aws-sam/build/Fn/handler.py
fi
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    if shutil.which("make") is None or shutil.which("python3.13") is None:
        pytest.skip("make deploy needs make and python3.13 (as make build does)")
    work = tmp_path / "project"
    work.mkdir()
    shutil.copy(ROOT / "Makefile", work / "Makefile")
    shutil.copy(ROOT / "samconfig.toml", work / "samconfig.toml")
    shutil.copytree(ROOT / "scripts", work / "scripts")
    sam = tmp_path / "bin" / "sam"
    sam.parent.mkdir()
    sam.write_text(FAKE_SAM)
    sam.chmod(0o755)
    return work


def _make_deploy(work: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    sam = work.parent / "bin" / "sam"
    log = sam.parent / "calls.log"
    log.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("SAM_CLI_TELEMETRY", "GUIDED", "MAKEFLAGS")}
    # -o: take the SAM CLI's venv as installed (no pip here); SAM=: the stand-in
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv-sam/.installed", "deploy", f"SAM={sam}", *extra],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


def test_first_make_deploy_builds_bytecode_then_deploys_guided_with_telemetry_off(project: Path) -> None:
    result, calls = _make_deploy(project)
    assert result.returncode == 0, result.stderr
    assert calls == [
        "telemetry=0 build --parallel",
        "telemetry=0 deploy --guided --template-file .aws-sam/build/template.yaml --config-file samconfig.toml",
    ]
    assert list((project / ".aws-sam/build").rglob("*.pyc")), "the build shipped no bytecode"


def test_make_deploy_after_a_guided_deploy_reuses_the_saved_answers(project: Path) -> None:
    config = project / "samconfig.toml"
    # what `sam deploy --guided` adds to the deploy section
    config.write_text(
        config.read_text().replace(
            "[default.deploy.parameters]\n",
            '[default.deploy.parameters]\nregion = "eu-west-1"\nstack_name = "fairtrack"\n',
        )
    )
    assert tomllib.loads(config.read_text())["default"]["deploy"]["parameters"]["region"] == "eu-west-1"

    result, calls = _make_deploy(project)
    assert result.returncode == 0, result.stderr
    assert calls[-1] == "telemetry=0 deploy --template-file .aws-sam/build/template.yaml --config-file samconfig.toml"

    result, calls = _make_deploy(project, "GUIDED=1")
    assert result.returncode == 0, result.stderr
    assert calls[-1].startswith("telemetry=0 deploy --guided ")


def test_sam_deploy_refuses_a_build_without_bytecode(project: Path) -> None:
    """A plain ``sam build`` (no bytecode) is not deployed: the script says what to run instead."""
    sam = project.parent / "bin" / "sam"
    subprocess.run([str(sam), "build", "--parallel"], cwd=project, check=True)
    result = subprocess.run(
        ["scripts/sam-deploy", str(sam)], cwd=project, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "no bytecode" in result.stderr
    assert "deploy" not in (sam.parent / "calls.log").read_text().split("build --parallel", 1)[1]


def test_every_sam_run_of_the_project_has_telemetry_off() -> None:
    assert re.search(r"^export SAM_CLI_TELEMETRY := 0$", (ROOT / "Makefile").read_text(), re.M)
    for script in (ROOT / "scripts").iterdir():
        text = script.read_text()
        if re.search(r'"\$sam"|\bsam (build|deploy|validate)', text):
            assert "export SAM_CLI_TELEMETRY=0" in text, script.name


def _readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_readme_deploys_with_make_deploy_and_never_a_plain_sam_build() -> None:
    deploy = _readme_section("Deploy")
    first_block = re.search(r"```sh\n(.*?)```", deploy, re.S)
    assert first_block is not None
    assert first_block.group(1).split("#")[0].strip() == "make deploy"
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        commands = [
            line for block in re.findall(r"```(?:sh|bash|shell)\n(.*?)```", text, re.S) for line in block.splitlines()
        ]
        assert not [c for c in commands if re.search(r"(^|&&|;)\s*sam (build|deploy)\b", c)], page.name
        assert "PYENV_VERSION=" not in text, page.name  # no one machine's Python versions
    assert "fairtrack smoke --stack" in deploy
    assert "make lock" in _readme_section("The two commands")


# --------------------------------------------------------------------------------------------------
# Locks
# --------------------------------------------------------------------------------------------------


def _pins(lock: Path) -> dict[str, list[str]]:
    """name -> pinned versions (a universal lock may pin a package once per platform)."""
    pins: dict[str, list[str]] = {}
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)", line)
        if match:
            pins.setdefault(canonicalize_name(match.group(1)), []).append(match.group(3))
    return pins


def _hashed(lock: Path) -> bool:
    """Every pinned requirement carries at least one hash (pip's hash-checking mode)."""
    entries = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text())
    return all("--hash=sha256:" in e for e in entries if re.match(r"^[A-Za-z0-9].*==", e))


def _assert_lock_covers(lock: Path, requirements: list[str]) -> None:
    pins = _pins(lock)
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{lock.name} has no pin for {req.name}: run make lock"
        assert any(req.specifier.contains(v, prereleases=True) for v in pins[name]), (
            f"{lock.name} pins {req.name}=={pins[name]}, outside {req.specifier}: run make lock"
        )


def _requirement_lines(path: Path) -> list[str]:
    return [t for line in path.read_text().splitlines() if (t := line.split("#", 1)[0].strip())]


def test_dev_lock_pins_the_project_and_every_dev_tool_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = ROOT / "requirements-dev.lock"
    _assert_lock_covers(lock, [*project["dependencies"], *project["optional-dependencies"]["dev"]])
    assert _hashed(lock)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\$\(BIN\)/\.installed: requirements-dev\.lock", makefile, re.M)
    assert "pip install --quiet -r requirements-dev.lock" in makefile
    assert "pip install --quiet --no-deps -e ." in makefile


def test_sam_and_checkov_locks_pin_their_tool_with_hashes() -> None:
    for name in ("sam", "checkov"):
        lock = ROOT / f"requirements-{name}.lock"
        requirements = _requirement_lines(ROOT / f"requirements-{name}.txt")
        assert all("==" in r for r in requirements)
        _assert_lock_covers(lock, requirements)
        assert _hashed(lock)
        assert f"-r requirements-{name}.lock" in (ROOT / "Makefile").read_text()


def test_layer_requirements_are_the_locked_transitive_set_of_its_pins() -> None:
    layer = ROOT / "layers/common"
    direct = _requirement_lines(layer / "requirements.in")
    _assert_lock_covers(layer / "requirements.txt", direct)
    pins = _pins(layer / "requirements.txt")
    assert all(len(v) == 1 for v in pins.values()), "one version per package for one platform"
    # transitive dependencies are pinned too (pydantic's core, powertools' jmespath)
    assert {"pydantic-core", "typing-extensions", "jmespath"} <= set(pins)
    # and the dev environment runs what Lambda gets
    dev = _pins(ROOT / "requirements-dev.lock")
    assert {n: v for n, v in pins.items() if n in dev and dev[n] != v} == {}


def test_pyproject_license_is_an_spdx_string() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in pyproject["build-system"]["requires"][0]
