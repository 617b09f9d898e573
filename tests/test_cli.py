"""The `jifen` command line against the test database (the same services as every test).

The tests are synchronous because the commands run their own event loops (asyncio.run).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner, Result

from app.auth.principal import Principal, Role
from app.auth.tokens import decode_token
from app.cli import cli, schema_sdl
from app.config import Settings
from app.lifecycle.audit import LIFECYCLE_CHECKS
from app.mall.audit import MALL_CHECKS

runner = CliRunner()


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    assert settings.database_url and settings.redis_url and settings.jwt_secret
    return {
        "JIFEN_DATABASE_URL": settings.database_url,
        "JIFEN_REDIS_URL": settings.redis_url,
        "JIFEN_JWT_SECRET": settings.jwt_secret,
        "JIFEN_DATA_DIR": str(tmp_path / "data"),
        "JIFEN_LOG_JSON": "false",
    }


def jifen(env: dict[str, str], *args: str) -> Result:
    return runner.invoke(cli, list(args), env=env)


def test_serve_gives_workers_the_configured_time_to_answer_a_ping(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(options))
    env = {**cli_env, "JIFEN_WORKER_HEALTHCHECK_SECONDS": "45"}
    result = jifen(env, "serve", "--no-migrate", "--no-seed", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert started["workers"] == 2
    assert started["timeout_worker_healthcheck"] == 45


def test_migrate_exits_zero_on_a_migrated_database(cli_env: dict[str, str]) -> None:
    result = jifen(cli_env, "migrate")
    assert result.exit_code == 0, result.output
    assert "database migrated" in result.output


def test_audit_passes_on_a_consistent_ledger(cli_env: dict[str, str]) -> None:
    result = jifen(cli_env, "audit")
    assert result.exit_code == 0, result.output
    assert "ledger audit passed" in result.output


def test_audit_in_its_own_process_runs_every_domains_checks(cli_env: dict[str, str]) -> None:
    # In its own process: this test process has imported every domain already, so an audit
    # that forgot to would still show their checks here.
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "audit"],
        env={**os.environ, **cli_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    checks = result.stdout
    assert "each engagement points reward is its ledger earn" in checks  # the ledger's own
    assert any(name in checks for name in MALL_CHECKS)
    assert any(name in checks for name in LIFECYCLE_CHECKS)


def test_seed_then_audit_passes(cli_env: dict[str, str]) -> None:
    seeded = jifen(cli_env, "seed")
    assert seeded.exit_code == 0, seeded.output
    assert "demo member id 1" in seeded.output
    assert jifen(cli_env, "seed").exit_code == 0  # seeding again changes nothing
    result = jifen(cli_env, "audit")
    assert result.exit_code == 0, result.output


def test_audit_fails_with_a_report_when_a_balance_is_tampered_with(
    cli_env: dict[str, str],
) -> None:
    assert jifen(cli_env, "seed").exit_code == 0
    tamper = "UPDATE accounts SET available = available + 7 WHERE kind = 'member'"
    asyncio.run(execute(cli_env["JIFEN_DATABASE_URL"], tamper))

    result = jifen(cli_env, "audit")

    assert result.exit_code == 1, result.output
    assert "[FAIL]" in result.output
    assert "ledger audit FAILED" in result.output


async def execute(database_url: str, sql: str) -> None:
    # Sync tests: the CLI runs its own event loops, so this helper brings its own engine too.
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def test_token_for_a_member_names_the_member(cli_env: dict[str, str], settings: Settings) -> None:
    result = jifen(cli_env, "token", "--member", "42")
    assert result.exit_code == 0, result.output
    assert decode_token(settings, result.output.strip()) == Principal.member(42)


def test_token_for_staff_carries_its_roles(cli_env: dict[str, str], settings: Settings) -> None:
    result = jifen(cli_env, "token", "--staff", "alice", "--role", "operator", "--role", "analyst")
    assert result.exit_code == 0, result.output
    principal = decode_token(settings, result.output.strip())
    assert principal == Principal.staff("alice", {Role.OPERATOR, Role.ANALYST})


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--member", "1", "--staff", "bob"],
        ["--member", "1", "--role", "admin"],
        ["--member", "0"],
        ["--staff", "bob", "--role", "owner"],
    ],
)
def test_token_refuses_unclear_requests(cli_env: dict[str, str], args: list[str]) -> None:
    result = jifen(cli_env, "token", *args)
    assert result.exit_code == 2, result.output


def test_token_without_a_configured_secret_uses_one_kept_in_the_data_dir(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {key: value for key, value in cli_env.items() if key != "JIFEN_JWT_SECRET"}
    first, second = jifen(env, "token", "--member", "1"), jifen(env, "token", "--member", "1")
    assert first.exit_code == second.exit_code == 0, first.output + second.output

    secret_file = tmp_path / "data" / "jwt_secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    settings = Settings(jwt_secret=secret_file.read_text().strip(), _env_file=None)  # type: ignore[call-arg]
    assert decode_token(settings, first.output.strip()) == Principal.member(1)
    assert decode_token(settings, second.output.strip()) == Principal.member(1)


def test_apikey_create_then_revoke(cli_env: dict[str, str]) -> None:
    created = jifen(
        cli_env, "apikey", "create", "--partner", "acme", "--channel", "pos",
        "--scope", "points:earn",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    prefix = created.output.strip().split("_")[1]

    assert jifen(cli_env, "apikey", "revoke", prefix).exit_code == 0
    assert jifen(cli_env, "apikey", "revoke", prefix).exit_code == 1  # already revoked


def test_apikey_create_refuses_an_unknown_scope(cli_env: dict[str, str]) -> None:
    result = jifen(
        cli_env, "apikey", "create", "--partner", "acme", "--channel", "pos", "--scope", "root"
    )
    assert result.exit_code == 2
    assert "unknown scopes" in result.output


def test_export_schema_writes_the_sdl(cli_env: dict[str, str], tmp_path: Path) -> None:
    output = tmp_path / "schema.graphql"
    result = jifen(cli_env, "export-schema", "--output", str(output))
    assert result.exit_code == 0, result.output
    assert output.read_text(encoding="utf-8") == schema_sdl()
    assert "type Query" in output.read_text(encoding="utf-8")


def test_jobs_list_and_run(cli_env: dict[str, str]) -> None:
    listed = jifen(cli_env, "jobs", "list")
    assert listed.exit_code == 0, listed.output
    assert "expiry-sweep" in listed.output and "never ran" in listed.output
    ran = jifen(cli_env, "jobs", "run", "expiry-sweep")
    assert ran.exit_code == 0, ran.output
    assert "expiry-sweep: succeeded" in ran.output
    assert "succeeded" in jifen(cli_env, "jobs", "list").output
    unknown = jifen(cli_env, "jobs", "run", "no-such-job")
    assert unknown.exit_code == 2 and "does not exist" in unknown.output


def test_staff_create_disable_and_reset_password(cli_env: dict[str, str]) -> None:
    created = runner.invoke(
        cli,
        ["staff", "create", "li.wei", "--role", "analyst", "--password-stdin"],
        env=cli_env,
        input="correct horse battery\n",
    )
    assert created.exit_code == 0, created.output
    again = runner.invoke(
        cli,
        ["staff", "create", "li.wei", "--role", "admin", "--password-stdin"],
        env=cli_env,
        input="correct horse battery\n",
    )
    assert again.exit_code == 2 and "exists" in again.output
    short = runner.invoke(
        cli, ["staff", "reset-password", "li.wei", "--password-stdin"], env=cli_env, input="x\n"
    )
    assert short.exit_code == 2 and "at least" in short.output
    reset = runner.invoke(
        cli,
        ["staff", "reset-password", "li.wei", "--password-stdin"],
        env=cli_env,
        input="another good one\n",
    )
    assert reset.exit_code == 0, reset.output
    assert jifen(cli_env, "staff", "disable", "li.wei").exit_code == 0
    assert jifen(cli_env, "staff", "disable", "li.wei").exit_code == 1  # already disabled
    unknown = runner.invoke(
        cli, ["staff", "reset-password", "nobody", "--password-stdin"], env=cli_env, input="x" * 12
    )
    assert unknown.exit_code == 1


def test_widget_key_create_then_revoke(cli_env: dict[str, str]) -> None:
    created = jifen(cli_env, "widget-key", "create", "--board", "points-earned")
    assert created.exit_code == 0, created.output
    key = created.output.strip()
    assert key.startswith("jfw_")
    prefix = key.split("_")[1]
    assert jifen(cli_env, "widget-key", "revoke", prefix).exit_code == 0
    assert jifen(cli_env, "widget-key", "revoke", prefix).exit_code == 1  # already revoked
    unknown = jifen(cli_env, "widget-key", "create", "--board", "no-such-board")
    assert unknown.exit_code == 2
