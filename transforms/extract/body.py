"""An article's main text from its page: trafilatura's choice of content, rendered in newsbeam's paragraphs.

trafilatura 2.3.1 picks the content (best F1 of the candidates measured in
``bench/extract_bench.py``); this module parses the page once, hands the tree
to it, renders the body tree it returns with one blank line between
paragraphs (its own text output separates them by a single line break), and
drops a few kinds of boilerplate paragraph it keeps (``BOILERPLATE``: each
rule is there because it raised F1 on the benchmark and lost no sentence of
an article) and a first paragraph that repeats the page's title (a column of
its own). An HTML fragment (a feed's ``content:encoded``, an ``html`` field
of a JSON record) is an article body already: when it is short, or
trafilatura keeps too little of it, the fragment's own text is the body.
"""

from __future__ import annotations

import enum
import logging
import re
from typing import NamedTuple, Optional, Sequence, Union

import lxml.etree
import lxml.html

from transforms.text import flat_text, storable

__all__ = ["BOILERPLATE", "Body", "extract_body", "parse_page", "render_text"]

_LOG = logging.getLogger(__name__)

# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------

#: Attribute ``parse_page`` sets on the root of a page it could not build completely: its ``<body>`` then
#: holds the page's text read flat, one ``<p>`` per paragraph (see ``parse_page``).
FLATTENED = "data-newsbeam-flattened"
#: Attribute ``parse_page`` sets on the root of markup that was not a whole page (no ``<html>``, ``<head>``
#: or ``<body>`` tag): an article fragment, parsed inside ``<html><body>``.
FRAGMENT = "data-newsbeam-fragment"

_DOCUMENT_TAG_RE = re.compile(r"<(?:html|head|body)[\s>/]", re.I)
_BODY_TAG_RE = re.compile(r"<body[\s>]", re.I)
_BLANK_LINE_RE = re.compile(r"\n[^\S\n]*\n")
# trafilatura.utils.repair_faulty_html: libxml2 chokes on a doctype with a slash and on <html/>.
_DOCTYPE_RE = re.compile(r"^< ?! ?DOCTYPE[^>]*/[^<>]*>", re.I)
_SELF_CLOSED_HTML_RE = re.compile(r"(<html.*?)\s*/>", re.I)
# Characters XML 1.0 cannot hold; libxml2 stops at some of them (trafilatura's INVALID_XML_CHARS).
_INVALID_XML_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Binary data decoded as text: C0 controls (other than tab, newlines, form feed) and U+FFFD.
_JUNK_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")


def _parser() -> lxml.html.HTMLParser:
    """trafilatura's parser settings (``trafilatura.utils.HTML_PARSER``), one per call: its error log is state."""
    return lxml.html.HTMLParser(
        collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True, remove_pis=True
    )


