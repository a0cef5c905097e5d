"""The people who wrote a web page: structured bylines first, trafilatura's visible byline after, one person filter.

Why: a page's markup names its author in many places, and most of them are
not always people. ``<meta name="author">`` holds the site's name as often as
a journalist's; JSON-LD ``author`` is an ``Organization`` on wire copy;
``article:author`` is usually a profile URL; bylines read "Staff", "Redaktion",
"AFP" or "Jane Doe, Senior Reporter". Measured on 538 pages with annotated
authors (``bench/page_meta_bench.py``), the structured sources alone, put
through the filter below, name someone else on far fewer pages than
trafilatura, and trafilatura's visible-byline heuristics find the author on
pages whose markup says nothing: so those come last, through the same filter.

The filter keeps people only: no role or newsroom words (in several
languages, as data below), no wire agencies, no name of the site or its
publisher, no host name, e-mail address or URL, nothing with digits or more
than five words. Lists are split ("A and B", "A, B", "A; B", "A | Site").
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any, Iterable, NamedTuple, Optional
from urllib.parse import urlsplit

import lxml.html
from lxml import etree

JsonObject = dict[str, Any]
MetaTags = dict[str, list[str]]

#: Words that name a role, a desk, an institution or a page element, not a person; whole words, case-insensitive.
ROLE_WORDS = frozenset(
    """
    staff staffer editorial editor editors newsroom desk team agency agencies wire wires press news service services
    admin administrator webmaster guest contributor contributors correspondent correspondents reporter reporters
    writer writers columnist bureau media magazine online digital reports web office publisher author
    communications department ministry council university foundation company group

    redaktion redaktionen redactie redaksjonen nachrichten agentur verlag magazin autor kolumnist journalist kirche
    redacción redaccion rédaction redaction redazione redação redacao agencia agência agence agenzia equipo équipe
    periodista autore auteur redakcja redakce redakcia редакция редакція редакции σύνταξη

    unknown anonymous anonym anonyme anónimo anonimo unbekannt unbenannt inconnu desconocido sconosciuto
    user none null undefined

    name follow posted says said reply comments share date datum stand copyright

    gmbh kg ag inc ltd llc plc corp gbr ug srl sarl bv oy oyj kft
    """.split()
)
# The blocks above: English roles and institutions; the same in German, Dutch, Scandinavian, Romance, Slavic and
# Greek; placeholders for "no author"; labels of page elements a byline heuristic picks up instead of a name
# ("Name" of a comment form, "X says" of a comment); legal forms of companies and associations.

#: Stems that also end or open compounds ("Online-Redaktion", "Nachrichtenagentur", "Caritasverband",
#: "Bundesministerium", "Stiftung …"), matched anywhere in the lower-cased name.
ROLE_STEMS = tuple(
    """
    redaktion redaction redacción redazione newsroom agentur redakcja редакц verband stiftung ministerium institut
    bundes fraktion verein
    """.split()
) + ("rights reserved",)
#: Legal forms written with dots: "e.V.", "e. V.", "S.A.", "S.L.", "Co. KG".
_DOTTED_FORMS = re.compile(r"\b(?:e\.\s?v|s\.\s?a|s\.\s?l|co\.\s?kg)\b\.?", re.I)
#: Whole parts that are a degree or a suffix ("Jane Doe, PhD"), not a second person.
TITLES_ONLY = frozenset("phd md mba msc bsc ma ba rd rdn rn dds dvm jr sr dr prof".split())
#: News and wire agencies, often given as the author of syndicated copy.
AGENCIES = frozenset(
    """
    ap afp dpa reuters ansa efe apa sda ats kna epd kyodo xinhua tass ria pti ians ani upi anp belga tt ntb stt
    ritzau ctk pap mti hina tanjug aa bernama yonhap jiji agerpres lusa bloomberg sid
    """.split()
)
#: Agencies whose name has several words, matched anywhere in the lower-cased name.
AGENCY_NAMES = ("associated press", "europa press", "agence france-presse", "agence france presse")

_WORD_SPLIT = re.compile(r"[^\w]+")
_NOT_A_NAME = ROLE_WORDS | AGENCIES
# Lists of names: separators, spaced dashes, and "and" in the languages bylines are written in.
_LIST_SPLIT = re.compile(r"\s*(?:[;|/•·]|\s[-–—]\s|&|\+)\s*|\s+(?:and|AND|And|und|UND|y|et|e|og|och|és|ve|и|i)\s+")
_ENGLISH_BY = re.compile(
    r"^(?:(?:written|words|posted|published|story|article|beitrag|artikel|geschrieben|verfasst|ein\s+beitrag|publicado|"
    r"escrito|publié|écrit|scritto|pubblicato)\s+(?:by|von|vom|por|par|da|di)|by|author|autor|auteur|autore)\s*:?\s+",
    re.I,
)
# "By" in other languages, removed only when a name of two words or more remains ("Von Miller" stays).
_OTHER_BY = re.compile(r"^(?:von|por|par|door|av|af|przez|från|от|від|tekst|texto|texte|text|interview)\s*:?\s+", re.I)
_REMARK = re.compile(r"\s*[(\[][^()\[\]]*[)\]]\s*")  # "Jane Doe (Reuters)", "Jane Doe [text]"
_HANDLE = re.compile(r"(?<!\w)@\w+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_DOMAIN = re.compile(r"^(?:[\w-]+\.)+[a-z]{2,}$", re.I)
_TRIM = " \t.,:;-–—|·•*\"'“”‘’«»"

MAX_AUTHORS = 20


class NotPeople(NamedTuple):
    """Names the page gives itself: a byline equal to one of them names the site, not a person."""

    names: frozenset[str]  # letters of site and publisher names, lower-cased
    host_labels: frozenset[str]  # labels of the page's host name ("theguardian" of www.theguardian.com)


def letters(text: str) -> str:
    """The letters of ``text``, lower-cased: the form names are compared in."""
    return "".join(ch for ch in text.lower() if ch.isalpha())


def not_people(site_names: Iterable[Optional[str]], url: Optional[str]) -> NotPeople:
    """What a byline on this page must not equal: its site and publisher names, its host name."""
    names = frozenset(n for n in (letters(s) for s in site_names if s) if len(n) >= 2)
    labels: frozenset[str] = frozenset()
    if url:
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            host = ""
        parts = [p for p in host.split(".") if p and p != "www"]
        labels = frozenset(letters(p) for p in parts[:-1] if len(letters(p)) >= 4)
    return NotPeople(names, labels)


def _clean(part: str) -> str:
    name = unicodedata.normalize("NFKC", part)
    name = _HANDLE.sub(" ", _REMARK.sub(" ", name))
    name = " ".join(name.split()).strip(_TRIM)
    name = _ENGLISH_BY.sub("", name).strip(_TRIM)
    rest = _OTHER_BY.sub("", name)
    if rest != name and len(rest.split()) >= 2:
        name = rest.strip(_TRIM)
    return name


def is_person(name: str, excluded: NotPeople) -> bool:
    """Whether a cleaned byline part can be a person's name (see the module docstring)."""
    if not 2 <= len(name) <= 60 or len(name.split()) > 5:
        return False
    lowered = name.lower()
    if "@" in name or "://" in name or lowered.startswith("www") or _DOMAIN.match(name):
        return False
    if any(ch.isdigit() for ch in name) or not any(ch.isalpha() for ch in name):
        return False
    words = [w for w in _WORD_SPLIT.split(lowered) if w]
    if any(w in _NOT_A_NAME for w in words) or any(s in lowered for s in ROLE_STEMS + AGENCY_NAMES):
        return False
    if all(w in TITLES_ONLY for w in words) or _DOTTED_FORMS.search(name):
        return False
    key = letters(name)
    if key in excluded.names or key in excluded.host_labels:
        return False
    # the site's name or host inside the byline ("Die Example Zeitung", "Jane Doe Example Times") names the site
    return not any(len(site) >= 6 and site in key for site in excluded.names | excluded.host_labels)


