"""Earning service: rules as rows, purchases, refunds, events and previews.

A purchase, a refund or an event first locks the member's account row (the ledger's one lock,
taken again by the ledger itself at no cost), then reads what the rules need (first purchase,
known categories, tier, cap counters), evaluates the pure rules, posts through the ledger and
updates the counters, all in one transaction. Two purchases of one member are serialised by that
lock, so caps are exact; purchases of different members never wait for each other, except on a
rule's campaign budget row (locked only when a budgeted rule applies, after the account).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, BigInteger, Row, bindparam, func, literal, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import Clock
from app.config import Settings
from app.configcache import GenerationCache, generation_of
from app.earning import rules as engine
from app.earning.rules import (
    Line,
    MemberFacts,
    Occurrence,
    Outcome,
    Purchase,
    Rule,
    Trigger,
    expiry_override,
    money,
    parse_rule,
    select_rules,
)
from app.earning.tables import (
    earning_budgets,
    earning_counters,
    earning_events,
    earning_rule_versions,
    earning_rules,
    purchase_lines,
    purchases,
    refunds,
)
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.ledger.accounts import AccountLock, lock_account
from app.ledger.expiry import ExpiryPolicy
from app.ledger.idempotency import fingerprint, reused, same_request
from app.ledger.models import Actor, Entry
from app.ledger.service import Ledger, LedgerPolicy
from app.ledger.tables import accounts
from app.members.models import MemberStatus
from app.members.tables import members
from app.tiers.policy import MemberTier, TierChange, TierPolicy
from app.tiers.service import TierService
from app.tiers.tables import member_tiers, tier_definitions

MAX_LINES = 500
MAX_ID_LENGTH = 64
MAX_QUANTITY = 1_000_000
MAX_EVENT_QUANTITY = Decimal("1000000")
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_AGE = timedelta(days=90)


# ------------------------------------------------------------------------------------ values


@dataclass(frozen=True)
class RuleRecord:
    rule: Rule
    enabled: bool
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class RuleVersion:
    rule_id: int
    version: int
    change: str
    spec: dict[str, Any]
    enabled: bool
    actor: str
    created_at: datetime


@dataclass(frozen=True)
class PurchaseLineInput:
    sku: str
    category: str
    quantity: int
    amount: Decimal


@dataclass(frozen=True)
class PurchaseRecord:
    id: int
    member_id: int
    channel: str
    order_id: str
    amount: Decimal
    refunded_amount: Decimal
    points: int
    clawed_back: int
    entry_id: int | None
    breakdown: dict[str, Any]
    occurred_at: datetime


@dataclass(frozen=True)
class PurchaseResult:
    purchase: PurchaseRecord
    entry: Entry | None
    tier_change: TierChange | None
    replayed: bool
    first: bool = False  # the member's first purchase


@dataclass(frozen=True)
class RefundResult:
    id: int
    purchase: PurchaseRecord
    amount: Decimal
    points: int  # clawed back by this refund
    entry: Entry | None
    replayed: bool


@dataclass(frozen=True)
class EventResult:
    id: int
    member_id: int
    name: str
    points: int
    entry: Entry | None
    breakdown: dict[str, Any]
    replayed: bool


@dataclass(frozen=True)
class RefundLineInput:
    line_no: int
    amount: Decimal


# ----------------------------------------------------------------------------------- helpers


def _ident(value: str, field: str) -> str:
    if not value.strip() or len(value) > MAX_ID_LENGTH:
        raise invalid(f"{field} must be 1..{MAX_ID_LENGTH} characters", field)
    return value


def _recorded_before(what: str) -> str:
    return f"this {what} was already recorded with different content"


def _reused(what: str, field: str) -> DomainError:
    return reused(_recorded_before(what), field)


def _purchase(row: Row[Any]) -> PurchaseRecord:
    return PurchaseRecord(
        id=row.id,
        member_id=row.member_id,
        channel=row.channel,
        order_id=row.order_id,
        amount=Decimal(row.amount),
        refunded_amount=Decimal(row.refunded_amount),
        points=row.points,
        clawed_back=row.clawed_back,
        entry_id=row.entry_id,
        breakdown=row.breakdown,
        occurred_at=row.occurred_at,
    )


def check_lines(lines: Sequence[PurchaseLineInput]) -> tuple[Line, ...]:
    if not lines:
        raise invalid("an order needs at least one line", "lines")
    if len(lines) > MAX_LINES:
        raise invalid(f"an order may have at most {MAX_LINES} lines, not {len(lines)}", "lines")
    checked = []
    for i, line in enumerate(lines):
        where = f"lines[{i}]"
        _ident(line.sku, f"{where}.sku")
        _ident(line.category, f"{where}.category")
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise invalid(f"quantity must be 1..{MAX_QUANTITY}", f"{where}.quantity")
        amount = money(line.amount, f"{where}.amount")
        checked.append(Line(line.sku, line.category, line.quantity, amount))
    if sum((line.amount for line in checked), Decimal(0)) > engine.MAX_MONEY:
        raise invalid(f"the order total is above {engine.MAX_MONEY}", "lines")
    return tuple(checked)


# Every enabled rule as of a generation of the rules table, per process (app/configcache.py).
ENABLED_RULES: GenerationCache[list[Rule]] = GenerationCache()


@dataclass(frozen=True)
class MemberSnapshot:
    status: str
    birthday: date | None
    has_purchases: bool
    birthday_set_at: datetime | None = None
    known_categories: frozenset[str] = frozenset()
    counters: dict[str, int] = field(default_factory=dict)
    recorded_purchase_id: int | None = None
    rules_generation: str | None = None
    counter_keys: frozenset[str] = frozenset()  # the counters asked for
    # The account locked before this read, for the one ledger write that follows.
    account: AccountLock | None = None


_LINE_COLUMNS = ("line_no", "sku", "category", "quantity", "amount", "points")


def _place_purchase_statement() -> Any:
    """Insert a purchase and its lines in one statement, built once (parameters bound at each
    execution). The lines come from the purchase's CTE (none when the purchase met a conflict)
    and travel as one array per column, unnested: the text is the same for any number of
    lines, so its compilation is cached too."""
    placed = (
        insert(purchases)
        .values({c.name: bindparam(c.name, type_=c.type) for c in purchases.c if c.name != "id"})
        .on_conflict_do_nothing()
        .returning(*purchases.c)
        .cte("placed")
    )
    arrays = [
        bindparam(f"line_{name}", type_=ARRAY(purchase_lines.c[name].type))
        for name in _LINE_COLUMNS
    ]
    line = func.unnest(*arrays).table_valued(*_LINE_COLUMNS).render_derived("line")
    lines = purchase_lines.insert().from_select(
        ["purchase_id", *_LINE_COLUMNS, "member_id", "refunded_amount"],
        select(
            placed.c.id,
            *(line.c[name] for name in _LINE_COLUMNS),
            placed.c.member_id,
            literal(0, purchase_lines.c.refunded_amount.type),
        ).select_from(placed.join(line, true())),
    )
    return select(placed).add_cte(lines.cte("lines"))


_PLACE_PURCHASE = _place_purchase_statement()


def _snapshot_query() -> Any:
    """The member snapshot's statement (see EarningService._snapshot), built once: its
    parameters are bound at each execution, so neither the construction nor SQLAlchemy's cache
    key is paid per purchase."""
    member_id = bindparam("member_id", type_=BigInteger)
    known = select(func.array_agg(purchase_lines.c.category.distinct())).where(
        purchase_lines.c.member_id == member_id,
        purchase_lines.c.category.in_(bindparam("categories", expanding=True)),
    )
    counted = select(func.json_object_agg(earning_counters.c.key, earning_counters.c.points)).where(
        earning_counters.c.member_id == member_id,
        earning_counters.c.key.in_(bindparam("counter_keys", expanding=True)),
    )
    recorded = select(purchases.c.id).where(
        purchases.c.channel == bindparam("channel", type_=purchases.c.channel.type),
        purchases.c.order_id == bindparam("order_id", type_=purchases.c.order_id.type),
    )
    return (
        select(
            members.c.status,
            members.c.birthday,
            members.c.birthday_set_at,
            member_tiers.c.tier_code,
            member_tiers.c.since,
            member_tiers.c.review_at,
            member_tiers.c.last_activity_at,
            select(purchases.c.id)
            .where(purchases.c.member_id == member_id)
            .exists()
            .label("has_purchases"),
            known.scalar_subquery().label("known_categories"),
            counted.scalar_subquery().label("counters"),
            recorded.scalar_subquery().label("recorded_purchase_id"),
            generation_of(earning_rules).label("rules_generation"),
            generation_of(tier_definitions).label("tiers_generation"),
        )
        .select_from(
            accounts.join(members, members.c.id == accounts.c.member_id).outerjoin(
                member_tiers, member_tiers.c.member_id == accounts.c.member_id
            )
        )
        .where(accounts.c.member_id == member_id)
    )


_SNAPSHOT = _snapshot_query()


class EarningService:
    def __init__(self, conn: AsyncConnection, clock: Clock, settings: Settings) -> None:
        self.conn = conn
        self.clock = clock
        self.settings = settings
        self.tiers = TierService(conn, clock, TierPolicy.from_settings(settings))

    def _ledger(self) -> Ledger:
        return Ledger(self.conn, self.clock, LedgerPolicy.from_settings(self.settings))

    # ------------------------------------------------------------------------------ rules

    async def _check_rule(self, spec: Mapping[str, Any]) -> Rule:
        rule = parse_rule(0, spec)
        if rule.conditions.tiers:
            known = {d.code for d in await self.tiers.definitions()}
            unknown = sorted(set(rule.conditions.tiers) - known)
            if unknown:
                raise invalid(f"unknown tier(s): {', '.join(unknown)}", "conditions.tiers")
        return rule

    async def create_rule(
        self,
        spec: Mapping[str, Any],
        *,
        actor: Actor,
        enabled: bool = True,
        seed_key: str | None = None,
    ) -> RuleRecord:
        rule = await self._check_rule(spec)
        stored = engine.rule_spec(rule)
        now = self.clock.now()
        row = (
            await self.conn.execute(
                earning_rules.insert()
                .values(
                    name=rule.name,
                    trigger=rule.trigger.value,
                    event=rule.event,
                    spec=stored,
                    enabled=enabled,
                    version=1,
                    created_at=now,
                    updated_at=now,
                    updated_by=actor.principal,
                    seed_key=seed_key,
                )
                .returning(*earning_rules.c)
            )
        ).one()
        await self._audit(row, "created", actor)
        await self._open_budget(row.id, rule)
        return self._record(row)

    async def update_rule(
        self,
        rule_id: int,
        spec: Mapping[str, Any],
        *,
        actor: Actor,
        expected_version: int | None = None,
    ) -> RuleRecord:
        rule = await self._check_rule(spec)
        current = await self._lock_rule(rule_id, expected_version)
        stored = engine.rule_spec(rule)
        if stored == current.spec:
            return self._record(current)
        row = (
            await self.conn.execute(
                earning_rules.update()
                .where(earning_rules.c.id == rule_id)
                .values(
                    name=rule.name,
                    trigger=rule.trigger.value,
                    event=rule.event,
                    spec=stored,
                    version=earning_rules.c.version + 1,
                    updated_at=self.clock.now(),
                    updated_by=actor.principal,
                )
                .returning(*earning_rules.c)
            )
        ).one()
        await self._audit(row, "updated", actor)
        await self._open_budget(rule_id, rule)
        return self._record(row)

    async def set_enabled(
        self, rule_id: int, enabled: bool, *, actor: Actor, expected_version: int | None = None
    ) -> RuleRecord:
        current = await self._lock_rule(rule_id, expected_version)
        if current.enabled == enabled:
            return self._record(current)
        row = (
            await self.conn.execute(
                earning_rules.update()
                .where(earning_rules.c.id == rule_id)
                .values(
                    enabled=enabled,
                    version=earning_rules.c.version + 1,
                    updated_at=self.clock.now(),
                    updated_by=actor.principal,
                )
                .returning(*earning_rules.c)
            )
        ).one()
        await self._audit(row, "enabled" if enabled else "disabled", actor)
        return self._record(row)

    async def _open_budget(self, rule_id: int, rule: Rule) -> None:
        """A budgeted rule's budget row is written with the rule, in its transaction, so the row
        exists before any purchase can see the rule: every claim on the budget then locks that
        one row. (Created lazily by the first claim, racing first claims found no row to lock and
        each spent the whole budget.) A budget added by a change keeps a row it had before."""
        if rule.budget is not None:
            await self.conn.execute(
                insert(earning_budgets)
                .values(rule_id=rule_id, used=0)
                .on_conflict_do_nothing(index_elements=["rule_id"])
            )

    async def _lock_rule(self, rule_id: int, expected_version: int | None) -> Row[Any]:
        row = (
            await self.conn.execute(
                select(earning_rules).where(earning_rules.c.id == rule_id).with_for_update()
            )
        ).first()
        if row is None:
            raise not_found("earning rule", rule_id, "id")
        if expected_version is not None and row.version != expected_version:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"the rule is at version {row.version}, not {expected_version}",
                "expectedVersion",
            )
        return row

    async def _audit(self, row: Row[Any], change: str, actor: Actor) -> None:
        await self.conn.execute(
            earning_rule_versions.insert().values(
                rule_id=row.id,
                version=row.version,
                change=change,
                spec=row.spec,
                enabled=row.enabled,
                actor=actor.principal,
                created_at=row.updated_at,
            )
        )

    def _record(self, row: Row[Any]) -> RuleRecord:
        return RuleRecord(
            rule=parse_rule(row.id, row.spec),
            enabled=row.enabled,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            updated_by=row.updated_by,
            spec=row.spec,
        )

    async def list_rules(
        self, *, enabled: bool | None = None, after_id: int | None = None, first: int = 100
    ) -> list[RuleRecord]:
        query = select(earning_rules).order_by(earning_rules.c.id).limit(first)
        if enabled is not None:
            query = query.where(earning_rules.c.enabled == enabled)
        if after_id is not None:
            query = query.where(earning_rules.c.id > after_id)
        return [self._record(row) for row in await self.conn.execute(query)]

    async def get_rule(self, rule_id: int) -> RuleRecord:
        row = (
            await self.conn.execute(select(earning_rules).where(earning_rules.c.id == rule_id))
        ).first()
        if row is None:
            raise not_found("earning rule", rule_id, "id")
        return self._record(row)

    async def find_seeded(self, seed_key: str) -> RuleRecord | None:
        row = (
            await self.conn.execute(
                select(earning_rules).where(earning_rules.c.seed_key == seed_key)
            )
        ).first()
        return None if row is None else self._record(row)

    async def rule_versions(self, rule_id: int) -> list[RuleVersion]:
        rows = await self.conn.execute(
            select(earning_rule_versions)
            .where(earning_rule_versions.c.rule_id == rule_id)
            .order_by(earning_rule_versions.c.version.desc())
        )
        return [
            RuleVersion(r.rule_id, r.version, r.change, r.spec, r.enabled, r.actor, r.created_at)
            for r in rows
        ]

    async def enabled_rules(self, generation: str | None = None) -> list[Rule]:
        """Every enabled rule; from the process's cache when ``generation`` (the rules table's,
        read in this transaction) is the one it was cached at (app/configcache.py)."""
        cached = ENABLED_RULES.get(generation)
        if cached is not None:
            return cached
        query = select(earning_rules.c.id, earning_rules.c.spec).where(earning_rules.c.enabled)
        rules = [parse_rule(row.id, row.spec) for row in await self.conn.execute(query)]
        return rules if generation is None else ENABLED_RULES.put(generation, rules)

    async def active_rules(self, trigger: Trigger, event: str | None = None) -> list[Rule]:
        return select_rules(await self.enabled_rules(), trigger, event)

    # --------------------------------------------------------------------- member facts

    def _rule_expiry(self, rules: list[Rule], outcome: Outcome) -> ExpiryPolicy | None:
        """The credit's expiry policy when its rules override the programme's (else None: the
        ledger applies the programme's)."""
        policy = self._ledger().policy
        return expiry_override(rules, outcome, policy.expiry, self.clock.now(), policy.timezone)

    async def _snapshot(
        self,
        member_id: int,
        *,
        categories: Sequence[str] = (),
        counter_keys: Sequence[str] = (),
        order: tuple[str, str] | None = None,
    ) -> MemberSnapshot | None:
        """What the rules need to know of the member, in one statement: profile, tier row,
        first purchase or not, which of ``categories`` it bought before, its ``counter_keys``,
        the purchase already recorded for ``order`` (channel, order id), and the generations of
        the rules and tiers tables (app/configcache.py).

        Writers read it after taking the account lock, in a statement of its own: a statement
        that waited for the lock still sees the rows as they were when it started (READ
        COMMITTED), and would miss a tier row or a first purchase committed meanwhile."""
        params = {
            "member_id": member_id,
            "categories": sorted(categories),
            "counter_keys": sorted(counter_keys),
            "channel": order[0] if order else None,
            "order_id": order[1] if order else None,
        }
        row = (await self.conn.execute(_SNAPSHOT, params)).first()
        if row is None:
            return None
        tier = None
        if row.tier_code is not None:
            tier = MemberTier(row.tier_code, row.since, row.review_at, row.last_activity_at)
        self.tiers.remember(member_id, tier)
        self.tiers.generation = row.tiers_generation
        return MemberSnapshot(
            status=row.status,
            birthday=row.birthday,
            has_purchases=row.has_purchases,
            birthday_set_at=row.birthday_set_at,
            known_categories=frozenset(row.known_categories or ()),
            counters=dict(row.counters or {}),
            recorded_purchase_id=row.recorded_purchase_id,
            rules_generation=row.rules_generation,
            counter_keys=frozenset(counter_keys),
        )

    async def lock_member(self, member_id: int) -> MemberSnapshot:
        """Take the member's account lock, then read the member (status included) in a
        statement of its own: the locking statement's own view of the member may predate a
        status change committed while it waited."""
        return await self.lock_and_read_member(member_id)

    async def _lock_for_rules(
        self,
        member_id: int,
        trigger: Trigger,
        event: str | None,
        at: datetime,
        *,
        categories: Sequence[str] = (),
        order: tuple[str, str] | None = None,
    ) -> tuple[MemberSnapshot, list[Rule]]:
        """Lock the member and read what the rules need, and the rules. The counters to read
        are those of the rules this process last cached; the snapshot says whether those are
        still the rules (nearly always) or they must be read again."""
        day = engine.local_day(at, self.settings.timezone)
        guess = select_rules(ENABLED_RULES.latest() or [], trigger, event)
        snapshot = await self.lock_and_read_member(
            member_id,
            categories=categories,
            counter_keys=engine.counter_keys(guess, day),
            order=order,
        )
        rules = select_rules(await self.enabled_rules(snapshot.rules_generation), trigger, event)
        return snapshot, rules

    async def lock_and_read_member(
        self,
        member_id: int,
        *,
        categories: Sequence[str] = (),
        counter_keys: Sequence[str] = (),
        order: tuple[str, str] | None = None,
    ) -> MemberSnapshot:
        locked = await lock_account(self.conn, member_id)
        snapshot = await self._snapshot(
            member_id, categories=categories, counter_keys=counter_keys, order=order
        )
        if snapshot is None:
            raise not_found("member", member_id, "memberId")
        if snapshot.status == MemberStatus.CLOSED.value:
            raise DomainError(ErrorCode.MEMBER_NOT_ACTIVE, "the member's account is closed")
        locked.status = MemberStatus(snapshot.status)
        return replace(snapshot, account=locked)

    async def _facts(
        self, member_id: int, snapshot: MemberSnapshot, at: datetime, *, purchase: bool
    ) -> MemberFacts:
        defs = await self.tiers.definitions()
        tier = await self.tiers.tier_of(member_id, defs)
        first = purchase and not snapshot.has_purchases
        return MemberFacts(
            tier=tier.code if tier else None,
            tier_multiplier=tier.multiplier if tier else Decimal(1),
            first_purchase=first,
            birthday=self._birthday_on_file(snapshot, at),
            known_categories=snapshot.known_categories if purchase and not first else frozenset(),
        )

    def _birthday_on_file(self, snapshot: MemberSnapshot, at: datetime) -> date | None:
        """The birthday as the rules see it: only one on file before the business day, so a
        birthday given (or changed by staff) today pays nothing today (docs/EARNING.md)."""
        set_at = snapshot.birthday_set_at
        if set_at is None:
            return None
        tz = self.settings.timezone
        return (
            snapshot.birthday if engine.local_day(set_at, tz) < engine.local_day(at, tz) else None
        )

    async def _usage(
        self, member_id: int, rules: Sequence[Rule], at: datetime, snapshot: MemberSnapshot
    ) -> tuple[dict[str, int], dict[int, int]]:
        """Counters and budgets left. The counters came with the snapshot (read for the rules
        cached before the lock); when the rules changed meanwhile, read the new rules' again."""
        day = engine.local_day(at, self.settings.timezone)
        keys = engine.counter_keys(rules, day)
        used = snapshot.counters
        if not set(keys) <= snapshot.counter_keys:
            rows = await self.conn.execute(
                select(earning_counters.c.key, earning_counters.c.points).where(
                    earning_counters.c.member_id == member_id, earning_counters.c.key.in_(keys)
                )
            )
            used = {row.key: row.points for row in rows}
        budgets: dict[int, int] = {}
        budgeted = sorted(r.id for r in rules if r.budget is not None)
        if budgeted:
            # Lock order: the member's account (held), then budget rows by rule id.
            rows = await self.conn.execute(
                select(earning_budgets.c.rule_id, earning_budgets.c.used)
                .where(earning_budgets.c.rule_id.in_(budgeted))
                .order_by(earning_budgets.c.rule_id)
                .with_for_update()
            )
            spent = {row.rule_id: row.used for row in rows}
            missing = sorted(set(budgeted) - set(spent))
            if missing:
                # Written with the rule (or by migration 0009): without its row there is nothing
                # to lock, and concurrent claims would each spend the whole budget.
                raise RuntimeError(f"earning rule(s) {missing} have a budget but no budget row")
            for rule in rules:
                if rule.budget is not None:
                    budgets[rule.id] = rule.budget - spent[rule.id]
        return used, budgets

    async def _count(self, member_id: int, outcome: Outcome) -> None:
        if outcome.counters:
            stmt = insert(earning_counters).values(
                [
                    {"member_id": member_id, "key": k, "points": v}
                    for k, v in outcome.counters.items()
                ]
            )
            await self.conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["member_id", "key"],
                    set_={"points": earning_counters.c.points + stmt.excluded.points},
                )
            )
        for rule_id, points in sorted(outcome.budgets.items()):
            # The row exists and is locked by this transaction (_usage).
            await self.conn.execute(
                earning_budgets.update()
                .where(earning_budgets.c.rule_id == rule_id)
                .values(used=earning_budgets.c.used + points)
            )

    def _evaluate(
        self,
        rules: Sequence[Rule],
        happened: Purchase | Occurrence,
        facts: MemberFacts,
        at: datetime,
        used: Mapping[str, int],
        budgets: Mapping[int, int],
    ) -> Outcome:
        return engine.evaluate(
            rules,
            happened,
            facts,
            at=at,
            tz=self.settings.timezone,
            used=used,
            budgets_left=budgets,
            daily_ceiling=self.settings.earning_daily_ceiling,
        )

    def _when(self, occurred_at: datetime | None) -> datetime:
        now = self.clock.now()
        if occurred_at is None:
            return now
        if occurred_at.tzinfo is None:
            raise invalid("give a time zone offset", "occurredAt")
        if occurred_at > now + FUTURE_TOLERANCE:
            raise invalid("occurredAt is in the future", "occurredAt")
        if occurred_at < now - MAX_AGE:
            raise invalid(f"occurredAt is more than {MAX_AGE.days} days ago", "occurredAt")
        return occurred_at

    # -------------------------------------------------------------------------- purchases

    async def record_purchase(
        self,
        *,
        member_id: int,
        channel: str,
        order_id: str,
        lines: Sequence[PurchaseLineInput],
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> PurchaseResult:
        _ident(channel, "channel")
        _ident(order_id, "orderId")
        checked = check_lines(lines)
        at = self._when(occurred_at)
        print_ = fingerprint(
            {
                "member_id": member_id,
                "lines": [[x.sku, x.category, x.quantity, str(x.amount)] for x in checked],
                "occurred_at": occurred_at.isoformat() if occurred_at else None,
            }
        )
        categories = sorted({x.category for x in checked})
        snapshot, rules = await self._lock_for_rules(
            member_id, Trigger.PURCHASE, None, at, categories=categories, order=(channel, order_id)
        )
        if snapshot.recorded_purchase_id is not None:
            existing = (
                await self.conn.execute(
                    select(purchases).where(purchases.c.id == snapshot.recorded_purchase_id)
                )
            ).one()
            same_request(
                existing.fingerprint, print_, message=_recorded_before("order id"), field="orderId"
            )
            record = _purchase(existing)
            entry = await self._ledger().get_entry(record.entry_id) if record.entry_id else None
            return PurchaseResult(record, entry, None, replayed=True)

        basket = Purchase(channel, checked)
        facts = await self._facts(member_id, snapshot, at, purchase=True)
        used, budgets = await self._usage(member_id, rules, at, snapshot)
        outcome = self._evaluate(rules, basket, facts, at, used, budgets)
        breakdown = outcome.details()  # on the entry and on the purchase
        entry = None
        if outcome.points:
            window = timedelta(days=self.settings.earning_return_window_days)
            entry = await self._ledger().earn(
                member_id,
                outcome.points,
                reason=f"purchase {order_id}",
                actor=actor,
                reference=f"{channel}:{order_id}"[:128],
                available_at=at + window,
                expiry=self._rule_expiry(rules, outcome),
                details=breakdown,
                counter_account="issuance",
                lock=snapshot.account,
            )
        purchase = {
            "member_id": member_id,
            "channel": channel,
            "order_id": order_id,
            "fingerprint": print_,
            "amount": basket.total,
            "refunded_amount": 0,
            "points": outcome.points,
            "clawed_back": 0,
            "order_points": outcome.order_points,
            "breakdown": breakdown,
            "occurred_at": at,
            "created_at": self.clock.now(),
            "entry_id": entry.id if entry else None,
        }
        lines_by_column = {
            "line_no": list(range(1, len(checked) + 1)),
            "sku": [line.sku for line in checked],
            "category": [line.category for line in checked],
            "quantity": [line.quantity for line in checked],
            "amount": [line.amount for line in checked],
            "points": list(outcome.line_points),
        }
        params = {**purchase, **{f"line_{k}": v for k, v in lines_by_column.items()}}
        row = (await self.conn.execute(_PLACE_PURCHASE, params)).first()
        if row is None:  # the same (channel, order id) committed meanwhile for another member
            raise _reused("order id", "orderId")  # (the unit of work rolls the earning back)
        await self._count(member_id, outcome)
        change = await self.tiers.record_activity(member_id, purchase=True)
        return PurchaseResult(
            _purchase(row), entry, change, replayed=False, first=not snapshot.has_purchases
        )

    async def record_refund(
        self,
        *,
        channel: str,
        order_id: str,
        refund_id: str,
        actor: Actor,
        lines: Sequence[RefundLineInput] | None = None,
        amount: Decimal | None = None,
    ) -> RefundResult:
        _ident(channel, "channel")
        _ident(order_id, "orderId")
        _ident(refund_id, "refundId")
        if lines is not None and amount is not None:
            raise invalid("refund by lines or by amount, not both", "amount")
        if lines is not None and not lines:
            raise invalid("give at least one line (or leave lines out)", "lines")
        if lines is not None and len(lines) > MAX_LINES:
            raise invalid(f"a refund may have at most {MAX_LINES} lines", "lines")
        if amount is not None:
            amount = money(amount, "amount", allow_zero=False)
        by_line = (
            None
            if lines is None
            else [(x.line_no, money(x.amount, "lines.amount", allow_zero=False)) for x in lines]
        )
        print_ = fingerprint(
            {
                "order_id": order_id,
                "lines": None if by_line is None else [[n, str(a)] for n, a in by_line],
                "amount": None if amount is None else str(amount),
            }
        )
        found = (
            await self.conn.execute(
                select(purchases.c.member_id).where(
                    purchases.c.channel == channel, purchases.c.order_id == order_id
                )
            )
        ).first()
        if found is None:
            raise not_found("order", f"{channel}/{order_id}", "orderId")
        await self.lock_member(found.member_id)
        previous = (
            await self.conn.execute(
                select(refunds).where(
                    refunds.c.channel == channel, refunds.c.refund_id == refund_id
                )
            )
        ).first()
        purchase_row = (
            await self.conn.execute(
                select(purchases).where(
                    purchases.c.channel == channel, purchases.c.order_id == order_id
                )
            )
        ).one()
        if previous is not None:
            same_request(
                previous.fingerprint,
                print_,
                message=_recorded_before("refund id"),
                field="refundId",
            )
            entry = await self._ledger().get_entry(previous.entry_id) if previous.entry_id else None
            return RefundResult(
                previous.id,
                _purchase(purchase_row),
                Decimal(previous.amount),
                previous.points,
                entry,
                replayed=True,
            )
        line_rows = list(
            await self.conn.execute(
                select(purchase_lines)
                .where(purchase_lines.c.purchase_id == purchase_row.id)
                .order_by(purchase_lines.c.line_no)
            )
        )
        left = {r.line_no: Decimal(r.amount) - Decimal(r.refunded_amount) for r in line_rows}
        back = self._refund_split(left, by_line, amount)
        total_back = sum(back.values(), Decimal(0))
        refunded = [Decimal(r.refunded_amount) + back.get(r.line_no, Decimal(0)) for r in line_rows]
        target = engine.clawback_target(
            purchase_row.points,
            [Decimal(r.points) for r in line_rows],
            Decimal(purchase_row.order_points),
            [Decimal(r.amount) for r in line_rows],
            refunded,
        )
        clawback = max(target - purchase_row.clawed_back, 0)
        entry = None
        ledger = self._ledger()
        if clawback and purchase_row.entry_id is not None:
            earned = await ledger.get_entry(purchase_row.entry_id)
            clawback = min(clawback, earned.amount - earned.reversed_amount)  # staff reversals
            if clawback > 0:
                entry = await ledger.reverse(
                    purchase_row.entry_id,
                    reason=f"refund {refund_id} of order {order_id}",
                    actor=actor,
                    amount=clawback,
                )
        clawed = entry.amount * -1 if entry is not None else 0
        for r, new in zip(line_rows, refunded, strict=True):
            if new != Decimal(r.refunded_amount):
                await self.conn.execute(
                    purchase_lines.update()
                    .where(
                        purchase_lines.c.purchase_id == r.purchase_id,
                        purchase_lines.c.line_no == r.line_no,
                    )
                    .values(refunded_amount=new)
                )
        updated = (
            await self.conn.execute(
                purchases.update()
                .where(purchases.c.id == purchase_row.id)
                .values(
                    refunded_amount=purchases.c.refunded_amount + total_back,
                    # What the order accounts for, even when the ledger took less (written off).
                    clawed_back=purchases.c.clawed_back + max(clawback, 0),
                )
                .returning(*purchases.c)
            )
        ).one()
        refund_row = (
            await self.conn.execute(
                refunds.insert()
                .values(
                    purchase_id=purchase_row.id,
                    member_id=purchase_row.member_id,
                    channel=channel,
                    refund_id=refund_id,
                    fingerprint=print_,
                    amount=total_back,
                    points=clawed,
                    entry_id=entry.id if entry else None,
                    created_at=self.clock.now(),
                )
                .returning(refunds.c.id)
            )
        ).one()
        return RefundResult(
            refund_row.id, _purchase(updated), total_back, clawed, entry, replayed=False
        )

    @staticmethod
    def _refund_split(
        left: dict[int, Decimal],
        by_line: list[tuple[int, Decimal]] | None,
        amount: Decimal | None,
    ) -> dict[int, Decimal]:
        """How much of each line this refund returns; refunding more than is left is refused."""
        remaining = sum(left.values(), Decimal(0))
        if by_line is not None:
            back: dict[int, Decimal] = {}
            for line_no, value in by_line:
                if line_no not in left:
                    raise invalid(f"the order has no line {line_no}", "lines.lineNo")
                back[line_no] = back.get(line_no, Decimal(0)) + value
            for line_no, value in back.items():
                if value > left[line_no]:
                    raise invalid(
                        f"line {line_no}: refunding {value}, only {left[line_no]} left to refund",
                        "lines.amount",
                    )
            return back
        if remaining <= 0:
            raise invalid("this order is already fully refunded", "orderId")
        if amount is None:
            return {n: v for n, v in left.items() if v > 0}
        if amount > remaining:
            raise invalid(f"refunding {amount}, only {remaining} left to refund", "amount")
        # Spread over the lines in proportion to what is left of each, to the cent; the last
        # line with something left takes the rounding remainder.
        back = {}
        open_lines = [n for n, v in left.items() if v > 0]
        given = Decimal(0)
        for i, line_no in enumerate(open_lines):
            if i == len(open_lines) - 1:
                share = amount - given
            else:
                share = (amount * left[line_no] / remaining).quantize(engine.CENT)
            share = min(share, left[line_no])
            back[line_no] = share
            given += share
        if given != amount:  # rounding pushed the last line past what it has: fill the others
            for line_no in open_lines:
                extra = min(amount - given, left[line_no] - back[line_no])
                back[line_no] += extra
                given += extra
        return {n: v for n, v in back.items() if v > 0}

    # ----------------------------------------------------------------------------- events

    async def record_event(
        self,
        *,
        member_id: int,
        channel: str,
        event_id: str,
        name: str,
        actor: Actor,
        quantity: Decimal = Decimal(1),
        occurred_at: datetime | None = None,
    ) -> EventResult:
        _ident(channel, "channel")
        _ident(event_id, "eventId")
        _ident(name, "name")
        if not quantity.is_finite() or quantity <= 0 or quantity > MAX_EVENT_QUANTITY:
            raise invalid(f"quantity must be above 0 and at most {MAX_EVENT_QUANTITY}", "quantity")
        if quantity != round(quantity, 4):
            raise invalid("quantity has more than 4 decimals", "quantity")
        at = self._when(occurred_at)
        print_ = fingerprint(
            {
                "member_id": member_id,
                "name": name,
                "quantity": str(quantity.normalize()),
                "occurred_at": occurred_at.isoformat() if occurred_at else None,
            }
        )
        snapshot, rules = await self._lock_for_rules(member_id, Trigger.EVENT, name, at)
        existing = (
            await self.conn.execute(
                select(earning_events).where(
                    earning_events.c.channel == channel, earning_events.c.event_id == event_id
                )
            )
        ).first()
        if existing is not None:
            same_request(
                existing.fingerprint, print_, message=_recorded_before("event id"), field="eventId"
            )
            entry = await self._ledger().get_entry(existing.entry_id) if existing.entry_id else None
            return EventResult(
                existing.id,
                existing.member_id,
                existing.name,
                existing.points,
                entry,
                existing.breakdown,
                replayed=True,
            )
        facts = await self._facts(member_id, snapshot, at, purchase=False)
        used, budgets = await self._usage(member_id, rules, at, snapshot)
        outcome = self._evaluate(
            rules, Occurrence(channel, name, quantity), facts, at, used, budgets
        )
        breakdown = outcome.details()  # on the event row, the entry and the result
        row = (
            await self.conn.execute(
                insert(earning_events)
                .values(
                    member_id=member_id,
                    channel=channel,
                    event_id=event_id,
                    name=name,
                    quantity=quantity,
                    fingerprint=print_,
                    points=outcome.points,
                    breakdown=breakdown,
                    occurred_at=at,
                    created_at=self.clock.now(),
                )
                .on_conflict_do_nothing()
                .returning(earning_events.c.id)
            )
        ).first()
        if row is None:
            raise _reused("event id", "eventId")
        entry = None
        if outcome.points:
            entry = await self._ledger().earn(
                member_id,
                outcome.points,
                reason=f"event {name}",
                actor=actor,
                reference=f"{channel}:{event_id}"[:128],
                expiry=self._rule_expiry(rules, outcome),
                details={"event_id": row.id, **breakdown},
                lock=snapshot.account,
            )
            await self.conn.execute(
                earning_events.update()
                .where(earning_events.c.id == row.id)
                .values(entry_id=entry.id)
            )
        await self._count(member_id, outcome)
        await self.tiers.record_activity(member_id, purchase=False)
        return EventResult(
            row.id, member_id, name, outcome.points, entry, breakdown, replayed=False
        )

    # ---------------------------------------------------------------------------- preview

    async def preview(
        self,
        *,
        member_id: int,
        channel: str,
        lines: Sequence[PurchaseLineInput],
        at: datetime | None = None,
    ) -> Outcome:
        """What a basket would earn now (no lock, nothing written; caps as of this moment)."""
        _ident(channel, "channel")
        checked = check_lines(lines)
        when = self.clock.now() if at is None else at
        if when.tzinfo is None:
            raise invalid("give a time zone offset", "at")
        snapshot = await self._snapshot(member_id, categories=sorted({x.category for x in checked}))
        if snapshot is None:
            raise not_found("member", member_id, "memberId")
        rules = await self.active_rules(Trigger.PURCHASE)
        facts = await self._facts(member_id, snapshot, when, purchase=True)
        day = engine.local_day(when, self.settings.timezone)
        rows = await self.conn.execute(
            select(earning_counters.c.key, earning_counters.c.points).where(
                earning_counters.c.member_id == member_id,
                earning_counters.c.key.in_(engine.counter_keys(rules, day)),
            )
        )
        used = {row.key: row.points for row in rows}
        budget_rows = await self.conn.execute(
            select(earning_budgets.c.rule_id, earning_budgets.c.used)
        )
        spent = {row.rule_id: row.used for row in budget_rows}
        budgets = {r.id: r.budget - spent.get(r.id, 0) for r in rules if r.budget is not None}
        return self._evaluate(rules, Purchase(channel, checked), facts, when, used, budgets)

    async def get_purchase(self, channel: str, order_id: str) -> PurchaseRecord:
        row = (
            await self.conn.execute(
                select(purchases).where(
                    purchases.c.channel == channel, purchases.c.order_id == order_id
                )
            )
        ).first()
        if row is None:
            raise not_found("order", f"{channel}/{order_id}", "orderId")
        return _purchase(row)
