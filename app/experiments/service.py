"""Experiments' writes and reads inside a transaction they are given: definitions, the state
changes (start, stop, roll out) with their variants' rules switched on and off in the rule book."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.earning.rulebook import Rulebook
from app.earning.tables import earning_rules
from app.engagement.tables import tasks
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.experiments.models import Experiment, ExperimentDraft, Variant, VariantDraft
from app.experiments.policy import (
    MAX_OVERRIDES_PER_VARIANT,
    MAX_RULES_PER_VARIANT,
    MAX_VARIANTS,
    OverrideKind,
    Status,
    check_code,
    check_override,
    check_weight,
)
from app.experiments.tables import (
    experiment_assignments,
    experiment_variant_overrides,
    experiment_variant_rules,
    experiment_variants,
    experiments,
)
from app.ledger.models import Actor
from app.mall.tables import mall_items
from app.segments.policy import Segment
from app.valuation.policy import plain

MAX_NAME = 200
MAX_CHANNELS = 50


def _check_name(name: str, field: str) -> str:
    if not name.strip() or len(name) > MAX_NAME:
        raise invalid(f"a name of 1 to {MAX_NAME} characters is required", field)
    return name


_FIELD = {OverrideKind.TASK_REWARD: "taskRewards", OverrideKind.ITEM_PRICE: "itemPrices"}
_NOUN = {OverrideKind.TASK_REWARD: ("task", "task"), OverrideKind.ITEM_PRICE: ("mall item", "item")}


def _overrides_of(
    variant: VariantDraft,
) -> tuple[tuple[OverrideKind, Sequence[tuple[str, Decimal]]], ...]:
    return (
        (OverrideKind.TASK_REWARD, variant.task_rewards),
        (OverrideKind.ITEM_PRICE, variant.item_prices),
    )


def _check_overrides(
    kind: OverrideKind, overrides: Sequence[tuple[str, Decimal]], field: str
) -> None:
    if len(overrides) > MAX_OVERRIDES_PER_VARIANT:
        raise invalid(f"a variant has at most {MAX_OVERRIDES_PER_VARIANT} of these", field)
    seen: set[str] = set()
    for j, (code, points) in enumerate(overrides):
        noun, key = _NOUN[kind]
        if not code or len(code) > 64:
            raise invalid(f"a {noun} code is 1 to 64 characters", f"{field}[{j}].{key}")
        if code in seen:
            raise invalid(f"{noun} {code!r} is given twice", f"{field}[{j}].{key}")
        seen.add(code)
        check_override(kind, points, f"{field}[{j}].points")


def check_draft(draft: ExperimentDraft) -> None:
    """Everything that can be checked without the database (pure)."""
    check_code(draft.code, "code")
    _check_name(draft.name, "name")
    if not 2 <= len(draft.variants) <= MAX_VARIANTS:
        raise invalid(f"an experiment has 2 to {MAX_VARIANTS} variants", "variants")
    seen: set[str] = set()
    for i, variant in enumerate(draft.variants):
        check_code(variant.code, f"variants[{i}].code")
        if variant.code in seen:
            raise invalid(f"two variants are called {variant.code!r}", f"variants[{i}].code")
        seen.add(variant.code)
        _check_name(variant.name, f"variants[{i}].name")
        check_weight(variant.weight, f"variants[{i}].weight")
        if len(variant.rules) > MAX_RULES_PER_VARIANT:
            raise invalid(
                f"a variant has at most {MAX_RULES_PER_VARIANT} rules", f"variants[{i}].rules"
            )
        for kind, overrides in _overrides_of(variant):
            _check_overrides(kind, overrides, f"variants[{i}].{_FIELD[kind]}")
    if not any(v.rules or v.task_rewards or v.item_prices for v in draft.variants):
        raise invalid(
            "at least one variant needs an earning rule, a task reward or an item price of its own",
            "variants",
        )
    if draft.channels is not None:
        if not draft.channels or len(draft.channels) > MAX_CHANNELS:
            raise invalid(f"1 to {MAX_CHANNELS} channels, or leave it out", "channels")
        for channel in draft.channels:
            if not channel.strip() or len(channel) > 64:
                raise invalid("a channel is 1 to 64 characters", "channels")
    if draft.segments is not None:
        known = {s.value for s in Segment}
        unknown = sorted(set(draft.segments) - known)
        if not draft.segments or unknown:
            raise invalid(f"segments are some of {', '.join(sorted(known))}", "segments")
    if len(set(draft.replaces)) != len(draft.replaces):
        raise invalid("a rule is replaced twice", "replaces")


class ExperimentBook:
    def __init__(self, conn: AsyncConnection, rulebook: Rulebook) -> None:
        self.conn = conn
        self.rulebook = rulebook

    # ------------------------------------------------------------------------------ writes

    async def create(self, draft: ExperimentDraft, actor: Actor) -> Experiment:
        check_draft(draft)
        taken = await self.conn.scalar(
            select(experiments.c.id).where(experiments.c.code == draft.code)
        )
        if taken is not None:
            raise DomainError(
                ErrorCode.ALREADY_EXISTS, f"an experiment {draft.code!r} exists", "code"
            )
        await self._check_replaces(draft.replaces)
        experiment_id = await self.conn.scalar(
            experiments.insert()
            .values(
                code=draft.code,
                name=draft.name,
                status=Status.DRAFT.value,
                channels=None if draft.channels is None else sorted(set(draft.channels)),
                segments=None if draft.segments is None else sorted(set(draft.segments)),
                replaces=list(draft.replaces),
                created_by=actor.principal,
                created_at=self.rulebook.clock.now(),
            )
            .returning(experiments.c.id)
        )
        await self._write_variants(int(experiment_id), draft, actor)
        return await self.get(draft.code)

    async def update(self, draft: ExperimentDraft, actor: Actor) -> Experiment:
        """A draft's new definition; once started, its variants never change."""
        check_draft(draft)
        row = await self._lock(draft.code)
        if row.status != Status.DRAFT.value:
            raise DomainError(
                ErrorCode.INVALID_STATE,
                f"the experiment is {row.status}: its variants cannot change once started",
                "code",
            )
        await self._check_replaces(draft.replaces)
        variant_ids = select(experiment_variants.c.id).where(
            experiment_variants.c.experiment_id == row.id
        )
        await self.conn.execute(
            experiment_variant_overrides.delete().where(
                experiment_variant_overrides.c.variant_id.in_(variant_ids)
            )
        )
        # The old variants' rules stay in the rule book, disabled (their versions are audit).
        await self.conn.execute(
            experiment_variant_rules.delete().where(
                experiment_variant_rules.c.variant_id.in_(variant_ids)
            )
        )
        await self.conn.execute(
            experiment_variants.delete().where(experiment_variants.c.experiment_id == row.id)
        )
        await self.conn.execute(
            experiments.update()
            .where(experiments.c.id == row.id)
            .values(
                name=draft.name,
                channels=None if draft.channels is None else sorted(set(draft.channels)),
                segments=None if draft.segments is None else sorted(set(draft.segments)),
                replaces=list(draft.replaces),
            )
        )
        await self._write_variants(row.id, draft, actor)
        return await self.get(draft.code)

    async def start(self, code: str, actor: Actor) -> Experiment:
        row = await self._lock(code)
        if row.status == Status.RUNNING.value:
            return await self.get(code)
        if row.status != Status.DRAFT.value:
            raise DomainError(
                ErrorCode.INVALID_STATE, f"the experiment is {row.status}: it ran already", "code"
            )
        await self._set_rules(await self._rule_ids(row.id), True, actor)
        await self.conn.execute(
            experiments.update()
            .where(experiments.c.id == row.id)
            .values(status=Status.RUNNING.value, started_at=self.rulebook.clock.now())
        )
        await self._announce(row.id)
        return await self.get(code)

    async def stop(self, code: str, actor: Actor) -> Experiment:
        """Its variants' rules stop applying; every point already earned stays."""
        row = await self._lock(code)
        if row.status == Status.STOPPED.value:
            return await self.get(code)
        if row.status != Status.RUNNING.value:
            raise DomainError(
                ErrorCode.INVALID_STATE, f"the experiment is {row.status}, not running", "code"
            )
        await self._set_rules(await self._rule_ids(row.id), False, actor)
        await self._end(row.id, Status.STOPPED, actor)
        await self._announce(row.id)
        return await self.get(code)

    async def roll_out(self, code: str, variant_code: str, actor: Actor) -> Experiment:
        """The winner's rules become the programme's (for every member), the other variants'
        are switched off, and the programme rules the experiment replaced too."""
        row = await self._lock(code)
        variants = {
            v.code: v
            for v in await self.conn.execute(
                select(experiment_variants).where(experiment_variants.c.experiment_id == row.id)
            )
        }
        winner = variants.get(variant_code)
        if winner is None:
            raise not_found("variant", variant_code, "variant")
        if row.status == Status.ROLLED_OUT.value:
            if row.winner_variant_id == winner.id:
                return await self.get(code)
            raise DomainError(
                ErrorCode.INVALID_STATE, "the experiment was rolled out with another variant"
            )
        if row.status not in (Status.RUNNING.value, Status.STOPPED.value):
            raise DomainError(
                ErrorCode.INVALID_STATE, f"the experiment is {row.status}: start it first", "code"
            )
        mine = await self._rule_ids(row.id, variant_id=winner.id)
        others = [r for r in await self._rule_ids(row.id) if r not in mine]
        await self._set_rules(others, False, actor)
        await self._set_rules(list(row.replaces), False, actor)
        await self._set_rules(mine, True, actor)
        await self.conn.execute(
            experiments.update()
            .where(experiments.c.id == row.id)
            .values(winner_variant_id=winner.id)
        )
        await self._end(row.id, Status.ROLLED_OUT, actor, keep_end=row.ended_at is not None)
        await self._announce(row.id)
        return await self.get(code)

    async def _end(
        self, experiment_id: int, status: Status, actor: Actor, *, keep_end: bool = False
    ) -> None:
        values: dict[str, Any] = {"status": status.value}
        if not keep_end:
            values |= {"ended_at": self.rulebook.clock.now(), "ended_by": actor.principal}
        await self.conn.execute(
            experiments.update().where(experiments.c.id == experiment_id).values(**values)
        )

    async def _announce(self, experiment_id: int) -> None:
        # A state change must move the rules' generation even when no switch above changed a
        # rule (a winner that already had every rule): that is what refreshes every replica's
        # cached plan of the experiments (app/experiments/chooser.py).
        await self.rulebook.touch(await self._rule_ids(experiment_id))

    async def _set_rules(self, rule_ids: Sequence[int], enabled: bool, actor: Actor) -> None:
        # Through the rule book: each switch is a version of the rule with its audit row, and
        # it moves the rules' generation, which is what tells every replica's chooser.
        for rule_id in sorted(rule_ids):
            await self.rulebook.set_enabled(rule_id, enabled, actor=actor)

    async def _write_variants(
        self, experiment_id: int, draft: ExperimentDraft, actor: Actor
    ) -> None:
        for position, variant in enumerate(draft.variants):
            variant_id = await self.conn.scalar(
                experiment_variants.insert()
                .values(
                    experiment_id=experiment_id,
                    code=variant.code,
                    name=variant.name,
                    weight=check_weight(variant.weight, f"variants[{position}].weight"),
                    position=position,
                )
                .returning(experiment_variants.c.id)
            )
            await self._write_overrides(int(variant_id), position, variant)
            for n, spec in enumerate(variant.rules):
                try:
                    record = await self.rulebook.create_rule(spec, actor=actor, enabled=False)
                except DomainError as refused:
                    where = f"variants[{position}].rules[{n}]"
                    refused.field = f"{where}.{refused.field}" if refused.field else where
                    raise
                await self.conn.execute(
                    experiment_variant_rules.insert().values(
                        variant_id=variant_id, rule_id=record.rule.id
                    )
                )

    async def _write_overrides(self, variant_id: int, position: int, variant: VariantDraft) -> None:
        """The variant's task rewards and item prices, each naming a task or item that exists
        (by code: what staff and the seed call them)."""
        catalogues = {OverrideKind.TASK_REWARD: tasks, OverrideKind.ITEM_PRICE: mall_items}
        rows = []
        for kind, overrides in _overrides_of(variant):
            if not overrides:
                continue
            table = catalogues[kind]
            codes = [code for code, _ in overrides]
            known = set(
                await self.conn.scalars(select(table.c.code).where(table.c.code.in_(codes)))
            )
            for j, (code, points) in enumerate(overrides):
                noun, key = _NOUN[kind]
                if code not in known:
                    raise not_found(noun, code, f"variants[{position}].{_FIELD[kind]}[{j}].{key}")
                where = f"variants[{position}].{_FIELD[kind]}[{j}].points"
                rows.append(
                    {
                        "variant_id": variant_id,
                        "kind": kind.value,
                        "code": code,
                        "points": check_override(kind, points, where),
                    }
                )
        if rows:
            await self.conn.execute(experiment_variant_overrides.insert(), rows)

    async def _check_replaces(self, rule_ids: Sequence[int]) -> None:
        if not rule_ids:
            return
        found = set(
            await self.conn.scalars(
                select(earning_rules.c.id).where(earning_rules.c.id.in_(list(rule_ids)))
            )
        )
        for rule_id in rule_ids:
            if rule_id not in found:
                raise not_found("earning rule", rule_id, "replaces")
        experimental = set(
            await self.conn.scalars(
                select(experiment_variant_rules.c.rule_id).where(
                    experiment_variant_rules.c.rule_id.in_(list(rule_ids))
                )
            )
        )
        if experimental:
            raise invalid(
                f"rule {min(experimental)} belongs to an experiment, not the programme",
                "replaces",
            )

    async def _lock(self, code: str) -> Row[Any]:
        row = (
            await self.conn.execute(
                select(experiments).where(experiments.c.code == code).with_for_update()
            )
        ).first()
        if row is None:
            raise not_found("experiment", code, "code")
        return row

    async def _rule_ids(self, experiment_id: int, *, variant_id: int | None = None) -> list[int]:
        query = (
            select(experiment_variant_rules.c.rule_id)
            .join(
                experiment_variants,
                experiment_variants.c.id == experiment_variant_rules.c.variant_id,
            )
            .where(experiment_variants.c.experiment_id == experiment_id)
        )
        if variant_id is not None:
            query = query.where(experiment_variants.c.id == variant_id)
        return list(await self.conn.scalars(query))

    # ------------------------------------------------------------------------------- reads

    async def get(self, code: str) -> Experiment:
        found = await self.find([code])
        if not found:
            raise not_found("experiment", code, "code")
        return found[0]

    async def find(self, codes: Sequence[str] | None = None) -> list[Experiment]:
        """The experiments (all, or those of ``codes``), newest first, with their variants."""
        query = select(experiments).order_by(experiments.c.id.desc())
        if codes is not None:
            query = query.where(experiments.c.code.in_(list(codes)))
        heads = list(await self.conn.execute(query))
        if not heads:
            return []
        ids = [h.id for h in heads]
        rules = (
            select(func.array_agg(experiment_variant_rules.c.rule_id))
            .where(experiment_variant_rules.c.variant_id == experiment_variants.c.id)
            .scalar_subquery()
        )
        members = (
            select(func.count())
            .where(experiment_assignments.c.variant_id == experiment_variants.c.id)
            .scalar_subquery()
        )
        rows = await self.conn.execute(
            select(experiment_variants, rules.label("rule_ids"), members.label("members"))
            .where(experiment_variants.c.experiment_id.in_(ids))
            .order_by(experiment_variants.c.experiment_id, experiment_variants.c.position)
        )
        overrides: dict[int, dict[str, dict[str, int]]] = defaultdict(
            lambda: {kind.value: {} for kind in OverrideKind}
        )
        for o in await self.conn.execute(
            select(experiment_variant_overrides)
            .join(
                experiment_variants,
                experiment_variants.c.id == experiment_variant_overrides.c.variant_id,
            )
            .where(experiment_variants.c.experiment_id.in_(ids))
            .order_by(experiment_variant_overrides.c.code)
        ):
            overrides[o.variant_id][o.kind][o.code] = int(o.points)
        variants: dict[int, list[Variant]] = {i: [] for i in ids}
        codes_by_id: dict[int, str] = {}
        for v in rows:
            codes_by_id[v.id] = v.code
            variants[v.experiment_id].append(
                Variant(
                    v.id,
                    v.code,
                    v.name,
                    plain(Decimal(v.weight)),
                    tuple(sorted(v.rule_ids or ())),
                    int(v.members),
                    task_rewards=overrides[v.id][OverrideKind.TASK_REWARD.value],
                    item_prices=overrides[v.id][OverrideKind.ITEM_PRICE.value],
                )
            )
        return [
            Experiment(
                id=h.id,
                code=h.code,
                name=h.name,
                status=Status(h.status),
                variants=tuple(variants[h.id]),
                replaces=tuple(h.replaces or ()),
                channels=None if h.channels is None else tuple(h.channels),
                segments=None if h.segments is None else tuple(h.segments),
                created_by=h.created_by,
                created_at=h.created_at,
                started_at=h.started_at,
                ended_at=h.ended_at,
                ended_by=h.ended_by,
                winner=codes_by_id.get(h.winner_variant_id) if h.winner_variant_id else None,
            )
            for h in heads
        ]
