"""Where an unpaced expiry sweep's wall time goes when it does not fill the box's cores.

    JIFEN_DATABASE_URL=…/jifen_yearend2_tmpl python bench/expiry_waits.py --sweeps 2
    python bench/expiry_waits.py --sweeps 4 --batch 500 --py-spy

``JIFEN_DATABASE_URL`` names generated data (bench/expiry.py ``--generate-only``, e.g. the
year-end's 1,000,000 members); each run sweeps a fresh copy of it (``<name>_run``, made as
bench/expiry.py ``--reuse`` makes it) with bench/expiry.py's own sweep process, unpaced, no API,
and meanwhile:

* samples the run database's active backends' wait events every 20 ms (``pg_stat_activity``;
  ``CPU`` = active and not waiting), and the cluster's background processes' (checkpointer,
  WAL writer, background writer, autovacuum);
* diffs ``pg_stat_wal`` (records, full-page images, bytes, WAL buffers full, writes, syncs) and
  ``pg_stat_bgwriter`` (checkpoints, who wrote the buffers);
* reads the box's CPU (``/proc/stat``: the share of both cores busy, and idle/iowait) and the
  background processes' CPU seconds (``/proc/<pid>/stat``);
* optionally (``--py-spy``) records the sweep process with py-spy (on-CPU samples only: their
  count against the wall time says how busy its one thread is).

Then checks every due lot expired once and runs the audit. It prints one block a run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _path in (str(ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from expiry import Sweeper, clone_database, cpu_per_lot, lot_facts  # noqa: E402
from ledger import CLOCK_TICKS, asyncpg_dsn, audit, cpu_seconds, load_average  # noqa: E402

BACKGROUND = ("checkpointer", "walwriter", "background writer", "autovacuum worker")
WAL = (
    "SELECT wal_records, wal_fpi, wal_bytes::bigint AS wal_bytes, wal_buffers_full, wal_write,"
    " wal_sync FROM pg_stat_wal"
)
BGWRITER = (
    "SELECT checkpoints_timed, checkpoints_req, buffers_checkpoint, buffers_clean,"
    " buffers_backend, buffers_backend_fsync, buffers_alloc FROM pg_stat_bgwriter"
)


def sample_waits(dsn: str, database: str, stop: threading.Event, out: Counter[str]) -> None:
    """Count the run database's active backends (and the cluster's background processes) by
    wait event until ``stop``; ``(samples)`` counts the samples."""

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            while not stop.is_set():
                rows = await conn.fetch(
                    "SELECT CASE WHEN datname = $1 THEN 'sweep' ELSE backend_type END AS who,"
                    " coalesce(wait_event_type || ':' || wait_event, 'CPU') AS w"
                    " FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                    " AND ((datname = $1 AND state = 'active') OR backend_type = ANY($2))",
                    database,
                    list(BACKGROUND),
                )
                out.update(f"{r['who']} {r['w']}" for r in rows)
                out["(samples)"] += 1
                await asyncio.sleep(0.02)
        finally:
            await conn.close()

    asyncio.run(run())


async def snapshot(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        wal = dict(await conn.fetchrow(WAL))
        bgwriter = dict(await conn.fetchrow(BGWRITER))
        rows = await conn.fetch(
            "SELECT pid, backend_type FROM pg_stat_activity WHERE backend_type = ANY($1)",
            list(BACKGROUND),
        )
    finally:
        await conn.close()
    return {
        "wal": wal,
        "bgwriter": bgwriter,
        "background": {r["pid"]: r["backend_type"] for r in rows},
    }


def box_cpu() -> tuple[int, int, int]:
    """Jiffies so far of the whole box: busy (user, nice, system, irq, softirq, steal), idle,
    iowait."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    return user + nice + system + irq + softirq + steal, idle, iowait


def diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {key: int(after[key]) - int(before[key]) for key in after}


