"""Flash sales ("秒杀"): a gate in Redis in front of the database.

The database stays the authority: an order exists only if its transaction reserved stock with
``UPDATE … WHERE stock_left >= n`` and held the points, so nothing can be oversold whatever Redis
says. Redis only decides, atomically in one Lua script, *who may try*: it keeps a counter of
units left and, per business period, units per member, and the members it ever let through. A
buyer it refuses gets ``OUT_OF_STOCK`` (or ``LIMIT_REACHED``) at once, without touching
PostgreSQL — not even for the idempotent replay, which only a member the gate let through
before can need; only about as many buyers as there are units reach the database row, which is
the hot spot otherwise. (Through the API the member's standing is read after the gate too:
app/graphql/core/standing.py.)

Disagreements only ever cost sales, never oversell:

* the gate let a buyer through but the database refused (too few points, a race with staff):
  the use case gives the unit back to the gate;
* the process died between the gate and the commit: the gate is short of a unit until
  :func:`reconcile` (staff, or after a restart) rebuilds it from the database;
* Redis restarted (or evicted the keys): the next buyer finds the gate unarmed and
  :meth:`FlashGate.arm` loads it from the database (``stock_left``, this period's per-member
  counts and the members with an order), guarded so that only one caller arms it;
* Redis is unreachable: buyers go straight to the database path (slower, still exact).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from redis.exceptions import RedisError
from sqlalchemy import func, select

from app import metrics
from app.mall.catalogue import Catalogue
from app.mall.policy import OPEN_OR_DONE, Item, LimitPeriod, period_start
from app.mall.tables import mall_orders
from app.redisclient import RedisClient
from app.runtime import Runtime

log = logging.getLogger("app.mall.flash")

# KEYS: stock, buyers, passed. ARGV: member, quantity, limit (0: none), buyers TTL seconds.
# Returns units left after taking, or -1 out of stock, -2 not armed, -3 member limit reached,
# -4 out of stock for a member the gate let through before (its retry may be a replay).
# ``passed`` holds every member the gate ever let through for the item: only they can have an
# order to replay, so a refusal of anyone else needs no look-up in the database.
TAKE = """
local left = redis.call('GET', KEYS[1])
if not left then return -2 end
left = tonumber(left)
local q = tonumber(ARGV[2])
if left < q then
  if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return -4 end
  return -1
end
local limit = tonumber(ARGV[3])
if limit > 0 then
  local had = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  if had + q > limit then return -3 end
  redis.call('HINCRBY', KEYS[2], ARGV[1], q)
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
redis.call('SADD', KEYS[3], ARGV[1])
return redis.call('DECRBY', KEYS[1], q)
"""

# KEYS: stock, buyers. ARGV: member, quantity, limit. Only gives back to an armed gate. The
# member stays in ``passed``: the order it placed (now cancelled) still replays.
GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
if tonumber(ARGV[3]) > 0 then
  local had = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  if had > 0 then redis.call('HINCRBY', KEYS[2], ARGV[1], -math.min(had, tonumber(ARGV[2]))) end
end
return redis.call('INCRBY', KEYS[1], ARGV[2])
"""

