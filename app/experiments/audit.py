"""Experiments' invariants, added to `jifen audit` (see app/ledger/audit.py)."""

from __future__ import annotations

EXPERIMENT_CHECKS: dict[str, str] = {
    "an experiment assignment is to one of its experiment's variants": """
        SELECT a.experiment_id, a.member_id, a.variant_id, v.experiment_id AS variant_of
        FROM experiment_assignments a JOIN experiment_variants v ON v.id = a.variant_id
        WHERE v.experiment_id <> a.experiment_id
    """,
    "no member was assigned before its experiment started": """
        SELECT a.experiment_id, a.member_id, a.assigned_at, x.started_at
        FROM experiment_assignments a JOIN experiments x ON x.id = a.experiment_id
        WHERE x.started_at IS NULL OR a.assigned_at < x.started_at
    """,
    # A variant's rules are on exactly while it runs (each member then gets its own variant's:
    # app/experiments/chooser.py); after a stop none, after a rollout the winner's only (a
    # programme rule now, which staff may switch like any other).
    "a variant's earning rules are on only while its experiment runs": """
        SELECT x.code, x.status, v.code AS variant, r.rule_id, er.enabled
        FROM experiment_variant_rules r
        JOIN experiment_variants v ON v.id = r.variant_id
        JOIN experiments x ON x.id = v.experiment_id
        JOIN earning_rules er ON er.id = r.rule_id
        WHERE (x.status = 'running' AND NOT er.enabled)
           OR (x.status = 'stopped' AND er.enabled)
           OR (x.status = 'rolled_out' AND er.enabled AND v.id <> x.winner_variant_id)
    """,
}
