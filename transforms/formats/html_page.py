"""HTML pages: one article each, its metadata from the page's ``<meta>`` tags and its text from the main element."""

from __future__ import annotations

import re
from typing import Any, Iterator, Optional

import lxml.html

from schemas import RawDocument
from transforms.errors import UnreadableDocument
from transforms.formats.base import (
    Format,
    Match,
    Outcome,
    Sample,
    check_not_empty,
    new_article,
    string_list,
    text_or_none,
    with_repairs,
)
from transforms.text import HTML_FLATTENED, Decoded, flat_text, parse_markup, prepare_markup

HTML_EXTENSIONS = (".html", ".htm", ".xhtml")
_HTML_TAGS = ("<html", "<!doctype html", "<body", "<head")


def recognise_html(sample: Sample, named: bool) -> Optional[Match]:
    """A page's tags in the first characters; else markup named as a page; else any markup nothing else claims."""
    if not sample.head.startswith("<"):
        return None
    if any(tag in sample.head for tag in _HTML_TAGS):
        return Match.CONTENT
    return Match.NAMED if named else Match.FAMILY


def _meta(root: lxml.html.HtmlElement, *names: str) -> Optional[str]:
    for name in names:
        for attribute in ("property", "name", "itemprop"):
            for element in root.xpath(f'//meta[@{attribute}="{name}"]'):
                content = (element.get("content") or "").strip()
                if content:
                    return content
    return None


def _main_element(root: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    """The element holding the article: ``<article>``, ``<main>``, or the densest in ``<p>`` text."""
    for path in ("//article", "//main", '//*[@itemprop="articleBody"]'):
        candidates = root.xpath(path)
        if candidates:
            return max(candidates, key=lambda e: len(e.text_content()))
    scores: dict[Any, int] = {}
    for paragraph in root.iter("p"):
        parent = paragraph.getparent()
        if parent is not None:
            scores[parent] = scores.get(parent, 0) + len(paragraph.text_content())
    if scores:
        return max(scores, key=lambda e: scores[e])
    body = root.find("body")
    return body if body is not None else root


_BODY_TAG_RE = re.compile(r"<body[\s>]", re.I)


def parse_html(document: RawDocument, decoded: Decoded) -> Iterator[Outcome]:
    """One article from an HTML page: title, dek, canonical URL, date, authors and main text.

    The page reaches lxml as bytes (``parse_markup``), so an XHTML page that
    opens with ``<?xml … encoding="utf-8"?>`` is read like any other. A page
    nested deeper than lxml builds keeps its metadata from the tree and its
    text from a flat reading of the body (counted as ``html:flattened``).
    """
    markup, repairs = prepare_markup(decoded.text)
    root, complete = parse_markup(markup, fragment=False)
    if root is None:
        raise UnreadableDocument("invalid HTML: no elements in the document", source=document.source)
    title = _meta(root, "og:title", "twitter:title", "headline")
    if not title:
        h1 = root.xpath("//h1")
        title = h1[0].text_content() if h1 else None
    if not title:
        found = root.findtext(".//title")
        title = found
    canonical = root.xpath('//link[@rel="canonical"]/@href')
    url = canonical[0] if canonical else _meta(root, "og:url")
    published = _meta(root, "article:published_time", "datePublished", "date", "pubdate", "dc.date")
    if not published:
        times = root.xpath("//time/@datetime")
        published = times[0] if times else None
    authors = [a for a in (_meta(root, "author", "article:author", "byl"),) if a]
    if complete:
        main = _main_element(root)
        for heading in main.xpath(".//h1"):
            heading.drop_tree()  # the title is its own column
        body, body_is_html = lxml.html.tostring(main, encoding="unicode"), True
    else:
        opening = _BODY_TAG_RE.search(markup)
        body, body_is_html = flat_text(markup[opening.start() if opening else 0 :]), False
        repairs[HTML_FLATTENED] += 1
    article = new_article(
        document,
        decoded,
        url=text_or_none(url),
        title=text_or_none(title),
        subtitle=text_or_none(_meta(root, "og:description", "description", "twitter:description")),
        body=body,
        body_is_html=body_is_html,
        authors=authors,
        published_raw=text_or_none(published),
        categories=string_list(_meta(root, "article:section", "keywords")),
        raw=decoded.text,
    )
    yield check_not_empty(with_repairs(article, repairs))


HTML = Format(
    name="html",
    recognise=recognise_html,
    parse=parse_html,
    described="an HTML page",
    extensions=HTML_EXTENSIONS,
)
