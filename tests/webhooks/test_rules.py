"""The pure rules: the retry schedule, what an answer means, the address policy, the catalogue,
matching and the body."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime, timedelta

import pytest

from app.errors import DomainError, ErrorCode
from app.webhooks.addresses import check_url, is_allowed, networks
from app.webhooks.catalogue import check_event_types
from app.webhooks.matching import OutboxEvent, Subscription, body, recipients
from app.webhooks.schedule import SCHEDULE, Outcome, judge, next_delay, parse_retry_after


def test_the_schedule_is_the_specifications() -> None:
    minutes, hours = timedelta(minutes=1), timedelta(hours=1)
    assert (
        timedelta(0),
        timedelta(seconds=5),
        5 * minutes,
        30 * minutes,
        2 * hours,
        5 * hours,
        10 * hours,
        10 * hours,
    ) == SCHEDULE
    assert next_delay(1, 0) == timedelta(seconds=5)
    assert next_delay(1, 1) == timedelta(seconds=5.5)  # jitter: at most +10%
    assert next_delay(2, -1) == timedelta(minutes=4.5)  # and -10%
    assert next_delay(len(SCHEDULE), 0) is None  # given up after the last


@pytest.mark.parametrize(
    ("status", "retry_after", "outcome", "wait"),
    [
        (200, None, Outcome.DELIVERED, None),
        (204, None, Outcome.DELIVERED, None),
        (410, None, Outcome.GONE, None),
        (429, "30", Outcome.RETRY, timedelta(seconds=30)),
        (503, "0", Outcome.RETRY, timedelta(seconds=1)),  # never a busy loop
        (503, "999999", Outcome.RETRY, timedelta(hours=10)),  # bounded
        (429, "Wed, 21 Oct 2015 07:28:00 GMT", Outcome.RETRY, None),
        (500, "30", Outcome.RETRY, None),  # only 429 and 503 say when
        (301, None, Outcome.RETRY, None),  # redirects are not followed
        (None, None, Outcome.RETRY, None),  # no answer
    ],
)
def test_what_an_answer_means(
    status: int | None, retry_after: str | None, outcome: Outcome, wait: timedelta | None
) -> None:
    verdict = judge(status, retry_after)
    assert (verdict.outcome, verdict.retry_after) == (outcome, wait)
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.100.100.200", False),  # shared address space (a cloud's metadata)
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:93.184.216.34", True),
    ],
)
def test_only_public_addresses_by_default(address: str, allowed: bool) -> None:
    assert is_allowed(ipaddress.ip_address(address), ()) is allowed


def test_the_allow_list_opens_what_it_names() -> None:
    loopback = networks(["127.0.0.1/32"])
    assert is_allowed(ipaddress.ip_address("127.0.0.1"), loopback)
    assert not is_allowed(ipaddress.ip_address("127.0.0.2"), loopback)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "https:///nohost",
        "https://user:pw@example.com/",
        "http://127.0.0.1/",
        "http://[fe80::1]/",
        "http://example.com:99999/",
        "https://example.com/" + "x" * 2048,
    ],
)
def test_bad_urls_are_refused_with_the_field_named(url: str) -> None:
    with pytest.raises(DomainError) as refused:
        check_url(url, ())
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, "url")


def test_event_types_are_checked_against_the_catalogue() -> None:
    assert check_event_types(
        ["points.spent", "points.earned", "points.spent"], for_channel=True
    ) == [
        "points.earned",
        "points.spent",
    ]
    for wrong, for_channel in (([], False), (["nope"], False), (["team.created"], True)):
        with pytest.raises(DomainError) as refused:
            check_event_types(wrong, for_channel=for_channel)
        assert refused.value.field == "eventTypes"
    assert check_event_types(["team.created"], for_channel=False) == ["team.created"]


AT = datetime(2026, 12, 1, tzinfo=UTC)


def test_a_channel_endpoint_gets_only_its_members_events() -> None:
    staff = Subscription(1, frozenset({"points.earned", "team.created"}), None)
    shop = Subscription(2, frozenset({"points.earned"}), "shop")
    earned = OutboxEvent(7, "member:42", "points.earned", {"amount": 5}, AT, 42)
    team = OutboxEvent(8, "signal:challenge:3", "team.created", {}, AT, 0)
    assert recipients(earned, [staff, shop], {42: frozenset({"shop", "pos"})}) == [1, 2]
    assert recipients(earned, [staff, shop], {42: frozenset({"pos"})}) == [1]
    assert recipients(earned, [staff, shop], {}) == [1]
    assert recipients(team, [staff, shop], {}) == [1]


def test_a_signal_stored_with_its_member_is_no_members_event() -> None:
    """A challenge's signal raised by member 42's write is stored with 42 (its shard), but a
    channel's endpoint gets only the member topic's twin, and the body names no member."""
    subscribed = frozenset({"task.progressed"})
    staff, shop = Subscription(1, subscribed, None), Subscription(2, subscribed, "shop")
    signal = OutboxEvent(9, "signal:challenge:3", "task.progressed", {"n": 1}, AT, 42)
    assert signal.member_id is None
    assert recipients(signal, [staff, shop], {42: frozenset({"shop"})}) == [1]
    assert "member_id" not in json.loads(body(signal))["data"]


def test_the_body_is_type_timestamp_and_data_with_the_sequence() -> None:
    event = OutboxEvent(7, "member:42", "points.earned", {"amount": 5}, AT, 42)
    assert json.loads(body(event)) == {
        "type": "points.earned",
        "timestamp": "2026-12-01T00:00:00+00:00",
        "data": {"amount": 5, "event_id": 7, "member_id": 42},
    }
