"""The permission walk's requests for engagement operations (tests/graphql/test_permissions.py):
one valid call of each operation on member A."""

from __future__ import annotations

from typing import Any

PAYLOAD = "{ __typename ... on MutationError { code message } }"

# Programme-wide reads: no particular member or channel.
PROGRAMME_WIDE = frozenset({"signInSchedules"})


def engagement_request_for(operation: str, a: str, key: str) -> tuple[str, dict[str, Any]] | None:
    if operation == "signInStreak":
        return "query($m: ID!) { signInStreak(memberId: $m) { streak } }", {"m": a}
    if operation == "signInCalendar":
        return "query($m: ID!) { signInCalendar(memberId: $m) { month } }", {"m": a}
    if operation == "signInSchedules":
        return "{ signInSchedules { code } }", {}
    if operation == "checkIn":
        return f"mutation($m: ID!) {{ checkIn(input: {{memberId: $m}}) {PAYLOAD} }}", {"m": a}
    if operation == "makeUpSignIn":
        return (
            f"""mutation($m: ID!) {{ makeUpSignIn(input: {{memberId: $m, day: "2026-11-01"}})
                 {PAYLOAD} }}""",
            {"m": a},
        )
    if operation == "grantMakeUpCards":
        return (
            f"""mutation($m: ID!, $k: String!) {{ grantMakeUpCards(input: {{memberId: $m,
                 count: 1, reason: "walk", idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"m": a, "k": key},
        )
    if operation == "saveSignInSchedule":
        return (
            f"""mutation($c: String!) {{ saveSignInSchedule(input: {{code: $c, name: "walk",
                 basePoints: 1}}) {PAYLOAD} }}""",
            {"c": key[:32]},
        )
    return None
