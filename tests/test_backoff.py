"""Capped, jittered exponential backoff: delays grow, never pass the cap, and differ."""

from bot.backoff import Backoff


def test_delays_double_within_their_upper_half_and_stop_at_the_cap():
    backoff = Backoff(first=0.5, cap=4.0)
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    for ceiling in ceilings:
        delay = backoff.next()
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next() <= 0.5


def test_processes_that_lost_the_same_server_do_not_come_back_together():
    delays = {round(Backoff(first=1.0, cap=8.0).next(), 6) for _ in range(20)}
    assert len(delays) > 1
