"""The demo programme's earning rules (FEATURES.md section 3, the seeds' numbers).

How they stack is documented, with baskets, in docs/EARNING.md; tests/earning/test_demo.py
checks those baskets against these rules.
"""

from __future__ import annotations

from typing import Any


def _event(name: str, event: str, points: int, **caps: int) -> dict[str, Any]:
    return {
        "name": name,
        "trigger": "event",
        "event": event,
        "effect": {"kind": "fixed", "points": points},
        "caps": caps,
    }


def _window(name: str, factor: str, **conditions: Any) -> dict[str, Any]:
    # Time-window multipliers compete: only the best one applies (highest wins); the tier
    # multiplier multiplies on top of it.
    return {
        "name": name,
        "trigger": "purchase",
        "conditions": conditions,
        "effect": {"kind": "multiplier", "factor": factor, "stacking": "multiply"},
        "combination": "highest",
    }


DEMO_RULES: dict[str, dict[str, Any]] = {
    "base": {
        "name": "1 point per CNY",
        "trigger": "purchase",
        "effect": {"kind": "per_unit", "rate": "1"},
    },
    "new-category": {
        "name": "category new to the member +30%",
        "trigger": "purchase",
        "conditions": {"new_category": True},
        "effect": {"kind": "percent_bonus", "percent": "30"},
    },
    "fresh": {
        "name": "fresh produce today +50%",
        "trigger": "purchase",
        "conditions": {"categories": ["fresh"]},
        "effect": {"kind": "percent_bonus", "percent": "50"},
    },
    "weekend": _window("weekend x1.5", "1.5", weekdays=[6, 7]),
    "member-day": _window("Wednesday member day x2", "2", weekdays=[3]),
    "eighth": _window("the 8th of each month: double points", "2", days_of_month=[8]),
    "618": _window(
        "618 积分狂欢周: double points", "2", date_from="2026-06-12", date_to="2026-06-18"
    ),
    "first-purchase": {
        "name": "first purchase +50",
        "trigger": "purchase",
        "conditions": {"first_purchase": True},
        "effect": {"kind": "fixed", "points": 50},
    },
    "birthday": {
        "name": "birthday purchase +100",
        "trigger": "purchase",
        "conditions": {"birthday": True},
        "effect": {"kind": "fixed", "points": 100},
        "caps": {"day": 100},
    },
    "big-order": {
        "name": "big order (500 CNY or more) +50",
        "trigger": "purchase",
        "conditions": {"min_amount": "500"},
        "effect": {"kind": "fixed", "points": 50},
    },
    "register": _event("registration +10", "register", 10, lifetime=10),
    "profile": _event("profile completed +10", "profile_completed", 10, lifetime=10),
    "sign-in": _event("daily sign-in +5", "sign_in", 5, day=5),
    "share": _event("share +10, at most 30 a day", "share", 10, day=30),
    "review": _event("review +10, at most 30 a day", "review", 10, day=30),
    "follow": _event("follow the official account +10", "follow_account", 10, lifetime=10),
    "community": _event("join the community +10", "join_community", 10, lifetime=10),
    "attend": _event("attend an event +10", "attend_event", 10, day=10),
    "running": {
        "name": "running track: 1 point per 10 kcal, at most 50 a day",
        "trigger": "event",
        "event": "running_calories",
        "effect": {"kind": "per_unit", "rate": "0.1"},
        "caps": {"day": 50},
    },
}
