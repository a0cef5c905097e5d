"""The pure functions under full text: budgets, the choice between page and feed, walls, merging, robots rules.

No server and no pipeline here (``test_fetch_pages.py`` talks to a real
server, ``test_fulltext_e2e.py`` runs real pipelines): each function is
called with the values the fetch layer would hand it, including the
``FetchOutcome`` of a robots.txt request for every kind of answer RFC 9309
distinguishes.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Optional

import numpy as np
import pytest
from apache_beam.utils.timestamp import Timestamp
from pageserver import article_html, expected_paragraphs, fixture, story
from support import blank_article

from schemas import Article, EncodingInfo
from transforms.errors import (
    BlockedURL,
    ConnectionFailed,
    DeadlineExceeded,
    EmptyResponse,
    FetchTimeout,
    HTTPStatusError,
    ResponseTooLarge,
    RetryableStatus,
    TooManyRedirects,
    TruncatedResponse,
    UnresolvableName,
    UnsupportedContent,
)
from transforms.extract import read_page
from transforms.fetch.client import FetchOutcome
from transforms.fetch.pages import PageFetch, crawl_delay, is_html, page_error_kind
from transforms.fetch.policy import FetchPolicy
from transforms.fetch.robots import MAX_ROBOTS_BYTES, RobotsCache, RobotsRules, robots_url, rules_from
from transforms.fetch.watchdog import FetchCancelled
from transforms.identify import content_hash
from transforms.metadata import word_count
from transforms.pages import (
    FEED_COMPLETE_WORDS,
    PAGE_ERRORS,
    WALL_MAX_WORDS,
    PageSettings,
    allocate,
    choose_text,
    over_budget,
    page_link,
    repaired_page_text,
    wall_kind,
    with_page,
)

PAGE = "http://news.test/2024/03/05/tidal-pool"


def feed_article(**fields: object) -> Article:
    fields.setdefault("text_source", "feed")
    fields.setdefault("url", PAGE)
    return blank_article(**fields)


def stamp(day: int, hour: int = 12) -> Timestamp:
    return Timestamp.from_utc_datetime(datetime(2024, 3, day, hour, tzinfo=UTC))


def documented(kind: str) -> bool:
    """Whether ``PAGE_ERRORS`` explains a ``page_error`` value (``http_404`` through ``http_<status>``)."""
    if kind.startswith("http_") and kind[5:].isdigit():
        return "http_<status>" in PAGE_ERRORS
    return kind in PAGE_ERRORS


# --------------------------------------------------------------------------
# page_link
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "url", "expected"),
    [
        ("feed", "http://news.test/a", "http://news.test/a"),
        ("feed", "https://news.test/a?x=1", "https://news.test/a?x=1"),
        ("feed", "HTTPS://news.test/a", "HTTPS://news.test/a"),
        ("file", "http://news.test/a", None),  # an article file is the article: nothing to fetch
        ("page", "http://news.test/a", None),
        ("feed", None, None),
        ("feed", "", None),
        ("feed", "ftp://news.test/a", None),
        ("feed", "mailto:desk@news.test", None),
        ("feed", "urn:uuid:4b3a0f1c", None),
        ("feed", "/relative/path", None),
        ("feed", "http:///no-host", None),
    ],
)
def test_page_link_only_for_http_links_of_feed_entries(
    source: str, url: Optional[str], expected: Optional[str]
) -> None:
    assert page_link(feed_article(text_source=source, url=url)) == expected


# --------------------------------------------------------------------------
# allocate
# --------------------------------------------------------------------------


def test_allocate_without_limits_gives_every_host_what_it_wants() -> None:
    demand = {"a.test": 700, "b.test": 3}
    assert allocate(demand, 0, 0) == demand


def test_allocate_caps_each_host_at_its_own_budget() -> None:
    assert allocate({"a.test": 700, "b.test": 3, "c.test": 10}, 0, 10) == {"a.test": 10, "b.test": 3, "c.test": 10}


def test_allocate_under_the_run_budget_takes_everything() -> None:
    assert allocate({"a.test": 5, "b.test": 5}, 10, 0) == {"a.test": 5, "b.test": 5}


def test_allocate_one_huge_host_cannot_starve_the_small_ones() -> None:
    granted = allocate({"huge.test": 5000, "small.test": 2, "mid.test": 7}, 20, 0)
    assert granted == {"huge.test": 11, "small.test": 2, "mid.test": 7}


def test_allocate_even_split_when_everyone_wants_more() -> None:
    granted = allocate({"a.test": 10, "b.test": 10, "c.test": 10}, 10, 0)
    assert sum(granted.values()) == 10
    assert max(granted.values()) - min(granted.values()) <= 1


def test_allocate_both_budgets_together() -> None:
    # The per-host cap applies first (a: 4), then the run's 9 pages are shared: b and c split what is left.
    granted = allocate({"a.test": 50, "b.test": 50, "c.test": 50}, 9, 4)
    assert granted == {"a.test": 3, "b.test": 3, "c.test": 3}
    granted = allocate({"a.test": 50, "b.test": 1}, 9, 4)
    assert granted == {"a.test": 4, "b.test": 1}


def test_allocate_a_budget_smaller_than_the_hosts() -> None:
    granted = allocate({f"h{i}.test": 3 for i in range(5)}, 2, 0)
    assert sum(granted.values()) == 2
    assert all(v in (0, 1) for v in granted.values())


def test_allocate_is_deterministic_whatever_the_order_of_the_demand() -> None:
    demand = {f"h{i}.test": (i * 7) % 11 + 1 for i in range(12)}
    first = allocate(demand, 23, 5)
    reordered = dict(reversed(list(demand.items())))
    assert allocate(reordered, 23, 5) == first


def test_allocate_is_max_min_fair_on_random_demands() -> None:
    rng = random.Random(13)
    for _ in range(500):
        demand = {f"h{i}.test": rng.choice([0, 1, 2, 5, 40, 900]) for i in range(rng.randint(1, 8))}
        max_pages, per_host = rng.choice([0, 1, 3, 10, 50]), rng.choice([0, 1, 4, 30])
        granted = allocate(demand, max_pages, per_host)
        wanted = {h: min(n, per_host) if per_host else n for h, n in demand.items()}
        assert set(granted) == set(demand)
        assert all(0 <= granted[h] <= wanted[h] for h in demand), (demand, max_pages, per_host, granted)
        total = sum(wanted.values()) if not max_pages else min(max_pages, sum(wanted.values()))
        assert sum(granted.values()) == total, (demand, max_pages, per_host, granted)
        short = [h for h in demand if granted[h] < wanted[h]]
        if short:  # a host denied pages got at least as much as anyone else, less rounding
            assert min(granted[h] for h in short) >= max(granted.values()) - 1, (demand, max_pages, granted)


# --------------------------------------------------------------------------
# over_budget
# --------------------------------------------------------------------------


def linked(article_id: str, host: str, published: Optional[Timestamp]) -> Article:
    return feed_article(article_id=article_id, url=f"http://{host}/{article_id}", published_at=published)


def test_over_budget_takes_the_newest_of_each_host_first() -> None:
    articles = [linked(f"a{day}", "a.test", stamp(day)) for day in (3, 9, 1, 7, 5)]
    articles += [linked("b1", "b.test", stamp(2)), linked("b2", "b.test", stamp(4))]
    settings = PageSettings(max_pages=4, max_pages_per_host=0)
    allocation = allocate(Counter(a.url.split("/")[2] for a in articles), 4, 0)  # type: ignore[union-attr]
    chosen, skipped = over_budget(articles, allocation, settings)
    assert sorted(articles[i].article_id for i in chosen) == ["a7", "a9", "b1", "b2"]
    assert sorted((articles[i].article_id, a.page_error) for i, a in skipped) == [
        ("a1", "budget"),
        ("a3", "budget"),
        ("a5", "budget"),
    ]
    for index, marked in skipped:  # the same article, only its page_error set
        assert marked._replace(page_error=None) == articles[index]


def test_over_budget_names_the_host_cap_when_it_is_what_refused() -> None:
    articles = [linked(f"a{day}", "a.test", stamp(day)) for day in range(1, 7)]
    settings = PageSettings(max_pages=0, max_pages_per_host=2)
    chosen, skipped = over_budget(articles, allocate({"a.test": 6}, 0, 2), settings)
    assert sorted(articles[i].article_id for i in chosen) == ["a5", "a6"]
    assert {a.page_error for _, a in skipped} == {"host_budget"}
    assert len(skipped) == 4


def test_over_budget_host_cap_and_run_budget_each_named() -> None:
    # Host a: cap 3, but the run's budget of 4 shared with b leaves a only 2: rank 2 is "budget", rank 3+ "host_budget".
    articles = [linked(f"a{day}", "a.test", stamp(day)) for day in range(1, 6)]
    articles += [linked(f"b{day}", "b.test", stamp(day)) for day in range(1, 3)]
    settings = PageSettings(max_pages=4, max_pages_per_host=3)
    allocation = allocate({"a.test": 5, "b.test": 2}, 4, 3)
    assert allocation == {"a.test": 2, "b.test": 2}
    _, skipped = over_budget(articles, allocation, settings)
    reasons = {a.article_id: a.page_error for _, a in skipped}
    assert reasons == {"a3": "budget", "a2": "host_budget", "a1": "host_budget"}


def test_over_budget_undated_articles_come_last() -> None:
    articles = [linked("undated", "a.test", None), linked("old", "a.test", stamp(1)), linked("new", "a.test", stamp(9))]
    chosen, skipped = over_budget(articles, {"a.test": 2}, PageSettings(max_pages=2, max_pages_per_host=0))
    assert sorted(articles[i].article_id for i in chosen) == ["new", "old"]
    assert [a.article_id for _, a in skipped] == ["undated"]


def test_over_budget_keeps_every_article_exactly_once() -> None:
    rng = random.Random(5)
    articles = [
        linked(f"x{i}", f"h{rng.randint(0, 3)}.test", stamp(rng.randint(1, 28)) if rng.random() < 0.8 else None)
        for i in range(60)
    ]
    demand = Counter(a.url.split("/")[2] for a in articles)  # type: ignore[union-attr]
    settings = PageSettings(max_pages=17, max_pages_per_host=6)
    chosen, skipped = over_budget(articles, allocate(demand, 17, 6), settings)
    positions = sorted(chosen + [i for i, _ in skipped])
    assert positions == list(range(60))
    assert len(chosen) == 17


# --------------------------------------------------------------------------
# wall_kind and choose_text
# --------------------------------------------------------------------------

CONSENT = (
    "We value your privacy. We and our partners store and/or access information on a device, such as "
    "cookies, and process personal data for personalised advertising. Accept all. Reject all. Manage preferences."
)
PAYWALL = (
    "For three generations, the Brandt family has milked cows here. Subscribe to continue reading. "
    "Get unlimited access for just $1 a week. Already a subscriber? Sign in"
)
ARTICLE = "\n\n".join(expected_paragraphs("article_boilerplate"))
TITLE = "Northcliff votes to restore its tidal swimming pool"
TEASER = "The tidal pool below the cliffs will reopen in 2026 after the town council voted to restore its seaward wall."


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (CONSENT, "consent"),
        (
            "Before you continue. We use cookies and data to deliver our services. Accept all or manage your cookie settings.",
            "consent",
        ),
        (
            "Wir verwenden Cookies. Klicken Sie auf Alle akzeptieren, um fortzufahren. Datenschutzeinstellungen",
            "consent",
        ),
        ("Nous utilisons des cookies. Accepter tous les cookies ou paramétrer les cookies.", "consent"),
        (PAYWALL, "paywall"),
        ("This article is only available to subscribers. Subscribe now for full access.", "paywall"),
        ("You have reached your limit of free articles this month. Sign in to read more.", "paywall"),
        ("Dieser Artikel ist exklusiv. Jetzt abonnieren und weiterlesen.", "paywall"),
        ("Cet article est réservé aux abonnés. Déjà abonné ? Connectez-vous.", "paywall"),
        (ARTICLE, None),
    ],
)
def test_wall_kind_recognises_prompts(text: str, kind: Optional[str]) -> None:
    assert wall_kind(text, None, 20) == kind


def test_wall_kind_a_long_article_mentioning_subscriptions_is_no_wall() -> None:
    long = ARTICLE + "\n\nSubscribe to continue reading our coverage of the coast. Already a subscriber? Sign in."
    assert len(long.split()) > WALL_MAX_WORDS
    assert wall_kind(long, None, 20) is None


def test_wall_kind_not_free_and_no_longer_than_the_teaser_is_a_paywall() -> None:
    short = "For three generations, the Brandt family has milked cows on forty hectares at the edge of the city."
    assert wall_kind(short, False, 18) == "paywall"
    assert wall_kind(short, None, 18) is None
    assert wall_kind(ARTICLE, False, 18) is None  # marked not free, yet the whole article is there (metered sites)


def test_choose_text_takes_the_page_when_it_is_the_article() -> None:
    choice = choose_text(TEASER, TEASER, TITLE, ARTICLE)
    assert choice.use_page and choice.error is None and choice.rule == "page"


@pytest.mark.parametrize(
    ("page_text", "error"),
    [
        ("", "extraction_empty"),
        ("   \n\n  ", "extraction_empty"),
        (CONSENT, "consent"),
        (PAYWALL, "paywall"),
    ],
)
def test_choose_text_keeps_the_feed_for_empty_pages_and_walls(page_text: str, error: str) -> None:
    choice = choose_text(TEASER, TEASER, TITLE, page_text)
    assert not choice.use_page and choice.error == error


def test_choose_text_keeps_the_feed_when_the_page_is_much_shorter() -> None:
    feed_text = ARTICLE  # the feed carries the article; the page only its first paragraph
    page_text = expected_paragraphs("article_boilerplate")[0]
    choice = choose_text(feed_text, TEASER, TITLE, page_text)
    assert not choice.use_page and choice.error == "shorter_than_feed"


def test_choose_text_keeps_the_feed_when_the_page_is_another_article() -> None:
    other = "\n\n".join(story(3, "elsewhere", paragraphs=6)["paragraphs"])
    choice = choose_text(TEASER, TEASER, TITLE, other, "Cycling club opens a repair workshop")
    assert not choice.use_page and choice.error == "mismatch"


def test_choose_text_keeps_the_feed_when_a_dead_link_lands_on_the_front_page() -> None:
    front = read_page(fixture("section_front.html"), "http://news.test/")
    choice = choose_text(TEASER, TEASER, TITLE, front.body.text, front.meta.title)
    assert not choice.use_page and choice.error == "mismatch"


def test_choose_text_title_alone_can_match() -> None:
    choice = choose_text("", None, TITLE, ARTICLE)
    assert choice.use_page


def test_choose_text_keeps_a_feed_that_already_has_the_whole_article() -> None:
    assert len(ARTICLE.split()) >= FEED_COMPLETE_WORDS
    choice = choose_text(ARTICLE, TEASER, TITLE, ARTICLE)
    assert not choice.use_page and choice.error is None and choice.rule == "feed_complete"


def test_choose_text_a_fuller_page_beats_a_long_feed_excerpt() -> None:
    paragraphs = expected_paragraphs("article_boilerplate")
    page = "\n\n".join(paragraphs * 3)  # the page is three times the feed's long excerpt
    choice = choose_text("\n\n".join(paragraphs), TEASER, TITLE, page)
    assert choice.use_page


def test_every_choice_error_is_documented() -> None:
    texts = ["", CONSENT, PAYWALL, "word " * 3, "\n\n".join(story(1, "z")["paragraphs"]), ARTICLE]
    for text in texts:
        error = choose_text(ARTICLE, TEASER, TITLE, text).error
        assert error is None or documented(error), error


# --------------------------------------------------------------------------
# page_error_kind, is_html, crawl_delay
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (BlockedURL("refused: 10.0.0.1 is a private address"), None, "blocked_address"),
        (HTTPStatusError("HTTP 404 Not Found"), 404, "http_404"),
        (HTTPStatusError("HTTP 410 Gone"), 410, "http_410"),
        (RetryableStatus("HTTP 503 Service Unavailable"), 503, "http_503"),
        (RetryableStatus("HTTP 429 Too Many Requests"), 429, "http_429"),
        (FetchTimeout("no response within 1 s"), None, "timeout"),
        (DeadlineExceeded("not complete after 2 s"), 200, "timeout"),
        (ResponseTooLarge("body exceeds the limit"), 200, "too_large"),
        (TruncatedResponse("ends after 10 of 20 bytes"), 200, "truncated"),
        (TooManyRedirects("more than 5 redirects"), 301, "too_many_redirects"),
        (EmptyResponse("HTTP 200 with an empty body"), 200, "empty"),
        (UnsupportedContent("Content-Encoding br"), 200, "undecodable"),
        (UnresolvableName("news.example is a special-use name"), None, "reserved_name"),
        (ConnectionFailed("connection refused"), None, "connection"),
    ],
)
def test_page_error_kind(error: BaseException, status: Optional[int], kind: str) -> None:
    assert page_error_kind(error, status) == kind
    assert documented(kind), f"{kind} is not in PAGE_ERRORS"


def test_a_page_abandoned_when_a_stream_stops_has_a_documented_reason() -> None:
    """A row's page_error is one of the values PAGE_ERRORS (and the README) explain: a stream stopped with
    Ctrl-C abandons the fetches in flight (``FetchCancelled``), and those articles are still written."""
    kind = page_error_kind(FetchCancelled("abandoned: the run is stopping"), None)
    assert documented(kind), f"page_error {kind!r} is written to rows but PAGE_ERRORS does not explain it"


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"<!DOCTYPE html><html><body><p>Hi</p></body></html>", "text/html; charset=utf-8", True),
        (b"<html xmlns='http://www.w3.org/1999/xhtml'><body/></html>", "application/xhtml+xml", True),
        (b"<!doctype html><html><body>x</body></html>", None, True),
        (b"\xef\xbb\xbf  <!DOCTYPE html><html></html>", None, True),
        (b"<!DOCTYPE html><html><body>x</body></html>", "text/plain", True),  # a server that labels pages badly
        (b"Just some words, no markup at all.", "text/plain", False),
        (b"<!DOCTYPE html><html></html>", "application/octet-stream", False),
        (PDF, "application/pdf", False),
        (PDF, "text/html", False),  # a PDF behind a lying Content-Type
        (PNG, "text/html", False),
        (PNG, "image/png", False),
        (b'{"title": "not a page"}', "application/json", False),
    ],
)
def test_is_html(body: bytes, content_type: Optional[str], expected: bool) -> None:
    assert is_html(body, content_type) is expected


def test_crawl_delay_is_the_longer_of_ours_and_the_sites_capped_by_the_longest_wait() -> None:
    policy = FetchPolicy(per_host_delay=1.0, max_retry_wait=60.0)
    assert crawl_delay(RobotsRules("rules"), policy) == 1.0
    assert crawl_delay(RobotsRules("rules", crawl_delay=0.2), policy) == 1.0
    assert crawl_delay(RobotsRules("rules", crawl_delay=5.0), policy) == 5.0
    assert crawl_delay(RobotsRules("rules", crawl_delay=86400.0), policy) == 60.0
    assert crawl_delay(RobotsRules("none"), FetchPolicy(per_host_delay=0.0)) == 0.0


# --------------------------------------------------------------------------
# robots.txt: rules_from and RobotsCache
# --------------------------------------------------------------------------


def robots_outcome(
    text: Optional[str] = None, error: Optional[BaseException] = None, status: Optional[int] = None
) -> FetchOutcome:
    outcome = FetchOutcome("http://news.test/robots.txt")
    outcome.status = status if status is not None else (200 if error is None else None)
    outcome.body = text.encode("utf-8") if text is not None else None
    outcome.error = error  # type: ignore[assignment]
    return outcome


def test_robots_rules_of_a_robots_txt() -> None:
    rules = rules_from(robots_outcome("User-agent: *\nDisallow: /private/\nCrawl-delay: 2.5\n"))
    assert rules.status == "rules"
    assert rules.allows("http://news.test/news/a")
    assert not rules.allows("http://news.test/private/a")
    assert rules.crawl_delay == 2.5


def test_robots_group_for_newsbeam_wins_over_the_star_group() -> None:
    text = "User-agent: *\nAllow: /\n\nUser-agent: newsbeam\nDisallow: /\n"
    rules = rules_from(robots_outcome(text))
    assert not rules.allows("http://news.test/a")
    # Only the most specific matching group applies (RFC 9309 §2.2.1), and tokens match without case.
    text = "User-agent: *\nDisallow: /\n\nUser-agent: NewsBeam\nDisallow: /private/\n"
    rules = rules_from(robots_outcome(text))
    assert rules.allows("http://news.test/news/a")
    assert not rules.allows("http://news.test/private/a")


def test_robots_longest_match_and_wildcards() -> None:
    text = "User-agent: *\nDisallow: /news/\nAllow: /news/public/\nDisallow: /*.pdf$\nDisallow: /*?print=\n"
    rules = rules_from(robots_outcome(text))
    assert rules.allows("http://news.test/news/public/a")
    assert not rules.allows("http://news.test/news/b")
    assert not rules.allows("http://news.test/reports/annual.pdf")
    assert rules.allows("http://news.test/reports/annual.pdf.html")
    assert not rules.allows("http://news.test/story?print=1")


def test_robots_empty_file_or_no_rules_allows_everything() -> None:
    for text in ("", "# nothing here\n", "User-agent: otherbot\nDisallow: /\n"):
        rules = rules_from(robots_outcome(text))
        assert rules.allows("http://news.test/a"), text


def test_robots_beyond_500_kib_is_ignored() -> None:
    padding = "# " + "x" * 1000 + "\n"
    text = (
        "User-agent: *\nDisallow: /early/\n" + padding * (MAX_ROBOTS_BYTES // len(padding) + 1) + "Disallow: /late/\n"
    )
    rules = rules_from(robots_outcome(text))
    assert not rules.allows("http://news.test/early/a")
    assert rules.allows("http://news.test/late/a")


@pytest.mark.parametrize(
    ("error", "status", "state", "allowed"),
    [
        (HTTPStatusError("HTTP 404 Not Found"), 404, "none", True),  # 4xx: "unavailable", everything may be fetched
        (HTTPStatusError("HTTP 403 Forbidden"), 403, "none", True),
        (HTTPStatusError("HTTP 401 Unauthorized"), 401, "none", True),
        (RetryableStatus("HTTP 429 Too Many Requests"), 429, "none", True),
        (EmptyResponse("HTTP 200 with an empty body"), 200, "none", True),
        (RetryableStatus("HTTP 503 Service Unavailable"), 503, "unreachable", False),  # 5xx: nothing is fetched
        (RetryableStatus("HTTP 500 Internal Server Error"), 500, "unreachable", False),
        (FetchTimeout("no response within 1 s"), None, "unreachable", False),
        (ConnectionFailed("connection refused"), None, "unreachable", False),
        (TruncatedResponse("ends early"), 200, "unreachable", False),
        (BlockedURL("refused: a private address"), None, "blocked", False),
    ],
)
def test_robots_rules_from_each_kind_of_failure(
    error: BaseException, status: Optional[int], state: str, allowed: bool
) -> None:
    rules = rules_from(robots_outcome(error=error, status=status))
    assert rules.status == state
    assert rules.allows("http://news.test/any/page") is allowed


def test_robots_url_per_origin() -> None:
    assert robots_url("http://news.test/a/b?c=d") == "http://news.test/robots.txt"
    assert robots_url("https://news.test:8443/a") == "https://news.test:8443/robots.txt"
    assert robots_url("HTTP://news.test/a") == "http://news.test/robots.txt"
    assert robots_url("ftp://news.test/a") is None
    assert robots_url("/relative") is None


class CountingRobots:
    """A robots.txt fetcher that counts its calls per URL (and can be slow, to make lanes overlap)."""

    def __init__(self, text: str = "User-agent: *\nDisallow: /private/\n", delay: float = 0.0):
        self.text = text
        self.delay = delay
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, url: str) -> FetchOutcome:
        with self._lock:
            self.calls[url] += 1
        if self.delay:
            time.sleep(self.delay)
        return robots_outcome(self.text)


def test_robots_cache_fetches_once_per_origin() -> None:
    cache, fetcher = RobotsCache(), CountingRobots()
    first, fetched = cache.rules("http://news.test/a", fetcher)
    assert fetched and first.status == "rules"
    for path in ("/b", "/private/c", "/d?x=1"):
        rules, fetched = cache.rules(f"http://news.test{path}", fetcher)
        assert not fetched and rules is first
    cache.rules("http://news.test:8080/a", fetcher)
    cache.rules("https://news.test/a", fetcher)
    cache.rules("http://other.test/a", fetcher)
    assert fetcher.calls == Counter(
        {
            "http://news.test/robots.txt": 1,
            "http://news.test:8080/robots.txt": 1,
            "https://news.test/robots.txt": 1,
            "http://other.test/robots.txt": 1,
        }
    )


def test_robots_cache_concurrent_lanes_wait_for_one_fetch() -> None:
    cache, fetcher = RobotsCache(), CountingRobots(delay=0.05)
    results: list[tuple[RobotsRules, bool]] = []
    lock = threading.Lock()

    def ask(n: int) -> None:
        found = cache.rules(f"http://news.test/story/{n}", fetcher)
        with lock:
            results.append(found)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fetcher.calls == Counter({"http://news.test/robots.txt": 1})
    assert sum(1 for _, fetched in results if fetched) == 1
    assert len({id(rules) for rules, _ in results}) == 1


def test_robots_cache_remembers_an_unreachable_site() -> None:
    cache = RobotsCache()
    calls = []

    def failing(url: str) -> FetchOutcome:
        calls.append(url)
        return robots_outcome(error=RetryableStatus("HTTP 503 Service Unavailable"), status=503)

    for n in range(3):
        rules, _ = cache.rules(f"http://down.test/{n}", failing)
        assert not rules.allows(f"http://down.test/{n}")
    assert calls == ["http://down.test/robots.txt"]


def test_robots_cache_no_request_for_a_link_without_an_origin() -> None:
    def never(url: str) -> FetchOutcome:
        raise AssertionError(f"fetched {url}")

    rules, fetched = RobotsCache().rules("mailto:desk@news.test", never)
    assert rules.allows("mailto:desk@news.test") and not fetched


# --------------------------------------------------------------------------
# with_page
# --------------------------------------------------------------------------


def detect(text: str) -> Optional[str]:
    return "en"


def page_of(html: str, url: str = PAGE) -> tuple:
    page = read_page(html, url, datetime(2024, 6, 1, tzinfo=UTC))
    text = repaired_page_text(page.body.text, EncodingInfo("utf-8", "declared", "utf-8", []), detect, False, url)
    return page, text


def teaser_article(**fields: object) -> Article:
    fields.setdefault("article_id", "id-of-the-feed-link")
    fields.setdefault("title", TITLE)
    fields.setdefault("text", TEASER)
    fields.setdefault("summary", TEASER)
    fields.setdefault("word_count", np.int32(len(TEASER.split())))
    fields.setdefault("content_hash", content_hash(TITLE, TEASER))
    return feed_article(**fields)


def test_with_page_takes_the_page_text_and_fills_what_the_feed_lacks() -> None:
    article = teaser_article()
    page, text = page_of(fixture("article_boilerplate.html"))
    choice = choose_text(article.text, article.summary, article.title, text.text, page.meta.title)
    merged = with_page(article, PageFetch(PAGE, final_url=PAGE, status=200, body=b"..."), page, text, choice)
    assert merged.text == ARTICLE
    assert merged.text_source == "page"
    assert merged.word_count == word_count(ARTICLE)
    assert merged.content_hash == content_hash(TITLE, ARTICLE) != article.content_hash
    assert merged.article_id == article.article_id and merged.url == article.url
    assert merged.summary == TEASER
    assert (merged.page_url, merged.page_status, merged.page_error) == (PAGE, 200, None)
    assert merged.authors == ["Maria Keller"]
    assert merged.published_at == Timestamp.from_utc_datetime(datetime(2024, 3, 5, 7, 30, tzinfo=UTC))
    assert merged.published_raw == "2024-03-05T08:30:00+01:00"
    assert merged.published_offset_minutes == 60
    assert merged.published_source == "page:jsonld"
    assert merged.site_name == "The Northcliff Courier"
    assert merged.image_url == "http://cdn.courier.test/images/2024/03/tidal-pool-low-tide.jpg"
    assert merged.canonical_url == "http://news.test/news/2024/03/05/northcliff-tidal-pool-restored"
    assert merged.description and merged.description.startswith("After a decade behind fences")


def test_with_page_keeps_the_feeds_date_and_authors() -> None:
    feed_date = stamp(7)
    article = teaser_article(
        published_at=feed_date,
        published_raw="Thu, 07 Mar 2024 12:00:00 GMT",
        published_source="feed",
        authors=["Jo Ng"],
    )
    page, text = page_of(fixture("article_boilerplate.html"))
    choice = choose_text(article.text, article.summary, article.title, text.text, page.meta.title)
    merged = with_page(article, PageFetch(PAGE, final_url=PAGE, status=200, body=b"..."), page, text, choice)
    assert merged.published_at == feed_date
    assert merged.published_raw == "Thu, 07 Mar 2024 12:00:00 GMT"
    assert merged.published_source == "feed"
    assert merged.authors == ["Jo Ng"]
    assert merged.text_source == "page"


def test_with_page_a_failed_fetch_changes_nothing_but_the_outcome() -> None:
    article = teaser_article()
    fetched = PageFetch(PAGE, final_url=PAGE, status=404, error="http_404", message="HTTP 404 Not Found")
    merged = with_page(article, fetched, None, None, None)
    assert merged._replace(page_url=None, page_status=None, page_error=None) == article
    assert (merged.page_url, merged.page_status, merged.page_error) == (PAGE, 404, "http_404")


def test_with_page_a_wall_keeps_the_feed_text_but_the_page_metadata() -> None:
    article = teaser_article(title="Inside the fight over the city's last dairy farm")
    page, text = page_of(fixture("paywall.html"))
    choice = choose_text(
        article.text, article.summary, article.title, text.text, page.meta.title, page.meta.accessible_for_free
    )
    assert choice.error == "paywall"
    merged = with_page(article, PageFetch(PAGE, final_url=PAGE, status=200, body=b"..."), page, text, choice)
    assert merged.text == TEASER and merged.text_source == "feed"
    assert merged.page_error == "paywall"
    assert merged.site_name == "The Metro Ledger"


def test_with_page_a_byline_at_the_top_of_the_page_text_becomes_the_authors() -> None:
    paragraphs = story(4, "byline", paragraphs=6)["paragraphs"]
    html = article_html("A byline test story", ["By Alma Reyes and Piet de Vries", *paragraphs])
    article = teaser_article(title="A byline test story", text=paragraphs[0], summary=paragraphs[0])
    page, text = page_of(html)
    choice = choose_text(article.text, article.summary, article.title, text.text, page.meta.title)
    merged = with_page(article, PageFetch(PAGE, final_url=PAGE, status=200, body=b"..."), page, text, choice)
    assert merged.text_source == "page"
    assert merged.authors == ["Alma Reyes", "Piet de Vries"]
    assert not merged.text.startswith("By ")
    assert merged.text == "\n\n".join(paragraphs)
