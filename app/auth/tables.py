from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    String,
    Table,
    func,
)
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

# Widget keys (docs/WIDGETS.md): public, read one board; the prefix finds the row.
widget_keys = Table(
    "widget_keys",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("board", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
)

# Staff who sign in to the console (docs/CONSOLE.md): only an argon2 hash of the password is kept.
staff = Table(
    "staff",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column(
        "password_changed_at", DateTime(timezone=True), nullable=False, server_default=func.now()
    ),
    Column("disabled_at", DateTime(timezone=True)),
    CheckConstraint("role IN ('admin', 'operator', 'analyst')", name="staff_role_known"),
)

# A console session: the cookie's random token is kept only as its SHA-256 (like an API key's
# secret, it has 256 bits of entropy, so no stretching is needed).
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("staff_id", BigInteger, ForeignKey("staff.id"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
)
