"""A/B experiments on the earning rules, task rewards and mall prices (docs/EXPERIMENTS.md).

Importing the package registers its rule chooser with earning (app/earning/hooks.py), so every
process that has the schema (app/tables.py imports every domain) assigns members and gives each
the rules of its variant, and provides the task rewards and item prices of its variants.
"""

from app.earning.hooks import POINTS_OVERRIDES, RULE_CHANGING, RULE_CHOOSERS
from app.experiments.audit import EXPERIMENT_CHECKS
from app.experiments.chooser import choose_rules, guard_rule_change
from app.experiments.overrides import choose_points, generation
from app.ledger.audit import register_checks

RULE_CHOOSERS.register(choose_rules)
RULE_CHANGING.register(guard_rule_change)
POINTS_OVERRIDES.provide(generation, choose_points)
register_checks(EXPERIMENT_CHECKS)
