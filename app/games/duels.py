"""PK duels (积分PK赛): a member challenges another on a metric over a window, each side's
stake held through the ledger; the higher score at the end takes both (docs/GAMES.md).

The flow of points (every one through the ledger, so ``jifen audit`` ties it):

* a challenge holds the challenger's stake (reference ``duel:<id>:challenger``); an accept
  holds the opponent's (``duel:<id>:opponent``); a decline, an expiry, a tie or a void voids
  what is held (the points back into the very lots they came from);
* a win: the loser's hold is **committed to the games clearing account** (a ``spend`` of the
  loser's, debit loser → credit ``games``), the winner's own hold is voided, and the winner
  **earns the same amount from the games account** (an ``earn``, debit ``games`` → credit
  winner, reference ``duel:<id>:stakes``) in the same transaction: the clearing account nets
  to zero after every duel, which the ledger's audit checks for every clearing account;
* the programme's reward (``rewardPoints`` of the rules) is an ordinary earn from issuance
  (``duel:<id>:reward``), to the winner, or split over a tie when the rules say so.

Every answer and the close lock the duel row first, then both accounts in member id order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert

from app.earning.tables import purchases
from app.engagement.tables import sign_ins
from app.errors import DomainError, ErrorCode, not_found
from app.events.outbox import append_event, member_topic
from app.games.duelrules import (
    Challenge,
    DuelMetric,
    DuelOutcome,
    DuelRules,
    DuelStatus,
    TieRule,
    Verdict,
    check_answer,
    decide,
    longest_run,
    tie_share,
)
from app.games.lifecycle import (
    HOLD_GRACE,
    SYSTEM,
    GameApi,
    GameKind,
    GameService,
    from_row,
    once,
    writing,
)
from app.games.tables import duel_rules, duels
from app.ledger.accounts import ensure_programme_account, lock_account, member_statuses
from app.ledger.commands import CommitHold, Earn, PlaceHold, VoidHold
from app.ledger.models import Actor, MemberStatus
from app.ledger.queries import earned_between
from app.runtime import Runtime

GAMES_ACCOUNT = "games"  # the clearing account a lost stake passes through to the winner


@dataclass(frozen=True)
class RulesRecord:
    id: int
    rules: DuelRules
    updated_at: datetime


def _rules(row: Any) -> RulesRecord:
    rules = DuelRules(
        code=row.code,
        name=row.name,
        metrics=tuple(DuelMetric(m) for m in row.metrics),
        max_stake=row.max_stake,
        reward_points=row.reward_points,
        tie_rule=TieRule(row.tie_rule),
        accept_hours=row.accept_hours,
        max_hours=row.max_hours,
        enabled=row.enabled,
    )
    return RulesRecord(row.id, rules, row.updated_at)


@dataclass(frozen=True)
class Duel:
    id: int
    rules_id: int
    challenger_id: int
    opponent_id: int
    metric: DuelMetric
    stake: int
    reward_points: int
    tie_rule: TieRule
    window_hours: int
    accept_by: datetime
    status: DuelStatus
    outcome: DuelOutcome | None
    starts_at: datetime | None
    ends_at: datetime | None
    challenger_hold_id: int | None
    opponent_hold_id: int | None
    challenger_score: int | None
    opponent_score: int | None
    winner_id: int | None
    winnings_entry_id: int | None
    challenger_reward_entry_id: int | None
    opponent_reward_entry_id: int | None
    created_at: datetime
    closed_at: datetime | None

    def payload(self) -> dict[str, Any]:
        return {
            "duel_id": self.id,
            "challenger_id": self.challenger_id,
            "opponent_id": self.opponent_id,
            "metric": self.metric.value,
            "stake": self.stake,
            "status": self.status.value,
            "outcome": None if self.outcome is None else self.outcome.value,
            "winner_id": self.winner_id,
            "challenger_score": self.challenger_score,
            "opponent_score": self.opponent_score,
        }


@dataclass(frozen=True)
class Scored:
    """A duel with its scores: live while its window runs, frozen once closed."""

    duel: Duel
    challenger_score: int
    opponent_score: int


DUEL = GameKind(
    duels,
    "duel",
    "duelId",
    lambda row: from_row(
        Duel,
        row,
        {
            "metric": DuelMetric,
            "tie_rule": TieRule,
            "status": DuelStatus,
            "outcome": DuelOutcome,
        },
    ),
)


class Duels(GameService[Duel, Any]):
    """Rules, challenges, answers, the close and the expiry, under the duel's row lock."""

    game = DUEL

    # ------------------------------------------------------------------------------- rules

    async def save_rules(self, rules: DuelRules, actor: Actor) -> RulesRecord:
        """Create or change a set of rules by its code: a change binds new challenges only
        (a duel keeps the terms it was made with)."""
        rules.check()
        values = {
            "name": rules.name,
            "metrics": [m.value for m in rules.metrics],
            "max_stake": rules.max_stake,
            "reward_points": rules.reward_points,
            "tie_rule": rules.tie_rule.value,
            "accept_hours": rules.accept_hours,
            "max_hours": rules.max_hours,
            "enabled": rules.enabled,
            "updated_by": actor.principal,
            "updated_at": self.clock.now(),
        }
        upsert = insert(duel_rules).values(code=rules.code, **values)
        row = await self.conn.execute(
            upsert.on_conflict_do_update(index_elements=["code"], set_=values).returning(
                *duel_rules.c
            )
        )
        return _rules(row.one())

    async def rules(self, code: str) -> RulesRecord:
        row = (await self.conn.execute(select(duel_rules).where(duel_rules.c.code == code))).first()
        if row is None:
            raise not_found("duel rules", code, "rules")
        return _rules(row)

    async def all_rules(self) -> list[RulesRecord]:
        rows = await self.conn.execute(select(duel_rules).order_by(duel_rules.c.code))
        return [_rules(r) for r in rows]

    # ---------------------------------------------------------------------------- writes

    async def challenge(self, actor: Actor, code: str, challenge: Challenge) -> Duel:
        """The challenger's stake held; the opponent told on its events."""
        record = await self.rules(code)
        rules = record.rules
        challenge.check(rules)
        await self._lock_both(challenge.challenger_id, challenge.opponent_id)
        statuses = await member_statuses(
            self.conn, [challenge.challenger_id, challenge.opponent_id]
        )
        if statuses[challenge.opponent_id] is not MemberStatus.ACTIVE:
            raise DomainError(
                ErrorCode.MEMBER_NOT_ACTIVE, "the opponent may not take part now", "opponentId"
            )
        now = self.clock.now()
        accept_by = now + timedelta(hours=rules.accept_hours)
        row = await self.conn.execute(
            duels.insert()
            .values(
                rules_id=record.id,
                challenger_id=challenge.challenger_id,
                opponent_id=challenge.opponent_id,
                metric=challenge.metric.value,
                stake=challenge.stake,
                reward_points=rules.reward_points,
                tie_rule=rules.tie_rule.value,
                window_hours=challenge.hours,
                accept_by=accept_by,
                status=DuelStatus.PENDING.value,
                created_by=actor.principal,
                created_at=now,
            )
            .returning(duels.c.id)
        )
        duel_id = int(row.scalar_one())
        # The challenger's hold lasts until the latest end an accept could give, and a day.
        until = accept_by + timedelta(hours=challenge.hours)
        hold = await self._hold(duel_id, challenge.challenger_id, challenge.stake, until, actor)
        await self._set(duel_id, challenger_hold_id=hold)
        await self._announce(await self.get(duel_id), "duel.challenged")
        return await self.get(duel_id)

    async def answer(self, actor: Actor, member_id: int, duel_id: int, *, accept: bool) -> Duel:
        """The opponent accepts (its stake held, the window starts now) or declines (the
        challenger's stake released)."""
        duel = await self.lock(duel_id)
        if duel.opponent_id != member_id:
            raise not_found("duel", duel_id, "duelId")  # not a challenge to this member
        now = self.clock.now()
        check_answer(duel.status, now >= duel.accept_by, duel.accept_by.isoformat())
        await self._lock_both(duel.challenger_id, duel.opponent_id)
        if not accept:
            await self._void(duel.challenger_hold_id, "duel declined", actor)
            await self.mark_closed(duel_id, outcome=DuelOutcome.DECLINED.value)
            await self._announce(await self.get(duel_id), "duel.declined")
            return await self.get(duel_id)
        ends_at = now + timedelta(hours=duel.window_hours)
        hold = await self._hold(duel_id, member_id, duel.stake, ends_at, actor, "opponent")
        await self._set(
            duel_id,
            status=DuelStatus.OPEN.value,
            starts_at=now,
            ends_at=ends_at,
            opponent_hold_id=hold,
        )
        await self._announce(await self.get(duel_id), "duel.accepted")
        return await self.get(duel_id)

    async def expire(self, duel_id: int, actor: Actor) -> Duel:
        """A challenge not accepted by its deadline (by the clock): the stake released."""
        duel = await self.lock(duel_id)
        if duel.status is not DuelStatus.PENDING or duel.accept_by > self.clock.now():
            raise DomainError(ErrorCode.INVALID_STATE, f"duel {duel_id} is not due to expire")
        await lock_account(self.conn, duel.challenger_id)
        await self._void(duel.challenger_hold_id, "duel not accepted in time", actor)
        await self.mark_closed(duel_id, outcome=DuelOutcome.EXPIRED.value)
        await self._announce(await self.get(duel_id), "duel.expired")
        return await self.get(duel_id)

    async def close(self, game_id: int, actor: Actor) -> Duel:
        """At (or after) the window's end by the clock: the scores frozen, the stakes and the
        reward paid as the verdict says."""
        duel = await self.lock_open_due(game_id)
        await self._lock_both(duel.challenger_id, duel.opponent_id)
        scored = await self.scored(duel)
        statuses = await member_statuses(self.conn, [duel.challenger_id, duel.opponent_id])
        verdict = decide(
            (duel.challenger_id, scored.challenger_score), (duel.opponent_id, scored.opponent_score)
        )
        if any(status is not MemberStatus.ACTIVE for status in statuses.values()):
            verdict = Verdict(DuelOutcome.VOID, None, None)  # a frozen member may not pay
        paid = await self._settle(duel, verdict, actor)
        await self.mark_closed(
            game_id,
            outcome=verdict.outcome.value,
            winner_id=verdict.winner,
            challenger_score=scored.challenger_score,
            opponent_score=scored.opponent_score,
            **paid,
        )
        closed = await self.get(game_id)
        await self._announce(closed, f"duel.{verdict.outcome.value}")
        return closed

    # ----------------------------------------------------------------------------- reads

    async def players(self, game_id: int) -> list[int]:
        duel = await self.get(game_id)
        return [duel.challenger_id, duel.opponent_id]

    async def scored(self, duel: Duel) -> Scored:
        """The duel with its scores: frozen once closed, as of now while open, 0 before."""
        if duel.challenger_score is not None and duel.opponent_score is not None:
            return Scored(duel, duel.challenger_score, duel.opponent_score)
        if duel.starts_at is None or duel.ends_at is None:
            return Scored(duel, 0, 0)
        # So far: what happened up to this very instant, never past the window's end.
        until = min(duel.ends_at, self.clock.now() + timedelta(microseconds=1))
        members = [duel.challenger_id, duel.opponent_id]
        scores = await self._scores(duel.metric, members, duel.starts_at, until)
        return Scored(duel, scores.get(duel.challenger_id, 0), scores.get(duel.opponent_id, 0))

    async def of_member(self, member_id: int, *, first: int) -> list[Duel]:
        """A member's duels (challenged or challenging), newest first."""
        rows = await self.conn.execute(
            select(duels)
            .where(or_(duels.c.challenger_id == member_id, duels.c.opponent_id == member_id))
            .order_by(duels.c.id.desc())
            .limit(first)
        )
        return [DUEL.load(r) for r in rows]

    async def pending_due_ids(self, limit: int) -> list[int]:
        found = await self.conn.scalars(
            select(duels.c.id)
            .where(
                duels.c.status == DuelStatus.PENDING.value,
                duels.c.accept_by <= self.clock.now(),
            )
            .order_by(duels.c.accept_by, duels.c.id)
            .limit(limit)
        )
        return list(found.all())

    # ------------------------------------------------------------------------- mechanics

    async def _scores(
        self, metric: DuelMetric, members: Sequence[int], start: datetime, end: datetime
    ) -> dict[int, int]:
        if end <= start:
            return {}
        if metric is DuelMetric.POINTS:
            return await earned_between(self.conn, members, start, end, excluding=GAMES_ACCOUNT)
        if metric is DuelMetric.PURCHASES:
            rows = await self.conn.execute(
                select(purchases.c.member_id, func.count())
                .where(
                    purchases.c.member_id.in_(members),
                    purchases.c.occurred_at >= start,
                    purchases.c.occurred_at < end,
                    purchases.c.refunded_amount < purchases.c.amount,
                )
                .group_by(purchases.c.member_id)
            )
            return {member: int(count) for member, count in rows}
        rows = await self.conn.execute(
            select(sign_ins.c.member_id, sign_ins.c.day).where(
                sign_ins.c.member_id.in_(members),
                sign_ins.c.created_at >= start,
                sign_ins.c.created_at < end,
                ~sign_ins.c.made_up,  # a make-up card repairs a streak; it is not a sign-in
            )
        )
        days: dict[int, list[Any]] = {}
        for member, day in rows:
            days.setdefault(member, []).append(day)
        return {member: longest_run(found) for member, found in days.items()}

    async def _lock_both(self, a: int, b: int) -> None:
        """Both accounts, in member id order (the order every two-member write takes)."""
        for member in sorted({a, b}):
            try:
                await lock_account(self.conn, member)
            except DomainError as error:
                field = "opponentId" if member == b else "memberId"
                raise DomainError(error.code, error.message, field) from None

    async def _hold(
        self,
        duel_id: int,
        member_id: int,
        stake: int,
        until: datetime,
        actor: Actor,
        side: str = "challenger",
    ) -> int | None:
        if stake == 0:
            return None  # a duel for the glory (or the programme's reward) holds nothing
        hold = await self.ledger.hold(
            PlaceHold(
                member_id=member_id,
                amount=stake,
                reason=f"PK duel {duel_id}: stake",
                reference=f"duel:{duel_id}:{side}",
                expires_at=until + HOLD_GRACE,
            ),
            actor,
        )
        return hold.id

    async def _void(self, hold_id: int | None, reason: str, actor: Actor) -> None:
        if hold_id is not None:
            await self.ledger.void_hold(VoidHold(hold_id=hold_id, reason=reason), actor)

    async def _earn(
        self, member_id: int, amount: int, reference: str, actor: Actor, counter: str
    ) -> int | None:
        if amount <= 0:
            return None
        entry = await self.ledger.earn(
            Earn(
                member_id=member_id,
                amount=amount,
                reason=f"PK duel {reference.split(':')[1]}: {reference.rsplit(':', 1)[1]}",
                reference=reference,
                counter_account=counter,
            ),
            actor,
        )
        return entry.id

    async def _settle(self, duel: Duel, verdict: Verdict, actor: Actor) -> dict[str, Any]:
        """The ledger's side of the verdict; the entry ids the duel row records."""
        holds = {
            duel.challenger_id: duel.challenger_hold_id,
            duel.opponent_id: duel.opponent_hold_id,
        }
        reference = f"duel:{duel.id}"
        if verdict.outcome is not DuelOutcome.WON:
            for hold in holds.values():
                await self._void(hold, f"PK duel {verdict.outcome.value}", actor)
            share = tie_share(duel.reward_points, duel.tie_rule)
            if verdict.outcome is not DuelOutcome.TIED or share == 0:
                return {}
            return {
                "challenger_reward_entry_id": await self._earn(
                    duel.challenger_id, share, f"{reference}:reward", actor, "issuance"
                ),
                "opponent_reward_entry_id": await self._earn(
                    duel.opponent_id, share, f"{reference}:reward", actor, "issuance"
                ),
            }
        assert verdict.winner is not None and verdict.loser is not None
        paid: dict[str, Any] = {}
        loser_hold = holds[verdict.loser]
        if loser_hold is not None:
            await ensure_programme_account(self.conn, "clearing", GAMES_ACCOUNT)
            await self.ledger.commit_hold(
                CommitHold(hold_id=loser_hold, counter_account=GAMES_ACCOUNT), actor
            )
            await self._void(holds[verdict.winner], "PK duel won: own stake back", actor)
            paid["winnings_entry_id"] = await self._earn(
                verdict.winner, duel.stake, f"{reference}:stakes", actor, GAMES_ACCOUNT
            )
        side = "challenger" if verdict.winner == duel.challenger_id else "opponent"
        paid[f"{side}_reward_entry_id"] = await self._earn(
            verdict.winner, duel.reward_points, f"{reference}:reward", actor, "issuance"
        )
        return paid

    async def _set(self, duel_id: int, **values: Any) -> None:
        await self.conn.execute(duels.update().where(duels.c.id == duel_id).values(**values))

    async def _announce(self, duel: Duel, event_type: str) -> None:
        """Both members' events and the duel's change signal (its live view re-reads)."""
        for member in (duel.challenger_id, duel.opponent_id):
            payload = duel.payload() | {"member_id": member}
            await append_event(self.conn, member_topic(member), event_type, payload)
        # The duel's signal lives where the duel does, with its challenger (app/distribution.py).
        await append_event(
            self.conn,
            DUEL.topic(duel.id),
            event_type,
            duel.payload(),
            member_id=duel.challenger_id,
        )


