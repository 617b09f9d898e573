"""The point value's history."""

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, Numeric, String, Table, Text

from app.db import metadata

# The programme's point value in CNY over time: each row is in force from ``effective_from``
# until the next row's; before the first row the setting JIFEN_POINT_VALUE_CNY applies.
point_values = Table(
    "point_values",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("value", Numeric(18, 6), nullable=False),
    Column("effective_from", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(96), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_point_values_effective_from", "effective_from"),
)
