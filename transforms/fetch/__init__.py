"""Fetching over HTTP: like a careful feed reader, safe against hostile servers, polite to every host.

One module per concern, each importing only those before it:

* ``policy``   — ``FetchPolicy``: every setting of a fetch, with the defaults the options take;
* ``watchdog`` — ``StopSignal`` and ``Watchdog``: the deadline of a whole response, and a stop every wait honours;
* ``guard``    — ``check_url``, ``blocked_reason`` and the guarded connection pools (no request to a
  non-public address, redirect targets and DNS answers included, unless ``--allow-private-hosts``);
* ``client``   — ``make_session`` and ``fetch``: one URL with retries, ``Retry-After``, conditional
  requests, body limits and decoding; the caller says what it accepts (``accept=``);
* ``hosts``    — ``HostGate``, ``fetch_all`` and the ``FetchContext`` (each host's gate and slots, and the
  watchdog) shared through ``SharedFetchContext`` by every transform given the same handle;
* ``feeds``    — the feed fetch (``fetch_feed``: the feed Accept header, autodiscovery from a web page,
  OPML lists) and the batch transform ``FetchFeeds``;
* ``polling``  — its streaming twin ``PollFeeds`` (keyed state per feed, ``StreamControl`` to stop it).

Nothing here is module-level state: what must be shared in a process (the
gates, the slots, the watchdog, a stream's fetches in flight) is held by an
object acquired through Beam's ``Shared``. Another kind of fetch (pages
linked from articles) calls ``client.fetch`` with its own ``accept`` under
the same ``FetchContext``, and so shares each host's limits with the feeds.
"""

from transforms.fetch.client import (
    ANY_ACCEPT,
    EXCHANGES,
    FetchOutcome,
    Validators,
    decode_body,
    fetch,
    inflate_limited,
    make_session,
    retry_delay,
)
from transforms.fetch.feeds import (
    FEED_ACCEPT,
    FETCHES,
    LISTED,
    FetchFeeds,
    discover_feed,
    fetch_feed,
    listed_requests,
    looks_like_html_page,
    shard_of,
    validators_for,
)
from transforms.fetch.guard import blocked_reason, check_url
from transforms.fetch.hosts import FetchContext, HostGate, SharedFetchContext, fetch_all, host_of
from transforms.fetch.policy import VERSION, FetchPolicy
from transforms.fetch.polling import (
    ABANDONED,
    DUE_TOLERANCE,
    IN_FLIGHT,
    NOT_DUE,
    QUICK_BUDGET,
    QUICK_WAIT,
    SKIP_REASONS,
    SKIP_TALLIES,
    SKIPPED,
    STOP_CUT_AFTER,
    STOP_FETCH_GRACE,
    STREAKS,
    PollFeeds,
    StreamControl,
    feed_requests,
    poll_due,
)
from transforms.fetch.watchdog import FetchCancelled, StopSignal, Watchdog

__all__ = (
    "ABANDONED",
    "ANY_ACCEPT",
    "DUE_TOLERANCE",
    "EXCHANGES",
    "FEED_ACCEPT",
    "FETCHES",
    "IN_FLIGHT",
    "LISTED",
    "NOT_DUE",
    "QUICK_BUDGET",
    "QUICK_WAIT",
    "SKIPPED",
    "SKIP_REASONS",
    "SKIP_TALLIES",
    "STOP_CUT_AFTER",
    "STOP_FETCH_GRACE",
    "STREAKS",
    "VERSION",
    "FetchCancelled",
    "FetchContext",
    "FetchFeeds",
    "FetchOutcome",
    "FetchPolicy",
    "HostGate",
    "PollFeeds",
    "SharedFetchContext",
    "StopSignal",
    "StreamControl",
    "Validators",
    "Watchdog",
    "blocked_reason",
    "check_url",
    "decode_body",
    "discover_feed",
    "fetch",
    "fetch_all",
    "fetch_feed",
    "feed_requests",
    "host_of",
    "inflate_limited",
    "listed_requests",
    "looks_like_html_page",
    "make_session",
    "poll_due",
    "retry_delay",
    "shard_of",
    "validators_for",
)
