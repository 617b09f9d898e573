"""Every scheduled job of Jifen. To add one, define a ``Job`` next to its domain code
(``app/<domain>/jobs.py``) and add it to the list below (docs/LIFECYCLE.md, "Jobs")."""

from __future__ import annotations

from app.jobs.registry import Job, registry


def all_jobs() -> dict[str, Job]:
    from app.jobs.core import CORE_JOBS
    from app.lifecycle.jobs import LIFECYCLE_JOBS
    from app.mall.jobs import MALL_JOBS

    return registry(
        [
            *CORE_JOBS,
            *LIFECYCLE_JOBS,
            *MALL_JOBS,
        ]
    )
