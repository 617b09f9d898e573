"""The embedded PostgreSQL and Redis: they start, answer, and stop (by PID) — also on Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.embedded import STATE_FILE, EmbeddedServices, pid_is_alive, wait_for_exit


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory outside pytest's temporary root: as root, pgserver opens the folders
    above its data to its own system user, and another pytest session starting on the machine
    closes pytest's root again (mode 0700) — initdb then fails half-way."""
    with tempfile.TemporaryDirectory(prefix="jifen-embedded-") as top:
        yield Path(top) / "data"


async def select_one(database_url: str) -> int:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            value: int = (await conn.execute(text("SELECT 1"))).scalar_one()
            return value
    finally:
        await engine.dispose()


async def redis_ping(redis_url: str) -> bool:
    client = Redis.from_url(redis_url)
    try:
        return bool(await client.ping())
    finally:
        await client.aclose()


async def redis_bind(redis_url: str) -> str:
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        config = await client.config_get("bind")
        return str(config["bind"])
    finally:
        await client.aclose()


async def test_embedded_services_answer_then_stop_by_pid(data_dir: Path) -> None:
    services = EmbeddedServices(data_dir)
    with services:
        assert services.postgres is not None and services.redis is not None
        postgres_pid, redis_pid = services.postgres.pid, services.redis.pid
        assert postgres_pid is not None and redis_pid is not None
        assert "/jifen?host=" in services.database_url
        assert await select_one(services.database_url) == 1
        assert await redis_ping(services.redis_url)
        assert await redis_bind(services.redis_url) == "127.0.0.1"
        assert services.redis_url.startswith("redis://127.0.0.1:")
        assert ":6379/" not in services.redis_url  # a port of its own, not the system Redis'

    assert not pid_is_alive(postgres_pid)
    assert not pid_is_alive(redis_pid)
    assert not (data_dir / STATE_FILE).exists()


async def test_a_second_process_attaches_and_leaves_the_servers_running(data_dir: Path) -> None:
    # The owner runs in a subprocess: ownership is per process, as with two `jifen` commands.
    owner = start_owner(data_dir)
    try:
        pids = read_owner_pids(owner)
        with EmbeddedServices(data_dir) as guest:
            assert guest.postgres is not None and guest.redis is not None
            assert (guest.postgres.pid, guest.redis.pid) == pids
            assert await select_one(guest.database_url) == 1
        assert all(pid_is_alive(pid) for pid in pids), "a guest must not stop the owner's servers"
    finally:
        owner.send_signal(signal.SIGINT)
        owner.wait(timeout=30)
    assert not any(pid_is_alive(pid) for pid in pids)


OWNER_SCRIPT = """
import json, sys, time
from pathlib import Path
from app.embedded import EmbeddedServices
with EmbeddedServices(Path(sys.argv[1])) as services:
    print(json.dumps([services.postgres.pid, services.redis.pid]), flush=True)
    while True:
        time.sleep(0.1)
"""


def _interruptible() -> None:
    # A shell that starts us in the background ignores SIGINT, and a child inherits that:
    # give the owner back the default so that Ctrl-C reaches it as it would in a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_owner(data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT, str(data_dir)],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,
    )


def read_owner_pids(owner: subprocess.Popen[str]) -> tuple[int, int]:
    assert owner.stdout is not None
    line = owner.stdout.readline()
    assert line, f"the owner process failed to start the services (exit {owner.poll()})"
    postgres_pid, redis_pid = json.loads(line)
    return postgres_pid, redis_pid


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "term"])
def test_a_signal_stops_everything_that_was_started(
    data_dir: Path, stop_signal: signal.Signals
) -> None:
    owner = start_owner(data_dir)
    try:
        pids = read_owner_pids(owner)
        assert all(pid_is_alive(pid) for pid in pids)
        owner.send_signal(stop_signal)
        owner.wait(timeout=30)
    finally:
        if owner.poll() is None:
            owner.kill()
    # The postmaster is not our child: give its exit a moment to be observed.
    assert all(wait_for_exit(pid, 5) for pid in pids)
