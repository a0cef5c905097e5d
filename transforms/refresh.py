"""Refresh hints: when a publisher says to come back, and how long that may be.

A feed can say how often it is worth fetching, in five places:

* ``Cache-Control: max-age=N`` (minus ``Age``), on a 200 or a 304;
* ``Expires`` (an HTTP date), counted from the response's ``Date`` (the
  server's clock), only when there is no ``max-age`` (RFC 9111 §5.3);
* RSS 2.0 ``<ttl>`` (minutes) in the channel;
* the syndication module's ``<sy:updatePeriod>`` (hourly … yearly, daily
  when absent) divided by ``<sy:updateFrequency>`` (1 when absent);
* ``Retry-After`` (seconds or an HTTP date) on a 429 or a 503.

Like Miniflux (``ScheduleNextCheck``: the largest of TTL, Cache-Control,
Expires and Retry-After, capped) and reader (which moves a feed's
``update_after`` on a 429/503 ``Retry-After``), the hint is the longest of
those the response gives, and it is capped: never more than
``MAX_REFRESH_SECONDS`` (a day), so a typo of a publisher or a hostile
server can delay a feed by a day at most. A hint shorter than the poll
interval changes nothing (the next poll is later anyway). Anything
unreadable — a negative or non-numeric value, a date in the past, a
``no-store`` — is no hint at all, never a guess.

Every function here is pure: headers, bytes and the time in, a number out.
"""

from __future__ import annotations

import io
import time
from email.utils import parsedate_to_datetime
from typing import Mapping, NamedTuple, Optional

import lxml.etree

#: The longest a hint may hold a feed back: one day.
MAX_REFRESH_SECONDS = 24 * 60 * 60
SYNDICATION = "http://purl.org/rss/1.0/modules/syndication/"
#: ``sy:updatePeriod`` values in seconds (a month as 30 days, a year as 365).
_PERIODS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 7 * 86400,
    "monthly": 30 * 86400,
    "yearly": 365 * 86400,
}
#: Statuses whose ``Retry-After`` is about when to come back (a 3xx's is not).
RETRY_AFTER_STATUSES = frozenset({429, 503})
#: The headers a refresh hint is read from (what ``fetch`` keeps of the last response).
HINT_HEADERS = ("Cache-Control", "Expires", "Date", "Age", "Retry-After")


class RefreshHint(NamedTuple):
    """Seconds until the next fetch is worth making, and where the publisher said so."""

    seconds: float
    source: str


def whole_number(value: Optional[str]) -> Optional[int]:
    """A header's non-negative integer (ASCII digits only: "²".isdigit() is true), else None."""
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def http_date(value: Optional[str]) -> Optional[float]:
    """An HTTP date (any form ``email.utils`` reads) as seconds since the epoch; None when unreadable."""
    if not value or not value.strip():
        return None
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None:
        return None
    try:
        return moment.timestamp()  # a date without a zone is read as UTC by email.utils
    except (OverflowError, OSError, ValueError):
        return None


