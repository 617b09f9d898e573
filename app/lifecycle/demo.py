"""The lifecycle's part of the demo programme: a coalition partner, and points about to expire
(so the first expiry-reminders run has something to say)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from app.ledger import usecases as ledger
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.lifecycle.exchange import PartnerTerms, list_partners, save_partner
from app.members import usecases as members
from app.runtime import Runtime

# 航空里程 ↔ 积分: 2 miles make 1 point; 1 point makes 1 mile (the programme keeps a margin).
DEMO_PARTNER = PartnerTerms(
    code="sky-miles",
    name="天翼航空里程 Sky Miles (demo)",
    rate_in=Decimal("0.5"),
    rate_out=Decimal("1"),
    min_points=100,
    max_points=20_000,
    daily_limit=50_000,
)
EXPIRING_SOON = 100
EXPIRING_IN = timedelta(days=25)


async def seed_lifecycle(rt: Runtime, actor: Actor, demo_member_id: int) -> None:
    if DEMO_PARTNER.code not in {p.code for p in await list_partners(rt)}:
        await save_partner(rt, actor, DEMO_PARTNER)  # never overwrite a staff edit
    member = await members.get_member(rt, demo_member_id)
    expires_at = member.created_at + EXPIRING_IN
    if expires_at <= rt.clock.now():
        return  # a programme seeded long ago: nothing "about to expire" to show any more
    # Dated from registration, so that a second seeding sends the very same request.
    await ledger.earn_points(
        rt,
        actor,
        Earn(
            member_id=demo_member_id,
            amount=EXPIRING_SOON,
            reason="campaign points about to expire (demo programme)",
            expires_at=expires_at,
        ),
        idempotency_key="seed:lifecycle:expiring-soon",
    )
