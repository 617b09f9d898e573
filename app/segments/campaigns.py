"""Segment bonus campaigns: staff grant N points to every member of a segment.

- **The targets are fixed when it starts**: the members the last segmentation run placed in the
  segment, one ``pending`` row each (one set-based statement), so a run resumed tomorrow
  credits the same members whatever the segments became.
- **In chunks, resumable**: each chunk is one transaction that locks the campaign row, takes up
  to ``chunk`` pending members, credits each through the ledger (``Ledger.earn``, the one door)
  and marks it ``granted`` with its entry. A crash rolls the chunk back whole; running again
  (the ``segment-campaigns`` job, ``jifen segments campaign-run``) carries on from the pending
  rows. A member is credited once: its row leaves ``pending`` in the transaction of its credit.
- **Budgeted**: a chunk takes no more members than the budget left pays for, under the campaign
  row's lock, and a CHECK holds ``granted_points <= budget`` in the database besides; when the
  budget is spent the members left are ``skipped``. Starting the same code again with the same
  terms answers with the campaign (idempotent); with other terms it is refused.
- **Cancellable**: staff stop a running campaign; what it credited stays (points are never
  taken back by a cancellation), its pending members are skipped. The cancel locks the campaign
  row as a chunk does, so it waits for a chunk in flight and no chunk starts after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import unit_of_work
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.ledger.service import Ledger, LedgerPolicy
from app.runtime import Runtime
from app.segments.campaign_tables import segment_campaigns
from app.segments.policy import Segment

DEFAULT_CHUNK = 200
MAX_BUDGET = 10**12
CODE_LENGTH = 64
REFERENCE = "segment-campaign:"  # the earn's reference: segment-campaign:<code>
RUNNING, DONE, CANCELLED = "running", "done", "cancelled"
BUDGET_SPENT = "the campaign's budget is spent"
CANCELLED_BY = "the campaign was cancelled"


@dataclass(frozen=True)
class Campaign:
    id: int
    code: str
    segment: Segment
    points: int
    budget: int
    reason: str
    status: str
    members: int
    granted_members: int
    granted_points: int
    skipped_members: int
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    cancelled_by: str | None
    cancel_reason: str | None

    @property
    def pending_members(self) -> int:
        return self.members - self.granted_members - self.skipped_members

    @property
    def terms(self) -> tuple[Segment, int, int, str]:
        return (self.segment, self.points, self.budget, self.reason)


def _campaign(row: Row[Any]) -> Campaign:
    return Campaign(**{**row._asdict(), "segment": Segment(row.segment)})


def check_terms(
    code: str, segment: str, points: int, budget: int, reason: str, *, max_points: int
) -> Segment:
    """The campaign's terms, checked (pure); its segment."""
    if not code or len(code) > CODE_LENGTH or not code.isprintable() or code.strip() != code:
        raise invalid(f"a code of 1 to {CODE_LENGTH} printable characters is required", "code")
    try:
        chosen = Segment(segment)
    except ValueError:
        raise invalid(f"unknown segment {segment[:32]!r}", "segment") from None
    if not 1 <= points <= max_points:
        raise invalid(f"points must be 1 to {max_points}", "points")
    if not points <= budget <= MAX_BUDGET:
        raise invalid(f"the budget must be at least the points and at most {MAX_BUDGET}", "budget")
    if not reason.strip() or len(reason) > 500:
        raise invalid("a reason of 1 to 500 characters is required", "reason")
    return chosen


_TARGETS = text(
    """
    WITH targets AS (
        INSERT INTO segment_campaign_members (campaign_id, member_id, status)
        SELECT :campaign_id, member_id, 'pending' FROM member_segments WHERE segment = :segment
        RETURNING 1
    )
    UPDATE segment_campaigns SET members = (SELECT count(*) FROM targets),
        status = CASE WHEN (SELECT count(*) FROM targets) = 0 THEN 'done' ELSE status END,
        finished_at = CASE WHEN (SELECT count(*) FROM targets) = 0
                           THEN CAST(:now AS timestamptz) END
    WHERE id = :campaign_id
    """
)


async def _by_code(conn: AsyncConnection, code: str) -> Campaign | None:
    row = (
        await conn.execute(select(segment_campaigns).where(segment_campaigns.c.code == code))
    ).one_or_none()
    return None if row is None else _campaign(row)


