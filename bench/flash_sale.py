"""Flash-sale benchmark: a rush of buyers on an item with little stock, through the API.

    python bench/flash_sale.py                  # 20,000 buyers, 1,000 units, 2 workers

What it does, in one run (set-up, server and audit helpers are bench/ledger.py's):

1. Takes PostgreSQL and Redis from ``JIFEN_DATABASE_URL`` / ``JIFEN_REDIS_URL``; by default it
   (re)creates the database ``jifen_flash_h6`` on the local PostgreSQL (127.0.0.1:5432) and uses
   Redis database 6 on 127.0.0.1:6379 (flushed). Migrates, registers ``--buyers`` members with
   bulk SQL and gives each 1,000 points (entries, transfers, lots and balances written as the
   ledger writes them, so the audit holds), and mints a token per buyer.
2. Starts ``jifen serve --workers 2`` on a free loopback port (rate limits lifted).
3. Two rushes with ``wrk`` (bench/flash.lua), each on a fresh item with ``--stock`` units at 100
   points: every buyer sends ``placeRedemption`` once, over ``--connections`` connections.
   (a) the item is a flash item: the Redis gate (a Lua script) decides who may try;
   (b) the baseline: the same item without the gate, PostgreSQL's conditional update decides.
   For each: throughput (buyers answered per second, until the last answer), p50/p99 latency,
   sold, ``OUT_OF_STOCK`` answers, other answers, lost buyers (sent, never answered: must be
   0), oversold (orders beyond the stock: must be 0), the time from the first request to the
   last unit sold, the CPU per buyer (API workers + this database's PostgreSQL backends) and
   the load average before and after.
4. Stops the server, runs the ledger audit (with the mall's checks) and prints the table and the
   ratio gate / baseline.

Needs ``wrk`` (Debian: ``apt-get install wrk``). Everything listens on and talks to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _path in (str(ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from ledger import (  # noqa: E402  (bench/ledger.py: shared set-up, server and audit helpers)
    BENCH_LINE,
    JWT_SECRET,
    Server,
    asyncpg_dsn,
    audit,
    backend_pids,
    cpu_seconds,
    load_average,
    prepare_stage,
    register_members,
    server_env,
)

from bench.machine_cpu import CpuSplit, Scope, cpu_window, print_splits  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jifen_flash_h6"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"
OPENING_POINTS = 1_000
PRICE = 100

# What Ledger.earn writes for an opening balance, in bulk: entry, transfer, lot, balances.
OPENING_SQL = """
WITH e AS (
    INSERT INTO entries (member_id, kind, amount, balance_after, reason, source, actor,
                         created_by_kind, details, created_at)
    SELECT m, 'earn', $1, $1, 'bench opening balance', 'bench', 'staff:bench', 'staff', '{}',
           now()
    FROM unnest($2::bigint[]) AS m
    RETURNING id, member_id
), t AS (
    INSERT INTO transfers (entry_id, member_id, debit_account_id, credit_account_id, amount,
                           created_at)
    SELECT e.id, e.member_id, (SELECT id FROM programme_accounts WHERE code = 'issuance'), a.id,
           $1, now()
    FROM e JOIN accounts a ON a.member_id = e.member_id
), l AS (
    INSERT INTO lots (account_id, member_id, entry_id, amount, remaining, pending, available_at,
                      created_at)
    SELECT a.id, e.member_id, e.id, $1, $1, false, now(), now()
    FROM e JOIN accounts a ON a.member_id = e.member_id
)
UPDATE accounts SET available = available + $1, lifetime_earned = lifetime_earned + $1
WHERE member_id = ANY($2::bigint[])
"""

CREATE_ITEM = """mutation($input: CreateMallItemInput!) { createMallItem(input: $input) {
  __typename ... on MallItemPayload { item { id } } ... on MutationError { code message } } }"""


@dataclass
class Rush:
    name: str
    buyers: int
    seconds: float
    p50_ms: float
    p99_ms: float
    sold: int
    out_of_stock: int
    other: int
    orders: int
    stock_left: int
    sell_out_seconds: float | None
    socket_errors: int
    cpu_ms: float  # CPU per buyer: the API workers and this database's PostgreSQL backends
    load: str  # the 1-minute load average before -> after the rush
    machine: CpuSplit | None = None  # the whole machine's CPU over the rush, split

    @property
    def throughput(self) -> float:
        return self.buyers / self.seconds if self.seconds else 0.0

    def oversold(self, stock: int) -> int:
        return max(0, self.orders - stock) + max(0, -self.stock_left)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buyers", type=int, default=20_000)
    parser.add_argument("--stock", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-baseline", action="store_true", help="only the gated rush")
    return parser.parse_args()


async def give_points(url: str, member_ids: list[int]) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(OPENING_SQL, OPENING_POINTS, member_ids)
    finally:
        await conn.close()


def mint_buyer_tokens(member_ids: list[int]) -> list[str]:
    from app.auth.tokens import mint_token
    from app.config import Settings

    settings = Settings(jwt_secret=JWT_SECRET, jwt_ttl_seconds=6 * 3600)
    return [mint_token(settings, f"member:{m}", []) for m in member_ids]


def graphql(url: str, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        body: dict[str, Any] = json.loads(reply.read())
    if "errors" in body:
        raise SystemExit(f"GraphQL errors: {body['errors']}")
    return body["data"]


def create_item(url: str, staff: str, code: str, stock: int, flash: bool) -> str:
    item = {
        "code": code,
        "name": f"Flash gift {code}",
        "kind": "GOODS",
        "pointsPrice": PRICE,
        "flash": flash,
        "perMemberLimit": 1,
        "limitPeriod": "EVER",
    }
    created = graphql(url, staff, CREATE_ITEM, {"input": {"stock": stock, "item": item}})
    payload = created["createMallItem"]
    if payload["__typename"] != "MallItemPayload":
        raise SystemExit(f"could not create the item: {payload}")
    item_id: str = payload["item"]["id"]
    return item_id


def _progress(done_dir: Path) -> dict[int, list[int]]:
    """Each wrk thread's "answered sent sold out_of_stock other" (see bench/flash.lua)."""
    found = {}
    for marker in done_dir.iterdir():
        if marker.suffix != ".tmp":
            found[int(marker.name)] = [int(x) for x in marker.read_text().split()]
    return found


