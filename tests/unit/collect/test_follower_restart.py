"""How `netcx serve` paces restarts of a recognition follower that keeps exiting."""

from __future__ import annotations

from netcx.entrypoints.cli.serve import restart_delay_s


def test_a_follower_failing_at_start_is_restarted_less_and_less_often() -> None:
    delays, delay = [], 0.5
    for _ in range(8):
        delay = restart_delay_s(delay, lived_s=0.2)
        delays.append(delay)
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_a_follower_that_ran_a_while_is_restarted_after_a_second() -> None:
    assert restart_delay_s(30.0, lived_s=3600) == 1.0
    assert restart_delay_s(1.0, lived_s=59) == 2.0
