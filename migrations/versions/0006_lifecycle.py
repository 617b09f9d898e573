"""points lifecycle: expiry policies, reminders, gifting, partner exchange, job runs (issue 7)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("runner", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "result",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    op.create_index(
        "ix_job_runs_job_id", "job_runs", ["job", sa.literal_column("id DESC")], unique=False
    )
    op.create_table(
        "member_status_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=96), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_status_changes_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_status_changes")),
    )
    op.create_index(
        op.f("ix_member_status_changes_member_id"),
        "member_status_changes",
        ["member_id"],
        unique=False,
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_notifications_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(
        "ix_notifications_member_id_id", "notifications", ["member_id", "id"], unique=False
    )
    op.create_table(
        "exchange_partners",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("rate_in", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("rate_out", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("min_points", sa.BigInteger(), nullable=False),
        sa.Column("max_points", sa.BigInteger(), nullable=False),
        sa.Column("daily_limit", sa.BigInteger(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=96), nullable=False),
        sa.CheckConstraint(
            "0 < min_points AND min_points <= max_points", name=op.f("ck_exchange_partners_limits")
        ),
        sa.CheckConstraint(
            "daily_limit >= max_points", name=op.f("ck_exchange_partners_daily_limit")
        ),
        sa.CheckConstraint("rate_in > 0 AND rate_out > 0", name=op.f("ck_exchange_partners_rates")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_exchange_partners_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_partners")),
        sa.UniqueConstraint("code", name=op.f("uq_exchange_partners_code")),
    )
    op.create_table(
        "expiry_reminders",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("threshold_days", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("notification_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_expiry_reminders_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_expiry_reminders_notification_id_notifications"),
        ),
        sa.PrimaryKeyConstraint(
            "member_id", "expires_on", "threshold_days", name=op.f("pk_expiry_reminders")
        ),
    )
    op.create_table(
        "gifts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("from_member_id", sa.BigInteger(), nullable=False),
        sa.Column("to_member_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("sent_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("received_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_gifts_positive")),
        sa.CheckConstraint("from_member_id <> to_member_id", name=op.f("ck_gifts_two_members")),
        sa.ForeignKeyConstraint(
            ["from_member_id"], ["members.id"], name=op.f("fk_gifts_from_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["received_entry_id"], ["entries.id"], name=op.f("fk_gifts_received_entry_id_entries")
        ),
        sa.ForeignKeyConstraint(
            ["sent_entry_id"], ["entries.id"], name=op.f("fk_gifts_sent_entry_id_entries")
        ),
        sa.ForeignKeyConstraint(
            ["to_member_id"], ["members.id"], name=op.f("fk_gifts_to_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gifts")),
    )
    op.create_index(
        "ix_gifts_from_member_id_business_day",
        "gifts",
        ["from_member_id", "business_day"],
        unique=False,
    )
    op.create_index("ix_gifts_to_member_id", "gifts", ["to_member_id"], unique=False)
    op.create_table(
        "exchanges",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("partner_ref", sa.String(length=128), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("partner_points", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("direction IN ('in', 'out')", name=op.f("ck_exchanges_direction")),
        sa.CheckConstraint("points > 0 AND partner_points > 0", name=op.f("ck_exchanges_positive")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_exchanges_entry_id_entries")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_exchanges_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["exchange_partners.id"],
            name=op.f("fk_exchanges_partner_id_exchange_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchanges")),
        sa.UniqueConstraint("partner_id", "partner_ref", name="uq_exchanges_partner_ref"),
    )
    op.create_index(
        "ix_exchanges_member_id_business_day",
        "exchanges",
        ["member_id", "business_day"],
        unique=False,
    )
    # The clearing account gifts pass through (member → gifts → member): it nets to zero.
    op.execute(
        "INSERT INTO accounts (kind, code) VALUES ('clearing', 'gifts') ON CONFLICT DO NOTHING"
    )
    op.create_index(
        "ix_accounts_next_due_at",
        "accounts",
        ["next_due_at"],
        unique=False,
        postgresql_where=sa.text("kind = 'member' AND next_due_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.execute(
        "DELETE FROM accounts WHERE code = 'gifts' AND NOT EXISTS (SELECT 1 FROM transfers t JOIN accounts a ON a.id IN (t.debit_account_id, t.credit_account_id) WHERE a.code = 'gifts')"
    )
    op.drop_index(
        "ix_accounts_next_due_at",
        table_name="accounts",
        postgresql_where=sa.text("kind = 'member' AND next_due_at IS NOT NULL"),
    )
    op.drop_index("ix_exchanges_member_id_business_day", table_name="exchanges")
    op.drop_table("exchanges")
    op.drop_index("ix_gifts_to_member_id", table_name="gifts")
    op.drop_index("ix_gifts_from_member_id_business_day", table_name="gifts")
    op.drop_table("gifts")
    op.drop_table("expiry_reminders")
    op.drop_table("exchange_partners")
    op.drop_index("ix_notifications_member_id_id", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index(op.f("ix_member_status_changes_member_id"), table_name="member_status_changes")
    op.drop_table("member_status_changes")
    op.drop_index("ix_job_runs_job_id", table_name="job_runs")
    op.drop_table("job_runs")
