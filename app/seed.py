"""The demo programme seeded on first start (FEATURES.md numbers).

Seeding goes through the same use cases as the API, with fixed idempotency keys, so running it
again changes nothing. Earning rules, tiers, the mall and engagement arrive with their issues and
add their part of the demo here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from app.earning import usecases as earning
from app.earning.demo import DEMO_RULES
from app.engagement.demo import seed_engagement
from app.games.demo import seed_games
from app.ledger import usecases as ledger
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.lifecycle.demo import seed_lifecycle
from app.mall import catalogue as mall_catalogue
from app.mall import lottery as mall_lottery
from app.mall.demo import DEMO_CHARITY, DEMO_COFFEE_CODES, DEMO_ITEMS, DEMO_WHEEL
from app.mall.donations import ensure_charity
from app.mall.policy import CouponSource
from app.members import usecases as members
from app.runtime import Runtime
from app.tiers.policy import DEMO_TIERS
from app.tiers.usecases import install_tiers

SEED_ACTOR = Actor("system:seed", "seed")


@dataclass(frozen=True)
class DemoMember:
    channel: str
    external_ref: str
    name: str
    opening_points: int
    pending_points: int = 0


# One member per channel kind the seeds name ("通存通兑": earn anywhere, spend anywhere).
DEMO_MEMBERS = (
    DemoMember("mini-program", "wx-demo-0001", "张小明 (demo)", 1_200, pending_points=150),
    DemoMember("pos", "pos-card-8800", "李娜", 650),
    DemoMember("app", "app-user-42", "王芳", 5_200),
    DemoMember("e-commerce", "tmall-777", "陈伟", 80),
)


@dataclass(frozen=True)
class DemoSummary:
    demo_member_id: int
    member_ids: tuple[int, ...]


async def seed_earning(rt: Runtime) -> None:
    """The demo tiers and every earning rule of FEATURES.md §3 (docs/EARNING.md, TIERS.md)."""
    await install_tiers(rt, DEMO_TIERS)
    for key, spec in DEMO_RULES.items():
        await earning.ensure_seeded_rule(rt, SEED_ACTOR, f"demo:{key}", spec)


async def seed_mall(rt: Runtime) -> None:
    """The demo catalogue, the prize wheel and a charity (docs/MALL.md)."""
    for spec, stock in DEMO_ITEMS:
        item = await mall_catalogue.ensure_item(rt, SEED_ACTOR, spec, stock)
        if spec.coupon_source is CouponSource.POOL and item.stock_total == 0:
            await mall_catalogue.add_coupon_codes(rt, item.id, list(DEMO_COFFEE_CODES))
    await mall_lottery.ensure_pool(rt, DEMO_WHEEL)
    await ensure_charity(rt, *DEMO_CHARITY)


async def seed_demo(rt: Runtime) -> DemoSummary:
    await seed_earning(rt)
    await seed_engagement(rt, SEED_ACTOR)
    await seed_mall(rt)
    ids = []
    for demo in DEMO_MEMBERS:
        registration = await members.register_member(
            rt, channel=demo.channel, external_ref=demo.external_ref, name=demo.name
        )
        member_id = registration.member.id
        ids.append(member_id)
        await ledger.earn_points(
            rt,
            SEED_ACTOR,
            Earn(
                member_id=member_id,
                amount=demo.opening_points,
                reason="opening balance (demo programme)",
            ),
            idempotency_key=f"seed:opening:{demo.channel}:{demo.external_ref}",
        )
        if demo.pending_points:
            # A purchase inside its 7-day return window; dated from registration so that a
            # second seeding sends the very same request.
            await ledger.earn_points(
                rt,
                SEED_ACTOR,
                Earn(
                    member_id=member_id,
                    amount=demo.pending_points,
                    reason="purchase in return window (demo programme)",
                    reference="demo-order-0001",
                    available_at=registration.member.created_at + timedelta(days=7),
                ),
                idempotency_key=f"seed:pending:{demo.channel}:{demo.external_ref}",
            )
    await seed_lifecycle(rt, SEED_ACTOR, ids[1])  # 李娜: points about to expire
    # 王芳 leads the demo auction, pledges, and challenges the demo member to a PK duel
    await seed_games(rt, SEED_ACTOR, ids[2], ids[0])
    return DemoSummary(demo_member_id=ids[0], member_ids=tuple(ids))
