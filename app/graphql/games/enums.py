"""The games' enums as GraphQL knows them (registered once, under their schema names, before
any type or input uses them)."""

from __future__ import annotations

import strawberry

from app.games.duelrules import DuelMetric, DuelOutcome, DuelStatus, TieRule
from app.games.policy import (
    AuctionOutcome,
    AuctionStatus,
    BidStatus,
    CampaignOutcome,
    CampaignStatus,
    PledgeStatus,
)

__all__ = [
    "AuctionOutcome",
    "AuctionStatus",
    "BidStatus",
    "CampaignOutcome",
    "CampaignStatus",
    "DuelMetric",
    "DuelOutcome",
    "DuelStatus",
    "PledgeStatus",
    "TieRule",
]

strawberry.enum(AuctionStatus, name="AuctionStatus")
strawberry.enum(AuctionOutcome, name="AuctionOutcome")
strawberry.enum(BidStatus, name="BidStatus")
strawberry.enum(CampaignStatus, name="CampaignStatus")
strawberry.enum(CampaignOutcome, name="CampaignOutcome")
strawberry.enum(PledgeStatus, name="PledgeStatus")
strawberry.enum(DuelMetric, name="DuelMetric")
strawberry.enum(TieRule, name="DuelTieRule")
strawberry.enum(DuelStatus, name="DuelStatus")
strawberry.enum(DuelOutcome, name="DuelOutcome")
