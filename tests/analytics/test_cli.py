"""``jifen analytics rebuild|export`` and ``jifen report weekly`` against the test services."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date
from pathlib import Path
from uuid import uuid4

import pytest
from typer.testing import CliRunner

from app.analytics import usecases as analytics
from app.cli import cli
from app.clock import business_date
from app.config import Settings
from app.ledger import usecases as ledger
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.members import usecases as members
from app.runtime import Runtime

STAFF = Actor("staff:tester", "test", frozenset({"admin"}), kind="staff")
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


async def test_rebuild_then_exports_and_the_weekly_report(
    runtime: Runtime, cli_env: dict[str, str], tmp_path: Path
) -> None:
    done = await members.register_member(runtime, channel="pos", external_ref=uuid4().hex)
    await ledger.earn_points(
        runtime,
        STAFF,
        Earn(member_id=done.member.id, amount=70, reason="t"),
        idempotency_key=uuid4().hex,
    )
    # The CLI runs on the wall clock, the entries on the test's: ask for the day they are on.
    day = business_date(runtime.clock.now(), runtime.settings.timezone)

    def run(*args: str) -> str:
        result = runner.invoke(cli, list(args), env=cli_env)
        assert result.exit_code == 0, result.output
        return result.output

    assert "rebuilt the rollups" in await asyncio.to_thread(run, "analytics", "rebuild")
    kpis = await analytics.programme_kpis(runtime, day, day)
    assert kpis.outstanding == 70
    balances = await asyncio.to_thread(run, "analytics", "export", "balances")
    assert [r["total"] for r in csv.DictReader(io.StringIO(balances))] == ["70"]
    entries = await asyncio.to_thread(
        run, "analytics", "export", "transactions", "--from", str(day), "--to", str(day)
    )
    assert [r["amount"] for r in csv.DictReader(io.StringIO(entries))] == ["70"]
    out = await asyncio.to_thread(
        run, "report", "weekly", "--week", "2026-11-30", "--out", str(tmp_path)
    )
    written = [Path(line).name for line in out.splitlines() if line.startswith(str(tmp_path))]
    assert sorted(written) == [
        "weekly-report-2026-11-30.csv",
        "weekly-report-2026-11-30.html",
    ]


def test_bad_dates_exit_with_a_clear_error(cli_env: dict[str, str]) -> None:
    result = runner.invoke(
        cli,
        ["analytics", "export", "transactions", "--from", "x", "--to", "2026-01-01"],
        env=cli_env,
    )
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output
    monday_not = runner.invoke(cli, ["report", "weekly", "--week", "2026-12-01"], env=cli_env)
    assert monday_not.exit_code == 2 and "Monday" in monday_not.output
    assert date(2026, 12, 1).weekday() != 0
