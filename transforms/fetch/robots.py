"""robots.txt: fetched once per site per run, parsed by Protego, asked before every page fetch.

Feeds are meant to be fetched by machines; the pages they link to are a
site's content, and a crawler of them must honour the site's robots.txt
(RFC 9309). Protego (Scrapy's parser) is used instead of the standard
library's ``urllib.robotparser``, which ignores ``*``/``$`` wildcards and
gets Allow/Disallow precedence wrong (longest match wins, RFC 9309 §2.2.2).

How a robots.txt response is read, as RFC 9309 §2.3.1 says:

* 2xx: its rules, for the ``newsbeam`` user-agent token (else ``*``);
* 4xx (and an empty body): no rules, everything may be fetched;
* 5xx, a timeout, a connection error after the client's retries: the site
  is *unreachable*, and everything is disallowed for this run;
* a redirect is followed by the client (up to ``--max-redirects``).

The rules are kept per origin (scheme, host, port) in the run's
``FetchContext``, so every transform and thread of a process asks once (a
stream asks again after 24 hours, RFC 9309 §2.4); a lock per origin makes
concurrent lanes to one site wait for one fetch instead of each fetching it.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, NamedTuple, Optional
from urllib.parse import urlsplit

from protego import Protego

from transforms.errors import BlockedURL, EmptyResponse, HTTPStatusError, RetryableStatus
from transforms.fetch.client import FetchOutcome

#: The product token robots.txt groups are matched against (RFC 9309 §2.2.1).
AGENT = "newsbeam"
#: What a robots.txt fetch asks for.
ROBOTS_ACCEPT = "text/plain, */*;q=0.1"
#: RFC 9309 §2.5: parsers must read at least the first 500 KiB; what lies beyond is ignored.
MAX_ROBOTS_BYTES = 500 * 1024
#: RFC 9309 §2.4: a cached robots.txt should not be used for more than 24 hours (a stream runs for days).
ROBOTS_TTL = 24 * 3600.0


class RobotsRules(NamedTuple):
    """What one site's robots.txt allows this run.

    ``status``: ``rules`` (a robots.txt was read), ``none`` (4xx or empty:
    no rules), ``unreachable`` (5xx or no response: nothing may be fetched),
    ``blocked`` (its address is not public: the guard refused it).
    """

    status: str
    parser: Optional[Protego] = None
    crawl_delay: Optional[float] = None
    detail: Optional[str] = None

    def allows(self, url: str) -> bool:
        if self.status in ("unreachable", "blocked"):
            return False
        if self.parser is None:
            return True
        return bool(self.parser.can_fetch(url, AGENT))


def robots_url(url: str) -> Optional[str]:
    """The robots.txt governing ``url`` (same scheme, host and port); None for a URL with no host."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc}/robots.txt"


def rules_from(outcome: FetchOutcome) -> RobotsRules:
    """The rules a robots.txt fetch gives, as RFC 9309 §2.3.1 reads each kind of response."""
    error = outcome.error
    if error is None:
        if outcome.body is None:  # a 304 cannot happen (no validators are sent); read it as no rules
            return RobotsRules("none")
        text = outcome.body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
        parser = Protego.parse(text)
        delay = parser.crawl_delay(AGENT)
        return RobotsRules("rules", parser, float(delay) if delay else None)
    if isinstance(error, EmptyResponse):
        return RobotsRules("none", detail=str(error))
    if isinstance(error, BlockedURL):
        return RobotsRules("blocked", detail=str(error))
    if isinstance(error, HTTPStatusError) and not isinstance(error, RetryableStatus):
        return RobotsRules("none", detail=str(error))  # 4xx: "unavailable", everything allowed
    if isinstance(error, RetryableStatus) and outcome.status is not None and outcome.status < 500:
        return RobotsRules("none", detail=str(error))  # 408/429 after the client's retries: still a 4xx
    return RobotsRules("unreachable", detail=f"{type(error).__name__}: {error}")


class RobotsCache:
    """Each origin's rules for one run in one process, fetched once (thread-safe); kept ``ttl`` seconds."""

    def __init__(self, ttl: float = ROBOTS_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._rules: dict[str, tuple[RobotsRules, float]] = {}
        self._fetching: dict[str, threading.Lock] = {}

    def _known(self, target: str) -> Optional[RobotsRules]:
        with self._lock:
            known = self._rules.get(target)
        if known is None or self._clock() - known[1] > self.ttl:
            return None
        return known[0]

    def rules(self, url: str, fetch_robots: Callable[[str], FetchOutcome]) -> tuple[RobotsRules, bool]:
        """The rules for ``url``'s site and whether this call fetched them (False: cached).

        ``fetch_robots`` fetches a robots.txt URL (the caller's session,
        policy and host gate); it is called at most once per origin.
        """
        target = robots_url(url)
        if target is None:
            return RobotsRules("none"), False
        known = self._known(target)
        if known is not None:
            return known, False
        with self._lock:
            origin_lock = self._fetching.setdefault(target, threading.Lock())
        with origin_lock:
            known = self._known(target)
            if known is not None:
                return known, False
            found = rules_from(fetch_robots(target))
            with self._lock:
                self._rules[target] = (found, self._clock())
            return found, True
