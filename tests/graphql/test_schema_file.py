from pathlib import Path

from app.graphql.schema import schema

ROOT = Path(__file__).resolve().parents[2]


def test_schema_graphql_matches_the_code() -> None:
    committed = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert committed == str(schema).rstrip("\n") + "\n", (
        "schema.graphql is stale: run `jifen export-schema`"
    )


def test_no_empty_subscription_type() -> None:
    assert "type Subscription" not in str(schema)
