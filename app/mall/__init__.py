"""The points mall: catalogue, redemption orders, points at checkout, flash sales, lotteries
and donations (docs/MALL.md)."""

from app.ledger.audit import register_checks
from app.mall.audit import MALL_CHECKS

register_checks(MALL_CHECKS)
