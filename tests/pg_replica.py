"""A real PostgreSQL streaming replica of the tests' database server, for the read-replica tests.

``pg_basebackup -R`` copies the primary (the server ``JIFEN_DATABASE_URL`` names: the machine's
PostgreSQL in CI) into a temporary folder, and a second ``postgres`` of the same major version
serves it as a hot standby on a free port, streaming from the primary. Debian's binaries are
found under ``/usr/lib/postgresql/<major>/bin`` (or ``JIFEN_TEST_PG_BIN``). PostgreSQL refuses
to run as root: as root, the folder belongs to the ``postgres`` user and the servers run as it.

The primary must accept replication connections from 127.0.0.1: when it does not, a line
``host replication all 127.0.0.1/32 trust`` is added to its ``pg_hba.conf`` and the
configuration reloaded (the tests run next to the server, like ``.ci/run``). ``wal_level`` must
be ``replica`` or ``logical`` and ``max_wal_senders`` above 0 (PostgreSQL's defaults): otherwise
the fixture fails and says so. A missing binary fails, never skips.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from app.embedded import free_local_port, stop_process

PR_SET_PDEATHSIG = 1  # prctl(2)
# A shared, loaded machine's disk makes a checkpoint (base backup, restartpoint) and a
# restart's replay slow: generous bounds, a failure only when something is really stuck.
READY_TIMEOUT = 180.0
STATEMENT_TIMEOUT = 300
REPLICATION_HBA = "host replication all 127.0.0.1/32 trust"


class ReplicaError(AssertionError):
    """The test replica could not be made or started."""


def _die_with_parent() -> None:
    """In the child: a test run killed before its fixtures clean up takes its server with it."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Primary:
    host: str
    port: int
    user: str
    database: str

    def sql(self, query: str, *, replication: bool = False) -> str:
        """One statement through psql; its output unaligned, without headers."""
        target = f"host={self.host} port={self.port} user={self.user} dbname={self.database}"
        if replication:
            target += " replication=true"  # physical, as pg_basebackup
        done = subprocess.run(
            [shutil.which("psql") or "psql", target, "-XtAqc", query],
            capture_output=True,
            text=True,
            timeout=STATEMENT_TIMEOUT,
        )
        if done.returncode != 0:
            raise ReplicaError(f"psql on the primary failed: {query}: {done.stderr.strip()}")
        return done.stdout.strip()


def primary_of(database_url: str) -> Primary:
    url = make_url(database_url)
    return Primary(
        url.host or "127.0.0.1", url.port or 5432, url.username or "postgres", url.database or ""
    )


