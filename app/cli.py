"""The ``jifen`` command line: serve, worker, migrate, seed, token, apikey, audit, export-schema.

Every command that needs PostgreSQL or Redis takes them from ``JIFEN_DATABASE_URL`` /
``JIFEN_REDIS_URL``, or starts the embedded servers under ``JIFEN_DATA_DIR`` for as long as the
command runs (:func:`resolved_settings`). Modules of other layers are imported inside the commands:
the CLI stays importable, and quick commands stay quick.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError

from app.config import Settings, get_settings
from app.logging import configure_logging

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from app.events.broadcast import EventHub
    from app.leaderboards.boards import PeriodKind
    from app.runtime import Runtime

T = TypeVar("T")

JWT_SECRET_FILE = "jwt_secret"
# The demo console account's password, generated once per data folder (never in production).
CONSOLE_PASSWORD_FILE = "console_password"
# prometheus-client's multiprocess mode reads its folder from here (app/metrics.py).
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
DEMO_STAFF_NAME = "admin"

cli = typer.Typer(
    name="jifen",
    help="Jifen, a real-time loyalty-points engine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
apikey_cli = typer.Typer(help="Create and revoke partner API keys.", no_args_is_help=True)
cli.add_typer(apikey_cli, name="apikey")
leaderboards_cli = typer.Typer(help="Leaderboard maintenance.", no_args_is_help=True)
analytics_cli = typer.Typer(help="Analytics rollups and exports.", no_args_is_help=True)
cli.add_typer(analytics_cli, name="analytics")
export_cli = typer.Typer(help="CSV exports, streamed to standard output.", no_args_is_help=True)
analytics_cli.add_typer(export_cli, name="export")
report_cli = typer.Typer(help="Reports for operators.", no_args_is_help=True)
cli.add_typer(report_cli, name="report")
segments_cli = typer.Typer(help="RFM segments of members.", no_args_is_help=True)
cli.add_typer(segments_cli, name="segments")
cli.add_typer(leaderboards_cli, name="leaderboards")
jobs_cli = typer.Typer(help="Scheduled jobs: list them, run one now.", no_args_is_help=True)
cli.add_typer(jobs_cli, name="jobs")
staff_cli = typer.Typer(
    help="Staff accounts for the console: create, disable, reset a password.",
    no_args_is_help=True,
)
cli.add_typer(staff_cli, name="staff")
widget_key_cli = typer.Typer(
    help="Public widget keys, each reading one leaderboard (docs/WIDGETS.md).",
    no_args_is_help=True,
)
cli.add_typer(widget_key_cli, name="widget-key")


class StaffRole(StrEnum):
    # Mirrors app.auth.principal.Role; kept here so that parsing options imports no auth code.
    ADMIN = "admin"
    OPERATOR = "operator"
    ANALYST = "analyst"


def main() -> None:
    cli()


def load_settings() -> Settings:
    # Fresh from the environment on every command (get_settings() caches, which would leak one
    # invocation's environment into the next when commands run in one process, as in tests).
    try:
        return Settings()
    except ValidationError as error:
        # A setting that makes no sense (a short JWT secret in production...) stops the command
        # with the reason, not a traceback.
        reasons = "; ".join(
            str(problem["msg"]).removeprefix("Value error, ") for problem in error.errors()
        )
        raise fail(f"bad settings: {reasons}") from None


@cli.callback()
def _configure() -> None:
    configure_logging(load_settings())


# ---------------------------------------------------------------------------------------------
# Shared helpers: URLs, the JWT secret, the runtime
# ---------------------------------------------------------------------------------------------


@contextmanager
def resolved_settings(settings: Settings, *, need_redis: bool = True) -> Iterator[Settings]:
    """``settings`` with its service URLs filled in, for the duration of the block.

    A URL missing from the environment is served by an embedded server started under
    ``settings.data_dir`` and stopped when the block ends (Ctrl-C included).
    """
    start_postgres = settings.database_url is None
    start_redis = need_redis and settings.redis_url is None
    if not (start_postgres or start_redis):
        yield settings
        return

    from app.embedded import EmbeddedServices

    typer.echo(f"starting embedded services under {settings.data_dir} ...", err=True)
    with EmbeddedServices(settings.data_dir, postgres=start_postgres, redis=start_redis) as svc:
        urls: dict[str, str] = {}
        if start_postgres:
            urls["database_url"] = svc.database_url
        if start_redis:
            urls["redis_url"] = svc.redis_url
        yield settings.model_copy(update=urls)


def database_url_of(settings: Settings) -> str:
    if settings.database_url is None:
        raise RuntimeError("no database URL: use resolved_settings() first")
    return settings.database_url


def with_jwt_secret(settings: Settings) -> Settings:
    """``settings`` with a JWT secret: the configured one, else one kept in ``data_dir``.

    The generated secret is stored (mode 0600) so tokens stay valid across restarts.
    """
    if settings.jwt_secret:
        return settings
    return settings.model_copy(update={"jwt_secret": _stored_jwt_secret(settings.data_dir)})


def _stored_jwt_secret(data_dir: Path) -> str:
    return _stored_secret(data_dir, JWT_SECRET_FILE)


def _stored_secret(data_dir: Path, name: str) -> str:
    path = data_dir / name
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once must not each write a different secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as file:
        file.write(secret + "\n")
    return secret


def export_to_environment(settings: Settings) -> None:
    """Put the resolved URLs and secret where uvicorn's worker processes will read them."""
    exported = {
        "JIFEN_DATABASE_URL": settings.database_url,
        "JIFEN_REDIS_URL": settings.redis_url,
        "JIFEN_JWT_SECRET": settings.jwt_secret,
    }
    for name, value in exported.items():
        if value is not None:
            os.environ[name] = value
    get_settings.cache_clear()


