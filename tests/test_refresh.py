"""``transforms.refresh``: the publisher's refresh hints, one pure function per place a feed can say it.

Every hint is tested with good values and with what real servers and feeds
get wrong: negative, fractional, huge, garbage, repeated, dates in the past,
zero. Bad values are no hint (None), never a guess; good ones are capped at
a day.
"""

from __future__ import annotations

from typing import Optional

import pytest

from transforms.refresh import (
    MAX_REFRESH_SECONDS,
    FeedHints,
    RefreshHint,
    body_hint,
    cache_control_max_age,
    feed_hints,
    freshness_seconds,
    http_date,
    refresh_hint,
    retry_after_hint,
    retry_after_seconds,
    ttl_minutes,
    update_period_seconds,
)

NOW = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
DATE = "Tue, 14 Nov 2023 22:13:20 GMT"
SY = "http://purl.org/rss/1.0/modules/syndication/"


def rss(channel: str, items: str = "<item><title>x</title></item>") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:sy="{SY}"><channel>'
        f"<title>t</title>{channel}{items}</channel></rss>"
    ).encode()


# --------------------------------------------------------------------------
# Cache-Control
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, seconds",
    [
        ("max-age=3600", 3600),
        ("public, max-age=600", 600),
        ("MAX-AGE=60, must-revalidate", 60),
        ('max-age="120"', 120),  # quoted, as some servers send it
        (" max-age = 30 ", 30),
        ("max-age=0", 0),
        ("max-age=99999999999999999999", 99999999999999999999),  # huge: capped later, not here
        ("max-age=3600, max-age=3600", 3600),  # repeated, agreeing
        ("s-maxage=900", None),  # for shared caches only
    ],
)
def test_cache_control_max_age(value: str, seconds: Optional[int]) -> None:
    assert cache_control_max_age(value) == seconds


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "max-age=-5",
        "max-age=1.5",
        "max-age=abc",
        "max-age=",
        "max-age=²",  # a digit to str.isdigit, not to HTTP
        "max-age=60, max-age=3600",  # contradictory: stale (RFC 9111 §4.2.1)
        "no-store, max-age=3600",
        "max-age=3600, no-cache",
        "private",
    ],
)
def test_cache_control_without_a_usable_max_age(value: Optional[str]) -> None:
    assert cache_control_max_age(value) is None


def test_freshness_is_max_age_minus_age() -> None:
    hint = freshness_seconds({"Cache-Control": "max-age=3600", "Age": "600"})
    assert hint == RefreshHint(3000.0, "Cache-Control: max-age=3600")


def test_freshness_already_used_up_by_age_is_no_hint() -> None:
    assert freshness_seconds({"Cache-Control": "max-age=60", "Age": "600"}) is None


def test_freshness_ignores_an_unreadable_age() -> None:
    assert freshness_seconds({"Cache-Control": "max-age=60", "Age": "-3"}) == RefreshHint(
        60.0, "Cache-Control: max-age=60"
    )


def test_header_names_are_case_insensitive() -> None:
    assert freshness_seconds({"cache-control": "max-age=60"}) == RefreshHint(60.0, "Cache-Control: max-age=60")


# --------------------------------------------------------------------------
# Expires
# --------------------------------------------------------------------------


def test_expires_counts_from_the_servers_date() -> None:
    hint = freshness_seconds({"Expires": "Tue, 14 Nov 2023 23:13:20 GMT", "Date": DATE}, now=NOW + 99999)
    assert hint is not None and hint.seconds == 3600.0 and hint.source.startswith("Expires: ")


def test_expires_without_a_date_counts_from_now() -> None:
    hint = freshness_seconds({"Expires": "Tue, 14 Nov 2023 22:23:20 GMT"}, now=NOW)
    assert hint is not None and hint.seconds == 600.0


@pytest.mark.parametrize(
    "expires",
    [
        "Mon, 13 Nov 2023 22:13:20 GMT",  # in the past
        DATE,  # expires now
        "0",  # invalid: already expired (RFC 9111 §5.3)
        "-1",
        "never",
        "",
        "Fri, 31 Feb 2023 10:00:00 GMT",  # no such day
    ],
)
def test_expires_in_the_past_or_unreadable_is_no_hint(expires: str) -> None:
    assert freshness_seconds({"Expires": expires, "Date": DATE}, now=NOW) is None


