"""Functions run in-process against moto's ``mock_aws``, with resources created from template.yaml.

``cloud`` is a :class:`LocalCloud` without its moto server (``mock_aws`` intercepts every client)
but with its real capture server on 127.0.0.1, seeded like the local stack. ``load_handler``
imports a function's handler module the way Lambda would for that function: with the
environment template.yaml gives it, in a fresh module; ``ingest`` is the ingest function's handler
loaded that way (a test module that needs another set-up defines its own).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from awshelpers import mocked_cloud

from fairtrack import settings
from fairtrack_tools.local.localcloud import LocalCloud
from fairtrack_tools.proofs.fuzz.harness import FakeContext

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with mocked_cloud() as c:
        yield c


@pytest.fixture
def load_handler(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ModuleType]:
    specs = cloud.functions()
    counter = iter(range(1_000_000))

    def load(logical_id: str) -> ModuleType:
        spec = specs[logical_id]
        for name, value in spec.environment.items():
            monkeypatch.setenv(name, value)
        settings.ingest_settings.cache_clear()
        settings.forwarder_settings.cache_clear()
        settings.admin_settings.cache_clear()
        parameters.clear_caches()
        path = spec.code_dir / (spec.handler.rsplit(".", 1)[0] + ".py")
        module_name = f"_handler_{logical_id}_{next(counter)}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        module_spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def context() -> Any:
    """A Lambda context as the runtime passes it (the fuzz harness's: the same fake serves both)."""
    return FakeContext()


@pytest.fixture
def ingest(load_handler: Callable[[str], ModuleType], context: Any) -> Callable[[dict[str, Any]], Any]:
    """The ingest function's handler, loaded with its template environment: ``ingest(event)``."""
    module = load_handler("IngestFunction")
    return lambda event: module.handler(event, context)
