"""``jifen leaderboards rebuild`` against the test services."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.leaderboards.boards import board_key
from app.leaderboards.projector import apply_pending
from app.runtime import Runtime
from tests.leaderboards.conftest import board_rows, earn, new_member, period

runner = CliRunner()


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    assert settings.database_url and settings.redis_url
    return {
        "JIFEN_DATABASE_URL": settings.database_url,
        "JIFEN_REDIS_URL": settings.redis_url,
        "JIFEN_DATA_DIR": str(tmp_path / "data"),
        "JIFEN_LOG_JSON": "false",
    }


async def test_rebuild_restores_the_board(
    runtime: Runtime, redis: Redis, cli_env: dict[str, str]
) -> None:
    a, b = await new_member(runtime), await new_member(runtime)
    await earn(runtime, a, 30)
    await earn(runtime, b, 40)
    await apply_pending(runtime)
    before = await board_rows(redis, period("all-time"))
    await redis.flushdb()
    # The command runs its own event loop: run it in a thread so this test's loop stays free.
    import asyncio

    result = await asyncio.to_thread(
        runner.invoke,
        cli,
        ["leaderboards", "rebuild", "--period", "all-time", "--period", "monthly"],
        env=cli_env,
    )
    assert result.exit_code == 0, result.output
    assert "all-time:all: 2 members" in result.output
    assert await board_rows(redis, period("all-time")) == before


def test_rebuild_refuses_unknown_boards_and_periods(cli_env: dict[str, str]) -> None:
    result = runner.invoke(cli, ["leaderboards", "rebuild", "--board", "nope"], env=cli_env)
    assert result.exit_code == 2
    assert "does not exist" in result.output
    result = runner.invoke(cli, ["leaderboards", "rebuild", "--period", "yearly"], env=cli_env)
    assert result.exit_code == 2
    assert "period must be one of" in result.output


async def test_check_passes_on_a_projected_board_and_fails_on_a_tampered_one(
    runtime: Runtime, redis: Redis, cli_env: dict[str, str]
) -> None:
    import asyncio

    member = await new_member(runtime)
    await earn(runtime, member, 30)
    await apply_pending(runtime)
    for command in (["leaderboards", "check"], ["audit", "--boards"]):
        result = await asyncio.to_thread(runner.invoke, cli, command, env=cli_env)
        assert result.exit_code == 0, result.output
        assert "board points-earned matches the ledger" in result.output
    all_time = board_key("points-earned", period("all-time"))
    [(element, _)] = await redis.zrange(all_time, 0, -1, withscores=True)
    await redis.zincrby(all_time, 5, element)
    for command in (["leaderboards", "check"], ["audit", "--boards"]):
        result = await asyncio.to_thread(runner.invoke, cli, command, env=cli_env)
        assert result.exit_code == 1, result.output
        assert f"DIFFERENT all-time:all member {member}: board 35, ledger 30" in result.output
