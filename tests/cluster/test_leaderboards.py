"""Leaderboards on a Redis Cluster: the projector, reads, rebuilds and checks, the same tests as
on a single Redis (each board's keys share the hash tag ``lb:{board}``, so its Lua scripts, and a
rebuild's hand-packed writes, go to one master)."""

from tests.leaderboards.test_check import *  # noqa: F403
from tests.leaderboards.test_packing import *  # noqa: F403
from tests.leaderboards.test_projector import *  # noqa: F403
from tests.leaderboards.test_rebuild import *  # noqa: F403
from tests.leaderboards.test_service import *  # noqa: F403
