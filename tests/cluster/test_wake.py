"""The outbox's wake on a Redis Cluster: another process's commit reaches the relay on the
sharded wake channel, and one event-loop turn's commits are one publish there too."""

from tests.events.test_wake import (  # noqa: F401  (the tests, run against the cluster)
    test_a_writer_outside_the_app_is_published_by_the_poll,
    test_another_process_commit_wakes_the_relay_through_redis,
    test_the_wakes_of_one_turn_are_one_publish,
)