# KEYS: stock, buyers, passed. ARGV: stock, buyers TTL, count of member/count pairs, the pairs,
# then the members who ever ordered the item. Arms once (NX).
ARM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') == false then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
local pairs_end = 3 + 2 * tonumber(ARGV[3])
for i = 4, pairs_end, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if pairs_end > 3 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
for i = pairs_end + 1, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
return 1
"""

# KEYS: stock, passed. The units left and, when none are, every member ever let through: taken
# together, so no member can pass between the two readings.
SOLD_OUT = """
local left = tonumber(redis.call('GET', KEYS[1]) or '-1')
if left ~= 0 then return {left, {}} end
return {left, redis.call('SMEMBERS', KEYS[2])}
"""

# KEYS: passed. ARGV: member. An order placed while the gate was unreachable.
NOTE_PASSED = "return redis.call('SADD', KEYS[1], ARGV[1])"

BUYERS_TTL_SECONDS = 40 * 24 * 3600  # longer than any period a limit counts over


class Verdict(Enum):
    TAKEN = "taken"
    OUT_OF_STOCK = "out_of_stock"  # and the member never passed: nothing of its to replay
    OUT_OF_STOCK_PASSED = "out_of_stock_passed"  # a member who passed before: maybe a replay
    LIMIT_REACHED = "limit_reached"
    NOT_ARMED = "not_armed"
    UNAVAILABLE = "unavailable"  # Redis unreachable: go to the database directly


REFUSALS = {
    -1: Verdict.OUT_OF_STOCK,
    -2: Verdict.NOT_ARMED,
    -3: Verdict.LIMIT_REACHED,
    -4: Verdict.OUT_OF_STOCK_PASSED,
}


@dataclass(frozen=True)
class Ticket:
    """A unit (or more) the gate let through, to be given back if the database refuses."""

    item_id: int
    member_id: int
    quantity: int
    limit: int
    period: str


def period_key(item: Item, now: datetime, tz: str) -> str:
    start = period_start(now, item.limit_period or LimitPeriod.EVER, tz)
    return "ever" if start is None else start.date().isoformat()


class FlashGate:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._take = redis.register_script(TAKE)
        self._give_back = redis.register_script(GIVE_BACK)
        self._arm = redis.register_script(ARM)
        self._note_passed = redis.register_script(NOTE_PASSED)
        self._sold_out = redis.register_script(SOLD_OUT)

    @staticmethod
    def keys(item_id: int, period: str) -> list[str]:
        """Stock, this period's units per member, and the members ever let through. One hash
        tag per item: the Lua scripts touch all three, so in a Redis Cluster they share a slot."""
        tag = f"mall:flash:{{{item_id}}}"
        return [f"{tag}:stock", f"{tag}:buyers:{period}", f"{tag}:passed"]

    async def take(self, ticket: Ticket) -> Verdict:
        try:
            left = int(
                await self._take(
                    keys=self.keys(ticket.item_id, ticket.period),
                    args=[ticket.member_id, ticket.quantity, ticket.limit, BUYERS_TTL_SECONDS],
                )
            )
        except RedisError as error:
            metrics.redis_errors.labels("flash_gate").inc()
            log.warning("flash gate unavailable, deciding in the database: %s", error)
            return Verdict.UNAVAILABLE
        return REFUSALS.get(left, Verdict.TAKEN)

    async def give_back(self, ticket: Ticket) -> None:
        try:
            await self._give_back(
                keys=self.keys(ticket.item_id, ticket.period),
                args=[ticket.member_id, ticket.quantity, ticket.limit],
            )
        except RedisError as error:  # the gate stays short until reconciled: undersell only
            metrics.redis_errors.labels("flash_gate").inc()
            log.warning("flash gate: could not give back %s: %s", ticket, error)

    async def note_passed(self, ticket: Ticket) -> None:
        """An order placed while the gate could not be asked: its member's retries may replay."""
        try:
            await self._note_passed(
                keys=self.keys(ticket.item_id, ticket.period)[2:], args=[ticket.member_id]
            )
        except RedisError as error:  # a retry after the sell-out answers OUT_OF_STOCK instead
            metrics.redis_errors.labels("flash_gate").inc()
            log.warning("flash gate: could not note %s: %s", ticket, error)

    async def arm(
        self,
        stock_left: int,
        item_id: int,
        period: str,
        buyers: dict[int, int],
        passed: list[int],
    ) -> bool:
        pairs: list[int] = []
        for member_id, count in buyers.items():
            pairs += [member_id, count]
        try:
            armed = await self._arm(
                keys=self.keys(item_id, period),
                args=[stock_left, BUYERS_TTL_SECONDS, len(buyers), *pairs, *passed],
            )
        except RedisError as error:  # the next take finds it unarmed again, or unavailable
            metrics.redis_errors.labels("flash_gate").inc()
            log.warning("flash gate: could not arm item %s: %s", item_id, error)
            return False
        return bool(armed)

    async def adjust_stock(self, item_id: int, delta: int) -> None:
        """Staff restocked (or removed units): move an armed gate by the same amount."""
        key = self.keys(item_id, "-")[0]
        try:
            if await self.redis.exists(key):
                await self.redis.incrby(key, delta)
        except RedisError as error:
            metrics.redis_errors.labels("flash_gate").inc()
            log.warning("flash gate: could not adjust %s: %s", key, error)

    async def sold_out(self, item_id: int) -> frozenset[int] | None:
        """The members ever let through, if the item has no unit left; None otherwise (or
        when Redis cannot say)."""
        stock, _, passed = self.keys(item_id, "-")
        try:
            left, members = await self._sold_out(keys=[stock, passed])
        except RedisError as error:
            metrics.redis_errors.labels("flash_gate").inc()
            log.warning("flash gate: could not read item %s: %s", item_id, error)
            return None
        return frozenset(int(m) for m in members) if int(left) == 0 else None

    async def disarm(self, item_id: int) -> None:
        stock, _, passed = self.keys(item_id, "-")
        await self.redis.delete(stock, passed)

    async def left(self, item_id: int) -> int | None:
        raw = await self.redis.get(self.keys(item_id, "-")[0])
        return None if raw is None else int(raw)


async def arm_from_database(rt: Runtime, item: Item) -> None:
    """Load the gate from the authority: units left and this period's units per member."""
    now = rt.clock.now()
    period = period_key(item, now, rt.settings.timezone)
    async with rt.engine.connect() as conn:
        current = await Catalogue(conn, rt.clock).get(item.id)
        buyers: dict[int, int] = {}
        if item.per_member_limit is not None:
            since = period_start(now, item.limit_period or LimitPeriod.EVER, rt.settings.timezone)
            query = (
                select(mall_orders.c.member_id, func.sum(mall_orders.c.quantity))
                .where(
                    mall_orders.c.item_id == item.id,
                    mall_orders.c.status.in_([s.value for s in OPEN_OR_DONE]),
                )
                .group_by(mall_orders.c.member_id)
            )
            if since is not None:
                query = query.where(mall_orders.c.created_at >= since)
            buyers = {m: int(n) for m, n in (await conn.execute(query)).all()}
        ordered = select(mall_orders.c.member_id).where(mall_orders.c.item_id == item.id)
        passed = list((await conn.execute(ordered.distinct())).scalars())
    await FlashGate(rt.redis).arm(current.stock_left or 0, item.id, period, buyers, passed)


