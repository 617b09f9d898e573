"""Ledger benchmark: earn mutations and balance queries through the API vs. raw asyncpg.

    python bench/ledger.py                      # the full run (about a minute and a half)
    python bench/ledger.py --baseline-only      # only the raw asyncpg transaction
    python bench/ledger.py --profile            # also py-spy the server's workers during earn

What it does, in one run:

1. Takes PostgreSQL and Redis from ``JIFEN_DATABASE_URL`` / ``JIFEN_REDIS_URL``; by default it
   (re)creates the database ``jifen_bench`` on the local PostgreSQL (127.0.0.1:5432) and uses
   Redis database 8 on 127.0.0.1:6379 (flushed). Migrates, then registers ``--members`` members
   with bulk SQL that writes what registration writes (members, member_channel_refs, accounts,
   the ``member.registered`` event).
2. Starts ``jifen serve --workers 2`` on a free loopback port and waits for ``/readyz``.
3. With ``wrk`` (bench/earn.lua, bench/balance.lua): (a) ``earnPoints`` with a staff token, a
   random member and a fresh idempotency key per request; (b) ``me { balance { available } }``
   with a pool of member tokens. Each after a short warm-up; non-200 answers and GraphQL errors
   are counted.
4. Stops the server, then (c) the baseline: the same SQL transaction ``Ledger.earn`` runs inside
   ``idempotent()`` (key insert, account ``FOR UPDATE``, entry, transfer, lot, account update,
   outbox event, key response), with raw asyncpg — no ORM, no web — from as many connections as
   wrk used, in as many processes as the server has workers, for the same duration.
   Then the same posting as one statement (``ledger_post_credit()``), and group commit's
   (``ledger_post_credits()``, batches of ``BATCH`` from the connections / ``BATCH``).
5. Runs the ledger audit and prints a table with the ratio earn-API / baseline, then each
   window's whole-machine CPU per request and its split (bench/machine_cpu.py).

Needs ``wrk`` (Debian: ``apt-get install wrk``). Everything listens on and talks to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.machine_cpu import CpuSplit, Scope, cpu_window, print_splits  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jifen_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
JWT_SECRET = "jifen-bench-secret-not-for-production-0123456789"
STAFF_NAME = "bench"
CHANNEL = "bench"
GOAL_RATIO = 0.5  # earnPoints / the raw one-statement earn, at 32 connections (issue 21)
GOAL_P99_MS = 100.0  # earnPoints' p99 at 16 connections
GOAL_EARNS = 1000.0  # earnPoints a second, in absolute terms
GOAL_BALANCE_RATIO = 0.6  # me { balance } / { __typename }


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    detail: str = ""
    cpu_ms: float = 0.0  # CPU per request: the API workers (or raw clients) + PostgreSQL backends
    machine: CpuSplit | None = None  # the whole machine's CPU over the window, split

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------------------------- set-up


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy URL (postgresql+asyncpg://…) as a plain libpq-style DSN for asyncpg."""
    return re.sub(r"^postgresql\+asyncpg://", "postgresql://", url)


