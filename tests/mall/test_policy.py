"""Pure mall rules: prices, periods, checks, offers, checkout limits, and the lottery's odds
(100,000 draws from the same secrets-based roll the service uses, against a chi-square test)."""

from __future__ import annotations

import math
import secrets
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.errors import DomainError, ErrorCode
from app.mall.policy import (
    CheckoutPolicy,
    Fulfilment,
    Item,
    ItemKind,
    LimitPeriod,
    MemberView,
    PriceRule,
    Prize,
    award,
    check_checkout_points,
    check_limit,
    check_on_sale,
    check_quantity,
    check_tier,
    checkout_quote,
    odds,
    offer_for,
    period_start,
    pick,
    total_weight,
    unit_price,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Monday
ITEM = Item(
    id=1,
    code="yoghurt",
    name="Yoghurt",
    description="",
    image_url=None,
    kind=ItemKind.GOODS,
    points_price=100,
    cash_price=Decimal("0"),
    stock_total=10,
    stock_left=10,
    per_member_limit=None,
    limit_period=None,
    min_tier=None,
    sale_starts_at=None,
    sale_ends_at=None,
    price_rules=(),
    best_before=None,
    flash=False,
    coupon_source=None,
    fulfilment=Fulfilment.INSTANT,
    active=True,
    version=1,
    updated_at=NOW,
    updated_by="t",
)


def test_near_expiry_goods_get_the_best_discount_that_applies() -> None:
    rules = (PriceRule(7, 20), PriceRule(2, 50))
    item = replace(ITEM, price_rules=rules, best_before=NOW + timedelta(days=10))
    assert unit_price(item, NOW) == 100
    assert unit_price(item, NOW + timedelta(days=3)) == 80
    assert unit_price(item, NOW + timedelta(days=8, hours=1)) == 50


def test_periods_are_business_local() -> None:
    tz = "Asia/Shanghai"
    late = datetime(2026, 11, 22, 16, 30, tzinfo=UTC)  # 00:30 on Monday in Shanghai
    assert period_start(late, LimitPeriod.DAY, tz) == datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
    assert period_start(NOW, LimitPeriod.WEEK, tz) == datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
    assert period_start(NOW, LimitPeriod.MONTH, tz) == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert period_start(NOW, LimitPeriod.EVER, tz) is None


def test_checks_refuse_with_their_codes() -> None:
    for quantity in (0, -1, 101):
        with pytest.raises(DomainError) as bad:
            check_quantity(quantity)
        assert bad.value.code is ErrorCode.INVALID_INPUT
    cases = [
        (lambda: check_on_sale(replace(ITEM, active=False), NOW), ErrorCode.NOT_ON_SALE),
        (lambda: check_on_sale(replace(ITEM, sale_ends_at=NOW), NOW), ErrorCode.NOT_ON_SALE),
        (lambda: check_tier(replace(ITEM, min_tier="gold"), 1, 2), ErrorCode.TIER_TOO_LOW),
        (lambda: check_limit(replace(ITEM, per_member_limit=2), 1, 2), ErrorCode.LIMIT_REACHED),
    ]
    for check, code in cases:
        with pytest.raises(DomainError) as refused:
            check()
        assert refused.value.code is code
    check_tier(replace(ITEM, min_tier="silver"), 2, 1)  # a higher tier may


def test_an_offer_says_what_and_why() -> None:
    member = MemberView(available=80, tier_rank=0, redeemed={1: 1})
    limited = replace(ITEM, per_member_limit=1)
    assert offer_for(ITEM, member, None, NOW).allowed
    assert not offer_for(ITEM, member, None, NOW).affordable
    refused = offer_for(limited, member, None, NOW)
    assert (refused.allowed, refused.refusal) == (False, ErrorCode.LIMIT_REACHED)


def test_points_at_checkout_are_capped_by_share_balance_and_minimum() -> None:
    policy = CheckoutPolicy(Decimal("0.1"), Decimal("0.5"), 10, 1)
    assert checkout_quote(policy, Decimal("100.00"), 10_000).max_points == 500
    quote = checkout_quote(policy, Decimal("100.00"), 120)
    assert (quote.max_points, quote.cash_value, quote.rest_to_pay) == (
        120,
        Decimal("12.00"),
        Decimal("88.00"),
    )
    assert checkout_quote(policy, Decimal("100.00"), 9).max_points == 0
    with pytest.raises(DomainError) as over:
        check_checkout_points(policy, quote, 121)
    assert over.value.code is ErrorCode.LIMIT_REACHED
    with pytest.raises(DomainError) as bad:
        checkout_quote(policy, Decimal("-1"), 100)
    assert bad.value.code is ErrorCode.INVALID_INPUT


# ------------------------------------------------------------------------------------ lottery

PRIZES = (
    Prize(1, "p100", "100 points", "points", 1, 100, 100),
    Prize(2, "c5", "5 CNY coupon", "coupon", 4, 0, None),
    Prize(3, "p10", "10 points", "points", 15, 10, None),
    Prize(4, "none", "Thanks", "nothing", 80, 0, None),
)


def chi2_sf(x: float, k: int) -> float:
    """P(X >= x) for a chi-square variable with k degrees of freedom (exact, integer k)."""
    half = x / 2
    if k % 2 == 0:
        return math.exp(-half) * sum(half**i / math.factorial(i) for i in range(k // 2))
    tail = math.erfc(math.sqrt(half))
    for i in range(1, (k - 1) // 2 + 1):
        tail += math.exp(-half) * half ** (i - 0.5) / math.gamma(i + 0.5)
    return tail


def chi_square(observed: Counter[str], expected: dict[str, float]) -> float:
    return sum((observed[code] - e) ** 2 / e for code, e in expected.items())


def test_the_chi_square_tail_matches_known_values() -> None:
    assert chi2_sf(7.815, 3) == pytest.approx(0.05, abs=1e-3)
    assert chi2_sf(9.210, 2) == pytest.approx(0.01, abs=1e-3)


def test_pick_covers_each_band_exactly() -> None:
    whole = total_weight(PRIZES)
    picked = Counter(pick(PRIZES, roll).code for roll in range(whole))
    assert picked == {"p100": 1, "c5": 4, "p10": 15, "none": 80}
    for roll in (-1, whole):
        with pytest.raises(ValueError):
            pick(PRIZES, roll)


def test_a_hundred_thousand_draws_match_the_published_odds_and_never_exceed_stock() -> None:
    draws = 100_000
    whole = total_weight(PRIZES)
    stock = {p.code: p.stock_left for p in PRIZES}
    drawn: Counter[str] = Counter()
    given: Counter[str] = Counter()
    for _ in range(draws):
        prize = pick(PRIZES, secrets.randbelow(whole))  # the service's own source and pick
        drawn[prize.code] += 1
        current = replace(prize, stock_left=stock[prize.code])
        fallback = replace(PRIZES[3], stock_left=stock["none"])
        won = award(current, fallback)
        if stock[won.code] is not None:
            stock[won.code] = stock[won.code] - 1  # type: ignore[operator]
        given[won.code] += 1
    published = odds(PRIZES)
    expected = {code: float(p) * draws for code, p in published.items()}

    statistic = chi_square(drawn, expected)
    assert chi2_sf(statistic, len(PRIZES) - 1) > 1e-4, (statistic, drawn)
    # The test has power: the same draws are far from odds that are only slightly different.
    skewed = {**expected, "p100": expected["p100"] * 1.5, "none": expected["none"] - 500}
    assert chi2_sf(chi_square(drawn, skewed), len(PRIZES) - 1) < 1e-6
    assert given["p100"] == 100 and stock["p100"] == 0  # stock 100, ~1,000 drawn
    assert given["none"] == drawn["none"] + drawn["p100"] - 100  # the rest fell back
