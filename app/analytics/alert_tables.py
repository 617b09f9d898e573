"""Anomaly alerts that fired (docs/ANALYTICS.md, "Anomaly alerts")."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

from app.db import metadata

# One row per alert fired: (kind, subject, window) is unique, so a detector that runs again in
# the same window (or in two processes) fires once. Its event is written in the same insert.
analytics_alerts = Table(
    "analytics_alerts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("subject", String(96), nullable=False),  # what it is about: item:<code>, member:<id>…
    Column("window_key", String(64), nullable=False),  # the hour, day or budget it is of
    Column("details", JSONB, nullable=False),
    Column("fired_at", DateTime(timezone=True), nullable=False),
    # Set once, when a staff member says it was looked into (open until then).
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("acknowledged_by", String(96)),
    Column("acknowledge_note", Text),
    UniqueConstraint("kind", "subject", "window_key"),
    Index("ix_analytics_alerts_kind_id", "kind", "id"),
)
