"""tiers: keep and upgrade tasks, staff-edited definitions with their versions, task counters;
an index for the expiry reminders' scan of open lots

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tier_definitions", sa.Column("keep_task", postgresql.JSONB()))
    op.add_column(
        "tier_definitions",
        sa.Column("upgrade_tasks", postgresql.JSONB(), server_default="[]", nullable=False),
    )
    op.add_column(
        "tier_definitions",
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
    )
    op.add_column("tier_definitions", sa.Column("updated_at", sa.DateTime(timezone=True)))
    op.add_column("tier_definitions", sa.Column("updated_by", sa.Text()))
    op.create_table(
        "tier_definition_versions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("definition", postgresql.JSONB(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["code"],
            ["tier_definitions.code"],
            name=op.f("fk_tier_definition_versions_code_tier_definitions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tier_definition_versions")),
    )
    op.create_index(op.f("ix_tier_definition_versions_code"), "tier_definition_versions", ["code"])
    op.create_table(
        "tier_task_counters",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("measure", sa.String(length=32), nullable=False),
        sa.Column("quarter", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_tier_task_counters_member_id_members")
        ),
        sa.PrimaryKeyConstraint(
            "member_id", "measure", "quarter", name=op.f("pk_tier_task_counters")
        ),
    )

    op.create_index(
        "ix_lots_open_expiry",
        "lots",
        ["expires_at"],
        postgresql_where=sa.text("remaining > 0 AND expires_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_lots_open_expiry", table_name="lots")
    op.drop_table("tier_task_counters")
    op.drop_index(op.f("ix_tier_definition_versions_code"), table_name="tier_definition_versions")
    op.drop_table("tier_definition_versions")
    for column in ("updated_by", "updated_at", "version", "upgrade_tasks", "keep_task"):
        op.drop_column("tier_definitions", column)
