"""When a registry request is tried again, how long to wait, and what a person watching hears.

Kept apart from the session that applies it so the CLI (which prints each notice on stderr)
and the Dagger functions (which use the defaults) configure retries without touching HTTP.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Answers worth another attempt: the registry, a proxy or a rate limit said "not now".
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryNotice:
    """One failed attempt about to be retried: what a person watching should see, so a
    registry that is down reads as retries in progress rather than as silence."""

    request: str  # e.g. "GET /v2/app/tags/list"
    host: str
    cause: str  # e.g. "connection refused", "answered 503"
    attempt: int  # the attempt that failed, from 1
    attempts: int  # how many the policy allows
    delay: float  # seconds until the next attempt

    def __str__(self) -> str:
        return (
            f"{self.request} on {self.host}: {self.cause}; attempt {self.attempt} of "
            f"{self.attempts} failed, waiting {self.delay:.1f} s"
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for 408/429/5xx and dropped connections; Retry-After wins when sent.

    `notify`, when set, hears of every retry before its wait (the CLI prints it on stderr)."""

    attempts: int = 8
    base_delay: float = 0.2
    max_delay: float = 10.0
    max_retry_after: float = 60.0
    notify: Callable[[RetryNotice], None] | None = field(default=None, compare=False)

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None and (seconds := retry_after_seconds(retry_after)) is not None:
            return min(seconds, self.max_retry_after)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))  # noqa: S311


def retry_after_seconds(value: str) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now; None if neither."""
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
