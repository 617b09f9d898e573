"""Scheduled jobs through the API: staff see each job's last run; admins run one now."""

from __future__ import annotations

from datetime import timedelta

from app.clock import FrozenClock
from tests.graphql.conftest import Api

JOBS = "{ jobs { name schedule lastRun { status result error } runs(first: 3) { id } } }"
RUN = """mutation($n: String!) { runJob(input: {name: $n}) {
  __typename ... on JobRunPayload { run { job status result } }
  ... on MutationError { code field } } }"""


async def test_staff_see_every_job_and_its_last_outcome(api: Api, clock: FrozenClock) -> None:
    member = await api.register("pos", "sweepme")
    await api.admin(
        """mutation($m: ID!, $e: DateTime!) { earnPoints(input: {memberId: $m, amount: 25,
             reason: "soon gone", idempotencyKey: "k-1", expiresAt: $e}) { __typename } }""",
        {"m": member, "e": (clock.now() + timedelta(days=1)).isoformat()},
    )
    clock.advance(timedelta(days=2))

    ran = await api.admin(RUN, {"n": "expiry-sweep"})

    assert ran["runJob"]["run"]["status"] == "succeeded"
    assert ran["runJob"]["run"]["result"]["expired"] == 25
    jobs = {job["name"]: job for job in (await api.admin(JOBS))["jobs"]}
    assert jobs["expiry-sweep"]["lastRun"]["result"]["expired"] == 25
    assert len(jobs["expiry-sweep"]["runs"]) == 1
    assert jobs["hold-timeouts"]["lastRun"] is None
    assert jobs["hold-timeouts"]["schedule"] == "every 30s"
    state = await api.ledger_state(member)
    assert state["balance"]["total"] == 0


async def test_running_an_unknown_job_is_a_clear_error(api: Api) -> None:
    body = await api.admin(RUN, {"n": "no-such-job"})
    assert body["runJob"] == {"__typename": "MutationError", "code": "NOT_FOUND", "field": "name"}
