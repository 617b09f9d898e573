"""Imports every table so that ``metadata`` knows the whole schema (Alembic, tests)."""

from app.auth.tables import api_keys
from app.db import metadata
from app.events.tables import events
from app.ledger.tables import (
    accounts,
    allocations,
    entries,
    holds,
    idempotency_keys,
    lots,
    transfers,
)
from app.members.tables import member_channel_refs, members

__all__ = [
    "accounts",
    "allocations",
    "api_keys",
    "entries",
    "events",
    "holds",
    "idempotency_keys",
    "lots",
    "member_channel_refs",
    "members",
    "metadata",
    "transfers",
]
