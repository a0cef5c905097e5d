"""Whether a crawled page is an article, and if not, what it is: home, section, tag, author, video, gallery, …

A news crawl (Common Crawl's CC-NEWS, a crawler's WARC) holds every page a
crawler found on news sites, and many are not articles: front pages, section
and tag fronts, author pages, video and photo pages, search results, soft
error pages. :func:`page_kind` names what a page is from what newsbeam reads
of it anyway (``transforms.extract``: its metadata and main text) and from
:func:`link_stats`, one cheap pass over the parsed tree.

Three kinds of evidence, in this order of precedence, because that is the
order of how much a page means what it says:

1. **What the page declares it is**: the JSON-LD ``@type`` of its main entity
   (``PageMeta.page_type``: ``NewsArticle``, ``BlogPosting``, ``VideoObject``
   …), the page-level types anywhere in its JSON-LD or microdata
   (``CollectionPage``, ``ProfilePage``, ``SearchResultsPage``,
   ``ImageGallery``, ``ItemList``) and ``og:type`` (``article``,
   ``video.other``, ``profile``). A publisher's CMS writes these per
   template, so they are right far more often than not.
2. **What the URL says** (courlan's filters, the library trafilatura's
   crawler uses: ``/tag/…``, ``/category/…``, ``/author/…``, ``/page/2/``,
   ``/search/``, ``/gallery/``, contact and login pages) and the root path
   ``/`` for a home page. Weaker: a slug can contain ``-tag/``, and
   WordPress sites put ``/category/`` in article addresses.
3. **What the page holds**: the words of its main text (``Body.text``) and
   its link density (share of its visible text inside ``<a>``, and how many
   links). A listing is many links and little prose; an article is prose.

A weak signal alone never throws an article away: an explicit article type
wins over a URL pattern and over a short text, unless the page is at once
tiny and link-dense and something else (its URL, a collection type) says it
is an index; a URL pattern decides only when the text is short or the page
link-dense; a page that declares nothing is judged by its text. See
``tests/test_pagekind.py`` for the hard cases and ``bench/pagekind_bench.py``
for the figures behind the thresholds.

A live blog (``LiveBlogPosting``) is an article: schema.org makes it a kind
of ``BlogPosting``, and its page holds the coverage itself, update by update,
written for that page and found nowhere else. What is not an article is a
page listing live blogs (``liveblog_index``).
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional
from urllib.parse import urlsplit

import lxml.etree
import lxml.html
from courlan.filters import (
    ALL_PATH_LANGS_NO_TRAILING,
    INDEX_PAGE_FILTER,
    NAVIGATION_FILTER,
    NOTCRAWLABLE,
    SITE_STRUCTURE,
)

from transforms.extract.body import Body
from transforms.extract.meta import PageMeta

__all__ = [
    "ARTICLE",
    "ARTICLE_WORDS",
    "CARDS",
    "DECLARED_MIN_WORDS",
    "DENSE_LINKS",
    "LINKED_TEXT",
    "KINDS",
    "LinkStats",
    "MANY_LINKS",
    "PageKind",
    "PROSE_PARAGRAPH_WORDS",
    "TINY_WORDS",
    "TOO_SHORT_WORDS",
    "link_stats",
    "page_kind",
    "text_words",
    "url_kind",
]

ARTICLE = "article"
#: Every verdict :func:`page_kind` gives; the pipeline counts the others as ``skipped.page.<kind>``.
KINDS = (
    ARTICLE,
    "home",
    "section",
    "tag",
    "author",
    "video",
    "gallery",
    "liveblog_index",
    "search",
    "listing",
    "service",
    "too_short",
    "error_page",
)

# --------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------

#: Below this many words of main text, a page that declares no article type is not an article
#: ("too_short"): what trafilatura finds on an undeclared page this short is a teaser, a cookie notice,
#: a caption or a "please enable JavaScript", not a story. Low on purpose: a real news brief is 40 words
#: and up, and one that says it is an article is kept whatever its length (see ``DECLARED_MIN_WORDS``).
TOO_SHORT_WORDS = 40

#: Below this many words, even a page that declares itself an article has no text to write: the
#: extraction found nothing (a page drawn by script, a paywall with no teaser), and a record with a
#: title alone is not an article of a news crawl. The shortest briefs of the benchmark pages are
#: well above it.
DECLARED_MIN_WORDS = 10

#: From this many words in prose paragraphs, a main text that is not mostly link text reads as an article
#: whatever its URL or a declared video/collection type say: an index's text is headlines, teasers and
#: times, and prose this long is somebody's story (a blog post at ``/category/…``, a video page with its
#: write-up). Under it, a URL pattern or a declared non-article type decides.
ARTICLE_WORDS = 150

#: A paragraph of this many words or more is prose; shorter ones are headlines, teasers, captions,
#: times, list items. An article's paragraphs are mostly longer (median ~40 words on the benchmark pages).
PROSE_PARAGRAPH_WORDS = 20

#: Share of the main text made of what belongs to the page's links (their texts, the teasers after them)
#: from which it is an index's text rather than a story: a front page's headlines and teasers, or a menu
#: that trafilatura's last-resort extraction kept with the page's text.
LINKED_TEXT = 0.5

#: "Tiny": an article-typed page with fewer words of prose than this, link-dense and with another signal saying
#: index (a navigation URL, a collection type, the root path), is that index: some CMSs stamp
#: ``NewsArticle`` on every template. Above it the declared type wins.
TINY_WORDS = 40

#: Share of the page's visible text inside links from which the page is link-dense. Article pages,
#: menus and related-links footers included, sit mostly well under it; front and section pages, whose
#: text is headlines, above. (Distribution on the benchmark pages: ``bench/pagekind_bench.py``.)
DENSE_LINKS = 0.5

#: Teasers (paragraphs right after a headline link) found in the main text from which it is a list of
#: cards whatever the number of links on the page: one teaser is a blog post's first paragraph under its
#: linked title; a tag page of five stories is five.
CARDS = 4

#: A listing links to many pages: a link-dense page with fewer links than this is a short page with a
#: menu (a brief, an error page), not an index.
MANY_LINKS = 30


# --------------------------------------------------------------------------
# What the tree holds
# --------------------------------------------------------------------------


class LinkStats(NamedTuple):
    """What :func:`page_kind` reads from the parsed tree itself, beyond ``PageMeta`` and ``Body``.

    ``text_chars``: characters other than white space of the page's visible
    text (``<body>`` without scripts, styles and templates). ``link_chars``:
    of those, inside ``<a>`` elements. ``links``: ``<a href>`` elements in the
    body. ``anchors``: the distinct texts of its links (white space
    collapsed); ``teasers``: of its paragraphs that come right after a
    headline link (a card of an index: headline, then its teaser). Both to
    tell how much of the main text belongs to links: trafilatura keeps a
    front page's teasers as if they were the story, and its last resort
    runs the menus into the text. ``types``: every schema.org type the page names (JSON-LD
    ``@type`` anywhere, microdata ``itemtype``), lower case;
    ``PageMeta.page_type`` is only the main entity's, so it never shows a
    ``CollectionPage`` beside a ``WebSite``. ``og_type``: ``og:type`` lower
    case, which ``page_type`` hides when the page has JSON-LD. ``title``: the
    ``<title>`` element's text (``PageMeta.title`` prefers ``og:title`` and
    the ``<h1>``; a soft error page says "not found" in its ``<title>``).
    """

    text_chars: int
    link_chars: int
    links: int
    anchors: tuple[str, ...]
    teasers: tuple[str, ...]
    types: frozenset[str]
    og_type: Optional[str]
    title: Optional[str]

    @property
    def density(self) -> float:
        """Share of the visible text inside links (0 for a page with no text)."""
        return self.link_chars / self.text_chars if self.text_chars else 0.0


_HIDDEN = "ancestor::script or ancestor::style or ancestor::noscript or ancestor::template"
# XPath runs in libxml2: the text nodes are collected in C, only their lengths are summed here.
_BODY_TEXT = lxml.etree.XPath(f"/html/body//text()[not({_HIDDEN})]", smart_strings=False)
_LINK_TEXT = lxml.etree.XPath(f"/html/body//a//text()[not({_HIDDEN})]", smart_strings=False)
_ANCHORS = lxml.etree.XPath("/html/body//a[@href]")
_JSONLD = lxml.etree.XPath("//script[contains(translate(@type, 'LDJSON', 'ldjson'), 'ld+json')]/text()")
_ITEMTYPES = lxml.etree.XPath("//@itemtype", smart_strings=False)
_OG_TYPE = lxml.etree.XPath("/html/head/meta[@property='og:type']/@content", smart_strings=False)
_TITLE = lxml.etree.XPath("string(/html/head/title)", smart_strings=False)
# "@type": "NewsArticle" or "@type": ["WebPage", "ItemPage"]: read as text, so JSON-LD that does not parse
# (trailing commas, several objects glued together) still says what it is.
_TYPE_VALUE = re.compile(r'"@type"\s*:\s*(\[[^\]]{0,500}\]|"[^"]{0,200}")')
_QUOTED = re.compile(r'"([^"]{1,200})"')
_MAX_JSONLD_CHARS = 2_000_000
_MAX_ANCHORS = 2000
_MAX_ANCHOR_CHARS = 300
_PARAGRAPHS = lxml.etree.XPath("/html/body//p[not(ancestor::a)]")
_HEADINGS = frozenset({"a", "h1", "h2", "h3", "h4", "h5", "h6", "header", "strong", "b", "span", "div"})
#: A headline link has at least this many words (a byline's "Ines Moreau" is not one).
_HEADLINE_WORDS = 3
#: A heading block is at most this long: a card's title, not a menu or a box of links before the story.
_LONGEST_HEADING = 300
# Shorter link texts ("1", "2", "»", "Go") are found inside any text: they would count as link text everywhere.
_SHORTEST_ANCHOR = 3


def _non_space(texts: list[str]) -> int:
    """Characters other than white space: a size of text that holds for languages written without spaces."""
    return len("".join("".join(texts).split()))


def _schema_name(value: str) -> str:
    """``http://schema.org/NewsArticle`` and ``schema:NewsArticle`` → ``newsarticle``."""
    return value.strip().rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower()


