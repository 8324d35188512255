"""How failed sign-ins slow down guessing (birth dates are guessable).

Per account: 5 failures are free; each further consecutive failure opens a growing delay
(1 s, 2 s, 4 s … capped at 15 min) during which attempts are refused at once, without
checking the password. A success resets the count, a quiet day forgets it. No permanent
lock: once the delay is over, the right password works; and a browser that has already
signed in to the account is exempt from its delay, for 3 failures per account in 15 minutes
(counted in the database: the browser's cookie can be copied and replayed), after which it
is throttled like any other.

Per client IP: failures only, in a window of an hour, with enough room for a whole class
signing in from the school's one address; past that, the same growing delay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class ThrottlePolicy:
    account_free_failures: int = 5
    account_quiet_period: timedelta = timedelta(hours=24)
    ip_free_failures: int = 100
    ip_window: timedelta = timedelta(hours=1)
    first_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=15)
    known_browser_failures: int = 3
    known_browser_window: timedelta = timedelta(minutes=15)

    def account_delay(self, failures: int) -> timedelta | None:
        return self._delay(failures - self.account_free_failures)

    def known_browser_exempt(self, failures: int) -> bool:
        """Whether a known browser's attempt, counted as the n-th failure of the window on
        the account by known browsers, is still exempt from the account's delay."""
        return failures <= self.known_browser_failures

    def ip_delay(self, failures: int) -> timedelta | None:
        return self._delay(failures - self.ip_free_failures)

    def _delay(self, over: int) -> timedelta | None:
        if over <= 0:
            return None
        # Past 2^20 the cap has long been reached; avoid huge integers.
        return min(self.first_delay * 2 ** min(over - 1, 20), self.max_delay)
