"""Who may call each operation: the one table, and the checks that read it.

Every GraphQL root field is an operation here, named as in the schema. A check has two steps:

1. :func:`require` — before anything is loaded: is this kind of principal (with these roles or
   scopes) allowed to call the operation at all? Anonymous callers get ``UNAUTHENTICATED``, the
   others ``FORBIDDEN``.
2. :func:`require_on` — once the thing acted on is known: a member may act only on itself; a
   partner only on members linked to its channel, and on holds and entries its channel created.
   Staff are not limited to particular members.

``docs/PERMISSIONS.md`` is generated from :data:`PERMISSIONS` (``python -m app.auth.permissions``)
and a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from app.auth.principal import Principal, PrincipalKind, Role
from app.errors import DomainError, ErrorCode, not_found


class Scope(StrEnum):
    """What a partner API key may do (always within its own channel)."""

    MEMBERS_READ = "members:read"
    MEMBERS_WRITE = "members:write"
    POINTS_EARN = "points:earn"
    POINTS_SPEND = "points:spend"  # spend, hold, and commit / void of its own holds
    POINTS_REVERSE = "points:reverse"
    POINTS_EXCHANGE = "points:exchange"  # a coalition partner converting points (its own code)
    WEBHOOKS_MANAGE = "webhooks:manage"  # its channel's webhook endpoints (docs/WEBHOOKS.md)


PARTNER_SCOPES = frozenset(scope.value for scope in Scope)

WEBHOOK = "webhook endpoint"

ALL_STAFF = frozenset(Role)
# What a widget key may call (on its own board only: app/graphql/leaderboards/resolvers.py).
WIDGET_OPERATIONS = frozenset({"leaderboard"})
WRITERS = frozenset({Role.ADMIN, Role.OPERATOR})


@dataclass(frozen=True)
class Rule:
    staff_roles: frozenset[Role]
    member_self: bool  # a member may call it on itself (never on another member)
    partner_scope: Scope | None  # partners holding this scope, within their own channel
    what: str  # one line for the docs
    # What the operation's id names (a hold, an order…) when it acts on one thing by id. A caller
    # who may call the operation, but not on that thing, is told it does not exist, word for
    # word as for an id that does not exist: a refusal must not tell which ids exist.
    target: str | None = None

    @property
    def writes(self) -> bool:
        """Analysts read everything and change nothing, so an operation closed to them changes
        something (``me`` is for members only). tests/auth/test_permission_table.py holds this
        equal to the schema's mutations."""
        return bool(self.staff_roles) and Role.ANALYST not in self.staff_roles


@dataclass(frozen=True)
class Subject:
    """What an operation acts on, as far as permissions care.

    ``channels``: for a member, the channels it is linked to; for a hold or an entry, the partner
    channel that created it (none when staff, a member or the system did: see
    :meth:`created_by`); for a registration or a ref look-up, the channel named in the request.
    """

    member_id: int | None = None
    channels: frozenset[str] = frozenset()

    @classmethod
    def created_by(cls, member_id: int, partner_channel: str | None) -> Subject:
        """A hold or an entry: owned by the member, and by the partner channel that created it.
        Read from the structured creator columns, never from the free-text ``source``."""
        return cls(member_id, frozenset({partner_channel}) if partner_channel else frozenset())


