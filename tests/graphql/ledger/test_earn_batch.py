"""earnPointsBatch: each item answers as earnPoints would have, in the input's order; a refused
item changes nothing and undoes nothing of its neighbours; a refused call changes nothing."""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.groupcommit import POSTINGS_MAX
from app.ledger.groupcommit import POST_CREDITS
from tests.graphql.conftest import Api, api_with, assert_audit_clean
from tests.graphql.statements import counting_statements, statements_of

API_MD = Path(__file__).resolve().parents[3] / "docs" / "API.md"
BATCH = """mutation($items: [EarnPointsInput!]!) {
  earnPointsBatch(input: {items: $items}) {
    __typename
    ... on MutationError { code message field }
    ... on EarnBatchPosted {
      posted refused
      results {
        __typename
        ... on PointsPosted { entry { id amount reason } balance { available pending total } }
        ... on MutationError { code message field } } } } }"""


def item(member: str, amount: int, key: str, **fields: Any) -> dict[str, Any]:
    return {"memberId": member, "amount": amount, "reason": "till", "idempotencyKey": key, **fields}


async def batch(
    api: Api, items: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    body = await api.call(BATCH, {"items": items}, headers or api.staff_headers("operator"))
    assert "errors" not in body, body
    answer: dict[str, Any] = body["data"]["earnPointsBatch"]
    return answer


def outcome(result: dict[str, Any]) -> str:
    return str(result["code"]) if result["__typename"] == "MutationError" else "posted"


async def earned_events(api: Api, member: str) -> int:
    async with api.runtime.engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT count(*) FROM events WHERE topic = :t AND type = 'points.earned'"),
            {"t": f"member:{member}"},
        )
    return int(found or 0)


async def test_each_item_answers_its_own_outcome_in_order(api: Api) -> None:
    a, b = await api.register("pos", "batch-a"), await api.register("pos", "batch-b")
    closed = await api.register("pos", "batch-closed")
    await api.admin(
        """mutation($m: ID!) { setMemberStatus(input: {memberId: $m, status: CLOSED,
             reason: "left"}) { __typename } }""",
        {"m": closed},
    )
    assert (await api.earn(a, 7, "used-before"))["__typename"] == "PointsPosted"
    huge = api.settings.max_points_per_operation + 1

    def later(days: int) -> str:
        return (api.runtime.clock.now() + timedelta(days=days)).isoformat()

    items = [
        item(a, 10, "ok-1"),
        item(a, 0, "zero"),
        item(b, -5, "negative"),
        item(b, huge, "huge"),
        item(a, 20, "ok-2", reference="r-1"),
        item(a, 5, "blank", reason="   "),
        item(b, 5, "long", reason="x" * 10_000),
        item(b, 5, "hostile-ref", reference="'); DROP TABLE entries; --" + "é" * 300),
        item("not-an-id", 5, "bad-id"),
        item("987654321", 5, "unknown"),
        item(closed, 5, "closed"),
        item(a, 8, "used-before"),  # reused with another amount
        item(a, 9, "", reason="empty key"),
        item(b, 1, "k" * 1_000),
        item(b, 30, "ok-3", availableAt=later(1)),
        item(b, 5, "dates", availableAt=later(2), expiresAt=later(1)),
    ]

    answer = await batch(api, items)

    got = [outcome(r) for r in answer["results"]]
    assert got == [
        "posted",
        "INVALID_INPUT",
        "INVALID_INPUT",
        "INVALID_INPUT",
        "posted",
        "INVALID_INPUT",
        "INVALID_INPUT",
        "INVALID_INPUT",
        "INVALID_INPUT",
        "NOT_FOUND",
        "MEMBER_NOT_ACTIVE",
        "IDEMPOTENCY_KEY_REUSED",
        "INVALID_INPUT",
        "INVALID_INPUT",
        "posted",
        "INVALID_INPUT",
    ], answer
    assert (answer["posted"], answer["refused"]) == (3, 13)
    first, second = answer["results"][0], answer["results"][4]
    assert first["entry"]["amount"] == 10 and second["entry"]["amount"] == 20
    assert first["balance"]["available"] == 17  # each item its own balance, right after it
    assert second["balance"]["available"] == 37
    assert answer["results"][14]["balance"] == {"available": 0, "pending": 30, "total": 30}
    assert {r["field"] for r in answer["results"][1:4]} == {"amount"}
    assert answer["results"][8]["field"] == "memberId"
    assert (await api.ledger_state(a))["balance"]["total"] == 37
    assert (await api.ledger_state(b))["balance"]["total"] == 30
    assert (await api.ledger_state(closed))["balance"]["total"] == 0
    # Each posted item its own points.earned event, as earnPoints emits it.
    assert (await earned_events(api, a), await earned_events(api, b)) == (3, 1)
    await assert_audit_clean(api)


async def test_an_item_answers_as_earn_points_would(api: Api) -> None:
    member = await api.register("pos", "batch-same")
    single = await api.earn(member, 0, "single-zero")
    answer = await batch(api, [item(member, 0, "batch-zero", reason="test")])
    (result,) = answer["results"]
    assert {k: result[k] for k in ("code", "message", "field")} == {
        k: single[k] for k in ("code", "message", "field")
    }