def _is_address(value: str) -> bool:
    lowered = value.strip().lower()
    return "://" in lowered or lowered.startswith("www.") or bool(_EMAIL.search(lowered))


def person_names(values: Iterable[str], excluded: NotPeople) -> list[str]:
    """People's names from byline strings: split, cleaned, filtered, de-duplicated (order kept).

    A value that is a URL or holds an e-mail address names nobody (profile
    links in ``article:author``, ``desk@…``) and is not split further.
    """
    found: list[str] = []
    for value in values:
        if not isinstance(value, str) or len(value) > 1000 or _is_address(value):
            continue
        if "&" in value and ";" in value:
            value = html.unescape(value)  # "Redacci&oacute;n" in JSON-LD: the ";" is no separator
        for chunk in _LIST_SPLIT.split(value):
            parts = [p for p in (c.strip() for c in chunk.split(",")) if p]
            if len(parts) > 1 and all(len(p.split()) == 1 for p in parts):
                parts = [chunk]  # "Doe, Jane": one name, written surname first
            for part in parts:
                name = _clean(part)
                if is_person(name, excluded):
                    found.append(name)
    return _unique(found)[:MAX_AUTHORS]


def _unique(names: list[str]) -> list[str]:
    """First of each name; a name that is part of a longer one given too ("Doe" beside "Jane Doe") dropped."""
    keys = [" ".join(_WORD_SPLIT.split(n.lower())).strip() for n in names]
    out: list[str] = []
    seen: set[str] = set()
    for name, key in zip(names, keys, strict=True):
        if key in seen or any(key != other and f" {key} " in f" {other} " for other in keys):
            continue
        seen.add(key)
        out.append(name)
    return out