def _anchor_texts(tree: lxml.html.HtmlElement) -> tuple[tuple[str, ...], int]:
    """The distinct texts of the page's links (``_SHORTEST_ANCHOR`` characters or more), and how many links it has."""
    anchors = _ANCHORS(tree)
    seen: dict[str, None] = {}
    for anchor in anchors:
        text = " ".join(anchor.text_content().split())
        if _SHORTEST_ANCHOR <= len(text) <= _MAX_ANCHOR_CHARS:
            seen[text] = None
            if len(seen) >= _MAX_ANCHORS:
                break
    return tuple(seen), len(anchors)


def _is_headline(element: lxml.html.HtmlElement) -> bool:
    """Whether ``element`` is a card's headline: a link of three words or more, or a short block that is mostly one."""
    if element.tag not in _HEADINGS:
        return False
    text = " ".join(element.text_content().split())
    if len(text) > _LONGEST_HEADING:
        return False
    links = [element] if element.tag == "a" else list(element.iter("a"))
    for link in links:
        words = link.text_content().split()
        if len(words) >= _HEADLINE_WORDS and 2 * len(" ".join(words)) >= len(text):
            return True
    return False


def _teaser_texts(tree: lxml.html.HtmlElement) -> tuple[str, ...]:
    """Paragraphs right after a headline link: in the same parent, or first in a block that follows one.

    ``<h3><a>Headline</a></h3><p>Teaser</p>`` and
    ``<header><h2><a>…</a></h2></header><div><p>Teaser</p></div>``; a story's
    paragraphs follow paragraphs, and its first one a byline or a heading
    that is not a link.
    """
    found: dict[str, None] = {}
    for paragraph in _PARAGRAPHS(tree):
        element = paragraph
        for _ in range(3):
            previous = element.getprevious()
            if previous is not None:
                if _is_headline(previous):
                    text = " ".join(paragraph.text_content().split())
                    if text:
                        found[text] = None
                break
            element = element.getparent()
            if element is None or element.tag == "body":
                break
        if len(found) >= _MAX_ANCHORS:
            break
    return tuple(found)