async def start(
    conn: AsyncConnection,
    actor: Actor,
    now: datetime,
    *,
    code: str,
    segment: Segment,
    points: int,
    budget: int,
    reason: str,
) -> Campaign:
    """Create the campaign and its targets (or answer with the one of that code, when its
    terms are the same)."""
    created = await conn.scalar(
        insert(segment_campaigns)
        .values(
            code=code,
            segment=segment.value,
            points=points,
            budget=budget,
            reason=reason,
            status=RUNNING,
            members=0,
            created_by=actor.principal,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["code"])
        .returning(segment_campaigns.c.id)
    )
    if created is not None:
        await conn.execute(_TARGETS, {"campaign_id": created, "segment": segment.value, "now": now})
    found = await _by_code(conn, code)
    assert found is not None  # inserted, or there already
    if found.terms != (segment, points, budget, reason):
        raise DomainError(
            ErrorCode.ALREADY_EXISTS,
            f"campaign {code[:32]!r} exists with other terms: start it under a new code",
            "code",
        )
    return found


_PENDING = text(
    """
    SELECT member_id FROM segment_campaign_members
    WHERE campaign_id = :campaign_id AND status = 'pending'
    ORDER BY member_id LIMIT :limit
    """
)
_MARK = text(
    """
    UPDATE segment_campaign_members cm
    SET status = m.status, entry_id = m.entry_id, skipped_because = m.why
    FROM unnest(CAST(:members AS bigint[]), CAST(:statuses AS text[]),
                CAST(:entries AS bigint[]), CAST(:whys AS text[]))
         AS m(member_id, status, entry_id, why)
    WHERE cm.campaign_id = :campaign_id AND cm.member_id = m.member_id
      AND cm.status = 'pending'
    """
)
_SKIP_REST = text(
    """
    UPDATE segment_campaign_members SET status = 'skipped', skipped_because = :why
    WHERE campaign_id = :campaign_id AND status = 'pending'
    """
)
_CANCEL = text(
    """
    UPDATE segment_campaigns SET status = 'cancelled', finished_at = :now,
        cancelled_by = :actor, cancel_reason = :reason,
        skipped_members = skipped_members + :skipped
    WHERE id = :campaign_id
    """
)
_COUNT = text(
    """
    UPDATE segment_campaigns SET granted_members = granted_members + :granted,
        granted_points = granted_points + :points, skipped_members = skipped_members + :skipped,
        status = CASE WHEN :finished THEN 'done' ELSE status END,
        finished_at = CASE WHEN :finished THEN CAST(:now AS timestamptz) END
    WHERE id = :campaign_id
    """
)


@dataclass(frozen=True)
class Chunk:
    granted: int
    skipped: int
    finished: bool  # nothing left pending
    credited: tuple[int, ...] = ()  # the members granted: their next reads must see it


async def grant_chunk(
    conn: AsyncConnection, ledger: Ledger, campaign_id: int, now: datetime, chunk: int
) -> Chunk:
    """Credit up to ``chunk`` pending members of the campaign, inside the caller's transaction
    (the campaign row stays locked until it ends)."""
    row = (
        await conn.execute(
            select(segment_campaigns).where(segment_campaigns.c.id == campaign_id).with_for_update()
        )
    ).one_or_none()
    if row is None:
        raise not_found("segment campaign", campaign_id, "id")
    campaign = _campaign(row)
    if campaign.status != RUNNING:  # done, or cancelled
        return Chunk(0, 0, True)
    affordable = (campaign.budget - campaign.granted_points) // campaign.points
    params = {"campaign_id": campaign_id, "now": now}
    if affordable == 0:
        skipped = (await conn.execute(_SKIP_REST, {**params, "why": BUDGET_SPENT})).rowcount
        await conn.execute(
            _COUNT, {**params, "granted": 0, "points": 0, "skipped": skipped, "finished": True}
        )
        return Chunk(0, skipped, True)
    limit = min(chunk, affordable)
    members = list(await conn.scalars(_PENDING, {**params, "limit": limit}))
    actor = Actor(campaign.created_by, "segment-campaign", kind="staff")
    marks: list[tuple[int, str, int | None, str | None]] = []
    for member_id in members:
        try:
            credit = Earn(
                member_id,
                campaign.points,
                campaign.reason,
                reference=(REFERENCE + campaign.code)[:128],
                details={"segment_campaign": campaign.code, "segment": campaign.segment.value},
            )
            entry = await ledger.earn(credit, actor)
        except DomainError as refused:  # closed since it was targeted: refused before writing
            marks.append((member_id, "skipped", None, refused.message))
        else:
            marks.append((member_id, "granted", entry.id, None))
    granted = sum(1 for m in marks if m[1] == "granted")
    if marks:
        member_ids, statuses, entries, whys = (list(column) for column in zip(*marks, strict=True))
        await conn.execute(
            _MARK,
            {
                **params,
                "members": member_ids,
                "statuses": statuses,
                "entries": entries,
                "whys": whys,
            },
        )
    finished = len(members) < limit
    await conn.execute(
        _COUNT,
        {
            **params,
            "granted": granted,
            "points": granted * campaign.points,
            "skipped": len(marks) - granted,
            "finished": finished,
        },
    )
    credited = tuple(m[0] for m in marks if m[1] == "granted")
    return Chunk(granted, len(marks) - granted, finished, credited)