# ------------------------------------------------------------------ sources

_ORGANISATION_TYPES = ("organization", "organisation", "corporation", "brand", "website", "business", "newsmedia")


def is_organisation(obj: JsonObject) -> bool:
    """A JSON-LD Organization, WebSite, Brand…, and not also a Person (one-person sites are typed as both)."""
    kind = obj.get("@type")
    kinds = [k.lower() for k in (kind if isinstance(kind, list) else [kind]) if isinstance(k, str)]
    return not any("person" in k for k in kinds) and any(t in k for k in kinds for t in _ORGANISATION_TYPES)


def _jsonld_names(value: Any, by_id: dict[str, JsonObject], depth: int = 0) -> list[str]:
    """Names in a JSON-LD ``author`` value: a string, a Person (or a reference to one), a list of those."""
    if depth > 3:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [n for item in value[:50] for n in _jsonld_names(item, by_id, depth + 1)]
    if not isinstance(value, dict):
        return []
    if "name" not in value and isinstance(value.get("@id"), str) and value["@id"] in by_id:
        value = by_id[value["@id"]]  # {"@id": "…#/schema/person/…"}: the Person is elsewhere in the graph
    if is_organisation(value):
        return []
    name = value.get("name")
    if isinstance(name, (str, list)):
        return [n for n in (name if isinstance(name, list) else [name]) if isinstance(n, str)]
    given, family = value.get("givenName"), value.get("familyName")
    if isinstance(given, str) and isinstance(family, str):
        return [f"{given} {family}"]
    return []


def jsonld_authors(objects: list[JsonObject], all_objects: list[JsonObject], excluded: NotPeople) -> list[str]:
    """The people of the first of ``objects`` whose ``author`` names any."""
    by_id = {obj["@id"]: obj for obj in all_objects if isinstance(obj.get("@id"), str)}
    for obj in objects:
        if "author" in obj:
            names = person_names(_jsonld_names(obj["author"], by_id), excluded)
            if names:
                return names
    return []


_BROKEN_AUTHOR = (
    re.compile(r'"author"\s*:\s*\{[^{}]*?"name"\s*:\s*"([^"\\]{2,80})"'),
    re.compile(r'"author"\s*:\s*"([^"\\]{2,80})"'),
)


def broken_jsonld_authors(texts: list[str], excluded: NotPeople) -> list[str]:
    """The first author name of JSON-LD blocks too broken to parse, read by a regular expression."""
    for text in texts:
        for pattern in _BROKEN_AUTHOR:
            match = pattern.search(text)
            names = person_names([match.group(1)], excluded) if match else []
            if names:
                return names
    return []


#: ``<meta>`` keys that hold a byline, in order of trust.
META_AUTHOR_KEYS = (
    "author",
    "article:author",
    "og:article:author",
    "parsely-author",
    "sailthru.author",
    "byl",
    "dc.creator",
    "dcterms.creator",
    "itemprop:author",
)