# ------------------------------------------------------------------------------ use cases

DUELS = GameApi(Duels)


async def save_duel_rules(rt: Runtime, actor: Actor, rules: DuelRules) -> RulesRecord:
    async with rt.engine.begin() as conn:
        return await Duels(conn, rt).save_rules(rules, actor)


async def list_duel_rules(rt: Runtime) -> list[RulesRecord]:
    async with rt.read() as conn:
        return await Duels(conn, rt).all_rules()


@dataclass(frozen=True)
class Answered:
    duel: Duel
    replayed: bool


async def challenge_duel(
    rt: Runtime, actor: Actor, code: str, challenge: Challenge, idempotency_key: str
) -> Answered:
    """A challenge (idempotent per caller and key)."""
    request = {"rules": code} | {
        "challenger_id": challenge.challenger_id,
        "opponent_id": challenge.opponent_id,
        "metric": challenge.metric.value,
        "stake": challenge.stake,
        "hours": challenge.hours,
    }
    return await _once(
        rt,
        actor,
        ("games.challenge", idempotency_key, request),
        lambda s: s.challenge(actor, code, challenge),
    )


async def answer_duel(
    rt: Runtime, actor: Actor, member_id: int, duel_id: int, accept: bool, idempotency_key: str
) -> Answered:
    """An accept or a decline (idempotent per caller and key)."""
    operation = "games.accept" if accept else "games.decline"
    request = {"member_id": member_id, "duel_id": duel_id}
    return await _once(
        rt,
        actor,
        (operation, idempotency_key, request),
        lambda s: s.answer(actor, member_id, duel_id, accept=accept),
    )


