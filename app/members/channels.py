"""Channels: where a member came from (a shop, a mini-program, a partner). Pure rules."""

from __future__ import annotations

from app.errors import invalid

# Sources the programme writes itself, and the kinds of principal: never a partner's channel.
RESERVED_CHANNELS = frozenset(
    {"api", "jobs", "seed", "system", "staff", "member", "partner", "anonymous"}
)


def check_channel_name(channel: str) -> None:
    """A channel may not take a name the programme itself writes as a source ("api" for staff
    and members, "jobs", "seed"…): a name that reads like an internal source invites trusting it.
    Ownership is never read from the source, so this is a second line, not the first."""
    if channel.strip().casefold() in RESERVED_CHANNELS:
        reserved = ", ".join(sorted(RESERVED_CHANNELS))
        raise invalid(f"channel {channel!r} is reserved (reserved: {reserved})", "channel")
