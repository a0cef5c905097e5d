"""Bytes to clean text: decoding, HTML to text, encoding repair, normalisation.

Every function here is pure and returns what it did alongside what it made, so
the ``encoding`` column can say how each article's text came to be. The order
is fixed by the design: decode, HTML to text, ftfy behind a cheap guard, the
repair of lossy mojibake ftfy cannot undo, then NFC and whitespace.
"""

from __future__ import annotations

import codecs
import html
import re
import unicodedata
from collections import Counter
from html.parser import HTMLParser as HTMLTokenizer
from typing import Any, Iterable, NamedTuple, Optional

import ftfy
import ftfy.bad_codecs  # noqa: F401  (registers the sloppy-windows-* codecs)
import lxml.etree
import lxml.html
from ftfy import chardata
from ftfy.badness import BADNESS_RE

# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Declarations that are routinely wrong about UTF-8 bytes: a server or CMS
# default of Latin-1 in front of content that was really written as UTF-8.
_LATIN1_FAMILY = {"latin-1", "iso8859-1", "cp1252", "ascii", "iso8859-15"}
# Single-byte codecs for Latin script, which charset detection confuses with
# each other; undeclared bytes in one of these are decoded as cp1252.
_LATIN_SCRIPT_CODECS = frozenset(
    {"cp1252", "cp1250", "cp1254", "cp1257", "cp1258", "mac-roman", "mac-latin2", "cp850", "cp437", "cp775"}
    | {f"iso8859-{n}" for n in (1, 2, 3, 4, 9, 10, 13, 14, 15, 16)}
    | {"latin-1", "ascii"}
)
_XML_DECL_RE = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)


class Decoded(NamedTuple):
    text: str
    codec: str
    path: str
    declared: Optional[str]


def normalise_codec(name: Optional[str]) -> Optional[str]:
    """The codec Python knows ``name`` as, or None when there is no such codec."""
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


# XML 1.0 appendix F.1: a document without a byte order mark must begin with
# "<" (its declaration or its root), and the zero bytes around that "<" give
# the width and byte order of its encoding.
_WIDE_CODECS = ("utf-32-be", "utf-32-le", "utf-16-be", "utf-16-le")
_XML_START_RE = re.compile(r"\s{0,16}<[?!A-Za-z_]")


def xml_wide_codec(data: bytes) -> Optional[str]:
    """UTF-16 or UTF-32 (and its byte order) of markup that starts without a BOM, else None.

    The first characters of an XML (or HTML) document are ASCII: whitespace,
    then ``<?xml``, ``<!``, or the root's name. In UTF-16/32 those are ASCII
    bytes padded with zeros, so the head decodes to a "<" and a name in
    exactly one of the four codecs; UTF-8 or 8-bit text never has those
    zeros, and binary data that has them does not spell markup.
    """
    if len(data) < 4 or b"\x00" not in data[:4]:
        return None
    for codec in _WIDE_CODECS:
        width = 4 if codec.startswith("utf-32") else 2
        head = data[: 24 * width]
        try:
            text = head[: len(head) - len(head) % width].decode(codec)
        except UnicodeDecodeError:
            continue
        if _XML_START_RE.match(text):
            return codec
    return None


# Leading bytes of binary formats that land in news dumps beside the articles.
_BINARY_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"%PDF-", "PDF document"),
    (b"PK\x03\x04", "ZIP archive (or a DOCX/EPUB/XLSX)"),
    (b"PK\x05\x06", "empty ZIP archive"),
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"PAR1", "Parquet file"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"\x7fELF", "executable"),
    (b"OggS", "Ogg media"),
    (b"ID3", "MP3 audio"),
    (b"wOFF", "web font"),
    (b"wOF2", "web font"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy Office document"),
)
_UNICODE_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


# Bytes that text in any encoding newsbeam reads (UTF-8, an 8-bit codepage) uses
# at most rarely: the C0 controls other than tab, line feed, form feed and
# carriage return, and DEL.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)


