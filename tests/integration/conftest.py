"""Functions run in-process against moto's ``mock_aws``, with resources created from template.yaml.

``cloud`` is a :class:`LocalCloud` without its moto server (``mock_aws`` intercepts every client)
but with its real capture server on 127.0.0.1, seeded like the local stack. ``load_handler``
imports a function's handler module the way Lambda would for that function: with the
environment template.yaml gives it, in a fresh module.
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
from moto import mock_aws

from fairtrack import settings
from fairtrack_tools.local.localcloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]


class FakeContext:
    function_name = "test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "test-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000  # the template's forwarder timeout: the forwarder's deadline stop reads it


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with mock_aws():
        c = LocalCloud(embedded=False).start()
        try:
            yield c
        finally:
            c.stop()
            parameters.clear_caches()


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
    return FakeContext()
