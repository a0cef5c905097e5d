"""A web page's metadata: publication date, authors, image, site, description, canonical URL, title, language.

Every HTML path (fetched pages, HTML files, HTML in records) calls
:func:`page_metadata` on the tree the body extractor parsed, before the body
extractor runs on it: the tree is only read, never changed.

The page's structured data is read once (JSON-LD blocks, ``<meta>`` tags,
``<link>`` elements) and each field takes the first source that has a usable
value, in the order publishers fill them most reliably. Dates and authors
have their own modules (:mod:`transforms.extract.dates`,
:mod:`transforms.extract.authors`) because they need more than "the first
value": agreement between sources, and a filter for what is not a person.

Pages are hostile input: JSON-LD that does not parse (read by regular
expressions instead), ``@graph`` arrays, lists where strings belong,
megabyte-long attributes. Nothing here raises on a page; what could not be
read is named in :attr:`PageMeta.problems` for the caller to count.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime
from typing import Any, Iterable, NamedTuple, Optional
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from transforms.extract import authors as _authors
from transforms.extract import dates as _dates

JsonObject = dict[str, Any]
MetaTags = dict[str, list[str]]


class PageMeta(NamedTuple):
    """What a page says about itself. Every field is None (or empty) when the page does not say it usably."""

    #: The publication date as the page states it (``parse_date`` reads it to the day the page means).
    published_raw: Optional[str]
    #: Where it came from: ``jsonld``, ``meta:<name>``, ``itemprop``, ``time``, ``time:article``, ``url``, ``text``, ``htmldate``.
    published_source: Optional[str]
    #: The last-modified date the page states (JSON-LD ``dateModified``, ``article:modified_time`` …).
    modified_raw: Optional[str]
    #: People only (see :mod:`transforms.extract.authors`), in the page's order.
    authors: list[str]
    #: Where they came from: ``jsonld``, ``meta:<name>``, ``itemprop``, ``trafilatura``.
    authors_source: Optional[str]
    title: Optional[str]
    description: Optional[str]
    site_name: Optional[str]
    #: Absolute http(s) URL of the page's lead image.
    image_url: Optional[str]
    #: Absolute http(s) URL of ``rel=canonical``, else ``og:url``.
    canonical_url: Optional[str]
    #: As the page declares it (``en``, ``pt-BR``), ``_`` read as ``-``.
    language: Optional[str]
    #: JSON-LD ``@type`` of the main entity (``NewsArticle``, ``VideoObject``), else ``og:type`` (``article``).
    page_type: Optional[str]
    #: JSON-LD ``isAccessibleForFree`` of the main entity (or of a ``hasPart``): False marks a paywalled article.
    accessible_for_free: Optional[bool]
    #: Sections, then keywords and tags.
    categories: list[str]
    #: What could not be read: ``jsonld:unparsed``, ``htmldate:<error>``, ``trafilatura:<error>``.
    problems: list[str]


_FIRST_DAY = date(1995, 1, 1)
_MAX_JSONLD_CHARS = 2_000_000
_MAX_OBJECTS = 500
_MAX_CATEGORIES = 30

# ------------------------------------------------------------------ reading the page once


class _Page(NamedTuple):
    primary: list[JsonObject]  # JSON-LD objects of the page's own kind, articles before pages
    others: list[JsonObject]
    broken: list[str]  # JSON-LD blocks that did not parse
    meta: MetaTags
    links: dict[str, str]  # first href of each rel token
    base: Optional[str]  # the URL relative links resolve against
    itemprops: list[lxml.html.HtmlElement]  # elements other than <meta> with an itemprop (microdata)


_ARTICLE_KINDS = ("article", "posting", "report", "review", "blog")
_PAGE_KINDS = ("webpage", "videoobject", "audioobject", "creativework", "episode", "recipe", "event")
_OPENERS = ("/*<![CDATA[*/", "//<![CDATA[", "<![CDATA[", "<!--")
_CLOSERS = ("/*]]>*/", "//]]>", "]]>", "-->")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_ITEMPROPS = etree.XPath("//*[@itemprop][not(self::meta)]")


def _unwrapped(text: str) -> str:
    """A script's text without the CDATA or comment wrapper old templates put around it."""
    text = text.strip()
    for opener in _OPENERS:
        if text.startswith(opener):
            text = text[len(opener) :].lstrip()
    for closer in _CLOSERS:
        if text.endswith(closer):
            text = text[: -len(closer)].rstrip()
    return text


def _types(obj: JsonObject) -> str:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return " ".join(k for k in kinds if isinstance(k, str)).lower()


