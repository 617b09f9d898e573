"""The programme's ledger policy: limits, the negative-balance policy, hold time, expiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.config import NegativeBalancePolicy, Settings
from app.ledger.expiry import ExpiryPolicy, programme_policy


@dataclass(frozen=True)
class LedgerPolicy:
    max_amount: int
    negative_balance: NegativeBalancePolicy
    hold_seconds: int
    expiry: ExpiryPolicy  # the programme's; a credit may bring its own expiry instead
    timezone: str  # business-local days (expiry runs to a local midnight)

    @classmethod
    def from_settings(cls, settings: Settings) -> LedgerPolicy:
        return cls(
            max_amount=settings.max_points_per_operation,
            negative_balance=settings.negative_balance_policy,
            hold_seconds=settings.default_hold_seconds,
            expiry=programme_policy(settings),
            timezone=settings.timezone,
        )

    def expires_at(
        self, earned_at: datetime, override: ExpiryPolicy | None = None
    ) -> datetime | None:
        """When points credited at ``earned_at`` expire, by ``override`` or the programme's."""
        return (override or self.expiry).expires_at(earned_at, self.timezone)
