"""The demo programme's games (docs/GAMES.md): an auction of an item sold only by auction, with
an opening bid so the live view has a leader, a crowdfunding campaign with a first pledge, PK
duel rules with a challenge waiting for the demo member's answer, and a quest of three levels."""

from __future__ import annotations

from datetime import timedelta

from app.errors import DomainError, ErrorCode
from app.games.auctions import AUCTIONS, place_bid
from app.games.crowdfunding import CAMPAIGNS, pledge_points
from app.games.duelrules import Challenge, DuelMetric, DuelRules, TieRule
from app.games.duels import challenge_duel, list_duel_rules, save_duel_rules
from app.games.policy import AuctionSpec, CampaignSpec
from app.games.quests import LevelSpec, QuestSpec, ensure_quest
from app.ledger.models import Actor
from app.mall.catalogue import ItemSpec, ensure_item
from app.mall.policy import Fulfilment, ItemKind
from app.runtime import Runtime

# Withdrawn from direct sale (active: false): the auction is the only way to get it.
DEMO_AUCTION_ITEM = ItemSpec(
    code="auction-headphones",
    name="Wireless headphones (auction only)",
    kind=ItemKind.GOODS,
    points_price=3_000,
    description="One pair, sold to the highest bidder of the demo auction.",
    fulfilment=Fulfilment.SHIPPED,
    active=False,
)
DEMO_AUCTION_DAYS = 7
DEMO_CAMPAIGN_DAYS = 14
# Seeded again once the keys were forgotten: outbid, leading, raised or closed is fine.
LATER = {
    ErrorCode.BID_TOO_LOW,
    ErrorCode.ALREADY_LEADING,
    ErrorCode.ENDED,
    ErrorCode.INVALID_INPUT,
    ErrorCode.INSUFFICIENT_POINTS,  # the demo member spent its points meanwhile
}


DEMO_DUEL_RULES = DuelRules(
    code="demo-pk",
    name="积分PK赛: who earns more",
    metrics=(DuelMetric.POINTS, DuelMetric.PURCHASES, DuelMetric.SIGN_IN_STREAK),
    max_stake=500,
    reward_points=50,
    tie_rule=TieRule.SPLIT,
    accept_hours=72,
    max_hours=168,
)


async def seed_duel(rt: Runtime, actor: Actor, challenger: int, opponent: int) -> None:
    """The rules (kept as an operator changed them) and a challenge to the demo member."""
    if not any(r.rules.code == DEMO_DUEL_RULES.code for r in await list_duel_rules(rt)):
        await save_duel_rules(rt, actor, DEMO_DUEL_RULES)
    asked = Challenge(challenger, opponent, DuelMetric.POINTS, 100, 72)
    player = Actor(f"member:{challenger}", "seed")
    try:
        await challenge_duel(rt, player, DEMO_DUEL_RULES.code, asked, "seed:games:duel")
    except DomainError as error:
        if error.code not in LATER:
            raise


# The quest's levels are the demo's own tasks (app/engagement/demo.py), played in order.
DEMO_QUEST_LEVELS = (
    LevelSpec("complete-profile", 20),
    LevelSpec("share-daily", 30),
    LevelSpec("buy-3-days", 100, "new-product-explorer"),
)


async def seed_games(rt: Runtime, actor: Actor, player_id: int, opponent_id: int) -> None:
    item = await ensure_item(rt, actor, DEMO_AUCTION_ITEM, 1)
    now = rt.clock.now()
    auction = await AUCTIONS.ensure(
        rt,
        actor,
        AuctionSpec(
            code="demo-headphones",
            name="积分竞拍: wireless headphones",
            item_id=item.id,
            starts_at=now,
            ends_at=now + timedelta(days=DEMO_AUCTION_DAYS),
            starting_price=500,
            min_increment=50,
            reserve_price=800,
            extend_seconds=60,
        ),
    )
    player = Actor(f"member:{player_id}", "seed")
    try:
        await place_bid(
            rt,
            player,
            member_id=player_id,
            auction_id=auction.id,
            amount=auction.starting_price,
            idempotency_key="seed:games:opening-bid",
        )
    except DomainError as error:
        if error.code not in LATER:
            raise
    campaign = await CAMPAIGNS.ensure(
        rt,
        actor,
        CampaignSpec(
            code="demo-trees",
            name="积分众筹: 100 trees",
            purpose="The programme plants 100 trees if members pledge 5,000 points in 14 days.",
            goal=5_000,
            starts_at=now,
            ends_at=now + timedelta(days=DEMO_CAMPAIGN_DAYS),
            min_pledge=10,
        ),
    )
    try:
        await pledge_points(
            rt,
            player,
            member_id=player_id,
            campaign_id=campaign.id,
            amount=300,
            idempotency_key="seed:games:first-pledge",
        )
    except DomainError as error:
        if error.code not in LATER:
            raise
    await seed_duel(rt, actor, player_id, opponent_id)
    await ensure_quest(
        rt,
        actor,
        QuestSpec(
            code="demo-quest",
            name="积分任务闯关: profile, share, buy",
            starts_at=now,
            levels=DEMO_QUEST_LEVELS,
            description="Complete your profile, then share, then buy on 3 days in a row.",
        ),
    )
