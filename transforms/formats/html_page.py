"""HTML pages: one article each, read by the extractor shared with fetched pages (``transforms.extract``)."""

from __future__ import annotations

from typing import Iterator, Optional

from schemas import RawDocument
from transforms.errors import UnreadableDocument
from transforms.extract import parse_page, read_tree
from transforms.formats.base import (
    Format,
    Match,
    Outcome,
    Sample,
    Skipped,
    check_not_empty,
    new_article,
    text_or_none,
    with_repairs,
)
from transforms.pagekind import ARTICLE, link_stats, page_kind
from transforms.text import HTML_FLATTENED, Decoded, prepare_markup

HTML_EXTENSIONS = (".html", ".htm", ".xhtml")
_HTML_TAGS = ("<html", "<!doctype html", "<body", "<head")


def recognise_html(sample: Sample, named: bool) -> Optional[Match]:
    """A page's tags in the first characters; else markup named as a page; else any markup nothing else claims."""
    if not sample.head.startswith("<"):
        return None
    if any(tag in sample.head for tag in _HTML_TAGS):
        return Match.CONTENT
    return Match.NAMED if named else Match.FAMILY


def parse_html(document: RawDocument, decoded: Decoded) -> Iterator[Outcome]:
    """One article from an HTML page, read by the extractor every HTML path shares (``transforms.extract``).

    Title, dek, canonical URL, date (with where it came from), authors,
    image, site name and categories come from the page's metadata; the text
    is its main content, as for a page fetched from a feed's link. A page
    nested deeper than lxml builds keeps its metadata and its text read flat
    (counted as ``html:flattened``). A page given as a file is written
    whatever it is: the user chose it.
    """
    return page_outcome(document, decoded)


def page_outcome(
    document: RawDocument,
    decoded: Decoded,
    *,
    url: Optional[str] = None,
    status: Optional[int] = None,
    keep_non_articles: bool = True,
) -> Iterator[Outcome]:
    """A page's article, or, unless ``keep_non_articles``, the rule that skips a page that is not one.

    ``url``: where the page was fetched from (a web archive's record), which
    is then the article's url (its id) and ``page_url``, and what relative
    links and dates in the URL are read against; without it the page's own
    canonical URL is the article's url. ``document.fetched_at`` bounds the
    page's dates: it is when the page was fetched, never when it was published.
    """
    markup, repairs = prepare_markup(decoded.text)
    tree = parse_page(markup)
    if tree is None:
        raise UnreadableDocument("invalid HTML: no elements in the document", source=document.source)
    links = None if keep_non_articles else link_stats(tree)
    page = read_tree(tree, url, document.fetched_at.to_utc_datetime(has_tz=True))
    meta = page.meta
    if links is not None:
        kind = page_kind(url or meta.canonical_url, meta, page.body, links)
        if kind.kind != ARTICLE:
            yield Skipped(f"page.{kind.kind}")
            return
    if page.body.flattened:
        repairs[HTML_FLATTENED] += 1
    fetched = url is not None
    article = new_article(
        document,
        decoded,
        url=url or text_or_none(meta.canonical_url),
        title=text_or_none(meta.title),
        subtitle=text_or_none(meta.description),
        body=page.body.text,
        body_is_html=False,
        authors=list(meta.authors),
        published_raw=text_or_none(meta.published_raw),
        categories=list(meta.categories),
        raw=decoded.text,
        source_type=document.source_type if fetched else None,
        text_source="page" if fetched else "file",
    )._replace(
        image_url=meta.image_url,
        site_name=meta.site_name,
        description=meta.description,
        canonical_url=meta.canonical_url,
        published_source=f"page:{meta.published_source}" if meta.published_source else None,
        page_url=url,
        page_status=status,
    )
    yield check_not_empty(with_repairs(article, repairs))


HTML = Format(
    name="html",
    recognise=recognise_html,
    parse=parse_html,
    described="an HTML page",
    extensions=HTML_EXTENSIONS,
)