async def _once(
    rt: Runtime, actor: Actor, asked: tuple[str, str, dict[str, Any]], run: Any
) -> Answered:
    async def work(svc: Duels) -> Answered:
        duel, replayed = await once(svc, actor, asked, lambda: run(svc), "duel_id", svc.get)
        return Answered(duel, replayed)

    return await writing(rt, Duels, work)


async def close_due_duels(rt: Runtime, *, limit: int = 200) -> dict[str, int]:
    """The job's step: expire the challenges past their deadline, close the duels past their
    window's end (each in its own transaction)."""
    expired = await DUELS.sweep(
        rt, lambda s: s.pending_due_ids(limit), lambda s, i: s.expire(i, SYSTEM)
    )
    closed = await DUELS.close_due(rt, limit=limit)
    return {
        "duels_expired": expired.closed,
        "duels_closed": closed.closed,
        "skipped": expired.skipped + closed.skipped,
    }


async def scored_duel(rt: Runtime, duel_id: int) -> Scored:
    async with rt.read() as conn:
        svc = Duels(conn, rt)
        return await svc.scored(await svc.get(duel_id))


async def member_duels(rt: Runtime, member_id: int, *, first: int) -> list[Scored]:
    async with rt.read(member_id) as conn:
        svc = Duels(conn, rt)
        return [await svc.scored(d) for d in await svc.of_member(member_id, first=first)]
