"""When to poll a feed, sitemap or page again: adaptive intervals and failure scores.

Pure functions of the last poll's outcome, so that they can be tested under frozen time.
A target with an explicit interval keeps it. Otherwise the interval adapts to what polls
yield: a poll that brings mostly new items halves it, a poll that brings nothing new
stretches it by half, anything in between keeps it, always within the configured bounds.
A failure backs off exponentially and adds to a score; a success clears it. Timeouts and
server errors weigh less than answers that say the target is gone (404, 410, not a feed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

GROWTH = 1.5
"""A poll with nothing new stretches the interval by this factor."""
SHRINK = 0.5
"""A poll with mostly new items multiplies the interval by this factor."""
BUSY_SHARE = 0.5
"""Above this share of new items, a target is busy."""
TRANSIENT_WEIGHT = 0.5
LASTING_WEIGHT = 1.0
_LASTING = {"http_404", "http_410", "not_a_feed", "not_a_sitemap", "not_html", "too_large"}


@dataclass(frozen=True, slots=True)
class PollBounds:
    minimum: timedelta
    maximum: timedelta

    def clamp(self, interval: timedelta) -> timedelta:
        return max(self.minimum, min(self.maximum, interval))


@dataclass(frozen=True, slots=True)
class PollPace:
    """A target's pace after a poll: when next, and how its failures stand."""

    interval: timedelta
    next_poll_at: datetime
    consecutive_failures: int = 0
    failure_score: float = 0.0


def failure_weight(reason: str) -> float:
    """How much a failure counts: a gone or wrong target more than a slow or busy server."""
    if reason in _LASTING or (reason.startswith("http_4") and reason != "http_429"):
        return LASTING_WEIGHT
    return TRANSIENT_WEIGHT


def after_success(
    previous: timedelta | None,
    *,
    new_items: int,
    seen_items: int,
    now: datetime,
    bounds: PollBounds,
    fixed: timedelta | None = None,
    initial: timedelta,
) -> PollPace:
    """The pace after a poll that worked (an unchanged body counts as nothing new)."""
    if fixed is not None:
        return PollPace(fixed, now + fixed)
    interval = previous if previous is not None else bounds.clamp(initial)
    total = new_items + seen_items
    if new_items == 0:
        interval = interval * GROWTH
    elif total and new_items / total > BUSY_SHARE:
        interval = interval * SHRINK
    interval = bounds.clamp(interval)
    return PollPace(interval, now + interval)


def after_failure(
    previous: timedelta | None,
    *,
    reason: str,
    consecutive_failures: int,
    failure_score: float,
    now: datetime,
    bounds: PollBounds,
    fixed: timedelta | None = None,
    initial: timedelta,
) -> PollPace:
    """The pace after a failed poll: exponential backoff from the usual interval, a higher score.

    The usual interval is kept as ``interval``; only the next poll is pushed back (1, 2, 4...
    intervals, at most the maximum), so that one success brings the target back to its pace.
    A fixed interval stays as given.
    """
    failures = consecutive_failures + 1
    score = failure_score + failure_weight(reason)
    if fixed is not None:
        return PollPace(fixed, now + fixed, failures, score)
    interval = previous if previous is not None else bounds.clamp(initial)
    delay = min(bounds.maximum, interval * 2 ** (failures - 1))
    return PollPace(
        interval,
        now + delay,
        consecutive_failures=failures,
        failure_score=score,
    )


def is_due(next_poll_at: datetime | None, now: datetime) -> bool:
    return next_poll_at is None or next_poll_at <= now
