"""Per-principal budgets and the failed-credential throttle counted on a Redis Cluster (the
``limits`` library's cluster storage on redis-py's ``RedisCluster``): the same tests as on a
single Redis."""

from tests.graphql.core.test_credentials import *  # noqa: F403
from tests.graphql.core.test_ratelimit import *  # noqa: F403
