"""Azure Resource Manager's read throttling as a fault source for the fake Router: a token bucket.

ARM throttles each principal per subscription with a token bucket: a read takes a token, tokens refill at a
steady rate (25 a second for reads), and a request that finds the bucket empty is refused with 429 and a
``Retry-After``. Install it as ``router.chaos``; time is the caller's clock, so a simulated hour refills an
hour's worth of tokens. Only reads (GET) are metered, as ARM meters reads and writes in separate buckets; a
refused request takes no token.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime

from amlexec.clock import Clock
from fakes.transport import Fault

__all__ = ["ARM_READS_PER_SECOND", "ReadThrottle"]

ARM_READS_PER_SECOND = 25.0


class ReadThrottle:
    """A token bucket of ``capacity`` reads refilled at ``per_second``; an empty bucket answers 429."""

    def __init__(self, clock: Clock, *, per_second: float = ARM_READS_PER_SECOND, capacity: float = 250.0) -> None:
        self.clock = clock
        self.per_second = per_second
        self.capacity = capacity
        self.tokens = capacity
        self.last: datetime = clock.now()
        self.enabled = True
        self.reads = 0
        self.throttled = 0
        self.by_second: Counter[int] = Counter()  # served reads per whole second of the clock

    def __call__(self, method: str, path: str) -> Fault | None:
        if method != "GET" or not self.enabled:
            return None
        now = self.clock.now()
        self.tokens = min(self.capacity, self.tokens + (now - self.last).total_seconds() * self.per_second)
        self.last = now
        if self.tokens < 1.0:
            self.throttled += 1
            wait = math.ceil((1.0 - self.tokens) / self.per_second)
            return Fault(method, ".*", status=429, headers={"Retry-After": str(max(1, wait))})
        self.tokens -= 1.0
        self.reads += 1
        self.by_second[int(now.timestamp())] += 1
        return None