PERMISSIONS: Mapping[str, Rule] = {
    # Reads
    "me": Rule(frozenset(), True, None, "the calling member, with balance, lots, history"),
    "member": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member by id"),
    "memberByRef": Rule(ALL_STAFF, False, Scope.MEMBERS_READ, "a member by (channel, ref)"),
    "membersByPhone": Rule(ALL_STAFF, False, None, "members by phone (the console's search)"),
    # Subscriptions (checked once, at subscribe time)
    "memberEvents": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's events, resumable"),
    "balance": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's live balance"),
    "programmeEvents": Rule(ALL_STAFF, False, None, "every member's events, live (the feed)"),
    # Leaderboards (a query and a subscription of the same name); with memberId, as reading it
    "leaderboard": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a board's top N and own rank, live"),
    # Members
    "registerMember": Rule(WRITERS, False, Scope.MEMBERS_WRITE, "register from a channel"),
    "linkChannelRef": Rule(WRITERS, False, None, "link another channel ref to a member"),
    "updateMemberProfile": Rule(
        WRITERS, True, Scope.MEMBERS_WRITE, "profile; birthday set once (staff change it)"
    ),
    "setMemberStatus": Rule(WRITERS, False, None, "freeze, close or reactivate a member"),
    # Points
    "earnPoints": Rule(WRITERS, False, Scope.POINTS_EARN, "credit points (generic earn)"),
    "earnPointsBatch": Rule(WRITERS, False, Scope.POINTS_EARN, "many earns, each its own outcome"),
    "spendPoints": Rule(WRITERS, False, Scope.POINTS_SPEND, "debit points"),
    "holdPoints": Rule(WRITERS, False, Scope.POINTS_SPEND, "reserve points (two-phase)"),
    "commitHold": Rule(WRITERS, False, Scope.POINTS_SPEND, "turn a hold into a spend", "hold"),
    "voidHold": Rule(WRITERS, False, Scope.POINTS_SPEND, "release a hold", "hold"),
    "reverseEntry": Rule(
        WRITERS, False, Scope.POINTS_REVERSE, "reverse an earn or a spend", "entry"
    ),
    "adjustPoints": Rule(WRITERS, False, None, "staff correction with a reason"),
    # Earning rules (staff), purchases, refunds and events (channels), previews, tiers
    "earningRules": Rule(ALL_STAFF, False, None, "list earning rules with their versions"),
    "createEarningRule": Rule(WRITERS, False, None, "create an earning rule"),
    "updateEarningRule": Rule(WRITERS, False, None, "change an earning rule (new version)"),
    "setEarningRuleEnabled": Rule(WRITERS, False, None, "enable or disable an earning rule"),
    "recordPurchase": Rule(WRITERS, False, Scope.POINTS_EARN, "record an order; earn by rules"),
    "recordRefund": Rule(WRITERS, False, Scope.POINTS_REVERSE, "refund an order; claw back"),
    "recordEvent": Rule(WRITERS, False, Scope.POINTS_EARN, "record a behaviour/custom event"),
    "previewPoints": Rule(ALL_STAFF, True, Scope.POINTS_EARN, "points a basket would earn"),
    "tiers": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "the programme's tier definitions"),
    # Engagement: daily sign-in (docs/ENGAGEMENT.md); signInStreak is a query and a subscription
    "signInStreak": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's streak, live"),
    "signInCalendar": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's sign-ins in a month"),
    "signInSchedules": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "the sign-in reward schedules"),
    "checkIn": Rule(WRITERS, True, Scope.POINTS_EARN, "sign in for today; pays the schedule"),
    "makeUpSignIn": Rule(WRITERS, True, None, "fill a missed day with a make-up card"),
    "grantMakeUpCards": Rule(WRITERS, False, None, "give a member make-up cards"),
    "saveSignInSchedule": Rule(WRITERS, False, None, "create, change or activate a schedule"),
    "tierDefinitionVersions": Rule(ALL_STAFF, False, None, "who changed which tier, and how"),
    "saveTierDefinition": Rule(WRITERS, False, None, "create or change a tier definition"),
    # Scheduled jobs (staff)
    "jobs": Rule(ALL_STAFF, False, None, "every scheduled job with its last run and outcome"),
    "runJob": Rule(frozenset({Role.ADMIN}), False, None, "run a scheduled job now"),
    # Points lifecycle (docs/LIFECYCLE.md)
    "expiryAlerts": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's expiry reminders, live"),
    "notifications": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's notifications"),
    "markNotificationsRead": Rule(WRITERS, True, None, "mark a member's notifications read"),
    "giftPoints": Rule(WRITERS, True, None, "give points to another member (as the giver)"),
    "lifecyclePolicy": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "expiry policy, gift limits"),
    "moveExpiringPoints": Rule(
        WRITERS, True, None, "expiring points into a donation or lottery tickets"
    ),
    "bankMoves": Rule(ALL_STAFF, True, None, "a member's moves of expiring points"),
    "pointsBank": Rule(ALL_STAFF, False, None, "the pool of expired points"),
    "spendBankPool": Rule(WRITERS, False, None, "spend the pool: charity matching, prizes"),
    # Engagement: tasks and challenges, boards (a query and a subscription), teams, badges
    "tasks": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "the programme's tasks and challenges"),
    "taskCentre": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's tasks and progress"),
    "challengeBoard": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a challenge's ranking, live"),
    "teamBoard": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a team challenge's team ranking"),
    "team": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a team by its code"),
    "badges": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "the programme's badges"),
    "memberBadges": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "the badges a member holds"),
    "createTask": Rule(WRITERS, False, None, "create a task or challenge"),
    "updateTask": Rule(WRITERS, False, None, "change a task's definition"),
    "setTaskEnabled": Rule(WRITERS, False, None, "open or close a task"),
    "completeTask": Rule(WRITERS, True, Scope.POINTS_EARN, "complete a manual task"),
    "createTeam": Rule(WRITERS, True, None, "start a team for a team challenge"),
    "joinTeam": Rule(WRITERS, True, None, "join a team by its code"),
    "saveBadge": Rule(WRITERS, False, None, "create or change a badge"),
    # Engagement: referrals
    "referrals": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's invite code and friends"),
    "acceptInvite": Rule(WRITERS, True, Scope.MEMBERS_WRITE, "a new member accepts an invite"),
    "issueInviteCode": Rule(
        WRITERS, True, Scope.MEMBERS_WRITE, "a member's invite code, made on first request"
    ),
    "exchangePartners": Rule(ALL_STAFF, False, None, "the coalition partners and their rates"),
    "saveExchangePartner": Rule(WRITERS, False, None, "create or change a coalition partner"),
    "exchangePoints": Rule(
        WRITERS, False, Scope.POINTS_EXCHANGE, "convert points in or out with a partner"
    ),
    # The points mall (docs/MALL.md): catalogue (staff), redemptions, checkout, lotteries, charity
    "mallItems": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "browse items; a member's offers"),
    "createMallItem": Rule(WRITERS, False, None, "add an item to the catalogue"),
    "updateMallItem": Rule(WRITERS, False, None, "change, restock or withdraw an item"),
    "addCouponCodes": Rule(WRITERS, False, None, "upload voucher codes to a pool item"),
    "redemptions": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's redemption orders"),
    "mallOrders": Rule(ALL_STAFF, False, None, "every member's redemption orders, newest first"),
    "placeRedemption": Rule(WRITERS, True, Scope.POINTS_SPEND, "order an item (points held)"),
    "confirmRedemption": Rule(
        WRITERS, True, Scope.POINTS_SPEND, "confirm a points-only order", "order"
    ),
    "payRedemption": Rule(
        WRITERS, False, Scope.POINTS_SPEND, "the cash part paid: confirm", "order"
    ),
    "fulfilRedemption": Rule(
        WRITERS, False, Scope.POINTS_SPEND, "mark an order fulfilled", "order"
    ),
    "cancelRedemption": Rule(
        WRITERS, True, Scope.POINTS_SPEND, "cancel an unconfirmed order", "order"
    ),
    "returnRedemption": Rule(
        WRITERS, False, Scope.POINTS_REVERSE, "return: points back to lots", "order"
    ),
    "checkoutQuote": Rule(ALL_STAFF, True, Scope.POINTS_SPEND, "points a basket may use (抵现)"),
    "redemptionQuote": Rule(
        ALL_STAFF, True, Scope.POINTS_SPEND, "an item's price for a member, lot by lot"
    ),
    "holdCheckoutPoints": Rule(WRITERS, False, Scope.POINTS_SPEND, "hold points at checkout"),
    "commitCheckout": Rule(
        WRITERS, False, Scope.POINTS_SPEND, "spend the checkout hold", "checkout payment"
    ),
    "voidCheckout": Rule(
        WRITERS, False, Scope.POINTS_SPEND, "release the checkout hold", "checkout payment"
    ),
    "lotteryPool": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a pool's prizes and odds"),
    "lotteryPools": Rule(ALL_STAFF, False, None, "every pool with its prizes and odds"),
    "lotteryDraws": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's draws (audit trail)"),
    "drawTickets": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's free-draw tickets"),
    "createLotteryPool": Rule(WRITERS, False, None, "create a lottery, blind box or wheel"),
    "drawLottery": Rule(WRITERS, True, Scope.POINTS_SPEND, "draw once (points or a ticket)"),
    "grantDrawTicket": Rule(WRITERS, False, Scope.POINTS_EARN, "grant a free draw"),
    "charities": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "charities and running totals"),
    "createCharity": Rule(WRITERS, False, None, "register a charity account"),
    "donatePoints": Rule(WRITERS, True, Scope.POINTS_SPEND, "donate points to a charity"),
    # Games (docs/GAMES.md): auctions, crowdfunding, PK duels, quest levels
    "auctions": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "open (or all) auctions"),
    "auction": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "an auction: leading bid, end, bidders"),
    "liveAuction": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "an auction, live (a subscription)"),
    "auctionBids": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's bids and their state"),
    "createAuction": Rule(WRITERS, False, None, "put a mall item up for auction"),
    "placeBid": Rule(WRITERS, True, Scope.POINTS_SPEND, "bid points (held while it leads)"),
    "campaigns": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "open (or all) crowdfunding campaigns"),
    "campaign": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a campaign: goal, pledged, backers"),
    "liveCampaign": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a campaign's progress, live"),
    "campaignPledges": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's pledges"),
    "createCampaign": Rule(WRITERS, False, None, "start a crowdfunding campaign"),
    "pledgePoints": Rule(WRITERS, True, Scope.POINTS_SPEND, "pledge or raise (points held)"),
    "withdrawPledge": Rule(WRITERS, True, Scope.POINTS_SPEND, "take a pledge back (if allowed)"),
    "duelRules": Rule(
        ALL_STAFF, True, Scope.MEMBERS_READ, "PK duel rules: metrics, stakes, timeouts"
    ),
    "saveDuelRules": Rule(WRITERS, False, None, "create or change PK duel rules"),
    "duels": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's PK duels, with their scores"),
    "liveDuel": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's PK duel, live scores"),
    "challengeDuel": Rule(WRITERS, True, Scope.POINTS_SPEND, "challenge a member (stake held)"),
    "acceptDuel": Rule(WRITERS, True, Scope.POINTS_SPEND, "accept a challenge (stake held)"),
    "declineDuel": Rule(WRITERS, True, Scope.POINTS_SPEND, "decline a challenge (its stake back)"),
    "quests": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "quest levels and their rewards"),
    "createQuest": Rule(WRITERS, False, None, "chain tasks into quest levels"),
    "questProgress": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's level in each quest"),
    "liveQuest": Rule(ALL_STAFF, True, Scope.MEMBERS_READ, "a member's quest progress, live"),
    # Analytics (docs/ANALYTICS.md): KPIs, liability, the weekly report, exports (HTTP)
    "kpis": Rule(ALL_STAFF, False, None, "programme KPIs for a period, by day/week/month"),
    "pointsOutlook": Rule(ALL_STAFF, False, None, "pending, tiers, points expiring by month"),
    "weeklyReport": Rule(ALL_STAFF, False, None, "积分运营周报: a week against the week before"),
    "pointValues": Rule(ALL_STAFF, False, None, "the point value's history"),
    "setPointValue": Rule(
        frozenset({Role.ADMIN}), False, None, "change the point value (liability)"
    ),
    "programmeAlerts": Rule(ALL_STAFF, False, None, "anomaly alerts, live (a subscription)"),
    "anomalyAlerts": Rule(ALL_STAFF, False, None, "the alerts fired, newest first"),
    "acknowledgeAlert": Rule(WRITERS, False, None, "mark an alert as looked into"),
    "memberSegment": Rule(ALL_STAFF, False, None, "a member's RFM segment and its history"),
    "segmentCampaign": Rule(ALL_STAFF, False, None, "a segment bonus campaign's progress"),
    "startSegmentCampaign": Rule(WRITERS, False, None, "N points to every member of a segment"),
    "cancelSegmentCampaign": Rule(WRITERS, False, None, "stop a running segment campaign"),
    "experiments": Rule(ALL_STAFF, False, None, "every A/B experiment"),
    "experiment": Rule(ALL_STAFF, False, None, "an A/B experiment and its variants"),
    "experimentResults": Rule(ALL_STAFF, False, None, "an experiment's results per variant"),
    "createExperiment": Rule(WRITERS, False, None, "define an experiment (a draft)"),
    "updateExperiment": Rule(WRITERS, False, None, "change a draft experiment"),
    "startExperiment": Rule(WRITERS, False, None, "start assigning members to variants"),
    "stopExperiment": Rule(WRITERS, False, None, "stop an experiment (points stay)"),
    "rollOutExperiment": Rule(WRITERS, False, None, "make a variant's rules the programme's"),
    "exportMemberBalances": Rule(ALL_STAFF, False, None, "GET /exports/balances.csv"),
    "exportTransactions": Rule(ALL_STAFF, False, None, "GET /exports/transactions.csv"),
    # Partner webhooks (docs/WEBHOOKS.md): a partner, its own channel's endpoints only
    "webhookEndpoints": Rule(ALL_STAFF, False, Scope.WEBHOOKS_MANAGE, "webhook endpoints"),
    "webhookEndpoint": Rule(
        ALL_STAFF, False, Scope.WEBHOOKS_MANAGE, "an endpoint, its messages and log", WEBHOOK
    ),
    "createWebhookEndpoint": Rule(
        WRITERS, False, Scope.WEBHOOKS_MANAGE, "register an endpoint; its secret shown once"
    ),
    "updateWebhookEndpoint": Rule(
        WRITERS, False, Scope.WEBHOOKS_MANAGE, "change, enable or disable an endpoint", WEBHOOK
    ),
    "rotateWebhookSecret": Rule(
        WRITERS, False, Scope.WEBHOOKS_MANAGE, "a new secret; the old one signs a while", WEBHOOK
    ),
    "resendWebhookMessage": Rule(
        WRITERS, False, Scope.WEBHOOKS_MANAGE, "send one message again", "webhook message"
    ),
    "recoverWebhookMessages": Rule(
        WRITERS, False, Scope.WEBHOOKS_MANAGE, "send again what failed since a time", WEBHOOK
    ),
}

