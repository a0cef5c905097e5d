"""A web page's publication date: the page's own structured claims first, htmldate only where they are silent.

Why this order (measured in ``bench/page_meta_bench.py`` on 200 hand-dated
news pages and on 728 dated pages of a second set): what a page states in
machine-readable form (JSON-LD ``datePublished``, publication ``<meta>`` tags,
``itemprop``, a date in the URL path, a ``<time>`` marked as the publication)
is right far more often than a date guessed from text, and when those
statements disagree the page is more often a live blog, a listing or a
republished story whose date nobody can tell from the markup. So:

* every source yields candidates, each read to the day *as written* (a
  ``…T00:30:00Z`` stamp is the 1st even if the publisher's local day was the
  31st; the value keeps its zone so ``parse_date`` gets the instant right);
* the strong sources (JSON-LD, meta, itemprop, URL) must agree on one day, or
  the page gets none from them (refuse on conflict: a missing date is better
  than a wrong one); the weaker ones (a marked ``<time>``, the only
  ``<article>``'s first ``<time>``, a short "date" element's text) count only
  where no strong source speaks;
* only then htmldate (``original_date=True``) searches the rest of the page.
  Where the strong sources disagreed, htmldate may only pick one of their
  days, never add another; and its January 1st answers, which is what it
  says when all it found is a year, are refused.

Only dates between ``DateBounds.earliest`` (1995, before which no news page
is dated by its own markup) and the day after the fetch are kept: a page
dated in the future is a template default or a typo.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any, Iterable, NamedTuple, Optional
from urllib.parse import urlsplit

import lxml.html

from transforms.metadata import parse_date

#: A JSON-LD object, as ``json.loads`` gives it.
JsonObject = dict[str, Any]
#: ``<meta>`` contents by lower-cased key (``property``/``name``), ``itemprop:…`` for itemprop, in page order.
MetaTags = dict[str, list[str]]

_FIRST_YEAR = date(1995, 1, 1)


class DateBounds(NamedTuple):
    """The days a page date may fall on, both inclusive."""

    earliest: date
    latest: date


def bounds_for(fetched_at: datetime, earliest: date = _FIRST_YEAR, ahead: timedelta = timedelta(days=1)) -> DateBounds:
    """The plausible days for a page fetched at ``fetched_at``: from ``earliest`` to a day after the fetch."""
    return DateBounds(earliest, (fetched_at + ahead).date())


class DateCandidate(NamedTuple):
    """One date a source of the page states."""

    day: date
    raw: str  # as written, or normalised to ISO 8601 where ``parse_date`` would not read it to ``day``
    source: str
    tier: int  # lower wins; 0-1 and ``url`` are the strong sources that must agree


# Tiers: what each kind of source is worth when several are present.
_JSONLD, _STRUCTURED, _URL, _TIME_MARKED, _TIME_ARTICLE, _TEXT = range(6)
#: The tiers whose candidates must agree on one day.
STRONG_TIERS = (_JSONLD, _STRUCTURED, _URL)

# ------------------------------------------------------------------ reading one value

_NUMERIC_DATE = re.compile(
    r"(?P<y>\d{4})(?P<sep>[-/.]?)(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    r"(?:(?:[T\s]+|T?)(?P<H>\d{1,2}):?(?P<M>\d{2})(?::?(?P<S>\d{2})(?:[.,]\d+)?)?"
    r"\s*(?P<zone>Z|[+-]\d{2}(?::?\d{2})?|(?:UTC|GMT)(?:[+-]\d{1,2}(?::?\d{2})?)?)?)?"
    r"(?P<rest>.*)",
    re.IGNORECASE | re.DOTALL,
)


def _local_day(raw: str) -> Optional[date]:
    """The day ``parse_date`` reads ``raw`` to, in the zone it was written with."""
    parsed = parse_date(raw)
    if parsed is None:
        return None
    return (parsed.utc + timedelta(minutes=parsed.offset_minutes or 0)).date()


def _zone_iso(zone: str) -> str:
    zone = zone.upper()
    if zone in ("Z", "UTC", "GMT"):
        return "Z"
    zone = re.sub(r"^(?:UTC|GMT)", "", zone)
    sign, digits = zone[0], zone[1:].replace(":", "")
    hours, minutes = (digits[:-2], digits[-2:]) if len(digits) > 2 else (digits, "00")
    return f"{sign}{int(hours):02d}:{minutes}"


def read_date(value: object, bounds: DateBounds) -> Optional[tuple[date, str]]:
    """A full date (year, month and day) as written in ``value``, and a string ``parse_date`` reads to that day.

    Machine forms only: ISO 8601 and its relatives (``2020-6-7``,
    ``2020/06/07``, ``2020.06.07``, ``20200607``, with an optional time and
    zone) and the forms ``parse_date`` reads (RFC 2822, English month names).
    A year or a month alone, day-first or month-first numbers (``07/06/2020``)
    and anything outside ``bounds`` give None.
    """
    if not isinstance(value, str):
        return None
    raw = " ".join(value.split())
    if not raw or len(raw) > 80:
        return None
    match = _NUMERIC_DATE.match(raw)
    if match:
        try:
            day = date(int(match["y"]), int(match["m"]), int(match["d"]))
        except ValueError:
            return None
        if not bounds.earliest <= day <= bounds.latest:
            return None
        if match["rest"].strip()[:1].isdigit():
            return None  # "2020-06-07123": not one date
        if _local_day(raw) == day:
            return day, raw
        iso = day.isoformat()
        if match["H"] is not None and int(match["H"]) < 24:
            stamp = f"{iso}T{int(match['H']):02d}:{match['M']}:{match['S'] or '00'}"
            stamp += _zone_iso(match["zone"]) if match["zone"] else ""
            if _local_day(stamp) == day:
                return day, stamp
        return day, iso
    if raw[:4].isdigit():
        return None  # "2020", "2020-06": a year or month is not a publication day
    found = _local_day(raw)
    if found is None or not bounds.earliest <= found <= bounds.latest:
        return None
    return found, raw


# Day-first and unambiguous numeric dates in visible text ("07.06.2020", "31/05/2020").
_TEXT_DATES = (
    (re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)"), (0, 1, 2)),
    (re.compile(r"(?<!\d)(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})(?!\d)"), (2, 1, 0)),  # D.M.YYYY is day first everywhere
    (re.compile(r"(?<!\d)(1[3-9]|2\d|3[01])/(\d{1,2})/(\d{4})(?!\d)"), (2, 1, 0)),  # D/M/YYYY only when D > 12
)


def _text_date(text: str, bounds: DateBounds) -> Optional[date]:
    for pattern, order in _TEXT_DATES:
        match = pattern.search(text)
        if match:
            parts = match.groups()
            try:
                day = date(int(parts[order[0]]), int(parts[order[1]]), int(parts[order[2]]))
            except ValueError:
                continue
            if bounds.earliest <= day <= bounds.latest:
                return day
    return None


# ------------------------------------------------------------------ sources

_PUBLISHED_META = (
    "article:published_time",
    "og:article:published_time",
    "og:published_time",
    "article.published",
    "article:published",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "published_time",
    "published-date",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date.created",
    "dcterms.created",
    "parsely-pub-date",
    "sailthru.date",
    "citation_publication_date",
    "citation_date",
    "article_date_original",
    "og:pubdate",
    "date",
    "dc.date",
    "dcterms.date",
)
_MODIFIED_META = (
    "article:modified_time",
    "og:updated_time",
    "article:modified",
    "datemodified",
    "itemprop:datemodified",
    "dc.date.modified",
    "dcterms.modified",
    "last-modified",
    "lastmod",
)
#: The value of a date field in a JSON-LD block too broken to parse.
_BROKEN_FIELD = {field: re.compile(rf'"{field}"\s*:\s*"([^"]{{8,40}})"') for field in ("datePublished", "dateModified")}


def _from_objects(
    objects: Iterable[JsonObject], field: str, source: str, tier: int, bounds: DateBounds
) -> list[DateCandidate]:
    found = []
    for obj in objects:
        read = read_date(obj.get(field), bounds)
        if read:
            found.append(DateCandidate(read[0], read[1], source, tier))
    return found


def _from_broken(texts: Iterable[str], field: str, bounds: DateBounds) -> list[DateCandidate]:
    """The first ``field`` of each JSON-LD block that did not parse, read by a regular expression."""
    pattern = _BROKEN_FIELD[field]
    found = []
    for text in texts:
        match = pattern.search(text)
        read = read_date(match.group(1), bounds) if match else None
        if read:
            found.append(DateCandidate(read[0], read[1], "jsonld", _JSONLD))
    return found


def _from_meta(meta: MetaTags, bounds: DateBounds) -> list[DateCandidate]:
    found = []
    for key in _PUBLISHED_META:
        for content in meta.get(key, ()):
            read = read_date(content, bounds)
            if read:
                found.append(DateCandidate(read[0], read[1], f"meta:{key}", _STRUCTURED))
    for content in meta.get("itemprop:datepublished", ()):
        read = read_date(content, bounds)
        if read:
            found.append(DateCandidate(read[0], read[1], "itemprop", _STRUCTURED))
    return found


# A <time> the page marks as the publication: HTML4's pubdate attribute, or a
# "published"/"posted"/"entry-date" class on it or on one of its two parents.
_MARKED_TIME = (
    '//time[@datetime][@pubdate or ancestor-or-self::*[position()<=3][contains(@class,"publish")'
    ' or contains(@class,"posted") or contains(@class,"article-date") or contains(@class,"entry-date")]]'
)
# Elements whose class says they hold a date; kept when short, of a text tag, with no child but inline emphasis.
_DATED_CLASS = '//*[contains(@class,"date") or contains(@class,"publish")]'
_DATED_TAGS = frozenset(("span", "div", "p", "time", "li"))
_EMPHASIS = frozenset(("i", "b", "strong"))


def _itemprop(elements: list[lxml.html.HtmlElement], bounds: DateBounds) -> list[DateCandidate]:
    """``itemprop="datePublished"`` on an element (``<time datetime>``, ``<span content>``)."""
    found = []
    for element in elements:
        if "datePublished" in (element.get("itemprop") or "").split():
            read = read_date(element.get("datetime") or element.get("content"), bounds)
            if read:
                found.append(DateCandidate(read[0], read[1], "itemprop", _STRUCTURED))
                if len(found) == 5:
                    break
    return found


def _marked_time(tree: lxml.html.HtmlElement, bounds: DateBounds) -> list[DateCandidate]:
    for element in tree.xpath(_MARKED_TIME)[:1]:
        read = read_date(element.get("datetime"), bounds)
        if read:
            return [DateCandidate(read[0], read[1], "time", _TIME_MARKED)]
    return []


def _article_time(tree: lxml.html.HtmlElement, bounds: DateBounds) -> list[DateCandidate]:
    articles = tree.xpath("//article")
    if len(articles) == 1:  # one article on the page: its first <time> is its date line
        times = articles[0].xpath(".//time[@datetime]")
        read = read_date(times[0].get("datetime"), bounds) if times else None
        if read:
            return [DateCandidate(read[0], read[1], "time:article", _TIME_ARTICLE)]
    return []


def _text_in_date_element(tree: lxml.html.HtmlElement, bounds: DateBounds) -> list[DateCandidate]:
    tried = 0
    for element in tree.xpath(_DATED_CLASS):
        if element.tag not in _DATED_TAGS or any(child.tag not in _EMPHASIS for child in element.iterchildren("*")):
            continue
        text = " ".join(element.text_content().split())
        day = _text_date(text, bounds) if len(text) <= 60 else None
        if day:
            return [DateCandidate(day, day.isoformat(), "text", _TEXT)]
        tried += 1
        if tried == 3:
            break
    return []


_URL_DATES = (
    re.compile(r"/((?:19|20)\d{2})[/-](\d{1,2})[/-](\d{1,2})(?:/|[-_.]|$)"),
    re.compile(r"[/_-]((?:19|20)\d{2})(\d{2})(\d{2})(?:[/_.-]|$)"),
)


def url_date(url: Optional[str], bounds: DateBounds) -> Optional[DateCandidate]:
    """A date in the URL's path: ``/2020/06/07/``, ``/2020-06-07-title``, ``-20200607-``."""
    if not url:
        return None
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    for pattern in _URL_DATES:
        match = pattern.search(path)
        if match:
            try:
                day = date(*map(int, match.groups()))
            except ValueError:
                continue
            if bounds.earliest <= day <= bounds.latest:
                return DateCandidate(day, day.isoformat(), "url", _URL)
    return None


