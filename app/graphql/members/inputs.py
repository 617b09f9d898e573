"""The member mutations' inputs."""

from __future__ import annotations

from datetime import date

import strawberry

from app.graphql.members.enums import MemberStatus


@strawberry.input(description="Registration is idempotent on (channel, externalRef).")
class RegisterMemberInput:
    channel: str
    external_ref: str
    name: str | None = None
    phone: str | None = None
    birthday: date | None = None


@strawberry.input
class LinkChannelRefInput:
    member_id: strawberry.ID
    channel: str
    external_ref: str


@strawberry.input(description="Fields left out (or null) stay as they are.")
class UpdateMemberProfileInput:
    member_id: strawberry.ID
    name: str | None = None
    phone: str | None = None
    birthday: date | None = None
    timezone: str | None = None
    tags: list[str] | None = None


@strawberry.input
class SetMemberStatusInput:
    member_id: strawberry.ID
    status: MemberStatus
    reason: str
