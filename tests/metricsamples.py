"""Reading this process's metrics in tests (prometheus-client's default registry)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def growth(name: str, **labels: str) -> Callable[[], float]:
    """How much the sample ``name`` grew since this call: a test reads deltas, since other
    tests of the session count in the same registry."""
    start = sample(name, **labels)
    return lambda: sample(name, **labels) - start
