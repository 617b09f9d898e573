"""engagement_check_in(): an active member only, so that checkIn needs no standing read first

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-05 09:10:00

Every member request read the member's standing before anything executed (app/auth/standing.py):
a round trip and about a quarter of a check-in's CPU (docs/PERFORMANCE.md). The check-in's
function already reads the member's status after taking the account's lock; it declined only a
closed member, and a frozen one was refused by the API before the call. Now it declines every
member that is not active — frozen too — so that the API may send it without the standing read:
when it signs in, the member was active under the lock; when it declines, the API reads the
standing then and answers as if it had read it first (app/graphql/core/standing.py). A frozen
member checked in by staff is declined to the ordinary path, which signs them in as before
(a frozen member accrues).

The function's text is migration 0038's with the one condition changed; its signature is the
same, so it is replaced in place.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLOSED_ONLY = "    IF v_status = 'closed' OR p_schedules IS DISTINCT FROM ("
ACTIVE_ONLY = "    IF v_status IS DISTINCT FROM 'active' OR p_schedules IS DISTINCT FROM ("


def _migration_0038() -> Any:
    path = Path(__file__).resolve().parent / "0038_check_in_sign_in_tasks.py"
    spec = importlib.util.spec_from_file_location("m0038", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _replacing(text: str) -> str:
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def check_in_function() -> str:
    """Migration 0038's ``engagement_check_in()``, declining every member that is not active."""
    text: str = _migration_0038().check_in_function()
    assert text.count(CLOSED_ONLY) == 1, "expected once in migration 0038's function"
    return _replacing(text.replace(CLOSED_ONLY, ACTIVE_ONLY))


def upgrade() -> None:
    op.execute(check_in_function())


def downgrade() -> None:
    op.execute(_replacing(_migration_0038().check_in_function()))
