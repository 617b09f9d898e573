"""The permission walk's requests for analytics' operations (core/test_permissions.py): all of
them programme-wide (no particular member or channel)."""

from __future__ import annotations

from typing import Any

PAYLOAD = "{ __typename ... on MutationError { code message } }"
PROGRAMME_WIDE = frozenset(
    {
        "kpis",
        "pointsOutlook",
        "weeklyReport",
        "pointValues",
        "setPointValue",
        "anomalyAlerts",
        "acknowledgeAlert",
    }
)


def analytics_request_for(operation: str) -> tuple[str, dict[str, Any]] | None:
    if operation == "kpis":
        return '{ kpis(from: "2026-12-01", to: "2026-12-07") { outstanding } }', {}
    if operation == "pointsOutlook":
        return "{ pointsOutlook { pending } }", {}
    if operation == "weeklyReport":
        return '{ weeklyReport(weekStart: "2026-11-30") { csv } }', {}
    if operation == "pointValues":
        return "{ pointValues { value } }", {}
    if operation == "setPointValue":
        return (
            f"""mutation {{ setPointValue(input: {{value: "0.1", reason: "walk"}})
                 {PAYLOAD} }}""",
            {},
        )
    if operation == "anomalyAlerts":
        return "{ anomalyAlerts { id status } }", {}
    if operation == "acknowledgeAlert":  # allowed: NOT_FOUND (no alert fired), not a refusal
        return f'mutation {{ acknowledgeAlert(input: {{id: "1"}}) {PAYLOAD} }}', {}
    return None
