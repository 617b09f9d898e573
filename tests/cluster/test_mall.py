"""The flash-sale gate on a Redis Cluster: the same tests as on a single Redis (an item's stock and
buyers keys share the hash tag ``mall:flash:{item}``, so the gate's Lua scripts run on one
master)."""

from tests.mall.conftest import make_item, make_member  # noqa: F401  (fixtures)
from tests.mall.test_flash import *  # noqa: F403
