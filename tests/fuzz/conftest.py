"""The ingest function loaded once per module, in-process under moto, for the fuzz tests.

:class:`fairtrack_tools.proofs.fuzz.Harness` does what ``tests/integration/conftest.py`` does per test
(``LocalCloud(embedded=False)`` inside ``mock_aws``, the handler imported with template.yaml's
environment), once: loading it per example would cost more than the examples themselves. It
restores the environment and stops moto when the module is done.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fairtrack_tools.proofs.fuzz import Harness, running


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with running() as loaded:
        yield loaded
