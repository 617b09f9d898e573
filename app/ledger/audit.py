"""`jifen audit`: check the ledger's invariants and report every violation found.

Each check is one SQL query returning the rows that break it; an empty result is a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.config import NegativeBalancePolicy
from app.ledger.queries import ALL_TRANSFERS

SHOWN_PER_CHECK = 20

# Every account: a member's, or the programme's (no member). Two tables since migration 0059,
# their ids drawn from one sequence.
_ACCOUNTS = """(
    SELECT id, kind, code, member_id FROM accounts
    UNION ALL
    SELECT id, kind, code, NULL FROM programme_accounts
)"""

# An account's posted balance is what was credited to it minus what was debited from it, by
# members' transfers and the programme's own.
_POSTED = f"""
    SELECT a.id AS account_id, a.kind, a.member_id,
           COALESCE(c.total, 0) - COALESCE(d.total, 0) AS posted
    FROM {_ACCOUNTS} a
    LEFT JOIN (SELECT credit_account_id AS id, sum(amount) AS total FROM {ALL_TRANSFERS} t
               GROUP BY credit_account_id) c ON c.id = a.id
    LEFT JOIN (SELECT debit_account_id AS id, sum(amount) AS total FROM {ALL_TRANSFERS} t
               GROUP BY debit_account_id) d ON d.id = a.id
