"""The mall's and the games' reads on a real streaming replica, and read-your-writes for writes
no GraphQL mutation made (the jobs): with the replica's replay paused, what a read returns
tells where it ran — the replica's old rows, or the primary's new ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.clock import FrozenClock
from app.config import Settings
from app.games.duelrules import DuelMetric, DuelRules, TieRule
from app.games.duels import save_duel_rules
from app.ledger import usecases as ledger
from app.ledger.commands import Earn, PlaceHold
from app.ledger.models import Actor
from app.mall.catalogue import ItemSpec, create_item
from app.mall.policy import ItemKind
from app.runtime import Runtime
from tests.eventually import eventually
from tests.graphql.conftest import Api, api_with
from tests.metricsamples import sample
from tests.pg_replica import StreamingReplica
from tests.replicas.conftest import (
    caught_up,
    name_of,
    pause_replay,
    resume_replay,
    with_replica,
)
from tests.replicas.test_reads import earned, reads

STAFF = Actor("staff:carol", "api")  # a writer whose reads the tests never make
SYSTEM = Actor("system:test")

ITEMS = "{ mallItems(first: 20) { edges { node { code } } } }"
ORDERS = """query($m: ID!) {
  redemptions(memberId: $m) { edges { node { itemId status } } }
}"""
PLACE = """mutation($m: ID!, $i: ID!, $k: String!) {
  placeRedemption(input: {memberId: $m, itemId: $i, idempotencyKey: $k}) {
    __typename ... on MutationError { code message }
  }
}"""
BALANCE = "query($m: ID!) { member(id: $m) { balance { available held } } }"
HISTORY = "query($m: ID!) { member(id: $m) { history(first: 1) { edges { node { amount } } } } }"
DUEL_RULES = "{ duelRules { code } }"


def item(code: str) -> ItemSpec:
    return ItemSpec(code=code, name=code.title(), kind=ItemKind.GOODS, points_price=100)


def duel_rules(code: str) -> DuelRules:
    return DuelRules(code, code.title(), (DuelMetric.POINTS,), 100, 10, TieRule.SPLIT, 24, 72)


async def data(api: Api, query: str, headers: dict[str, str], **variables: Any) -> Any:
    body = await api.call(query, variables, headers)
    assert "errors" not in body, body
    return body["data"]


async def item_codes(api: Api, headers: dict[str, str]) -> set[str]:
    found = await data(api, ITEMS, headers)
    return {edge["node"]["code"] for edge in found["mallItems"]["edges"]}


async def test_the_catalogue_and_the_games_read_on_the_replica_the_primary_when_it_is_gone(
    settings: Settings, clock: FrozenClock, replica: StreamingReplica
) -> None:
    async with api_with(settings, clock, **with_replica(settings, replica)) as api:
        rt = api.runtime
        member = await api.register("pos", "a")
        headers = api.member_headers(member)
        await create_item(rt, STAFF, item("mug"), 10)
        await save_duel_rules(rt, STAFF, duel_rules("pk1"))
        await caught_up(replica, settings.database_url or "")
        # Written while replay is paused, by no one who reads here (no mark): seen only on
        # the primary, so a read that misses them ran on the replica.
        await pause_replay(replica)
        await create_item(rt, STAFF, item("cap"), 10)
        await save_duel_rules(rt, STAFF, duel_rules("pk2"))
        on_replica = reads("replica", "fresh")
        assert await item_codes(api, headers) == {"mug"}
        rules = (await data(api, DUEL_RULES, headers))["duelRules"]
        assert [r["code"] for r in rules] == ["pk1"]
        assert on_replica() >= 2

        await resume_replay(replica)
        await caught_up(replica, settings.database_url or "")
        assert await item_codes(api, headers) == {"mug", "cap"}

        replica.stop()
        name = name_of(replica)
        await eventually(lambda: sample("jifen_db_replica_up", replica=name) == 0, within=20)
        down = reads("primary", "down")
        assert await item_codes(api, headers) == {"mug", "cap"}
        assert down() >= 1


async def test_a_member_who_just_ordered_sees_the_order_and_the_points_held(
    settings: Settings, clock: FrozenClock, replica: StreamingReplica
) -> None:
    async with api_with(settings, clock, **with_replica(settings, replica)) as api:
        member = await api.register("pos", "a")
        await earned(api, member, 500, "k1")
        mug = await create_item(api.runtime, STAFF, item("mug"), 10)
        await caught_up(replica, settings.database_url or "")
        await pause_replay(replica)
        headers = api.member_headers(member)
        placed = await data(api, PLACE, headers, m=member, i=str(mug.id), k="o1")
        assert placed["placeRedemption"]["__typename"] == "RedemptionPayload", placed
        behind = reads("primary", "behind_write")
        orders = (await data(api, ORDERS, headers, m=member))["redemptions"]["edges"]
        assert [o["node"]["itemId"] for o in orders] == [str(mug.id)]
        balance = (await data(api, BALANCE, headers, m=member))["member"]["balance"]
        assert balance == {"available": 400, "held": 100}
        assert behind() >= 2


async def test_a_job_that_voids_a_members_hold_is_seen_by_the_members_next_read(
    settings: Settings, clock: FrozenClock, replica: StreamingReplica
) -> None:
    async with api_with(settings, clock, **with_replica(settings, replica)) as api:
        rt = api.runtime
        member = await api.register("pos", "a")
        await earned(api, member, 500, "k1")
        await _hold(rt, member, 200, expires_in=timedelta(minutes=5))
        await caught_up(replica, settings.database_url or "")
        headers = api.member_headers(member)
        assert (await data(api, BALANCE, headers, m=member))["member"]["balance"]["held"] == 200

        await pause_replay(replica)
        clock.advance(timedelta(minutes=10))
        assert await ledger.void_expired_holds(rt) == 1  # the hold-timeouts job's step
        behind = reads("primary", "behind_write")
        for reader in (headers, api.staff_headers("admin", name="bob")):
            balance = (await data(api, BALANCE, reader, m=member))["member"]["balance"]
            assert balance == {"available": 500, "held": 0}  # never the replica's 300 and 200
        assert behind() >= 2


async def test_the_expiry_sweep_is_seen_by_the_next_read_of_the_members_it_settled(
    settings: Settings, clock: FrozenClock, replica: StreamingReplica
) -> None:
    async with api_with(settings, clock, **with_replica(settings, replica)) as api:
        rt = api.runtime
        member = await api.register("pos", "a")
        await ledger.earn_points(
            rt,
            SYSTEM,
            Earn(int(member), 300, "job", expires_at=clock.now() + timedelta(days=1)),
            idempotency_key="lot-1",
        )
        await caught_up(replica, settings.database_url or "")
        await pause_replay(replica)
        clock.advance(timedelta(days=2))
        assert (await ledger.settle_due_accounts(rt)).expired == 300  # the expiry sweep
        behind = reads("primary", "behind_write")
        history = await data(api, HISTORY, api.member_headers(member), m=member)
        assert [e["node"]["amount"] for e in history["member"]["history"]["edges"]] == [-300]
        assert behind() >= 1


async def _hold(rt: Runtime, member: str, amount: int, *, expires_in: timedelta) -> None:
    await ledger.hold_points(
        rt,
        SYSTEM,
        PlaceHold(int(member), amount, "test", expires_at=rt.clock.now() + expires_in),
        idempotency_key=f"hold-{member}",
    )
