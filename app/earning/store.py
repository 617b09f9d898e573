"""Earning's reads under the member's lock, and the counters it writes.

A purchase or an event first locks the member's account row (the ledger's one lock, taken
again by the ledger itself at no cost), then reads what the rules need (first purchase, known
categories, tier, cap counters) in one statement. Two purchases of one member are serialised
by that lock, so caps are exact; purchases of different members never wait for each other,
except on a rule's campaign budget row (locked only when a budgeted rule applies, after the
account).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import Clock
from app.config import Settings
from app.configcache import generation_of
from app.earning import counters, engine
from app.earning.decisions import Standing, member_facts
from app.earning.engine import expiry_override
from app.earning.hooks import RULE_CHOOSERS, RuleChoice
from app.earning.records import MemberSnapshot
from app.earning.rulebook import ENABLED_RULES, Rulebook
from app.earning.rules import Outcome, Rule, Trigger, select_rules
from app.earning.tables import (
    earning_budgets,
    earning_counters,
    earning_rules,
    purchase_lines,
    purchases,
)
from app.errors import DomainError, ErrorCode, not_found
from app.ledger.accounts import lock_account
from app.ledger.expiry import ExpiryPolicy
from app.ledger.service import Ledger, LedgerPolicy
from app.members.models import MemberStatus
from app.members.tables import members
from app.segments.tables import member_segments
from app.tiers.policy import MemberTier, TierPolicy
from app.tiers.service import TierService
from app.tiers.tables import member_tiers, tier_definitions


def _snapshot_query() -> Any:
    """The member snapshot's statement (see EarningStore.snapshot), built once: its
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
            member_segments.c.segment,
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
            members.outerjoin(member_tiers, member_tiers.c.member_id == members.c.id).outerjoin(
                member_segments, member_segments.c.member_id == members.c.id
            )
        )
        .where(members.c.id == member_id)
    )


_SNAPSHOT = _snapshot_query()


class EarningStore:
    """One unit of work's earning: its connection, and the tiers, ledger and rule book on it."""

    def __init__(self, conn: AsyncConnection, clock: Clock, settings: Settings) -> None:
        self.conn = conn
        self.clock = clock
        self.settings = settings
        self.tiers = TierService(conn, clock, TierPolicy.from_settings(settings))
        self.rulebook = Rulebook(conn, clock, self.tiers)

    def ledger(self) -> Ledger:
        return Ledger(self.conn, self.clock, LedgerPolicy.from_settings(self.settings))

    def rule_expiry(self, rules: list[Rule], outcome: Outcome) -> ExpiryPolicy | None:
        """The credit's expiry policy when its rules override the programme's (else None: the
        ledger applies the programme's)."""
        policy = self.ledger().policy
        return expiry_override(rules, outcome, policy.expiry, self.clock.now(), policy.timezone)

    async def snapshot(
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
            segment=row.segment,
            rules_generation=row.rules_generation,
            counter_keys=frozenset(counter_keys),
        )

    async def lock_for_rules(
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
            counter_keys=counters.counter_keys(guess, day),
            order=order,
        )
        rules = select_rules(
            await self.rulebook.enabled_rules(snapshot.rules_generation), trigger, event
        )
        choice = RuleChoice(  # experiments: the member's variant's rules only
            member_id, snapshot.rules_generation, snapshot.segment, self.clock.now(), assign=True
        )
        rules = await RULE_CHOOSERS(self.conn, choice, rules)
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
        snapshot = await self.snapshot(
            member_id, categories=categories, counter_keys=counter_keys, order=order
        )
        if snapshot is None:
            raise not_found("member", member_id, "memberId")
        if snapshot.status == MemberStatus.CLOSED.value:
            raise DomainError(ErrorCode.MEMBER_NOT_ACTIVE, "the member's account is closed")
        locked.status = MemberStatus(snapshot.status)
        return replace(snapshot, account=locked)

    async def standing(
        self,
        member_id: int,
        snapshot: MemberSnapshot,
        rules: Sequence[Rule],
        at: datetime,
        *,
        purchase: bool,
    ) -> Standing:
        """The member's facts, counters and budgets left, as the rules weigh them."""
        defs = await self.tiers.definitions()
        tier = await self.tiers.tier_of(member_id, defs)
        facts = member_facts(snapshot, tier, at, self.settings.timezone, purchase=purchase)
        used, budgets = await self._usage(member_id, rules, at, snapshot)
        return Standing(facts, used, budgets)

    async def preview_standing(
        self, member_id: int, snapshot: MemberSnapshot, rules: Sequence[Rule], at: datetime
    ) -> Standing:
        """As :meth:`standing` for a purchase, read without locks (caps as of this moment)."""
        defs = await self.tiers.definitions()
        tier = await self.tiers.tier_of(member_id, defs)
        facts = member_facts(snapshot, tier, at, self.settings.timezone, purchase=True)
        day = engine.local_day(at, self.settings.timezone)
        rows = await self.conn.execute(
            select(earning_counters.c.key, earning_counters.c.points).where(
                earning_counters.c.member_id == member_id,
                earning_counters.c.key.in_(counters.counter_keys(rules, day)),
            )
        )
        used = {row.key: row.points for row in rows}
        budget_rows = await self.conn.execute(
            select(earning_budgets.c.rule_id, earning_budgets.c.used)
        )
        spent = {row.rule_id: row.used for row in budget_rows}
        budgets = {r.id: r.budget - spent.get(r.id, 0) for r in rules if r.budget is not None}
        return Standing(facts, used, budgets)

    async def _usage(
        self, member_id: int, rules: Sequence[Rule], at: datetime, snapshot: MemberSnapshot
    ) -> tuple[dict[str, int], dict[int, int]]:
        """Counters and budgets left. The counters came with the snapshot (read for the rules
        cached before the lock); when the rules changed meanwhile, read the new rules' again."""
        day = engine.local_day(at, self.settings.timezone)
        keys = counters.counter_keys(rules, day)
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

    async def count(self, member_id: int, outcome: Outcome) -> None:
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