async def start_campaign(
    rt: Runtime,
    actor: Actor,
    *,
    code: str,
    segment: str,
    points: int,
    budget: int,
    reason: str,
) -> Campaign:
    chosen = check_terms(
        code, segment, points, budget, reason, max_points=rt.settings.max_points_per_operation
    )
    async with unit_of_work(rt.engine) as conn:
        return await start(
            conn,
            actor,
            rt.clock.now(),
            code=code,
            segment=chosen,
            points=points,
            budget=budget,
            reason=reason,
        )


async def cancel_campaign(rt: Runtime, actor: Actor, *, code: str, reason: str) -> Campaign:
    """Stop a running campaign: its pending members are skipped, what it credited stays.
    Cancelling a cancelled campaign answers with it; a finished one cannot be cancelled."""
    if not reason.strip() or len(reason) > 500:
        raise invalid("a reason of 1 to 500 characters is required", "reason")
    async with unit_of_work(rt.engine) as conn:
        row = (
            await conn.execute(
                select(segment_campaigns)
                .where(segment_campaigns.c.code == code)
                .with_for_update()  # waits for a chunk in flight; none starts meanwhile
            )
        ).one_or_none()
        if row is None:
            raise not_found("segment campaign", code, "code")
        campaign = _campaign(row)
        if campaign.status == CANCELLED:
            return campaign
        if campaign.status == DONE:
            raise DomainError(
                ErrorCode.INVALID_STATE,
                f"campaign {code[:32]!r} has finished: nothing is left to cancel",
                "code",
            )
        params = {"campaign_id": campaign.id, "now": rt.clock.now()}
        why = f"{CANCELLED_BY}: {reason}"
        skipped = (await conn.execute(_SKIP_REST, {**params, "why": why})).rowcount
        await conn.execute(
            _CANCEL, {**params, "actor": actor.principal, "reason": reason, "skipped": skipped}
        )
        found = await _by_code(conn, code)
    assert found is not None  # locked above
    return found


async def run_campaign(rt: Runtime, campaign_id: int, *, chunk: int = DEFAULT_CHUNK) -> Campaign:
    """Grant the campaign's pending members a chunk at a time until none is left (or its
    budget is spent); safe to run again after a crash, or in many processes at once."""
    if chunk < 1:
        raise invalid("a chunk is at least one member", "chunk")
    while True:
        async with unit_of_work(rt.engine) as conn:
            ledger = Ledger(conn, rt.clock, LedgerPolicy.from_settings(rt.settings))
            done = await grant_chunk(conn, ledger, campaign_id, rt.clock.now(), chunk)
        await rt.members_written(done.credited)
        if done.finished:
            return await get_campaign(rt, campaign_id)


async def get_campaign(rt: Runtime, campaign_id: int) -> Campaign:
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                select(segment_campaigns).where(segment_campaigns.c.id == campaign_id)
            )
        ).one_or_none()
    if row is None:
        raise not_found("segment campaign", campaign_id, "id")
    return _campaign(row)


async def campaign_by_code(rt: Runtime, code: str) -> Campaign:
    async with rt.read() as conn:
        found = await _by_code(conn, code)
    if found is None:
        raise not_found("segment campaign", code, "code")
    return found


async def running_campaigns(rt: Runtime) -> list[int]:
    async with rt.engine.connect() as conn:
        return list(
            await conn.scalars(
                select(segment_campaigns.c.id)
                .where(segment_campaigns.c.status == RUNNING)
                .order_by(segment_campaigns.c.id)
            )
        )
