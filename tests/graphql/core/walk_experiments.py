"""The permission walk's requests for experiments' operations (core/test_permissions.py): staff
only, programme-wide. The writes name experiments that do not exist (allowed callers get
NOT_FOUND, a refusal of the input, not of the caller) or define a fresh draft."""

from __future__ import annotations

from typing import Any

PAYLOAD = "{ __typename ... on MutationError { code message } }"
PROGRAMME_WIDE = frozenset(
    {
        "experiments",
        "experiment",
        "experimentResults",
        "createExperiment",
        "updateExperiment",
        "startExperiment",
        "stopExperiment",
        "rollOutExperiment",
    }
)
DEFINITION = """{code: $k, name: "walk", variants: [
    {code: "a", name: "control", weight: "1"},
    {code: "b", name: "double", weight: "1", rules: [{name: "x2", trigger: PURCHASE,
      effect: {kind: MULTIPLIER, factor: "2"}}]}]}"""


def experiments_request_for(operation: str, key: str) -> tuple[str, dict[str, Any]] | None:
    code = f"walk-{key.lower()}"[:64]
    if operation == "experiments":
        return "{ experiments { code } }", {}
    if operation == "experiment":  # allowed: NOT_FOUND as a GraphQL error
        return '{ experiment(code: "nope") { code } }', {}
    if operation == "experimentResults":
        return '{ experimentResults(code: "nope") { until } }', {}
    if operation in ("createExperiment", "updateExperiment"):
        return (
            f"mutation($k: String!) {{ {operation}(input: {DEFINITION}) {PAYLOAD} }}",
            {"k": code},
        )
    if operation in ("startExperiment", "stopExperiment"):
        return (
            f"mutation($k: String!) {{ {operation}(input: {{code: $k}}) {PAYLOAD} }}",
            {"k": code},
        )
    if operation == "rollOutExperiment":
        return (
            f"""mutation($k: String!) {{ rollOutExperiment(input: {{code: $k, variant: "b"}})
                 {PAYLOAD} }}""",
            {"k": code},
        )
    return None
