"""Whole-machine CPU per request over a measured window, and where it went (issue 21).

The benches' "CPU ms" column sums the API workers and the database's backends alive at the end:
it misses a backend that exited in the window, Redis, the load generator and the kernel. This
reads the machine's own account instead, ``/proc/stat`` (busy = total - idle - iowait, every
core) at the window's start and end, and splits it:

- **API**: the server's processes (its supervisor and workers), ``/proc/<pid>/stat``;
- **PostgreSQL**: the bench database's backends, sampled every :data:`SAMPLE_SECONDS` by a
  thread (the postmaster's children), so a backend born in the window counts whole and one that
  exited counts up to its last sample; plus the server's own processes (the postmaster, WAL
  writer, checkpointer…, shared by every database on it). A backend that lived less than one
  sample is missed (its CPU falls in "rest"); ``backends born`` says how many were seen;
- **Redis**: the ``redis-server`` listening on the bench's Redis port;
- **load generator**: the bench process's own CPU (its client, if it has one, and this sampler)
  and the children it reaped in the window (wrk, the raw baseline's processes), by rusage;
- **rest**: the machine's busy time not in the above: the kernel's softirq (loopback
  networking), other processes on the machine (on a shared box, other people's work).

    with cpu_window(Scope(database_url, redis_url, api_pids)) as window:
        ...  # the measured load
    split = replace(window.split, requests=answered)
    print(split.line())
    print(split.needs(1000))  # "1,000 req/s needs X cores on this machine"
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple, TypeVar

import asyncpg

SAMPLE_SECONDS = 0.05
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
T = TypeVar("T")


class Scope(NamedTuple):
    """What a window splits out: the bench's database and Redis, the API server's processes."""

    database_url: str
    redis_url: str
    api_pids: list[int]


@dataclass
class CpuSplit:
    """CPU seconds over one window (or several, added up), by whom, and the requests (or
    transactions) answered in it."""

    requests: int = 0
    wall: float = 0.0
    machine: float = 0.0
    api: float = 0.0
    postgres_backends: float = 0.0
    postgres_server: float = 0.0
    redis: float = 0.0
    load_generator: float = 0.0
    backends_born: int = 0
    # New sessions on the bench's database in pg_stat_database: every one that ended in the
    # window, however short (a session counts itself at the latest when it ends).
    sessions_opened: int = 0

    def __add__(self, other: CpuSplit) -> CpuSplit:
        return CpuSplit(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def postgres(self) -> float:
        return self.postgres_backends + self.postgres_server

    @property
    def rest(self) -> float:
        return self.machine - self.api - self.postgres - self.redis - self.load_generator

    @property
    def ms_per_request(self) -> float:
        return 1000 * self.machine / max(self.requests, 1)

    def line(self) -> str:
        """Whole-machine CPU per request and its split, in ms per request."""

        def ms(seconds: float) -> str:
            return f"{1000 * seconds / max(self.requests, 1):.2f}"

        cores = self.machine / self.wall if self.wall else 0.0
        return (
            f"machine {ms(self.machine)} ms/req ({cores:.2f} of {CORES} cores busy over "
            f"{self.wall:.1f} s): API {ms(self.api)}, PostgreSQL {ms(self.postgres)} "
            f"(backends {ms(self.postgres_backends)}, server {ms(self.postgres_server)}; "
            f"{self.backends_born} backends seen born, {self.sessions_opened} new sessions in "
            f"pg_stat_database), Redis {ms(self.redis)}, load generator "
            f"{ms(self.load_generator)}, rest {ms(self.rest)}"
        )

    def needs(self, rate: float, unit: str = "req/s") -> str:
        """The arithmetic: ``rate`` a second at this CPU per request needs so many cores."""
        cores = rate * self.ms_per_request / 1000
        return f"{rate:,.0f} {unit} needs {cores:.2f} cores on this machine (it has {CORES})"


class Window:
    """One measured window: :meth:`start`, the load, :meth:`stop`; then :attr:`split`."""

    def __init__(self, scope: Scope) -> None:
        self.database_url = scope.database_url
        self.database = _database_name(scope.database_url)
        self.postmaster = postmaster_of(scope.database_url)
        self.redis = redis_server_pid(scope.redis_url)
        self.api_pids = scope.api_pids
        self.split = CpuSplit()
        self._born: set[int] = set()  # PostgreSQL pids first seen after the start
        self._first: dict[int, int] = {}  # PostgreSQL pid -> its CPU ticks when first seen
        self._last: dict[int, int] = {}
        self._kind: dict[int, str] = {}  # "backend" (ours), "server" or "other" (not counted)
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def start(self) -> None:
        self._sessions = sessions_so_far(self.database_url)
        self._started_at = time.monotonic()
        self._machine = machine_busy_ticks()
        self._api = _ticks(self.api_pids)
        self._redis = _ticks([self.redis] if self.redis else [])
        self._rusage = _rusage_seconds()
        self._sample(born_in_window=False)
        self._sampler.start()

    def stop(self) -> None:
        self._stop.set()
        self._sampler.join()
        self._sample(born_in_window=True)
        ticks = {"backend": 0, "server": 0}
        for pid, last in self._last.items():
            kind = self._kind[pid]
            if kind in ticks:
                ticks[kind] += last - self._first[pid]
        self.split = CpuSplit(
            wall=time.monotonic() - self._started_at,
            machine=(machine_busy_ticks() - self._machine) / CLOCK_TICKS,
            api=(_ticks(self.api_pids) - self._api) / CLOCK_TICKS,
            postgres_backends=ticks["backend"] / CLOCK_TICKS,
            postgres_server=ticks["server"] / CLOCK_TICKS,
            redis=(_ticks([self.redis] if self.redis else []) - self._redis) / CLOCK_TICKS,
            load_generator=_rusage_seconds() - self._rusage,
            backends_born=sum(1 for pid in self._born if self._kind[pid] == "backend"),
            # Less the connection that read the count at the start.
            sessions_opened=sessions_so_far(self.database_url) - self._sessions - 1,
        )

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample(born_in_window=True)

    def _sample(self, *, born_in_window: bool) -> None:
        """Read the PostgreSQL processes' CPU; a pid not seen at the start was born in the
        window, so all its CPU is the window's."""
        if self.postmaster is None:
            return
        for pid in [self.postmaster, *_children(self.postmaster)]:
            kind = self._kind.get(pid) or self._classify(pid)
            if kind is None:
                continue  # just forked, not titled yet: the next sample tells
            self._kind[pid] = kind
            if kind == "other":
                continue
            ticks = _ticks([pid])
            if not ticks:
                continue  # gone between the listing and the read
            if pid not in self._first:
                self._first[pid] = 0 if born_in_window else ticks
                if born_in_window:
                    self._born.add(pid)
            self._last[pid] = ticks

    def _classify(self, pid: int) -> str | None:
        """A client backend of the bench's database, the server's own process, or another
        database's backend (not ours to count); None for a child still titled as its parent."""
        if pid == self.postmaster:
            return "server"
        try:
            title = _title(pid)
        except OSError:
            return "other"
        if not title.startswith("postgres:"):
            return None
        words = title.split()
        if self.database in words[1:5]:
            return "backend"
        # Client backends are titled "postgres: user database host(port) state"; the server's
        # own processes have no client address ("postgres: checkpointer", "… walwriter").
        return "other" if re.search(r"\(\d+\)|\[local\]", title) else "server"


