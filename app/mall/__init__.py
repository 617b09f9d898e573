"""The points mall: catalogue, redemption orders, points at checkout, flash sales, lotteries
and donations (docs/MALL.md).

Registered here, so the ledger and engagement (below the mall) import none of it: the mall's
audit checks, and the draw tickets engagement's rewards grant (app/hooks.py)."""

from app.engagement.rewards import DRAW_TICKETS
from app.ledger.audit import register_checks
from app.mall.audit import MALL_CHECKS
from app.mall.lottery import grant_draw_ticket

register_checks(MALL_CHECKS)
DRAW_TICKETS.provide(grant_draw_ticket)