"""


def _names_an_account_of(side: str) -> str:
    """SQL: the transfer ``t``'s account ``side`` (a column) is its own member's or the
    programme's: under Citus both are on the transfer's shard (a reference table is on all)."""
    return f"""(EXISTS (SELECT 1 FROM accounts a
                        WHERE a.id = t.{side} AND a.member_id = t.member_id)
                OR EXISTS (SELECT 1 FROM programme_accounts a WHERE a.id = t.{side}))"""


CHECKS: dict[str, str] = {
    "the sum over all accounts is zero": f"""
        SELECT sum(posted) AS total FROM ({_POSTED}) p HAVING sum(posted) <> 0
    """,
    # No foreign key holds transfers to accounts (migration 0045: it locked the issuance
    # account's row at every earn; since 0059 an id may name either table); accounts are never
    # deleted, and this checks it held.
    "every transfer names its member's account or a programme account": f"""
        SELECT t.id AS transfer_id, t.member_id, t.debit_account_id, t.credit_account_id
        FROM transfers t
        WHERE NOT {_names_an_account_of("debit_account_id")}
           OR NOT {_names_an_account_of("credit_account_id")}
    """,
    # A transfer's account id names one account: the two tables draw ids from one sequence.
    "no id names both a member account and a programme account": """
        SELECT a.id AS account_id, a.member_id, p.code
        FROM accounts a JOIN programme_accounts p ON p.id = a.id
    """,
    # A programme transfer has no member (migration 0057): both its accounts are programme's
    # (their foreign keys say so since 0059; checked as the second line).
    "a programme transfer is between two programme accounts": """
        SELECT t.id AS programme_transfer_id, t.debit_account_id, t.credit_account_id
        FROM programme_transfers t
        WHERE NOT EXISTS (SELECT 1 FROM programme_accounts a WHERE a.id = t.debit_account_id)
           OR NOT EXISTS (SELECT 1 FROM programme_accounts a WHERE a.id = t.credit_account_id)
    """,
    "a member's balance equals the sum of its transfers": f"""
        SELECT p.member_id, p.posted, a.available + a.pending + a.held - a.debt AS materialised
        FROM ({_POSTED}) p JOIN accounts a ON a.id = p.account_id
        WHERE a.kind = 'member' AND p.posted <> a.available + a.pending + a.held - a.debt
    """,
    "a member's available and pending points equal its lots' remaining": """
        SELECT a.member_id, a.available, a.pending,
               COALESCE(sum(l.remaining) FILTER (WHERE NOT l.pending), 0) AS lots_available,
               COALESCE(sum(l.remaining) FILTER (WHERE l.pending), 0) AS lots_pending
        FROM accounts a LEFT JOIN lots l ON l.account_id = a.id
        WHERE a.kind = 'member'
        GROUP BY a.id, a.member_id  -- the key (migration 0059)
        HAVING a.available <> COALESCE(sum(l.remaining) FILTER (WHERE NOT l.pending), 0)
            OR a.pending <> COALESCE(sum(l.remaining) FILTER (WHERE l.pending), 0)
    """,
    "a member's held points equal its active holds": """
        SELECT a.member_id, a.held, COALESCE(sum(h.amount), 0) AS active_holds
        FROM accounts a LEFT JOIN holds h ON h.account_id = a.id AND h.status = 'active'
        WHERE a.kind = 'member'
        GROUP BY a.id, a.member_id  -- the key (migration 0059)
        HAVING a.held <> COALESCE(sum(h.amount), 0)
    """,
    "an active hold's allocations cover exactly its amount": """
        SELECT h.id AS hold_id, h.amount, COALESCE(sum(al.amount - al.returned), 0) AS allocated
        FROM holds h LEFT JOIN allocations al ON al.hold_id = h.id
        WHERE h.status = 'active'
        GROUP BY h.id, h.member_id  -- the key (migration 0055)
        HAVING h.amount <> COALESCE(sum(al.amount - al.returned), 0)
    """,
    "a lot's remaining is its amount less what was taken from it": """
        SELECT l.id AS lot_id, l.amount, l.remaining,
               COALESCE(sum(al.amount - al.returned), 0) AS taken
        FROM lots l LEFT JOIN allocations al ON al.lot_id = l.id
        GROUP BY l.id, l.member_id  -- the key (migration 0055)
        HAVING l.remaining <> l.amount - COALESCE(sum(al.amount - al.returned), 0)
    """,
    "no lot is below zero or above its amount": """
        SELECT id AS lot_id, amount, remaining FROM lots
        WHERE remaining < 0 OR remaining > amount
    """,
    "no member balance is below zero": """
        SELECT member_id, available, pending, held FROM accounts
        WHERE kind = 'member' AND (available < 0 OR pending < 0 OR held < 0 OR debt < 0)
    """,
    "an entry's amount is what its transfer moved for the member": """
        SELECT e.id AS entry_id, e.amount,
               COALESCE(sum(CASE WHEN t.credit_account_id = a.id THEN t.amount
                                 ELSE -t.amount END), 0) AS moved
        FROM entries e
        JOIN accounts a ON a.member_id = e.member_id
        LEFT JOIN transfers t ON t.entry_id = e.id
        GROUP BY e.id, e.member_id  -- the key (migration 0055)
        HAVING e.amount <> COALESCE(sum(CASE WHEN t.credit_account_id = a.id THEN t.amount
                                             ELSE -t.amount END), 0)
    """,
    # The member a transfer or an allocation carries (what Citus would shard it by, migration
    # 0051) is the member of the rows it moves: its entry's; its lot's, entry's or hold's.
    "a transfer's member is its entry's": """
        SELECT t.id AS transfer_id, t.member_id, e.member_id AS entry_member_id
        FROM transfers t JOIN entries e ON e.id = t.entry_id
        WHERE t.member_id <> e.member_id
    """,
    "an allocation's member is its lot's, entry's or hold's": """
        SELECT al.id AS allocation_id, al.member_id, l.member_id AS lot_member_id,
               e.member_id AS entry_member_id, h.member_id AS hold_member_id
        FROM allocations al
        JOIN lots l ON l.id = al.lot_id
        LEFT JOIN entries e ON e.id = al.entry_id
        LEFT JOIN holds h ON h.id = al.hold_id
        WHERE al.member_id <> l.member_id OR al.member_id <> e.member_id
           OR al.member_id <> h.member_id
    """,
    "no entry is reversed by more than its amount": """
        SELECT o.id AS entry_id, abs(o.amount) AS amount, o.reversed_amount
        FROM entries o WHERE o.reversed_amount > abs(o.amount)
    """,
    "a clearing account (gifts) nets to zero": f"""
        SELECT p.account_id, a.code, p.posted
        FROM ({_POSTED}) p JOIN programme_accounts a ON a.id = p.account_id
        WHERE a.kind = 'clearing' AND p.posted <> 0
    """,
    # Expiry (app/ledger/usecases.settle_due_accounts and settle-on-write): a lot's points are
    # taken (spent, held, clawed back, gifted) only before it expires, and expire only once due.
    "no point was taken from a lot after it expired": """
        SELECT al.id AS allocation_id, l.id AS lot_id, l.expires_at,
               COALESCE(h.created_at, e.created_at) AS taken_at
        FROM allocations al
        JOIN lots l ON l.id = al.lot_id
        LEFT JOIN holds h ON h.id = al.hold_id
        LEFT JOIN entries e ON e.id = al.entry_id
        WHERE l.expires_at <= COALESCE(h.created_at, e.created_at)
          AND (al.hold_id IS NOT NULL OR e.kind <> 'expiry')
    """,
    "no lot expired before it was due": """
        SELECT al.id AS allocation_id, l.id AS lot_id, l.expires_at, e.created_at AS expired_at
        FROM allocations al
        JOIN entries e ON e.id = al.entry_id AND e.kind = 'expiry'
        JOIN lots l ON l.id = al.lot_id
        WHERE l.expires_at IS NULL OR l.expires_at > e.created_at
    """,
    # Engagement's reward log (issue 5): every points reward is exactly one earn in the ledger.
    "each engagement points reward is its ledger earn": """
        SELECT r.member_id, r.key, r.points, e.id AS entry_id, e.amount
        FROM engagement_rewards r LEFT JOIN entries e ON e.id = r.entry_id
        WHERE r.kind = 'points' AND (e.id IS NULL OR e.member_id <> r.member_id
              OR e.kind <> 'earn' OR e.amount <> r.points)
    """,
}

# Checks other domains add for the points they move (the mall: stock against orders, charity
# accounts against donations, …). They register themselves when their package is imported
# (app.tables imports every domain), so the ledger imports none of them.
DOMAIN_CHECKS: dict[str, str] = {}


def register_checks(checks: dict[str, str]) -> None:
    DOMAIN_CHECKS.update(checks)


# Only a failure when the programme does not allow negative balances.
DEBT_CHECK = """
    SELECT member_id, debt FROM accounts WHERE kind = 'member' AND debt > 0