def wire_domains() -> None:
    """Import every domain, as the server does: each registers its hooks (app/hooks.py) and its
    audit checks on import, and a command that skipped them would act on half a programme."""
    import app.tables  # noqa: F401


@asynccontextmanager
async def open_runtime(
    settings: Settings, pool_size: int = 2, hub: EventHub | None = None
) -> AsyncIterator[Runtime]:
    """A Runtime for one CLI command (by default a small pool; wall clock), with ``hub`` for a
    process that has one (``jifen worker``: its webhook sender hears other processes' wakes)."""
    from app.clock import system_clock
    from app.db import create_engine
    from app.redisclient import open_redis
    from app.replicas import open_replicas
    from app.runtime import Runtime

    if settings.redis_url is None:
        raise RuntimeError("no Redis URL: use resolved_settings() first")
    wire_domains()
    engine = create_engine(database_url_of(settings), pool_size=pool_size)
    redis = open_redis(
        settings.redis_url,
        pool_size=settings.redis_pool_size,
        pool_timeout=settings.redis_pool_timeout_seconds,
    )
    # A command reads nothing on a replica, but its writes (a job's, a campaign's) are marked
    # for the members they touched, for the API's reads (app/replicas.py): the replicas' only
    # use here, so no health loop and no connection to them.
    replicas = (
        open_replicas(
            engine,
            settings.database_replica_urls,
            redis,
            pool_size=1,
            max_lag_seconds=settings.replica_max_lag_seconds,
            check_seconds=settings.replica_check_seconds,
        )
        if settings.database_replica_urls
        else None
    )
    try:
        yield Runtime(
            settings=settings,
            engine=engine,
            redis=redis,
            clock=system_clock,
            hub=hub,
            replicas=replicas,
        )
    finally:
        if replicas is not None:
            await replicas.dispose()
        await redis.aclose()
        await engine.dispose()