def link_stats(tree: lxml.html.HtmlElement) -> LinkStats:
    """The page's link density, links, declared types and title, from a tree of ``parse_page``.

    Only reads the tree. Call it before ``read_tree``: the extractor is
    documented to leave the tree as it is (and measured so on the benchmark
    pages: ``bench/pagekind_bench.py``), but these counts must describe the
    page as served, whatever a later version of the extractor does.
    """
    text_chars = _non_space(_BODY_TEXT(tree))
    link_chars = _non_space(_LINK_TEXT(tree))
    anchors, links = _anchor_texts(tree)
    types: set[str] = set()
    for script in _JSONLD(tree):
        if len(script) > _MAX_JSONLD_CHARS:
            continue
        for value in _TYPE_VALUE.findall(script):
            types.update(_schema_name(name) for name in _QUOTED.findall(value))
    for itemtype in _ITEMTYPES(tree):
        types.update(_schema_name(name) for name in itemtype.split()[:10])
    og = _OG_TYPE(tree)
    og_type = (og[0].strip().lower() or None) if og else None
    title = " ".join(_TITLE(tree).split())[:500] or None
    teasers = _teaser_texts(tree)
    return LinkStats(text_chars, min(link_chars, text_chars), links, anchors, teasers, frozenset(types), og_type, title)