async def test_a_replayed_batch_answers_the_same_entries_and_posts_nothing(api: Api) -> None:
    member = await api.register("pos", "batch-replay")
    items = [item(member, n + 1, f"replay-{n}") for n in range(70)]  # two statements' worth
    first = await batch(api, items)
    history = await api.ledger_state(member)

    again = await batch(api, items)

    assert [r["entry"]["id"] for r in again["results"]] == [
        r["entry"]["id"] for r in first["results"]
    ]
    assert again["posted"] == 70
    assert await api.ledger_state(member) == history
    assert history["balance"]["total"] == sum(range(1, 71))
    assert all(r["balance"]["total"] == history["balance"]["total"] for r in again["results"])
    assert await earned_events(api, member) == 70
    await assert_audit_clean(api)


async def test_one_key_twice_in_a_batch_posts_its_first_use(api: Api) -> None:
    """A key's first use in the input posts; later ones replay it or are refused, wherever they
    fall: in the same statement, or in another statement sent at the same time (the first use
    in the input wins every time, not the statement that happened to commit first)."""
    member = await api.register("pos", "batch-twice")
    fills = [item(member, 1, f"fill-{n}") for n in range(POSTINGS_MAX)]
    items = [
        *fills[:-1],
        item(member, 5, "twice"),  # the last of the first statement
        item(member, 6, "twice"),  # the first of the second: another amount
        item(member, 5, "twice"),
        fills[-1],
        item(member, 7, "twice"),
    ]

    answer = await batch(api, items)

    results = answer["results"][POSTINGS_MAX - 1 :]
    assert [outcome(r) for r in results] == [
        "posted",
        "IDEMPOTENCY_KEY_REUSED",
        "posted",
        "posted",
        "IDEMPOTENCY_KEY_REUSED",
    ]
    assert results[0]["entry"] == results[2]["entry"]
    assert results[0]["entry"]["amount"] == 5
    assert (await api.ledger_state(member))["balance"]["total"] == 5 + POSTINGS_MAX
    await assert_audit_clean(api)


@pytest.mark.parametrize("size", [0, 4])
async def test_an_empty_or_too_long_list_is_refused_whole(api: Api, size: int) -> None:
    member = await api.register("pos", f"batch-limit-{size}")
    async with api_with(api.settings, api.runtime.clock, earn_points_batch_max=3) as small:
        answer = await batch(small, [item(member, 1, f"limit-{n}") for n in range(size)])
    assert answer["__typename"] == "MutationError"
    assert (answer["code"], answer["field"]) == ("INVALID_INPUT", "items")
    assert (await api.ledger_state(member))["balance"]["total"] == 0


@pytest.mark.parametrize("amount", ["NaN", "Infinity", 1e40, 2**31, "12", 1.5, None])
async def test_an_amount_that_is_no_int_refuses_the_whole_call(api: Api, amount: Any) -> None:
    member = await api.register("pos", f"batch-nan-{amount}")
    items = [item(member, 5, f"nan-ok-{amount}"), item(member, 0, f"nan-{amount}")]
    items[1]["amount"] = amount
    body = await api.call(BATCH, {"items": items}, api.staff_headers("operator"))
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", body
    assert (await api.ledger_state(member))["balance"]["total"] == 0


async def test_a_body_over_the_limit_is_refused_whole(api: Api) -> None:
    member = await api.register("pos", "batch-big")
    items = [item(member, 1, f"big-{n}", reason="r" * 4_000) for n in range(300)]
    response = await api.post(BATCH, {"items": items}, api.staff_headers("operator"))
    assert response.status_code == 413
    assert (await api.ledger_state(member))["balance"]["total"] == 0


async def test_the_callers_earn_points_allows_and_no_one_else(api: Api) -> None:
    mine, theirs = await api.register("pos", "batch-mine"), await api.register("web", "theirs")
    items = [item(mine, 5, "who-1"), item(theirs, 5, "who-2")]
    refused_whole = {
        "anonymous": {},
        "member": api.member_headers(mine),
        "analyst": api.staff_headers("analyst"),
        "unscoped partner": await api.partner_headers([], "pos", "bare"),
        "wrong scope": await api.partner_headers(["points:spend"], "pos", "spender"),
        "bad key": {"X-Api-Key": "jf_000000000000_" + "A" * 43},
        "bad token": {"Authorization": "Bearer not.a.token"},
    }
    for who, headers in refused_whole.items():
        response = await api.post(BATCH, {"items": items}, headers)
        body = response.json()
        data = (body.get("data") or {}).get("earnPointsBatch")
        code = data["code"] if data else body["errors"][0]["extensions"]["code"]
        assert code in {"FORBIDDEN", "UNAUTHENTICATED"}, (who, body)

    partner = await api.partner_headers(["points:earn"], "pos", "till")
    answer = await batch(api, items, partner)
    # A partner key earns for its own channel's members only, item by item, as earnPoints.
    assert [outcome(r) for r in answer["results"]] == ["posted", "FORBIDDEN"]
    single = await api.earn(theirs, 5, "who-3", partner)
    assert single["code"] == answer["results"][1]["code"]
    assert (await api.ledger_state(mine))["balance"]["total"] == 5
    assert (await api.ledger_state(theirs))["balance"]["total"] == 0