def _json_values(text: str) -> Optional[list[Any]]:
    """The JSON values of a JSON-LD block: as written, without trailing commas, or several glued together."""
    for candidate in (text, _TRAILING_COMMA.sub(r"\1", text)):
        try:
            return [json.loads(candidate, strict=False)]
        except (ValueError, RecursionError):
            pass
    values: list[Any] = []
    decoder, at = json.JSONDecoder(strict=False), 0
    while at < len(text):
        try:
            value, at = decoder.raw_decode(text, at)
        except (ValueError, RecursionError):
            return values or None
        values.append(value)
        while at < len(text) and text[at] in " \t\r\n;,":
            at += 1
    return values or None


def _flatten(values: list[Any]) -> list[JsonObject]:
    """Every object of a JSON-LD value: top level, ``@graph``, lists, ``mainEntity``; capped for hostile pages."""
    out: list[JsonObject] = []
    stack: list[tuple[Any, int]] = [(v, 0) for v in reversed(values)]
    while stack and len(out) < _MAX_OBJECTS:
        value, depth = stack.pop()
        if depth > 6:
            continue
        if isinstance(value, list):
            stack.extend((v, depth + 1) for v in reversed(value[:_MAX_OBJECTS]))
        elif isinstance(value, dict):
            out.append(value)
            for key in ("mainEntity", "mainEntityOfPage", "@graph"):
                if isinstance(value.get(key), (dict, list)):
                    stack.append((value[key], depth + 1))
    return out


def _read_page(tree: lxml.html.HtmlElement, url: Optional[str]) -> _Page:
    objects: list[JsonObject] = []
    broken: list[str] = []
    meta: MetaTags = {}
    links: dict[str, str] = {}
    base = url
    for element in tree.iter("script", "meta", "link", "base"):
        tag = element.tag
        if tag == "meta":
            content = element.get("content")
            if content is None or len(content) > 100_000:
                continue
            content = content.strip()
            for attribute, prefix in (
                ("property", ""),
                ("name", ""),
                ("itemprop", "itemprop:"),
                ("http-equiv", "http-equiv:"),
            ):
                key = element.get(attribute)
                if key:
                    meta.setdefault(prefix + key.strip().lower(), []).append(content)
        elif tag == "script":
            if "ld+json" not in (element.get("type") or "").lower():
                continue
            text = _unwrapped(element.text or "")
            if not text or len(text) > _MAX_JSONLD_CHARS:
                continue
            values = _json_values(text)
            if values is None:
                broken.append(text)
            else:
                objects.extend(_flatten(values))
        elif tag == "link":
            href = (element.get("href") or "").strip()
            for rel in (element.get("rel") or "").lower().split():
                if href and rel not in links:
                    links[rel] = href
        elif tag == "base" and element.get("href"):
            base = _absolute(element.get("href"), url) or base
    ranks = [_rank(_types(obj)) for obj in objects]
    primary = [o for rank in (0, 1) for o, r in zip(objects, ranks, strict=True) if r == rank]
    others = [o for o, r in zip(objects, ranks, strict=True) if r == 2]
    return _Page(primary, others, broken, meta, links, base, _ITEMPROPS(tree))


def _rank(kinds: str) -> int:
    """0 for an article, 1 for another kind of page (a web page, a video), 2 for the rest (publisher, breadcrumbs)."""
    if any(kind in kinds for kind in _ARTICLE_KINDS):
        return 0
    return 1 if any(kind in kinds for kind in _PAGE_KINDS) else 2


# ------------------------------------------------------------------ small helpers


