from pathlib import Path

from app.graphql.schema import schema

ROOT = Path(__file__).resolve().parents[2]


def test_schema_graphql_matches_the_code() -> None:
    committed = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert committed == str(schema).rstrip("\n") + "\n", (
        "schema.graphql is stale: run `jifen export-schema`"
    )


def test_the_subscription_type_has_the_gateway_fields() -> None:
    subscription = schema._schema.subscription_type
    assert subscription is not None
    assert {"memberEvents", "balance"} <= set(subscription.fields)
