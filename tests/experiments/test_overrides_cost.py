"""What a variant's task reward and item price cost in statements: with no experiment
overriding them, a task completion and a redemption run the statements they ran before; with
one running, one more (the member's channel and assignments), and at the member's first
exposure the insert of its assignment too; after a stop, as before again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal

import pytest

from app.engagement import usecases as engagement
from app.experiments import usecases as experiments
from app.experiments.models import ExperimentDraft, VariantDraft
from app.ledger import usecases as ledger
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.mall import usecases as mall
from app.mall.catalogue import get_item_by_code
from app.members import usecases as members
from app.runtime import Runtime
from app.seed import seed_mall
from tests.experiments.test_results import STAFF
from tests.statements import counting

Overrides = Sequence[tuple[str, Decimal]]
Step = Callable[[int, str], Awaitable[object]]


def _draft(*, task_rewards: Overrides = (), item_prices: Overrides = ()) -> ExperimentDraft:
    return ExperimentDraft(
        code="costed",
        name="costed",
        variants=[
            VariantDraft("a", "control", Decimal(1)),
            VariantDraft("b", "b", Decimal(1), task_rewards=task_rewards, item_prices=item_prices),
        ],
    )


async def _member(rt: Runtime, ref: str) -> int:
    member = (await members.register_member(rt, channel="pos", external_ref=ref)).member.id
    earn = Earn(member_id=member, amount=10_000, reason="top-up")
    await ledger.earn_points(rt, STAFF, earn, idempotency_key=f"top-up-{ref}")
    return member


async def _costs(rt: Runtime, step: Step, draft: ExperimentDraft) -> tuple[int, ...]:
    async def count(member: int, key: str) -> int:
        with counting(rt) as statements:
            await step(member, key)
        return len(statements)

    old = await _member(rt, "old")
    await step(old, "warm-up")  # caches filled, first time behind
    before = await count(old, "plain")
    await experiments.create_experiment(rt, STAFF, draft)
    await experiments.start_experiment(rt, STAFF, "costed")
    newcomer = await _member(rt, "new")
    await step(newcomer, "warm-up-2")  # plans cached again, newcomer exposed
    steady = await count(newcomer, "steady")
    first = await count(old, "exposed")  # old's first since the start
    await experiments.stop_experiment(rt, STAFF, "costed")
    await step(old, "refill")
    after = await count(old, "after")
    return steady - before, first - before, after - before


async def test_a_task_completion_pays_one_statement_more_only_while_its_reward_is_tested(
    runtime: Runtime,
) -> None:
    spec = {
        "name": "share",
        "kind": "repeatable",
        "trigger": "manual",
        "max_completions": 100,
        "reward": {"points": 20},
    }
    await engagement.create_task(runtime, STAFF, "share", spec)

    async def complete(member: int, _: str) -> object:
        return await engagement.complete_task(runtime, Actor(f"member:{member}"), member, "share")

    draft = _draft(task_rewards=[("share", Decimal(50))])
    assert await _costs(runtime, complete, draft) == (1, 2, 0)


async def test_a_redemption_pays_one_statement_more_only_while_its_price_is_tested(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the ordinary path (BEGIN, its statements, COMMIT): the experiment's own cost. The
    one-statement placement (app/mall/onetrip.py) is not tried for a price under test, below."""
    monkeypatch.setattr(mall, "place_in_one_trip", _not_tried)
    redeem = await _coupon_redemption(runtime)
    draft = _draft(item_prices=[("coupon-5cny", Decimal(80))])
    assert await _costs(runtime, redeem, draft) == (1, 2, 0)


async def _not_tried(*_: object) -> None:
    return None


async def _coupon_redemption(runtime: Runtime) -> Callable[[int, str], Awaitable[object]]:
    """The demo mall seeded; a member's redemption of one 5-CNY coupon under a key."""
    await seed_mall(runtime)
    item = await get_item_by_code(runtime, "coupon-5cny")

    async def redeem(member: int, key: str) -> object:
        return await mall.place_redemption(
            runtime,
            Actor(f"member:{member}"),
            member_id=member,
            item_id=item.id,
            quantity=1,
            idempotency_key=key,
        )

    return redeem


async def test_a_redemption_whose_price_is_tested_takes_the_ordinary_path(
    runtime: Runtime,
) -> None:
    """An untested price is placed in one statement; while the price is tested the placement
    falls back to the ordinary transaction (the statement declines a price an experiment
    overrides), 15 statements more, then one statement again once the experiment stops."""
    redeem = await _coupon_redemption(runtime)
    draft = _draft(item_prices=[("coupon-5cny", Decimal(80))])
    assert await _costs(runtime, redeem, draft) == (15, 16, 0)