# Operations served by their own HTTP route (app/web.py), not GraphQL root fields.
ROUTE_OPERATIONS = frozenset({"exportMemberBalances", "exportTransactions"})


# The operations by which a member's own token changes its points (earns, spends, holds, gives
# away), listed in the docs. acceptInvite is not one: the referral pays at the friend's first
# purchase, which a channel records.
MEMBER_MOVES_POINTS = (
    "checkIn",
    "makeUpSignIn",
    "completeTask",
    "giftPoints",
    "placeRedemption",
    "confirmRedemption",
    "cancelRedemption",
    "drawLottery",
    "donatePoints",
    "moveExpiringPoints",
    "placeBid",
    "pledgePoints",
    "withdrawPledge",
    "challengeDuel",
    "acceptDuel",
)


def _forbidden(message: str) -> DomainError:
    return DomainError(ErrorCode.FORBIDDEN, message)


def rule_for(operation: str) -> Rule:
    try:
        return PERMISSIONS[operation]
    except KeyError:
        # An operation missing from the table is a programming error; refuse, never allow.
        raise _forbidden(f"{operation} is not in the permission table") from None


def require(principal: Principal, operation: str) -> Rule:
    """Step 1: may this principal call ``operation`` at all?"""
    rule = rule_for(operation)
    kind = principal.kind
    if kind is PrincipalKind.ANONYMOUS:
        raise DomainError(ErrorCode.UNAUTHENTICATED, f"{operation} needs a token or an API key")
    if kind is PrincipalKind.STAFF:
        if not principal.roles & rule.staff_roles:
            roles = ", ".join(sorted(principal.roles)) or "no role"
            raise _forbidden(f"staff with {roles} may not call {operation}")
    elif kind is PrincipalKind.MEMBER:
        if not rule.member_self:
            raise _forbidden(f"members may not call {operation}")
        if principal.read_only and rule.writes:
            raise DomainError(
                ErrorCode.MEMBER_NOT_ACTIVE, f"the account is frozen: it may read, not {operation}"
            )
    elif kind is PrincipalKind.WIDGET:
        if operation not in WIDGET_OPERATIONS:
            raise _forbidden(f"a widget key may not call {operation}")
    elif kind is PrincipalKind.PARTNER and (
        rule.partner_scope is None or rule.partner_scope not in principal.scopes
    ):
        needed = rule.partner_scope.value if rule.partner_scope else "staff"
        raise _forbidden(f"{operation} needs the {needed} scope")
    return rule


