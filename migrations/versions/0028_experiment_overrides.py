"""experiment_variant_overrides: a variant's task rewards and mall prices

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "experiment_variant_overrides",
        sa.Column(
            "variant_id", sa.BigInteger, sa.ForeignKey("experiment_variants.id"), nullable=False
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("variant_id", "kind", "code"),
        sa.CheckConstraint(
            "kind IN ('task_reward', 'item_price')",
            name=op.f("ck_experiment_variant_overrides_kind"),
        ),
        sa.CheckConstraint(
            "points >= 0 AND (kind <> 'item_price' OR points > 0)",
            name=op.f("ck_experiment_variant_overrides_points"),
        ),
    )


def downgrade() -> None:
    op.drop_table("experiment_variant_overrides")
