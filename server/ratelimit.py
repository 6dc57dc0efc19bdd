"""Rate limits of the control channel: a token bucket per session (and per client before the offer) and a
sliding-window rate meter for the frame counters."""

from __future__ import annotations

import time
from collections import deque

from server import protocol as P


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: float) -> None:
        self.rate, self.burst = rate_per_s, burst
        self.tokens, self.t = burst, time.monotonic()

    @classmethod
    def for_messages(cls, rate_per_s: float) -> TokenBucket:
        """The control channel's limit (before and after the offer): a burst of two seconds' worth, at least 4."""
        return cls(rate_per_s, max(4.0, 2 * rate_per_s))

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class RateMeter:
    """Events per second over the last few seconds."""

    def __init__(self, window_s: float = 3.0) -> None:
        self.window = window_s
        self.times: deque[float] = deque(maxlen=512)

    def tick(self, n: int = 1) -> None:
        now = time.monotonic()
        for _ in range(min(n, 8)):
            self.times.append(now)

    def rate(self) -> float:
        now = time.monotonic()
        while self.times and now - self.times[0] > self.window:
            self.times.popleft()
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(1e-3, now - self.times[0])


def rate_limited_msg(rate_per_s: float) -> str:
    """The error a refused control message gets (before the offer too)."""
    return P.error_msg(
        "rate_limited",
        f"more than {rate_per_s:g} messages per second",
        hint="slow down; the session closes if the flood continues",
    )