def date_candidates(
    tree: lxml.html.HtmlElement,
    primary: list[JsonObject],
    others: list[JsonObject],
    broken: list[str],
    meta: MetaTags,
    itemprops: list[lxml.html.HtmlElement],
    url: Optional[str],
    bounds: DateBounds,
) -> list[DateCandidate]:
    """The dates that can decide the page's date, strongest first.

    ``primary`` are the JSON-LD objects of the page's own kind (articles,
    postings, web pages, videos), ``others`` the rest (a publisher, a
    breadcrumb…), ``broken`` the text of JSON-LD blocks that did not parse,
    ``itemprops`` the page's elements (not ``<meta>``) with an ``itemprop``.
    The strong sources are all read (they must agree); a weaker source is
    only searched while nothing stronger has been found, because the weak
    ones cost most to find (they scan the whole page) and cannot win anyway.
    """
    found = _from_objects(primary, "datePublished", "jsonld", _JSONLD, bounds)
    found += _from_broken(broken, "datePublished", bounds)
    found += _from_meta(meta, bounds)
    found += _from_objects(others, "datePublished", "jsonld", _STRUCTURED, bounds)
    found += _itemprop(itemprops, bounds)
    in_url = url_date(url, bounds)
    found += [in_url] if in_url else []
    if not any(c.tier < _TIME_MARKED for c in found):
        found += _marked_time(tree, bounds)
        if not found:
            found = _article_time(tree, bounds) or _text_in_date_element(tree, bounds)
    return sorted(found, key=lambda c: c.tier)


