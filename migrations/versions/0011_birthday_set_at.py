"""members: when the birthday was set (the birthday rule pays only for a birthday on file before
the day)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 13:00:00

A member could set its birthday to today and collect the birthday bonus, daily. The birthday is
now set once by the member (staff change it), and the rule reads it only when it was on file
before the business day. The backfill cannot know when existing birthdays were entered; it takes
the member's registration time, so that members who gave their birthday keep their bonus.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("members", sa.Column("birthday_set_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE members SET birthday_set_at = created_at WHERE birthday IS NOT NULL")
    op.create_check_constraint(
        op.f("ck_members_birthday_set_at"),
        "members",
        "birthday IS NULL OR birthday_set_at IS NOT NULL",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_members_birthday_set_at"), "members", type_="check")
    op.drop_column("members", "birthday_set_at")