@dataclass
class StreamingReplica:
    """A hot standby of ``primary`` (start with :meth:`create`; :meth:`stop`, :meth:`start`)."""

    primary: Primary
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="jifen-replica-")))
    port: int = 0
    bin_dir: Path = Path()
    process: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self) -> str:
        return f"postgresql+asyncpg://{self.primary.user}@127.0.0.1:{self.port}/{self.primary.database}"

    # -- making it ---------------------------------------------------------------------------

    def create(self) -> None:
        try:
            self.bin_dir = self._bin_dir()
            self._allow_replication()
            self._own_directory()
            self.port = free_local_port()
            self._run(
                self._binary("pg_basebackup"),
                "-h", self.primary.host,
                "-p", str(self.primary.port),
                "-U", self.primary.user,
                "-D", str(self.data),
                "-R",  # standby.signal and primary_conninfo: it streams from the primary
                "-X", "stream",
                "-c", "fast",
                "-N",  # no fsync of the copy: a test's (minutes instead of seconds on this disk)
            )  # fmt: skip
            self._configure()
            self.start()
        except BaseException:
            self.remove()
            raise

    def _bin_dir(self) -> Path:
        configured = os.environ.get("JIFEN_TEST_PG_BIN")
        if configured:
            return Path(configured)
        major = int(self.primary.sql("SHOW server_version_num")) // 10_000
        return Path(f"/usr/lib/postgresql/{major}/bin")

    def _binary(self, name: str) -> str:
        path = self.bin_dir / name
        if not path.is_file():
            raise ReplicaError(
                f"{path} is missing: the replica tests need Debian's PostgreSQL server binaries "
                "of the primary's major version (.ci/run uses the machine's PostgreSQL)"
            )
        return str(path)

    def _allow_replication(self) -> None:
        wal_level = self.primary.sql("SHOW wal_level")
        senders = int(self.primary.sql("SHOW max_wal_senders"))
        if wal_level not in {"replica", "logical"} or senders < 1:
            raise ReplicaError(
                f"the primary cannot stream (wal_level={wal_level}, max_wal_senders={senders}): "
                "set wal_level=replica and max_wal_senders>=2 and restart it"
            )
        try:
            self.primary.sql("IDENTIFY_SYSTEM", replication=True)
            return
        except ReplicaError:
            pass
        # First: the first line that matches decides (Debian's own replication lines ask for a
        # password).
        hba = Path(self.primary.sql("SHOW hba_file"))
        hba.write_text(
            f"# jifen tests: streaming replicas (tests/pg_replica.py)\n{REPLICATION_HBA}\n"
            + hba.read_text()
        )
        self.primary.sql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10
        while True:
            try:
                self.primary.sql("IDENTIFY_SYSTEM", replication=True)
                return
            except ReplicaError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _own_directory(self) -> None:
        self.directory.chmod(0o700)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")

    def _configure(self) -> None:
        # A hot standby needs these at least as large as the primary's.
        copied = {
            name: self.primary.sql(f"SHOW {name}")
            for name in (
                "max_connections",
                "max_worker_processes",
                "max_wal_senders",
                "max_prepared_transactions",
                "max_locks_per_transaction",
            )
        }
        settings = {
            **copied,
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.directory}'",
            "hot_standby": "on",
            "hot_standby_feedback": "on",
            "shared_buffers": "'32MB'",
            "fsync": "off",  # a test's copy: nothing to keep after a crash
            "logging_collector": "off",
            "hba_file": f"'{self.data / 'pg_hba.conf'}'",
            "ident_file": f"'{self.data / 'pg_ident.conf'}'",
            "data_directory": f"'{self.data}'",
            "external_pid_file": "''",
            "ssl": "off",
            "cluster_name": "'jifen-test-replica'",
        }
        lines = "".join(f"{name} = {value}\n" for name, value in settings.items())
        conf = self.data / "postgresql.conf"
        # Appended: a later line wins over one the primary's data folder brought along.
        with conf.open("a") as config:
            config.write("\n# tests/pg_replica.py\n" + lines)
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        )
        (self.data / "pg_ident.conf").touch()
        for path in (conf, self.data / "pg_hba.conf", self.data / "pg_ident.conf"):
            if os.geteuid() == 0:
                shutil.chown(path, "postgres", "postgres")

    def _run(self, *command: str) -> None:
        user = self._os_user()
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=STATEMENT_TIMEOUT,
            user=user,
            group=user,
        )
        if done.returncode != 0:
            raise ReplicaError(f"{command[0]} failed: {done.stderr.strip()}")

    @staticmethod
    def _os_user() -> str | None:
        """Who runs the server: ``postgres`` when we are root (PostgreSQL refuses root)."""
        if os.geteuid() != 0:
            return None
        pwd.getpwnam("postgres")  # KeyError names the missing user
        return "postgres"

    # -- running it --------------------------------------------------------------------------

    def start(self) -> None:
        log = (self.directory / "postgres.log").open("ab")
        user = self._os_user()
        self.process = subprocess.Popen(
            [self._binary("postgres"), "-D", str(self.data)],
            stdout=log,
            stderr=log,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            user=user,
            group=user,
        )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ReplicaError(f"the replica's postgres exited: {self._log_tail()}")
            if self._answers():
                return
            time.sleep(0.1)
        raise ReplicaError(f"the replica did not accept connections: {self._log_tail()}")

    def _answers(self) -> bool:
        done = self._sql("SELECT pg_is_in_recovery()")
        return done.returncode == 0 and done.stdout.strip() == "t"

    def _sql(self, query: str) -> subprocess.CompletedProcess[str]:
        target = (
            f"host=127.0.0.1 port={self.port} user={self.primary.user} "
            f"dbname={self.primary.database}"
        )
        return subprocess.run(
            [shutil.which("psql") or "psql", target, "-XtAqc", query],
            capture_output=True,
            text=True,
            timeout=STATEMENT_TIMEOUT,
        )

    def _restartpoint(self) -> None:
        """Let a restart start from now: a standby restarts from its last restartpoint, made
        only at a checkpoint of the primary it replayed; without one it would replay all the
        WAL since the base backup (a minute on a busy shared machine)."""
        self.primary.sql("CHECKPOINT")
        target = self.primary.sql("SELECT pg_current_wal_lsn()")
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            done = self._sql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")
            if done.stdout.strip() == "t" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self._sql("CHECKPOINT")

    def _log_tail(self) -> str:
        path = self.directory / "postgres.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    def stop(self, *, restartable: bool = True) -> None:
        """A fast shutdown (SIGINT): sessions end at once, as when a replica goes away."""
        if self.process is not None:
            if restartable:
                self._restartpoint()
            stop_process(self.process.pid, signal.SIGINT, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def remove(self) -> None:
        self.stop(restartable=False)
        shutil.rmtree(self.directory, ignore_errors=True)
