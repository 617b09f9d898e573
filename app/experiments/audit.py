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
    # A redemption placed by an assigned member while its experiment ran was priced at its
    # variant's price for that item (app/mall/variants.py), what the catalogue and the quote
    # showed. Items with near-expiry discounts are left out: their unit price is the variant's
    # price less the discount of the day.
    "a redemption placed while an experiment ran paid the member's variant's price": """
        SELECT o.id AS order_id, o.member_id, x.code, v.code AS variant, o.unit_points,
               ov.points AS variant_price
        FROM mall_orders o
        JOIN mall_items i ON i.id = o.item_id
        JOIN experiment_assignments a ON a.member_id = o.member_id
        JOIN experiments x ON x.id = a.experiment_id
        JOIN experiment_variants v ON v.id = a.variant_id
        JOIN experiment_variant_overrides ov
          ON ov.variant_id = v.id AND ov.kind = 'item_price' AND ov.code = i.code
        WHERE o.created_at >= a.assigned_at
          AND (x.ended_at IS NULL OR o.created_at < x.ended_at)
          AND i.best_before IS NULL
          AND o.unit_points <> ov.points
    """,
}
