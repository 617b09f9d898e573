from pathlib import Path

from app.auth.permissions import (
    PERMISSIONS,
    ROUTE_OPERATIONS,
    Subject,
    allows,
    render_markdown,
)
from app.auth.principal import ANONYMOUS, Principal, Role
from app.graphql.schema import schema

ROOT = Path(__file__).resolve().parents[2]


def test_docs_permissions_md_is_generated_from_the_table() -> None:
    documented = (ROOT / "docs" / "PERMISSIONS.md").read_text(encoding="utf-8")
    assert documented == render_markdown(), (
        "run: python -m app.auth.permissions > docs/PERMISSIONS.md"
    )


def test_every_root_field_is_in_the_table_and_nothing_else() -> None:
    graphql = schema._schema
    assert graphql.query_type is not None
    assert graphql.mutation_type is not None
    fields = set(graphql.query_type.fields) | set(graphql.mutation_type.fields)
    if graphql.subscription_type is not None:
        fields |= set(graphql.subscription_type.fields)
    assert fields | ROUTE_OPERATIONS == set(PERMISSIONS)


def test_members_act_only_on_themselves_and_write_only_their_profile() -> None:
    me = Principal.member(7)
    for operation in PERMISSIONS:
        assert not allows(me, operation, Subject(8, frozenset()))
    writable = {op for op in PERMISSIONS if allows(me, op, Subject(7, frozenset()))}
    assert writable == {
        "me",
        "member",
        "updateMemberProfile",
        "memberEvents",
        "balance",
        "leaderboard",
        "previewPoints",
        "tiers",
        # engagement: a member signs in and reads its own streak
        "signInStreak",
        "signInCalendar",
        "signInSchedules",
        "checkIn",
        "makeUpSignIn",
        # lifecycle: its expiry alerts and notifications
        "expiryAlerts",
        "notifications",
        "markNotificationsRead",
        "giftPoints",
        "lifecyclePolicy",
        "moveExpiringPoints",
        "bankMoves",
        # engagement: tasks, boards, teams, badges, referrals
        "tasks",
        "taskCentre",
        "challengeBoard",
        "teamBoard",
        "team",
        "badges",
        "memberBadges",
        "completeTask",
        "createTeam",
        "joinTeam",
        "referrals",
        "acceptInvite",
        "issueInviteCode",
        "mallItems",
        "redemptions",
        "placeRedemption",
        "confirmRedemption",
        "cancelRedemption",
        "checkoutQuote",
        "redemptionQuote",
        "lotteryPool",
        "lotteryDraws",
        "drawTickets",
        "drawLottery",
        "charities",
        "donatePoints",
        # games: watch auctions, bid, follow one's bids
        "auctions",
        "auction",
        "liveAuction",
        "auctionBids",
        "placeBid",
        "campaigns",
        "campaign",
        "liveCampaign",
        "campaignPledges",
        "pledgePoints",
        "withdrawPledge",
        # games: PK duels
        "duelRules",
        "duels",
        "liveDuel",
        "challengeDuel",
        "acceptDuel",
        "declineDuel",
        # games: quest levels
        "quests",
        "questProgress",
        "liveQuest",
    }


def test_analysts_only_read_and_anonymous_nothing() -> None:
    analyst = Principal.staff("ann", {Role.ANALYST})
    assert {op for op in PERMISSIONS if allows(analyst, op)} == {
        "member",
        "memberByRef",
        "membersByPhone",
        "lotteryPools",
        "memberEvents",
        "programmeEvents",
        "balance",
        "leaderboard",
        "earningRules",
        "previewPoints",
        "tiers",
        "signInStreak",
        "signInCalendar",
        "signInSchedules",
        "tierDefinitionVersions",
        "jobs",
        "expiryAlerts",
        "notifications",
        "tasks",
        "taskCentre",
        "challengeBoard",
        "teamBoard",
        "team",
        "badges",
        "memberBadges",
        "referrals",
        "exchangePartners",
        "lifecyclePolicy",
        "bankMoves",
        "pointsBank",
        "mallItems",
        "redemptions",
        "mallOrders",
        "checkoutQuote",
        "redemptionQuote",
        "lotteryPool",
        "lotteryDraws",
        "drawTickets",
        "charities",
        "auctions",
        "auction",
        "liveAuction",
        "auctionBids",
        "campaigns",
        "campaign",
        "liveCampaign",
        "campaignPledges",
        "duelRules",
        "duels",
        "liveDuel",
        "quests",
        "questProgress",
        "liveQuest",
        "kpis",
        "pointsOutlook",
        "weeklyReport",
        "pointValues",
        "programmeAlerts",
        "anomalyAlerts",
        "memberSegment",
        "segmentCampaign",
        "experiments",
        "experiment",
        "experimentResults",
        "exportMemberBalances",
        "exportTransactions",
        "webhookEndpoints",
        "webhookEndpoint",
    }
    assert not any(allows(ANONYMOUS, op) for op in PERMISSIONS)


def test_adjust_and_status_are_staff_only() -> None:
    partner = Principal.of_partner("shop", "pos", {"points:earn", "points:spend", "members:write"})
    for operation in (
        "adjustPoints",
        "setMemberStatus",
        "linkChannelRef",
        "createEarningRule",
        "updateEarningRule",
        "setEarningRuleEnabled",
        "earningRules",
        "grantMakeUpCards",
        "saveSignInSchedule",
        "saveTierDefinition",
        "tierDefinitionVersions",
        "createTask",
        "updateTask",
        "setTaskEnabled",
        "saveBadge",
    ):
        assert not allows(partner, operation, Subject(1, frozenset({"pos"})))
        assert allows(Principal.staff("op", {Role.OPERATOR}), operation)


def test_the_operations_that_write_are_exactly_the_mutations() -> None:
    """A frozen member's token may call what does not write: the table must know which do."""
    graphql = schema._schema
    assert graphql.mutation_type is not None
    writes = {operation for operation, rule in PERMISSIONS.items() if rule.writes}
    assert writes == set(graphql.mutation_type.fields)


def test_a_frozen_member_may_call_its_reads_and_none_of_its_writes() -> None:
    frozen = Principal(Principal.member(7).kind, member_id=7, read_only=True)
    own = Subject(7, frozenset())
    for operation, rule in PERMISSIONS.items():
        if rule.member_self:
            assert allows(frozen, operation, own) is not rule.writes, operation
