"""What every points game shares (docs/GAMES.md): a game row that each take-part and the close
lock first, stakes held through the ledger, the close by the clock's time, the reads.

A game (an auction, a campaign, a duel) is a row of its own table with a ``code``, a
``status`` (``open`` until it closes) and an ``ends_at``; its stakes (bids, pledges) are rows
with a ``hold_id`` and a ``status``. :class:`GameService` is the base of each game's service;
:class:`GameKind` and :class:`StakeKind` say which tables and how a row becomes a value.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import Row, Table, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import unit_of_work
from app.errors import DomainError, ErrorCode, not_found
from app.events.outbox import SIGNAL_PREFIX, append_event
from app.ledger.commands import PlaceHold, VoidHold
from app.ledger.idempotency import idempotent_replayed
from app.ledger.models import Actor
from app.ledger.service import Ledger, LedgerPolicy
from app.runtime import Runtime

# A stake's hold outlives its game's end by this much: the close job commits or voids it long
# before, and the ledger's generic hold time-out never races the close.
HOLD_GRACE = timedelta(days=1)
SYSTEM = Actor("system", "jobs")
OPEN = "open"

G = TypeVar("G")
S = TypeVar("S")
T = TypeVar("T")
Service = TypeVar("Service", bound="GameService[Any, Any]")


def from_row(cls: type[T], row: Row[Any], enums: Mapping[str, type[StrEnum]]) -> T:
    """A frozen dataclass from a row of the same columns, ``enums`` turning text into enums
    (a null stays None)."""
    m = row._mapping
    values = {f.name: m[f.name] for f in fields(cls)}  # type: ignore[arg-type]
    for name, kind in enums.items():
        values[name] = None if values[name] is None else kind(values[name])
    return cls(**values)


@dataclass(frozen=True)
class Game:
    """What every game row has (each game's value adds its own columns)."""

    id: int
    code: str
    name: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    closed_at: datetime | None

    def figures(self) -> dict[str, Any]:
        """What the game's change signal carries besides its id, code and status."""
        return {}

    def payload(self) -> dict[str, Any]:
        status: StrEnum = getattr(self, "status")  # noqa: B009 (each game's own enum)
        return {"id": self.id, "code": self.code, "status": status.value, **self.figures()}


@dataclass(frozen=True)
class Stake:
    """What every stake row has: its member's points held (``hold_id``) while it stands."""

    id: int
    member_id: int
    amount: int
    hold_id: int
    created_at: datetime


@dataclass(frozen=True)
class GameKind(Generic[G]):
    """A game's table: what it is called in refusals and how a row becomes a value."""

    table: Table
    noun: str  # "auction": NOT_FOUND's wording and the signal topic's
    field: str  # "auctionId": the input field an unknown id is blamed on
    load: Callable[[Row[Any]], G]

    @classmethod
    def of(
        cls, table: Table, value: type[G], status: type[StrEnum], outcome: type[StrEnum]
    ) -> GameKind[G]:
        noun = table.name.removesuffix("s")
        enums = {"status": status, "outcome": outcome}
        return cls(table, noun, f"{noun}Id", lambda row: from_row(value, row, enums))

    def topic(self, game_id: int) -> str:
        """The game's change signal: its watchers re-read it on each burst."""
        return f"{SIGNAL_PREFIX}{self.noun}:{game_id}"


@dataclass(frozen=True)
class StakeKind(Generic[S]):
    """A game's stakes (bids, pledges): each holds its member's points while it stands."""

    table: Table
    load: Callable[[Row[Any]], S]
    key: str  # what an idempotency key's stored answer calls the stake's id ("bid_id")
    reference: str  # its hold's reference: "<reference>:<stake id>"

    @classmethod
    def of(
        cls, table: Table, value: type[S], status: type[StrEnum], key: str, reference: str
    ) -> StakeKind[S]:
        return cls(table, lambda row: from_row(value, row, {"status": status}), key, reference)


@dataclass(frozen=True)
class CloseOutcome:
    closed: int
    skipped: int


class GameService(Generic[G, S]):
    """The mechanics every game's service shares, inside a transaction it is given."""

    game: GameKind[G]
    stake: StakeKind[S]

    def __init__(self, conn: AsyncConnection, rt: Runtime) -> None:
        self.conn = conn
        self.rt = rt
        self.clock = rt.clock
        self.ledger = Ledger(conn, rt.clock, LedgerPolicy.from_settings(rt.settings))

    # ------------------------------------------------------------------------------ games

    async def insert_game(self, spec: Any, actor: Actor, **more: Any) -> G:
        """A new game row, open, of its spec's fields (``more``: columns the spec does not
        name); ALREADY_EXISTS when its code is taken."""
        spec.check(self.clock.now())
        table, code = self.game.table, spec.code
        values = {f.name: getattr(spec, f.name) for f in fields(spec)} | more
        values |= {"status": OPEN, "created_by": actor.principal, "created_at": self.clock.now()}
        inserted = insert(table).values(values).on_conflict_do_nothing(index_elements=["code"])
        row = (await self.conn.execute(inserted.returning(*table.c))).first()
        if row is None:
            raise DomainError(ErrorCode.ALREADY_EXISTS, f"{self.game.noun} {code} exists", "code")
        return self.game.load(row)

    async def get(self, game_id: int) -> G:
        return await self._read(game_id, lock=False)

    async def lock(self, game_id: int) -> G:
        """The game row locked (``FOR UPDATE``): what every take-part and the close do first."""
        return await self._read(game_id, lock=True)

    async def _read(self, game_id: int, *, lock: bool) -> G:
        table = self.game.table
        query = select(table).where(table.c.id == game_id)
        row = (await self.conn.execute(query.with_for_update() if lock else query)).first()
        if row is None:
            raise not_found(self.game.noun, game_id, self.game.field)
        return self.game.load(row)

    async def create(self, spec: Any, actor: Actor) -> G:
        raise NotImplementedError

    async def close(self, game_id: int, actor: Actor) -> G:
        raise NotImplementedError

    async def by_code(self, code: str) -> G:
        table = self.game.table
        return self.game.load(
            (await self.conn.execute(select(table).where(table.c.code == code))).one()
        )

    async def lock_open_due(self, game_id: int) -> G:
        """The game locked for its close: refused (INVALID_STATE) unless open and ended."""
        game = await self.lock(game_id)
        row: Any = game
        if row.status != OPEN:
            raise DomainError(ErrorCode.INVALID_STATE, f"{self.game.noun} {game_id} is closed")
        if row.ends_at > self.clock.now():
            raise DomainError(
                ErrorCode.INVALID_STATE,
                f"{self.game.noun} {game_id} ends at {row.ends_at.isoformat()}",
            )
        return game

    async def mark_closed(self, game_id: int, **values: Any) -> None:
        table = self.game.table
        await self.conn.execute(
            table.update()
            .where(table.c.id == game_id)
            .values(status="closed", closed_at=self.clock.now(), **values)
        )

    async def listing(self, *, open_only: bool, first: int) -> list[G]:
        """Soonest end first: the open games, or all."""
        table = self.game.table
        query = select(table)
        if open_only:
            query = query.where(table.c.status == OPEN)
        query = query.order_by(table.c.ends_at, table.c.id).limit(first)
        return [self.game.load(r) for r in await self.conn.execute(query)]

    async def players(self, game_id: int) -> list[int]:
        """The members whose points the game holds or held: those its close may have paid,
        refunded or charged."""
        table = self.stake.table
        found = await self.conn.scalars(
            select(table.c.member_id).where(table.c[f"{self.game.noun}_id"] == game_id).distinct()
        )
        return list(found.all())

    async def due_ids(self, limit: int) -> list[int]:
        """The open games whose end, by the clock, has passed: soonest first."""
        table = self.game.table
        found = await self.conn.scalars(
            select(table.c.id)
            .where(table.c.status == OPEN, table.c.ends_at <= self.clock.now())
            .order_by(table.c.ends_at, table.c.id)
            .limit(limit)
        )
        return list(found.all())

    async def signal(self, game_id: int, event_type: str) -> None:
        """The game's change signal, with what it is now (in the writing transaction)."""
        game: Any = await self.get(game_id)
        await append_event(self.conn, self.game.topic(game_id), event_type, game.payload())

    # ----------------------------------------------------------------------------- stakes

    async def place_stake(
        self,
        game_id: int,
        ends_at: datetime,
        hold: tuple[int, int, str],
        actor: Actor,
        **row: Any,
    ) -> S:
        """A new stake of the game holding ``hold`` = (member, amount, reason) until a day
        after the game's end ``ends_at`` (``row``: its status and the columns of its own)."""
        table, (member_id, amount, reason) = self.stake.table, hold
        stake_id = int(
            await self.conn.scalar(
                text(f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id'))")
            )
        )
        held = await self.ledger.hold(
            PlaceHold(
                member_id=member_id,
                amount=amount,
                reason=reason,
                reference=f"{self.stake.reference}:{stake_id}",
                expires_at=ends_at + HOLD_GRACE,
            ),
            actor,
        )
        values = {
            "id": stake_id,
            f"{self.game.noun}_id": game_id,
            "member_id": member_id,
            "amount": amount,
            "hold_id": held.id,
            "created_at": self.clock.now(),
        }
        inserted = await self.conn.execute(
            table.insert().values(**values, **row).returning(*table.c)
        )
        return self.stake.load(inserted.one())

    async def get_stake(self, stake_id: int) -> S:
        table = self.stake.table
        return self.stake.load(
            (await self.conn.execute(select(table).where(table.c.id == stake_id))).one()
        )

    async def stakes_of(self, member_id: int, *, first: int) -> list[S]:
        """A member's stakes, newest first."""
        table = self.stake.table
        rows = await self.conn.execute(
            select(table)
            .where(table.c.member_id == member_id)
            .order_by(table.c.id.desc())
            .limit(first)
        )
        return [self.stake.load(r) for r in rows]

    async def set_stake(self, stake_id: int, status: StrEnum) -> None:
        table = self.stake.table
        await self.conn.execute(
            table.update().where(table.c.id == stake_id).values(status=status.value)
        )

    async def release(
        self, stake_id: int, hold_id: int, status: StrEnum, reason: str, actor: Actor
    ) -> None:
        """The stake's hold voided (its points back into their lots) and its new state."""
        await self.ledger.void_hold(VoidHold(hold_id=hold_id, reason=reason), actor)
        await self.set_stake(stake_id, status)


# ------------------------------------------------------------------------------ use cases


async def writing(
    rt: Runtime, service: type[Service], work: Callable[[Service], Awaitable[T]]
) -> T:
    """``work`` on the game's service in one unit of work."""
    async with unit_of_work(rt.engine) as conn:
        return await work(service(conn, rt))


async def reading(
    rt: Runtime, service: type[Service], work: Callable[[Service], Awaitable[T]], *members: int
) -> T:
    """``work`` on the game's service for a read that decides nothing: on a replica when a
    query asks and one has seen the last writes of its caller and ``members`` (``rt.read``)."""
    async with rt.read(*members) as conn:
        return await work(service(conn, rt))


@dataclass(frozen=True)
class Taken(Generic[S, G]):
    """A take-part's answer: the stake, the game after it, and whether it was a replay."""

    stake: S
    game: G
    replayed: bool


class GameApi(Generic[G, S]):
    """A game's use cases, one unit of work each, over its service: what GraphQL, the seed
    and the tests call."""

    def __init__(self, service: type[GameService[G, S]]) -> None:
        self.service = service

    async def create(self, rt: Runtime, actor: Actor, spec: Any) -> G:
        return await writing(rt, self.service, lambda s: s.create(spec, actor))

    async def ensure(self, rt: Runtime, actor: Actor, spec: Any) -> G:
        """Create the game unless one with its code exists (the demo seed)."""
        try:
            return await self.create(rt, actor, spec)
        except DomainError as error:
            if error.code is not ErrorCode.ALREADY_EXISTS:
                raise
        return await reading(rt, self.service, lambda s: s.by_code(spec.code))

    async def close(self, rt: Runtime, actor: Actor, game_id: int) -> G:
        return await writing(rt, self.service, lambda s: s.close(game_id, actor))

    async def close_due(self, rt: Runtime, *, limit: int = 200) -> CloseOutcome:
        """The closing job's step for this kind of game: every open one whose end (by the
        clock) has passed, each in its own transaction."""
        return await self.sweep(rt, lambda s: s.due_ids(limit), lambda s, i: s.close(i, SYSTEM))

    async def sweep(
        self,
        rt: Runtime,
        due: Callable[[Any], Awaitable[list[int]]],
        close: Callable[[Any, int], Awaitable[object]],
    ) -> CloseOutcome:
        """``close`` each game ``due`` finds, each in its own transaction. Safe to run
        concurrently: the row lock and the state check decide."""
        found = await reading(rt, self.service, due)
        closed = skipped = 0
        for game_id in found:

            async def close_one(s: GameService[G, S], game_id: int = game_id) -> list[int]:
                await close(s, game_id)
                return await s.players(game_id)

            try:
                players = await writing(rt, self.service, close_one)
            except DomainError:
                skipped += 1  # closed by another run, or extended by a last bid meanwhile
                continue
            await rt.members_written(players)
            closed += 1
        return CloseOutcome(closed, skipped)

    async def get(self, rt: Runtime, game_id: int) -> G:
        return await reading(rt, self.service, lambda s: s.get(game_id))

    async def listing(self, rt: Runtime, *, open_only: bool, first: int) -> list[G]:
        return await reading(
            rt, self.service, lambda s: s.listing(open_only=open_only, first=first)
        )

    async def stakes_of(self, rt: Runtime, member_id: int, *, first: int) -> list[S]:
        return await reading(
            rt, self.service, lambda s: s.stakes_of(member_id, first=first), member_id
        )

    def taking_part(
        self,
        operation: str,
        step: Callable[..., Awaitable[S]],
    ) -> Callable[..., Awaitable[Taken[S, G]]]:
        """The use case of one way of taking part (a bid, a pledge, a withdrawal): ``step`` is
        the service's method, called with the actor and the request's fields by name
        (``member_id``, ``<game>_id``, …). Idempotent per caller and ``idempotency_key``: the
        same key again returns the same stake; the request is what the key is checked
        against."""
        game_field = f"{self.service.game.noun}_id"

        async def take_part(
            rt: Runtime, actor: Actor, *, idempotency_key: str, **request: int
        ) -> Taken[S, G]:
            async with unit_of_work(rt.engine) as conn:
                svc = self.service(conn, rt)
                stake, replayed = await once(
                    svc,
                    actor,
                    (operation, idempotency_key, request),
                    lambda: step(svc, actor, **request),
                    svc.stake.key,
                    svc.get_stake,
                )
                return Taken(stake, await svc.get(request[game_field]), replayed)

        return take_part


async def once(
    svc: GameService[Any, Any],
    actor: Actor,
    asked: tuple[str, str, dict[str, Any]],
    run: Callable[[], Awaitable[T]],
    name: str,
    load: Callable[[int], Awaitable[T]],
) -> tuple[T, bool]:
    """``run`` once per caller and idempotency key: ``asked`` is (operation, key, request);
    the answer is stored as its id under ``name`` and loaded again by ``load`` on a replay."""
    operation, key, request = asked
    return await idempotent_replayed(
        svc.conn,
        key=key,
        operation=operation,
        request=request,
        caller=actor.principal,
        now=svc.clock.now(),
        run=run,
        dump=lambda answer: {name: getattr(answer, "id")},  # noqa: B009
        load=lambda stored: load(int(stored[name])),
    )
