"""Member use cases: registration from a channel, profile, status, look-ups."""

from __future__ import annotations

from datetime import date

from app.db import unit_of_work
from app.errors import invalid
from app.members.models import ChannelRef, Member, MemberStatus, Registration, StatusChange
from app.members.service import (
    MAX_PHONE_LENGTH,
    MemberService,
    ProfileChanges,
    ProfileEditor,
    RegistrationRace,
)
from app.runtime import Runtime


async def register_member(
    rt: Runtime,
    *,
    channel: str,
    external_ref: str,
    name: str | None = None,
    phone: str | None = None,
    birthday: date | None = None,
) -> Registration:
    """Idempotent on (channel, external_ref): a second call returns the same member."""
    try:
        async with unit_of_work(rt.engine) as conn:
            return await MemberService(conn, rt.clock).register(
                channel, external_ref, name=name, phone=phone, birthday=birthday
            )
    except RegistrationRace:
        # A concurrent registration of the same ref committed first: answer with that member.
        return Registration(await find_member_by_ref(rt, channel, external_ref), created=False)


async def link_channel_ref(
    rt: Runtime, *, member_id: int, channel: str, external_ref: str
) -> Member:
    async with unit_of_work(rt.engine) as conn:
        return await MemberService(conn, rt.clock).link_channel_ref(
            member_id, channel, external_ref
        )


async def update_profile(
    rt: Runtime,
    member_id: int,
    changes: ProfileChanges,
    editor: ProfileEditor = ProfileEditor.STAFF,
) -> Member:
    async with unit_of_work(rt.engine) as conn:
        return await MemberService(conn, rt.clock).update_profile(member_id, changes, editor)


async def set_status(
    rt: Runtime, *, member_id: int, status: MemberStatus, reason: str, actor: str
) -> Member:
    async with unit_of_work(rt.engine) as conn:
        return await MemberService(conn, rt.clock).set_status(member_id, status, reason, actor)


async def status_history(rt: Runtime, member_id: int) -> list[StatusChange]:
    async with rt.read(member_id) as conn:
        return await MemberService(conn, rt.clock).status_history(member_id)


async def get_member(rt: Runtime, member_id: int) -> Member:
    async with rt.read(member_id) as conn:
        return await MemberService(conn, rt.clock).get(member_id)


async def find_member_by_ref(rt: Runtime, channel: str, external_ref: str) -> Member:
    async with rt.read() as conn:
        return await MemberService(conn, rt.clock).get_by_ref(channel, external_ref)


async def find_members_by_phone(rt: Runtime, phone: str, limit: int) -> list[Member]:
    phone = phone.strip()
    if not phone or len(phone) > MAX_PHONE_LENGTH:
        raise invalid(f"give a phone number of 1..{MAX_PHONE_LENGTH} characters", "phone")
    async with rt.read() as conn:
        return await MemberService(conn, rt.clock).find_by_phone(phone, limit)


async def list_channel_refs(rt: Runtime, member_id: int) -> list[ChannelRef]:
    async with rt.engine.connect() as conn:
        return await MemberService(conn, rt.clock).channel_refs(member_id)


async def get_members(rt: Runtime, member_ids: list[int]) -> dict[int, Member]:
    """Many members in one statement (DataLoaders); unknown ids are simply absent."""
    async with rt.read(*member_ids, one_statement=True) as conn:
        return await MemberService(conn, rt.clock).get_many(member_ids)


async def list_channel_refs_of(rt: Runtime, member_ids: list[int]) -> dict[int, list[ChannelRef]]:
    async with rt.engine.connect() as conn:
        return await MemberService(conn, rt.clock).channel_refs_of(member_ids)