def binary_kind(data: bytes) -> Optional[str]:
    """What a binary payload is ("PNG image", "binary data"), or None for text.

    A known signature marks binary; so does a head that is more than 1% NUL or
    more than 10% control bytes (compressed or encrypted data is about 12%) in
    a document without a UTF-16/32 byte order mark. Text in any 8-bit
    codepage passes, and so does a scraped page with a few stray controls;
    so does BOM-less UTF-16/32 markup, whose zero bytes ``xml_wide_codec``
    recognises.
    """
    for magic, kind in _BINARY_MAGIC:
        if data.startswith(magic):
            return kind
    if data[4:12] in (b"ftypisom", b"ftypmp42", b"ftypM4A ", b"ftypqt  ") or data[:4] == b"RIFF":
        return "audio/video container"
    if data.startswith(_UNICODE_BOMS) or xml_wide_codec(data):
        return None  # UTF-16/32 text, with a BOM or markup that says so (XML 1.0 appendix F)
    head = data[:8192]
    controls = len(head.translate(None, delete=_NOT_CONTROL))
    if head.count(0) > max(1, len(head) // 100) or controls > max(2, len(head) // 10):
        return "binary data"
    return None


def sniff_declared_charset(data: bytes) -> Optional[str]:
    """The charset an XML declaration or HTML ``<meta>`` in the first 2 KB names."""
    head = data[:2048]
    match = _XML_DECL_RE.search(head) or _META_CHARSET_RE.search(head)
    return match.group(1).decode("ascii") if match else None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def charset_of(content_type: Optional[str]) -> Optional[str]:
    """The charset an HTTP ``Content-Type`` declares (``text/html; charset="UTF-8"`` → ``utf-8``), or None."""
    if not content_type or "charset=" not in content_type.lower():
        return None
    return content_type.lower().split("charset=")[1].split(";")[0].strip().strip("\"'") or None


def decode_bytes(data: bytes, declared: Optional[str] = None) -> Decoded:
    """Decode ``data``: BOM, then the declared charset, then UTF-8, then a detector.

    ``declared`` is what the transport said (an HTTP Content-Type charset);
    without it the document's own XML declaration or ``<meta charset>`` is
    used. A Latin-1-family declaration on bytes that are valid, non-ASCII UTF-8
    is overridden: such bytes are UTF-8 with near certainty, and decoding them
    as Latin-1 would only manufacture mojibake for the repair step to undo.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(data[len(bom) :].decode(codec), codec, "bom", declared)
            except UnicodeDecodeError:
                data = data[len(bom) :]  # a lying BOM: decide from the bytes themselves
                break
    else:
        wide = xml_wide_codec(data)
        if wide is not None:
            try:
                text = data.decode(wide)
            except UnicodeDecodeError:
                # Cut off mid-character or with a lone surrogate: still this
                # codec (the "<" proved it); what cannot be read is marked.
                return Decoded(data.decode(wide, "replace"), wide, "xml-autodetect-lossy", declared)
            return Decoded(
                text, wide, "xml-autodetect", declared or sniff_declared_charset(text[:2048].encode("utf-8"))
            )

    transport = declared is not None
    declared = declared or sniff_declared_charset(data)
    declared_codec = normalise_codec(declared)
    if declared_codec is not None and declared_codec.startswith(("utf-16", "utf-32")):
        # A declaration readable as ASCII proves the bytes are not UTF-16/32
        # (with a BOM they would have been decoded above).
        declared_codec = None
    if declared_codec is not None:
        codec = declared_codec
        if codec in _LATIN1_FAMILY and not data.isascii() and _is_utf8(data):
            return Decoded(data.decode("utf-8"), "utf-8", "declared-overridden", declared)
        own = normalise_codec(sniff_declared_charset(data)) if transport else None
        if own is not None and (own == codec or own.startswith(("utf-16", "utf-32"))):
            own = None
        if own is not None and codec in _LATIN1_FAMILY and own not in _LATIN1_FAMILY:
            # Servers label text/* as ISO-8859-1 by default; a document that
            # declares another script's codepage (windows-1251, …) knows better.
            try:
                return Decoded(data.decode(own), own, "declared-in-document", declared)
            except (UnicodeDecodeError, LookupError):
                pass
        try:
            return Decoded(data.decode(codec), codec, "declared", declared)
        except (UnicodeDecodeError, LookupError):
            pass
        if own is not None:
            # The transport's charset was wrong: the document's own declaration
            # (an XML prolog, a <meta charset>) is the next-best witness.
            try:
                return Decoded(data.decode(own), own, "declared-in-document", declared)
            except (UnicodeDecodeError, LookupError):
                pass
    if _is_utf8(data):
        return Decoded(data.decode("utf-8"), "utf-8", "utf-8", declared)

    import charset_normalizer  # imported lazily: only undecodable bytes need it

    best = charset_normalizer.from_bytes(data[:65536]).best()
    detected = normalise_codec(best.encoding) if best is not None else None
    # BOM-less UTF-16/32 is a guess the detector makes on short Latin bytes.
    if detected and detected not in _LATIN_SCRIPT_CODECS and not detected.startswith(("utf-16", "utf-32")):
        # The detector found another script (Cyrillic, Greek, CJK, …): trust it.
        try:
            return Decoded(data.decode(detected), detected, "detected", declared)
        except (UnicodeDecodeError, LookupError):
            pass
    # Among Latin-script single-byte codecs the detector cannot tell cp1252
    # from cp1257 or mac_latin2 on Western text (it picks cp1257 for French,
    # turning "déjà" into "déją"); cp1252 is by far the most common of them.
    # sloppy-windows-1252 maps the five bytes cp1252 leaves undefined to their
    # Latin-1 code points, so this never fails and never drops a byte.
    return Decoded(data.decode("sloppy-windows-1252"), "cp1252", "cp1252-fallback", declared)


# --------------------------------------------------------------------------
# Storable text
# --------------------------------------------------------------------------

#: Repair kinds (listed in the ``encoding`` column, counted as ``repairs.<kind>``)
#: for characters that could not be kept as they came.
LONE_SURROGATE = "invalid_unicode:surrogate"
INVALID_CHAR_REF = "invalid_unicode:char_ref"
CONTROL_CHARS = "control_chars"
HTML_FLATTENED = "html:flattened"

_CHAR_REF_RE = re.compile(r"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));?")


def storable(text: str) -> tuple[str, int]:
    """``text`` with every lone UTF-16 surrogate replaced by U+FFFD, and how many were.

    A Python string can hold a surrogate code point on its own (JSON's
    ``"\\ud800"`` escape decodes to one); UTF-8, and so Parquet, cannot, and
    one such character would fail the writer for the whole run. Two escapes
    that form a pair are joined into their character.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        fixed = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return fixed, fixed.count("\ufffd") - text.count("\ufffd")
    return text, 0


def unstorable_code_point(value: int) -> bool:
    """NUL, a surrogate, or past U+10FFFF: what a character reference may name but text cannot hold."""
    return value == 0 or 0xD800 <= value <= 0xDFFF or value > 0x10FFFF


def char_ref_value(match: re.Match[str]) -> int:
    """The code point a numeric reference matched as ``&#x(hex)`` (group 1) or ``&#(decimal)`` (group 2) names."""
    hexadecimal, decimal = match.group(1), match.group(2)
    digits = (hexadecimal or decimal).lstrip("0") or "0"
    if len(digits) > 8:
        return 0x110000  # far past the last code point; int() of a huge run of digits is slow
    return int(digits, 16 if hexadecimal else 10)


def invalid_char_refs(markup: str) -> int:
    """How many numeric character references in ``markup`` name an unstorable code point.

    HTML parsers (lxml, ``html.unescape``) turn ``&#xD800;`` or ``&#0;`` into
    U+FFFD; this counts them, so the repair is on record.
    """
    if "&#" not in markup:
        return 0
    return sum(1 for match in _CHAR_REF_RE.finditer(markup) if unstorable_code_point(char_ref_value(match)))


def prepare_markup(markup: str) -> tuple[str, Counter[str]]:
    """Markup made safe for lxml, and what that took.

    Lone surrogates become U+FFFD (they cannot be encoded for the parser),
    NUL characters are removed (lxml would turn each into U+FFFD), and
    references to unstorable code points are counted (the parser replaces
    them).
    """
    repairs: Counter[str] = Counter()
    markup, lone = storable(markup)
    if lone:
        repairs[LONE_SURROGATE] += lone
    bad = invalid_char_refs(markup)
    if bad:
        repairs[INVALID_CHAR_REF] += bad
    nuls = markup.count("\x00")
    if nuls:
        markup = markup.replace("\x00", "")
        repairs[CONTROL_CHARS] += nuls
    return markup, repairs


# --------------------------------------------------------------------------
# HTML to text
# --------------------------------------------------------------------------

_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>|<!--|&[#A-Za-z0-9]+;")
_SKIP_TAGS = frozenset(
    "script style noscript template svg iframe object embed head button form select "
    "option textarea nav aside footer figure picture video audio canvas map".split()
)
_BLOCK_TAGS = frozenset(
    "p div section article main header h1 h2 h3 h4 h5 h6 ul ol li dl dt dd table tr "
    "blockquote pre hr address figcaption center details summary body html".split()
)


def looks_like_html(text: str) -> bool:
    """True when ``text`` carries markup or entity references."""
    return bool(_TAG_RE.search(text))


_FULL_DOCUMENT_RE = re.compile(
    r"\A(?:\s|\ufeff|<\?[^>]*>|<!--.*?-->)*<(?:!doctype|html[\s>]|head[\s>]|body[\s>])", re.I | re.S
)


def parse_markup(markup: str, fragment: bool = True) -> tuple[Optional[lxml.html.HtmlElement], bool]:
    """The lxml tree of a page or fragment, and whether the parser read all of it.

    The markup is handed to lxml as UTF-8 bytes with the encoding stated: we
    have decoded the document ourselves, so an XML declaration or ``<meta
    charset>`` inside it must not be obeyed again (and lxml refuses a ``str``
    that carries one). ``huge_tree`` lifts libxml2's nesting limit from 256 to
    2048 levels and its size limit on one text node; past those the parser
    stops with a fatal error and drops the rest of the document silently,
    which the second value reports so the caller can read the text another
    way. With ``fragment``, markup that is not a whole page is parsed inside
    ``<html><body>``, as ``lxml.html.fragment_fromstring`` does. Returns None
    for markup with no elements (only a comment).
    """
    if fragment and not _FULL_DOCUMENT_RE.match(markup):
        markup = f"<html><body>{markup}</body></html>"
    parser = lxml.html.HTMLParser(encoding="utf-8", huge_tree=True)
    try:
        root = lxml.html.document_fromstring(markup.encode("utf-8", "surrogatepass"), parser=parser)
    except lxml.etree.ParserError:
        return None, True  # "Document is empty": comments or processing instructions only
    complete = not any(error.level == lxml.etree.ErrorLevels.FATAL for error in parser.error_log)
    return root, complete


def _walk(root: lxml.html.HtmlElement, out: list[str]) -> None:
    """Visible text of ``root`` in document order, without recursion (trees nest 2,048 deep)."""
    stack: list[tuple[lxml.html.HtmlElement, bool]] = [(root, False)]
    while stack:
        element, closing = stack.pop()
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        block = tag in _BLOCK_TAGS
        if closing:
            if block:
                out.append("\n\n")
            if element.tail:
                out.append(element.tail)
            continue
        if not tag or tag in _SKIP_TAGS:
            if element.tail:
                out.append(element.tail)
            continue
        if block:
            out.append("\n\n")
        elif tag == "br":
            out.append("\n")
        if element.text:
            out.append(element.text)
        stack.append((element, True))
        stack.extend((child, False) for child in reversed(element))


class _FlatText(HTMLTokenizer):
    """Text of markup read as a flat run of tags, for what lxml could not build a tree of.

    Without a tree there is no nesting limit; only what is never visible
    (script, style, template) is left out, and block tags still separate
    paragraphs. Navigation and other chrome are kept: here, losing no text
    matters more than dropping noise.
    """

    _RAW = frozenset({"script", "style", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        if tag in self._RAW:
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self.out.append("\n\n")
        elif tag == "br":
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._RAW:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.out.append(data)


def flat_text(markup: str) -> str:
    """Visible text of ``markup`` read tag by tag, without building a tree (see ``_FlatText``)."""
    reader = _FlatText()
    reader.feed(markup)
    reader.close()
    return "".join(reader.out)


def html_text(markup: str) -> tuple[str, Counter[str]]:
    """Visible text of an HTML fragment or page, one blank line between blocks, and the repairs it took.

    Scripts, styles, navigation and media are dropped; ``<br>`` is a line
    break; block elements are paragraphs. Entities are decoded by the parser.
    Nothing is dropped silently: unstorable characters are replaced and
    counted (``prepare_markup``), control characters other than NUL are left
    for ftfy to remove and count, and markup nested deeper than lxml builds
    is read flat and counted (``html:flattened``).
    """
    if not markup.strip():
        return "", Counter()
    markup, repairs = prepare_markup(markup)
    root, complete = parse_markup(markup)
    if not complete:
        repairs[HTML_FLATTENED] += 1
        return flat_text(markup), repairs
    if root is None:
        return "", repairs
    body = root.find("body")
    out: list[str] = []
    if body is not None:
        _walk(body, out)
    return "".join(out), repairs


def html_to_text(markup: str) -> str:
    """``html_text`` without its repairs, for callers that do not record them (benchmarks, tests)."""
    return html_text(markup)[0]


# --------------------------------------------------------------------------
# ftfy behind a guard
# --------------------------------------------------------------------------


def ftfy_config(uncurl_quotes: bool = False) -> ftfy.TextFixerConfig:
    """The ftfy configuration newsbeam uses: ftfy's defaults, quotes kept curly."""
    return ftfy.TextFixerConfig(uncurl_quotes=uncurl_quotes, explain=True)


def _guard_pattern(uncurl_quotes: bool) -> re.Pattern[str]:
    """Characters that some ftfy fixer other than mojibake detection acts on.

    Built from ftfy's own tables so the guard follows ftfy when it changes.
    """
    chars: set[int] = set(chardata.CONTROL_CHARS) | set(chardata.LIGATURES) | set(chardata.WIDTH_MAP)
    chars |= {ord(c) for c in "&\x1b\r\u2028\u2029"} | set(range(0x80, 0xA0))
    singles = "".join(re.escape(chr(c)) for c in sorted(chars))
    quotes = "\u02bc\u2018-\u201f" if uncurl_quotes else ""
    return re.compile(f"[{singles}{quotes}\ud800-\udfff]")


_GUARDS = {False: _guard_pattern(False), True: _guard_pattern(True)}
# ftfy fixes text line by line, so its badness regex's "^" matches at the start
# of every line; searched over the whole text it must match there too.
_BAD_PER_LINE = re.compile(BADNESS_RE.pattern, BADNESS_RE.flags | re.MULTILINE)


def non_ascii_bound(pattern: re.Pattern[str]) -> Optional[int]:
    """The longest match of ``pattern`` if every match holds a non-ASCII character; None if not provably so.

    Read from the pattern's parse tree, so it follows ftfy when its badness
    regex changes. "Provably" is narrow on purpose: only literals, character
    sets, ``.``, alternations, groups, bounded repeats and ``^`` are
    understood; a lookaround, backreference, ``$`` or ``\\b`` (whose outcome
    depends on text outside the match) gives None.
    """
    from re import _constants as sre  # type: ignore[attr-defined]
    from re import _parser as parser  # type: ignore[attr-defined]

    def non_ascii_set(items: Iterable[tuple[Any, Any]]) -> bool:
        for op, value in items:
            if op is sre.LITERAL and value > 0x7F:
                continue
            if op is sre.RANGE and value[0] > 0x7F:
                continue
            return False  # an ASCII member, a category (\\s, \\w) or a negated set
        return True

    def least(items: Iterable[tuple[Any, Any]]) -> Optional[int]:
        """How many non-ASCII characters every match of this sequence holds, or None if unknown."""
        total = 0
        for op, value in items:
            if op is sre.LITERAL:
                total += value > 0x7F
            elif op is sre.IN:
                total += non_ascii_set(value)
            elif op in (sre.ANY, sre.NOT_LITERAL):
                pass
            elif op is sre.AT and value in (sre.AT_BEGINNING, sre.AT_BEGINNING_LINE, sre.AT_BEGINNING_STRING):
                pass
            elif op is sre.BRANCH:
                counts = [least(alternative) for alternative in value[1]]
                if any(c is None for c in counts):
                    return None
                total += min(c for c in counts if c is not None)
            elif op is sre.SUBPATTERN:
                inner = least(value[-1])
                if inner is None:
                    return None
                total += inner
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
                inner = least(value[2])
                if inner is None:
                    return None
                total += value[0] * inner
            else:
                return None
        return total

    if pattern.flags & re.IGNORECASE:
        return None  # "ſ" (U+017F) would match an ASCII "s"
    tree = parser.parse(pattern.pattern, pattern.flags)
    longest = tree.getwidth()[1]
    if longest >= sre.MAXREPEAT or not least(tree):
        return None
    return int(longest)


#: Every match of ftfy's badness regex holds a non-ASCII character and is at
#: most this long (7 characters in ftfy 6.3), or None if that cannot be shown.
_BAD_WIDTH = non_ascii_bound(_BAD_PER_LINE)
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def search_near_non_ascii(pattern: re.Pattern[str], width: Optional[int], text: str) -> bool:
    """Whether ``pattern`` matches anywhere in ``text``, searching only near its non-ASCII characters.

    ``width`` is what :func:`non_ascii_bound` says of ``pattern``: every match
    holds a non-ASCII character and is at most ``width`` long, so it lies
    within that distance of one, and only those windows need searching (None:
    the whole text is searched). ``pos`` and ``endpos`` keep the answer
    exact: ``^`` still sees the real line starts, and such a pattern looks at
    nothing outside the characters it matches.
    """
    if width is None:
        return pattern.search(text) is not None
    reach = width - 1
    start = end = -1
    for run in _NON_ASCII_RUN.finditer(text):
        low, high = run.start() - reach, run.end() + reach
        if end >= 0 and low <= end:
            end = high
            continue
        if end >= 0 and pattern.search(text, max(0, start), end):
            return True
        start, end = low, high
    return end >= 0 and pattern.search(text, max(0, start), end) is not None


def _looks_bad(text: str) -> bool:
    """Whether ftfy's badness regex matches anywhere in ``text`` (read line by line, as ftfy does).

    The regex tries some forty alternatives at every position, which on a
    long article was nine tenths of the guard's cost (1.6 ms of a 600-word
    article with curly quotes); searched only near the non-ASCII characters,
    with the same answer, it costs a tenth of that.
    """
    return search_near_non_ascii(_BAD_PER_LINE, _BAD_WIDTH, text)


def needs_ftfy(text: str, uncurl_quotes: bool = False) -> bool:
    """Whether ftfy could change ``text`` at all.

    ftfy's mojibake search starts by returning ASCII text, and text its
    ``is_bad`` regex finds nothing in, unchanged; its other fixers act only on
    the characters of the guard pattern; its last step is NFC. Text that passes
    all three checks is returned by ftfy as it came, so the full repair can be
    skipped. ``tests/test_text.py`` proves the equivalence.
    """
    if _GUARDS[uncurl_quotes].search(text):
        return True
    if not text.isascii() and _looks_bad(text):
        return True
    return not unicodedata.is_normalized("NFC", text)


def _step_kind(step: tuple[str, str]) -> Optional[str]:
    action, name = step
    if action == "encode":
        return f"mojibake:{name}"
    if action == "decode":
        return None  # the encode step already names the repair
    if action == "normalize":
        return "ftfy:normalize"
    return f"ftfy:{name}"


def fix_with_ftfy(text: str, uncurl_quotes: bool = False) -> tuple[str, Counter[str]]:
    """``ftfy.fix_text`` (line by line, as ftfy does it), with the repairs counted."""
    repairs: Counter[str] = Counter()
    if not needs_ftfy(text, uncurl_quotes):
        return text, repairs
    config = ftfy_config(uncurl_quotes)
    out: list[str] = []
    # Segmentation exactly as ftfy.fix_text does it: at "\n" only, at most
    # max_decode_length characters, and once a segment holds "<" entities
    # stay escaped for the rest of the text.
    pos = 0
    while pos < len(text):
        end = text.find("\n", pos) + 1 or len(text)
        end = min(end, pos + config.max_decode_length)
        segment = text[pos:end]
        pos = end
        if config.unescape_html == "auto" and "<" in segment:
            config = config._replace(unescape_html=False)
        if not needs_ftfy(segment, uncurl_quotes):
            # One "&" in a long article sends the whole text here; ftfy would
            # return every other line unchanged, and without a step.
            out.append(segment)
            continue
        fixed, steps = ftfy.fix_and_explain(segment, config)
        for step in steps or ():
            kind = _step_kind(step)
            if kind:
                repairs[kind] += 1
        out.append(fixed)
    return "".join(out), repairs


# --------------------------------------------------------------------------
# Lossy mojibake: UTF-8 lead byte kept, continuation bytes lost
# --------------------------------------------------------------------------

#: Languages whose orthography uses "â" as a letter. In these, an "â" at the
#: start of a lowercase word is a letter unless it demonstrably opens a quote.
A_CIRCUMFLEX_LANGUAGES = frozenset({"fr", "pt", "ro", "vi", "tr", "cy", "gl", "ku", "oc", "br", "wa", "fur", "sk"})
_LOST = "\u00e2"
_APOSTROPHE_SUFFIX_RE = re.compile(r"(?:s|t|re|ll|ve|d|m)(?![^\W\d_])")
_CLOSING_PUNCT = frozenset(".,;:!?)]…")


def _is_letter(ch: str) -> bool:
    return ch.isalpha()


def repair_lost_bytes(text: str, language: Optional[str] = None) -> tuple[str, Counter[str]]:
    """Mend "â" left behind when a UTF-8 quote, apostrophe or dash lost its tail.

    ``“`` is E2 80 9C in UTF-8; when the two continuation bytes are dropped on
    the way (a lossy cp1252 round trip), only E2, read as "â", remains. ftfy
    cannot help: the bytes it would re-decode are gone. The repair decides
    from position, the quotes already open in the paragraph and the article's
    language:

    - at the start of a word: an opening quote, or a closing one when a quote
      is open in the paragraph (``region, âhe said``);
    - after a word or punctuation and before a space, punctuation or the end:
      a closing quote;
    - between two spaces: a dash;
    - between a word and an English contraction ending (``Chinaâs``): ``’``.

    An "â" inside a word (``château``) is never touched. In languages that
    write "â" (``A_CIRCUMFLEX_LANGUAGES``, or an unknown language), a
    lowercase word-initial "â" (``âmbito``) counts as a quote only when a
    closing lost quote follows it in the same paragraph, and the apostrophe
    rule is off.
    """
    repairs: Counter[str] = Counter()
    if _LOST not in text:
        return text, repairs
    strict = language is None or language in A_CIRCUMFLEX_LANGUAGES
    paragraphs = text.split("\n")
    out = []
    for paragraph in paragraphs:
        if _LOST in paragraph:
            paragraph = _repair_paragraph(paragraph, strict, repairs)
        out.append(paragraph)
    return "\n".join(out), repairs


def _classify(paragraph: str, i: int, strict: bool) -> Optional[str]:
    """What the "â" at ``i`` may stand for: open/close quote, dash, apostrophe or None."""
    prev = paragraph[i - 1] if i > 0 else " "
    nxt = paragraph[i + 1] if i + 1 < len(paragraph) else " "
    # An elided article (l'âge, d'âme) keeps the "â" inside its word.
    if prev in "'\u2019" and i > 1 and _is_letter(paragraph[i - 2]):
        prev = paragraph[i - 2]
    prev_word = _is_letter(prev) or prev.isdigit()
    next_word = _is_letter(nxt) or nxt.isdigit()
    if prev_word and next_word:
        suffix = _APOSTROPHE_SUFFIX_RE.match(paragraph, i + 1)
        if not strict and suffix and _contraction_stem(paragraph, i, suffix.group()):
            return "apos"
        return None
    if next_word:
        return "initial-lower" if nxt.islower() else "initial"
    if prev.isspace() and nxt.isspace():
        return "dash"
    if prev_word or prev in _CLOSING_PUNCT or prev in "\u201d\u2019\"'":
        return "close"
    return None


def _contraction_stem(paragraph: str, i: int, suffix: str) -> bool:
    """Whether the word before ``i`` can carry the contraction ``suffix``.

    Vietnamese names are written with â before m, n, t (Lâm, Trâm, Nhâm), so a
    stray "â" there is most often the letter itself: "'m" is only taken after
    "I" (I'm), "n't" only after a stem ending in n (don't, isn't), and every
    other suffix needs a stem of two letters or more.
    """
    start = i
    while start > 0 and _is_letter(paragraph[start - 1]):
        start -= 1
    stem = paragraph[start:i]
    if suffix == "m":
        return stem in ("I", "i")
    if suffix == "t":
        return len(stem) >= 2 and stem[-1] in "nN"
    return len(stem) >= 2


def _after_punctuation(paragraph: str, i: int) -> bool:
    before = paragraph[:i].rstrip()
    return bool(before) and before[-1] in _CLOSING_PUNCT


_OPENERS = frozenset({"\u201c", "initial", "initial-lower"})
_CLOSERS = frozenset({"\u201d", "close"})


def _repair_paragraph(paragraph: str, strict: bool, repairs: Counter[str]) -> str:
    # Quote events in order: real curly quotes and the lost-byte candidates.
    events: list[tuple[int, str]] = []
    for i, ch in enumerate(paragraph):
        if ch in "\u201c\u201d":
            events.append((i, ch))
        elif ch == _LOST:
            kind = _classify(paragraph, i, strict)
            if kind:
                events.append((i, kind))
    chars = list(paragraph)
    quote_open = False
    for n, (i, kind) in enumerate(events):
        if kind == "\u201c":
            quote_open = True
            continue
        if kind == "\u201d":
            quote_open = False
            continue
        if kind == "initial-lower":
            # A lowercase word may simply start with "â" (âmbito, âge). It is
            # a closing quote misplaced after punctuation ("region, âhe
            # said") when a quote is open, and an opening quote when a quote
            # closes later, before anything opens again; otherwise a letter.
            if quote_open:
                if not _after_punctuation(paragraph, i):
                    continue
            else:
                following = next((k for _, k in events[n + 1 :] if k in _OPENERS or k in _CLOSERS), None)
                if following not in _CLOSERS:
                    continue
        if kind in ("initial", "initial-lower"):
            kind = "close" if quote_open else "open"
        if kind == "open":
            chars[i], quote_open = "\u201c", True
            repairs["lost_bytes:quote"] += 1
        elif kind == "close":
            chars[i], quote_open = "\u201d", False
            repairs["lost_bytes:quote"] += 1
        elif kind == "dash":
            chars[i] = "\u2013"
            repairs["lost_bytes:dash"] += 1
        elif kind == "apos":
            chars[i] = "\u2019"
            repairs["lost_bytes:apostrophe"] += 1
    return "".join(chars)


# --------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------

_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
#: Horizontal space other than the plain space: what ``normalise_text`` folds into one plain space.
_HSPACE_CHARS = "\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_INVISIBLE = dict.fromkeys(
    [c for c in range(0x20) if c not in (0x09, 0x0A)] + [0x7F, *range(0x80, 0xA0), 0x200B, 0x2060, 0xFEFF]
)
# ``str.translate`` looks every character up in ``_INVISIBLE``; a search for
# one of them first is a fraction of that cost on text that has none (nearly all).
_INVISIBLE_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_INVISIBLE)) + "]")
# Horizontal space to fold: a run of two or more, or one character that is
# not a plain space. A lone plain space, the space between two words, is left
# as it is instead of being replaced by itself.
_HSPACE_TO_FOLD_RE = re.compile(f"[ {_HSPACE_CHARS}]{{2,}}|[{_HSPACE_CHARS}]")


