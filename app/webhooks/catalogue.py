"""The event types an endpoint may subscribe to.

Member events happen to one member's points or account (topic ``member:<id>``): a partner's
endpoint may have them, for the members linked to its channel. Programme events belong to no
member: staff endpoints only.
"""

from __future__ import annotations

from app.analytics.alerts import ALERT_EVENTS
from app.errors import echo, invalid

MEMBER_EVENTS: frozenset[str] = frozenset(
    {
        "points.earned",
        "points.spent",
        "points.reversed",
        "points.adjusted",
        "points.available",
        "points.expired",
        "points.expiring",
        "points.gift_sent",
        "points.gift_received",
        "points.exchanged_in",
        "points.exchanged_out",
        "hold.created",
        "hold.committed",
        "hold.voided",
        "member.registered",
        "member.status_changed",
        "tier.changed",
        "signin.checked_in",
        "signin.made_up",
        "task.progressed",
        "task.completed",
        "referral.accepted",
        "referral.rewarded",
        "redemption.placed",
        "redemption.confirmed",
        "redemption.paid",
        "redemption.fulfilled",
        "redemption.cancelled",
        "redemption.expired",
        "redemption.returned",
        "checkout.held",
        "checkout.committed",
        "checkout.voided",
        "lottery.drawn",
        "lottery.ticket_granted",
        "donation.made",
    }
)

ENDPOINT_DISABLED = "webhook.endpoint_disabled"
PROGRAMME_EVENTS: frozenset[str] = frozenset(
    {"leaderboard.period_closed", "team.created", "team.joined", ENDPOINT_DISABLED}
    | ALERT_EVENTS  # anomaly alerts (docs/ANALYTICS.md): programme-wide, staff endpoints
)

MAX_TYPES = len(MEMBER_EVENTS) + len(PROGRAMME_EVENTS)


def check_event_types(event_types: list[str], *, for_channel: bool) -> list[str]:
    """The subscription, sorted and without repeats; INVALID_INPUT naming an unknown type, or a
    programme event for a channel's endpoint."""
    if not event_types:
        raise invalid("name at least one event type", "eventTypes")
    allowed = MEMBER_EVENTS if for_channel else MEMBER_EVENTS | PROGRAMME_EVENTS
    for event_type in event_types:
        if event_type not in allowed:
            kind = "a channel's endpoint" if for_channel else "an endpoint"
            raise invalid(f"{echo(event_type)} is not an event type {kind} may have", "eventTypes")
    return sorted(set(event_types))
