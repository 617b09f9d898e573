"""Tier service: definitions, each member's tier, upgrades at purchase time, scheduled reviews.

Called inside the earning transaction (under the member's account lock) for upgrades, and by
:func:`app.tiers.usecases.review_tiers` (the jobs issue schedules it) for reviews.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    DateTime,
    FromClause,
    String,
    Table,
    bindparam,
    func,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import Clock, add_months, business_date, business_midnight
from app.configcache import GenerationCache
from app.errors import DomainError, ErrorCode
from app.events.outbox import append_event, member_topic
from app.hooks import Slot
from app.ledger.queries import earned_since
from app.tiers.policy import (
    Decision,
    MemberTier,
    Progress,
    QualifyingMeasure,
    QuarterMeasures,
    TaskMeasure,
    TierChange,
    TierDef,
    TierPolicy,
    TierTask,
    base_tier,
    by_code,
    check_definition,
    check_ladder,
    previous_quarter_start,
    progress,
    quarter_of,
    quarter_start,
    review,
    upgrade,
    upgrade_by_task,
    window_start,
)
from app.tiers.tables import (
    member_tiers,
    tier_changes,
    tier_definition_versions,
    tier_definitions,
    tier_task_counters,
)

# The purchases a qualifying spend sums (member_id, amount, refunded_amount, occurred_at): earning's
# table, a domain above tiers, provided when its package is imported (app/earning/__init__.py).
PURCHASES: Slot[Table] = Slot("tiers.purchases")

# The definitions as of a generation of their table, per process (app/configcache.py).
DEFINITIONS: GenerationCache[list[TierDef]] = GenerationCache()
CENT = Decimal("0.01")
BASIS = Decimal("0.0001")


def _task(data: Mapping[str, Any] | None) -> TierTask | None:
    if data is None:
        return None
    return TierTask(TaskMeasure(data["measure"]), Decimal(data["target"]))


def _task_data(task: TierTask) -> dict[str, str]:
    return {"measure": task.measure.value, "target": str(task.target)}


def _definition(data: Mapping[str, Any]) -> TierDef:
    """A definition from its row or from its audited JSON."""
    return TierDef(
        code=data["code"],
        name=data["name"],
        rank=data["rank"],
        threshold=Decimal(data["threshold"]),
        multiplier=Decimal(data["multiplier"]),
        benefits=tuple(data["benefits"]),
        keep_task=_task(data["keep_task"]),
        upgrade_tasks=tuple(t for t in map(_task, data["upgrade_tasks"]) if t is not None),
    )


def _def(row: Any) -> TierDef:
    return _definition(row._mapping)


def _columns(d: TierDef) -> dict[str, Any]:
    """A definition as its row's values (and, as JSON, as its audited version)."""
    return {
        "name": d.name,
        "rank": d.rank,
        "threshold": d.threshold,
        "multiplier": d.multiplier,
        "benefits": list(d.benefits),
        "keep_task": None if d.keep_task is None else _task_data(d.keep_task),
        "upgrade_tasks": [_task_data(t) for t in d.upgrade_tasks],
    }


def _as_json(d: TierDef) -> dict[str, Any]:
    values = _columns(d)
    return {
        "code": d.code,
        **values,
        "threshold": str(d.threshold),
        "multiplier": str(d.multiplier),
    }


@dataclass(frozen=True)
class SavedDefinition:
    definition: TierDef
    version: int
    changed: bool


@dataclass(frozen=True)
class DefinitionVersion:
    code: str
    version: int
    change: str  # created | updated
    definition: TierDef
    actor: str
    created_at: datetime


@dataclass(frozen=True)
class TaskMeasures:
    """A member's qualifying amount over the rolling window (spend or points, as the programme
    qualifies) and task measures of this quarter and the one before (the keep task may be
    completed in either)."""

    rolling_spend: Decimal
    this_quarter: QuarterMeasures
    last_quarter: QuarterMeasures


_COUNTED = ("member_id", "amount", "refunded_amount", "occurred_at")


