from sqlalchemy import BigInteger, Column, DateTime, Identity, String, Table, func
from sqlalchemy.dialects.postgresql import ARRAY

from app.db import metadata

# Partner API keys: only a hash of the secret is kept; the prefix finds the row.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("partner", String(64), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("scopes", ARRAY(String(64)), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
)