def run_rush(
    args: argparse.Namespace, url: str, out: Path, buyers_file: Path, item_id: str, phase: str
) -> tuple[dict[str, float], list[tuple[int, int, int]], float, float]:
    """wrk until every buyer has an answer; returns wrk's figures, the per-thread counts, the
    wall-clock start (epoch) and the seconds until the last answer."""
    done_dir = out / f"done-{phase}"
    done_dir.mkdir()
    env = {
        **os.environ,
        "BENCH_BUYERS": str(buyers_file),
        "BENCH_ITEM": item_id,
        "BENCH_RUN": f"{phase}-{int(time.time())}",
        "BENCH_THREADS": str(args.threads),
        "BENCH_DONE": str(done_dir),
    }
    command = [
        "wrk",
        f"--threads={args.threads}",
        f"--connections={args.connections}",
        "--duration=600s",
        "--timeout=30s",
        f"--script={BENCH_DIR / 'flash.lua'}",
        f"{url}/graphql",
    ]
    wall_start = time.time()
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    shares = [len(range(t, args.buyers + 1, args.threads)) for t in range(1, args.threads + 1)]
    last_total, last_change = -1, time.perf_counter()
    while proc.poll() is None and time.perf_counter() - started < 590:
        progress = _progress(done_dir)
        total = sum(p[0] for p in progress.values())
        if total != last_total:
            last_total, last_change = total, time.perf_counter()
        all_sent = len(progress) == args.threads and all(
            progress[t][1] >= shares[t - 1] for t in progress
        )
        if total >= args.buyers or (all_sent and time.perf_counter() - last_change > 5):
            break  # every answer is in, or the missing ones were lost (socket errors)
        time.sleep(0.005)
    elapsed = (last_change if last_total < args.buyers else time.perf_counter()) - started
    proc.send_signal(signal.SIGINT)  # wrk then prints its summary for the time it really ran
    stdout, stderr = proc.communicate(timeout=60)
    match = BENCH_LINE.search(stdout)
    if match is None:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{stdout}\n{stderr}")
    figures = {k: float(v) for k, v in (kv.split("=") for kv in match[1].split())}
    counts = [(p[2], p[3], p[4]) for p in _progress(done_dir).values()]
    if stderr.strip():
        print(stderr.strip()[:2000])
    return figures, counts, wall_start, elapsed


async def item_facts(url: str, item_id: int, wall_start: float) -> tuple[int, int, float | None]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        orders = await conn.fetchval(
            "SELECT count(*) FROM mall_orders WHERE item_id = $1 AND status = 'placed'", item_id
        )
        left = await conn.fetchval("SELECT stock_left FROM mall_items WHERE id = $1", item_id)
        last = await conn.fetchval(
            "SELECT extract(epoch FROM max(created_at)) FROM mall_orders WHERE item_id = $1",
            item_id,
        )
    finally:
        await conn.close()
    sell_out = None if last is None or left else float(last) - wall_start
    return int(orders), int(left), sell_out