"""

# Not a failure: points past their expiry waiting for the next settle or sweep.
DUE_FOR_EXPIRY = """
    SELECT count(*) AS lots, COALESCE(sum(remaining), 0) AS points
    FROM lots WHERE remaining > 0 AND expires_at <= :now
"""


@dataclass
class CheckResult:
    name: str
    violations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass
class AuditReport:
    checks: list[CheckResult]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def render(self) -> str:
        lines = []
        for check in self.checks:
            mark = "ok  " if check.ok else "FAIL"
            count = "" if check.ok else f" ({len(check.violations)} shown)"
            lines.append(f"[{mark}] {check.name}{count}")
            lines.extend(f"         {row}" for row in check.violations)
        lines.extend(f"note: {note}" for note in self.notes)
        failed = sum(not check.ok for check in self.checks)
        lines.append(
            "ledger audit passed" if self.ok else f"ledger audit FAILED: {failed} check(s)"
        )
        return "\n".join(lines)


async def _violations(conn: AsyncConnection, sql: str) -> list[dict[str, Any]]:
    rows = await conn.execute(text(f"{sql} LIMIT {SHOWN_PER_CHECK}"))
    return [dict(row._mapping) for row in rows]


async def run_audit(
    conn: AsyncConnection,
    now: datetime,
    policy: NegativeBalancePolicy = NegativeBalancePolicy.ALLOW_NEGATIVE,
) -> AuditReport:
    """Run every check in one repeatable-read snapshot, so concurrent writes cannot skew it."""
    await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
    every = {**CHECKS, **DOMAIN_CHECKS}
    checks = [CheckResult(name, await _violations(conn, sql)) for name, sql in every.items()]
    debts = await _violations(conn, DEBT_CHECK)
    notes = []
    if policy is NegativeBalancePolicy.TAKE_REMAINING:
        checks.append(CheckResult("no member owes points (negative balances are off)", debts))
    elif debts:
        notes.append(f"{len(debts)} member(s) owe points after a claw-back (policy allows it)")
    due = (await conn.execute(text(DUE_FOR_EXPIRY), {"now": now})).one()
    if due.lots:
        notes.append(f"{due.points} points in {due.lots} lot(s) are past expiry, not yet swept")
    return AuditReport(checks, notes)


async def audit_ledger(
    engine: AsyncEngine,
    now: datetime,
    policy: NegativeBalancePolicy = NegativeBalancePolicy.ALLOW_NEGATIVE,
) -> AuditReport:
    async with engine.connect() as conn:
        return await run_audit(conn, now, policy)
