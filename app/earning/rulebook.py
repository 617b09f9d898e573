"""The rule book: earning rules as rows — created, changed, switched on and off (each change a
new version with an audit row), listed, and the enabled ones cached per process."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import Clock
from app.configcache import GenerationCache
from app.earning.commands import RuleDraft
from app.earning.rules import Rule, Trigger, select_rules
from app.earning.specs import parse_rule, rule_spec
from app.earning.tables import earning_budgets, earning_rule_versions, earning_rules
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.ledger.models import Actor
from app.tiers.service import TierService

# Every enabled rule as of a generation of the rules table, per process (app/configcache.py).
ENABLED_RULES: GenerationCache[list[Rule]] = GenerationCache()


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


class Rulebook:
    def __init__(self, conn: AsyncConnection, clock: Clock, tiers: TierService) -> None:
        self.conn = conn
        self.clock = clock
        self.tiers = tiers

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
        stored = rule_spec(rule)
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
        stored = rule_spec(rule)
        if stored == current.spec:
            return self._record(current)
        values = {"name": rule.name, "trigger": rule.trigger.value, "event": rule.event}
        row = await self._new_version(rule_id, "updated", actor, spec=stored, **values)
        await self._open_budget(rule_id, rule)
        return self._record(row)

    async def set_enabled(
        self, rule_id: int, enabled: bool, *, actor: Actor, expected_version: int | None = None
    ) -> RuleRecord:
        current = await self._lock_rule(rule_id, expected_version)
        if current.enabled == enabled:
            return self._record(current)
        change = "enabled" if enabled else "disabled"
        return self._record(await self._new_version(rule_id, change, actor, enabled=enabled))

    async def touch(self, rule_ids: list[int]) -> None:
        """Rewrite these rules' rows unchanged: no new version, but the rules table's
        generation moves (app/configcache.py), so every process reads again, at its next
        purchase, what it cached with the rules (an experiment's state:
        app/experiments/chooser.py)."""
        if rule_ids:
            await self.conn.execute(
                earning_rules.update()
                .where(earning_rules.c.id.in_(rule_ids))
                .values(enabled=earning_rules.c.enabled)
            )

    async def _new_version(
        self, rule_id: int, change: str, actor: Actor, **values: Any
    ) -> Row[Any]:
        """The locked rule written with ``values`` as its next version, and that version
        audited (``change``: what the audit trail calls it)."""
        row = (
            await self.conn.execute(
                earning_rules.update()
                .where(earning_rules.c.id == rule_id)
                .values(
                    **values,
                    version=earning_rules.c.version + 1,
                    updated_at=self.clock.now(),
                    updated_by=actor.principal,
                )
                .returning(*earning_rules.c)
            )
        ).one()
        await self._audit(row, change, actor)
        return row

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

    async def versions_of(self, rule_ids: list[int]) -> dict[int, list[RuleVersion]]:
        """Each rule's versions, newest first, in one statement (a rule with none: [])."""
        rows = await self.conn.execute(
            select(earning_rule_versions)
            .where(earning_rule_versions.c.rule_id.in_(rule_ids))
            .order_by(earning_rule_versions.c.rule_id, earning_rule_versions.c.version.desc())
        )
        found: dict[int, list[RuleVersion]] = {rule_id: [] for rule_id in rule_ids}
        for r in rows:
            found[r.rule_id].append(
                RuleVersion(
                    r.rule_id, r.version, r.change, r.spec, r.enabled, r.actor, r.created_at
                )
            )
        return found

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

    async def rules_with_draft(self, trigger: Trigger, draft: RuleDraft) -> list[Rule]:
        """The rules ``trigger`` would run with ``draft`` saved (checked as a save checks it):
        in place of the rule it edits, or as a new rule (id 0: no counters, its whole budget)."""
        rule = await self._check_rule(draft.spec)
        if draft.rule_id is not None:
            await self.get_rule(draft.rule_id)  # NOT_FOUND for a rule that does not exist
        others = [r for r in await self.enabled_rules() if r.id != draft.rule_id]
        return select_rules([*others, replace(rule, id=draft.rule_id or 0)], trigger, None)