def measure(
    args: argparse.Namespace,
    server: Server,
    db: str,
    out: Path,
    buyers_file: Path,
    staff: str,
    phase: str,
    flash: bool,
    redis_url: str,
) -> Rush:
    url = server.url
    item_id = create_item(url, staff, f"{phase}-{int(time.time())}", args.stock, flash)
    database = asyncpg_dsn(db).rsplit("/", 1)[1].split("?")[0]
    workers = server.worker_pids()
    counted = workers + backend_pids(database)
    load_before, cpu_before = load_average().split()[0], cpu_seconds(counted)
    with cpu_window(Scope(db, redis_url, [server.proc.pid, *workers])) as window:
        figures, counts, wall_start, elapsed = run_rush(args, url, out, buyers_file, item_id, phase)
    # Backends that opened during the rush were not in the first reading: all their CPU counts.
    new = [pid for pid in set(backend_pids(database)) if pid not in counted]
    cpu = cpu_seconds(counted) - cpu_before + cpu_seconds(new)
    load = f"{load_before} -> {load_average().split()[0]}"
    orders, left, sell_out = asyncio.run(item_facts(db, int(item_id), wall_start))
    answered = sum(sum(c) for c in counts)
    return Rush(
        name="flash gate (Redis Lua, then PostgreSQL)" if flash else "baseline: PostgreSQL only",
        buyers=answered,
        seconds=elapsed,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        sold=sum(c[0] for c in counts),
        out_of_stock=sum(c[1] for c in counts),
        other=sum(c[2] for c in counts),
        orders=orders,
        stock_left=left,
        sell_out_seconds=sell_out,
        socket_errors=int(figures["socket_errors"] + figures["timeouts"]),
        cpu_ms=1000 * cpu / max(answered, 1),
        load=load,
        machine=replace(window.split, requests=answered) if window else None,
    )


def print_table(rushes: list[Rush], stock: int, lost: int) -> None:
    """``lost``: the buyers sent; those without an answer (socket errors) show as lost."""
    print()
    head = (
        f"{'rush':40} {'buyers/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'sold':>6} "
        f"{'oos':>6} {'other':>6} {'lost':>5} {'oversold':>8} {'sell-out s':>10} "
        f"{'CPU ms':>7} {'load':>14}"
    )
    print(head)
    print("-" * len(head))
    for r in rushes:
        sell_out = "-" if r.sell_out_seconds is None else f"{r.sell_out_seconds:.2f}"
        print(
            f"{r.name:40} {r.throughput:9.0f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} {r.sold:6d} "
            f"{r.out_of_stock:6d} {r.other:6d} {lost - r.buyers:5d} {r.oversold(stock):8d} "
            f"{sell_out:>10} {r.cpu_ms:7.2f} {r.load:>14}"
        )
    if len(rushes) == 2 and rushes[1].throughput:
        print(
            f"\nratio gate / baseline (buyers answered per second): "
            f"{rushes[0].throughput / rushes[1].throughput:.2f}"
        )


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (Debian/Ubuntu: apt-get install wrk)", file=sys.stderr)
        return 2
    database_url, redis_url, out, run_id = prepare_stage(
        "flash", DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, args.out
    )
    print(f"load average before the run: {load_average()} (other work skews the figures)")
    started = time.perf_counter()
    member_ids = []
    for batch in range(0, args.buyers, 1_000):  # one transaction locks one topic per member
        count = min(1_000, args.buyers - batch)
        member_ids += asyncio.run(register_members(database_url, count, f"{run_id}-{batch}"))
    asyncio.run(give_points(database_url, member_ids))
    tokens = mint_buyer_tokens(member_ids)
    buyers_file = out / "buyers.txt"
    buyers_file.write_text("".join(f"{m} {t}\n" for m, t in zip(member_ids, tokens, strict=True)))
    print(
        f"{len(member_ids)} buyers with {OPENING_POINTS} points each, in "
        f"{time.perf_counter() - started:.1f}s"
    )
    from app.auth.tokens import mint_token
    from app.config import Settings

    staff = mint_token(Settings(jwt_secret=JWT_SECRET), "staff:bench", ["admin"])
    env = server_env(database_url, redis_url, out)
    server = Server(env, args.workers, out / "server.log")
    rushes: list[Rush] = []
    try:
        server.wait_ready(timeout=300)  # a loaded box starts 20,000 members slowly
        print(f"server {server.url} ready (workers {server.worker_pids()})")
        phases = [("gate", True)] + ([] if args.no_baseline else [("baseline", False)])
        for phase, flash in phases:
            rush = measure(
                args, server, database_url, out, buyers_file, staff, phase, flash, redis_url
            )
            rushes.append(rush)
            print(
                f"  {rush.name}: {rush.throughput:.0f} buyers/s, sold {rush.sold}, "
                f"{rush.cpu_ms:.2f} ms CPU per buyer, load {rush.load}",
                flush=True,
            )
    finally:
        server.stop()
    ok, report = asyncio.run(audit(database_url))
    print_table(rushes, args.stock, args.buyers)
    print_splits([(r.name, r.machine) for r in rushes], note=", per buyer answered")
    print(
        f"\nmachine: {os.cpu_count()} CPU(s), shared with other work; {args.connections} "
        f"connections, {args.threads} wrk threads, {args.workers} server workers, "
        f"{args.buyers} buyers, {args.stock} units; load average after {load_average()}"
    )
    print("\nledger audit:\n" + report)
    (out / "results.json").write_text(
        json.dumps([{**asdict(r), "throughput": r.throughput} for r in rushes], indent=2) + "\n"
    )
    clean = all(
        r.oversold(args.stock) == 0 and r.sold == args.stock and r.buyers == args.buyers
        for r in rushes
    )
    return 0 if ok and clean else 1


if __name__ == "__main__":
    sys.exit(main())
