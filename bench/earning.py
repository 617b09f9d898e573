"""Earning benchmark: ``recordPurchase`` with the rules vs. the same points via ``earnPoints``.

    python bench/earning.py                     # the full run (about a minute)

What it does, in one run (the set-up, server, wrk and audit helpers are bench/ledger.py's):

1. Takes PostgreSQL and Redis from ``JIFEN_DATABASE_URL`` / ``JIFEN_REDIS_URL``; by default it
   (re)creates the database ``jifen_earning`` on the local PostgreSQL (127.0.0.1:5432) and uses
   Redis database 9 on 127.0.0.1:6379 (flushed). Migrates, then registers ``--members`` members
   with bulk SQL.
2. Starts ``jifen serve --workers 2`` (which seeds the demo programme: tiers and earning rules)
   with the rate limits lifted. Counts the enabled purchase rules through the staff API and, when
   fewer than ``--rules`` (10), creates extra purchase rules until there are that many.
3. Previews the 5-line basket's points for one member (``previewPoints``), then with ``wrk``:
   (a) ``recordPurchase`` (bench/purchase.lua) with the 10 rules: the demo's engagement tasks
   are switched off through the staff API (``setTaskEnabled``) for these rounds and on again
   after them (win-back and the referral check, settings rather than tasks, still run); the
   basket, a random member,
   a unique order id per request (run prefix + wrk thread id + counter); (b) the same with the
   whole demo programme on: the tasks and challenges a purchase feeds (issue 5), win-back,
   referrals; (c) ``earnPoints`` (bench/earnfixed.lua) with the basket's points, a random
   member and a unique idempotency key. After one warm-up, (a), (b) and (c) alternate in
   ``--rounds`` (4) short rounds, so that other load on the machine falls on all alike; each
   round's ratios are printed, the figures sum the rounds.
4. Stops the server, runs the ledger audit and prints the three, the ratio (b)/(c) — issue
   21's goal: ``recordPurchase`` with the whole demo programme on keeps at least half of
   ``earnPoints``' throughput, (b)/(c) >= 0.5 — the same ratio in CPU per request (what a
   CPU-bound machine would show), and (a)/(c), what the rules alone cost (issue 4 asked 0.7
   of the earn of its day, before the earn became one statement; printed for comparison, no
   longer a goal).

Needs ``wrk`` (Debian: ``apt-get install wrk``). Everything listens on and talks to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _path in (str(ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from ledger import (  # noqa: E402  (bench/ledger.py: shared set-up, server, wrk and audit helpers)
    CHANNEL,
    Result,
    Server,
    audit,
    backend_pids,
    count_rows,
    cpu_seconds,
    load_average,
    measure_phase,
    mint_tokens,
    prepare_stage,
    register_members,
    server_env,
    summarise_profiles,
)

from bench.machine_cpu import Scope, print_splits  # noqa: E402  (whole-machine CPU)

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jifen_earning"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
# Issue 21: recordPurchase (5 lines, 10 rules, the whole demo programme's tasks on) keeps at
# least half of earnPoints' throughput.
GOAL_RATIO = 0.5

# Five lines, 388.00 CNY: one fresh line (the "fresh produce +50%" rule applies), under the
# 500 CNY of the big-order rule.
BASKET: list[dict[str, Any]] = [
    {"sku": "RICE-5KG", "category": "grocery", "quantity": 1, "amount": "89.90"},
    {"sku": "APPLE-1KG", "category": "fresh", "quantity": 2, "amount": "31.60"},
    {"sku": "MILK-1L", "category": "dairy", "quantity": 4, "amount": "55.20"},
    {"sku": "SOAP-3", "category": "household", "quantity": 1, "amount": "26.30"},
    {"sku": "TEA-250G", "category": "beverage", "quantity": 1, "amount": "185.00"},
]

RULES_QUERY = """
query($after: String) {
  earningRules(first: 100, after: $after, enabled: true) {
    edges { node { id name trigger } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
CREATE_RULE = """
mutation($input: CreateEarningRuleInput!) {
  createEarningRule(input: $input) {
    __typename ... on EarningRulePayload { rule { id name } } ... on MutationError { code message }
  }
}
"""
ENABLED_TASKS = "query { tasks(enabled: true) { code } }"
SET_TASK_ENABLED = """
mutation($input: SetTaskEnabledInput!) {
  setTaskEnabled(input: $input) { __typename ... on MutationError { code message } }
}
"""
PREVIEW = """
query($input: PreviewPointsInput!) {
  previewPoints(input: $input) { points rules { name points } skipped { name reason } }
}
"""


def graphql(url: str, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        body: dict[str, Any] = json.loads(reply.read())
    if body.get("errors"):
        raise SystemExit(f"GraphQL errors: {body['errors']}")
    data: dict[str, Any] = body["data"]
    return data


def active_purchase_rules(url: str, token: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    after = None
    while True:
        page = graphql(url, token, RULES_QUERY, {"after": after})["earningRules"]
        rules += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    return [rule for rule in rules if rule["trigger"] == "PURCHASE"]


def ensure_rules(url: str, token: str, wanted: int) -> tuple[int, int]:
    """Enabled purchase rules: (seeded, created) — extra rules only when fewer than wanted."""
    seeded = len(active_purchase_rules(url, token))
    created = 0
    for n in range(seeded, wanted):
        # Line-level bonuses on the basket's categories, so each extra rule does real work.
        category = BASKET[n % len(BASKET)]["category"]
        rule = {
            "name": f"bench: {category} +{5 + n}%",
            "trigger": "PURCHASE",
            "conditions": {"categories": [category]},
            "effect": {"kind": "PERCENT_BONUS", "percent": str(5 + n)},
        }
        reply = graphql(url, token, CREATE_RULE, {"input": {"rule": rule}})["createEarningRule"]
        if reply["__typename"] != "EarningRulePayload":
            raise SystemExit(f"createEarningRule refused: {reply}")
        created += 1
    return seeded, created


def switch_tasks(url: str, token: str, codes: list[str], enabled: bool) -> None:
    for code in codes:
        reply = graphql(url, token, SET_TASK_ENABLED, {"input": {"code": code, "enabled": enabled}})
        if reply["setTaskEnabled"]["__typename"] != "TaskSaved":
            raise SystemExit(f"setTaskEnabled refused: {reply}")


def combine(rounds: list[Result]) -> Result:
    """One scenario over its rounds: all requests over all seconds; p50 weighted by requests,
    p99 the worst round's."""
    requests = sum(r.requests for r in rounds)
    splits = [r.machine for r in rounds if r.machine]
    return Result(
        name=rounds[0].name,
        requests=requests,
        seconds=sum(r.seconds for r in rounds),
        p50_ms=sum(r.p50_ms * r.requests for r in rounds) / max(requests, 1),
        p99_ms=max(r.p99_ms for r in rounds),
        errors=sum(r.errors for r in rounds),
        detail=rounds[0].detail
        if len({r.detail for r in rounds}) == 1
        else "; ".join(r.detail for r in rounds),
        machine=sum(splits[1:], splits[0]) if splits else None,
    )


def print_table(rules_only: Result, programme: Result, earn: Result, rules: int) -> float:
    print()
    print(f"{'scenario':56} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  requests")
    print("-" * 102)
    for r in (rules_only, programme, earn):
        print(
            f"{r.name:56} {r.rps:7.0f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} {r.errors:7d}  "
            f"{r.requests} in {r.seconds:.1f}s"
        )
    for r in (rules_only, programme, earn):
        print(f"  {r.name}: {r.detail}")
    whole = programme.rps / earn.rps if earn.rps else 0.0
    print(
        f"\nissue 21's goal: recordPurchase (5 lines, {rules} rules, whole demo programme) / "
        f"earnPoints >= {GOAL_RATIO:.2f} in throughput: {whole:.2f}, "
        f"{'GOAL MET' if whole >= GOAL_RATIO else 'goal not met'}"
    )
    ratio = rules_only.rps / earn.rps if earn.rps else 0.0
    print(
        f"recordPurchase (rules only, tasks off) / earnPoints = {ratio:.2f} (what the {rules} "
        f"rules alone cost: {100 * (1 - ratio):.0f}% of throughput; no goal of its own)"
    )
    return whole


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--rules", type=int, default=10, help="enabled purchase rules, at least")
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds measured, per scenario"
    )
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternating rounds the duration is split into"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--out", type=Path, default=None, help="server log and results.json")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the workers in round 1 and summarise"
    )
    args = parser.parse_args()
    for name in ("members", "connections", "threads", "workers", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if not 1 <= args.duration <= 600 or not 0 <= args.warmup <= 120:
        parser.error("--duration must be 1..600 s and --warmup 0..120 s")
    return args


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (Debian/Ubuntu: apt-get install wrk)", file=sys.stderr)
        return 2
    database_url, redis_url, out, run_id = prepare_stage(
        "earning", DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, args.out
    )
    print(f"load average before the run: {load_average()} (other work skews the figures)")
    started = time.perf_counter()
    member_ids = asyncio.run(register_members(database_url, args.members, run_id))
    print(f"registered {len(member_ids)} members in {time.perf_counter() - started:.1f}s")

    staff_token, _ = mint_tokens(member_ids, 0)
    members_file = out / "members.txt"
    members_file.write_text("\n".join(map(str, member_ids)) + "\n")
    env = server_env(database_url, redis_url, out)
    server = Server(env, args.workers, out / "server.log")
    try:
        server.wait_ready()
        workers = server.worker_pids()
        print(f"server {server.url} ready (supervisor {server.proc.pid}, workers {workers})")
        seeded, created = ensure_rules(server.url, staff_token, args.rules)
        rules = len(active_purchase_rules(server.url, staff_token))
        print(f"enabled purchase rules: {rules} ({seeded} seeded by the demo, {created} created)")
        preview = graphql(
            server.url,
            staff_token,
            PREVIEW,
            {"input": {"memberId": str(member_ids[0]), "channel": CHANNEL, "lines": BASKET}},
        )["previewPoints"]
        points = preview["points"]
        applied = ", ".join(f"{r['name']} {r['points']}" for r in preview["rules"])
        print(f"basket: 5 lines, 388.00 CNY -> {points} points for a new member ({applied})")
        common = {"BENCH_TOKEN": staff_token, "BENCH_MEMBERS": str(members_file)}
        basket = {**common, "BENCH_CHANNEL": CHANNEL, "BENCH_LINES": json.dumps(BASKET)}
        tasks = [t["code"] for t in graphql(server.url, staff_token, ENABLED_TASKS, {})["tasks"]]
        print(f"enabled engagement tasks: {len(tasks)} ({', '.join(tasks)})")
        phases = (
            (
                "rules",
                "purchase.lua",
                f"recordPurchase (5 lines, {rules} rules, tasks off)",
                basket,
            ),
            (
                "purchase",
                "purchase.lua",
                f"recordPurchase (5 lines, {rules} rules, {len(tasks)} tasks)",
                basket,
            ),
            (
                "earn",
                "earnfixed.lua",
                f"earnPoints ({points} points)",
                {**common, "BENCH_AMOUNT": str(points)},
            ),
        )
        # Alternating short rounds: load from elsewhere on the machine then falls on both
        # scenarios alike instead of on whichever ran while it lasted.
        rounds: dict[str, list[Result]] = {phase: [] for phase, *_ in phases}
        database_name = database_url.rsplit("/", 1)[1].split("?")[0]
        round_args = argparse.Namespace(
            **{**vars(args), "duration": args.duration / args.rounds, "warmup": 0}
        )
        warm_args = argparse.Namespace(**{**vars(args), "duration": args.warmup, "warmup": 0})
        # CPU per request (the API workers and every PostgreSQL process): what a request costs
        # the machine, much less moved by other load than requests per second.
        cpu: dict[str, float] = {phase: 0.0 for phase, *_ in phases}
        for n in range(args.rounds):
            for phase, script, name, env_vars in phases:
                # Rules only: the tasks off for this scenario's round (the servers' task cache
                # sees the switch by its generation, on the next purchase).
                switch_tasks(server.url, staff_token, tasks, enabled=phase != "rules")
                if n == 0 and args.warmup:  # warm up outside the CPU count
                    measure_phase(
                        warm_args,
                        server.url,
                        workers,
                        out,
                        phase,
                        script,
                        name,
                        {**env_vars, "BENCH_RUN": f"{run_id}:{phase}:warm"},
                    )
                counted = workers + backend_pids(database_name)
                before = cpu_seconds(counted)
                round_args.profile = args.profile and n == 0
                result = measure_phase(
                    round_args,
                    server.url,
                    workers,
                    out,
                    phase,
                    script,
                    name,
                    {**env_vars, "BENCH_RUN": f"{run_id}:{phase}:{n}"},
                    scope=Scope(database_url, redis_url, [server.proc.pid, *workers]),
                )
                cpu[phase] += cpu_seconds(counted) - before
                rounds[phase].append(result)
            rules_rps, programme_rps, earn_rps = (rounds[phase][-1].rps for phase, *_ in phases)
            print(
                f"  round {n + 1}: recordPurchase {rules_rps:.0f} req/s rules only, "
                f"{programme_rps:.0f} req/s whole programme; earnPoints {earn_rps:.0f} req/s; "
                f"ratios {rules_rps / max(earn_rps, 1e-9):.2f} and "
                f"{programme_rps / max(earn_rps, 1e-9):.2f}",
                flush=True,
            )
        results = [combine(rounds[phase]) for phase, *_ in phases]
        profiles = {
            phase: summarise_profiles(sorted(out.glob(f"{phase}-worker-*.txt")))
            for phase, *_ in phases
            if args.profile
        }
        cpu_ms = [
            1000 * cpu[phase] / max(r.requests, 1)
            for (phase, *_), r in zip(phases, results, strict=True)
        ]
    finally:
        server.stop()

    ok, report = asyncio.run(audit(database_url))
    facts = asyncio.run(count_rows(database_url, member_ids))
    rules_only, programme, earn = results
    ratio = print_table(rules_only, programme, earn, rules)
    cpu_ratio = cpu_ms[2] / cpu_ms[1] if cpu_ms[1] else 0.0
    print(
        f"CPU per request (API workers + PostgreSQL): recordPurchase {cpu_ms[0]:.1f} ms rules "
        f"only, {cpu_ms[1]:.1f} ms whole programme; earnPoints {cpu_ms[2]:.1f} ms; "
        f"issue 21's goal in CPU: earnPoints / recordPurchase (whole programme) = "
        f"{cpu_ratio:.2f} >= {GOAL_RATIO:.2f} (the throughput ratio a CPU-bound machine with "
        f"nothing else running would show): "
        f"{'GOAL MET' if cpu_ratio >= GOAL_RATIO else 'goal not met'}"
    )
    print_splits([(r.name, r.machine) for r in results], note=", the rounds added up")
    print(
        f"\nmachine: {os.cpu_count()} CPU(s); PostgreSQL {facts}; "
        f"{args.connections} connections, {args.threads} wrk threads, "
        f"{args.workers} server workers, {len(member_ids)} members; "
        f"load average after the run {load_average()}"
    )
    for phase, text in profiles.items():
        print(f"\nserver profile during {phase}, round 1 (py-spy, all workers):\n{text}")
        (out / f"profile-{phase}.txt").write_text(text + "\n")
    print("\nledger audit:\n" + report)
    (out / "results.json").write_text(
        json.dumps(
            {
                "results": [{**asdict(r), "rps": r.rps} for r in results],
                "ratio": ratio,  # issue 21's: whole programme / earnPoints
                "ratio_rules_only": rules_only.rps / earn.rps if earn.rps else 0.0,
                "cpu_ms_per_request": cpu_ms,
                "cpu_ratio": cpu_ratio,
                "rules": rules,
                "basket_points": points,
                "audit_ok": ok,
                "args": {k: str(v) for k, v in vars(args).items()},
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
