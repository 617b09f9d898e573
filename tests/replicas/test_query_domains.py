"""Tiers', engagement's, tasks', referrals', lifecycle's, segments', earning's, analytics' and
experiments' queries on a real streaming replica (tests/test_query_reads.py lists which Query
fields read there). With the replica's replay paused, what a read returns tells where it ran: the
replica's old rows, or the primary's new ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from app.clock import FrozenClock
from app.config import Settings
from app.earning import usecases as earning
from app.engagement import usecases as engagement
from app.engagement.demo import seed_engagement
from app.engagement.teams import Badge
from app.experiments.models import ExperimentDraft, VariantDraft
from app.experiments.usecases import create_experiment
from app.ledger import usecases as ledger
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.lifecycle.demo import DEMO_PARTNER
from app.lifecycle.exchange import save_partner
from app.lifecycle.reminders import send_expiry_reminders
from app.runtime import Runtime
from app.segments.usecases import recompute_segments
from app.tiers.policy import DEMO_TIERS
from app.tiers.usecases import install_tiers, save_tier_definition
from app.valuation.usecases import set_point_value
from tests.eventually import eventually
from tests.graphql.conftest import Api, api_with
from tests.metricsamples import sample
from tests.pg_replica import StreamingReplica
from tests.replicas.conftest import caught_up, name_of, pause_replay, resume_replay, with_replica
from tests.replicas.test_domains import data
from tests.replicas.test_reads import reads

STAFF = Actor("staff:carol")  # writes; never reads here (no mark on the readers' keys)
SYSTEM = Actor("system:test")
BASE_RULE = {"name": "base", "trigger": "purchase", "effect": {"kind": "per_unit", "rate": "1"}}
MANUAL_TASK = {"name": "Say hi", "kind": "one_off", "trigger": "manual", "reward": {"points": 10}}

# What staff change while replay is paused: each query's answer, as a set of names.
PROGRAMME = {
    "tiers": ("{ tiers { name } }", "name"),
    "signInSchedules": ("{ signInSchedules { code } }", "code"),
    "tasks": ("{ tasks { code } }", "code"),
    "badges": ("{ badges { code } }", "code"),
    "exchangePartners": ("{ exchangePartners { code } }", "code"),
    "earningRules": ("{ earningRules { edges { node { name } } } }", "name"),
    "pointValues": ("{ pointValues { value } }", "value"),
}
# Every other newly routed field, read once per phase: it must answer, wherever it ran.
MEMBER_READS = """query($m: ID!) {
  signInStreak(memberId: $m) { streak }
  signInCalendar(memberId: $m) { signIns { day } }
  taskCentre(memberId: $m) { completed }
  challengeBoard(task: "monthly-points", memberId: $m) { period }
  teamBoard(task: "team-spend") { period }
  memberBadges(memberId: $m) { badge { code } }
  referrals(memberId: $m) { inviteCode }
  notifications(memberId: $m) { unreadCount }
  pointsBank { balance }
  bankMoves(memberId: $m) { points }
  memberSegment(memberId: $m) { segment }
  tierDefinitionVersions { code }
  member(id: $m) { tier { qualifyingSpend } tierHistory { toTier } segment { segment }
                   segmentHistory { toSegment } }
  previewPoints(input: {memberId: $m, channel: "pos",
                        lines: [{sku: "a", category: "food", quantity: 1, amount: "10"}]}) {
    points }
  anomalyAlerts { id }
  experiments { code }
  experiment(code: "exp-a") { code }
  experimentResults(code: "exp-a") { until }
}"""


def settings_for(settings: Settings, replica: StreamingReplica, **changes: Any) -> dict[str, Any]:
    """The replica, with bounds for a loaded shared machine: replay stays paused for a whole
    test, and a starved health loop must not make the replica look stale."""
    return with_replica(
        settings, replica, replica_max_lag_seconds=300.0, replica_check_seconds=0.5, **changes
    )


def routed() -> dict[str, float]:
    """Every read routed so far, by target and reason (for a failure's message)."""
    return {
        f"{target}/{reason}": sample("jifen_db_reads_total", target=target, reason=reason)
        for target, reason in (
            ("replica", "fresh"),
            ("primary", "behind_write"),
            ("primary", "lagging"),
            ("primary", "down"),
            ("primary", "marks_unreadable"),
        )
    }


def names(found: Any, key: str) -> set[str]:
    """The values of ``key`` anywhere in a query's answer."""
    if isinstance(found, dict):
        if key in found and not isinstance(found[key], dict | list):
            return {str(found[key])}
        return set().union(*(names(v, key) for v in found.values()))
    if isinstance(found, list):
        return set().union(*(names(v, key) for v in found))
    return set()


async def programme(api: Api, headers: dict[str, str]) -> dict[str, set[str]]:
    return {
        field: names(await data(api, query, headers), key)
        for field, (query, key) in PROGRAMME.items()
    }


async def seed(rt: Runtime) -> None:
    await install_tiers(rt, DEMO_TIERS)
    await seed_engagement(rt, STAFF)
    await save_partner(rt, STAFF, DEMO_PARTNER)
    base = await earning.create_rule(rt, STAFF, BASE_RULE)
    double = {**BASE_RULE, "name": "b-double", "effect": {"kind": "per_unit", "rate": "2"}}
    variants = [
        VariantDraft("a", "control", Decimal(1), [{**BASE_RULE, "name": "a-base"}]),
        VariantDraft("b", "double", Decimal(1), [double]),
    ]
    draft = ExperimentDraft("exp-a", "economics", replaces=[base.rule.id], variants=variants)
    await create_experiment(rt, STAFF, draft)  # a draft: not started


async def change_the_programme(rt: Runtime) -> None:
    """One change to what each PROGRAMME query lists, by staff the tests never read as."""
    normal = DEMO_TIERS[0]
    await save_tier_definition(rt, replace(normal, name="Renamed"), actor=STAFF)
    await engagement.save_schedule(
        rt, STAFF, "plain", "Plain", {"base_points": 1, "cycle_days": 7}, activate=False
    )
    await engagement.create_task(rt, STAFF, "say-hi", MANUAL_TASK)
    await engagement.save_badge(rt, Badge("new-badge", "New", "New badge"))
    await save_partner(rt, STAFF, replace(DEMO_PARTNER, code="sea-miles"))
    await earning.create_rule(rt, STAFF, {**BASE_RULE, "name": "double"})
    await set_point_value(rt, STAFF, Decimal("0.02"), effective_from=None, reason="test")


async def every_field_answers(api: Api, member: str) -> None:
    await data(api, MEMBER_READS, api.staff_headers("admin", name="bob"), m=member)


async def test_programme_reads_go_to_a_fresh_replica_and_to_the_primary_when_it_goes_away(
    settings: Settings, clock: FrozenClock, replica: StreamingReplica
) -> None:
    async with api_with(settings, clock, **settings_for(settings, replica)) as api:
        rt = api.runtime
        member = await api.register("pos", "a")
        await seed(rt)
        await recompute_segments(rt)
        bob = api.staff_headers("admin", name="bob")  # a reader who wrote nothing
        await caught_up(replica, settings.database_url or "")
        before = await programme(api, bob)

        await pause_replay(replica)
        await change_the_programme(rt)
        on_replica = reads("replica", "fresh")
        # Every one missed its change: it ran on the replica.
        assert await programme(api, bob) == before, routed()
        assert on_replica() >= len(PROGRAMME), routed()
        await every_field_answers(api, member)  # none refused by a standby

        await resume_replay(replica)
        await caught_up(replica, settings.database_url or "")
        after = await programme(api, bob)
        changed = [field for field in PROGRAMME if after[field] != before[field]]
        assert changed == list(PROGRAMME), after

        replica.stop()
        name = name_of(replica)
        await eventually(lambda: sample("jifen_db_replica_up", replica=name) == 0, within=20)
        down = reads("primary", "down")
        assert await programme(api, bob) == after
        await every_field_answers(api, member)
        assert down() >= len(PROGRAMME)


CHECK_IN = """mutation($m: ID!) { checkIn(input: {memberId: $m}) {
  __typename ... on MutationError { code message } } }"""
COMPLETE = """mutation($m: ID!) { completeTask(input: {memberId: $m, task: "say-hi"}) {
  __typename ... on MutationError { code message } } }"""
INVITE = """mutation($m: ID!) { issueInviteCode(input: {memberId: $m}) {
  __typename ... on MutationError { code message } } }"""
OWN = """query($m: ID!) {
  signInStreak(memberId: $m) { streak signedInToday }
  signInCalendar(memberId: $m) { signIns { day } }
  taskCentre(memberId: $m) { task { code } completed }
  referrals(memberId: $m) { inviteCode }
  member(id: $m) { tier { qualifyingSpend } }
}"""


async def test_a_members_own_writes_are_read_at_once_while_the_replica_lags(
    settings: Settings, clock: FrozenClock, replica: StreamingReplica
) -> None:
    changes = settings_for(settings, replica, tier_qualifying_measure="points")
    async with api_with(settings, clock, **changes) as api:
        rt = api.runtime
        member = await api.register("pos", "a")
        await seed(rt)
        await engagement.create_task(rt, STAFF, "say-hi", MANUAL_TASK)
        mine = api.member_headers(member)
        await caught_up(replica, settings.database_url or "")
        await pause_replay(replica)

        behind = reads("primary", "behind_write")
        for mutation, who in ((CHECK_IN, mine), (COMPLETE, api.staff_headers()), (INVITE, mine)):
            done = next(iter((await data(api, mutation, who, m=member)).values()))
            assert "code" not in done, done
        assert (await api.earn(member, 600, "k1"))["__typename"] == "PointsPosted"
        own = await data(api, OWN, mine, m=member)
        assert own["signInStreak"] == {"streak": 1, "signedInToday": True}
        assert len(own["signInCalendar"]["signIns"]) == 1
        done = {s["task"]["code"] for s in own["taskCentre"] if s["completed"]}
        assert done == {"say-hi"}
        assert own["referrals"]["inviteCode"] is not None
        spend = Decimal(own["member"]["tier"]["qualifyingSpend"])
        assert spend == 600 + 5 + 10  # earned, the check-in's and the task's rewards
        assert behind() >= 5  # each of them on the primary: the replica has none of it


NOTIFICATIONS = """query($m: ID!) {
  notifications(memberId: $m) { unreadCount edges { node { kind } } } }"""
MARK_READ = """mutation($m: ID!) { markNotificationsRead(input: {memberId: $m}) {
  __typename ... on MutationError { code message } } }"""


async def test_a_reminded_member_reads_the_reminder_and_then_its_being_read(
    settings: Settings, clock: FrozenClock, replica: StreamingReplica
) -> None:
    async with api_with(settings, clock, **settings_for(settings, replica)) as api:
        rt = api.runtime
        member = await api.register("pos", "a")
        expires = clock.now() + timedelta(days=3)
        await ledger.earn_points(
            rt, SYSTEM, Earn(int(member), 300, "job", expires_at=expires), idempotency_key="lot"
        )
        mine = api.member_headers(member)
        await caught_up(replica, settings.database_url or "")
        on_replica = reads("replica", "fresh")
        empty = (await data(api, NOTIFICATIONS, mine, m=member))["notifications"]
        assert (empty["unreadCount"], empty["edges"]) == (0, [])
        assert on_replica() >= 1, routed()

        await pause_replay(replica)
        assert (await send_expiry_reminders(rt))["sent"] == 1  # the reminders job's step
        behind = reads("primary", "behind_write")
        told = (await data(api, NOTIFICATIONS, mine, m=member))["notifications"]
        assert told["unreadCount"] == 1 and len(told["edges"]) == 1
        assert behind() >= 1
        assert "code" not in (await data(api, MARK_READ, mine, m=member))["markNotificationsRead"]
        read = (await data(api, NOTIFICATIONS, mine, m=member))["notifications"]
        assert (read["unreadCount"], len(read["edges"])) == (0, 1)
