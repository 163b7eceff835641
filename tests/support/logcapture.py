"""Test helper: capture what the functions' logger (Powertools, ``fairtrack.observability``) writes."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

from fairtrack.observability import logger


@contextlib.contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every line the functions' logger writes meanwhile, at every level (DEBUG included, so a test
    that looks for personal data in logs also sees what only debugging would print)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    out = io.StringIO()
    previous, level = handler.setStream(out), logger.log_level
    logger.setLevel("DEBUG")
    try:
        yield out
    finally:
        handler.setStream(previous)
        logger.setLevel(level)
