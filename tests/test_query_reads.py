"""Every GraphQL Query field is classified for read replicas (docs/SCALING.md, "PostgreSQL read
replicas"): its reads go through ``Runtime.read`` (a replica when one has seen the caller's and
the member's last writes), or stay on the primary for a stated reason, or read no database. A new
field fails here until it is put in one of the three."""

from __future__ import annotations

from app.graphql.schema import schema

# Reads through rt.read: on a replica fresh enough for the caller and the members read.
ON_REPLICA = {
    # members and the ledger
    "member",
    "memberByRef",
    "membersByPhone",
    "me",
    # earning
    "earningRules",
    "previewPoints",
    # tiers
    "tiers",
    "tierDefinitionVersions",
    # leaderboards (the board is Redis; the names behind it, PostgreSQL)
    "leaderboard",
    # engagement: sign-ins, tasks, boards, teams, badges, referrals
    "signInStreak",
    "signInCalendar",
    "signInSchedules",
    "tasks",
    "taskCentre",
    "challengeBoard",
    "teamBoard",
    "team",
    "badges",
    "memberBadges",
    "referrals",
    # lifecycle
    "exchangePartners",
    "notifications",
    "pointsBank",
    "bankMoves",
    # mall
    "mallItems",
    "redemptions",
    "mallOrders",
    "lotteryPool",
    "lotteryPools",
    "lotteryDraws",
    "drawTickets",
    "charities",
    "checkoutQuote",
    "redemptionQuote",
    # games
    "auctions",
    "auction",
    "auctionBids",
    "campaigns",
    "campaign",
    "campaignPledges",
    "duelRules",
    "duels",
    "quests",
    "questProgress",
    # analytics
    "kpis",
    "weeklyReport",
    "pointValues",
    "anomalyAlerts",
    # segments
    "memberSegment",
    "segmentCampaign",
    # experiments
    "experiments",
    "experiment",
    "experimentResults",
}

# On the primary, and why (the same reasons as docs/SCALING.md's table).
ON_PRIMARY = {
    "pointsOutlook": "before the outlook job's first run, its absence decides a write (computed "
    "and stored by the read)",
    "jobs": "the worker's runs and leases, written by no mutation (no mark): an operator asks "
    "right after runJob and must see the run",
    "webhookEndpoints": "a partner's endpoints decide what it may read, and their delivery log is "
    "written by the webhook worker, which marks no one",
    "webhookEndpoint": "one endpoint of a partner (its ownership decides the read) with the "
    "delivery log the webhook worker writes unmarked",
}

# Reads no database.
NO_DATABASE = {"lifecyclePolicy"}  # the settings


def query_fields() -> set[str]:
    query = schema._schema.query_type
    assert query is not None
    return set(query.fields)


def test_every_query_field_is_classified_once() -> None:
    classified = [*ON_REPLICA, *ON_PRIMARY, *NO_DATABASE]
    assert len(classified) == len(set(classified)), "a field is in two classes"
    fields = query_fields()
    unclassified = fields - set(classified)
    assert not unclassified, (
        f"classify {sorted(unclassified)} for read replicas: ON_REPLICA (its reads go through "
        "rt.read), ON_PRIMARY with the reason, or NO_DATABASE (tests/test_query_reads.py, "
        "docs/SCALING.md)"
    )
    assert not set(classified) - fields, "a classified field is no longer in the schema"


def test_every_primary_read_says_why() -> None:
    assert all(len(reason) > 20 for reason in ON_PRIMARY.values())