def _looks_binary(markup: str) -> bool:
    """A PDF, or bytes that were never text: control characters or U+FFFD in more than 1% of the head."""
    if markup.lstrip()[:5] == "%PDF-":
        return True
    head = markup[:8192]
    return len(_JUNK_RE.findall(head)) > max(2, len(head) // 100)


def parse_page(html: str) -> Optional[lxml.html.HtmlElement]:
    """The page's tree, parsed as trafilatura parses it, or None when it is not HTML.

    The tree is what the metadata extractor and ``extract_body`` share, so the
    page is parsed once. Markup with no ``<html>``, ``<head>`` or ``<body>``
    tag is a fragment of an article and is parsed inside ``<html><body>``
    (the root carries ``FRAGMENT``; trafilatura's own loader would reject it
    as "not HTML"), plain text included. None for empty text, a PDF, or
    binary data decoded as text: none of them has an article to find.

    libxml2 stops at 256 levels of nesting (trafilatura does not lift the
    limit, and its extraction recurses through the tree, so a deeper tree is
    not wanted anyway) and drops the rest of the page silently. Such a page
    keeps its ``<head>`` and gets a ``<body>`` rebuilt from the page's text
    read flat, one ``<p>`` per paragraph; the root carries ``FLATTENED``.
    """
    if not html or not html.strip() or _looks_binary(html):
        return None
    markup = _INVALID_XML_RE.sub("", html)
    fragment = not _DOCUMENT_TAG_RE.search(markup)
    if fragment:
        markup = f"<html><body>{markup}</body></html>"
    else:
        if "doctype" in markup[:50].lower():
            first, newline, rest = markup.partition("\n")
            markup = _DOCTYPE_RE.sub("", first, count=1) + newline + rest
        head = markup[:4096]
        if "<html" in head and "/>" in head:
            for line in head.splitlines()[:4]:
                if "<html" in line and line.endswith("/>"):
                    markup = _SELF_CLOSED_HTML_RE.sub(r"\1>", markup, count=1)
                    break
    try:
        data = markup.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (a JSON "\\ud800"): U+FFFD, as the rest of newsbeam stores them
        data = storable(markup)[0].encode("utf-8")
    parser = _parser()
    try:
        root = lxml.html.document_fromstring(data, parser=parser)
    except (lxml.etree.ParserError, ValueError):
        return None
    if fragment:
        root.set(FRAGMENT, "1")
    if any(error.level == lxml.etree.ErrorLevels.FATAL for error in parser.error_log):
        _flatten(root, markup)
    return root


def _flatten(root: lxml.html.HtmlElement, markup: str) -> None:
    """Replace ``root``'s body with the page's text read flat (see ``parse_page``)."""
    opening = _BODY_TAG_RE.search(markup)
    text = flat_text(markup[opening.start() if opening else 0 :])
    for body in root.findall("body"):
        root.remove(body)
    body = lxml.etree.SubElement(root, "body")
    for chunk in _BLANK_LINE_RE.split(text):
        paragraph = " ".join(chunk.split())
        if paragraph:
            lxml.etree.SubElement(body, "p").text = paragraph
    root.set(FLATTENED, "1")


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------

# trafilatura's output vocabulary (p, head, list/item, quote, code, table/row/cell, lb) and the HTML tags
# its fallback extractors (readability, jusText, its baseline) leave in the body tree.
_BLOCKS = frozenset(
    "p head list item table row div section article main header h1 h2 h3 h4 h5 h6 ul ol li dl dt dd "
    "tr blockquote pre address figcaption center details summary body html".split()
)
_CELLS = frozenset({"cell", "td", "th"})
# Blocks in a page, but trafilatura also makes them of inline ``<q>`` and ``<code>``: a paragraph of their
# own only where they do not sit inside a line of text.
_BLOCKS_UNLESS_INLINE = frozenset({"quote", "code"})
_LINE_HOLDERS = frozenset({"p", "head", "item", "cell", "hi", "ref", "del", "li", "td", "th", "span", "a"})
_BREAKS = frozenset({"lb", "br", "hr"})
# Never text, and chrome a fragment may carry (html_text drops the same).
_SKIP = frozenset(
    "script style noscript template svg iframe object embed button form select option textarea "
    "nav aside footer figure picture video audio canvas map graphic colgroup col".split()
)
_PARAGRAPH_BREAK = "\n\n"
# Soft hyphens (layout hints that split words for search and NER alike, as trafilatura's own text output
# knows) and private-use characters (icon-font glyphs of share buttons and arrows): never text.
_INVISIBLE_RE = re.compile("[\u00ad\ue000-\uf8ff]")


class _Mark(enum.Enum):
    """What the walker emits between runs of text."""

    BLOCK = "block"  # a paragraph starts or ends
    CELL = "cell"  # a table cell starts
    BREAK = "break"  # a line break (``<br>``, trafilatura's ``<lb>``)


def _walk(root: lxml.etree._Element) -> list[Union[str, _Mark]]:
    """Text runs and marks of ``root`` in document order (lxml's iterwalk: no recursion, however deep)."""
    out: list[Union[str, _Mark]] = []
    walker = lxml.etree.iterwalk(root, events=("start", "end", "comment", "pi"))
    for event, element in walker:
        if event in ("comment", "pi"):  # never text, but what follows it is
            if element.tail:
                out.append(element.tail)
            continue
        tag = element.tag
        if tag in _SKIP:
            if event == "start":
                walker.skip_subtree()
            elif element.tail and element is not root:
                out.append(element.tail)
            continue
        block = tag in _BLOCKS or (tag in _BLOCKS_UNLESS_INLINE and _stands_alone(element))
        if event == "start":
            if block:
                out.append(_Mark.BLOCK)
            elif tag in _CELLS:
                out.append(_Mark.CELL)
            elif tag in _BREAKS:
                out.append(_Mark.BREAK)
            if element.text:
                out.append(element.text)
        else:
            if block:
                out.append(_Mark.BLOCK)
            if element.tail and element is not root:
                out.append(element.tail)
    return out


def _stands_alone(element: lxml.etree._Element) -> bool:
    parent = element.getparent()
    return parent is None or parent.tag not in _LINE_HOLDERS


def _paragraphs_of(runs: list[Union[str, _Mark]]) -> list[str]:
    """Paragraphs from the walker's runs: blocks and double line breaks separate them, cells are joined by " | "."""
    paragraphs: list[str] = []
    cells: list[list[str]] = [[]]
    breaks = 0

    def close() -> None:
        texts = [" ".join("".join(cell).split()) for cell in cells]
        paragraph = " | ".join(text for text in texts if text)
        if paragraph:
            if not paragraph.isascii():
                paragraph = " ".join(_INVISIBLE_RE.sub("", paragraph).split())
            if paragraph:
                paragraphs.append(paragraph)
        cells[:] = [[]]

    for run in runs:
        if run is _Mark.BLOCK:
            close()
            breaks = 0
        elif run is _Mark.CELL:
            if any(piece.strip() for piece in cells[-1]):
                cells.append([])
        elif run is _Mark.BREAK:
            breaks += 1
            if breaks >= LINE_BREAKS_PER_PARAGRAPH:
                close()
                breaks = 0
            else:
                cells[-1].append(" ")
        elif isinstance(run, str):
            if run.strip():
                breaks = 0
            cells[-1].append(run)
    close()
    return paragraphs


#: How many line breaks in a row end a paragraph: ``text<br><br>text`` is two paragraphs, a single ``<br>``
#: (an address, a verse, a hard wrap) is a space, as ``normalise_text`` reads a single line break.
LINE_BREAKS_PER_PARAGRAPH = 2


def render_text(body: lxml.etree._Element) -> list[str]:
    """The paragraphs of a trafilatura body tree (or of any HTML element): one per block, no markup.

    trafilatura's own text output puts a single line break between
    paragraphs; newsbeam separates them by a blank line, so headings, list
    items, quotes and table rows each become a paragraph of their own, and
    a table row's cells are joined by " | ". In a trafilatura tree ``head``
    is a heading; a page's ``<head>`` is never inside its ``<body>``, which
    is where a page is rendered from. Line breaks inside text are source
    formatting, not paragraphs: trafilatura leaves them as the page had them.
    """
    return _paragraphs_of(_walk(body))


# --------------------------------------------------------------------------
# Boilerplate paragraphs
# --------------------------------------------------------------------------

# Cues that introduce a link to another article, in the languages of the benchmark and a few more.
_READ_CUES = (
    r"read (?:more|also|next|the full story)|also read|see also|related(?: stories| articles| news| content| coverage)?"
    r"|more on this(?: story| topic)?|watch|listen|recommended(?: reading| stories)?|don'?t miss|must read"
    r"|le[ae] (?:también|más)|leer más|lea|mir[ae]|ve[ar]? también|ver también|(?:le|te) puede interesar|puedes ver"
    r"|también te puede interesar|noticia relacionada|lectura relacionada"
    r"|leia (?:também|mais)|veja (?:também|mais)|saiba mais|leia|veja"
    r"|(?:à |a )?lire (?:aussi|également|la suite)|voir aussi|à voir aussi|sur le même sujet"
    r"|lesen sie (?:auch|hier|mehr|weiter)|auch lesen|mehr zum thema|weiterlesen|zum weiterlesen|siehe auch"
    r"|auch interessant|mehr dazu|mehr lesen|das könnte sie (?:auch )?interessieren"
    r"|leggi anche|leggi|vedi anche|potrebbe interessarti"
    r"|czytaj (?:też|także|więcej)|zobacz (?:też|także)|przeczytaj (?:też|także)|dowiedz się więcej"
    r"|lees (?:ook|meer)|zie ook"
)
_CUE_SEPARATOR = r"(?:\s*(?::|»|›|>>|\||–|—)\s*|\s+-\s+)"
_NEWSLETTER = r"(?:newsletters?|bolet[ií]n(?: de noticias)?|lettre d'information|infolettre|nieuwsbrief|biuletyn)"
_SIGN_UP = (
    r"(?:sign(?:ing)? up|subscribe|abonnieren|abonniere|abonnez|anmelden|angemeldet|anmeldung|suscr[ií]b\w*"
    r"|inscri\w*|iscriv\w*|zapisz\w*)"
)
_SUBSCRIPTION = r"(?:subscribe|subscription|subscriber|abonnent\w*|abonnieren|abonnement|suscr[ií]\w*|abonn[eé]\w*)"
_PAYWALLED = (
    r"(?:full story|full article|to continue|continue reading|keep reading|read the rest|unlimited access"
    r"|already a subscriber|log ?in|weiterlesen|la suite|seguir leyendo)"
)
_CREDIT_AGENCIES = r"(?:getty images|afp|reuters|ap|dpa|epa|shutterstock|istock|picture[- ]alliance)"
_TOOL = (
    r"(?:(?:print|e-?mail|send)(?: this)?(?: article| story| page| to a friend)?|drucken|imprimir|imprimer|stampa"
    r"|artikel (?:drucken|versenden))"
)
_TIME = r"\d{1,2}:\d{2}(?:\s*[ap]\.?m\.?)?(?: uhr| h)?"


class Rule(NamedTuple):
    """A kind of boilerplate paragraph.

    ``pattern`` must match the WHOLE paragraph (case-insensitive), and only
    paragraphs up to ``longest`` characters are tested, so an article
    sentence that merely mentions a photo, a newsletter or a comment is never
    dropped. ``needle``, when given, is a cheaper pattern the paragraph must
    contain before ``pattern`` is tried (most paragraphs contain none).
    """

    name: str
    pattern: str
    longest: int
    needle: Optional[str] = None


#: Paragraphs trafilatura keeps that are not the article. Each rule is here because it raised F1 on the benchmark
#: pages without losing a sentence of their articles (per-rule effects: ``bench/extract_bench.py --rules``).
BOILERPLATE: tuple[Rule, ...] = (
    # The heading of a box of links to other articles.
    Rule(
        "related_heading",
        r"(?:related(?: stories| articles| posts| news| content| coverage| links)?|more (?:stories|news)"
        r"|you (?:may|might) also like|most (?:read|popular)|top stories"
        r"|trending(?: now)?|contenido relacionado|(?:notas|noticias|artículos) relacionad[ao]s|lo más (?:leído|visto)"
        r"|más sobre .{1,40}|weitere (?:artikel|themen|beiträge|nachrichten|news)(?: .{1,40})?|mehr themen"
        r"|empfohlene (?:beiträge|artikel)|schon gelesen|meistgelesen|meist gelesen|ähnliche (?:artikel|beiträge)"
        r"|top-themen(?: .{1,30})?|articles similaires|les plus lus|articoli correlati|più letti"
        r"|notícias relacionadas|mais lidas|najczęściej czytane|polecane)\s*[:?!.]?",
        60,
    ),
    # "Read more: <headline>", "Lea también: …", "Lesen Sie auch", or the cue alone. A headline does not end with
    # a full stop; a line of an interview ("Mira: I think we won.") does.
    Rule("read_more", rf"(?:{_READ_CUES})(?:{_CUE_SEPARATOR}\S.*(?<!\.)|\s*[.:!?]?)", 200),
    Rule(
        "advertisement",
        r"\(?(?:advertisement|advertising|sponsored(?: content)?|anzeige|werbung|publicidad|publicité|pubblicità"
        r"|reklama|publicidade)\)?(?:\s*[-–:]\s*.{0,40})?",
        60,
    ),
    # A credit line: "Photo: AP", "(Bild: …)", "Crédit photo : …", "Copyright: …".
    Rule(
        "photo_credit",
        r"[(\[]?(?:photo|photos|foto|fotos|fot\.|image|images|bild|titelbild|beitragsbild|picture|imagen|immagine"
        r"|crédits? photos?|photo credit|credit|copyright|©)\s*(?:[:©/]|by\b)\s*.{1,100}?[)\]]?",
        120,
    ),
    # A caption that ends with its credit: "… (Photo: EFE).", "… © AFP / X", "… Photo: X/AFP".
    Rule(
        "caption_credit",
        rf".{{0,200}}?(?:[(\[]\s*(?:photo|foto|fot\.|image|bild|credit|crédit|imagen)s?\s*:?[^)\]]{{1,80}}[)\]]\.?"
        rf"|©\s*[^.]{{1,60}}|(?:/|\|)\s*{_CREDIT_AGENCIES}\b[^.]{{0,20}})",
        220,
        r"[(\[©/|]",
    ),
    # A newsletter box: its heading, or a sentence offering "our" newsletter or asking to sign up for one.
    Rule(
        "newsletter",
        rf"(?:[^\W\d][\w-]*:?\s){{0,3}}{_NEWSLETTER}(?:[\s:-]+[^\W\d][\w-]*){{0,2}}[.!:]?"
        rf"|.{{0,150}}?\b(?:(?:our|my|unser\w*|mein\w*|nuestr\w*|notre|nos|nostra|nasz\w*)\s(?:[\w-]+\s){{0,2}}"
        rf"{_NEWSLETTER}|{_NEWSLETTER}\b.{{0,100}}?\b{_SIGN_UP}|{_SIGN_UP}\b.{{0,100}}?\b{_NEWSLETTER})\b.{{0,200}}",
        250,
        _NEWSLETTER,
    ),
    # "Sign up to get …", "… Sign up here".
    Rule(
        "sign_up",
        r"(?:sign up|subscribe|jetzt anmelden|jetzt abonnieren|abonnieren sie|suscr[ií]bete|inscrivez-vous"
        r"|abonnez-vous|iscriviti|zapisz się)\b.{0,150}"
        r"|.{0,150}\b(?:sign up|subscribe|anmelden|abonnieren|suscr[ií]bete|abonnez-vous)"
        r"(?: (?:here|now|today|hier|jetzt|aquí|ici))?\s*[.!]?",
        200,
        r"sign up|subscribe|anmelden|abonn|suscr|inscri|iscriv|zapisz",
    ),
    # A paywall's prompt: "Subscribe … for the full story", "Already a subscriber? Log in".
    Rule(
        "subscribe_prompt",
        rf".{{0,150}}?(?:\b{_SUBSCRIPTION}\b.{{0,100}}?\b{_PAYWALLED}\b|\b{_PAYWALLED}\b.{{0,100}}?\b{_SUBSCRIPTION}\b)"
        r".{0,150}",
        300,
        _SUBSCRIPTION,
    ),
    # "Follow us on Twitter", "Síguenos en Facebook", "Join our Facebook group".
    Rule(
        "follow_us",
        r".{0,60}?\b(?:follow (?:us|me|them|him|her)|join (?:us|our)|s[ií]guenos|folgen sie (?:uns|mir)|folge (?:uns|mir)"
        r"|suivez-(?:nous|moi)|seguici|segue-nos|únete|únase)\b.{0,80}?"
        r"\b(?:twitter|facebook|instagram|telegram|youtube|tiktok|linkedin|whatsapp|github|x)\b.{0,80}",
        200,
        r"twitter|facebook|instagram|telegram|youtube|tiktok|linkedin|whatsapp|github|\bx\b",
    ),
    # A share bar's words: "Share on Facebook", "Partager sur X", "Print this article | E-mail to a friend".
    Rule(
        "share",
        r"(?:share|teilen|compartir|partager|condividi|udostępnij)"
        r"(?: (?:this|on|via|article|story|post|artikel|auf|en|sur|su))?.{0,40}"
        rf"|{_TOOL}(?:\s*[|•·/]\s*(?:{_TOOL}|facebook|twitter|x|whatsapp|linkedin|share|teilen))*",
        60,
    ),
    Rule(
        "comments",
        r"(?:\d+\s+)?(?:comments?|kommentare?|comentarios?|commentaires?|commenti|komentarze?)(?:\s*[:(]?\s*\d+\)?)?"
        r"|(?:leave|post|add|write|view|show|see|read|no|keine|ohne|be the first to)\s+(?:a\s+|all\s+|\d+\s+)?"
        r"(?:comments?|kommentare?|reply)\b.{0,100}"
        r"|(?:deja|escribe) (?:un comentario|una respuesta)|laisser un commentaire|schreibe einen kommentar"
        r"|kommentar schreiben|lascia un commento|dodaj komentarz",
        120,
    ),
    # A date or time alone ("Updated June 13, 2019", "19.10.2019 07:49 Uhr"): the page's dates are metadata.
    Rule(
        "date_only",
        r"(?:(?:updated|published|posted|aktualisiert(?: am)?|veröffentlicht(?: am)?|stand|letzte änderung"
        r"|actualizado|publicado|mis à jour|publié)\s*:?\s*)?"
        rf"(?:(?:\d{{1,4}}[./-]\d{{1,2}}[./-]\d{{1,4}}|\d{{1,2}}\.? [^\W\d]+\.? \d{{4}}|[^\W\d]+\.? \d{{1,2}},? \d{{4}})"
        rf"(?:,?\s*(?:at |um )?{_TIME})?|{_TIME})\.?",
        50,
    ),
    Rule(
        "copyright",
        r"(?:©|\(c\)|copyright\s*(?:©|\(c\)|\d{4}|:|by\b))\s*.{0,150}|copyright\W*"
        r"|.{0,150}\b(?:all rights reserved|alle rechte vorbehalten|todos los derechos reservados"
        r"|tous droits réservés)\b.{0,60}",
        200,
        r"©|\(c\)|copyright|rights reserved|rechte vorbehalten|derechos reservados|droits réservés",
    ),
)

#: The rules whose paragraph heads a list of links (a "Related" box): the short, headline-like paragraphs
#: right after it go too (``RELATED_LIST``). ``read_more`` counts only as a bare cue ("Lesen Sie auch:").
_LIST_HEADS = frozenset({"related_heading", "read_more"})
#: A paragraph after a related-links heading is one of its links while it is at most this long and does not end
#: like a sentence (with a full stop).
RELATED_LIST = ("related_list", 120)

_Compiled = tuple[tuple[str, re.Pattern[str], int, Optional[re.Pattern[str]]], ...]


def _compile(rules: Sequence[Rule]) -> _Compiled:
    return tuple(
        (
            rule.name,
            re.compile(rule.pattern, re.I),
            rule.longest,
            re.compile(rule.needle, re.I) if rule.needle else None,
        )
        for rule in rules
    )


_COMPILED = _compile(BOILERPLATE)
_LONGEST = max(rule.longest for rule in BOILERPLATE)  # no rule tests a longer paragraph, whatever ``rules`` is
_BARE_CUE_RE = re.compile(rf"(?:{_READ_CUES})\s*[.:!?]?", re.I)


def _rule_of(paragraph: str, rules: _Compiled) -> Optional[str]:
    if len(paragraph) > _LONGEST:
        return None
    for name, pattern, longest, needle in rules:
        if len(paragraph) <= longest and (needle is None or needle.search(paragraph)) and pattern.fullmatch(paragraph):
            return name
    return None


def _heads_list(name: str, paragraph: str) -> bool:
    return name == "related_heading" or (name == "read_more" and _BARE_CUE_RE.fullmatch(paragraph) is not None)


def drop_boilerplate(
    paragraphs: list[str], rules: Optional[Sequence[Rule]] = None, lists: bool = True
) -> tuple[list[str], list[str]]:
    """``paragraphs`` without the boilerplate ones, and the rule that dropped each.

    ``rules`` defaults to ``BOILERPLATE``. With ``lists``, the links after a
    related-links heading go too (``RELATED_LIST``), when ``related_heading``
    or ``read_more`` is among the rules.
    """
    compiled = _COMPILED if rules is None else _compile(rules)
    heads = {name for name, *_ in compiled} & _LIST_HEADS if lists else set()
    kept: list[str] = []
    dropped: list[str] = []
    in_list = False
    list_name, list_limit = RELATED_LIST
    for paragraph in paragraphs:
        name = _rule_of(paragraph, compiled)
        if name is not None:
            dropped.append(name)
            in_list = name in heads and _heads_list(name, paragraph)
        elif in_list and len(paragraph) <= list_limit and not paragraph.endswith("."):
            dropped.append(list_name)
        else:
            in_list = False
            kept.append(paragraph)
    return kept, dropped


# --------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------


class Body(NamedTuple):
    """An article's main text and how it was found.

    ``text``: paragraphs separated by one blank line, no markup.
    ``paragraphs``: how many. ``method``: ``trafilatura`` (its choice of
    content), ``fragment`` (a fragment's own text: it was short, or
    trafilatura kept too little of it), ``failed`` (trafilatura raised on
    this page; the error is logged) or ``none`` (nothing to extract: empty,
    binary, or no content found). ``flattened``: the page nested deeper than
    the parser builds and its text was read flat (``parse_page``).
    ``dropped``: the boilerplate rule of each paragraph removed, and
    ``title`` for a first paragraph that repeated the page's title.
    """

    text: str
    paragraphs: int
    method: str
    flattened: bool
    dropped: tuple[str, ...]


#: trafilatura's own ``MIN_EXTRACTED_SIZE``: below it, it dumps the whole text of a document anyway.
SHORT_FRAGMENT = 250
#: A fragment keeps its own text when trafilatura's extraction holds less than this share of its characters.
FRAGMENT_KEEP = 0.1


def _trafilatura_body(tree: lxml.html.HtmlElement, url: Optional[str], fast: bool) -> Optional[lxml.etree._Element]:
    # output_format "txt" is what trafilatura.extract() runs; unlike "python", it does not render a text
    # output of its own that would be thrown away here.
    import trafilatura  # imported on first use: a fifth of a second that runs reading no HTML never need
    from trafilatura.settings import Document

    document = trafilatura.bare_extraction(
        tree, url=url, fast=fast, include_comments=False, with_metadata=False, output_format="txt"
    )
    return document.body if isinstance(document, Document) else None


#: What ``Body.dropped`` calls a first paragraph that is the page's title: the title is a column of its own.
TITLE = "title"
_LONGEST_TITLE = 300


def _is_title(paragraph: str, tree: lxml.html.HtmlElement) -> bool:
    """Whether ``paragraph`` is the page's ``<h1>``, its ``og:title``, or what its ``<title>`` starts with."""
    if len(paragraph) > _LONGEST_TITLE:
        return False
    for heading in tree.iterfind(".//h1"):
        if " ".join(heading.text_content().split()) == paragraph:
            return True
    head = tree.find("head")
    if head is None:
        return False
    for meta in head.iterfind("meta"):
        if meta.get("property") == "og:title" and " ".join((meta.get("content") or "").split()) == paragraph:
            return True
    title = head.findtext("title")
    return bool(title) and len(paragraph) > 10 and " ".join(title.split()).startswith(paragraph)


def _dumped(body: Optional[lxml.etree._Element]) -> bool:
    """Whether trafilatura found no content and dumped the document's text whole (its baseline's last resort).

    The dump is one ``<p>`` of every text run joined by line breaks: the
    paragraphs are gone, so for a fragment its own rendering (the same text)
    is the better one.
    """
    if body is None or len(body) != 1 or body[0].tag != "p":
        return False
    return "\n" in (body[0].text or "").strip()


def _size(paragraphs: list[str]) -> int:
    """Characters other than spaces: a measure of text that holds for languages written without spaces."""
    return sum(len(paragraph) - paragraph.count(" ") for paragraph in paragraphs)


def extract_body(
    tree_or_html: Union[lxml.html.HtmlElement, str, None],
    url: Optional[str] = None,
    fast: bool = False,
    rules: Optional[Sequence[Rule]] = None,
) -> Body:
    """The article text of a page or fragment: a tree from ``parse_page``, or markup (parsed here).

    The tree is not changed: trafilatura works on its own copy
    (``bare_extraction`` copies a tree it is given, about 1 ms a page, 3% of
    the extraction), so the metadata extractor may read the same tree
    before or after. ``fast`` skips trafilatura's fallback extractors
    (readability, jusText): about a quarter faster, and lower F1 (see the
    bench). Raises nothing for any string: markup that is not HTML gives
    an empty body.

    A fragment (``parse_page`` marks it) is an article body already: one
    shorter than ``SHORT_FRAGMENT`` characters is its own text, and so is
    one where trafilatura keeps less than ``FRAGMENT_KEEP`` of it or dumps
    it whole (``_dumped``).
    ``rules`` replaces ``BOILERPLATE`` (the bench measures each rule so).
    """
    tree = parse_page(tree_or_html) if isinstance(tree_or_html, str) else tree_or_html
    if tree is None:
        return Body("", 0, "none", False, ())
    flattened = tree.get(FLATTENED) is not None
    method = "trafilatura"
    own: Optional[list[str]] = None
    if tree.get(FRAGMENT) is not None:
        page_body = tree.find("body")
        own = render_text(page_body) if page_body is not None else []
    if own is not None and _size(own) < SHORT_FRAGMENT:
        paragraphs, method = own, "fragment"
    else:
        try:
            body = _trafilatura_body(tree, url, fast)
        except Exception as error:  # noqa: BLE001 - a library bug on one page is that page's failure, not the run's
            _LOG.warning("trafilatura failed on %s: %r", url or "a page", error)
            return Body("", 0, "failed", flattened, ())
        paragraphs = render_text(body) if body is not None else []
        if own is not None and (_size(paragraphs) < FRAGMENT_KEEP * _size(own) or _dumped(body)):
            paragraphs, method = own, "fragment"
    paragraphs, dropped = drop_boilerplate(paragraphs, rules)
    if own is None and paragraphs and _is_title(paragraphs[0], tree):
        paragraphs, dropped = paragraphs[1:], [TITLE, *dropped]
    if not paragraphs:
        return Body("", 0, "none", flattened, tuple(dropped))
    return Body(_PARAGRAPH_BREAK.join(paragraphs), len(paragraphs), method, flattened, tuple(dropped))
