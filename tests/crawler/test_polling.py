"""Adaptive polling: intervals move with what polls yield, failures back off and add up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from freezegun import freeze_time

from crawler.polling import PollBounds, after_failure, after_success, failure_weight

BOUNDS = PollBounds(timedelta(minutes=10), timedelta(hours=24))
HOUR = timedelta(hours=1)


def _now() -> datetime:
    return datetime.now(UTC)


@freeze_time("2026-11-22 08:00:00")
def test_a_quiet_feed_is_polled_less_and_less_often_up_to_the_maximum() -> None:
    interval = None
    seen = []
    for _ in range(12):
        pace = after_success(
            interval, new_items=0, seen_items=20, now=_now(), bounds=BOUNDS, initial=HOUR
        )
        interval = pace.interval
        seen.append(interval)
        assert pace.next_poll_at == _now() + interval
    assert seen[0] == timedelta(minutes=90)
    assert all(later >= earlier for earlier, later in pairwise(seen))
    assert seen[-1] == BOUNDS.maximum


@freeze_time("2026-11-22 08:00:00")
def test_a_busy_feed_is_polled_more_and_more_often_down_to_the_minimum() -> None:
    interval: timedelta | None = HOUR
    seen = []
    for _ in range(5):
        pace = after_success(
            interval, new_items=15, seen_items=5, now=_now(), bounds=BOUNDS, initial=HOUR
        )
        interval = pace.interval
        seen.append(interval)
    assert seen == [timedelta(minutes=30), timedelta(minutes=15)] + [BOUNDS.minimum] * 3


@freeze_time("2026-11-22 08:00:00")
def test_a_feed_with_some_new_items_keeps_its_pace() -> None:
    pace = after_success(HOUR, new_items=3, seen_items=17, now=_now(), bounds=BOUNDS, initial=HOUR)
    assert pace.interval == HOUR


@freeze_time("2026-11-22 08:00:00")
def test_an_explicit_interval_is_kept_as_given() -> None:
    fixed = timedelta(minutes=5)  # below the adaptive minimum: the user said so
    for new in (0, 20):
        pace = after_success(
            HOUR, new_items=new, seen_items=0, now=_now(), bounds=BOUNDS, fixed=fixed, initial=HOUR
        )
        assert pace.interval == fixed
    failed = after_failure(
        fixed, reason="timeout", consecutive_failures=3, failure_score=1.5, now=_now(),
        bounds=BOUNDS, fixed=fixed, initial=HOUR,
    )  # fmt: skip
    assert failed.next_poll_at - _now() == fixed and failed.consecutive_failures == 4


@freeze_time("2026-11-22 08:00:00")
def test_failures_back_off_exponentially_and_a_gone_feed_weighs_more() -> None:
    failures, score, delays = 0, 0.0, []
    for _ in range(7):
        pace = after_failure(
            HOUR, reason="http_503", consecutive_failures=failures, failure_score=score,
            now=_now(), bounds=BOUNDS, initial=HOUR,
        )  # fmt: skip
        failures, score = pace.consecutive_failures, pace.failure_score
        delays.append(pace.next_poll_at - _now())
        assert pace.interval == HOUR  # the usual pace is kept for when it recovers
    assert delays[:5] == [HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, 16 * HOUR]
    assert delays[5:] == [BOUNDS.maximum] * 2
    assert score == pytest.approx(3.5)


@pytest.mark.parametrize(
    ("reason", "weight"),
    [("timeout", 0.5), ("http_503", 0.5), ("http_429", 0.5), ("connection", 0.5), ("dns", 0.5),
     ("http_404", 1.0), ("http_410", 1.0), ("http_403", 1.0), ("not_a_feed", 1.0)],
)  # fmt: skip
def test_timeouts_and_server_errors_count_less_than_gone_or_wrong_targets(
    reason: str, weight: float
) -> None:
    assert failure_weight(reason) == weight