def meta_authors(meta: MetaTags, excluded: NotPeople) -> tuple[list[str], Optional[str]]:
    """People of the first byline ``<meta>`` key that names any, and that key."""
    for key in META_AUTHOR_KEYS:
        names = person_names(meta.get(key, ()), excluded)
        if names:
            return names, key
    return [], None


def itemprop_authors(elements: list[lxml.html.HtmlElement], excluded: NotPeople) -> list[str]:
    """The first person marked ``itemprop="author"`` (its ``itemprop="name"``, else its text).

    ``elements`` are the page's elements (not ``<meta>``) that have an ``itemprop``.
    """
    marked = [e for e in elements if "author" in (e.get("itemprop") or "").split()]
    for element in marked[:5]:
        inner = element.xpath('.//*[@itemprop="name"]')
        text = (inner[0].get("content") or inner[0].text_content()) if len(inner) else None
        text = text or element.get("content") or element.text_content()
        names = person_names([text], excluded) if text and len(text) < 200 else []
        if names:
            return names[:1]
    return []


def trafilatura_authors(tree: lxml.html.HtmlElement, excluded: NotPeople) -> list[str]:
    """trafilatura's visible byline (see :func:`visible_byline`), through the same person filter."""
    found = visible_byline(tree)
    return person_names(found.split(";"), excluded) if found else []


# ------------------------------------------------------------------ trafilatura's byline heuristic, without its cost
#
# trafilatura's ``extract_author`` deep-copies the page, deletes comments,
# dates and figures from the copy, then runs three XPath expressions whose
# EXSLT regular expressions call back into Python for every element: ~11 ms a
# page (median; 15 ms mean) where the rest of the page metadata costs ~2 ms.
# The same rules below, on the original tree with one XPath that only selects
# elements carrying the attributes involved: the text of a byline skips what
# trafilatura would have deleted, and keeps the deleted elements' tails
# where trafilatura's ``delete_element`` moves them. ``bench/page_meta_bench.py``
# counts the pages where this and ``extract_author`` disagree (none of 1,190).
# The expressions are those of trafilatura 2.3.1 (``trafilatura/xpaths.py``,
# AUTHOR_XPATHS and AUTHOR_DISCARD_XPATHS).

_ATTRIBUTED = etree.XPath(
    "//*[@class or @id or @itemprop or @rel or @data-testid or @data-component]|//author|//time|//figure"
)
_DISCARD_ID = re.compile(r"^comments|comment-?list|ProductReviews")
_DISCARD_CLASS = re.compile(
    r"^[Cc]omments|commentlist|comments-list|sidebar|is-hidden|quote|embedly-instagram|article-(?:share|support)"
    r"|print|category|meta-date|meta-reviewer"
)
_TIER1_TAGS = frozenset(("a", "address", "div", "link", "p", "span", "strong"))
_TIER1_CLASS = re.compile(r"author-?name|AuthorName|authorName")
_TIER2_TAGS = frozenset(("a", "div", "h3", "h4", "p", "span"))
_TIER2_ID = re.compile(r"author|zuozhe|bianji|xiaobian")
_TIER2_CLASS = re.compile(r"author|channel-name|zuozhe|bianji|xiaobian|submitted-by|posted-by|journalist-name")
_TIER3_ID = re.compile(r"[Aa]uthor")
_TIER3_CLASS = re.compile(r"[Aa]uthor|screenname|writer|[Bb]yline")


def _discarded(element: lxml.html.HtmlElement, tag: str, get: Any) -> bool:
    if tag in ("time", "figure"):
        return True
    if tag not in ("a", "div", "section", "span"):
        return False
    ident, cls = get("id") or "", get("class") or ""
    return (
        ident == "comments"
        or cls in ("comments", "title", "date")
        or bool(_DISCARD_ID.search(ident))
        or bool(_DISCARD_CLASS.search(cls))
        or "Figure" in (get("data-component") or "")
    )


