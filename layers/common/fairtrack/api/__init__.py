"""The HTTP edge: where a request enters and its answer leaves.

A request arrives as an API Gateway event and is read into a :class:`~fairtrack.api.http.Request`
(:mod:`~fairtrack.api.http`); a browser's origin is checked against the source's allowed origins and
the answer gets its CORS headers (:mod:`~fairtrack.api.cors`); ``GET /fairtrack.js`` serves the
website snippet (:mod:`~fairtrack.api.snippet`); every answer is built by the JSON and error
responses of :mod:`~fairtrack.api.http`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fairtrack.lazy import lazy_exports

if TYPE_CHECKING:
    from fairtrack.api.http import empty_response, error_response, json_response, to_request

__all__ = ["empty_response", "error_response", "json_response", "to_request"]

__getattr__ = lazy_exports(__name__, {"http": ("empty_response", "error_response", "json_response", "to_request")})
