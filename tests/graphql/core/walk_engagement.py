"""The permission walk's requests for engagement operations (core/test_permissions.py):
one valid call of each operation on member A."""

from __future__ import annotations

from typing import Any

from app.engagement import usecases
from app.ledger.models import Actor
from app.runtime import Runtime

PAYLOAD = "{ __typename ... on MutationError { code message } }"

# Programme-wide reads: no particular member or channel.
PROGRAMME_WIDE = frozenset({"signInSchedules", "tasks", "teamBoard", "team", "badges"})

# The subscription walk (tests/events/test_subscriptions.py) follows this challenge's board.
WALK_BOARD = "walk-board"
CHALLENGE_BOARD = f"""subscription($m: ID!) {{
  challengeBoard(task: "{WALK_BOARD}", memberId: $m) {{ task }} }}"""


async def create_walk_board(runtime: Runtime) -> None:
    spec = {
        "name": "walk",
        "kind": "challenge",
        "trigger": "points",
        "metric": "points",
        "target": 10,
        "period": "month",
        "leaderboard": True,
        "reward": {"points": 1},
    }
    await usecases.create_task(runtime, Actor("staff:walk"), WALK_BOARD, spec)


TASK = """{name: "walk", kind: ONE_OFF, trigger: MANUAL, reward: {points: 1}}"""


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
    return task_request_for(operation, a, key)


def task_request_for(operation: str, a: str, key: str) -> tuple[str, dict[str, Any]] | None:
    simple = {
        "tasks": ("{ tasks { code } }", {}),
        "taskCentre": ("query($m: ID!) { taskCentre(memberId: $m) { period } }", {"m": a}),
        "challengeBoard": (
            'query($m: ID!) { challengeBoard(task: "walk", memberId: $m) { task } }',
            {"m": a},
        ),
        "teamBoard": ('{ teamBoard(task: "walk") { task } }', {}),
        "team": ('{ team(code: "ABCDEF") { code } }', {}),
        "badges": ("{ badges { code } }", {}),
        "memberBadges": ("query($m: ID!) { memberBadges(memberId: $m) { source } }", {"m": a}),
        "referrals": ("query($m: ID!) { referrals(memberId: $m) { inviteCode } }", {"m": a}),
    }
    if operation in simple:
        return simple[operation]
    mutations = {
        "createTask": (f'createTask(input: {{code: "{key}", task: {TASK}}})', {}),
        "updateTask": (f'updateTask(input: {{code: "{key}", task: {TASK}}})', {}),
        "setTaskEnabled": (f'setTaskEnabled(input: {{code: "{key}", enabled: false}})', {}),
        "completeTask": ('completeTask(input: {memberId: $m, task: "walk"})', {"m": a}),
        "createTeam": ('createTeam(input: {memberId: $m, task: "walk", name: "w"})', {"m": a}),
        "joinTeam": ('joinTeam(input: {memberId: $m, code: "ABCDEF"})', {"m": a}),
        "saveBadge": (f'saveBadge(input: {{code: "{key}", name: "walk"}})', {}),
        "acceptInvite": ('acceptInvite(input: {memberId: $m, inviteCode: "NOPE2345"})', {"m": a}),
        "issueInviteCode": ("issueInviteCode(input: {memberId: $m})", {"m": a}),
    }
    if operation not in mutations:
        return None
    field, variables = mutations[operation]
    declared = "($m: ID!)" if variables else ""
    return f"mutation{declared} {{ {field} {PAYLOAD} }}", variables
