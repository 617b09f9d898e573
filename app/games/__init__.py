"""Live points games: auctions (积分竞拍), crowdfunding (积分众筹) (docs/GAMES.md).

Registered here, so the ledger (below the games) imports none of it: the games' audit checks."""

from app.games.audit import GAMES_CHECKS
from app.ledger.audit import register_checks

register_checks(GAMES_CHECKS)