def test_max_age_outranks_expires() -> None:
    headers = {"Cache-Control": "max-age=60", "Expires": "Wed, 15 Nov 2023 22:13:20 GMT", "Date": DATE}
    assert freshness_seconds(headers, now=NOW) == RefreshHint(60.0, "Cache-Control: max-age=60")


def test_no_cache_outranks_expires() -> None:
    headers = {"Cache-Control": "no-cache", "Expires": "Wed, 15 Nov 2023 22:13:20 GMT", "Date": DATE}
    assert freshness_seconds(headers, now=NOW) is None


def test_an_unreadable_date_falls_back_to_now() -> None:
    headers = {"Expires": "Tue, 14 Nov 2023 22:43:20 GMT", "Date": "yesterday"}
    hint = freshness_seconds(headers, now=NOW)
    assert hint is not None and hint.seconds == 1800.0


@pytest.mark.parametrize("value", [None, "", "   ", "garbage", "Tue, 99 Nov 2023 22:13:20 GMT"])
def test_http_date_unreadable(value: Optional[str]) -> None:
    assert http_date(value) is None


def test_http_date_reads_the_three_http_forms() -> None:
    for value in ("Tue, 14 Nov 2023 22:13:20 GMT", "Tuesday, 14-Nov-23 22:13:20 GMT", "Tue Nov 14 22:13:20 2023"):
        assert http_date(value) == NOW, value


# --------------------------------------------------------------------------
# Retry-After
# --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_of_a_429_or_503(status: int) -> None:
    assert retry_after_hint(status, {"Retry-After": "3600"}) == RefreshHint(
        3600.0, f"Retry-After: 3600 (HTTP {status})"
    )


@pytest.mark.parametrize("status", [200, 301, 500, 502, None])
def test_retry_after_of_other_statuses_is_not_a_refresh_hint(status: Optional[int]) -> None:
    assert retry_after_hint(status, {"Retry-After": "3600"}) is None


def test_retry_after_as_a_date() -> None:
    hint = retry_after_hint(503, {"Retry-After": "Tue, 14 Nov 2023 22:18:20 GMT"}, now=NOW)
    assert hint is not None and hint.seconds == 300.0


@pytest.mark.parametrize("value", ["-60", "1.5", "soon", "", "Mon, 13 Nov 2023 22:13:20 GMT", "0"])
def test_retry_after_negative_garbage_or_past_is_no_hint(value: str) -> None:
    assert retry_after_hint(429, {"Retry-After": value}, now=NOW) is None


def test_retry_after_seconds_still_reads_both_forms() -> None:
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Tue, 14 Nov 2023 22:15:20 GMT", now=NOW) == 120.0
    assert retry_after_seconds("Mon, 13 Nov 2023 22:13:20 GMT", now=NOW) == 0.0
    assert retry_after_seconds("later") is None


# --------------------------------------------------------------------------
# RSS <ttl> and the syndication module
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, minutes",
    [("60", 60), (" 15 ", 15), ("0", 0), ("-5", None), ("1.5", None), ("an hour", None), (None, None), ("", None)],
)
def test_ttl_minutes(value: Optional[str], minutes: Optional[int]) -> None:
    assert ttl_minutes(value) == minutes


@pytest.mark.parametrize(
    "period, frequency, seconds",
    [
        ("hourly", "1", 3600.0),
        ("hourly", "2", 1800.0),
        ("daily", None, 86400.0),
        (None, "4", 21600.0),  # the period defaults to daily
        ("Weekly", "7", 86400.0),
        (" monthly ", "1", 30 * 86400.0),
        ("yearly", "365", 86400.0),
    ],
)
def test_update_period_seconds(period: Optional[str], frequency: Optional[str], seconds: float) -> None:
    assert update_period_seconds(period, frequency) == seconds


@pytest.mark.parametrize(
    "period, frequency",
    [
        (None, None),  # no syndication elements: no hint (not "daily")
        ("fortnightly", "1"),
        ("", "1"),
        ("hourly", "0"),
        ("hourly", "-2"),
        ("hourly", "two"),
        ("hourly", "1.5"),
    ],
)
def test_update_period_unreadable_is_no_hint(period: Optional[str], frequency: Optional[str]) -> None:
    assert update_period_seconds(period, frequency) is None


def test_feed_hints_reads_the_channel_of_rss() -> None:
    document = rss(
        "<ttl>60</ttl><sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>",
        "<item><ttl>1</ttl><sy:updatePeriod>yearly</sy:updatePeriod></item>",
    )
    assert feed_hints(document) == FeedHints("60", "hourly", "2")


