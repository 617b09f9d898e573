"""The subscription gateway on a Redis Cluster: the same WebSocket tests as on a single Redis, the
relay publishing with ``SPUBLISH`` and each API process's hub on sharded channels."""

from tests.events.conftest import live  # noqa: F401  (the fixture)
from tests.events.test_leaderboard_subscription import *  # noqa: F403
from tests.events.test_subscriptions import *  # noqa: F403