@cache
def _measures_statement(
    measure: QualifyingMeasure,
    *,
    note_activity: bool,
    placed: FromClause | None = None,
    first_row: bool = False,
) -> Any:
    """The measures' statement (TierService.measures), built once per shape: its values are
    bound at each execution (TierService._measure_params). With ``note_activity``, a CTE also
    sets the member's last activity (``active_at``) and a ``touched`` column says whether it
    had a tier row; with ``first_row`` too, a member without one gets its base tier row there
    (``base_tier``, ``base_review_at``: its first earning) and ``touched`` is 1. With
    ``placed`` (a purchase's data-modifying CTE in the same statement: its row is not in the
    table yet for this statement), that purchase is counted too."""
    # Parameter names are none of member_tiers' columns: executing an UPDATE with a parameter
    # named like a column of its table adds that column to its SET clause.
    member_id = bindparam("measured_member", type_=BigInteger)
    since = bindparam("window_since", type_=DateTime(timezone=True))
    this_at = bindparam("this_at", type_=DateTime(timezone=True))
    last_at = bindparam("last_at", type_=DateTime(timezone=True))
    purchases: FromClause = PURCHASES()
    if placed is not None:
        purchases = union_all(
            select(*(purchases.c[name] for name in _COUNTED)),
            select(*(placed.c[name] for name in _COUNTED)),
        ).subquery("counted")
    net = purchases.c.amount - purchases.c.refunded_amount
    at = purchases.c.occurred_at

    def spent(*conditions: Any) -> Any:
        return func.coalesce(func.sum(net).filter(*conditions), 0)

    def referrals(quarter: str) -> Any:
        counted = select(tier_task_counters.c.value).where(
            tier_task_counters.c.member_id == member_id,
            tier_task_counters.c.measure == TaskMeasure.QUARTER_REFERRALS.value,
            tier_task_counters.c.quarter == bindparam(quarter, type_=String),
        )
        return func.coalesce(counted.scalar_subquery(), 0)

    rolling = spent(at > since)
    if measure is QualifyingMeasure.POINTS:
        rolling = func.coalesce(earned_since(member_id, since), 0)
    statement = select(
        rolling.label("rolling"),
        spent(at >= this_at).label("this_spend"),
        spent(at >= last_at, at < this_at).label("last_spend"),
        referrals("this_quarter").label("this_referrals"),
        referrals("last_quarter").label("last_referrals"),
    ).where(purchases.c.member_id == member_id, at >= func.least(since, last_at))
    if not note_activity:
        return statement
    active_at = bindparam("active_at", type_=DateTime(timezone=True))
    noting: Any = (
        member_tiers.update()
        .where(member_tiers.c.member_id == member_id)
        .values(last_activity_at=active_at)
    )
    if first_row:  # the row _NEW_TIER_ROW would insert after the statement, or the note
        created = insert(member_tiers).values(
            member_id=member_id,
            tier_code=bindparam("base_tier", type_=String),
            since=active_at,
            review_at=bindparam("base_review_at", type_=DateTime(timezone=True)),
            last_activity_at=active_at,
        )
        noting = created.on_conflict_do_update(
            index_elements=[member_tiers.c.member_id],
            set_={"last_activity_at": created.excluded.last_activity_at},
        )
    touched = noting.returning(member_tiers.c.member_id).cte("touched")
    return statement.add_columns(
        select(func.count()).select_from(touched).scalar_subquery().label("touched")
    )


def activity_riding(placed: FromClause, *, first_row: bool = False) -> CTE:
    """A purchase's tier activity as a CTE of the statement that places it (earning's rider on
    its credit, issue 21): the member's last activity noted and its measures read, that
    purchase (``placed``, its data-modifying CTE) counted, as :meth:`TierService.record_activity`
    would read them after it. Spend-qualifying programmes only (a points programme counts the
    credit's entry, which this statement writes too: see :meth:`TierService.rides_activity`);
    parameters :meth:`TierService.activity_params`. ``first_row``: the member has no tier row
    yet (:meth:`TierService.has_row`): the statement inserts its base row too."""
    statement = _measures_statement(
        QualifyingMeasure.SPEND, note_activity=True, placed=placed, first_row=first_row
    )
    return statement.cte("measured")  # type: ignore[no-any-return]


def _measures_of(row: Any) -> TaskMeasures:
    return TaskMeasures(
        rolling_spend=Decimal(row.rolling),
        this_quarter=QuarterMeasures(Decimal(row.this_spend), int(row.this_referrals)),
        last_quarter=QuarterMeasures(Decimal(row.last_spend), int(row.last_referrals)),
    )


# A member's first tier row (its first earning), its values the parameters: built once.
_NEW_TIER_ROW = member_tiers.insert()


