"""quests: quest levels (积分任务闯关), an ordered chain of engagement tasks, and each member's level

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quests",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True)),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(96), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("code", name=op.f("uq_quests_code")),
    )
    op.create_table(
        "quest_levels",
        sa.Column("quest_id", sa.BigInteger, sa.ForeignKey("quests.id"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("task_id", sa.BigInteger, sa.ForeignKey("tasks.id"), nullable=False),
        sa.Column("reward_points", sa.BigInteger, nullable=False),
        sa.Column("badge", sa.String(48)),
        sa.CheckConstraint(
            "position > 0 AND reward_points >= 0", name=op.f("ck_quest_levels_level")
        ),
        sa.UniqueConstraint("quest_id", "task_id", name="uq_quest_levels_quest_task"),
    )
    op.create_index("ix_quest_levels_task", "quest_levels", ["task_id"])
    op.create_table(
        "quest_progress",
        sa.Column("member_id", sa.BigInteger, sa.ForeignKey("members.id"), primary_key=True),
        sa.Column("quest_id", sa.BigInteger, sa.ForeignKey("quests.id"), primary_key=True),
        sa.Column("finished", sa.Integer, nullable=False),
        sa.Column("unlocked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("finished >= 0", name=op.f("ck_quest_progress_finished")),
    )


def downgrade() -> None:
    op.drop_table("quest_progress")
    op.drop_table("quest_levels")
    op.drop_table("quests")
