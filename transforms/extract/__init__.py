"""Main text and metadata of an HTML page: one parse, shared by every HTML path.

A fetched article page, an HTML file given as input and HTML inside a JSON
record all go through ``read_page``: the page is parsed once
(``body.parse_page``), its metadata read from the tree (``meta``, which
never changes it), then its main text extracted (``body``, trafilatura
with our rendering of paragraphs). One extractor means one quality
figure (``bench/extract_bench.py``) holds for every input.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple, Optional

import lxml.html

from transforms.extract.body import Body, extract_body, parse_page
from transforms.extract.meta import PageMeta, page_metadata

#: The metadata of a page with no usable tree: nothing known.
NO_META = PageMeta(
    published_raw=None,
    published_source=None,
    modified_raw=None,
    authors=[],
    authors_source=None,
    title=None,
    description=None,
    site_name=None,
    image_url=None,
    canonical_url=None,
    language=None,
    page_type=None,
    accessible_for_free=None,
    categories=[],
    problems=[],
)


class Page(NamedTuple):
    """What newsbeam reads from one HTML page: its main text and what it says about itself."""

    body: Body
    meta: PageMeta


def _folded(text: Optional[str]) -> str:
    return " ".join(re.findall(r"\w+", (text or "").casefold()))


def without_title(text: str, *titles: Optional[str]) -> str:
    """``text`` without a first paragraph that is only the title (a column of its own), as the page's ``<h1>`` often is."""
    first, sep, rest = text.partition("\n\n")
    folded = _folded(first)
    if folded and any(folded == _folded(title) for title in titles if title):
        return rest
    return text


def read_tree(tree: lxml.html.HtmlElement, url: Optional[str] = None, fetched_at: Optional[datetime] = None) -> Page:
    """A parsed page's metadata (read first: it leaves the tree as it is) and main text."""
    meta = page_metadata(tree, url, fetched_at=fetched_at)
    body = extract_body(tree, url)
    text = without_title(body.text, meta.title)
    if text != body.text:
        body = body._replace(text=text, paragraphs=text.count("\n\n") + 1 if text else 0)
    return Page(body, meta)


def read_page(html: str, url: Optional[str] = None, fetched_at: Optional[datetime] = None) -> Page:
    """The page's text and metadata from one parse; ``fetched_at`` bounds the dates it may claim.

    Never raises for what a page contains: a page with no usable tree gives
    an empty body and empty metadata, and its caller decides what that means
    (a fetched page falls back to the feed's text; an HTML file is empty).
    """
    tree = parse_page(html)
    if tree is None:
        return Page(extract_body(html, url), NO_META)
    return read_tree(tree, url, fetched_at)


__all__ = [
    "NO_META",
    "Body",
    "Page",
    "PageMeta",
    "extract_body",
    "page_metadata",
    "parse_page",
    "read_page",
    "read_tree",
    "without_title",
]