async def recreate_database(url: str) -> None:

    dsn = asyncpg_dsn(url)
    name = dsn.rsplit("/", 1)[1].split("?")[0]
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def flush_redis(url: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


REGISTER_SQL = """
WITH m AS (
    INSERT INTO members (name, created_at, updated_at)
    SELECT 'bench member ' || g, now(), now() FROM generate_series(1, $1) AS g
    RETURNING id
), r AS (
    INSERT INTO member_channel_refs (member_id, channel, external_ref, created_at)
    SELECT id, $2, $3 || id, now() FROM m
), k AS (  -- each ref claimed across members, as registration does (app/members/claims.py)
    INSERT INTO outside_keys (kind, scope, ref, member_id)
    SELECT 'channel_ref', $2, $3 || id, id FROM m
), a AS (
    INSERT INTO accounts (kind, code, member_id)
    SELECT 'member', 'member:' || id, id FROM m
), e AS (
    INSERT INTO events (member_id, topic, type, payload)
    SELECT id, 'member:' || id, 'member.registered',
           jsonb_build_object('member_id', id, 'channel', $2::text, 'external_ref', $3 || id)
    FROM m
)
SELECT id FROM m ORDER BY id
"""


class Stage(NamedTuple):
    """Where a benchmark run writes: its database, Redis, output folder, and a unique run id."""

    database_url: str
    redis_url: str
    out: Path
    run_id: str


def prepare_stage(
    name: str, default_database_url: str, default_redis_url: str, out: Path | None
) -> Stage:
    """Resolve the URLs (the environment's, else the bench's own, recreated and flushed), make
    the output folder, and migrate."""
    database_url = os.environ.get("JIFEN_DATABASE_URL") or default_database_url
    redis_url = os.environ.get("JIFEN_REDIS_URL") or default_redis_url
    out = out or Path(tempfile.mkdtemp(prefix=f"jifen-{name}-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"database {database_url}\nredis    {redis_url}\noutput   {out}")
    if "JIFEN_DATABASE_URL" not in os.environ:
        asyncio.run(recreate_database(database_url))
    if "JIFEN_REDIS_URL" not in os.environ:
        asyncio.run(flush_redis(redis_url))

    from app.migrate import upgrade

    upgrade(database_url)
    return Stage(database_url, redis_url, out, f"{name}{int(time.time())}")


async def rolled_back_seconds(url: str, sql: str, *args: Any) -> float:
    """Seconds ``sql`` takes in a transaction that is then rolled back: a floor's writes."""
    seconds, _cpu = await rolled_back_cost(url, sql, *args)
    return seconds


async def rolled_back_cost(url: str, sql: str, *args: Any) -> tuple[float, float]:
    """Wall seconds and the PostgreSQL backend's CPU seconds ``sql`` takes in a transaction
    that is then rolled back. On a loaded machine the CPU seconds are the steadier figure: the
    wall time also counts every moment the backend waited for a core."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        pid = conn.get_server_pid()
        transaction = conn.transaction()
        await transaction.start()
        cpu, started = cpu_seconds([pid]), time.perf_counter()
        await conn.execute(sql, *args)
        seconds, cpu = time.perf_counter() - started, cpu_seconds([pid]) - cpu
        await transaction.rollback()
    finally:
        await conn.close()
    return seconds, cpu


async def register_members(url: str, count: int, run_id: str) -> list[int]:

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(REGISTER_SQL, count, CHANNEL, f"{run_id}-")
    finally:
        await conn.close()
    return [row["id"] for row in rows]


def mint_tokens(member_ids: list[int], pool: int) -> tuple[str, list[str]]:
    from app.auth.tokens import mint_token
    from app.config import Settings

    settings = Settings(jwt_secret=JWT_SECRET, jwt_ttl_seconds=6 * 3600)
    staff = mint_token(settings, f"staff:{STAFF_NAME}", ["admin"])
    chosen = random.sample(member_ids, min(pool, len(member_ids)))
    return staff, [mint_token(settings, f"member:{m}", []) for m in chosen]


# ---------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(
    database_url: str, redis_url: str, out: Path, *, lift_budgets: bool = True, **extra: str
) -> dict[str, str]:
    """The environment of a bench's ``jifen serve``: its database and Redis, the bench's JWT
    secret, quiet logs, data under ``out``; the rate limits lifted unless told otherwise (a
    load generator is one staff caller or a few members asking far above any real budget)."""
    env = {
        **os.environ,
        "JIFEN_DATABASE_URL": database_url,
        "JIFEN_REDIS_URL": redis_url,
        "JIFEN_JWT_SECRET": JWT_SECRET,
        "JIFEN_LOG_LEVEL": "WARNING",
        "JIFEN_DATA_DIR": str(out / "data"),
    }
    if lift_budgets:
        env["JIFEN_RATE_LIMIT_STAFF"] = env["JIFEN_RATE_LIMIT_MEMBER"] = "10000000/minute"
    return {**env, **extra}


class Server:
    """``jifen serve`` in its own process group, stopped by its PID."""

    def __init__(self, env: dict[str, str], workers: int, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise SystemExit(f"server not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (children of the supervisor, running Python)."""
        pids: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            children = (task / "children").read_text().split()
            pids.extend(int(pid) for pid in children)
        workers = []
        for pid in pids:
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"resource_tracker" not in cmdline:
                    workers.append(pid)
        return workers

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            # SIGINT to the group: uvicorn shuts its workers down gracefully.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


# ------------------------------------------------------------------------------------- CPU

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (a process gone meanwhile counts 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLOCK_TICKS


def backend_pids(database: str) -> list[int]:
    """The PostgreSQL backends serving ``database`` (titled "postgres: [cluster:] user db …");
    other databases' sessions on the same server are not ours to count."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                title = (entry / "cmdline").read_bytes().split(b"\0")[0].split()
                if title[:1] == [b"postgres:"] and database.encode() in title[1:5]:
                    pids.append(int(entry.name))
    return pids


# ------------------------------------------------------------------------------------- wrk

BENCH_LINE = re.compile(r"^BENCH (.*)$", re.MULTILINE)


def run_wrk(
    script: Path, url: str, env: dict[str, str], *, seconds: float, connections: int, threads: int
) -> dict[str, float]:
    command = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=10s",
        f"--script={script}",
        f"{url}/graphql",
    ]
    done = subprocess.run(
        command,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    match = BENCH_LINE.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return {key: float(value) for key, value in (kv.split("=") for kv in match[1].split())}


def wrk_result(name: str, figures: dict[str, float]) -> Result:
    errors = int(
        figures["non200"] + figures["gql_errors"] + figures["socket_errors"] + figures["timeouts"]
    )
    detail = (
        f"non-200 {int(figures['non200'])}, GraphQL errors {int(figures['gql_errors'])}, "
        f"socket errors {int(figures['socket_errors'])}, timeouts {int(figures['timeouts'])}"
    )
    return Result(
        name=name,
        requests=int(figures["requests"]),
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=errors,
        detail=detail,
    )


# ---------------------------------------------------------------------------------- py-spy


def start_profiles(
    pids: list[int], seconds: float, out_dir: Path, phase: str
) -> list[subprocess.Popen[bytes]]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    procs = []
    for pid in pids:
        procs.append(
            subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(round(seconds)),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(out_dir / f"{phase}-worker-{pid}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return procs


FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")

# py-spy prints paths relative to sys.path entries: "asyncpg/connection.py", "app/web.py".
GROUPS = (
    ("asyncpg", "asyncpg/"),
    ("sqlalchemy", "sqlalchemy/"),
    ("strawberry", "strawberry/"),
    ("graphql-core (parse, validate, execute)", "graphql/"),
    ("starlette", "starlette/"),
    ("uvicorn/httptools", "uvicorn/"),
    ("pydantic", "pydantic"),
    ("jwt", "jwt/"),
    ("app (jifen)", "app/"),
    ("asyncio/uvloop", "asyncio/"),
    ("asyncio/uvloop", "uvloop/"),
    ("json", "json/"),
)


def _group(path: str) -> str:
    for name, needle in GROUPS:
        if f"/{path}".find(f"/{needle}") >= 0:
            return name
    if path.startswith("<"):
        return "generated code (<string>: graphql-core visitor dispatch)"
    return "other (stdlib, C)"


def summarise_profiles(files: list[Path], top: int = 15) -> str:
    """Self time by library and the functions with most inclusive time, from raw stacks."""
    self_group: Counter[str] = Counter()
    self_func: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for file in files:
        if not file.exists():
            continue
        for line in file.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = []
            for frame in stack.split(";"):
                match = FRAME.match(frame)
                if match:
                    path = match["file"]
                    frames.append((f"{match['func']} ({_short(path)})", path))
            if not frames:
                continue
            total += count
            leaf_name, leaf_path = frames[-1]
            self_group[_group(leaf_path)] += count
            self_func[leaf_name] += count
            for name in {name for name, _ in frames}:
                inclusive[name] += count
    if not total:
        return "no samples (is py-spy allowed to ptrace here?)"
    out = [f"{total} samples over {len(files)} worker(s)", "", "self time by library:"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in self_group.most_common()]
    out += ["", f"top {top} functions by self time:"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in self_func.most_common(top)]
    out += ["", f"top {top * 2} functions by inclusive time:"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top * 2)]
    return "\n".join(out)


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


# -------------------------------------------------------------------------------- baseline

# The statements Ledger.earn runs inside idempotent(), as SQLAlchemy renders them, for a member
# with nothing due (next_due_at in the future or unset: _settle runs no query).
SQL_CLAIM_KEY = """
INSERT INTO idempotency_keys (caller, key, operation, fingerprint) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING RETURNING idempotency_keys.key
"""
SQL_LOCK = """
SELECT accounts.id, accounts.kind, accounts.code, accounts.member_id, accounts.available,
       accounts.pending, accounts.held, accounts.debt, accounts.lifetime_earned,
       accounts.lifetime_spent, accounts.next_due_at, accounts.version, accounts.created_at,
       members.status AS member_status
FROM accounts JOIN members ON members.id = accounts.member_id
WHERE accounts.member_id = $1 FOR UPDATE OF accounts
"""
SQL_ENTRY = """
INSERT INTO entries (member_id, kind, amount, balance_after, reason, source, reference, actor,
                     reverses_entry_id, hold_id, details, created_at, created_by_kind)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'staff')
RETURNING entries.id, entries.member_id, entries.kind, entries.amount, entries.balance_after,
          entries.reason, entries.source, entries.reference, entries.actor,
          entries.reverses_entry_id, entries.reversed_amount, entries.hold_id, entries.details,
          entries.created_at
"""
SQL_TRANSFER = """
INSERT INTO transfers (entry_id, member_id, debit_account_id, credit_account_id, amount,
                       created_at)
VALUES ($1, $2, (SELECT id FROM programme_accounts WHERE code = $3), $4, $5, $6)
"""
SQL_LOT = """
INSERT INTO lots (account_id, member_id, entry_id, amount, remaining, pending, available_at,
                  expires_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""
SQL_SAVE_ACCOUNT = """
UPDATE accounts SET available=$1, pending=$2, held=$3, debt=$4, lifetime_earned=$5,
       lifetime_spent=$6, next_due_at=$7, version=(accounts.version + $8)
WHERE accounts.id = $9
"""
SQL_EVENT = "INSERT INTO events (member_id, topic, type, payload) VALUES ($1, $2, $3, $4)"
SQL_KEY_RESPONSE = """
UPDATE idempotency_keys SET response=$1
WHERE idempotency_keys.caller = $2 AND idempotency_keys.key = $3
"""


def _fingerprint(operation: str, request: dict[str, Any]) -> str:
    canonical = json.dumps([operation, request], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def earn_raw(conn: Any, member_id: int, amount: int, key: str) -> int:
    """One earn, statement for statement what the API's transaction executes."""
    caller = f"staff:{STAFF_NAME}"
    reason = "bench earn"
    request = {
        "member_id": member_id,
        "amount": amount,
        "reason": reason,
        "reference": None,
        "available_at": None,
        "expires_at": None,
    }
    async with conn.transaction():
        claimed = await conn.fetchval(
            SQL_CLAIM_KEY, caller, key, "earn", _fingerprint("earn", request)
        )
        if claimed is None:
            raise RuntimeError(f"key {key} already used")
        acc = await conn.fetchrow(SQL_LOCK, member_id)
        now = datetime.now(UTC)
        expires_at = now + timedelta(days=365)
        paid_off = min(acc["debt"], amount)
        available = acc["available"] + amount - paid_off
        debt = acc["debt"] - paid_off
        earned = acc["lifetime_earned"] + amount
        total = available + acc["pending"] + acc["held"] - debt
        next_due = acc["next_due_at"]
        next_due = expires_at if next_due is None or expires_at < next_due else next_due
        entry = await conn.fetchrow(
            SQL_ENTRY,
            member_id,
            "earn",
            amount,
            total,
            reason,
            "api",
            None,
            caller,
            None,
            None,
            "{}",
            now,
        )
        await conn.execute(SQL_TRANSFER, entry["id"], member_id, "issuance", acc["id"], amount, now)
        await conn.execute(
            SQL_LOT,
            acc["id"],
            member_id,
            entry["id"],
            amount - paid_off,
            amount - paid_off,
            False,
            now,
            expires_at,
            now,
        )
        await conn.execute(
            SQL_SAVE_ACCOUNT,
            available,
            acc["pending"],
            acc["held"],
            debt,
            earned,
            acc["lifetime_spent"],
            next_due,
            1,
            acc["id"],
        )
        payload = {
            "member_id": member_id,
            "balance": {
                "available": available,
                "pending": acc["pending"],
                "held": acc["held"],
                "debt": debt,
                "total": total,
            },
            "entry": {
                "id": entry["id"],
                "kind": "earn",
                "amount": amount,
                "balance_after": total,
                "reason": reason,
                "source": "api",
                "reference": None,
                "reverses_entry_id": None,
                "created_at": now.isoformat(),
            },
        }
        await conn.execute(
            SQL_EVENT, member_id, f"member:{member_id}", "points.earned", json.dumps(payload)
        )
        await conn.execute(SQL_KEY_RESPONSE, json.dumps({"entry_id": entry["id"]}), caller, key)
    return int(entry["id"])


# The same posting as one statement (migration 0026), as app/ledger/onetrip.py sends it: the
# floor once the API posts an earn in one round trip.
SQL_POST_CREDIT = (
    "SELECT * FROM ledger_post_credit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
    " $14, $15, $16, $17, $18, $19, $20)"
)


def _earn_request(member_id: int, amount: int, reason: str) -> dict[str, Any]:
    """An earn's request as the API fingerprints it for its idempotency key."""
    return {
        "member_id": member_id,
        "amount": amount,
        "reason": reason,
        "reference": None,
        "available_at": None,
        "expires_at": None,
    }


def _earn_event(amount: int, reason: str, now: datetime) -> dict[str, Any]:
    """An earn's entry as its ``points.earned`` event carries it."""
    return {
        "kind": "earn",
        "amount": amount,
        "reason": reason,
        "source": "api",
        "reference": None,
        "reverses_entry_id": None,
        "created_at": now.isoformat(),
    }


async def earn_function(conn: Any, member_id: int, amount: int, key: str) -> int:
    """One earn, as the API's one statement: ``ledger_post_credit()`` in autocommit."""
    caller = f"staff:{STAFF_NAME}"
    reason = "bench earn"
    request = _earn_request(member_id, amount, reason)
    now = datetime.now(UTC)
    entry_event = _earn_event(amount, reason, now)
    row = await conn.fetchrow(
        SQL_POST_CREDIT,
        caller,
        key,
        "earn",
        _fingerprint("earn", request),
        member_id,
        "earn",
        amount,
        "issuance",
        reason,
        "api",
        None,
        caller,
        "staff",
        None,
        "{}",
        now,
        now,
        now + timedelta(days=365),
        "points.earned",
        json.dumps(entry_event),
    )
    if row is None:
        raise RuntimeError(f"key {key}: the function declined the posting")
    return int(row["out_entry_id"])


# Earns that arrive together in one statement, as app/ledger/groupcommit.py sends them
# (migration 0043): BATCH earns of random members in one ledger_post_credits(), one COMMIT. Run
# from the wrk connections / BATCH connections, so as many earns are in flight as in (a).
BATCH = 8
SQL_POST_CREDITS = (
    "SELECT * FROM ledger_post_credits($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
    " $14, $15, $16, $17, $18, $19, $20)"
)
_batch_members: list[int] = []  # the members a baseline process's batches draw from


async def earn_batch(conn: Any, member_id: int, amount: int, key: str) -> int:
    """BATCH earns (``member_id``'s and random members') as one statement; the first's entry."""
    caller, reason, now = f"staff:{STAFF_NAME}", "bench earn", datetime.now(UTC)
    members = [member_id, *random.sample(_batch_members, BATCH - 1)]
    requests = [_earn_request(m, amount, reason) for m in members]
    entry_event = _earn_event(amount, reason, now)

    def same(value: Any) -> list[Any]:
        return [value] * BATCH

    rows = await conn.fetch(
        SQL_POST_CREDITS,
        same(caller),
        [f"{key}:{i}" for i in range(BATCH)],
        same("earn"),
        [_fingerprint("earn", r) for r in requests],
        members,
        same("earn"),
        same(amount),
        same("issuance"),
        same(reason),
        same("api"),
        same(None),
        same(caller),
        same("staff"),
        same(None),
        same("{}"),
        same(now),
        same(now),
        same(now + timedelta(days=365)),
        same("points.earned"),
        same(json.dumps(entry_event)),
    )
    if any(row["out_outcome"] != "posted" for row in rows):
        raise RuntimeError(f"key {key}: the function did not post every earn: {rows}")
    return int(rows[0]["out_entry_id"])


# kind: (name, post, earns each call posts)
BASELINES = {
    "function": ("earn, raw asyncpg, one statement (floor)", earn_function, 1),
    "statements": ("earn, raw asyncpg, ten statements (old)", earn_raw, 1),
    "batched": (f"earn, raw asyncpg, batches of {BATCH} (group commit)", earn_batch, BATCH),
}


async def _baseline_process(
    kind: str,
    dsn: str,
    members: list[int],
    connections: int,
    start_at: float,
    warmup: float,
    seconds: float,
    tag: str,
) -> dict[str, Any]:

    conns = [await asyncpg.connect(dsn) for _ in range(connections)]
    _, post, earns = BASELINES[kind]
    _batch_members[:] = members
    backends = [conn.get_server_pid() for conn in conns]
    done = 0
    measure_from, until = start_at + warmup, start_at + warmup + seconds
    latencies: list[float] = []
    errors = 0

    async def loop(index: int, conn: Any) -> None:
        nonlocal errors, done
        rng = random.Random(f"{tag}:{index}")
        count = 0
        while (now := time.time()) < until:
            count += 1
            begun = time.perf_counter()
            try:
                await post(
                    conn, rng.choice(members), rng.randint(1, 100), f"{tag}:c{index}:{count}"
                )
            except Exception:
                errors += now >= measure_from
                continue
            done += earns
            if now >= measure_from and time.time() <= until:
                latencies.append(time.perf_counter() - begun)

    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu_before = time.process_time() + cpu_seconds(backends)
    try:
        await asyncio.gather(*(loop(i, c) for i, c in enumerate(conns)))
        cpu = time.process_time() + cpu_seconds(backends) - cpu_before
    finally:
        for conn in conns:
            await conn.close()
    return {"latencies": latencies, "errors": errors, "cpu": cpu, "done": done}


def _baseline_entry(*args: Any) -> dict[str, Any]:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(_baseline_process(*args))


def run_baseline(
    kind: str,
    url: str,
    members: list[int],
    *,
    connections: int,
    processes: int,
    warmup: float,
    seconds: float,
    run_id: str,
    scope: Scope | None = None,
) -> Result:
    """With ``scope``, the machine's CPU is read over the whole run (connects, warm-up and
    measured part) and divided by every transaction the raw clients made."""
    per_process = [
        connections // processes + (i < connections % processes) for i in range(processes)
    ]
    start_at = time.time() + 2.0  # time for every process to connect
    with cpu_window(scope) as window, ProcessPoolExecutor(max_workers=processes) as pool:
        futures = [
            pool.submit(
                _baseline_entry,
                kind,
                asyncpg_dsn(url),
                members,
                n,
                start_at,
                warmup,
                seconds,
                f"{run_id}:raw-{kind}:p{i}",
            )
            for i, n in enumerate(per_process)
        ]
        parts = [future.result(timeout=warmup + seconds + 120) for future in futures]
    latencies = sorted(lat for part in parts for lat in part["latencies"])
    return Result(
        name=BASELINES[kind][0],
        requests=len(latencies) * BASELINES[kind][2],
        seconds=seconds,
        p50_ms=_percentile(latencies, 50) * 1000,
        p99_ms=_percentile(latencies, 99) * 1000,
        errors=sum(part["errors"] for part in parts),
        detail=f"{processes} process(es) x {per_process} connections",
        cpu_ms=1000 * sum(p["cpu"] for p in parts) / max(1, sum(p["done"] for p in parts)),
        machine=replace(window.split, requests=sum(p["done"] for p in parts)) if window else None,
    )


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


# ----------------------------------------------------------------------------------- audit


async def audit(url: str) -> tuple[bool, str]:
    from app.clock import system_clock
    from app.db import create_engine
    from app.ledger.audit import audit_ledger

    engine = create_engine(url, pool_size=1)
    try:
        report = await audit_ledger(engine, system_clock.now())
    finally:
        await engine.dispose()
    return report.ok, report.render()


async def count_rows(url: str, member_ids: list[int]) -> dict[str, int]:

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        entries = await conn.fetchval(
            "SELECT count(*) FROM entries WHERE member_id >= $1 AND member_id <= $2",
            min(member_ids),
            max(member_ids),
        )
        settings = await conn.fetch(
            "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])",
            ["synchronous_commit", "fsync", "shared_buffers", "max_connections"],
        )
    finally:
        await conn.close()
    return {"entries": entries, **{row["name"]: row["setting"] for row in settings}}


# ------------------------------------------------------------------------------------ main


def print_table(results: list[Result]) -> None:
    print()
    print(
        f"{'scenario':44} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms':>7} {'errors':>6}"
        "  requests"
    )
    print("-" * 98)
    for r in results:
        print(
            f"{r.name:44} {r.rps:7.0f} {r.p50_ms:7.1f} {r.p99_ms:7.1f} {r.cpu_ms:7.2f} "
            f"{r.errors:6d}  {r.requests} in {r.seconds:.1f}s"
        )
    print("  (CPU ms: per request, the API workers or raw clients + the PostgreSQL backends)")
    for r in results:
        if r.detail:
            print(f"  {r.name}: {r.detail}")


def print_goals(named: dict[str, Result]) -> dict[str, float]:
    """The issue's goals, each against its baseline from this run; the ratios."""
    earn, earn16 = named.get("earn"), named.get("earn16")
    function, old, batched = named["function"], named["statements"], named["batched"]
    # The floor: the fastest of the raw transactions in this run (on a loaded machine the
    # one-statement earn has measured below the ten statements; never flatter the ratio).
    floor = max(function, old, batched, key=lambda result: result.rps)
    ratios: dict[str, float] = {}
    print()
    if earn is not None and floor.rps:
        ratios["earn/floor"] = earn.rps / floor.rps
        ratios["earn/old"] = earn.rps / old.rps if old.rps else 0.0
        met = ratios["earn/floor"] >= GOAL_RATIO
        print(
            f"earnPoints / raw floor ({floor.name}) = {ratios['earn/floor']:.2f} "
            f"(goal >= {GOAL_RATIO:.2f}: {'met' if met else 'NOT met'})"
            f"; / raw ten-statement earn = {ratios['earn/old']:.2f}; "
            f"{earn.rps:.0f} earns/s (goal >= {GOAL_EARNS:.0f}: "
            f"{'met' if earn.rps >= GOAL_EARNS else 'NOT met'})"
        )
        print(
            f"CPU per earn: API {earn.cpu_ms:.2f} ms, raw one statement {function.cpu_ms:.2f} ms, "
            f"raw ten statements {old.cpu_ms:.2f} ms, raw batches {batched.cpu_ms:.2f} ms"
        )
    if earn16 is not None:
        met = earn16.p99_ms <= GOAL_P99_MS
        print(
            f"earnPoints p99 at {earn16.name.split('@')[-1].strip()} = {earn16.p99_ms:.1f} ms "
            f"(goal <= {GOAL_P99_MS:.0f} ms: {'met' if met else 'NOT met'})"
        )
    balance, floor_api = named.get("balance"), named.get("typename")
    if balance is not None and floor_api is not None and floor_api.rps:
        ratios["balance/typename"] = balance.rps / floor_api.rps
        met = ratios["balance/typename"] >= GOAL_BALANCE_RATIO
        print(
            f"me {{ balance }} / {{ __typename }} = {ratios['balance/typename']:.2f} "
            f"(goal >= {GOAL_BALANCE_RATIO:.2f}: {'met' if met else 'NOT met'}); CPU per request "
            f"{balance.cpu_ms:.2f} vs {floor_api.cpu_ms:.2f} ms"
        )
    return ratios


def print_machine(results: list[Result], named: dict[str, Result]) -> None:
    """The whole machine's CPU per request over each window (bench/machine_cpu.py), and what
    the earn goal's rate would need at the earn's and at each raw transaction's cost."""
    print_splits(
        [(r.name, r.machine) for r in results], note="; a raw baseline's window is its whole run"
    )
    for key in ("earn", *BASELINES):
        split = named[key].machine if key in named else None
        if split is not None:
            print(f"  at {named[key].name}'s cost, {split.needs(GOAL_EARNS, 'earns/s')}")


def measure_phase(
    args: argparse.Namespace,
    url: str,
    workers: list[int],
    out: Path,
    phase: str,
    script: str,
    name: str,
    env: dict[str, str],
    *,
    connections: int | None = None,
    database: str | None = None,
    scope: Scope | None = None,
) -> Result:
    """A warm-up (figures dropped, own idempotency keys), then the measured wrk run; with
    ``database``, the CPU per request of the workers and that database's backends; with
    ``scope``, the whole machine's (bench/machine_cpu.py)."""
    options = {"connections": connections or args.connections, "threads": args.threads}
    if args.warmup:
        warm_env = {**env, "BENCH_RUN": env["BENCH_RUN"] + ":warm"}
        run_wrk(BENCH_DIR / script, url, warm_env, seconds=args.warmup, **options)
    counted = workers + (backend_pids(database) if database else [])
    before = cpu_seconds(counted)
    profilers = start_profiles(workers, args.duration, out, phase) if args.profile else []
    with cpu_window(scope) as window:
        figures = run_wrk(BENCH_DIR / script, url, env, seconds=args.duration, **options)
    cpu = cpu_seconds(counted) - before
    for proc in profilers:
        proc.wait(timeout=60)
    result = wrk_result(name, figures)
    if database:
        result.cpu_ms = 1000 * cpu / max(result.requests, 1)
    if window:
        result.machine = replace(window.split, requests=result.requests)
    return result


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=200, help="member tokens for (b)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--baseline-processes",
        type=int,
        default=None,
        help="processes for the raw baseline (default: as many as --workers)",
    )
    parser.add_argument("--baseline-only", action="store_true", help="skip the API phases")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the workers during the earn phase and summarise",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the server log, profiles and results.json",
    )
    args = parser.parse_args()
    for name in ("members", "tokens", "connections", "threads", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if not 1 <= args.duration <= 600 or not 0 <= args.warmup <= 120:
        parser.error("--duration must be 1..600 s and --warmup 0..120 s")
    return args


def main() -> int:
    args = parse_args()
    if not args.baseline_only and shutil.which("wrk") is None:
        print(
            "error: wrk is not installed (Debian/Ubuntu: apt-get install wrk); "
            "use --baseline-only to run just the raw asyncpg baseline",
            file=sys.stderr,
        )
        return 2
    database_url, redis_url, out, run_id = prepare_stage(
        "bench", DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, args.out
    )
    print(f"load average before the run: {load_average()} (other work skews the figures)")
    started = time.perf_counter()
    member_ids = asyncio.run(register_members(database_url, args.members, run_id))
    print(f"registered {len(member_ids)} members in {time.perf_counter() - started:.1f}s")

    results: list[Result] = []
    named: dict[str, Result] = {}
    profiles: dict[str, str] = {}
    database_name = asyncpg_dsn(database_url).rsplit("/", 1)[1].split("?")[0]
    if not args.baseline_only:
        staff_token, member_tokens = mint_tokens(member_ids, args.tokens)
        members_file, tokens_file = out / "members.txt", out / "tokens.txt"
        members_file.write_text("\n".join(map(str, member_ids)) + "\n")
        tokens_file.write_text("\n".join(member_tokens) + "\n")
        balance_env = {"BENCH_TOKENS": str(tokens_file)}
        env = server_env(database_url, redis_url, out)
        server = Server(env, args.workers, out / "server.log")
        try:
            server.wait_ready()
            workers = server.worker_pids()
            print(f"server {server.url} ready (supervisor {server.proc.pid}, workers {workers})")
            earn_env = {"BENCH_TOKEN": staff_token, "BENCH_MEMBERS": str(members_file)}
            few = max(1, args.connections // 2)
            phases = (
                ("typename", "typename.lua", "{ __typename } (the floor)", balance_env, None),
                ("earn", "earn.lua", "earn, API (earnPoints)", earn_env, None),
                ("earn16", "earn.lua", f"earn, API (earnPoints) @ {few} conns", earn_env, few),
                ("balance", "balance.lua", "balance, API (me { balance })", balance_env, None),
            )
            for phase, script, name, env_vars, connections in phases:
                result = measure_phase(
                    args,
                    server.url,
                    workers,
                    out,
                    phase,
                    script,
                    name,
                    {**env_vars, "BENCH_RUN": f"{run_id}:{phase}"},
                    connections=connections,
                    database=database_name,
                    scope=Scope(database_url, redis_url, [server.proc.pid, *workers]),
                )
                results.append(result)
                named[phase] = result
                print(f"  {name}: {result.rps:.0f} req/s, {result.cpu_ms:.2f} ms CPU", flush=True)
                if args.profile:
                    files = sorted(out.glob(f"{phase}-worker-*.txt"))
                    profiles[phase] = summarise_profiles(files)
        finally:
            server.stop()

    for kind in BASELINES:
        baseline = run_baseline(
            kind,
            database_url,
            member_ids,
            connections=max(1, args.connections // BASELINES[kind][2]),
            processes=args.baseline_processes or args.workers,
            warmup=args.warmup,
            seconds=args.duration,
            run_id=run_id,
            scope=Scope(database_url, redis_url, []),
        )
        results.append(baseline)
        named[kind] = baseline
        print(f"  {baseline.name}: {baseline.rps:.0f} txn/s, {baseline.cpu_ms:.2f} ms CPU")

    ok, report = asyncio.run(audit(database_url))
    facts = asyncio.run(count_rows(database_url, member_ids))
    print_table(results)
    ratios = print_goals(named)
    print_machine(results, named)
    print(
        f"\nmachine: {os.cpu_count()} CPU(s); PostgreSQL {facts}; "
        f"{args.connections} connections, {args.threads} wrk threads, "
        f"{args.workers} server workers, {len(member_ids)} members; "
        f"load average after the run {load_average()}"
    )
    for phase, text in profiles.items():
        print(f"\nserver profile during {phase} (py-spy, all workers):\n{text}")
        (out / f"profile-{phase}.txt").write_text(text + "\n")
    print("\nledger audit:\n" + report)
    (out / "results.json").write_text(
        json.dumps(
            {
                "results": [{**asdict(r), "rps": r.rps} for r in results],
                "ratios": ratios,
                "audit_ok": ok,
                "args": {k: str(v) for k, v in vars(args).items()},
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
