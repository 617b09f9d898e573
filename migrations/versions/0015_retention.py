"""retention: indexes for the idempotency-key and notification retention jobs

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 18:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    op.create_index("ix_expiry_reminders_expires_on", "expiry_reminders", ["expires_on"])
    op.create_index("ix_expiry_reminders_notification_id", "expiry_reminders", ["notification_id"])


def downgrade() -> None:
    op.drop_index("ix_expiry_reminders_notification_id", "expiry_reminders")
    op.drop_index("ix_expiry_reminders_expires_on", "expiry_reminders")
    op.drop_index("ix_idempotency_keys_created_at", "idempotency_keys")
