"""Reads on a real streaming replica: queries land there, a member who just earned never sees the
balance go back (replay paused to force lag), a lagging or stopped replica is skipped without an
error, and subscriptions replay from it without a gap."""

from __future__ import annotations

from collections.abc import Callable

from app.clock import FrozenClock
from app.config import Settings
from app.db import create_engine
from app.ledger import queries
from app.ledger import usecases as ledger
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.runtime import Runtime
from tests.events.conftest import serve_app
from tests.eventually import eventually
from tests.graphql.conftest import Api, api_with
from tests.metricsamples import growth, sample
from tests.pg_replica import StreamingReplica
from tests.replicas.conftest import (
    caught_up,
    fetch,
    name_of,
    pause_replay,
    resume_replay,
    with_replica,
)
from tests.wsclient import MEMBER_EVENTS, graphql_ws

BALANCE = "query($m: ID!) { member(id: $m) { balance { available } } }"
SYSTEM = Actor("system:test")


def reads(target: str, reason: str) -> Callable[[], float]:
    return growth("jifen_db_reads_total", target=target, reason=reason)


async def available(api: Api, member: str, headers: dict[str, str]) -> int:
    body = await api.call(BALANCE, {"m": member}, headers)
    assert "errors" not in body, body
    points: int = body["data"]["member"]["balance"]["available"]
    return points


async def earned(api: Api, member: str, amount: int, key: str) -> None:
    result = await api.earn(member, amount, key)
    assert result["__typename"] == "PointsPosted", result


async def earn_unmarked(rt: Runtime, member: str, amount: int, key: str) -> None:
    """A write no GraphQL caller made (a job's, say): no read-your-writes mark."""
    await ledger.earn_points(rt, SYSTEM, Earn(int(member), amount, "job"), idempotency_key=key)


async def replica_balance(replica: StreamingReplica, member: str, rt: Runtime) -> int:
    """What the replica itself holds for the member now."""
    engine = create_engine(replica.url(), pool_size=1)
    try:
        async with engine.connect() as conn:
            return (await queries.balance(conn, int(member), rt.clock.now())).available
    finally:
        await engine.dispose()


async def test_a_query_reads_on_the_replica(
    settings: Settings, clock: FrozenClock, replica: StreamingReplica
) -> None:
    async with api_with(settings, clock, **with_replica(settings, replica)) as api:
        member = await api.register("pos", "a")
        await earned(api, member, 10, "k1")
        await caught_up(replica, settings.database_url or "")
        on_replica = reads("replica", "fresh")
        assert await available(api, member, api.member_headers(member)) == 10
        assert on_replica() >= 1
        # The replica's own sessions ran it: its pool names itself (the last statement a
        # pooled session shows is the pool's reset).
        sessions = await fetch(
            replica.url(),
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'jifen-replica' AND datname = current_database()",
        )
        assert sessions[0][0] >= 1

        # A write nobody asked through GraphQL (no mark) while replay is paused: the replica
        # answers with what it has, which is how we know the read went there.
        await pause_replay(replica)
        await earn_unmarked(api.runtime, member, 5, "job-1")
        assert await replica_balance(replica, member, api.runtime) == 10
        bob = api.staff_headers("admin", name="bob")
        assert await available(api, member, bob) == 10
        await resume_replay(replica)
        await caught_up(replica, settings.database_url or "")
        assert await available(api, member, bob) == 15


async def test_a_member_who_just_earned_never_sees_the_balance_go_back(
    settings: Settings, clock: FrozenClock, replica: StreamingReplica
) -> None:
    async with api_with(settings, clock, **with_replica(settings, replica)) as api:
        member = await api.register("pos", "a")
        await earned(api, member, 10, "k0")
        await caught_up(replica, settings.database_url or "")
        await pause_replay(replica)
        behind = reads("primary", "behind_write")
        expected = 10
        for i in range(1, 6):
            await earned(api, member, 5, f"k{i}")
            expected += 5
            # The member, and the staff who wrote, read at once: never the replica's old value.
            assert await available(api, member, api.member_headers(member)) == expected
            assert await available(api, member, api.staff_headers()) == expected
        assert await replica_balance(replica, member, api.runtime) == 10  # the replica lags
        assert behind() >= 10

        # Once the replica has replayed the writes, the same readers are served there again.
        await resume_replay(replica)
        await caught_up(replica, settings.database_url or "")
        on_replica = reads("replica", "fresh")
        assert await available(api, member, api.member_headers(member)) == expected
        assert on_replica() >= 1


