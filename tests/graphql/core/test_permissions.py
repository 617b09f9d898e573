"""Walks the permission table: every operation by every kind of caller, through the API.

What is expected comes from app/auth/permissions.py (the one table); what happens comes from
the resolvers. A refused call must leave the member's ledger exactly as it was.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from app.auth.permissions import (
    PARTNER_SCOPES,
    PERMISSIONS,
    ROUTE_OPERATIONS,
    Subject,
    allows,
)
from app.auth.principal import ANONYMOUS, Principal, Role
from app.graphql.schema import schema
from tests.graphql.conftest import Api
from tests.graphql.core.walk_analytics import PROGRAMME_WIDE as ANALYTICS_PROGRAMME_WIDE
from tests.graphql.core.walk_analytics import analytics_request_for
from tests.graphql.core.walk_engagement import PROGRAMME_WIDE, engagement_request_for
from tests.graphql.core.walk_experiments import PROGRAMME_WIDE as EXPERIMENTS_PROGRAMME_WIDE
from tests.graphql.core.walk_experiments import experiments_request_for
from tests.graphql.core.walk_games import PROGRAMME_WIDE as GAMES_PROGRAMME_WIDE
from tests.graphql.core.walk_games import games_request_for
from tests.graphql.core.walk_mall import PROGRAMME_WIDE as MALL_PROGRAMME_WIDE
from tests.graphql.core.walk_mall import mall_request_for
from tests.graphql.core.walk_segments import PROGRAMME_WIDE as SEGMENTS_PROGRAMME_WIDE
from tests.graphql.core.walk_segments import segments_request_for
from tests.graphql.core.walk_webhooks import OWN_CHANNEL as WEBHOOKS_OWN_CHANNEL
from tests.graphql.core.walk_webhooks import webhook_request_for

REFUSALS = {"FORBIDDEN", "UNAUTHENTICATED"}
# Subscriptions are walked over a WebSocket (tests/events/test_subscriptions.py).
SUBSCRIPTIONS = frozenset(schema._schema.subscription_type.fields)  # type: ignore[union-attr]
HTTP_OPERATIONS = [
    operation
    for operation in PERMISSIONS
    if operation not in SUBSCRIPTIONS and operation not in ROUTE_OPERATIONS
]
_counter = itertools.count()

PAYLOAD = "{ __typename ... on MutationError { code message } }"


@dataclass
class Caller:
    name: str
    principal: Principal
    headers: dict[str, str]


@dataclass
class World:
    api: Api
    member_a: str  # the target: linked to channel "pos"
    member_b: str  # another member, linked to channel "web"
    pos_partner: dict[str, str]  # all scopes on "pos": places holds and entries to act on


def fresh(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}"


async def make_hold(world: World) -> str:
    body = await world.api.call(
        """mutation($m: ID!, $k: String!) { holdPoints(input: {memberId: $m, amount: 1,
             reason: "walk", idempotencyKey: $k}) { ... on HoldPayload { hold { id } } } }""",
        {"m": world.member_a, "k": fresh("hold")},
        world.pos_partner,
    )
    hold_id: str = body["data"]["holdPoints"]["hold"]["id"]
    return hold_id


async def make_entry(world: World) -> str:
    result = await world.api.earn(world.member_a, 5, fresh("entry"), world.pos_partner)
    entry_id: str = result["entry"]["id"]
    return entry_id


async def request_for(operation: str, world: World) -> tuple[str, dict[str, Any]]:
    """A valid call of ``operation`` on member A (or on things channel "pos" created for A)."""
    a = world.member_a
    key = fresh("key")
    if operation == "me":
        return "{ me { id balance { total } } }", {}
    if operation == "member":
        return (
            """query($m: ID!) { member(id: $m) { id balance { total }
                 history(first: 1) { edges { node { id } } } } }""",
            {"m": a},
        )
    if operation == "memberByRef":
        return '{ memberByRef(channel: "pos", externalRef: "a") { id } }', {}
    if operation == "membersByPhone":
        return '{ membersByPhone(phone: "13800138000") { id } }', {}
    if operation == "lotteryPools":
        return "{ lotteryPools { code prizes { code probability } } }", {}
    if operation == "registerMember":
        return (
            f"""mutation($r: String!) {{ registerMember(input: {{channel: "pos",
                 externalRef: $r}}) {PAYLOAD} }}""",
            {"r": fresh("ref")},
        )
    if operation == "linkChannelRef":
        return (
            f"""mutation($m: ID!, $r: String!) {{ linkChannelRef(input: {{memberId: $m,
                 channel: "kiosk", externalRef: $r}}) {PAYLOAD} }}""",
            {"m": a, "r": fresh("ref")},
        )
    if operation == "updateMemberProfile":
        return (
            f"""mutation($m: ID!) {{ updateMemberProfile(input: {{memberId: $m,
                 name: "Ann"}}) {PAYLOAD} }}""",
            {"m": a},
        )
    if operation == "setMemberStatus":
        return (
            f"""mutation($m: ID!) {{ setMemberStatus(input: {{memberId: $m, status: ACTIVE,
                 reason: "walk"}}) {PAYLOAD} }}""",
            {"m": a},
        )
    if operation in {"earnPoints", "spendPoints", "holdPoints", "adjustPoints"}:
        return (
            f"""mutation($m: ID!, $k: String!) {{ {operation}(input: {{memberId: $m,
                 amount: 1, reason: "walk", idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"m": a, "k": key},
        )
    if operation == "earnPointsBatch":  # its one item answers a refusal on the member
        return (
            f"""mutation($m: ID!, $k: String!) {{ earnPointsBatch(input: {{items: [{{
                 memberId: $m, amount: 1, reason: "walk", idempotencyKey: $k}}]}}) {{
                 __typename ... on MutationError {{ code message }}
                 ... on EarnBatchPosted {{ results {PAYLOAD} }} }} }}""",
            {"m": a, "k": key},
        )
    if operation == "commitHold":
        return (
            f"""mutation($h: ID!, $k: String!) {{ commitHold(input: {{holdId: $h,
                 idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"h": await make_hold(world), "k": key},
        )
    if operation == "voidHold":
        return (
            f"""mutation($h: ID!, $k: String!) {{ voidHold(input: {{holdId: $h,
                 reason: "walk", idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"h": await make_hold(world), "k": key},
        )
    if operation == "reverseEntry":
        return (
            f"""mutation($e: ID!, $k: String!) {{ reverseEntry(input: {{entryId: $e,
                 reason: "walk", idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"e": await make_entry(world), "k": key},
        )
    earning = await earning_request_for(operation, world, key)
    if earning is not None:
        return earning
    engagement = engagement_request_for(operation, a, key)
    if engagement is not None:
        return engagement
    lifecycle = lifecycle_request_for(operation, world, key)
    if lifecycle is not None:
        return lifecycle
    mall = await mall_request_for(operation, world, key)
    if mall is not None:
        return mall
    analytics = analytics_request_for(operation)
    if analytics is not None:
        return analytics
    segments = await segments_request_for(operation, world, key)
    if segments is not None:
        return segments
    webhooks = await webhook_request_for(operation, world)
    if webhooks is not None:
        return webhooks
    experiments = experiments_request_for(operation, key)
    if experiments is not None:
        return experiments
    games = await games_request_for(operation, world, key)
    if games is not None:
        return games
    raise AssertionError(f"the walk has no request for {operation}: add one")


RULE = """{name: "walk", trigger: PURCHASE, effect: {kind: PER_UNIT, rate: "1"}}"""
LINES = """[{sku: "s", category: "c", quantity: 1, amount: "10"}]"""


async def make_rule(world: World) -> str:
    data = await world.api.admin(
        f"mutation {{ createEarningRule(input: {{rule: {RULE}}}) "
        "{ ... on EarningRulePayload { rule { id } } } }"
    )
    rule_id: str = data["createEarningRule"]["rule"]["id"]
    return rule_id


async def make_order(world: World) -> str:
    order = fresh("order")
    body = await world.api.call(
        f"""mutation($m: ID!, $o: String!) {{ recordPurchase(input: {{memberId: $m,
             channel: "pos", orderId: $o, lines: {LINES}}}) {PAYLOAD} }}""",
        {"m": world.member_a, "o": order},
        world.pos_partner,
    )
    assert body["data"]["recordPurchase"]["__typename"] == "PurchaseRecorded", body
    return order


async def earning_request_for(
    operation: str, world: World, key: str
) -> tuple[str, dict[str, Any]] | None:
    a = world.member_a
    if operation == "earningRules":
        return "{ earningRules(first: 5) { edges { node { id versions { version } } } } }", {}
    if operation == "tiers":
        return "{ tiers { code } }", {}
    if operation == "tierDefinitionVersions":
        return "{ tierDefinitionVersions { code version actor } }", {}
    if operation == "saveTierDefinition":
        return (
            f"""mutation {{ saveTierDefinition(input: {{code: "walk", name: "Walk", rank: 0,
                 threshold: "0", multiplier: "1"}}) {PAYLOAD} }}""",
            {},
        )
    if operation == "previewPoints":
        return (
            f"""query($m: ID!) {{ previewPoints(input: {{memberId: $m, channel: "pos",
                 lines: {LINES}}}) {{ points }} }}""",
            {"m": a},
        )
    if operation == "createEarningRule":
        return f"mutation {{ createEarningRule(input: {{rule: {RULE}}}) {PAYLOAD} }}", {}
    if operation == "updateEarningRule":
        return (
            f"""mutation($r: ID!) {{ updateEarningRule(input: {{id: $r, rule: {RULE}}})
                 {PAYLOAD} }}""",
            {"r": await make_rule(world)},
        )
    if operation == "setEarningRuleEnabled":
        return (
            f"""mutation($r: ID!) {{ setEarningRuleEnabled(input: {{id: $r, enabled: false}})
                 {PAYLOAD} }}""",
            {"r": await make_rule(world)},
        )
    if operation == "recordPurchase":
        return (
            f"""mutation($m: ID!, $o: String!) {{ recordPurchase(input: {{memberId: $m,
                 channel: "pos", orderId: $o, lines: {LINES}}}) {PAYLOAD} }}""",
            {"m": a, "o": key},
        )
    if operation == "recordRefund":
        return (
            f"""mutation($o: String!, $r: String!) {{ recordRefund(input: {{channel: "pos",
                 orderId: $o, refundId: $r}}) {PAYLOAD} }}""",
            {"o": await make_order(world), "r": key},
        )
    if operation == "recordEvent":
        return (
            f"""mutation($m: ID!, $e: String!) {{ recordEvent(input: {{memberId: $m,
                 channel: "pos", eventId: $e, name: "share"}}) {PAYLOAD} }}""",
            {"m": a, "e": key},
        )
    return None


def lifecycle_request_for(
    operation: str, world: World, key: str
) -> tuple[str, dict[str, Any]] | None:
    a = world.member_a
    if operation == "jobs":
        return "{ jobs { name lastRun { status } } }", {}
    if operation == "runJob":
        return f'mutation {{ runJob(input: {{name: "hold-timeouts"}}) {PAYLOAD} }}', {}
    if operation == "notifications":
        return "query($m: ID!) { notifications(memberId: $m) { unreadCount } }", {"m": a}
    if operation == "giftPoints":
        return (
            f"""mutation($a: ID!, $b: ID!, $k: String!) {{ giftPoints(input: {{fromMemberId: $a,
                 toMemberId: $b, amount: 1, idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"a": a, "b": world.member_b, "k": key},
        )
    if operation == "lifecyclePolicy":
        return "{ lifecyclePolicy { expiryPolicy reminderDays } }", {}
    if operation == "pointsBank":
        return "{ pointsBank { balance expiredIn spent } }", {}
    if operation == "bankMoves":
        return "query($m: ID!) { bankMoves(memberId: $m) { id points } }", {"m": a}
    if operation == "moveExpiringPoints":
        return (
            f"""mutation($m: ID!, $k: String!) {{ moveExpiringPoints(input: {{memberId: $m,
                 validThrough: "2026-12-01", to: DONATION, charityCode: "walk",
                 idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"m": a, "k": key},
        )
    if operation == "spendBankPool":
        return (
            f"""mutation($k: String!) {{ spendBankPool(input: {{kind: CHARITY_MATCH, points: 1,
                 reason: "walk", charityCode: "walk", idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"k": key},
        )
    if operation == "exchangePartners":
        return "{ exchangePartners { code rateIn } }", {}
    if operation == "saveExchangePartner":
        return (
            f"""mutation {{ saveExchangePartner(input: {{code: "walk", name: "Walk",
                 rateIn: "1", rateOut: "1", minPoints: 1, maxPoints: 10, dailyLimit: 10}})
                 {PAYLOAD} }}""",
            {},
        )
    if operation == "exchangePoints":
        return (
            f"""mutation($m: ID!, $k: String!) {{ exchangePoints(input: {{partnerCode: "pos",
                 partnerRef: $k, memberId: $m, direction: IN, amount: 10}}) {PAYLOAD} }}""",
            {"m": a, "k": key},
        )
    if operation == "markNotificationsRead":
        return (
            f"mutation($m: ID!) {{ markNotificationsRead(input: {{memberId: $m}}) {PAYLOAD} }}",
            {"m": a},
        )
    return None


def subject_for(operation: str, caller: Caller, world: World) -> Subject:
    if operation == "me":  # always the caller itself
        return Subject(caller.principal.member_id, frozenset())
    # programme-wide: no particular member or channel
    if (
        operation in {"tiers", "lifecyclePolicy"}
        or operation in PROGRAMME_WIDE | MALL_PROGRAMME_WIDE | ANALYTICS_PROGRAMME_WIDE
        or operation in SEGMENTS_PROGRAMME_WIDE | GAMES_PROGRAMME_WIDE
        or operation in EXPERIMENTS_PROGRAMME_WIDE
        or operation in WEBHOOKS_OWN_CHANNEL
    ):
        channel = caller.principal.channel
        return Subject(caller.principal.member_id, frozenset({channel} if channel else ()))
    return Subject(int(world.member_a), frozenset({"pos"}))


def refusal_code(operation: str, body: dict[str, Any]) -> str | None:
    if body.get("errors"):
        codes = {error["extensions"].get("code") for error in body["errors"]}
        assert len(codes) == 1, body
        only: str = codes.pop()
        return only
    payload = body["data"][operation]
    if isinstance(payload, dict) and payload.get("__typename") == "EarnBatchPosted":
        (payload,) = payload["results"]  # a batch of one: its item's outcome
    if isinstance(payload, dict) and payload.get("__typename") == "MutationError":
        code: str = payload["code"]
        return code
    return None


def expected_refusal(principal: Principal, operation: str) -> str:
    """Who may not call it at all is told so; who may call it, but not on this hold, entry,
    order or payment, is told it does not exist (as for an id that does not exist)."""
    if principal.is_anonymous:
        return "UNAUTHENTICATED"
    if PERMISSIONS[operation].target is not None and allows(principal, operation):
        return "NOT_FOUND"
    return "FORBIDDEN"


@pytest.fixture
async def world(api: Api) -> World:
    a = await api.register("pos", "a")
    b = await api.register("web", "b")
    await api.earn(a, 1000, "seed-a")
    await api.earn(b, 1000, "seed-b")
    pos_partner = await api.partner_headers(sorted(PARTNER_SCOPES), "pos", "shop")
    return World(api, a, b, pos_partner)


async def callers(world: World) -> list[Caller]:
    api = world.api
    a, b = int(world.member_a), int(world.member_b)
    all_scopes = frozenset(PARTNER_SCOPES)
    return [
        Caller("anonymous", ANONYMOUS, {}),
        Caller("member self", Principal.member(a), api.member_headers(a)),
        Caller("member other", Principal.member(b), api.member_headers(b)),
        *(
            Caller(f"staff {role}", Principal.staff("alice", {role}), api.staff_headers(role))
            for role in Role
        ),
        Caller(
            "partner scoped", Principal.of_partner("shop", "pos", all_scopes), world.pos_partner
        ),
        Caller(
            "partner unscoped",
            Principal.of_partner("bare", "pos", frozenset()),
            await api.partner_headers([], "pos", "bare"),
        ),
        Caller(
            "partner other channel",
            Principal.of_partner("web", "web", all_scopes),
            await api.partner_headers(sorted(all_scopes), "web", "web"),
        ),
    ]


async def test_every_operation_refuses_exactly_whom_the_table_says(world: World) -> None:
    api = world.api
    checked = 0
    for caller in await callers(world):
        for operation in HTTP_OPERATIONS:
            query, variables = await request_for(operation, world)
            before = await api.ledger_state(world.member_a)
            body = await api.call(query, variables, caller.headers)
            code = refusal_code(operation, body)
            where = f"{caller.name} → {operation}: {body}"
            if allows(caller.principal, operation, subject_for(operation, caller, world)):
                assert code not in REFUSALS, where
            else:
                assert code == expected_refusal(caller.principal, operation), where
                assert await api.ledger_state(world.member_a) == before, where
            checked += 1
    assert checked == len(HTTP_OPERATIONS) * 9  # 9 kinds of caller


async def test_a_member_token_cannot_read_or_touch_another_member(world: World) -> None:
    api = world.api
    other = api.member_headers(world.member_b)
    before = await api.ledger_state(world.member_a)
    body = await api.call(
        "query($m: ID!) { member(id: $m) { balance { total } } }", {"m": world.member_a}, other
    )
    assert body["data"] == {"member": None}
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await api.call(
        f"""mutation($m: ID!) {{ updateMemberProfile(input: {{memberId: $m, name: "Eve"}})
             {PAYLOAD} }}""",
        {"m": world.member_a},
        other,
    )
    assert body["data"]["updateMemberProfile"]["code"] == "FORBIDDEN"
    assert await api.ledger_state(world.member_a) == before


async def test_a_partner_sees_only_its_own_channel(world: World) -> None:
    api = world.api
    body = await api.call(
        '{ memberByRef(channel: "web", externalRef: "b") { id } }', None, world.pos_partner
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await api.call(
        "query($m: ID!) { member(id: $m) { id } }", {"m": world.member_b}, world.pos_partner
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    entry = await api.earn(world.member_a, 1, "p1", world.pos_partner)
    assert entry["__typename"] == "PointsPosted"
    # An entry staff posted is not the partner's to reverse.
    staff_entry = await api.earn(world.member_a, 1, "s1")
    body = await api.call(
        f"""mutation($e: ID!) {{ reverseEntry(input: {{entryId: $e, reason: "x",
             idempotencyKey: "r1"}}) {PAYLOAD} }}""",
        {"e": staff_entry["entry"]["id"]},
        world.pos_partner,
    )
    assert body["data"]["reverseEntry"]["code"] == "NOT_FOUND"
