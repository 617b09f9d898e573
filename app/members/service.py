"""Members: registration from channels, profile, status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import BigInteger, Row, bindparam, case, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from app.clock import Clock, system_clock
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.events.outbox import append_event, member_topic
from app.ledger.accounts import lock_account, open_account
from app.members.channels import check_channel_name
from app.members.claims import Kind, insert_claimed
from app.members.models import ChannelRef, Member, MemberStatus, Registration, StatusChange
from app.members.tables import member_channel_refs, member_status_changes, members

MAX_REF_LENGTH = 128
MAX_CHANNEL_LENGTH = 64
MAX_REASON_LENGTH = 500
# Profile fields (docs/API.md "Limits"); the phone column is varchar(32).
MAX_NAME_LENGTH = 100
MAX_PHONE_LENGTH = 32
MAX_TAGS = 50
MAX_TAG_LENGTH = 64


@dataclass(frozen=True)
class ProfileChanges:
    """Fields left as None stay as they are."""

    name: str | None = None
    phone: str | None = None
    birthday: date | None = None
    timezone: str | None = None
    tags: tuple[str, ...] | None = None

    def values(self) -> dict[str, Any]:
        return {k: list(v) if k == "tags" else v for k, v in asdict(self).items() if v is not None}

    def check(self) -> None:
        """Refuse what the profile cannot hold (INVALID_INPUT names the field)."""
        _check_contact(self.name, self.phone)
        if self.timezone is not None and not _known_time_zone(self.timezone):
            raise invalid("timezone must be an IANA time zone such as Asia/Shanghai", "timezone")
        if self.tags is not None:
            if len(self.tags) > MAX_TAGS:
                raise invalid(f"a member has at most {MAX_TAGS} tags", "tags")
            if any(not tag.strip() or len(tag) > MAX_TAG_LENGTH for tag in self.tags):
                raise invalid(f"a tag must be 1..{MAX_TAG_LENGTH} characters", "tags")


def _check_contact(name: str | None, phone: str | None) -> None:
    if name is not None and len(name) > MAX_NAME_LENGTH:
        raise invalid(f"a name is at most {MAX_NAME_LENGTH} characters", "name")
    if phone is not None and len(phone) > MAX_PHONE_LENGTH:
        raise invalid(f"a phone number is at most {MAX_PHONE_LENGTH} characters", "phone")


def _known_time_zone(name: str) -> bool:
    # The IANA database's own list: ZoneInfo() alone would also try path-like keys and files.
    return name in _time_zones()


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


class ProfileEditor(StrEnum):
    """Who edits a profile. Facts that feed the earning rules (the birthday) are not the
    member's to rewrite: see :meth:`MemberService.update_profile`."""

    MEMBER = "member"  # the member itself
    CHANNEL = "channel"  # a partner, for a member linked to its channel
    STAFF = "staff"


class RegistrationRace(Exception):
    """Another transaction registered the same (channel, external ref) first."""


def member_of_row(row: Row[Any] | Mapping[str, Any]) -> Member:
    """A member of a Core row, or of a driver record (a hot read sent without the Core:
    app/auth/standing.py)."""
    values = row._mapping if isinstance(row, Row) else row
    return Member(
        id=values["id"],
        status=MemberStatus(values["status"]),
        status_reason=values["status_reason"],
        name=values["name"],
        phone=values["phone"],
        birthday=values["birthday"],
        timezone=values["timezone"],
        tags=tuple(values["tags"]),
        created_at=values["created_at"],
    )


def _check_ref(channel: str, external_ref: str) -> None:
    if not channel.strip() or len(channel) > MAX_CHANNEL_LENGTH:
        raise invalid(f"channel must be 1..{MAX_CHANNEL_LENGTH} characters", "channel")
    check_channel_name(channel)
    if not external_ref.strip() or len(external_ref) > MAX_REF_LENGTH:
        raise invalid(f"external ref must be 1..{MAX_REF_LENGTH} characters", "externalRef")


# One array parameter, not IN (…): the statement's text is then the same whatever the number of
# members, so asyncpg prepares it once a connection; an IN list is a new text (rendered and
# prepared again) for each count, the webhook dispatcher's case. Built once, not at each call:
# the dispatcher asks at every pass, and building the expression is CPU each time.
_CHANNEL_REFS_OF = (
    select(
        member_channel_refs.c.member_id,
        member_channel_refs.c.channel,
        member_channel_refs.c.external_ref,
    )
    .where(
        member_channel_refs.c.member_id
        == func.any(bindparam("member_ids", type_=ARRAY(BigInteger)))
    )
    .order_by(member_channel_refs.c.created_at, member_channel_refs.c.channel)
)


