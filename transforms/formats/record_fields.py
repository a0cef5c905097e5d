"""Which keys of a JSON record (or any mapping) hold which article field, and the record as a ``RawArticle``.

News dumps and APIs name the same field many ways (``text``, ``body``,
``articleBody``, ``maintext``…): each field's names are listed once, in
order of preference, and every record format that yields mappings (JSON,
JSON Lines) reads them through ``json_record_to_article``.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from schemas import RawArticle, RawDocument
from transforms.errors import UnreadableDocument
from transforms.extract import parse_page, read_tree, without_title
from transforms.formats.base import (
    Failure,
    Outcome,
    check_not_empty,
    json_dumps,
    new_article,
    string_list,
    text_or_none,
)
from transforms.text import Decoded, looks_like_html

FIELDS = {
    "title": ("title", "headline", "name"),
    "body": (
        "text",
        "body",
        "content",
        "article",
        "articleBody",
        "maintext",
        "content_text",
        "content_html",
        "html",
        "description",
    ),
    "subtitle": ("subtitle", "dek", "subheadline", "summary", "description"),
    "url": ("url", "link", "canonical_url", "href"),
    "guid": ("guid", "id", "uuid", "article_id"),
    "authors": ("authors", "author", "byline", "creator", "creators"),
    "published": (
        "published",
        "published_at",
        "date",
        "pubDate",
        "datePublished",
        "date_published",
        "date_publish",
        "created_at",
        "updated",
        "date_modified",
    ),
    "categories": ("categories", "category", "tags", "keywords", "section"),
}


def find_field(record: Mapping[str, Any], name: str, skip: Sequence[str] = ()) -> tuple[Optional[str], Any]:
    for key in FIELDS[name]:
        if key in skip:
            continue
        value = record.get(key)
        if value not in (None, "", []):
            return key, value
    return None, None


#: Each record key that names a field: the fields it may be, with its rank among their names.
_FIELD_OF_KEY: dict[str, list[tuple[str, int]]] = {}
for _name, _keys in FIELDS.items():
    for _rank, _key in enumerate(_keys):
        _FIELD_OF_KEY.setdefault(_key, []).append((_name, _rank))


def _record_fields(record: Mapping[str, Any]) -> dict[str, list[tuple[int, str, Any]]]:
    """For each field, the record's non-empty candidates as (rank, key, value).

    One pass over the record's own keys (a handful) instead of one look-up per
    field name (some sixty): ``find_field`` for every field at once.
    """
    found: dict[str, list[tuple[int, str, Any]]] = {}
    for key, value in record.items():
        names = _FIELD_OF_KEY.get(key)
        if names is None or value is None or value == "" or value == []:
            continue
        for name, rank in names:
            found.setdefault(name, []).append((rank, key, value))
    return found


def _pick(
    found: Mapping[str, list[tuple[int, str, Any]]], name: str, skip: Optional[str] = None
) -> tuple[Optional[str], Any]:
    candidates = found.get(name)
    if candidates and skip is not None:
        candidates = [c for c in candidates if c[1] != skip]
    if not candidates:
        return None, None
    _, key, value = min(candidates) if len(candidates) > 1 else candidates[0]  # ranks differ: values never compared
    return key, value


def json_record_to_article(
    record: Any, document: RawDocument, decoded: Decoded, raw: Optional[str] = None, feed: bool = False
) -> RawArticle:
    """One JSON object (an article) to a ``RawArticle``; ``raw`` is its JSON as found, when known.

    ``feed``: the record is an item of a JSON Feed, a feed entry like an RSS
    item (its HTML is the feed's own content, its link's page is fetched for
    full text). Otherwise HTML in the record (an ``html``/``content_html``
    field, or any body that is markup) goes through the extractor every HTML
    path shares (``transforms.extract``), and the page's metadata fills the
    fields the record lacks.
    """
    if not isinstance(record, Mapping):
        raise UnreadableDocument(f"JSON record is a {type(record).__name__}, not an object")
    found = _record_fields(record)
    _, title = _pick(found, "title")
    body_key, body = _pick(found, "body")
    _, subtitle = _pick(found, "subtitle", skip=body_key)
    body_text = text_or_none(body) or ""
    _, url = _pick(found, "url")
    _, guid = _pick(found, "guid")
    _, published = _pick(found, "published")
    _, authors = _pick(found, "authors")
    _, categories = _pick(found, "categories")
    body_is_html = looks_like_html(body_text)
    teaser = text_or_none(subtitle) if subtitle != body else None
    article = new_article(
        document,
        decoded,
        url=text_or_none(url),
        guid=text_or_none(guid),
        title=text_or_none(title),
        subtitle=teaser,
        body=body_text,
        body_is_html=body_is_html,
        authors=string_list(authors),
        published_raw=text_or_none(published),
        categories=string_list(categories),
        raw=raw if raw is not None else json_dumps(record),
        source_type="feed" if feed else None,
        text_source="feed" if feed else "file",
        summary=teaser if feed else None,
    )
    if body_is_html and not feed:
        article = with_page_html(article, document)
    return check_not_empty(article)


def with_page_html(article: RawArticle, document: RawDocument) -> RawArticle:
    """A record whose body is HTML, read by the shared extractor: its main text, and what its page says
    where the record says nothing (title, date, authors, image, site name, description, canonical URL)."""
    tree = parse_page(article.body)
    if tree is None:
        return article  # no element at all: the body is read as text by text repair, as before
    page = read_tree(tree, article.url, document.fetched_at.to_utc_datetime(has_tz=True))
    meta = page.meta
    published_source = None
    if article.published_raw is None and meta.published_raw:
        published_source = f"page:{meta.published_source}" if meta.published_source else "page"
    return article._replace(
        body=without_title(page.body.text, article.title),
        body_is_html=False,
        title=article.title or meta.title,
        authors=list(article.authors) or list(meta.authors),
        published_raw=article.published_raw or meta.published_raw,
        published_source=published_source,
        image_url=meta.image_url,
        site_name=meta.site_name,
        description=meta.description,
        canonical_url=meta.canonical_url,
    )


def record_outcome(record: Any, raw: str, document: RawDocument, decoded: Decoded, feed: bool = False) -> Outcome:
    try:
        return json_record_to_article(record, document, decoded, raw, feed)
    except Exception as error:  # noqa: BLE001 - one bad record never costs the file
        return Failure(error, raw)