_NUMERIC_ENTITY_RE = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,6})|([0-9]{1,7}));")


def unescaped_invalid(text: str) -> int:
    """How many of the references ``normalise_text`` decodes become U+FFFD (``&#xD800;`` in plain text)."""
    if "&#" not in text:
        return 0
    return sum(1 for match in _NUMERIC_ENTITY_RE.finditer(text) if unstorable_code_point(char_ref_value(match)))


def normalise_text(text: str, unescape: bool = True) -> str:
    """NFC, entities decoded, controls dropped, spaces collapsed, paragraphs kept.

    Paragraphs end up separated by exactly one blank line. When the text has
    blank lines, those separate paragraphs and single line breaks inside a
    paragraph are wraps; when it has none, every line is a paragraph (the
    shape of scraped article dumps).
    """
    if unescape and "&" in text:
        # Only complete references: "&region=" in a URL is not "®ion=".
        text = _ENTITY_RE.sub(lambda m: html.unescape(m.group(0)), text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    # A form feed or vertical tab separates lines (a page break in a wire
    # story): dropped with the other controls, it would join two words.
    text = text.replace("\x0c", "\n").replace("\x0b", "\n")
    if _INVISIBLE_RE.search(text):
        text = text.translate(_INVISIBLE)
    text = unicodedata.normalize("NFC", text)
    # Horizontal space never spans a line break, so folding it over the whole
    # text is folding it line by line.
    lines = [line.strip() for line in _HSPACE_TO_FOLD_RE.sub(" ", text).split("\n")]
    if any(not line for line in _inner(lines)):
        paragraphs: list[str] = []
        current: list[str] = []
        for line in lines:
            if line:
                current.append(line)
            elif current:
                paragraphs.append(" ".join(current))
                current = []
        if current:
            paragraphs.append(" ".join(current))
    else:
        paragraphs = [line for line in lines if line]
    return "\n\n".join(paragraphs)


def normalise_line(text: Optional[str]) -> Optional[str]:
    """A one-line field (title, author): normalised and folded onto one line."""
    if text is None:
        return None
    folded = normalise_text(text).replace("\n\n", " ").replace("\n", " ")
    return folded or None


def _inner(lines: list[str]) -> Iterable[str]:
    """The lines between the first and last non-empty ones."""
    nonempty = [i for i, line in enumerate(lines) if line]
    if not nonempty:
        return []
    return lines[nonempty[0] : nonempty[-1] + 1]