def run_once(args: argparse.Namespace, template: str, redis_url: str, out: Path) -> bool:
    copy = template.rsplit("?", 1)[0] + "_run"
    asyncio.run(clone_database(copy, template))
    if args.setting:
        asyncio.run(_database_settings(asyncpg_dsn(copy), args.setting))
    if args.checkpoint_first:
        asyncio.run(_checkpoint(asyncpg_dsn(copy)))
    before_lots = asyncio.run(lot_facts(copy))
    dsn = asyncpg_dsn(copy)
    database = dsn.rsplit("/", 1)[1].split("?")[0]
    sweeper = Sweeper(copy, redis_url, args.batch, 0, None, out, ROOT, args.sweeps)
    waits: Counter[str] = Counter()
    stop = threading.Event()
    start = asyncio.run(snapshot(dsn))
    background_cpu = cpu_seconds(list(start["background"]))
    box = box_cpu()
    sampler = threading.Thread(target=sample_waits, args=(dsn, database, stop, waits))
    sampler.start()
    spy = None
    if args.py_spy:
        spy_out = out / f"py-spy-{time.monotonic_ns()}.txt"
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--format",
                "raw",
                "--rate",
                "200",
                "--nonblocking",
                "-o",
                str(spy_out),
                "-p",
                str(sweeper.proc.pid),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # py-spy attached before the go
    sweeper.go()
    swept = sweeper.figures()
    stop.set()
    sampler.join()
    box_after = box_cpu()
    end = asyncio.run(snapshot(dsn))
    background_cpu = cpu_seconds(list(start["background"])) - background_cpu
    if spy is not None:
        spy.wait(timeout=30)
    after_lots = asyncio.run(lot_facts(copy))
    ok, report = asyncio.run(audit(copy))
    exact = after_lots["lots_expired"] == before_lots["due"] == after_lots["expiry_allocations"]
    lots = max(swept["expired_lots"], 1)
    seconds = swept["seconds"]
    kinds = start["background"].values()
    busy, idle, iowait = (a - b for a, b in zip(box_after, box, strict=True))
    total = busy + idle + iowait
    print(
        f"\n== sweeps {args.sweeps}, batch {args.batch}, settings {args.setting or 'none'}: "
        f"{swept['expired_lots']} lots in "
        f"{seconds:.1f}s = {swept['expired_lots'] / seconds:,.0f} lots/s; {cpu_per_lot(swept)}; "
        f"sweep process {swept['python_cpu'] / seconds:.2f} of a core; load {load_average()}"
    )
    print(
        f"box: {busy / CLOCK_TICKS / seconds:.2f} cores busy, idle {100 * idle / total:.0f} %, "
        f"iowait {100 * iowait / total:.0f} %; background processes "
        f"{background_cpu / seconds:.2f} cores ({', '.join(sorted(set(kinds)))})"
    )
    wal = diff(end["wal"], start["wal"])
    print(
        f"WAL: {wal['wal_bytes'] / lots:,.0f} B a lot, "
        f"{wal['wal_records'] / lots:.1f} records a lot, "
        f"{wal['wal_fpi'] / lots:.2f} full-page images a lot, "
        f"buffers full {wal['wal_buffers_full']:,}, "
        f"writes {wal['wal_write']:,}, syncs {wal['wal_sync']:,}"
    )
    print(f"bgwriter: {diff(end['bgwriter'], start['bgwriter'])}")
    samples = max(waits.pop("(samples)", 1), 1)
    print(f"waits ({samples} samples, mean backends a sample):")
    for name, count in waits.most_common():
        print(f"  {count / samples:6.3f}  {name}")
    if spy is not None:
        print(f"py-spy: {spy_out}")
    print(
        f"each due lot expired once: {exact}; due left {after_lots['due_left']}; "
        f"audit {'passed' if ok else 'FAILED'}"
    )
    if not ok:
        print(report)
    return ok and exact and after_lots["due_left"] == 0


async def _database_settings(dsn: str, settings: list[str]) -> None:
    """``ALTER DATABASE … SET`` each ``name=value`` on the copy: its new connections (the
    sweep's) run with it; the cluster's other databases do not."""
    conn = await asyncpg.connect(dsn)
    try:
        database = await conn.fetchval("SELECT current_database()")
        for setting in settings:
            name, _, value = setting.partition("=")
            if not name.replace("_", "").isalnum():
                raise SystemExit(f"--setting {setting!r}: name=value")
            await conn.execute(f'ALTER DATABASE "{database}" SET {name} = {quote(value)}')
    finally:
        await conn.close()


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def _checkpoint(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sweeps", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--py-spy", action="store_true")
    parser.add_argument(
        "--checkpoint-first",
        action="store_true",
        help="CHECKPOINT after the copy, before the sweep",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        help="name=value set on the copy (ALTER DATABASE … SET) before the sweep, e.g. "
        "wal_compression=lz4: a deployment setting measured on the sweep's connections only",
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/jifen-expiry-waits"))
    args = parser.parse_args()
    template = os.environ["JIFEN_DATABASE_URL"]
    redis_url = os.environ["JIFEN_REDIS_URL"]
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {load_average()}")
    good = all(run_once(args, template, redis_url, args.out) for _ in range(args.runs))
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
