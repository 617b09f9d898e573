"""Live points games: auctions (积分竞拍), crowdfunding (积分众筹), PK duels (积分PK赛), quest
levels (积分任务闯关) (docs/GAMES.md).

Registered here, so the packages below the games import none of it: the games' audit checks
(the ledger's audit), and the quests' listener on completed tasks (engagement's hook)."""

from app.engagement.tracker import LISTENERS_GENERATION, TASK_COMPLETED
from app.games.audit import GAMES_CHECKS
from app.games.quests import levels_generation, task_completed
from app.ledger.audit import register_checks

register_checks(GAMES_CHECKS)
TASK_COMPLETED.register(task_completed)
LISTENERS_GENERATION.provide(levels_generation)