@contextlib.contextmanager
def cpu_window(scope: Scope | None) -> Iterator[Window | None]:
    """A measured window over the block (nothing measured, None, without a scope)."""
    if scope is None:
        yield None
        return
    window = Window(scope)
    window.start()
    try:
        yield window
    finally:
        window.stop()


def print_splits(named: list[tuple[str, CpuSplit | None]], note: str = "") -> None:
    """One line per measured scenario, under a heading that says what is measured."""
    measured = [(name, split) for name, split in named if split is not None]
    if not measured:
        return
    print(
        "\nwhole-machine CPU per request (/proc/stat, busy = total - idle - iowait, over each "
        f"measured window{note}), in ms:"
    )
    for name, split in measured:
        print(f"  {name}: {split.line()}")


def machine_busy_ticks() -> int:
    """Every core's busy time so far: total - idle - iowait (``/proc/stat``'s first line: user,
    nice, system, idle, iowait, irq, softirq, steal; guest time is inside user already)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle, iowait = values[3], values[4]
    return sum(values) - idle - iowait


def _ticks(pids: list[int]) -> int:
    """User + system CPU ticks of these processes so far (one gone counts 0)."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(stat[11]) + int(stat[12])
    return total


def _rusage_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


def _children(pid: int) -> list[int]:
    try:
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except OSError:
        return []


def _title(pid: int) -> str:
    """A process's title (PostgreSQL and Redis rewrite theirs: "postgres: user db …")."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?")[0]


def _ask(database_url: str, question: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """``question`` answered on a connection of its own, from sync code or inside a running
    event loop (in a thread of its own)."""
    dsn = re.sub(r"^postgresql\+asyncpg://", "postgresql://", database_url)

    async def ask() -> T:
        conn = await asyncpg.connect(dsn)
        try:
            return await question(conn)
        finally:
            await conn.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, ask()).result(timeout=30)


@lru_cache(maxsize=8)
def postmaster_of(database_url: str) -> int | None:
    """The PostgreSQL server process of ``database_url``, if it runs on this machine: the
    parent of a backend we open for the asking (None when the server is elsewhere)."""

    async def parent_of_our_backend(conn: asyncpg.Connection) -> int | None:
        return _parent(conn.get_server_pid())  # while it lives: it exits with the connection

    return _ask(database_url, parent_of_our_backend)


def sessions_so_far(database_url: str) -> int:
    """PostgreSQL's count of sessions ever opened on the database (``pg_stat_database``)."""

    async def sessions(conn: asyncpg.Connection) -> int:
        count: int = await conn.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        )
        return count

    return _ask(database_url, sessions)


@lru_cache(maxsize=8)
def redis_server_pid(redis_url: str) -> int | None:
    """The ``redis-server`` on this machine titled with the URL's port (None if none is)."""
    port = re.search(r":(\d+)(?:/|$)", redis_url.split("@")[-1])
    wanted = f":{port[1] if port else 6379}"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            title = _title(int(entry.name))
            if title.startswith("redis-server") and title.split()[-1].endswith(wanted):
                return int(entry.name)
    return None
