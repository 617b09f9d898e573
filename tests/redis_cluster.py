"""A real Redis Cluster on loopback for the tests: Debian's ``redis-server`` (7+, for sharded
pub/sub) started with ``--cluster-enabled yes``, joined by ``redis-cli --cluster create``, with
a replica per master so that a test can kill a master and watch the cluster fail over.

A missing binary is an error, never a skip (``.ci/run`` installs ``redis-server`` and
``redis-tools``). Ports come from ``JIFEN_TEST_CLUSTER_PORTS`` (``first-last``, default
7100-7199): the first ones free for both the client port and its cluster bus port (+10000), so two
test runs on one machine do not collide.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from app.embedded import stop_process

DEFAULT_PORTS = "7100-7199"
PR_SET_PDEATHSIG = 1  # prctl(2)
BUS_OFFSET = 10_000  # Redis's cluster bus listens on port + 10000
NODE_TIMEOUT_MS = 1_000  # how long a master may be silent before its replica takes over
READY_TIMEOUT = 30.0


class ClusterError(AssertionError):
    """The test cluster could not be started (or did not reach the state a test waits for)."""


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ClusterError(
            f"{name} is not installed: the Redis Cluster tests need Debian's redis-server and "
            "redis-tools packages (.ci/run installs them)"
        )
    return found


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int, spec: str | None = None) -> list[int]:
    first, last = (
        int(p)
        for p in (spec or os.environ.get("JIFEN_TEST_CLUSTER_PORTS") or DEFAULT_PORTS).split("-")
    )
    ports = [p for p in range(first, last + 1) if _port_free(p) and _port_free(p + BUS_OFFSET)]
    if len(ports) < count:
        raise ClusterError(f"fewer than {count} free ports in {first}-{last}")
    return ports[:count]


@dataclass
class Node:
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=0.5, decode_responses=True)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            binary("redis-server"),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",  # kept across a restart: the node rejoins
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            # A replica whose master died takes over whatever its replication lag.
            "--cluster-replica-validity-factor", "0",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--logfile", "redis.log",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        _wait(self._answers, f"redis-server on {self.port} did not start ({self.directory})")

    def _answers(self) -> bool:
        # A node that exited (its port taken meanwhile by another process's node) must not pass
        # for started because someone else's node answers on that port.
        if self.process is not None and self.process.poll() is not None:
            raise ClusterError(f"redis-server on {self.port} exited ({self.directory}/redis.log)")
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: connections break at once, as in a crash."""
        if self.process is not None:
            stop_process(self.process.pid, signal.SIGKILL, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process.pid, signal.SIGTERM, signal.SIGKILL)
            self.process.wait()
            self.process = None


def _die_with_parent() -> None:
    """In the child: a test run killed before its fixtures clean up takes its nodes with it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _wait(check: object, message: str, timeout: float = READY_TIMEOUT) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise ClusterError(message)


@dataclass
class RedisClusterNodes:
    """``masters`` masters with ``replicas`` replicas each, started by :meth:`start`."""

    directory: Path
    masters: int = 3
    replicas: int = 1
    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Jifen's setting for this cluster (every node a startup node)."""
        return "redis+cluster://" + ",".join(n.name for n in self.nodes)

    def start(self) -> None:
        binary("redis-cli")
        count = self.masters * (1 + self.replicas)
        self.nodes = [Node(p, self.directory / str(p)) for p in free_ports(count)]
        try:
            for node in self.nodes:
                node.start()
            create = [binary("redis-cli"), "--cluster", "create"]
            create += [n.name for n in self.nodes]
            create += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
            done = subprocess.run(create, capture_output=True, text=True, timeout=60)
            if done.returncode != 0:
                raise ClusterError(f"redis-cli --cluster create failed: {done.stdout}{done.stderr}")
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def node(self, port: int) -> Node:
        return next(n for n in self.nodes if n.port == port)

    def _view(self) -> list[dict[str, str]]:
        """``CLUSTER NODES`` as seen by a live node: port, flags and slots of every node."""
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                nodes = node.client().execute_command("CLUSTER NODES")
            except redis.RedisError:
                continue
            return [
                {
                    "port": address.split("@")[0].rsplit(":", 1)[1],
                    "flags": str(about["flags"]),
                    "slots": " ".join("-".join(r) for r in about["slots"]),
                }
                for address, about in nodes.items()
            ]
        return []

    def master_ports(self) -> list[int]:
        return sorted(
            int(r["port"])
            for r in self._view()
            if "master" in r["flags"] and "fail" not in r["flags"] and r["slots"]
        )

    def master_of(self, key: str) -> Node:
        """The node that owns ``key``'s slot now."""
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                slot = int(node.client().execute_command("CLUSTER KEYSLOT", key))
                shards = node.client().execute_command("CLUSTER SLOTS")
            except redis.RedisError:
                continue
            for start, end, master, *_ in shards:
                if start <= slot <= end:
                    return self.node(int(master[1]))
        raise ClusterError(f"no live node knows the owner of {key!r}")

    def _healthy(self) -> bool:
        live = [n for n in self.nodes if n.process is not None]
        for node in live:
            try:
                info = node.client().execute_command("CLUSTER INFO")
            except redis.RedisError:
                return False
            if info.get("cluster_state") != "ok":
                return False
        view = self._view()
        masters = [r for r in view if "master" in r["flags"] and r["slots"]]
        if len(masters) != self.masters or any("fail" in r["flags"] for r in masters):
            return False
        # Every live node is known to all as healthy (a restarted node rejoined as a replica).
        return all(
            "fail" not in r["flags"] for r in view if int(r["port"]) in {n.port for n in live}
        )

    def wait_healthy(self) -> None:
        _wait(self._healthy, "the Redis Cluster did not become healthy")

    def fail_over(self, key: str) -> tuple[Node, Node]:
        """Kill the master that owns ``key`` and wait until a replica has taken its slots;
        returns (killed, new master)."""
        old = self.master_of(key)
        old.kill()
        _wait(lambda: self.master_of(key).port != old.port, f"no replica took over from {old.name}")
        new = self.master_of(key)
        return old, new

    def move_slot(self, key: str, to: Node) -> None:
        """Migrate ``key``'s slot to the master ``to``, as resharding does (the slot must hold no
        keys: nothing is copied)."""
        source = self.master_of(key)
        slot = int(source.client().execute_command("CLUSTER KEYSLOT", key))
        source_id = source.client().execute_command("CLUSTER MYID")
        target_id = to.client().execute_command("CLUSTER MYID")
        to.client().execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
        source.client().execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
        for node in (to, source):
            node.client().execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
        _wait(lambda: self.master_of(key).port == to.port, f"slot {slot} did not move")
        self.wait_healthy()

    def restart(self, node: Node) -> None:
        """Start a killed node again: it rejoins (as a replica of whoever took its slots)."""
        node.start()
        self.wait_healthy()

    def flush(self) -> None:
        for port in self.master_ports():
            self.node(port).client().flushall()
