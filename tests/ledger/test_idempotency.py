"""The one idempotency module: its fingerprint and its replay rule (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.errors import DomainError, ErrorCode
from app.ledger.idempotency import MAX_KEY_LENGTH, check_key, fingerprint, same_request


def test_fingerprints_already_stored_stay_valid() -> None:
    # Digests written before the module was shared (idempotency keys, purchases): a change
    # of the canonical form would refuse every replay of a request recorded before it.
    earn = {
        "member_id": 7,
        "amount": 100,
        "reason": "x",
        "reference": None,
        "available_at": None,
        "expires_at": None,
    }
    assert fingerprint(["earn", earn]) == (
        "90f8abc91593fc9262506f4981405b5a9dc6a14876a7bdf9c3dd079f97269d0b"
    )
    purchase = {"member_id": 7, "lines": [["sku-1", "food", 2, "12.50"]], "occurred_at": None}
    assert fingerprint(purchase) == (
        "594e737e4dea4aad4fe8336a6856e7f246ea6c4e7f8719201a15d683f1987f09"
    )


def test_fingerprint_ignores_key_order_and_sees_every_value() -> None:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    assert fingerprint({"a": 1, "b": at}) == fingerprint({"b": at, "a": 1})
    assert fingerprint({"a": Decimal("1.50")}) != fingerprint({"a": Decimal("1.5")})
    assert fingerprint(["earn", {"a": 1}]) != fingerprint(["spend", {"a": 1}])


def test_same_request_replays_and_another_is_refused() -> None:
    same_request("abc", "abc", message="reused", field="orderId")
    with pytest.raises(DomainError) as refused:
        same_request("abc", "abd", message="this order id was reused", field="orderId")
    assert refused.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert refused.value.field == "orderId"
    with pytest.raises(DomainError):  # a key with nothing stored answers nothing
        same_request(None, "abc", message="reused", field="idempotencyKey")


def test_keys_are_bounded() -> None:
    assert check_key("k" * MAX_KEY_LENGTH) == "k" * MAX_KEY_LENGTH
    for bad in ("", "k" * (MAX_KEY_LENGTH + 1)):
        with pytest.raises(DomainError) as refused:
            check_key(bad)
        assert refused.value.code is ErrorCode.INVALID_INPUT
        assert refused.value.field == "idempotencyKey"
