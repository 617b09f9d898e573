"""Structured logs: structlog for our code, with stdlib logging (uvicorn, SQLAlchemy, libraries)
routed through the same processors, so every line has one format: JSON lines for machines (in
production, or whenever stderr is not a terminal), readable key=value lines for people at a
terminal (``make run``). ``JIFEN_LOG_JSON`` decides instead when set.

Each GraphQL request writes one access line (``app.access``, app/graphql/core/instrumentation.py);
routine background work (scheduled job runs) logs at debug.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from app.config import Settings

# Libraries that are chatty at INFO about things an operator does not act on.
# APScheduler announces every run of every job ("Running job ...", "executed successfully").
QUIET_LOGGERS = ("pgserver", "alembic", "asyncio", "broadcaster", "apscheduler")


def _shared_processors() -> list[structlog.typing.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def _renderer(json_lines: bool) -> structlog.typing.Processor:
    if json_lines:
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())


def _stdlib_handler(json_lines: bool) -> logging.Handler:
    """A root handler that renders stdlib records and structlog events alike."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # JSON needs the traceback as a string; the console renderer prints it itself.
            *([structlog.processors.format_exc_info] if json_lines else []),
            _renderer(json_lines),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    return handler


def json_lines(settings: Settings) -> bool:
    """JSON lines unless a person is reading (a terminal, outside production) or told so."""
    if settings.log_json is not None:
        return settings.log_json
    return settings.is_production or not sys.stderr.isatty()


def configure_logging(settings: Settings) -> None:
    """Configure structlog and stdlib logging once per process (idempotent)."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    root = logging.getLogger()
    root.handlers[:] = [_stdlib_handler(json_lines(settings))]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        # uvicorn's own log_config installed these: render through ours instead. (With
        # log_config=None and access_log=False uvicorn installs none and mutes access: keep it.)
        if logger.handlers:
            logger.handlers.clear()
            logger.propagate = True

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str | None = None, **initial_values: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger; ``initial_values`` are bound to every event it logs."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **initial_values)
    return logger
