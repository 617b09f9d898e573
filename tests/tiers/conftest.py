"""The earning tests' fixtures (the demo tiers, a member, rule helpers) serve here too."""

from tests.earning.conftest import add_rules, member, tiers

__all__ = ["add_rules", "member", "tiers"]