def _text(value: Any, limit: int = 2000) -> Optional[str]:
    """A short text value: one string (the first of a list), whitespace collapsed, entities left by double escaping read."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if "&" in text and ";" in text:
        text = " ".join(html.unescape(text).split())
    return text if text and len(text) <= limit else None


def _first(values: Iterable[Any], limit: int = 2000) -> Optional[str]:
    return next((t for t in (_text(v, limit) for v in values) if t), None)


def _absolute(value: Any, base: Optional[str]) -> Optional[str]:
    """``value`` as an absolute http(s) URL (resolved against ``base``); None for anything else."""
    if isinstance(value, dict):
        value = value.get("url") or value.get("contentUrl")
    if isinstance(value, list):
        return next((u for u in (_absolute(v, base) for v in value[:10]) if u), None)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > 4096 or value.lower().startswith(("data:", "javascript:")):
        return None
    try:
        joined = urljoin(base, value) if base else value
        parts = urlsplit(joined)
    except ValueError:
        return None
    return joined if parts.scheme in ("http", "https") and parts.hostname else None


def _meta_values(meta: MetaTags, *keys: str) -> list[str]:
    return [value for key in keys for value in meta.get(key, ())]


# ------------------------------------------------------------------ fields


def _site_name(page: _Page) -> Optional[str]:
    publishers = [obj.get("publisher") for obj in page.primary]
    return _first(
        _meta_values(page.meta, "og:site_name")
        + [p.get("name") for p in publishers if isinstance(p, dict)]
        + [o.get("name") for o in page.others if "website" in _types(o) or "newsmediaorganization" in _types(o)]
        + _meta_values(page.meta, "application-name", "apple-mobile-web-app-title"),
        200,
    )


def _not_people_names(page: _Page, site_name: Optional[str]) -> list[Optional[str]]:
    """Every name the page gives its site or publisher: bylines equal to one of them are not people."""
    names: list[Any] = [site_name]
    names += _meta_values(
        page.meta, "og:site_name", "application-name", "publisher", "article:publisher", "twitter:site"
    )
    for obj in page.primary:
        publisher = obj.get("publisher")
        for p in publisher if isinstance(publisher, list) else [publisher]:
            if isinstance(p, dict):
                names.append(p.get("name"))
    names += [o.get("name") for o in page.others if _authors.is_organisation(o)]
    return [t for t in (_text(n, 200) for n in names) if t and "://" not in t]


_TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " :: ", " · ", " » ", " « ", ": ")


def strip_site(title: str, site_name: Optional[str]) -> str:
    """``Story | Site`` → ``Story`` (also ``Site | Story``) when ``Site`` is the page's site name."""
    if not site_name:
        return title
    lowered, site = title.lower(), site_name.lower()
    for separator in _TITLE_SEPARATORS:
        if lowered.endswith(separator + site) and len(title) > len(separator + site):
            return title[: -len(separator + site)].strip()
        if lowered.startswith(site + separator) and len(title) > len(site + separator):
            return title[len(site + separator) :].strip()
    return title


def _title(tree: lxml.html.HtmlElement, page: _Page, site_name: Optional[str]) -> Optional[str]:
    headings = list(tree.iter("h1"))
    title_element = next(tree.iter("title"), None)
    found = _first(
        _meta_values(page.meta, "og:title", "twitter:title")
        + [obj.get("headline") for obj in page.primary]
        + ([headings[0].text_content()] if len(headings) == 1 else [])
        + ([title_element.text_content()] if title_element is not None else []),
        1000,
    )
    return strip_site(found, site_name) if found else None


_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*", re.I)


def _language(tree: lxml.html.HtmlElement, page: _Page) -> Optional[str]:
    candidates = [tree.get("lang"), tree.get("{http://www.w3.org/XML/1998/namespace}lang")]
    candidates += _meta_values(page.meta, "og:locale", "http-equiv:content-language", "language", "dc.language")
    for value in candidates:
        if isinstance(value, str):
            code = value.strip().split(",")[0].strip().replace("_", "-")
            if _LANGUAGE.fullmatch(code):
                return code
    return None


def _page_type(page: _Page) -> Optional[str]:
    for obj in page.primary:
        kind = obj.get("@type")
        found = _text(kind, 100)
        if found:
            return found
    return _first(_meta_values(page.meta, "og:type"), 100)


_FREE = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_BROKEN_FREE = re.compile(r'"isAccessibleForFree"\s*:\s*"?(true|false|yes|no)"?', re.I)


def _free(value: Any) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _FREE.get(value.strip().lower())
    return None


def _accessible_for_free(page: _Page) -> Optional[bool]:
    """False when the main entity or one of its parts is marked not free (Google's paywall markup)."""
    for obj in page.primary:
        parts = obj.get("hasPart")
        parts = parts if isinstance(parts, list) else [parts]
        if any(isinstance(p, dict) and _free(p.get("isAccessibleForFree")) is False for p in parts[:50]):
            return False
        found = _free(obj.get("isAccessibleForFree"))
        if found is not None:
            return found
    for text in page.broken:
        match = _BROKEN_FREE.search(text)
        if match:
            return _FREE[match.group(1).lower()]
    return None


def _categories(page: _Page) -> list[str]:
    values: list[Any] = [obj.get("articleSection") for obj in page.primary]
    values += _meta_values(page.meta, "article:section")
    values += [obj.get("keywords") for obj in page.primary]
    values += _meta_values(page.meta, "keywords", "news_keywords", "article:tag")
    out: list[str] = []
    seen: set[str] = set()
    for value in values:
        items = value if isinstance(value, list) else [value]
        for item in items[:100]:
            if not isinstance(item, str):
                continue
            for part in item.split(","):
                text = _text(part, 100)
                if text and text.casefold() not in seen:
                    seen.add(text.casefold())
                    out.append(text)
                    if len(out) >= _MAX_CATEGORIES:
                        return out
    return out


# ------------------------------------------------------------------ dates and authors