def run_in_transaction(settings: Settings, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on the configured database, from synchronous code."""
    from app.db import create_engine, unit_of_work

    wire_domains()

    async def run() -> T:
        engine = create_engine(database_url_of(settings), pool_size=1)
        try:
            async with unit_of_work(engine) as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def migrate_database(settings: Settings) -> None:
    from app.migrate import upgrade

    upgrade(database_url_of(settings))


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


# ---------------------------------------------------------------------------------------------
# serve
# ---------------------------------------------------------------------------------------------


async def _seed(settings: Settings) -> int:
    from app.seed import seed_demo

    async with open_runtime(settings) as runtime:
        summary = await seed_demo(runtime)
    return summary.demo_member_id


def mint(settings: Settings, subject: str, roles: list[str]) -> str:
    from app.auth.tokens import mint_token

    return mint_token(settings, subject, roles)


def _demo_console_password(settings: Settings) -> str:
    """The demo admin's console password: made once per data folder, and the account created
    with it when it does not exist yet (an existing account keeps its password)."""
    from app.auth.principal import Role
    from app.auth.staff import ensure_staff

    password = _stored_secret(settings.data_dir, CONSOLE_PASSWORD_FILE)
    run_in_transaction(
        settings, lambda conn: ensure_staff(conn, DEMO_STAFF_NAME, Role.ADMIN, password)
    )
    return password


def _print_banner(
    settings: Settings, host: str, port: int, demo_member_id: int | None, console_password: str
) -> None:
    if settings.is_production:
        # Tokens in a console end up in log archives: production mints them on request only.
        typer.echo(f"Jifen is serving GraphQL at http://{host}:{port}/graphql (production)")
        typer.echo(f"the console is at http://{host}:{port}/console (jifen staff create)")
        return
    staff_token = mint(settings, f"staff:{DEMO_STAFF_NAME}", [StaffRole.ADMIN.value])
    lines = [
        "",
        f"Jifen is serving GraphQL (GraphiQL in a browser) at http://{host}:{port}/graphql",
        "",
        f"console (运营后台) at http://{host}:{port}/console",
        f"  sign in as {DEMO_STAFF_NAME} / {console_password}",
        "",
        f"staff token (staff:{DEMO_STAFF_NAME}, role admin):",
        f"  {staff_token}",
    ]
    if demo_member_id is not None:
        member_token = mint(settings, f"member:{demo_member_id}", [])
        lines += [f"demo member token (member {demo_member_id}):", f"  {member_token}"]
    lines += ["", 'Send one as "Authorization: Bearer <token>". Ctrl-C stops everything.', ""]
    typer.echo("\n".join(lines))


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    workers: Annotated[int | None, typer.Option(help="uvicorn worker processes.")] = None,
    migrate: Annotated[bool, typer.Option(help="Migrate the database first.")] = True,
    seed: Annotated[bool, typer.Option(help="Seed the demo programme first.")] = True,
    access_log: Annotated[bool, typer.Option(help="Log every HTTP request.")] = False,
) -> None:
    """Migrate, seed the demo programme, and serve GraphQL (embedded servers when unset).

    Replicas behind a load balancer pass --no-migrate --no-seed and leave both to one job.
    """
    import uvicorn

    base = load_settings()
    host, port, workers = host or base.host, port or base.port, workers or base.workers
    try:
        with metrics_folder(), resolved_settings(base) as settings:
            settings = with_jwt_secret(settings)
            export_to_environment(settings)
            if migrate:
                migrate_database(settings)
            demo_member_id = asyncio.run(_seed(settings)) if seed else None
            console_password = "" if settings.is_production else _demo_console_password(settings)
            _print_banner(settings, host, port, demo_member_id, console_password)
            uvicorn.run(
                "app.web:create_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_config=None,  # keep our structured logging
                access_log=access_log,
                # Compression cost ~45 KiB per WebSocket (bench/fanout.py); frames are small.
                ws_per_message_deflate=False,
                # A bigger message is refused anyway (docs/API.md "Limits"): never buffer it.
                ws_max_size=settings.max_request_bytes,
                timeout_worker_healthcheck=settings.worker_healthcheck_seconds,
            )
    except KeyboardInterrupt:
        # uvicorn may re-raise Ctrl-C after its graceful shutdown; the embedded servers have
        # been stopped by the time we get here.
        pass
    typer.echo("stopped", err=True)


@contextmanager
def metrics_folder() -> Iterator[Path]:
    """A fresh folder for prometheus-client's multiprocess mode, in the environment of this
    process and of the uvicorn workers it starts (docs/OPERATIONS.md, "Metrics").

    Set before anything imports prometheus-client: it picks its mode at import. An operator's
    ``PROMETHEUS_MULTIPROC_DIR`` is used, emptied first (values left by an earlier run would be
    added to this one's); otherwise a temporary folder, removed when serving ends.
    """
    configured = os.environ.get(METRICS_DIR_ENV)
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        yield folder
        return
    folder = Path(tempfile.mkdtemp(prefix="jifen-metrics-"))
    os.environ[METRICS_DIR_ENV] = str(folder)
    try:
        yield folder
    finally:
        os.environ.pop(METRICS_DIR_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# worker
# ---------------------------------------------------------------------------------------------


async def _run_worker(settings: Settings) -> None:
    import signal

    from app.analytics.runner import rollups_running
    from app.events.gateway import event_gateway
    from app.jobs.runner import scheduled_jobs
    from app.leaderboards.runner import projector_running
    from app.logging import get_logger
    from app.members.service import channels_of_members
    from app.monitoring import metrics_port
    from app.webhooks.backlog import backlog_gauges
    from app.webhooks.runner import webhooks_running

    log = get_logger("app.worker")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The outbox relay competes for leadership with the API processes' relays: whichever holds
    # the lock publishes. The leaderboard projector may run anywhere (it applies each event
    # once however many run), and so may the analytics rollups'. Scheduled jobs: each runs in
    # one process at a time (app/jobs). Webhooks: any number of workers deliver, each message
    # leased to one (app/webhooks).
    # The configured pool, not a command's two connections: each job run holds one connection
    # for its lock and needs another to work, and the interval jobs all start at once.
    async with (
        event_gateway(settings, relay=True) as hub,
        open_runtime(settings, settings.db_pool_size, hub) as runtime,
        projector_running(runtime),
        rollups_running(runtime),
        scheduled_jobs(runtime),
        webhooks_running(runtime, channels_of_members),
        metrics_port(runtime, (backlog_gauges,)),
    ):
        log.info("worker.started")
        await stop.wait()
    log.info("worker.stopped")


@cli.command()
def worker() -> None:
    """Run the background worker: the outbox relay, the leaderboard and analytics projectors,
    the scheduled jobs (docs/LIFECYCLE.md) and webhook delivery (docs/WEBHOOKS.md) until
    stopped; /metrics on JIFEN_METRICS_PORT when set."""
    with resolved_settings(load_settings()) as settings:
        asyncio.run(_run_worker(settings))
    typer.echo("stopped", err=True)


# ---------------------------------------------------------------------------------------------
# migrate, seed
# ---------------------------------------------------------------------------------------------


@cli.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    with resolved_settings(load_settings(), need_redis=False) as settings:
        migrate_database(settings)
    typer.echo("database migrated")


@cli.command()
def seed() -> None:
    """Migrate, then seed the demo programme (running it again changes nothing)."""
    with resolved_settings(load_settings()) as settings:
        migrate_database(settings)
        demo_member_id = asyncio.run(_seed(settings))
    typer.echo(f"demo programme seeded; demo member id {demo_member_id}")


# ---------------------------------------------------------------------------------------------
# token
# ---------------------------------------------------------------------------------------------


@cli.command()
def token(
    member: Annotated[int | None, typer.Option(help="Member id (a member token).")] = None,
    staff: Annotated[str | None, typer.Option(help="Staff name (a staff token).")] = None,
    role: Annotated[
        list[StaffRole] | None, typer.Option(help="Staff role; repeat for several.")
    ] = None,
) -> None:
    """Print a development JWT for a member or a staff user."""
    if (member is None) == (staff is None):
        raise fail("give exactly one of --member ID or --staff NAME")
    if member is not None and role:
        raise fail("members have no roles; --role goes with --staff")
    subject = f"member:{member}" if member is not None else f"staff:{staff}"
    settings = with_jwt_secret(load_settings())
    try:
        typer.echo(mint(settings, subject, [r.value for r in role or []]))
    except ValueError as error:
        raise fail(str(error)) from error


# ---------------------------------------------------------------------------------------------
# staff
# ---------------------------------------------------------------------------------------------

PasswordFromStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input (scripts); else prompt.",
    ),
]


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return password


@staff_cli.command("create")
def staff_create(
    name: Annotated[str, typer.Argument(help="The name staff sign in with.")],
    role: Annotated[StaffRole, typer.Option(help="admin, operator or analyst.")],
    password_stdin: PasswordFromStdin = False,
) -> None:
    """Create a staff account for the console (docs/CONSOLE.md)."""
    from app.auth.principal import Role
    from app.auth.staff import create_staff

    password = read_password(password_stdin)
    with resolved_settings(load_settings(), need_redis=False) as settings:
        try:
            run_in_transaction(
                settings, lambda conn: create_staff(conn, name, Role(role.value), password)
            )
        except _domain_error_type() as error:
            raise fail(str(error)) from error
    typer.echo(f"staff {name} created ({role.value})")


@staff_cli.command("disable")
def staff_disable(name: Annotated[str, typer.Argument(help="The staff name.")]) -> None:
    """Disable a staff account: it can no longer sign in, and its open sessions end."""
    from app.auth.staff import disable_staff

    with resolved_settings(load_settings(), need_redis=False) as settings:
        disabled = run_in_transaction(settings, lambda conn: disable_staff(conn, name))
    if not disabled:
        raise fail(f"no enabled staff named {name!r}", code=1)
    typer.echo(f"staff {name} disabled")


@staff_cli.command("reset-password")
def staff_reset_password(
    name: Annotated[str, typer.Argument(help="The staff name.")],
    password_stdin: PasswordFromStdin = False,
) -> None:
    """Set a new password; the account's open sessions end."""
    from app.auth.staff import reset_password

    password = read_password(password_stdin)
    with resolved_settings(load_settings(), need_redis=False) as settings:
        try:
            found = run_in_transaction(settings, lambda conn: reset_password(conn, name, password))
        except _domain_error_type() as error:
            raise fail(str(error)) from error
    if not found:
        raise fail(f"no staff named {name!r}", code=1)
    typer.echo(f"password of {name} reset")


@widget_key_cli.command("create")
def widget_key_create(
    board: Annotated[str, typer.Option(help="The one board the key reads.")] = "points-earned",
) -> None:
    """Create a public widget key for a leaderboard widget (docs/WIDGETS.md) and print it."""
    from app.auth.widgetkeys import create_widget_key

    with resolved_settings(load_settings(), need_redis=False) as settings:
        try:
            key = run_in_transaction(settings, lambda conn: create_widget_key(conn, board))
        except _domain_error_type() as error:
            raise fail(str(error)) from error
    typer.echo(key)


@widget_key_cli.command("revoke")
def widget_key_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix.")]) -> None:
    """Revoke a widget key by its prefix (new connections with it are refused)."""
    from app.auth.widgetkeys import revoke_widget_key

    with resolved_settings(load_settings(), need_redis=False) as settings:
        revoked = run_in_transaction(settings, lambda conn: revoke_widget_key(conn, prefix))
    if not revoked:
        raise fail(f"no active widget key with prefix {prefix!r}", code=1)
    typer.echo(f"revoked {prefix}")


# ---------------------------------------------------------------------------------------------
# apikey
# ---------------------------------------------------------------------------------------------


def _domain_error_type() -> type[Exception]:
    from app.errors import DomainError

    return DomainError


@apikey_cli.command("create")
def apikey_create(
    partner: Annotated[str, typer.Option(help="Partner name.")],
    channel: Annotated[str, typer.Option(help="The channel the key acts for.")],
    scope: Annotated[
        list[str] | None, typer.Option(help="An operation the key may call; repeat.")
    ] = None,
) -> None:
    """Create a partner API key and print it (the secret is shown only this once)."""
    from app.auth.apikeys import create_api_key

    if not scope:
        raise fail("give at least one --scope")
    with resolved_settings(load_settings(), need_redis=False) as settings:
        try:
            key = run_in_transaction(
                settings, lambda conn: create_api_key(conn, partner, channel, scope)
            )
        except _domain_error_type() as error:
            raise fail(str(error)) from error
    typer.echo(key)


@apikey_cli.command("revoke")
def apikey_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix.")]) -> None:
    """Revoke a partner API key by its prefix."""
    from app.auth.apikeys import revoke_api_key

    with resolved_settings(load_settings(), need_redis=False) as settings:
        revoked = run_in_transaction(settings, lambda conn: revoke_api_key(conn, prefix))
    if not revoked:
        raise fail(f"no active key with prefix {prefix!r}", code=1)
    typer.echo(f"revoked {prefix}")


# ---------------------------------------------------------------------------------------------
# analytics
# ---------------------------------------------------------------------------------------------


@analytics_cli.command("rebuild")
def analytics_rebuild() -> None:
    """Rebuild the KPI rollups from the ledger (the projector carries on from there)."""
    from app.analytics.rebuild import rebuild

    async def run(settings: Settings) -> str:
        async with open_runtime(settings) as runtime:
            done = await rebuild(runtime)
        return f"rebuilt the rollups up to event {done.horizon}: {done.flows} rows"

    with resolved_settings(load_settings()) as settings:
        typer.echo(asyncio.run(run(settings)))


@segments_cli.command("compute")
def segments_compute() -> None:
    """Recompute every member's RFM scores and segment now (the daily job does the same)."""
    from app.segments.usecases import recompute_segments

    async def run(settings: Settings) -> str:
        async with open_runtime(settings) as runtime:
            done = await recompute_segments(runtime)
        return f"placed {done.members} members, {done.changed} changed segment"

    with resolved_settings(load_settings()) as settings:
        typer.echo(asyncio.run(run(settings)))


@segments_cli.command("campaign-run")
def segments_campaign_run(
    code: str,
    chunk: int = typer.Option(200, "--chunk", min=1, help="members credited per transaction"),
) -> None:
    """Credit a segment campaign's pending members now, a chunk at a time (the
    segment-campaigns job does the same; safe after a crash and alongside it)."""
    from app.segments.campaigns import campaign_by_code, run_campaign

    async def run(settings: Settings) -> str:
        async with open_runtime(settings) as runtime:
            found = await campaign_by_code(runtime, code)
            done = await run_campaign(runtime, found.id, chunk=chunk)
        return (
            f"{done.code}: {done.status}, {done.granted_members} credited "
            f"({done.granted_points} points), {done.skipped_members} skipped"
        )

    with resolved_settings(load_settings()) as settings:
        typer.echo(asyncio.run(run(settings)))


def parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} takes a date, YYYY-MM-DD: {value[:40]!r}") from None


def stream_out(make: Callable[[Runtime], AsyncIterator[str]]) -> None:
    """Write a streamed export to standard output, chunk by chunk."""
    from app.errors import DomainError

    async def run(settings: Settings) -> None:
        async with open_runtime(settings) as runtime:
            async for chunk in make(runtime):
                sys.stdout.write(chunk)

    with resolved_settings(load_settings(), need_redis=False) as settings:
        try:
            asyncio.run(run(settings))
        except DomainError as error:
            raise fail(error.message) from error


@export_cli.command("balances")
def export_balances() -> None:
    """Every member's balance as CSV (docs/ANALYTICS.md, "Exports")."""
    from app.analytics.exports import member_balances

    stream_out(member_balances)


@export_cli.command("transactions")
def export_transactions(
    since: Annotated[str, typer.Option("--from", help="First business day, YYYY-MM-DD.")],
    until: Annotated[str, typer.Option("--to", help="Last business day, YYYY-MM-DD.")],
) -> None:
    """Every ledger entry of a period of business days as CSV."""
    from app.analytics.exports import transactions

    start, end = parse_day(since, "--from"), parse_day(until, "--to")
    stream_out(lambda runtime: transactions(runtime, start, end))


@report_cli.command("weekly")
def report_weekly(
    week: Annotated[
        str | None, typer.Option(help="The week's Monday, YYYY-MM-DD (default: last week).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the HTML and CSV files.")] = Path("."),
) -> None:
    """The weekly operations report (积分运营周报): the week against the week before, as HTML
    (charts embedded) and CSV."""
    from app.analytics.usecases import weekly_report
    from app.errors import DomainError

    start = parse_day(week, "--week") if week is not None else None

    async def run(settings: Settings) -> tuple[str, str, str]:
        async with open_runtime(settings) as runtime:
            report = await weekly_report(runtime, start)
        return report.week_start.isoformat(), report.html, report.csv

    with resolved_settings(load_settings(), need_redis=False) as settings:
        try:
            monday, html, csv = asyncio.run(run(settings))
        except DomainError as error:
            raise fail(error.message) from error
    out.mkdir(parents=True, exist_ok=True)
    for suffix, content in (("html", html), ("csv", csv)):
        path = out / f"weekly-report-{monday}.{suffix}"
        path.write_text(content, encoding="utf-8")
        typer.echo(str(path))


# ---------------------------------------------------------------------------------------------
# leaderboards
# ---------------------------------------------------------------------------------------------


BoardOption = Annotated[str, typer.Option(help="The board.")]
PeriodOption = Annotated[
    list[str] | None,
    typer.Option(help="daily, weekly, monthly or all-time; repeat; default all of them."),
]
AtOption = Annotated[
    str | None,
    typer.Option(help="The periods containing this ISO date/time (default now)."),
]


def board_periods(
    board: str, period: list[str] | None, at: str | None, timezone: str
) -> tuple[list[PeriodKind], datetime | None]:
    """The period kinds and instant of a leaderboards command's options (exit 2 when bad)."""
    from app.errors import DomainError
    from app.leaderboards.boards import get_board, parse_kind

    try:
        get_board(board)
        kinds = [parse_kind(p) for p in period or []]
        moment = datetime.fromisoformat(at) if at is not None else None
    except (DomainError, ValueError) as error:
        raise fail(str(error)) from error
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return kinds, moment


@leaderboards_cli.command("rebuild")
def leaderboards_rebuild(
    board: BoardOption = "points-earned", period: PeriodOption = None, at: AtOption = None
) -> None:
    """Rebuild a board's current periods from the ledger (after Redis lost its data)."""
    from app.leaderboards.rebuild import rebuild

    base = load_settings()
    kinds, moment = board_periods(board, period, at, base.timezone)

    async def run(settings: Settings) -> str:
        async with open_runtime(settings) as runtime:
            report = await rebuild(runtime, board, kinds or None, at=moment)
        lines = [f"rebuilt {report.board} up to event {report.horizon}:"]
        lines += [f"  {name}: {count} members" for name, count in report.periods.items()]
        lines += [f"  {name}: skipped (past its keep time)" for name in report.skipped]
        return "\n".join(lines)

    with resolved_settings(base) as settings:
        typer.echo(asyncio.run(run(settings)))


@leaderboards_cli.command("check")
def leaderboards_check(
    board: BoardOption = "points-earned", period: PeriodOption = None, at: AtOption = None
) -> None:
    """Compare every member's points on a board's periods with the ledger; exit 1 on a
    difference (`jifen leaderboards rebuild` repairs it)."""
    from app.leaderboards.check import check_board

    base = load_settings()
    kinds, moment = board_periods(board, period, at, base.timezone)

    async def run(settings: Settings) -> tuple[str, bool]:
        async with open_runtime(settings) as runtime:
            report = await check_board(runtime, board, kinds or None, at=moment)
        return report.render(), report.ok

    with resolved_settings(base) as settings:
        text, ok = asyncio.run(run(settings))
    typer.echo(text)
    if not ok:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------------
# jobs
# ---------------------------------------------------------------------------------------------


@jobs_cli.command("list")
def jobs_list() -> None:
    """Every scheduled job with its schedule and last run."""
    from app.jobs.usecases import list_jobs

    async def run(settings: Settings) -> str:
        async with open_runtime(settings) as runtime:
            statuses = await list_jobs(runtime)
        lines = []
        for status in statuses:
            last = status.last_run
            outcome = "never ran" if last is None else f"{last.status} at {last.started_at:%c}"
            lines.append(f"{status.job.name:24} {status.job.schedule:16} {outcome}")
        return "\n".join(lines)

    with resolved_settings(load_settings()) as settings:
        typer.echo(asyncio.run(run(settings)))


@jobs_cli.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="The job's name (jifen jobs list).")],
) -> None:
    """Run one job now, here (refused while another process runs it)."""
    from app.errors import DomainError
    from app.jobs.usecases import run_now

    async def run(settings: Settings) -> str:
        async with open_runtime(settings) as runtime:
            done = await run_now(runtime, name)
        return f"{done.job}: {done.status} {done.result or ''} {done.error or ''}".strip()

    with resolved_settings(load_settings()) as settings:
        try:
            typer.echo(asyncio.run(run(settings)))
        except DomainError as error:
            raise fail(error.message) from error


