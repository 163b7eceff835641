"""The HTTP edge: where a request enters and its answer leaves.

:mod:`~fairtrack.api.routes` maps the ingest function's paths to the
:class:`~fairtrack.ingest.Ingestor`; a request arrives as an API Gateway event and is read into an
:class:`~fairtrack.ingest.IngestRequest` (:mod:`~fairtrack.api.http`), its body decoded within
bounds (:mod:`~fairtrack.api.body`); :mod:`~fairtrack.api.proxy` applies the deployment's proxy mode
(origin-verify check, the visitor's address and country); :mod:`~fairtrack.api.access` finds the
source a request speaks for and checks a browser's origin (CORS headers from
:mod:`~fairtrack.api.cors`); ``GET /fairtrack.js`` serves the website snippet
(:mod:`~fairtrack.api.snippet`); refusals are answered by one set of error handlers
(:mod:`~fairtrack.api.errors`), shared with the admin function's routes (:mod:`~fairtrack.api.admin`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fairtrack.lazy import lazy_exports

if TYPE_CHECKING:
    from fairtrack.api.http import empty_response, error_response, json_response, to_request

__all__ = ["empty_response", "error_response", "json_response", "to_request"]

__getattr__ = lazy_exports(__name__, {"http": ("empty_response", "error_response", "json_response", "to_request")})