async def arm_once(rt: Runtime, item: Item) -> None:
    """Arm an unarmed gate, once per process at a time: a rush's first buyers all find it
    unarmed, and each reading the database to arm it (three queries, of which one arms) kept
    the first winners waiting for the pool. A caller who finds it being armed waits for that
    and takes again (an arming that failed leaves it unarmed: the take says so). One lock per
    item: a buyer of another item does not wait for this one's arming and then find its own
    gate still unarmed."""
    arming: asyncio.Lock = rt.caches.setdefault(f"mall.flash_arming:{item.id}", asyncio.Lock())
    if arming.locked():
        async with arming:  # nothing to do inside: only to wait for the arming under way
            return
    async with arming:
        await arm_from_database(rt, item)


async def reconcile(rt: Runtime, item_id: int) -> int:
    """Rebuild the gate from PostgreSQL (after a crash, or when they disagree); returns the
    units the gate now has. Run it while no sale is mid-rush: a buyer between the gate and the
    database during the rebuild is counted once by the database and possibly again by the gate,
    which can only let one extra buyer *try* (the database still refuses it)."""
    async with rt.engine.connect() as conn:
        item = await Catalogue(conn, rt.clock).get(item_id)
    gate = FlashGate(rt.redis)
    await gate.disarm(item_id)
    await arm_from_database(rt, item)
    return await gate.left(item_id) or 0


class ItemCache:
    """Flash items read from the database at most once a second per process: during a rush the
    refused buyers then cost no database query at all."""

    def __init__(self, ttl: float = 1.0) -> None:
        self.ttl = ttl
        self._items: dict[int, tuple[float, Item]] = {}
        self._loading = asyncio.Lock()  # a rush's first requests load the item once, not each

    async def get(self, rt: Runtime, item_id: int) -> Item:
        seen = self._items.get(item_id)
        if seen is not None and (seen[0] > time.monotonic() or self._loading.locked()):
            # Fresh, or being read again by another request: the item as read a moment ago
            # until that read is back. Waiting for it stalled every request of the process, a
            # rush's winners too, once a second (docs/DECISIONS.md, "The flash gate's stalls").
            return seen[1]
        async with self._loading:
            cached = self._fresh(item_id)
            if cached is not None:
                return cached
            async with rt.engine.connect() as conn:
                item = await Catalogue(conn, rt.clock).get(item_id)
            self._items[item_id] = (time.monotonic() + self.ttl, item)
            return item

    def _fresh(self, item_id: int) -> Item | None:
        cached = self._items.get(item_id)
        return cached[1] if cached is not None and cached[0] > time.monotonic() else None


def item_cache(rt: Runtime) -> ItemCache:
    cache: ItemCache = rt.caches.setdefault("mall.flash_items", ItemCache())
    return cache


class SoldOut:
    """Items this process saw sold out, with the members the gate had let through then: for a
    short while every other buyer is refused here, without a Redis round trip (the rush's late
    buyers are most of it). A member who passed goes to the gate as before (its retry may be a
    replay). A unit given back elsewhere (a cancellation, a restock in another process) is
    seen at most ``ttl`` late — a short delay to a sale, never an oversell: only refusals are
    answered here. Given back in this process, the item is forgotten at once."""

    def __init__(self, ttl: float = 0.25) -> None:
        self.ttl = ttl
        self._items: dict[int, tuple[float, frozenset[int]]] = {}
        self._reading: set[int] = set()

    def refuses(self, item_id: int, member_id: int) -> bool:
        passed = self._fresh(item_id)
        return passed is not None and member_id not in passed

    def _fresh(self, item_id: int) -> frozenset[int] | None:
        seen = self._items.get(item_id)
        return seen[1] if seen is not None and seen[0] > time.monotonic() else None

    async def note(self, gate: FlashGate, item_id: int) -> None:
        """The gate refused a buyer for want of stock: read once whether the item has none
        left, and who passed (concurrent refusals do not read it again)."""
        if item_id in self._reading or self._fresh(item_id) is not None:
            return
        self._reading.add(item_id)
        try:
            passed = await gate.sold_out(item_id)
        finally:
            self._reading.discard(item_id)
        if passed is not None:
            self._items[item_id] = (time.monotonic() + self.ttl, passed)

    def forget(self, item_id: int) -> None:
        self._items.pop(item_id, None)


def sold_out(rt: Runtime) -> SoldOut:
    flags: SoldOut = rt.caches.setdefault("mall.flash_sold_out", SoldOut())
    return flags
