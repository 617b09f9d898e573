"""webhook_leases: a sender's leases in a table of their own, not columns of the message

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-05 06:20:00

Stamping a lease on the message (lease_token, lease_until, and the partial index of leased
messages) made two new versions of each message a delivery, each with entries in its indexes;
the lease statement's scans walked those dead entries (docs/PERFORMANCE.md "Webhooks"). A lease
is now a row inserted when leased and deleted when its attempt is recorded (docs/WEBHOOKS.md).
Leases standing at the upgrade are carried over, and back at a downgrade.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_leases",
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("endpoint_id", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.UUID(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["webhook_messages.id"],
            name=op.f("fk_webhook_leases_message_id_webhook_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_webhook_leases")),
    )
    op.execute(
        "INSERT INTO webhook_leases (message_id, endpoint_id, token, until)"
        " SELECT id, endpoint_id, lease_token, lease_until FROM webhook_messages"
        " WHERE lease_token IS NOT NULL AND lease_until IS NOT NULL"
    )
    op.drop_index(
        "ix_webhook_messages_leased",
        table_name="webhook_messages",
        postgresql_where=sa.text("lease_until IS NOT NULL"),
    )
    op.drop_column("webhook_messages", "lease_until")
    op.drop_column("webhook_messages", "lease_token")


def downgrade() -> None:
    op.add_column("webhook_messages", sa.Column("lease_token", sa.UUID(), nullable=True))
    op.add_column(
        "webhook_messages", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(
        "UPDATE webhook_messages m SET lease_token = l.token, lease_until = l.until"
        " FROM webhook_leases l WHERE l.message_id = m.id"
    )
    op.create_index(
        "ix_webhook_messages_leased",
        "webhook_messages",
        ["endpoint_id"],
        unique=False,
        postgresql_where=sa.text("lease_until IS NOT NULL"),
    )
    op.drop_table("webhook_leases")
