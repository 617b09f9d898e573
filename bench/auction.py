"""Auction benchmark: a rush of bidders on one auction, against the same members holding the
same points with no auction at all (the baseline), alternately, in one process.

    python bench/auction.py                     # 200 bidders, 3 rounds of each
    python bench/auction.py --bidders 500 --rounds 5

What it does:

1. Takes PostgreSQL from ``JIFEN_DATABASE_URL`` (else recreates ``jifen_bench_auction``) and
   Redis from ``JIFEN_REDIS_URL`` (else database 5 of 127.0.0.1:6379; nothing is flushed; with
   ``--embedded-redis`` a private Redis server started for the run);
   migrates; registers ``--bidders`` members through the use cases and gives each 10,000,000
   points.
2. Rounds, alternating:
   (a) the baseline: every member places one hold of 10 points at once (``hold_points``):
       the same ledger work as a bid, on rows no two members share;
   (b) the subject: a fresh auction; every member reads the least next bid and bids it, at
       once, twice (``place_bid``): every bid takes the auction's row lock, so bids on one
       auction are applied one at a time (the accepted ones also void the outbid hold).
   For each: requests answered per second (until the last answer), and for the auction how
   many bids were accepted and refused (``BID_TOO_LOW``: someone got there first).
3. The ledger audit (with the games' checks) must pass. Prints the figures and the ratio
   auction / baseline.

Runs in-process (no HTTP), so the figures are the database path's: one auction's bids per
second, whatever the number of API workers in front of it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _path in (str(ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from ledger import load_average, recreate_database  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from app.clock import SystemClock  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import create_engine  # noqa: E402
from app.embedded import EmbeddedServices  # noqa: E402
from app.errors import DomainError  # noqa: E402
from app.games import auctions  # noqa: E402
from app.games.policy import AuctionSpec  # noqa: E402
from app.ledger import usecases as ledger  # noqa: E402
from app.ledger.audit import audit_ledger  # noqa: E402
from app.ledger.commands import Earn, PlaceHold  # noqa: E402
from app.ledger.models import Actor  # noqa: E402
from app.mall.catalogue import ItemSpec, create_item  # noqa: E402
from app.mall.policy import ItemKind  # noqa: E402
from app.members import usecases as members  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.runtime import Runtime  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jifen_bench_auction"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
STAFF = Actor("staff:bench", "bench")


def member_actor(member_id: int) -> Actor:
    return Actor(f"member:{member_id}", "bench")


async def setup(rt: Runtime, count: int, run: str) -> list[int]:
    ids = []
    for n in range(count):
        reg = await members.register_member(rt, channel="bench", external_ref=f"{run}-{n}")
        await ledger.earn_points(
            rt,
            STAFF,
            Earn(member_id=reg.member.id, amount=10_000_000, reason="bench"),
            idempotency_key=f"{run}-open-{n}",
        )
        ids.append(reg.member.id)
    return ids


async def baseline(rt: Runtime, ids: list[int], round_: str) -> float:
    async def hold(member: int) -> None:
        await ledger.hold_points(
            rt,
            member_actor(member),
            PlaceHold(member_id=member, amount=10, reason="bench"),
            idempotency_key=f"{round_}-{member}",
        )

    started = time.perf_counter()
    await asyncio.gather(*(hold(m) for m in ids))
    return len(ids) / (time.perf_counter() - started)


async def rush(rt: Runtime, ids: list[int], round_: str) -> tuple[float, int, int]:
    now = rt.clock.now()
    item = await create_item(
        rt,
        STAFF,
        ItemSpec(code=f"{round_}-item", name="bench", kind=ItemKind.GOODS, points_price=1),
        1,
    )
    auction = await auctions.AUCTIONS.create(
        rt,
        STAFF,
        AuctionSpec(
            code=round_,
            name="bench",
            item_id=item.id,
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=1),
            starting_price=10,
            min_increment=1,
            extend_seconds=30,
        ),
    )
    accepted = refused = 0

    async def bidder(member: int) -> None:
        nonlocal accepted, refused
        for attempt in range(2):
            least = (await auctions.AUCTIONS.get(rt, auction.id)).minimum_bid
            try:
                await auctions.place_bid(
                    rt,
                    member_actor(member),
                    member_id=member,
                    auction_id=auction.id,
                    amount=least,
                    idempotency_key=f"{round_}-{member}-{attempt}",
                )
                accepted += 1
            except DomainError:
                refused += 1

    started = time.perf_counter()
    await asyncio.gather(*(bidder(m) for m in ids))
    elapsed = time.perf_counter() - started
    return (accepted + refused) / elapsed, accepted, refused


async def main(args: argparse.Namespace) -> int:
    database_url = os.environ.get("JIFEN_DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("JIFEN_REDIS_URL") or DEFAULT_REDIS_URL
    settings = Settings(database_url=database_url, redis_url=redis_url, _env_file=None)  # type: ignore[call-arg]
    engine = create_engine(database_url, pool_size=settings.db_pool_size)
    redis = Redis.from_url(redis_url)
    rt = Runtime(settings=settings, engine=engine, redis=redis, clock=SystemClock())
    run = f"bench-auction-{int(time.time())}"
    try:
        ids = await setup(rt, args.bidders, run)
        holds, bids, accepted, refused = [], [], [], []
        for n in range(args.rounds):
            holds.append(await baseline(rt, ids, f"{run}-hold-{n}"))
            rate, ok, no = await rush(rt, ids, f"{run}-auction-{n}")
            bids.append(rate)
            accepted.append(ok)
            refused.append(no)
        report = await audit_ledger(engine, rt.clock.now())
    finally:
        await engine.dispose()
        await redis.aclose()
    hold_rate, bid_rate = statistics.median(holds), statistics.median(bids)
    print(f"bidders {args.bidders}, rounds {args.rounds}, load average {load_average()}")
    print(f"baseline: holds/s (no shared row)       median {hold_rate:8.0f}  {holds}")
    print(f"auction:  bids answered/s (one auction) median {bid_rate:8.0f}  {bids}")
    print(f"          accepted per round {accepted}, refused (BID_TOO_LOW) {refused}")
    print(f"ratio auction / baseline: {bid_rate / hold_rate:.2f}")
    print(f"audit: {'clean' if report.ok else report.render()}")
    return 0 if report.ok else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bidders", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--embedded-redis", action="store_true", help="start a private Redis for the run"
    )
    return parser.parse_args()


def run(arguments: argparse.Namespace) -> int:
    if not os.environ.get("JIFEN_DATABASE_URL"):
        asyncio.run(recreate_database(DEFAULT_DATABASE_URL))
    upgrade(os.environ.get("JIFEN_DATABASE_URL") or DEFAULT_DATABASE_URL)
    return asyncio.run(main(arguments))


if __name__ == "__main__":
    arguments = parse_args()
    if not arguments.embedded_redis:
        sys.exit(run(arguments))
    with (
        tempfile.TemporaryDirectory() as folder,
        EmbeddedServices(Path(folder), postgres=False, redis=True) as services,
    ):
        os.environ["JIFEN_REDIS_URL"] = services.redis_url
        sys.exit(run(arguments))
