"""Running a job now."""

from __future__ import annotations

import strawberry


@strawberry.input
class RunJobInput:
    name: str