def choose_date(candidates: list[DateCandidate]) -> tuple[Optional[DateCandidate], frozenset[date]]:
    """The strongest candidate; or, when the strong sources name several days, None and those days.

    The sort is stable, so within a tier the page's order decides.
    """
    strong = frozenset(c.day for c in candidates if c.tier in STRONG_TIERS)
    if len(strong) > 1:
        return None, strong
    return (candidates[0] if candidates else None), frozenset()


def htmldate_date(
    tree: lxml.html.HtmlElement, url: Optional[str], bounds: DateBounds, extensive: bool = True
) -> Optional[date]:
    """htmldate's original (publication) date of the page; None if it finds none.

    htmldate works on a copy of a tree it is given (it prunes its copy), so
    ``tree`` is not changed.
    """
    from htmldate import find_date  # on first use, as trafilatura in body.py

    found = find_date(
        tree,
        url=url,
        original_date=True,
        extensive_search=extensive,
        min_date=datetime.combine(bounds.earliest, time()),
        max_date=datetime.combine(bounds.latest, time()),
    )
    read = read_date(found, bounds)
    return read[0] if read else None


def only_a_year(day: date) -> bool:
    """Whether a date htmldate found may stand for a year alone.

    htmldate answers January 1st when all it found is a year (a copyright
    line, a bare year in the text): a year is not a publication day, so such
    an answer is refused unless the page itself states that day. A page really
    published on January 1st whose markup says nothing loses its date:
    missing, not wrong.
    """
    return (day.month, day.day) == (1, 1)


def modified_date(primary: list[JsonObject], broken: list[str], meta: MetaTags, bounds: DateBounds) -> Optional[str]:
    """The page's last-modified date as it states it (JSON-LD ``dateModified``, modification meta tags)."""
    for candidate in _from_objects(primary, "dateModified", "jsonld", _JSONLD, bounds) + _from_broken(
        broken, "dateModified", bounds
    ):
        return candidate.raw
    for key in _MODIFIED_META:
        for content in meta.get(key, ()):
            read = read_date(content, bounds)
            if read:
                return read[1]
    return None
