"""Segments through the API: staff read a member's segment and history and the KPIs' counts;
members may not; segmentHistory reads in a fixed number of statements."""

from __future__ import annotations

from datetime import timedelta

from app.clock import FrozenClock, business_date
from app.ledger.models import MemberStatus
from app.members import usecases as members
from app.segments.jobs import run_segment_campaigns
from app.segments.usecases import recompute_segments
from tests.graphql.conftest import Api
from tests.graphql.statements import assert_same_statements

SEGMENT = """query($m: ID!) {
  member(id: $m) { segment { segment recencyScore frequencyScore monetaryScore frequency
                             monetary lastActiveOn }
                   segmentHistory { fromSegment toSegment } }
  memberSegment(memberId: $m) { segment } }"""
HISTORY = """query($m: ID!) {
  member(id: $m) { segmentHistory { fromSegment toSegment changedAt } } }"""
KPIS = """query($d: Date!) { kpis(from: $d, to: $d) { membersBySegment { name points } } }"""


async def test_staff_read_a_members_segment_and_the_counts(api: Api, clock: FrozenClock) -> None:
    member = await api.register("pos", "s-1")
    clock.advance(timedelta(days=40))  # no longer new
    await api.earn(member, 300, "s-k1")
    await recompute_segments(api.runtime)
    body = await api.call(SEGMENT, {"m": member}, api.staff_headers("analyst"))
    assert body["data"] == {
        "member": {
            "segment": {
                "segment": "CHAMPIONS",
                "recencyScore": 5,
                "frequencyScore": 5,
                "monetaryScore": 5,
                "frequency": 1,
                "monetary": 300,
                "lastActiveOn": business_date(clock.now(), api.settings.timezone).isoformat(),
            },
            "segmentHistory": [{"fromSegment": None, "toSegment": "CHAMPIONS"}],
        },
        "memberSegment": {"segment": "CHAMPIONS"},
    }
    day = business_date(clock.now(), api.settings.timezone).isoformat()
    kpis = (await api.call(KPIS, {"d": day}, api.staff_headers("operator")))["data"]["kpis"]
    assert {"name": "champions", "points": 1} in kpis["membersBySegment"]
    assert {"name": "at_risk", "points": 0} in kpis["membersBySegment"]


async def test_members_may_not_read_segments(api: Api) -> None:
    member = await api.register("pos", "s-2")
    await recompute_segments(api.runtime)
    own = await api.call(
        "query($m: ID!) { memberSegment(memberId: $m) { segment } }",
        {"m": member},
        api.member_headers(member),
    )
    assert own["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    me = await api.call("{ me { segment { segment } } }", headers=api.member_headers(member))
    assert me["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    staff = await api.call(SEGMENT, {"m": member}, api.staff_headers("operator"))
    assert staff["data"]["memberSegment"] == {"segment": "NEW"}
    bad = await api.call(
        '{ memberSegment(memberId: "x") { segment } }', headers=api.staff_headers()
    )
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_segment_history_takes_the_same_statements_for_one_change_or_three(
    api: Api, clock: FrozenClock
) -> None:
    few = await api.register("pos", "few")
    many = await api.register("pos", "many")
    await recompute_segments(api.runtime)  # both new
    clock.advance(timedelta(days=40))
    await recompute_segments(api.runtime)  # many: hibernating
    await members.set_status(
        api.runtime, member_id=int(many), status=MemberStatus.CLOSED, reason="t", actor="staff:t"
    )
    await recompute_segments(api.runtime)  # many: left out
    await assert_same_statements(
        api, HISTORY, {"m": few}, {"m": many}, api.staff_headers("analyst")
    )


START = """mutation($c: String!, $p: Int!, $b: Int!) {
  startSegmentCampaign(input: {code: $c, segment: NEW, points: $p, budget: $b,
                               reason: "welcome"}) {
    __typename
    ... on SegmentCampaignStarted { campaign { code segment members pendingMembers status } }
    ... on MutationError { code field } } }"""


async def test_operators_start_a_campaign_and_staff_follow_it(api: Api) -> None:
    member = await api.register("pos", "s-3")
    await recompute_segments(api.runtime)
    denied = await api.call(START, {"c": "w", "p": 10, "b": 100}, api.staff_headers("analyst"))
    assert denied["data"]["startSegmentCampaign"]["code"] == "FORBIDDEN"
    bad = await api.admin(START, {"c": "w", "p": 10, "b": 5})
    assert bad["startSegmentCampaign"] == {
        "__typename": "MutationError",
        "code": "INVALID_INPUT",
        "field": "budget",
    }
    started = await api.call(START, {"c": "w", "p": 10, "b": 100}, api.staff_headers("operator"))
    assert started["data"]["startSegmentCampaign"]["campaign"] == {
        "code": "w",
        "segment": "NEW",
        "members": 1,
        "pendingMembers": 1,
        "status": "running",
    }
    await run_segment_campaigns(api.runtime)
    body = await api.call(
        '{ segmentCampaign(code: "w") { status grantedMembers grantedPoints } }',
        headers=api.staff_headers("analyst"),
    )
    assert body["data"]["segmentCampaign"] == {
        "status": "done",
        "grantedMembers": 1,
        "grantedPoints": 10,
    }
    assert (await api.ledger_state(member))["balance"]["available"] == 10


CANCEL = """mutation($c: String!) {
  cancelSegmentCampaign(input: {code: $c, reason: "wrong segment"}) {
    __typename
    ... on SegmentCampaignCancelled { campaign { status pendingMembers skippedMembers
                                                  cancelledBy cancelReason } }
    ... on MutationError { code field } } }"""


async def test_operators_cancel_a_running_campaign_and_analysts_may_not(api: Api) -> None:
    member = await api.register("pos", "s-4")
    await recompute_segments(api.runtime)
    await api.admin(START, {"c": "c", "p": 10, "b": 100})
    denied = await api.call(CANCEL, {"c": "c"}, api.staff_headers("analyst"))
    assert denied["data"]["cancelSegmentCampaign"]["code"] == "FORBIDDEN"
    missing = await api.admin(CANCEL, {"c": "nope"})
    assert missing["cancelSegmentCampaign"]["code"] == "NOT_FOUND"
    done = await api.call(CANCEL, {"c": "c"}, api.staff_headers("operator", "olga"))
    assert done["data"]["cancelSegmentCampaign"]["campaign"] == {
        "status": "cancelled",
        "pendingMembers": 0,
        "skippedMembers": 1,
        "cancelledBy": "staff:olga",
        "cancelReason": "wrong segment",
    }
    await run_segment_campaigns(api.runtime)
    assert (await api.ledger_state(member))["balance"]["available"] == 0