class TierService:
    def __init__(self, conn: AsyncConnection, clock: Clock, policy: TierPolicy) -> None:
        self.conn = conn
        self.clock = clock
        self.policy = policy
        self._definitions: list[TierDef] | None = None  # read once per unit of work
        self.generation: str | None = None  # the table's, when a caller read it (configcache)
        # Members' tier rows read in this unit of work (the earning service primes it from its
        # locking read); every write here forgets the member's.
        self._current: dict[int, MemberTier | None] = {}

    def remember(self, member_id: int, tier: MemberTier | None) -> None:
        self._current[member_id] = tier

    async def definitions(self) -> list[TierDef]:
        if self._definitions is None:
            self._definitions = DEFINITIONS.get(self.generation)
        if self._definitions is None:
            rows = await self.conn.execute(
                select(tier_definitions).order_by(tier_definitions.c.rank)
            )
            self._definitions = [_def(row) for row in rows]
            if self.generation is not None:
                DEFINITIONS.put(self.generation, self._definitions)
        return self._definitions

    async def install(self, defs: Sequence[TierDef]) -> None:
        """The seed: add the definitions that are missing; never overwrite a staff edit."""
        check_ladder(defs)
        for d in defs:
            check_definition(d)
            await self.conn.execute(
                insert(tier_definitions)
                .values(code=d.code, **_columns(d), updated_at=self.clock.now(), updated_by="seed")
                .on_conflict_do_nothing(index_elements=["code"])
            )
        self._definitions = None
        self.generation = None

    async def save_definition(
        self, d: TierDef, *, actor: str, expected_version: int | None = None
    ) -> SavedDefinition:
        """Create or change one definition (staff). The whole ladder is locked and checked
        again, so two edits cannot together make thresholds that no longer rise with rank."""
        check_definition(d)
        d = replace(  # as stored, so the answer reads as every later read will
            d, threshold=d.threshold.quantize(CENT), multiplier=d.multiplier.quantize(BASIS)
        )
        rows = (
            await self.conn.execute(
                select(tier_definitions).order_by(tier_definitions.c.rank).with_for_update()
            )
        ).all()
        current = next((row for row in rows if row.code == d.code), None)
        if expected_version is not None and (
            current is None or current.version != expected_version
        ):
            found = "does not exist" if current is None else f"is at version {current.version}"
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"tier {d.code} {found}, not version {expected_version}",
                "expectedVersion",
            )
        if current is not None and _def(current) == d:
            return SavedDefinition(d, current.version, changed=False)
        check_ladder([_def(row) for row in rows if row.code != d.code] + [d])
        now = self.clock.now()
        values = {**_columns(d), "updated_at": now, "updated_by": actor}
        if current is None:
            version = 1
            await self.conn.execute(tier_definitions.insert().values(code=d.code, **values))
        else:
            version = current.version + 1
            await self.conn.execute(
                tier_definitions.update()
                .where(tier_definitions.c.code == d.code)
                .values(**values, version=version)
            )
        await self.conn.execute(
            tier_definition_versions.insert().values(
                code=d.code,
                version=version,
                change="created" if current is None else "updated",
                definition=_as_json(d),
                actor=actor,
                created_at=now,
            )
        )
        self._definitions = None
        self.generation = None
        return SavedDefinition(d, version, changed=True)

    async def definition_versions(self, code: str | None) -> list[DefinitionVersion]:
        query = select(tier_definition_versions).order_by(tier_definition_versions.c.id.desc())
        if code is not None:
            query = query.where(tier_definition_versions.c.code == code)
        return [
            DefinitionVersion(
                row.code,
                row.version,
                row.change,
                _definition(row.definition),
                row.actor,
                row.created_at,
            )
            for row in await self.conn.execute(query.limit(200))
        ]

    async def definition_version_numbers(self) -> dict[str, int]:
        rows = await self.conn.execute(select(tier_definitions.c.code, tier_definitions.c.version))
        return {row.code: row.version for row in rows}

    async def current(self, member_id: int) -> MemberTier | None:
        if member_id in self._current:
            return self._current[member_id]
        row = (
            await self.conn.execute(
                select(member_tiers).where(member_tiers.c.member_id == member_id)
            )
        ).first()
        if row is None:
            return None
        return MemberTier(row.tier_code, row.since, row.review_at, row.last_activity_at)

    async def current_many(self, member_ids: list[int]) -> dict[int, MemberTier]:
        rows = await self.conn.execute(
            select(member_tiers).where(member_tiers.c.member_id.in_(member_ids))
        )
        return {
            r.member_id: MemberTier(r.tier_code, r.since, r.review_at, r.last_activity_at)
            for r in rows
        }

    async def qualifying_spend(self, member_id: int) -> Decimal:
        return (await self.measures(member_id)).rolling_spend

    async def measures(self, member_id: int) -> TaskMeasures:
        """The rolling qualifying amount and both quarters' task measures, in one statement."""
        statement = _measures_statement(self.policy.measure, note_activity=False)
        row = (await self.conn.execute(statement, self._measure_params(member_id))).one()
        return _measures_of(row)

    async def _note_activity_and_measure(
        self, member_id: int, now: datetime
    ) -> TaskMeasures | None:
        """Note the member's activity on its tier row and read its measures, in one statement
        (the update is a CTE: the measures read purchases, which it does not touch). None when
        the member has no tier row yet."""
        statement = _measures_statement(self.policy.measure, note_activity=True)
        params = {**self._measure_params(member_id), "active_at": now}
        row = (await self.conn.execute(statement, params)).one()
        return _measures_of(row) if row.touched else None

    def _measure_params(self, member_id: int) -> dict[str, Any]:
        now = self.clock.now()
        today = business_date(now, self.policy.timezone)
        this_start, last_start = quarter_start(today), previous_quarter_start(today)
        return {
            "measured_member": member_id,
            "window_since": window_start(now, self.policy),
            "this_at": business_midnight(this_start, self.policy.timezone),
            "last_at": business_midnight(last_start, self.policy.timezone),
            "this_quarter": quarter_of(this_start),
            "last_quarter": quarter_of(last_start),
        }

    async def tier_of(self, member_id: int, defs: Sequence[TierDef]) -> TierDef | None:
        if not defs:
            return None
        tier = await self.current(member_id)
        return by_code(defs, tier.code) if tier else base_tier(defs)

    async def rides_activity(self) -> bool:
        """Whether a purchase's activity may ride on the statement that places it
        (:func:`activity_riding`): there are tiers, and they qualify by spend."""
        return self.policy.measure is QualifyingMeasure.SPEND and bool(await self.definitions())

    def has_row(self, member_id: int) -> bool:
        """Whether the member had a tier row when this unit of work read it (False when it was
        not read here)."""
        return self._current.get(member_id) is not None

    def activity_params(self, member_id: int) -> dict[str, Any]:
        """The parameters of :func:`activity_riding`'s CTE (after :meth:`rides_activity`: the
        definitions are read), with the base row's for a member without a tier row."""
        now = self.clock.now()
        params = {**self._measure_params(member_id), "active_at": now}
        if not self.has_row(member_id) and self._definitions:
            params["base_tier"] = base_tier(self._definitions).code
            params["base_review_at"] = add_months(now, self.policy.review_months)
        return params

    async def record_activity(
        self, member_id: int, *, purchase: bool, noted: Any | None = None
    ) -> TierChange | None:
        """After an earning (under the account lock): note the activity; a purchase that
        crosses a threshold or completes an upgrade task upgrades at once (in a programme that
        qualifies by points, any earning by the rules may cross a threshold). ``noted``: the
        row of :func:`activity_riding`'s CTE when the purchase's own statement already noted
        the activity and read the measures."""
        defs = await self.definitions()
        if not defs:
            return None
        now = self.clock.now()
        tier = await self.current(member_id)
        self._current.pop(member_id, None)
        could_upgrade = purchase or self.policy.measure is QualifyingMeasure.POINTS
        measured = None
        if tier is None:
            base = base_tier(defs)
            tier = MemberTier(base.code, now, add_months(now, self.policy.review_months), now)
            row = {
                "member_id": member_id,
                "tier_code": tier.code,
                "since": tier.since,
                "review_at": tier.review_at,
                "last_activity_at": now,
            }
            if noted is None or not noted.touched:  # else the purchase's statement wrote it
                await self.conn.execute(_NEW_TIER_ROW, row)
            if noted is not None:  # measured with the purchase counted: the tier row aside
                measured = _measures_of(noted)
        elif noted is not None:
            measured = _measures_of(noted) if noted.touched else None
        elif could_upgrade:
            measured = await self._note_activity_and_measure(member_id, now)
        else:
            await self.conn.execute(
                member_tiers.update()
                .where(member_tiers.c.member_id == member_id)
                .values(last_activity_at=now)
            )
        if not could_upgrade:
            return None
        return await self._upgrade(member_id, tier.code, measured or await self.measures(member_id))

    async def count_referral(self, member_id: int) -> TierChange | None:
        """A friend this member invited joined and bought (engagement calls this, under the
        referrer's account lock): counts toward "invite N friends this quarter"."""
        today = business_date(self.clock.now(), self.policy.timezone)
        stmt = insert(tier_task_counters).values(
            member_id=member_id,
            measure=TaskMeasure.QUARTER_REFERRALS.value,
            quarter=quarter_of(today),
            value=1,
        )
        await self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["member_id", "measure", "quarter"],
                set_={"value": tier_task_counters.c.value + 1},
            )
        )
        tier = await self.current(member_id)
        defs = await self.definitions()
        if tier is None or not defs:
            return None
        return await self._upgrade(member_id, tier.code, await self.measures(member_id))

    async def _upgrade(self, member_id: int, current: str, m: TaskMeasures) -> TierChange | None:
        defs = await self.definitions()
        by_spend = upgrade(defs, current, m.rolling_spend)
        by_task = upgrade_by_task(defs, current, m.this_quarter)
        candidates = [d for d in (by_spend, by_task) if d is not None]
        if not candidates:
            return None
        decision = max(candidates, key=lambda d: d.to.rank)  # spend wins a tie: it is the rule
        return await self._change(member_id, current, decision, m.rolling_spend)

    async def review_member(self, member_id: int) -> TierChange | None:
        tier = await self.current(member_id)
        defs = await self.definitions()
        if tier is None or not defs:
            return None
        m = await self.measures(member_id)
        spend = m.rolling_spend
        quarters = (m.this_quarter, m.last_quarter)
        decision = review(defs, tier, spend, self.clock.now(), self.policy, quarters)
        if decision is None:
            return None
        if decision.to.code == tier.code:  # kept at review: the next review is a period later
            await self.conn.execute(
                member_tiers.update()
                .where(member_tiers.c.member_id == member_id)
                .values(review_at=add_months(tier.review_at, self.policy.review_months))
            )
            self._current.pop(member_id, None)
            return None
        return await self._change(member_id, tier.code, decision, spend)

    async def _change(
        self, member_id: int, old: str, decision: Decision, spend: Decimal
    ) -> TierChange:
        self._current.pop(member_id, None)
        now = self.clock.now()
        await self.conn.execute(
            member_tiers.update()
            .where(member_tiers.c.member_id == member_id)
            .values(
                tier_code=decision.to.code,
                since=now,
                review_at=add_months(now, self.policy.review_months),
            )
        )
        await self.conn.execute(
            tier_changes.insert().values(
                member_id=member_id,
                from_tier=old,
                to_tier=decision.to.code,
                reason=decision.reason.value,
                qualifying_spend=spend,
                created_at=now,
            )
        )
        await append_event(
            self.conn,
            member_topic(member_id),
            "tier.changed",
            {
                "member_id": member_id,
                "from": old,
                "to": decision.to.code,
                "name": decision.to.name,
                "multiplier": str(decision.to.multiplier),
                "reason": decision.reason.value,
                "qualifying_spend": str(spend),
            },
        )
        return TierChange(decision.to, decision.reason, old, spend, now)

    async def members_due_for_review(self, base: str, *, after_id: int, limit: int) -> list[int]:
        now = self.clock.now()
        inactive_before = add_months(now, -self.policy.inactivity_months)
        rows = await self.conn.scalars(
            select(member_tiers.c.member_id)
            .where(
                member_tiers.c.tier_code != base,
                member_tiers.c.member_id > after_id,
                (member_tiers.c.review_at <= now)
                | (
                    func.greatest(member_tiers.c.last_activity_at, member_tiers.c.since)
                    <= inactive_before
                ),
            )
            .order_by(member_tiers.c.member_id)
            .limit(limit)
        )
        return list(rows.all())

    async def progress(self, member_id: int) -> Progress | None:
        defs = await self.definitions()
        if not defs:
            return None
        tier = await self.current(member_id)
        code = tier.code if tier else base_tier(defs).code
        m = await self.measures(member_id)
        return progress(defs, code, m.rolling_spend, m.this_quarter)

    async def history(self, member_id: int) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(tier_changes)
            .where(tier_changes.c.member_id == member_id)
            .order_by(tier_changes.c.id.desc())
        )
        return [dict(row._mapping) for row in rows]