async def test_statements_grow_by_one_per_sixty_items(api: Api) -> None:
    """Fresh items of open accounts: the batch's own statements are one per POSTINGS_MAX items;
    the rest (authentication, the rate limit's, the replica note) does not grow with the list.
    A partner's channel look-ups of all the members are one statement (its DataLoader)."""
    people = [await api.register("pos", f"batch-count-{n}") for n in range(8)]
    partner = await api.partner_headers(["points:earn"], "pos", "counter")
    counter = iter(range(10**6))

    def items(n: int) -> dict[str, Any]:
        return {"items": [item(people[i % 8], 1, f"count-{next(counter)}") for i in range(n)]}

    await statements_of(api, BATCH, items(3), partner)  # warm what a process loads once
    few = await statements_of(api, BATCH, items(3), partner)
    one_full = await statements_of(api, BATCH, items(POSTINGS_MAX), partner)
    three = await statements_of(api, BATCH, items(2 * POSTINGS_MAX + 1), partner)

    assert few.count(POST_CREDITS) == one_full.count(POST_CREDITS) == 1
    assert three.count(POST_CREDITS) == 3
    assert len(one_full) == len(few), "\n\n".join(one_full)
    assert len(three) == len(few) + 2, "\n\n".join(three)


async def test_batches_and_single_earns_race_over_the_same_keys(api: Api) -> None:
    """Batches and single earns, sent at once over real connections, share members and keys
    (a key in up to three requests): each key posts once, the others replay its entry."""
    people = [await api.register("pos", f"batch-race-{n}") for n in range(5)]
    rng = random.Random(48)
    requests = [(rng.choice(people), rng.randint(1, 40), f"race-{n}") for n in range(300)]
    sends: list[list[tuple[str, int, str]]] = []
    for request in requests:
        for _ in range(rng.choice((1, 2, 3))):
            sends.append([request])
    rng.shuffle(sends)
    # Group most sends into batches of 1 to 90; the rest stay single earnPoints.
    batches: list[list[tuple[str, int, str]]] = []
    singles: list[tuple[str, int, str]] = []
    while sends:
        if rng.random() < 0.2:
            singles.append(sends.pop()[0])
            continue
        size = rng.randint(1, 90)
        batches.append([s[0] for s in sends[:size]])
        del sends[:size]
    headers = api.staff_headers("operator")

    async def send_batch(chosen: list[tuple[str, int, str]]) -> list[tuple[str, str]]:
        chosen_items = [item(m, a, k, reason="test") for m, a, k in chosen]  # as api.earn's
        answer = await batch(api, chosen_items, headers)
        assert answer["refused"] == 0, [r for r in answer["results"] if "entry" not in r]
        return [
            (k, r["entry"]["id"]) for (_, _, k), r in zip(chosen, answer["results"], strict=True)
        ]

    async def send_single(chosen: tuple[str, int, str]) -> list[tuple[str, str]]:
        m, a, k = chosen
        answer = await api.earn(m, a, k, headers)
        assert answer["__typename"] == "PointsPosted", answer
        return [(k, answer["entry"]["id"])]

    done = await asyncio.gather(
        *(send_batch(b) for b in batches), *(send_single(s) for s in singles)
    )

    by_key: dict[str, set[str]] = {}
    for key, entry_id in (pair for answer in done for pair in answer):
        by_key.setdefault(key, set()).add(entry_id)
    assert len(by_key) == len(requests)
    assert Counter(len(ids) for ids in by_key.values()) == {1: len(requests)}
    assert len({next(iter(ids)) for ids in by_key.values()}) == len(requests)
    for m in people:
        state = await api.ledger_state(m)
        mine = [a for who, a, _ in requests if who == m]
        assert state["balance"]["total"] == sum(mine)
        assert await earned_events(api, m) == len(mine)
    await assert_audit_clean(api)


async def test_a_batch_is_counted_by_the_statement_counter(api: Api) -> None:
    """The counting helper sees the batch's statement (else the count test could not fail)."""
    member = await api.register("pos", "batch-seen")
    with counting_statements(api) as statements:
        await batch(api, [item(member, 1, "seen")])
    assert POST_CREDITS in statements


async def test_the_example_in_api_md_runs(api: Api) -> None:
    api_md = API_MD.read_text(encoding="utf-8")
    section = api_md[api_md.index("## Bulk earns") :]
    (example,) = re.findall(r"```graphql\n(.*?)```", section, re.S)[:1]
    member = await api.register("pos", "batch-doc")
    body = await api.call(
        example,
        {"items": [item(member, 3, "doc-1"), item(member, 0, "doc-2")]},
        api.staff_headers(),
    )
    answer = body["data"]["earnPointsBatch"]
    assert (answer["posted"], answer["refused"]) == (1, 1), body