async def test_a_replica_past_the_lag_bound_is_skipped(
    settings: Settings, clock: FrozenClock, replica: StreamingReplica
) -> None:
    bound = 0.5
    async with api_with(
        settings, clock, **with_replica(settings, replica, replica_max_lag_seconds=bound)
    ) as api:
        member = await api.register("pos", "a")
        await caught_up(replica, settings.database_url or "")
        await pause_replay(replica)
        await earn_unmarked(api.runtime, member, 7, "job-1")
        name = name_of(replica)
        await eventually(
            lambda: sample("jifen_db_replica_lag_seconds", replica=name) > bound, within=20
        )
        lagging, on_replica = reads("primary", "lagging"), reads("replica", "fresh")
        bob = api.staff_headers("admin", name="bob")
        assert await available(api, member, bob) == 7  # the primary's answer, not the replica's
        assert lagging() >= 1
        assert on_replica() == 0

        await resume_replay(replica)
        await eventually(
            lambda: sample("jifen_db_replica_lag_seconds", replica=name) == 0, within=20
        )
        on_replica = reads("replica", "fresh")
        assert await available(api, member, bob) == 7
        assert on_replica() >= 1


async def test_a_stopped_replica_leaves_reads_to_the_primary(
    settings: Settings, clock: FrozenClock, replica: StreamingReplica
) -> None:
    async with api_with(settings, clock, **with_replica(settings, replica)) as api:
        member = await api.register("pos", "a")
        await earned(api, member, 10, "k1")
        await caught_up(replica, settings.database_url or "")
        assert await available(api, member, api.member_headers(member)) == 10  # pools a session

        replica.stop()
        down = reads("primary", "down")
        await earned(api, member, 5, "k2")
        for _ in range(3):  # the pooled session is dead, then the replica is known down
            assert await available(api, member, api.member_headers(member)) == 15
        assert down() >= 3
        name = name_of(replica)
        await eventually(lambda: sample("jifen_db_replica_up", replica=name) == 0, within=20)

        replica.start()
        await eventually(lambda: sample("jifen_db_replica_up", replica=name) == 1, within=20)
        await caught_up(replica, settings.database_url or "")
        on_replica = reads("replica", "fresh")
        assert await available(api, member, api.member_headers(member)) == 15
        assert on_replica() >= 1


async def test_a_subscription_replays_from_the_replica_without_a_gap(
    settings: Settings, clock: FrozenClock, replica: StreamingReplica
) -> None:
    changed = settings.model_copy(update=with_replica(settings, replica))
    async for live in serve_app(changed, clock):
        member = await live.api.register("pos", "a")
        await earned(live.api, member, 10, "k1")
        await earned(live.api, member, 20, "k2")
        await caught_up(replica, settings.database_url or "")
        on_replica = reads("replica", "fresh")
        async with graphql_ws(live.ws_url, token=live.member_token(member)) as ws:
            await ws.subscribe("1", MEMBER_EVENTS, {"m": member})
            replayed = await ws.events("1", 3)
            assert [e["balance"] for e in replayed] == [None, {"available": 10}, {"available": 30}]
        assert on_replica() >= 1

        # Replay paused: events the replica lacks were published before the subscription, so
        # its replay must not come from the replica (they would never arrive).
        await pause_replay(replica)
        await earned(live.api, member, 5, "k3")
        await earn_unmarked(live.runtime, member, 5, "job-1")
        behind = reads("primary", "behind_write")
        async with graphql_ws(live.ws_url, token=live.member_token(member)) as ws:
            await ws.subscribe("2", MEMBER_EVENTS, {"m": member})
            replayed = await ws.events("2", 5)
            assert replayed[-1]["balance"] == {"available": 40}
            await earned(live.api, member, 1, "k4")  # and live after it
            assert (await ws.next_data("2"))["memberEvents"]["balance"] == {"available": 41}
        assert behind() >= 1