def _linking(member_id: int, channel: str, external_ref: str, at: datetime) -> Insert:
    """The member's channel ref, written only when the ref is claimed across members by the
    same statement (app/members/claims.py): a ref claimed before, by anyone, writes nothing."""
    values = {
        "member_id": member_id,
        "channel": channel,
        "external_ref": external_ref,
        "created_at": at,
    }
    return insert_claimed(member_channel_refs, values, Kind.CHANNEL_REF)


class MemberService:
    def __init__(self, conn: AsyncConnection, clock: Clock) -> None:
        self.conn = conn
        self.clock = clock

    async def register(
        self,
        channel: str,
        external_ref: str,
        *,
        name: str | None = None,
        phone: str | None = None,
        birthday: date | None = None,
    ) -> Registration:
        _check_ref(channel, external_ref)
        _check_contact(name, phone)
        existing = await self.find_by_ref(channel, external_ref)
        if existing is not None:
            return Registration(existing, created=False)
        now = self.clock.now()
        row = (
            await self.conn.execute(
                members.insert()
                .values(
                    name=name,
                    phone=phone,
                    birthday=birthday,
                    birthday_set_at=None if birthday is None else now,
                    created_at=now,
                    updated_at=now,
                )
                .returning(*members.c)
            )
        ).one()
        claimed = await self.conn.scalar(
            _linking(row.id, channel, external_ref, now).returning(member_channel_refs.c.member_id)
        )
        if claimed is None:
            raise RegistrationRace(channel, external_ref)  # rolls our member row back
        await open_account(self.conn, row.id)
        member = member_of_row(row)
        await append_event(
            self.conn,
            member_topic(member.id),
            "member.registered",
            {"member_id": member.id, "channel": channel, "external_ref": external_ref},
        )
        return Registration(member, created=True)

    async def link_channel_ref(self, member_id: int, channel: str, external_ref: str) -> Member:
        _check_ref(channel, external_ref)
        member = await self.get(member_id)
        owner = await self.find_by_ref(channel, external_ref)
        if owner is not None and owner.id != member_id:
            raise DomainError(
                ErrorCode.ALREADY_EXISTS,
                "this channel ref belongs to another member",
                "externalRef",
            )
        await self.conn.execute(_linking(member_id, channel, external_ref, self.clock.now()))
        return member

    async def find(self, member_id: int) -> Member | None:
        row = (await self.conn.execute(select(members).where(members.c.id == member_id))).first()
        return None if row is None else member_of_row(row)

    async def get(self, member_id: int) -> Member:
        member = await self.find(member_id)
        if member is None:
            raise not_found("member", member_id, "memberId")
        return member

    async def get_many(self, member_ids: list[int]) -> dict[int, Member]:
        rows = await self.conn.execute(select(members).where(members.c.id.in_(member_ids)))
        return {row.id: member_of_row(row) for row in rows}

    async def find_by_ref(self, channel: str, external_ref: str) -> Member | None:
        row = (
            await self.conn.execute(
                select(members)
                .join(member_channel_refs, member_channel_refs.c.member_id == members.c.id)
                .where(
                    member_channel_refs.c.channel == channel,
                    member_channel_refs.c.external_ref == external_ref,
                )
            )
        ).first()
        return None if row is None else member_of_row(row)

    async def find_by_phone(self, phone: str, limit: int) -> list[Member]:
        """Members whose phone is ``phone`` as stored (not unique), at most ``limit``, by id."""
        rows = await self.conn.execute(
            select(members).where(members.c.phone == phone).order_by(members.c.id).limit(limit)
        )
        return [member_of_row(row) for row in rows]

    async def get_by_ref(self, channel: str, external_ref: str) -> Member:
        member = await self.find_by_ref(channel, external_ref)
        if member is None:
            raise not_found("member with ref", f"{channel}/{external_ref}", "externalRef")
        return member

    async def channel_refs(self, member_id: int) -> list[ChannelRef]:
        return (await self.channel_refs_of([member_id]))[member_id]

    async def channel_refs_of(self, member_ids: list[int]) -> dict[int, list[ChannelRef]]:
        refs: dict[int, list[ChannelRef]] = {member_id: [] for member_id in member_ids}
        rows = await self.conn.execute(_CHANNEL_REFS_OF, {"member_ids": member_ids})
        for row in rows:
            refs[row.member_id].append(ChannelRef(row.channel, row.external_ref))
        return refs

    async def update_profile(
        self, member_id: int, changes: ProfileChanges, editor: ProfileEditor = ProfileEditor.STAFF
    ) -> Member:
        """Name, phone and time zone feed no rule: whoever may edit the profile sets them. The
        birthday pays the birthday rule: the member (or its channel) gives it once, and only
        staff change it after that; setting the same date again is a harmless retry. Tags are
        the programme's segments: staff and channels set them, not the member."""
        changes.check()
        values: dict[str, Any] = changes.values()
        if not values:
            return await self.get(member_id)
        if changes.tags is not None and editor is ProfileEditor.MEMBER:
            raise DomainError(ErrorCode.FORBIDDEN, "tags are set by staff, not by members", "tags")
        now = self.clock.now()
        statement = members.update().where(members.c.id == member_id)
        if changes.birthday is not None:
            values["birthday_set_at"] = case(
                (members.c.birthday.is_distinct_from(changes.birthday), now),
                else_=members.c.birthday_set_at,
            )
            if editor is not ProfileEditor.STAFF:
                # One conditional statement: two first settings racing cannot both win.
                statement = statement.where(
                    or_(members.c.birthday.is_(None), members.c.birthday == changes.birthday)
                )
        row = (
            await self.conn.execute(
                statement.values(**values, updated_at=now).returning(*members.c)
            )
        ).first()
        if row is None:
            await self.get(member_id)  # NOT_FOUND when there is no such member
            raise DomainError(
                ErrorCode.FORBIDDEN,
                "the birthday is already on file; staff may change it",
                "birthday",
            )
        return member_of_row(row)

    async def set_status(
        self, member_id: int, status: MemberStatus, reason: str, actor: str
    ) -> Member:
        """Freeze, unfreeze, close: under the member's account lock (the ledger's one lock),
        so a spend or a gift in flight finishes first and none starts on the old status after
        this commits. Every change is kept with its reason and who made it."""
        if not reason.strip():
            raise invalid("a status change needs a reason", "reason")
        if len(reason) > MAX_REASON_LENGTH:
            raise invalid(f"a reason is at most {MAX_REASON_LENGTH} characters", "reason")
        await lock_account(self.conn, member_id)
        # Read after the lock (its own statement): another status change may just have committed.
        before = (
            await self.conn.execute(select(members.c.status).where(members.c.id == member_id))
        ).one()
        now = self.clock.now()
        row = (
            await self.conn.execute(
                members.update()
                .where(members.c.id == member_id)
                .values(status=status.value, status_reason=reason, updated_at=now)
                .returning(*members.c)
            )
        ).one()
        await self.conn.execute(
            member_status_changes.insert().values(
                member_id=member_id,
                from_status=before.status,
                to_status=status.value,
                reason=reason,
                actor=actor,
                created_at=now,
            )
        )
        await append_event(
            self.conn,
            member_topic(member_id),
            "member.status_changed",
            {
                "member_id": member_id,
                "from_status": before.status,
                "status": status.value,
                "reason": reason,
                "actor": actor,
            },
        )
        return member_of_row(row)

    async def status_history(self, member_id: int, limit: int = 50) -> list[StatusChange]:
        rows = await self.conn.execute(
            select(member_status_changes)
            .where(member_status_changes.c.member_id == member_id)
            .order_by(member_status_changes.c.id.desc())
            .limit(limit)
        )
        return [
            StatusChange(
                MemberStatus(r.from_status),
                MemberStatus(r.to_status),
                r.reason,
                r.actor,
                r.created_at,
            )
            for r in rows
        ]


async def channels_of_members(
    conn: AsyncConnection, member_ids: list[int]
) -> dict[int, frozenset[str]]:
    """The channels each member is linked to (what a partner's webhooks may see)."""
    refs = await MemberService(conn, system_clock).channel_refs_of(member_ids)
    return {member_id: frozenset(ref.channel for ref in found) for member_id, found in refs.items()}