def _published(
    tree: lxml.html.HtmlElement,
    page: _Page,
    url: Optional[str],
    bounds: _dates.DateBounds,
    htmldate_fallback: bool,
    extensive: bool,
    problems: list[str],
) -> tuple[Optional[str], Optional[str]]:
    candidates = _dates.date_candidates(
        tree, page.primary, page.others, page.broken, page.meta, page.itemprops, url, bounds
    )
    chosen, disputed = _dates.choose_date(candidates)
    if chosen:
        return chosen.raw, chosen.source
    if not htmldate_fallback:
        return None, None
    try:
        found = _dates.htmldate_date(tree, url, bounds, extensive)
    except Exception as error:  # noqa: BLE001 - a third-party failure on one page costs its date, not the page
        problems.append(f"htmldate:{type(error).__name__}")
        return None, None
    if found is None:
        return None, None
    if disputed:
        # the page's own sources disagree: htmldate may settle it for one of them, not add a third day
        chosen = next((c for c in candidates if c.day == found and c.tier in _dates.STRONG_TIERS), None)
        return (chosen.raw, chosen.source) if chosen else (None, None)
    if _dates.only_a_year(found):
        return None, None
    return found.isoformat(), "htmldate"


def _people(
    tree: lxml.html.HtmlElement, page: _Page, excluded: _authors.NotPeople, use_trafilatura: bool, problems: list[str]
) -> tuple[list[str], Optional[str]]:
    found = _authors.jsonld_authors(page.primary, page.primary + page.others, excluded)
    if found:
        return found, "jsonld"
    found = _authors.broken_jsonld_authors(page.broken, excluded)
    if found:
        return found, "jsonld"
    found, key = _authors.meta_authors(page.meta, excluded)
    if found:
        return found, f"meta:{key}"
    found = _authors.itemprop_authors(page.itemprops, excluded)
    if found:
        return found, "itemprop"
    if not use_trafilatura:
        return [], None
    try:
        found = _authors.trafilatura_authors(tree, excluded)
    except Exception as error:  # noqa: BLE001 - a third-party failure on one page costs its byline, not the page
        problems.append(f"trafilatura:{type(error).__name__}")
        return [], None
    return (found, "trafilatura") if found else ([], None)


def page_metadata(
    tree: lxml.html.HtmlElement,
    url: Optional[str] = None,
    *,
    fetched_at: Optional[datetime] = None,
    earliest: date = _FIRST_DAY,
    htmldate_fallback: bool = True,
    extensive_date_search: bool = True,
    trafilatura_authors: bool = True,
) -> PageMeta:
    """The metadata of the page parsed as ``tree`` (not modified), fetched from ``url`` at ``fetched_at``.

    ``url`` (the page's final URL) resolves relative links and is read for a
    date and for the host name no author may have. Dates outside ``earliest``
    … a day after ``fetched_at`` (default: now) are refused. The fallbacks to
    htmldate (dates) and trafilatura (visible bylines) can be turned off; each
    costs a few milliseconds and only runs on pages whose markup is silent.
    """
    problems: list[str] = []
    page = _read_page(tree, url)
    if page.broken:
        problems.append("jsonld:unparsed")
    bounds = _dates.bounds_for(fetched_at or datetime.now(UTC), earliest)
    site_name = _site_name(page)
    canonical = _absolute(page.links.get("canonical"), page.base) or _absolute(
        _first(page.meta.get("og:url", ())), page.base
    )
    published_raw, published_source = _published(
        tree, page, url or canonical, bounds, htmldate_fallback, extensive_date_search, problems
    )
    excluded = _authors.not_people(_not_people_names(page, site_name), url or canonical)
    people, people_source = _people(tree, page, excluded, trafilatura_authors, problems)
    images = _meta_values(
        page.meta, "og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src"
    )
    image = next((u for u in (_absolute(v, page.base) for v in images) if u), None)
    image = image or next((u for u in (_absolute(o.get("image"), page.base) for o in page.primary) if u), None)
    image = image or _absolute(page.links.get("image_src"), page.base)
    description = _first(
        _meta_values(page.meta, "og:description", "description", "twitter:description")
        + [obj.get("description") for obj in page.primary],
        10_000,
    )
    return PageMeta(
        published_raw=published_raw,
        published_source=published_source,
        modified_raw=_dates.modified_date(page.primary, page.broken, page.meta, bounds),
        authors=people,
        authors_source=people_source,
        title=_title(tree, page, site_name),
        description=description,
        site_name=site_name,
        image_url=image,
        canonical_url=canonical,
        language=_language(tree, page),
        page_type=_page_type(page),
        accessible_for_free=_accessible_for_free(page),
        categories=_categories(page),
        problems=problems,
    )
