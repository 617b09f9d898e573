"""Earning's DataLoaders: batch reads for the fields of a list (``info.context.loaders.of``)."""

from __future__ import annotations

from app.earning import usecases
from app.earning.rulebook import RuleVersion
from app.runtime import Runtime


async def rule_versions(rt: Runtime, rule_ids: list[int]) -> list[list[RuleVersion]]:
    """The versions of every rule on the page, in one statement."""
    found = await usecases.rule_versions_of(rt, rule_ids)
    return [found[rule_id] for rule_id in rule_ids]