def test_feed_hints_of_rss_1_and_atom() -> None:
    rdf = (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        f'xmlns="http://purl.org/rss/1.0/" xmlns:sy="{SY}"><channel><title>t</title>'
        "<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>3</sy:updateFrequency></channel>"
        "<item><title>x</title></item></rdf:RDF>"
    ).encode()
    assert feed_hints(rdf) == FeedHints(None, "daily", "3")
    atom = (
        f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:sy="{SY}"><title>t</title>'
        "<sy:updatePeriod>hourly</sy:updatePeriod><entry><title>x</title></entry></feed>"
    ).encode()
    assert feed_hints(atom) == FeedHints(None, "hourly", None)


def test_a_ttl_in_a_namespace_or_inside_an_item_is_not_the_channels() -> None:
    document = rss('<x:ttl xmlns:x="urn:x">5</x:ttl>', "<item><ttl>90</ttl></item>")
    assert feed_hints(document) == FeedHints()


@pytest.mark.parametrize(
    "document",
    [
        None,
        b"",
        b'{"version": "https://jsonfeed.org/version/1.1", "items": []}',
        b"not xml at all",
        b"<rss><channel><ttl>60",  # cut off: what was read stands, nothing guessed
    ],
)
def test_feed_hints_of_documents_without_hints(document: Optional[bytes]) -> None:
    assert feed_hints(document).update_period is None


def test_feed_hints_never_expand_entities() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "60"><!ENTITY b SYSTEM "file:///etc/hostname">]>'
        b"<rss><channel><ttl>&a;</ttl><description>&b;</description></channel></rss>"
    )
    assert ttl_minutes(feed_hints(bomb).ttl) is None


def test_body_hint_takes_the_longest_and_names_it() -> None:
    document = rss("<ttl>30</ttl><sy:updatePeriod>hourly</sy:updatePeriod>")
    assert body_hint(document) == RefreshHint(3600.0, "sy:updatePeriod=hourly")
    assert body_hint(rss("<ttl>120</ttl><sy:updatePeriod>hourly</sy:updatePeriod>")) == RefreshHint(
        7200.0, "<ttl>120</ttl>"
    )


# --------------------------------------------------------------------------
# The hint of a response
# --------------------------------------------------------------------------


def test_refresh_hint_is_the_longest_of_headers_and_body() -> None:
    headers = {"Cache-Control": "max-age=300"}
    assert refresh_hint(200, headers, rss("<ttl>60</ttl>")) == RefreshHint(3600.0, "<ttl>60</ttl>")
    assert refresh_hint(200, {"Cache-Control": "max-age=7200"}, rss("<ttl>60</ttl>")) == RefreshHint(
        7200.0, "Cache-Control: max-age=7200"
    )


def test_refresh_hint_of_a_304_reads_its_headers() -> None:
    assert refresh_hint(304, {"Cache-Control": "max-age=900"}) == RefreshHint(900.0, "Cache-Control: max-age=900")


def test_refresh_hint_of_an_error_is_only_its_retry_after() -> None:
    assert refresh_hint(500, {"Cache-Control": "max-age=900"}, rss("<ttl>60</ttl>")) is None
    assert refresh_hint(429, {"Retry-After": "120", "Cache-Control": "max-age=900"}) == RefreshHint(
        120.0, "Retry-After: 120 (HTTP 429)"
    )


@pytest.mark.parametrize(
    "headers, document",
    [
        ({"Cache-Control": "max-age=99999999"}, None),
        ({"Expires": "Fri, 01 Jan 2100 00:00:00 GMT", "Date": DATE}, None),
        ({}, rss("<ttl>5256000</ttl>")),  # ten years of minutes
        ({}, rss("<sy:updatePeriod>yearly</sy:updatePeriod>")),
    ],
)
def test_refresh_hint_is_capped_at_a_day(headers: dict[str, str], document: Optional[bytes]) -> None:
    hint = refresh_hint(200, headers, document, now=NOW)
    assert hint is not None and hint.seconds == MAX_REFRESH_SECONDS


def test_refresh_hint_of_nothing_is_none() -> None:
    assert refresh_hint(200, {}, rss("")) is None
    assert refresh_hint(None, {}, None) is None
    assert refresh_hint(200, {"Cache-Control": "max-age=0"}, rss("<ttl>0</ttl>")) is None
