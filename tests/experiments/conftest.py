"""Experiments' results are read through the API as well: the real ASGI app and its client."""

from __future__ import annotations

from tests.graphql.conftest import api, app, app_runtime

__all__ = ["api", "app", "app_runtime"]  # as for the API's tests
