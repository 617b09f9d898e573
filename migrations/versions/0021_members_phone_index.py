"""members: an index on phone, for the console's member search by phone

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 21:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_members_phone", "members", ["phone"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_members_phone", table_name="members")
