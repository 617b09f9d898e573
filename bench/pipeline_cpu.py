"""CPU of the GraphQL pipeline alone: ``{ __typename }`` through ``build_schema(settings).execute``
with a staff context — no HTTP, no database, no Redis (so no rate limit) — what every operation
pays in Strawberry and the schema's extensions (docs/PERFORMANCE.md, issue 21's pipeline step 2).

    python bench/pipeline_cpu.py                 # 7 repetitions of 3,000 operations

Run it from two trees in turn (before and after a change) and compare the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.auth.principal import Principal, Role
from app.config import Settings
from app.graphql.core.context import Context
from app.graphql.schema import build_schema


class NoRuntime:
    """What the pipeline reads of a runtime for a staff ``{ __typename }``: no replicas."""

    replicas = None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--operations", type=int, default=3000)
    parser.add_argument("--repetitions", type=int, default=7)
    args = parser.parse_args()
    settings = Settings(
        redis_url=None,
        database_url="postgresql+asyncpg://unused@127.0.0.1/unused",
        _env_file=None,  # type: ignore[call-arg]
    )
    schema = build_schema(settings)
    principal = Principal.staff("bench", {Role.ADMIN})
    runtime = NoRuntime()
    per_operation = []
    for _ in range(args.repetitions):
        started = time.process_time()
        for _ in range(args.operations):
            # The context without its loaders: nothing here reads the database.
            context = Context.__new__(Context)
            context.runtime, context.principal, context.request = runtime, principal, None  # type: ignore[assignment]
            result = await schema.execute("{ __typename }", context_value=context)
            assert not result.errors, result.errors
        per_operation.append((time.process_time() - started) / args.operations * 1e6)
    figures = " ".join(f"{value:.0f}" for value in per_operation)
    print(f"µs of CPU per operation, {args.repetitions} repetitions: {figures}")
    print(f"median {statistics.median(per_operation):.0f}, min {min(per_operation):.0f}")


if __name__ == "__main__":
    asyncio.run(main())
