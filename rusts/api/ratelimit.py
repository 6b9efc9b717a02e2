"""Requests per second per client address: one token bucket each.

A bucket holds at most `burst` tokens and refills at `rate` tokens per
second; a request takes one token, or is refused with the seconds until one
is there. Buckets idle long enough to be full again are forgotten, so the
table stays small however many addresses have come and gone.
"""

import math
import threading
import time

from rusts.core.errors import RateLimitError

# Past this many addresses, buckets idle long enough to be full again are dropped.
_PRUNE_AT = 10_000


class RateLimiter:
    """Token buckets keyed by client address; safe to share between threads."""

    def __init__(self, rate_per_sec: float, burst: int) -> None:
        if rate_per_sec <= 0 or burst < 1:
            raise AssertionError("BUG: a rate limiter needs a positive rate and a burst of at least 1")
        self.rate = rate_per_sec
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, monotonic time)
        self._lock = threading.Lock()

    def check(self, address: str, now: float | None = None) -> None:
        """Take a token for `address`, or raise RateLimitError with the wait in whole seconds (>= 1)."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(address, (self.burst, moment))
            tokens = min(self.burst, tokens + (moment - last) * self.rate)
            if tokens < 1.0:
                self._buckets[address] = (tokens, moment)
                raise RateLimitError(float(max(1, math.ceil((1.0 - tokens) / self.rate))))
            self._buckets[address] = (tokens - 1.0, moment)
            if len(self._buckets) > _PRUNE_AT:
                self._prune(moment)

    def _prune(self, now: float) -> None:
        refill_secs = self.burst / self.rate
        idle = [key for key, (_, last) in self._buckets.items() if now - last >= refill_secs]
        for key in idle:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