def retry_after_seconds(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """A ``Retry-After`` header in seconds (delta-seconds or an HTTP date), None if absent or unreadable."""
    if not value:
        return None
    seconds = whole_number(value)
    if seconds is not None:
        return float(seconds)
    when = http_date(value)
    if when is None:
        return None
    return max(0.0, when - (time.time() if now is None else now))


def cache_control_max_age(value: Optional[str]) -> Optional[int]:
    """``max-age`` of a ``Cache-Control`` header; None when absent, unreadable, repeated or overridden.

    ``no-store`` and ``no-cache`` mean "ask every time": no hint. Two
    different ``max-age`` values are a contradiction, read as none (RFC 9111
    §4.2.1 says to treat such a response as stale).
    """
    if not value:
        return None
    ages: set[int] = set()
    for directive in value.split(","):
        name, _, argument = directive.strip().partition("=")
        name = name.strip().lower()
        if name in ("no-store", "no-cache"):
            return None
        if name == "max-age":
            seconds = whole_number(argument.strip().strip('"'))
            if seconds is None:
                return None
            ages.add(seconds)
    return ages.pop() if len(ages) == 1 else None


def freshness_seconds(headers: Mapping[str, str], now: Optional[float] = None) -> Optional[RefreshHint]:
    """How long the response stays fresh by its HTTP headers: ``max-age`` minus ``Age``, else ``Expires`` − ``Date``."""
    control = _header(headers, "Cache-Control")
    max_age = cache_control_max_age(control)
    if max_age is not None:
        age = whole_number(_header(headers, "Age")) or 0
        return _hint(max_age - age, f"Cache-Control: {control.strip()}" if control else "Cache-Control")
    if control and any(
        d.strip().split("=", 1)[0].strip().lower() in ("no-store", "no-cache") for d in control.split(",")
    ):
        return None  # "ask every time" outranks Expires
    expires_header = _header(headers, "Expires")
    expires = http_date(expires_header)
    if expires is None:
        return None  # absent, or an invalid date ("0", "-1"): already expired (RFC 9111 §5.3)
    reference = http_date(_header(headers, "Date"))
    if reference is None:
        reference = time.time() if now is None else now
    return _hint(expires - reference, f"Expires: {expires_header.strip()}" if expires_header else "Expires")


def retry_after_hint(
    status: Optional[int], headers: Mapping[str, str], now: Optional[float] = None
) -> Optional[RefreshHint]:
    """``Retry-After`` of a 429 or 503 as a hint; other statuses' Retry-After is not about the feed's refresh."""
    if status not in RETRY_AFTER_STATUSES:
        return None
    value = _header(headers, "Retry-After")
    seconds = retry_after_seconds(value, now)
    if seconds is None or value is None:
        return None
    return _hint(seconds, f"Retry-After: {value.strip()} (HTTP {status})")


def ttl_minutes(value: Optional[str]) -> Optional[int]:
    """RSS ``<ttl>``: whole minutes; None when unreadable (negative, fractional, words)."""
    return whole_number(value)


def update_period_seconds(period: Optional[str], frequency: Optional[str]) -> Optional[float]:
    """``sy:updatePeriod`` / ``sy:updateFrequency`` in seconds between updates; None when either is unreadable.

    The module's defaults apply to an absent element: daily, once.
    """
    if period is None and frequency is None:
        return None
    seconds = _PERIODS.get("daily" if period is None else period.strip().lower())
    if seconds is None:
        return None
    times = 1 if frequency is None else whole_number(frequency)
    if not times:  # unreadable, or zero updates a period
        return None
    return seconds / times


class FeedHints(NamedTuple):
    """The channel's own refresh elements, as written."""

    ttl: Optional[str] = None
    update_period: Optional[str] = None
    update_frequency: Optional[str] = None


_ENTRY_TAGS = frozenset({"item", "entry"})


def feed_hints(document: Optional[bytes]) -> FeedHints:
    """``<ttl>``, ``<sy:updatePeriod>`` and ``<sy:updateFrequency>`` of a feed document's channel.

    Reads the document head only, up to the first item or entry, where
    feeds put their channel elements (and where RSS 1.0 keeps its channel):
    a few kilobytes of a feed of any size. No DTD, no entities, no network:
    the bytes came from outside. Anything that is not XML has no hints.
    """
    if not document or not document.lstrip()[:1] == b"<":
        return FeedHints()
    found: dict[str, str] = {}
    depth = 0
    parser = lxml.etree.iterparse(
        io.BytesIO(document),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        recover=True,
    )
    try:
        for event, element in parser:
            tag = element.tag if isinstance(element.tag, str) else ""
            namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
            if event == "start":
                depth += 1
                if local.lower() in _ENTRY_TAGS:
                    break
                continue
            depth -= 1
            if depth > 2:  # rss/channel/ttl, rdf:RDF/channel/sy:…, feed/sy:…: channel level at most
                element.clear()
                continue
            text = (element.text or "").strip()
            if local == "ttl" and not namespace and "ttl" not in found:
                found["ttl"] = text
            elif namespace == SYNDICATION and local == "updatePeriod":
                found.setdefault("update_period", text)
            elif namespace == SYNDICATION and local == "updateFrequency":
                found.setdefault("update_frequency", text)
    except lxml.etree.LxmlError:
        pass  # what was read before the damage stands
    return FeedHints(**found)


def body_hint(document: Optional[bytes]) -> Optional[RefreshHint]:
    """The longest of the channel's ``<ttl>`` and syndication-module hints."""
    hints = feed_hints(document)
    found = []
    minutes = ttl_minutes(hints.ttl)
    if minutes is not None:
        found.append(_hint(minutes * 60, f"<ttl>{hints.ttl}</ttl>"))
    seconds = update_period_seconds(hints.update_period, hints.update_frequency)
    if seconds is not None:
        source = " ".join(
            f"sy:{name}={value}"
            for name, value in (("updatePeriod", hints.update_period), ("updateFrequency", hints.update_frequency))
            if value is not None
        )
        found.append(_hint(seconds, source))
    return _longest(found)


def refresh_hint(
    status: Optional[int],
    headers: Mapping[str, str],
    document: Optional[bytes] = None,
    now: Optional[float] = None,
) -> Optional[RefreshHint]:
    """The longest refresh hint of one response (headers, and the feed document when there is one), capped."""
    found = [retry_after_hint(status, headers, now)]
    if status is not None and (200 <= status < 300 or status == 304):
        found.append(freshness_seconds(headers, now))
        found.append(body_hint(document))
    return _longest(found)


def _longest(hints: list[Optional[RefreshHint]]) -> Optional[RefreshHint]:
    present = [hint for hint in hints if hint is not None]
    return max(present, key=lambda h: h.seconds) if present else None


def _hint(seconds: float, source: str) -> Optional[RefreshHint]:
    """A hint of ``seconds`` capped at a day; None for nothing to wait (zero or less)."""
    if seconds <= 0:
        return None
    return RefreshHint(float(min(seconds, MAX_REFRESH_SECONDS)), source[:200])


def _header(headers: Mapping[str, str], name: str) -> Optional[str]:
    """A header by name, whatever its case (``requests`` headers are case-insensitive; plain dicts are not)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value