# --------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------

# Scripts written without spaces between words: Han, kana, Thai, Lao, Khmer, Myanmar.
_UNSPACED = re.compile("[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
#: Characters of an unspaced script per word: a Chinese or Japanese word is about two characters.
_CHARS_PER_WORD = 2


def text_words(text: str) -> int:
    """Words of ``text``: tokens between spaces, and for scripts written without spaces, characters / 2.

    The thresholds are in words; a Chinese article of 600 characters is one
    "token" between spaces and must still count as the ~300 words it is.
    """
    tokens = len(text.split())
    if text.isascii():
        return tokens
    unspaced = len(_UNSPACED.findall(text))
    return tokens + unspaced // _CHARS_PER_WORD


# --------------------------------------------------------------------------
# Declared types
# --------------------------------------------------------------------------

#: schema.org types of an article: ``Article`` and everything under it (``NewsArticle`` and its
#: ``ReportageNewsArticle`` … kin, ``BlogPosting``, ``LiveBlogPosting``, ``SocialMediaPosting``,
#: ``ScholarlyArticle``, ``TechArticle``, ``Report``), read by name ending, plus og:type ``article``.
_ARTICLE_ENDINGS = ("article", "posting")
_ARTICLE_NAMES = frozenset({"report", "article"})
#: Main-entity types that are a page of something else, and the kind each makes the page.
_NON_ARTICLE_TYPES = {
    "videoobject": "video",
    "videogallery": "video",
    "imagegallery": "gallery",
    "mediagallery": "gallery",
    "profilepage": "author",
    "searchresultspage": "search",
    "collectionpage": "listing",
    "itemlist": "listing",
}
#: og:type values of a page that is not an article (``video.other``, ``video.movie`` … by prefix).
_NON_ARTICLE_OG = (("video.", "video"), ("profile", "author"))
#: Types that say nothing about the page's kind: every page is a ``WebPage`` of a ``WebSite``.
_GENERIC = frozenset({"webpage", "website", "itempage", "object", "thing"})


def _is_article_type(name: Optional[str]) -> bool:
    if not name:
        return False
    name = _schema_name(name)
    return name in _ARTICLE_NAMES or name.endswith(_ARTICLE_ENDINGS)


def _declared_article(meta: PageMeta, stats: LinkStats) -> Optional[str]:
    """The article type the page declares for itself, or None.

    The main entity's type first (``page_type``); ``og:type`` article for a
    page whose JSON-LD is generic (``WebPage``) or absent; a microdata or
    JSON-LD article type only when no main entity was found (an article
    listed in a front page's ``ItemList`` is not the page's own type, and
    ``page_type`` never points at it).
    """
    main = _schema_name(meta.page_type) if meta.page_type else None
    if main and _is_article_type(main):
        return meta.page_type
    if main and main not in _GENERIC and main != stats.og_type:
        return None  # a main entity of another kind (a VideoObject, a Recipe): its own type speaks
    if stats.og_type == "article":
        return "og:type article"
    if main is None:
        found = sorted(t for t in stats.types if _is_article_type(t))
        if found and not stats.types & _NON_ARTICLE_TYPES.keys():
            return found[0]
    return None


def _declared_other(meta: PageMeta, stats: LinkStats) -> Optional[tuple[str, str]]:
    """The non-article kind the page declares (kind, evidence), or None.

    The main entity's type, else a page-level type anywhere in the page
    (``CollectionPage``, ``ProfilePage`` …: ``page_type`` ranks those below a
    ``WebPage`` and never shows them), else ``og:type``.
    """
    main = _schema_name(meta.page_type) if meta.page_type else None
    if main in _NON_ARTICLE_TYPES:
        return _NON_ARTICLE_TYPES[main], f"type {meta.page_type}"
    for name, kind in _NON_ARTICLE_TYPES.items():
        if name in stats.types and name not in ("videoobject", "itemlist"):
            return kind, f"type {name}"
    og = stats.og_type or ""
    for prefix, kind in _NON_ARTICLE_OG:
        if og.startswith(prefix):
            return kind, f"og:type {og}"
    return None


# --------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------

# What courlan's matches name: the kind of page each of its navigation and site-structure words means.
_COURLAN_WORDS = (
    (re.compile(r"tags?|schlagwort|topics?|labels", re.I), "tag"),
    (re.compile(r"auth?or|user", re.I), "author"),
    (re.compile(r"[ck]at|category|[ck]ategor", re.I), "section"),
    (re.compile(r"search|suche", re.I), "search"),
    (re.compile(r"gall?er|attachment", re.I), "gallery"),
    (re.compile(r"paged?|seite|archives|/\d+/", re.I), "listing"),
)
# courlan's NAVIGATION_FILTER takes WordPress's "?p=123" for navigation; it is the default address of a post.
_WORDPRESS_POST = re.compile(r"\?p=[0-9]+")
# A search is a query more often than a path: WordPress "?s=", most engines "?q=".
_SEARCH_QUERY = re.compile(r"(?:^|&)(?:s|q|query|search|searchterm|keywords?)=", re.I)
# A live blog's index: its address ends in "live" (or "liveblogs", "live-updates"); courlan has no rule for it.
_LIVE_INDEX = re.compile(r"/(?:live|live-?blogs?|live-?updates|live-?news|live-?ticker)/?$", re.I)


def url_kind(url: Optional[str]) -> Optional[tuple[str, str]]:
    """The kind of page ``url``'s address says it is (kind, evidence), or None for an ordinary address.

    ``home`` for the root path (or ``/index.html``, ``/home``, a language
    root such as ``/en/``); then courlan's filters: not crawlable (contact,
    imprint, login: ``service``), navigation (``/tag/``, ``/author/``,
    ``/category/``, ``/page/2/``) and site structure (``/search/``,
    ``/gallery/``, a blog's month archive), each match named by the word that
    made it; a search query; an address ending in ``/live``.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    path = parts.path or "/"
    query = parts.query
    if not query and (path == "/" or INDEX_PAGE_FILTER.fullmatch(path) or ALL_PATH_LANGS_NO_TRAILING.fullmatch(path)):
        return "home", f"url {path}"
    target = path + ("?" + query if query else "")
    if NOTCRAWLABLE.search(target):
        return "service", f"url {path}"
    if _SEARCH_QUERY.search(query):
        return "search", f"url ?{query[:40]}"
    for pattern in (NAVIGATION_FILTER, SITE_STRUCTURE):
        match = pattern.search(target)
        if match is None or _WORDPRESS_POST.fullmatch(match.group(0)):
            continue
        for word, kind in _COURLAN_WORDS:
            if word.search(match.group(0)):
                return kind, f"url {match.group(0)[:40]}"
        return "service", f"url {match.group(0)[:40]}"
    if _LIVE_INDEX.search(path):
        return "liveblog_index", f"url {path[-40:]}"
    return None


# --------------------------------------------------------------------------
# Soft error pages
# --------------------------------------------------------------------------

#: A "not found" page served with status 200 says so in its title or heading (``404``, "Page not found" and
#: its translations in the languages of the crawls newsbeam reads).
_NOT_FOUND = re.compile(
    r"\b(?:404|410)\b|page not found|not found|page (?:does not|doesn't|no longer) exist|"
    r"(?:can't|cannot|couldn't|could not) (?:find|be found)|"
    r"seite (?:nicht gefunden|existiert nicht|wurde nicht gefunden)|p[aá]gina no encontrada|page introuvable|"
    r"pagina non trovata|pagina niet gevonden|p[aá]gina n[aã]o encontrada|nie znaleziono strony|"
    r"страница не найдена|ページが見つかりません|找不到",
    re.I,
)


# --------------------------------------------------------------------------
# The verdict
# --------------------------------------------------------------------------


class PageKind(NamedTuple):
    """What a page is (``kind``: ``article`` or one of ``KINDS``) and the evidence that decided it."""

    kind: str
    evidence: str


class _Text(NamedTuple):
    """The main text's measures: all its words, those of prose, of links' texts and of links' teasers."""

    words: int
    prose: int
    link_words: int
    teaser_words: int
    teasers: int

    @property
    def linked(self) -> int:
        """Words that belong to links: their texts and their teasers."""
        return min(self.words, self.link_words + self.teaser_words)

    @property
    def own(self) -> int:
        """Words that are not a link's text: the page's own text, a front page's teasers included."""
        return self.words - self.link_words


def _measure(text: str, stats: LinkStats) -> _Text:
    """Words of the main ``text``, of its prose, and of what in it belongs to the page's links.

    Link text: a link's text found whole in ``text`` (a headline that is a
    paragraph of its own, a menu that trafilatura's last resort ran into the
    text, a link inside a sentence), or a paragraph found inside a link's
    text (a card that is one big link). Teasers: see ``LinkStats``. Each
    counted once however often it appears. Prose: paragraphs of
    ``PROSE_PARAGRAPH_WORDS`` or more, never more than the words that do not
    belong to links (a front page's teasers are sentences, not a story).
    """
    words = prose = inside = 0
    joined = "\n".join(stats.anchors)
    for paragraph in text.split("\n\n"):
        count = text_words(paragraph)
        words += count
        if count >= PROSE_PARAGRAPH_WORDS:
            prose += count
        if count >= _HEADLINE_WORDS and paragraph in joined:
            inside += count
    if not words:
        return _Text(0, 0, 0, 0, 0)
    found = sum(text_words(anchor) for anchor in stats.anchors if anchor in text)
    link_words = min(words, max(found, inside))
    teasers = [text_words(teaser) for teaser in stats.teasers if teaser in text]
    teaser_words = min(words - link_words, sum(teasers))
    return _Text(words, min(prose, words - link_words - teaser_words), link_words, teaser_words, len(teasers))


def _is_prose(text: _Text) -> bool:
    """Enough prose to be somebody's story whatever the URL or a non-article type say (``ARTICLE_WORDS``)."""
    return text.prose >= ARTICLE_WORDS


def _is_listing(text: _Text, stats: LinkStats) -> bool:
    """The shape of an index: a main text that is mostly links' texts and teasers, or fragments among many links.

    Mostly links': ``LINKED_TEXT`` of its words, on a page with
    ``MANY_LINKS`` or with ``CARDS`` teasers in the text (each one follows its
    own headline link). Fragments: less than half the words in prose
    (headlines, times and bylines of a front page) on a link-dense page with
    many links. A short article on a link-heavy page is one or two
    paragraphs of prose, and stays.
    """
    if text.linked >= LINKED_TEXT * text.words and (stats.links >= MANY_LINKS or text.teasers >= CARDS):
        return True
    return stats.links >= MANY_LINKS and stats.density >= DENSE_LINKS and text.prose < 0.5 * text.words


def _shape(text: _Text, stats: LinkStats) -> str:
    return (
        f"{text.words} words ({text.prose} prose, {text.link_words} link text, {text.teaser_words} teasers), "
        f"link density {stats.density:.2f}, {stats.links} links"
    )


def page_kind(url: Optional[str], meta: PageMeta, body: Body, stats: LinkStats) -> PageKind:
    """Whether the page at ``url`` is an article, and if not what it is, with the evidence.

    ``meta`` and ``body`` are ``read_tree``'s, ``stats`` is :func:`link_stats`
    of the same tree. Precedence (module docstring):

    1. a declared article type is an article, unless it has no text
       (``DECLARED_MIN_WORDS``: ``too_short``) or is tiny (``TINY_WORDS``
       of prose), link-dense and said to be an index by its URL or a
       collection type;
    2. a soft "not found" page, unless it is prose;
    3. a declared non-article type (video, gallery, profile, search results,
       collection) is that kind, unless the page is prose (``_is_prose``);
    4. a navigation URL is that kind (the root path: ``home``, always),
       unless the page is prose;
    5. the page's shape: fewer than ``TOO_SHORT_WORDS`` words of its own is
       ``too_short``; an index's shape (``_is_listing``) is a ``listing``;
       anything else is an article.
    """
    text = _measure(body.text, stats)
    shape = _shape(text, stats)
    prose = _is_prose(text)
    by_url = url_kind(url)
    declared = _declared_article(meta, stats)
    if declared is not None:
        other = _declared_other(meta, stats)
        against = by_url or (other if other and other[0] != "video" else None)
        dense = stats.density >= DENSE_LINKS or text.linked >= LINKED_TEXT * text.words  # teasers count as links'
        if against and text.prose < TINY_WORDS and dense and stats.links >= MANY_LINKS:
            return PageKind(against[0], f"{against[1]} over declared {declared}: {shape}")
        if text.own < DECLARED_MIN_WORDS:  # a menu run into the text is not the article's words
            return PageKind("too_short", f"declared {declared}, {shape}")
        return PageKind(ARTICLE, f"declared {declared}, {shape}")
    titles = (stats.title, meta.title)
    if not prose and any(title and _NOT_FOUND.search(title) for title in titles):
        return PageKind("error_page", f"title {next(t for t in titles if t and _NOT_FOUND.search(t))[:60]!r}, {shape}")
    other = _declared_other(meta, stats)
    if other is not None:
        if prose:
            return PageKind(ARTICLE, f"prose over {other[1]}: {shape}")
        if other[0] == "listing" and by_url is not None:
            return PageKind(by_url[0], f"{other[1]}, {by_url[1]}, {shape}")
        return PageKind(other[0], f"{other[1]}, {shape}")
    if by_url is not None:
        kind, evidence = by_url
        if kind == "home" or not prose:
            return PageKind(kind, f"{evidence}, {shape}")
        return PageKind(ARTICLE, f"prose over {evidence}: {shape}")
    if text.own < TOO_SHORT_WORDS:
        return PageKind("too_short", shape)
    if _is_listing(text, stats):
        return PageKind("listing", shape)
    return PageKind(ARTICLE, shape)