# ---------------------------------------------------------------------------------------------
# audit, export-schema
# ---------------------------------------------------------------------------------------------


@cli.command()
def audit(
    boards: Annotated[
        bool, typer.Option("--boards", help="Also check every leaderboard against the ledger.")
    ] = False,
) -> None:
    """Check the ledger's invariants; exit 1 with a readable report when one fails."""
    from app.clock import system_clock
    from app.ledger.audit import run_audit

    with resolved_settings(load_settings(), need_redis=boards) as settings:
        policy = settings.negative_balance_policy
        report = run_in_transaction(
            settings, lambda conn: run_audit(conn, system_clock.now(), policy)
        )
        typer.echo(report.render())
        ok = report.ok
        if boards:
            rendered, boards_ok = asyncio.run(_check_boards(settings))
            typer.echo(rendered)
            ok = ok and boards_ok
    if not ok:
        raise typer.Exit(1)


async def _check_boards(settings: Settings) -> tuple[str, bool]:
    from app.leaderboards.boards import BOARDS
    from app.leaderboards.check import check_board

    async with open_runtime(settings) as runtime:
        checks = [await check_board(runtime, name) for name in BOARDS]
    return "\n".join(c.render() for c in checks), all(c.ok for c in checks)


def schema_sdl() -> str:
    """The GraphQL schema as committed in ``schema.graphql`` (SDL, one trailing newline)."""
    from app.graphql.schema import schema

    return str(schema).rstrip("\n") + "\n"


@cli.command("export-schema")
def export_schema(
    output: Annotated[Path, typer.Option(help="Where to write the SDL.")] = Path("schema.graphql"),
) -> None:
    """Write the GraphQL schema (SDL) exported from the code."""
    output.write_text(schema_sdl(), encoding="utf-8")
    typer.echo(f"wrote {output}")


if __name__ == "__main__":
    main()
