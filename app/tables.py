"""Imports every table so that ``metadata`` knows the whole schema (Alembic, tests)."""

from app.auth.tables import api_keys
from app.db import metadata
from app.earning.tables import (
    earning_budgets,
    earning_counters,
    earning_events,
    earning_rule_versions,
    earning_rules,
    purchase_lines,
    purchases,
    refunds,
)
from app.engagement.tables import (
    badges,
    engagement_profiles,
    engagement_rewards,
    member_badges,
    referrals,
    sign_ins,
    signin_schedules,
    task_progress,
    tasks,
    team_members,
    teams,
)
from app.events.tables import events
from app.jobs.tables import job_runs
from app.ledger.tables import (
    accounts,
    allocations,
    entries,
    holds,
    idempotency_keys,
    lots,
    transfers,
)
from app.lifecycle.tables import (
    exchange_partners,
    exchanges,
    expiry_reminders,
    gifts,
    notifications,
)
from app.members.tables import member_channel_refs, member_status_changes, members
from app.tiers.tables import (
    member_tiers,
    tier_changes,
    tier_definition_versions,
    tier_definitions,
    tier_task_counters,
)

__all__ = [
    "accounts",
    "allocations",
    "api_keys",
    "badges",
    "earning_budgets",
    "earning_counters",
    "earning_events",
    "earning_rule_versions",
    "earning_rules",
    "engagement_profiles",
    "engagement_rewards",
    "entries",
    "events",
    "exchange_partners",
    "exchanges",
    "expiry_reminders",
    "gifts",
    "holds",
    "idempotency_keys",
    "job_runs",
    "lots",
    "member_badges",
    "member_channel_refs",
    "member_status_changes",
    "member_tiers",
    "members",
    "metadata",
    "notifications",
    "purchase_lines",
    "purchases",
    "referrals",
    "refunds",
    "sign_ins",
    "signin_schedules",
    "task_progress",
    "tasks",
    "team_members",
    "teams",
    "tier_changes",
    "tier_definition_versions",
    "tier_definitions",
    "tier_task_counters",
    "transfers",
]
