"""Every run of a scheduled job, whatever process ran it: what the staff ``jobs`` query reads."""

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, String, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

from app.db import metadata

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("job", String(64), nullable=False),
    # running | succeeded | failed (a run whose process died stays "running": see finished_at)
    Column("status", String(16), nullable=False),
    Column("runner", String(128), nullable=False),  # host:pid of the process that ran it
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("result", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("error", Text),
    Index("ix_job_runs_job_id", "job", text("id DESC")),
)
