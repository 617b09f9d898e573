"""docs/EXPERIMENTS.md's GraphQL examples are valid against the schema (they run as written)."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import parse, validate

from app.graphql.schema import schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "EXPERIMENTS.md"


def test_every_graphql_example_validates() -> None:
    blocks = re.findall(r"```graphql\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 5
    for block in blocks:
        assert validate(schema._schema, parse(block)) == [], block
