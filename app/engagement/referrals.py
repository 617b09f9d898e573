"""Referrals: rewards for bringing a friend (win-back, for coming back: app/engagement/activity.py).

Referral: each member has an invite code, made when it first asks for it (a mutation: reading
the referrals writes nothing); a new member (no purchase yet, registered within
``JIFEN_ENGAGEMENT_REFERRAL_WINDOW_DAYS``) accepts one code, once. On the friend's first
purchase both get ``JIFEN_ENGAGEMENT_REFERRAL_POINTS`` (demo 100), in the purchase's own
transaction; the referrer only while under ``JIFEN_ENGAGEMENT_REFERRAL_MONTHLY_CAP`` rewarded
referrals this business month (the friend is paid regardless). No self-referral, no cycles (a
member cannot accept the code of someone it referred, directly or further down), so the two
account locks are always taken friend first, then referrer, down a tree: no lock cycle.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import Clock, business_date
from app.config import Settings
from app.earning.tables import purchases
from app.engagement.rewards import Granted, Rewards, ensure_profile, lock_member
from app.engagement.tables import engagement_profiles, referrals
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.events.outbox import append_event, member_topic
from app.ledger.models import Actor
from app.members.claims import Kind, claiming
from app.members.tables import members
from app.tiers.policy import TierPolicy
from app.tiers.service import TierService

# Unambiguous characters (no 0/O, 1/I/L): codes are read aloud and typed on phones.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
MAX_CHAIN = 1_000  # referral chains are walked up to this depth for the cycle check

INVITED = "referral.accepted"
REWARDED = "referral.rewarded"


@dataclass(frozen=True)
class Referral:
    friend_id: int
    referrer_id: int
    status: str
    referrer_rewarded: bool
    created_at: datetime
    rewarded_at: datetime | None


@dataclass(frozen=True)
class ReferralSummary:
    invite_code: str | None  # None until the member asked for one (issue_code)
    referrer_id: int | None
    friends: list[Referral]
    rewarded_this_month: int
    monthly_cap: int


def _referral(row: Any) -> Referral:
    return Referral(
        friend_id=row.friend_id,
        referrer_id=row.referrer_id,
        status=row.status,
        referrer_rewarded=row.referrer_rewarded,
        created_at=row.created_at,
        rewarded_at=row.rewarded_at,
    )


UNREAD: Any = object()  # the caller did not read the pending referral


def pending_referrer(friend_id: Any) -> Any:
    """The referrer of the member's pending referral (NULL: none), a scalar subquery: read
    after the friend's lock, by itself or inside the caller's statement."""
    return (
        select(referrals.c.referrer_id)
        .where(referrals.c.friend_id == friend_id, referrals.c.status == "pending")
        .scalar_subquery()
    )


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


class Referrals:
    def __init__(self, conn: AsyncConnection, clock: Clock, settings: Settings) -> None:
        self.conn = conn
        self.clock = clock
        self.settings = settings
        self.rewards = Rewards.of(conn, clock, settings)

    def _month(self, at: datetime) -> str:
        day = business_date(at, self.settings.timezone)
        return f"{day.year:04d}-{day.month:02d}"

    # ------------------------------------------------------------------------ codes

    async def code_of(self, member_id: int) -> str | None:
        """The member's invite code, None until it was issued (a read: it writes nothing)."""
        code: str | None = await self.conn.scalar(
            select(engagement_profiles.c.invite_code).where(
                engagement_profiles.c.member_id == member_id
            )
        )
        return code

    async def issue_code(self, member_id: int) -> str:
        """The member's invite code, made the first time it is asked for; the same code every
        time after. The member's lock serialises two first requests; a code another member
        already has is drawn again (31^8 codes: nearly never). A code is claimed across members
        first (app/members/claims.py): the profile's key carries member_id (Citus)."""
        await lock_member(self.conn, member_id)
        await ensure_profile(self.conn, member_id)
        code = await self.code_of(member_id)
        while code is None:
            candidate = new_code()
            claimed = await self.conn.scalar(claiming(Kind.INVITE, "", candidate, member_id))
            if claimed is not None:
                await self.conn.execute(
                    engagement_profiles.update()
                    .where(engagement_profiles.c.member_id == member_id)
                    .values(invite_code=candidate)
                )
                code = candidate
        return code

    # --------------------------------------------------------------------- accepting

    async def _ancestors_include(self, referrer_id: int, friend_id: int) -> bool:
        current: int | None = referrer_id
        for _ in range(MAX_CHAIN):
            current = await self.conn.scalar(
                select(referrals.c.referrer_id).where(referrals.c.friend_id == current)
            )
            if current is None:
                return False
            if current == friend_id:
                return True
        return True  # a chain this deep is refused rather than walked further

    async def accept(self, friend_id: int, code: str, *, actor: Actor) -> Referral:
        clean = code.strip().upper()
        if not 1 <= len(clean) <= 16:
            raise invalid("an invite code is 1..16 characters", "inviteCode")
        await lock_member(self.conn, friend_id)
        referrer_id = await self.conn.scalar(
            select(engagement_profiles.c.member_id).where(
                engagement_profiles.c.invite_code == clean
            )
        )
        if referrer_id is None:
            raise not_found("invite code", clean, "inviteCode")
        if referrer_id == friend_id:
            raise invalid("a member cannot refer itself", "inviteCode")
        existing = await self.conn.scalar(
            select(referrals.c.referrer_id).where(referrals.c.friend_id == friend_id)
        )
        if existing is not None:
            raise DomainError(
                ErrorCode.ALREADY_EXISTS, "this member already has a referrer", "inviteCode"
            )
        await self._check_new_member(friend_id)
        if await self._ancestors_include(referrer_id, friend_id):
            raise invalid("a member cannot accept the code of someone it referred", "inviteCode")
        now = self.clock.now()
        row = (
            await self.conn.execute(
                insert(referrals)
                .values(
                    friend_id=friend_id,
                    referrer_id=referrer_id,
                    status="pending",
                    referrer_rewarded=False,
                    created_at=now,
                )
                .returning(*referrals.c)
            )
        ).one()
        payload = {"friend_id": friend_id, "referrer_id": referrer_id, "by": actor.principal}
        await append_event(self.conn, member_topic(friend_id), INVITED, payload)
        return _referral(row)

    async def _check_new_member(self, friend_id: int) -> None:
        """Only a new member can be referred: no purchase yet, registered recently."""
        created = await self.conn.scalar(
            select(members.c.created_at).where(members.c.id == friend_id)
        )
        window = timedelta(days=self.settings.engagement_referral_window_days)
        bought = await self.conn.scalar(
            select(purchases.c.id).where(purchases.c.member_id == friend_id).limit(1)
        )
        if bought is not None or created is None or self.clock.now() - created > window:
            raise invalid("an existing member cannot be referred", "memberId")

    # ---------------------------------------------------------------------- rewarding

    async def first_purchase(
        self, friend_id: int, *, actor: Actor, referrer_id: Any = UNREAD
    ) -> list[Granted]:
        """After a purchase was recorded (the friend's lock is held): pay a pending referral
        when it is the friend's first purchase. ``referrer_id``: the pending referral's
        referrer (None: there is none) when the caller read it after the lock, else read here."""
        if referrer_id is UNREAD:
            referrer_id = await self.conn.scalar(pending_referrer(friend_id))
        if referrer_id is None:
            return []
        count = await self.conn.scalar(
            select(func.count()).select_from(
                select(purchases.c.id).where(purchases.c.member_id == friend_id).limit(2).subquery()
            )
        )
        if count != 1:
            return []
        points = self.settings.engagement_referral_points
        granted = [
            await self.rewards.points(
                friend_id,
                "referral:friend",
                points,
                source="referral",
                reason="welcome: first purchase of a referred friend",
                actor=actor,
                details={"referrer_id": referrer_id},
            )
        ]
        referrer_paid = await self._pay_referrer(referrer_id, friend_id, actor)
        now = self.clock.now()
        await self.conn.execute(
            referrals.update()
            .where(referrals.c.friend_id == friend_id)
            .values(
                status="rewarded",
                referrer_rewarded=referrer_paid is not None,
                reward_month=self._month(now),
                rewarded_at=now,
            )
        )
        payload = {
            "friend_id": friend_id,
            "referrer_id": referrer_id,
            "referrer_rewarded": referrer_paid is not None,
        }
        await append_event(self.conn, member_topic(friend_id), REWARDED, payload)
        await append_event(self.conn, member_topic(referrer_id), REWARDED, payload)
        return [g for g in (*granted, referrer_paid) if g is not None]

    async def _pay_referrer(self, referrer_id: int, friend_id: int, actor: Actor) -> Granted | None:
        # The referrer's lock (taken after the friend's, down the referral tree) also makes
        # the monthly cap exact under concurrent first purchases of several friends.
        await lock_member(self.conn, referrer_id)
        # "Invite N friends this quarter" (tier upgrade tasks) counts every friend who joined and
        # bought, whether or not the referrer's monthly reward cap was reached.
        await TierService(
            self.conn, self.clock, TierPolicy.from_settings(self.settings)
        ).count_referral(referrer_id)
        rewarded = await self.conn.scalar(
            select(func.count())
            .select_from(referrals)
            .where(
                referrals.c.referrer_id == referrer_id,
                referrals.c.reward_month == self._month(self.clock.now()),
                referrals.c.referrer_rewarded,
            )
        )
        if int(rewarded or 0) >= self.settings.engagement_referral_monthly_cap:
            return None
        return await self.rewards.points(
            referrer_id,
            f"referral:{friend_id}",
            self.settings.engagement_referral_points,
            source="referral",
            reason="a referred friend made a first purchase",
            actor=actor,
            details={"friend_id": friend_id},
        )

    # ---------------------------------------------------------------------------- reads

    async def summary(self, member_id: int) -> ReferralSummary:
        """Code (None until issued), referrer and friends: a read, it writes nothing."""
        if not await self.conn.scalar(select(members.c.id).where(members.c.id == member_id)):
            raise not_found("member", member_id, "memberId")
        code = await self.code_of(member_id)
        referrer = await self.conn.scalar(
            select(referrals.c.referrer_id).where(referrals.c.friend_id == member_id)
        )
        rows = await self.conn.execute(
            select(referrals)
            .where(referrals.c.referrer_id == member_id)
            .order_by(referrals.c.created_at, referrals.c.friend_id)
        )
        friends = [_referral(r) for r in rows]
        month = self._month(self.clock.now())
        done = sum(
            1
            for f in friends
            if f.referrer_rewarded
            and f.rewarded_at is not None
            and self._month(f.rewarded_at) == month
        )
        return ReferralSummary(
            code, referrer, friends, done, self.settings.engagement_referral_monthly_cap
        )