def require_on(principal: Principal, operation: str, subject: Subject) -> None:
    """Step 2: may this principal call ``operation`` on this subject?"""
    require(principal, operation)
    if principal.kind is PrincipalKind.MEMBER and subject.member_id != principal.member_id:
        raise _forbidden("a member may only act on itself")
    if principal.kind is PrincipalKind.PARTNER and principal.channel not in subject.channels:
        raise _forbidden(f"this belongs to another channel than {principal.channel}")


def require_on_target(
    principal: Principal, operation: str, subject: Subject | None, ident: object, field: str
) -> None:
    """Step 2 for an operation on one thing named by id (``subject`` None: there is no such
    thing): NOT_FOUND both when it does not exist and when it is not the caller's."""
    rule = require(principal, operation)
    if subject is None or not allows(principal, operation, subject):
        raise not_found(rule.target or "object", ident, field)


def allows(principal: Principal, operation: str, subject: Subject | None = None) -> bool:
    try:
        if subject is None:
            require(principal, operation)
        else:
            require_on(principal, operation, subject)
    except DomainError:
        return False
    return True


def _who(rule: Rule) -> tuple[str, str, str]:
    staff = ", ".join(role.value for role in Role if role in rule.staff_roles) or "—"
    member = "itself only" if rule.member_self else "—"
    partner = f"`{rule.partner_scope.value}`, own channel" if rule.partner_scope else "—"
    return staff, member, partner


