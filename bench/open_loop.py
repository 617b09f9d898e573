"""The house's open-loop HTTP client: requests on a schedule fixed before the run, latency from
each request's *scheduled* send time to its answer (no coordinated omission), used by
bench/checkin_open.py and bench/expiry.py.

One dispatcher sleeps until each scheduled time and starts the request as its own task, so a
slow answer never holds the next send back; the aiohttp pool (``args.pool`` connections) opens
connections as needed, and the sends that found it full are counted ("held by the pool": must be
0 for the schedule to be the one measured), as is the dispatcher's lag behind the schedule.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.machine_cpu import CpuSplit

# ---------------------------------------------------------------------------------- schedule


def schedule(rate: float, count: int, arrivals: str, rng: random.Random) -> list[float]:
    """Send offsets (seconds from the phase's start) of ``count`` requests at ``rate``: a
    Poisson process (exponential gaps) or evenly spaced."""
    times: list[float] = []
    at = 0.0
    for _ in range(count):
        at += rng.expovariate(rate) if arrivals == "poisson" else 1.0 / rate
        times.append(at)
    return times


@dataclass
class Phase:
    """One phase's figures; latencies in seconds from each request's scheduled send time."""

    name: str
    offered_rps: float
    requests: int
    scheduled_rps: float = 0.0  # this schedule's own rate: requests / its last send offset
    # The answers: good ones, and the errors by kind.
    ok: int = 0
    non200: int = 0
    gql_errors: int = 0
    timeouts: int = 0
    conn_errors: int = 0
    # The client keeping to its schedule.
    held_by_pool: int = 0
    max_in_flight: int = 0
    max_send_lag_ms: float = 0.0
    # Latency and throughput.
    seconds: float = 0.0  # first scheduled send to last answer
    achieved_rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    # The cost.
    cpu_ms: float = 0.0  # API workers + PostgreSQL backends, per request
    client_cpu_ms: float = 0.0
    machine: CpuSplit | None = None  # the whole machine's CPU over the phase, split
    # Each API worker's CPU over the phase and the connections it holds at its end: a shared
    # listening socket may give one worker most of the keep-alive connections.
    worker_cpu_s: list[float] = field(default_factory=list)
    worker_connections: list[int] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.non200 + self.gql_errors + self.timeouts + self.conn_errors


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, round(pct / 100 * len(values)) - 1))]


async def drive(
    session: aiohttp.ClientSession,
    url: str,
    phase: Phase,
    bodies: list[tuple[bytes, str, str]],
    offsets: list[float],
    args: argparse.Namespace,
) -> None:
    """Send ``bodies[i]`` (body, token, marker expected in a good answer) at ``offsets[i]``
    after the start, each as its own task; fill ``phase`` with the outcome."""
    latencies: list[float] = []
    last_answer = 0.0
    in_flight = 0
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    loop = asyncio.get_running_loop()

    async def one(body: bytes, token: str, marker: str, scheduled: float) -> None:
        nonlocal in_flight, last_answer
        in_flight += 1
        phase.max_in_flight = max(phase.max_in_flight, in_flight)
        try:
            async with session.post(
                url,
                data=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                timeout=timeout,
            ) as reply:
                text = await reply.read()
            done = loop.time()
            if reply.status != 200:
                phase.non200 += 1
                _sample(phase, f"{reply.status} {text[:200]!r}")
            elif b'"errors"' in text or marker.encode() not in text:
                phase.gql_errors += 1
                _sample(phase, repr(text[:300]))
            else:
                phase.ok += 1
                latencies.append(done - scheduled)
            last_answer = max(last_answer, done)
        except TimeoutError:
            phase.timeouts += 1
        except aiohttp.ClientError as error:
            phase.conn_errors += 1
            _sample(phase, repr(error))
        finally:
            in_flight -= 1

    tasks: set[asyncio.Task[None]] = set()
    start = loop.time() + 0.05
    for (body, token, marker), offset in zip(bodies, offsets, strict=True):
        scheduled = start + offset
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            phase.max_send_lag_ms = max(phase.max_send_lag_ms, -delay * 1000)
        if in_flight >= args.pool:
            phase.held_by_pool += 1
        task = asyncio.create_task(one(body, token, marker, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.gather(*list(tasks))
    latencies.sort()
    # From the phase's start (offset 0) to the last answer, as the schedule's own rate is
    # from the start to its last send: a random (Poisson) schedule is not exactly the rate.
    phase.scheduled_rps = len(offsets) / offsets[-1]
    phase.seconds = max(last_answer - start, 1e-9) if phase.ok else 0.0
    phase.achieved_rps = phase.ok / phase.seconds if phase.ok else 0.0
    phase.p50_ms = percentile(latencies, 50) * 1000
    phase.p99_ms = percentile(latencies, 99) * 1000
    phase.max_ms = latencies[-1] * 1000 if latencies else 0.0
    # Requests that never produced a latency (errors) are not in the percentiles: the
    # sustained test requires 0 errors, so a run with any cannot pass on its percentiles.


def _sample(phase: Phase, text: str) -> None:
    if len(phase.error_samples) < 5:
        phase.error_samples.append(text)


def raise_open_files() -> None:
    """The pool's connections (and the server's, which inherits the limit) need more than the
    usual 1,024 descriptors when an overloaded rate queues thousands of requests."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def connections_per_worker(workers: list[int], port: int) -> list[int]:
    """The established TCP connections each of these processes holds on ``port`` (the
    server's side: its local port), from /proc/net/tcp and each process's descriptors."""
    established: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "01" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    established.add(cols[9])  # the socket's inode
    counts = []
    for pid in workers:
        held = 0
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(fd.path)
                    if target.startswith("socket:[") and target[8:-1] in established:
                        held += 1
        counts.append(held)
    return counts