def _tier(tag: str, get: Any) -> int:
    """Which of trafilatura's three byline expressions selects the element (0: none)."""
    if tag == "author":
        return 1
    ident, cls, itemprop = get("id") or "", get("class") or "", get("itemprop") or ""
    if tag in _TIER1_TAGS and (
        get("rel") == "author"
        or ident == "author"
        or cls == "author"
        or itemprop == "author name"
        or get("data-testid") in ("AuthorCard", "AuthorURL")
        or _TIER1_CLASS.search(cls)
    ):
        return 1
    if tag in _TIER2_TAGS and (
        cls in ("byline", "username", "byl", "BBL")
        or "author" in itemprop
        or _TIER2_ID.search(ident)
        or _TIER2_CLASS.search(cls)
    ):
        return 2
    if (
        "Byline" in (get("data-component") or "")
        or "author" in itemprop
        or _TIER3_ID.search(ident)
        or _TIER3_CLASS.search(cls)
    ):
        return 3
    return 0


def _text_without(element: lxml.html.HtmlElement, dropped: set[lxml.html.HtmlElement], out: list[str]) -> None:
    """``element.itertext()`` as it reads once the ``dropped`` descendants are deleted, tails kept."""
    absorbing: Optional[int] = None  # the piece a deleted child's tail joins: the parent's text or the previous tail
    if isinstance(element.tag, str) and element.text is not None:
        out.append(element.text)
        absorbing = len(out) - 1
    for child in element:
        if child in dropped:
            if child.tail:
                if absorbing is None:
                    out.append(child.tail)
                    absorbing = len(out) - 1
                else:
                    out[absorbing] += child.tail
            continue
        _text_without(child, dropped, out)
        if child.tail is not None:
            out.append(child.tail)
            absorbing = len(out) - 1
        else:
            absorbing = None


#: Anything in a class or id that one of the rules above can match (most elements match none), longest first.
_RELEVANT = re.compile(
    r"embedly-instagram|journalist-name|ProductReviews|channel-name|submitted-by|meta-reviewer|screenname|is-hidden"
    r"|posted-by|meta-date|article-s|username|category|xiaobian|sidebar|zuozhe|bianji|writer|omment|print|quote"
    r"|uthor|yline|byl|BBL"
)
_RARE_ATTRIBUTES = frozenset(("itemprop", "rel", "data-testid", "data-component"))


#: Every attribute value a byline rule reads, as plain strings (no element objects: cheap), and the words one
#: of them must contain for any rule to select an element. About half the pages without a byline in their
#: structured data have none of them, and are done after this one look.
_RULE_ATTRIBUTES = etree.XPath(
    "//@class|//@id|//@itemprop|//@rel|//@data-testid|//@data-component", smart_strings=False
)
_HAS_AUTHOR_ELEMENT = etree.XPath("boolean(//author)")
_BYLINE_WORDS = re.compile(
    r"uthor|yline|byl|BBL|username|screenname|writer|zuozhe|bianji|xiaobian|channel-name|submitted-by|posted-by"
    r"|journalist-name"
)


def visible_byline(tree: lxml.html.HtmlElement) -> Optional[str]:
    """trafilatura's ``extract_author(tree)`` (same rules and result), without copying or changing the tree."""
    if not _BYLINE_WORDS.search("\n".join(_RULE_ATTRIBUTES(tree))) and not _HAS_AUTHOR_ELEMENT(tree):
        return None  # no element any of the three expressions could select
    # the elements themselves, not their id(): lxml makes a new proxy object for a node nobody holds
    dropped: set[lxml.html.HtmlElement] = set()
    tiers: dict[int, list[lxml.html.HtmlElement]] = {1: [], 2: [], 3: []}
    for element in _ATTRIBUTED(tree):
        tag, get = element.tag, element.get
        if not isinstance(tag, str):
            continue
        cls = get("class")
        if (
            tag not in ("author", "time", "figure")
            and cls not in ("title", "date")
            and not _RELEVANT.search(f"{cls or ''} {get('id') or ''}")
            and _RARE_ATTRIBUTES.isdisjoint(element.keys())
        ):
            continue
        if _discarded(element, tag, get):
            dropped.add(element)
        tier = _tier(tag, get)
        if tier:
            tiers[tier].append(element)
    for tier in (1, 2, 3):
        for element in tiers[tier]:
            if element in dropped or any(a in dropped for a in element.iterancestors()):
                continue
            pieces: list[str] = []
            _text_without(element, dropped, pieces)
            content = " ".join(" ".join(pieces).split())
            if 2 < len(content) < 120:
                from trafilatura.json_metadata import normalize_authors  # on first use, as in body.py

                return normalize_authors(None, content)
    return None
