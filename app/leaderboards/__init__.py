"""Leaderboards: Redis sorted sets per board and period, fed exactly once from the outbox,
rebuildable from the ledger (docs/LEADERBOARDS.md).

Public entry points:

- queries: :mod:`app.leaderboards.service` (``top``, ``member_standing``, ``neighbours``,
  ``board_size``, ``resolve``, ``list_boards``);
- the projector: :func:`app.leaderboards.projector.apply_pending` (one catch-up pass) and
  :func:`app.leaderboards.runner.run_projector` (the loop for a lifespan or the worker);
- :func:`app.leaderboards.rebuild.rebuild` (also ``jifen leaderboards rebuild``).
"""