def render_markdown() -> str:
    """The permission table as Markdown: the body of docs/PERMISSIONS.md."""
    lines = [
        "# Who may call what",
        "",
        "Generated from `app/auth/permissions.py` by `python -m app.auth.permissions`;",
        "`tests/auth/test_permission_table.py` fails when this file and the code differ.",
        "",
        "Anonymous callers may call no operation (they get `UNAUTHENTICATED`); only `/healthz`",
        "and `/readyz` are open. A caller that is authenticated but not allowed gets `FORBIDDEN`.",
        "A member acts only on itself. A partner API key acts only within its channel: on members",
        "linked to that channel, registrations and look-ups naming that channel, and holds and",
        "entries that channel created (recorded in their own columns when they are written, never",
        "read from the free-text `source`; staff, members and jobs create holds and entries no",
        "partner owns). Staff are not limited to particular members.",
        "",
        "An operation with an *id of* names one thing by id. A member or partner who may call it,",
        "but not on that thing (another member's order, another channel's hold), gets `NOT_FOUND`,",
        "word for word as for an id that does not exist.",
        "",
        "A member's token counts only while its account does: a closed member's token (or one",
        "naming no member) is refused with `UNAUTHENTICATED`; a frozen member may call the reads",
        "below and none of the writes (`MEMBER_NOT_ACTIVE`). The writes are the mutations.",
        "",
        "A member's token alone moves points through these operations, on itself only:",
        ", ".join(f"`{op}`" for op in MEMBER_MOVES_POINTS) + ".",
        "",
        "| operation | what | id of | staff roles | member | partner scope |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for operation, rule in PERMISSIONS.items():
        staff, member, partner = _who(rule)
        target = rule.target or "—"
        lines.append(f"| `{operation}` | {rule.what} | {target} | {staff} | {member} | {partner} |")
    lines += [
        "",
        "Partner scopes: " + ", ".join(f"`{scope.value}`" for scope in Scope) + ".",
        "",
        "A widget key (docs/WIDGETS.md) may call "
        + ", ".join(f"`{operation}`" for operation in sorted(WIDGET_OPERATIONS))
        + " on its own board only, without `memberId`; everything else is `FORBIDDEN`.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
