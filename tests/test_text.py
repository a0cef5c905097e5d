"""Unit tests for the pure text functions: decoding, HTML to text, ftfy behind its guard, lost-byte repair, normalisation.

The ftfy guard is *proved* here rather than trusted: ``fix_with_ftfy`` must return
exactly what ``ftfy.fix_text`` returns with newsbeam's configuration, on ftfy's
own kinds of damage generated programmatically, on arbitrary text (hypothesis),
and on every title and summary of the shared news-feed corpus, which is read at
test time and never copied into the repository.
"""

from __future__ import annotations

import codecs
import gzip
import re
import unicodedata
from collections import Counter
from pathlib import Path

import feedparser
import ftfy
import ftfy.bad_codecs  # noqa: F401  (registers the sloppy-windows-* codecs used below)
import pytest
from ftfy import chardata
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.text import (
    A_CIRCUMFLEX_LANGUAGES,
    charset_of,
    decode_bytes,
    fix_with_ftfy,
    flat_text,
    html_text,
    html_to_text,
    invalid_char_refs,
    looks_like_html,
    needs_ftfy,
    normalise_codec,
    normalise_line,
    normalise_text,
    parse_markup,
    repair_lost_bytes,
    sniff_declared_charset,
    storable,
    xml_wide_codec,
)

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_74ba0ad98bda6786.txt"
CORPUS = ROOT.parent / "shared" / "corpora" / "news_feeds"

# ==========================================================================
# decode_bytes
# ==========================================================================

SAMPLE = "Café “quoted” — naïve Ж ü 中文 🎉"
_BOMS = [codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE]


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
def test_decode_bom_wins_and_is_stripped(bom: bytes, codec: str) -> None:
    # A (wrong) declaration must not override the byte order mark.
    data = bom + SAMPLE.encode(codec)
    decoded = decode_bytes(data, declared="iso-8859-1")
    assert decoded.text == SAMPLE
    assert decoded.codec == codec
    assert decoded.path == "bom"
    assert not decoded.text.startswith("\ufeff")


def test_decode_utf32_le_bom_is_not_mistaken_for_utf16() -> None:
    # FF FE 00 00 starts with the UTF-16-LE BOM too: UTF-32 must be tried first.
    decoded = decode_bytes(codecs.BOM_UTF32_LE + "ab".encode("utf-32-le"))
    assert (decoded.text, decoded.codec) == ("ab", "utf-32-le")


def test_decode_python_utf16_output_with_bom() -> None:
    decoded = decode_bytes(SAMPLE.encode("utf-16"))  # native order, with BOM
    assert decoded.text == SAMPLE
    assert decoded.path == "bom"


def test_decode_declared_charset_from_xml_declaration() -> None:
    doc = '<?xml version="1.0" encoding="ISO-8859-1"?><rss><title>Café à la crème</title></rss>'
    decoded = decode_bytes(doc.encode("latin-1"))
    assert decoded.text == doc
    assert decoded.codec == "iso8859-1"
    assert decoded.path == "declared"
    assert decoded.declared == "ISO-8859-1"


def test_decode_declared_charset_from_meta_charset() -> None:
    doc = '<html><head><meta charset="koi8-r"><title>Новости</title></head><body>Привет, мир</body></html>'
    decoded = decode_bytes(doc.encode("koi8_r"))
    assert decoded.text == doc
    assert (decoded.codec, decoded.path, decoded.declared) == ("koi8-r", "declared", "koi8-r")


def test_decode_declared_charset_from_http_equiv_meta() -> None:
    doc = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
        "</head><body>Правительство объявило</body></html>"
    )
    decoded = decode_bytes(doc.encode("cp1251"))
    assert decoded.text == doc
    assert (decoded.codec, decoded.path, decoded.declared) == ("cp1251", "declared", "windows-1251")


def test_decode_transport_declaration_beats_document_declaration() -> None:
    doc = '<?xml version="1.0" encoding="iso-8859-5"?><r>Привет</r>'
    decoded = decode_bytes(doc.encode("koi8_r"), declared="koi8-r")
    assert decoded.text == doc
    assert (decoded.codec, decoded.path, decoded.declared) == ("koi8-r", "declared", "koi8-r")


@pytest.mark.parametrize("declaration", ["iso-8859-1", "ISO-8859-1", "latin1", "windows-1252", "cp1252", "us-ascii"])
def test_decode_latin1_family_declaration_on_utf8_is_overridden(declaration: str) -> None:
    doc = f'<?xml version="1.0" encoding="{declaration}"?><rss><title>Café “quoted” — Ж</title></rss>'
    decoded = decode_bytes(doc.encode("utf-8"))
    assert decoded.text == doc
    assert decoded.codec == "utf-8"
    assert decoded.path == "declared-overridden"
    assert decoded.declared == declaration


def test_decode_transport_latin1_declaration_on_utf8_is_overridden() -> None:
    decoded = decode_bytes("Привет мир — “hello”".encode(), declared="iso-8859-1")
    assert decoded.text == "Привет мир — “hello”"
    assert (decoded.codec, decoded.path) == ("utf-8", "declared-overridden")


def test_decode_latin1_declaration_on_ascii_stays_declared() -> None:
    decoded = decode_bytes(b"plain ascii", declared="iso-8859-1")
    assert decoded.text == "plain ascii"
    assert decoded.path == "declared"


def test_decode_real_cp1252_bytes_declared_cp1252() -> None:
    doc = '<?xml version="1.0" encoding="windows-1252"?><r>“Café” — 5 € … naïve ‘quote’</r>'
    data = doc.encode("cp1252")
    assert not _is_utf8(data)
    decoded = decode_bytes(data)
    assert decoded.text == doc
    assert (decoded.codec, decoded.path, decoded.declared) == ("cp1252", "declared", "windows-1252")


def test_decode_non_latin1_declaration_is_trusted_even_on_utf8_bytes() -> None:
    # Only Latin-1-family declarations are second-guessed.
    data = "Ђ".encode()  # D0 82: valid UTF-8, and two cp1251 letters
    decoded = decode_bytes(data, declared="windows-1251")
    assert decoded.text == data.decode("cp1251")
    assert decoded.path == "declared"


def test_decode_undecodable_declaration_falls_back_to_utf8() -> None:
    data = "日本語のニュース".encode()
    decoded = decode_bytes(data, declared="ascii-but-really-not")  # unknown codec name
    assert decoded.text == "日本語のニュース"
    assert (decoded.codec, decoded.path) == ("utf-8", "utf-8")


def test_decode_declared_codec_that_fails_falls_through() -> None:
    data = "Grüße".encode()
    decoded = decode_bytes(data, declared="us-ascii")  # ascii is Latin-1 family: overridden
    assert decoded.text == "Grüße"
    decoded = decode_bytes(data, declared="euc-kr")  # fails strictly on these bytes
    assert decoded.text == "Grüße"
    assert decoded.path == "utf-8"


def test_decode_plain_utf8() -> None:
    decoded = decode_bytes(SAMPLE.encode())
    assert (decoded.text, decoded.codec, decoded.path, decoded.declared) == (SAMPLE, "utf-8", "utf-8", None)


def test_decode_empty() -> None:
    decoded = decode_bytes(b"")
    assert decoded.text == ""
    assert decoded.path == "utf-8"


def test_decode_all_byte_values_falls_back_to_cp1252_without_losing_a_byte() -> None:
    data = bytes(range(256)) * 2
    decoded = decode_bytes(data)
    assert decoded.path == "cp1252-fallback"
    assert decoded.codec == "cp1252"
    assert len(decoded.text) == len(data)
    # The five bytes cp1252 leaves undefined are kept as their Latin-1 code points.
    assert decoded.text.encode("sloppy-windows-1252") == data
    for byte in (0x81, 0x8D, 0x8F, 0x90, 0x9D):
        assert chr(byte) in decoded.text


@pytest.mark.parametrize(
    "data",
    [
        "Déjà vu, naïve café, “quotes” and €uro signs everywhere in this longer sentence.".encode("cp1252"),
        b"abc \xff\xfe\x00 \x81",
        b"\x81\x8d\x8f\x90\x9d",
        b"\xff",
        b"\x80\x80\x80",
        "Правительство объявило о новых мерах".encode("cp1251"),
        "Zażółć gęślą jaźń".encode("cp1250"),
        "日本政府は水曜日、経済対策を発表した".encode("shift_jis"),
    ],
)
def test_decode_undeclared_non_utf8_is_detected_or_falls_back(data: bytes) -> None:
    assert not _is_utf8(data)
    decoded = decode_bytes(data)
    assert decoded.path in {"detected", "cp1252-fallback"}
    assert decoded.declared is None
    assert decoded.text
    assert "\ufffd" not in decoded.text  # decoded strictly: no byte silently replaced
    codec = "sloppy-windows-1252" if decoded.path == "cp1252-fallback" else decoded.codec
    codecs.lookup(codec)  # a real codec name is recorded


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_decode_never_raises_and_never_replaces(data: bytes) -> None:
    decoded = decode_bytes(data)
    assert decoded.path in {"bom", "declared", "utf-8", "declared-overridden", "detected", "cp1252-fallback"}
    assert (decoded.text == "") == (data == b"" or data in _BOMS)
    if decoded.path == "cp1252-fallback":
        assert decoded.text.encode("sloppy-windows-1252") == data
    # (ftfy's sloppy codec decodes the SUB control byte 0x1A as U+FFFD; it encodes back to 0x1A.)
    if decoded.path != "bom" and b"\xef\xbf\xbd" not in data and b"\x1a" not in data:
        assert "\ufffd" not in decoded.text


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_decode_undeclared_cp1252_prose_round_trips() -> None:
    # charset_normalizer alone picks cp1250/cp1257/cp775 for such prose ("trčs", "déją").
    texts = [
        "Ça va très bien, merci beaucoup à vous",
        "Le président a déclaré mercredi que la réforme des retraites serait adoptée « coûte que coûte », "
        "malgré l'opposition des syndicats et d'une majorité de Français.",
        "El Gobierno español aprobó el martes una reforma que modificará la legislación sobre vivienda, "
        "según informó el ministro de Economía en una rueda de prensa.",
        "Die Bundesregierung hat am Mittwoch beschlossen, die Förderung für Elektroautos früher zu beenden.",
        "Déjà vu, naïve café, “quotes” and €uro signs everywhere in this longer sentence.",
    ]
    decoded = [(text, decode_bytes(text.encode("cp1252"))) for text in texts]
    assert [(t, d.codec) for t, d in decoded if d.text != t] == []
    assert {d.path for _, d in decoded} <= {"detected", "cp1252-fallback"}


def test_decode_undeclared_cyrillic_is_detected() -> None:
    text = "Правительство объявило в среду о новых мерах поддержки экономики и малого бизнеса страны."
    decoded = decode_bytes(text.encode("cp1251"))
    assert decoded.path == "detected"
    assert decoded.text == text


def test_decode_bom_followed_by_invalid_bytes_loses_nothing() -> None:
    # A lying BOM: the bytes after it are not UTF-8; nothing may become U+FFFD silently.
    decoded = decode_bytes(codecs.BOM_UTF8 + "café".encode("cp1252"))
    assert "\ufffd" not in decoded.text
    assert decoded.text == "café"
    assert decoded.path != "bom"
    decoded = decode_bytes(codecs.BOM_UTF16_LE + b"a\x00b")  # odd length: truncated UTF-16
    assert "\ufffd" not in decoded.text


def test_decode_utf16_declaration_on_ascii_compatible_bytes_is_ignored() -> None:
    doc = '<?xml version="1.0" encoding="utf-16"?><rss>hi</rss>'
    assert len(doc) % 2 == 0  # even length: decodes "successfully" as UTF-16
    decoded = decode_bytes(doc.encode("utf-8"))
    assert decoded.text == doc
    assert decoded.codec == "utf-8"


def test_sniff_declared_charset() -> None:
    assert sniff_declared_charset(b'<?xml version="1.0" encoding="UTF-8"?><rss/>') == "UTF-8"
    assert sniff_declared_charset(b"\n  <?xml version='1.0' encoding='iso-8859-15'?>") == "iso-8859-15"
    assert sniff_declared_charset(b"<html><meta charset=utf-8></html>") == "utf-8"
    assert sniff_declared_charset(b"<html><META CHARSET='Shift_JIS'></html>") == "Shift_JIS"
    assert sniff_declared_charset(b"<html><head></head><body>no charset</body></html>") is None
    assert sniff_declared_charset(b"x" * 2100 + b'<meta charset="koi8-r">') is None  # only the first 2 KB


def test_normalise_codec() -> None:
    assert normalise_codec("ISO-8859-1") == "iso8859-1"
    assert normalise_codec(" 'UTF8' ") == "utf-8"
    assert normalise_codec("windows-1252") == "cp1252"
    assert normalise_codec("no-such-codec") is None
    assert normalise_codec("") is None
    assert normalise_codec(None) is None


# ==========================================================================
# html_to_text
# ==========================================================================


def test_html_paragraphs_become_blank_line_separated() -> None:
    text = html_to_text("<p>One</p><p>Two &amp; three</p><div>Four</div>")
    assert normalise_text(text) == "One\n\nTwo & three\n\nFour"
    assert "One\n\n" in text


def test_html_br_is_a_line_break() -> None:
    assert html_to_text("Line<br>break<br/>again").strip() == "Line\nbreak\nagain"


def test_html_script_style_and_chrome_are_dropped() -> None:
    markup = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<nav>Menu</nav><script>var secret = 1;</script><p>Body <b>bold</b> <a href='/x'>link</a>.</p>"
        "<noscript>enable js</noscript><footer>Footer</footer></body></html>"
    )
    assert normalise_text(html_to_text(markup)) == "Body bold link."


def test_html_script_tail_text_is_kept() -> None:
    assert normalise_text(html_to_text("<p>before<script>bad()</script> after</p>")) == "before after"


def test_html_entities_are_decoded() -> None:
    text = html_to_text("<p>A &eacute; &#233; &#x00e9; &amp; &lt;b&gt; &mdash; &hellip;</p>")
    assert text.strip() == "A é é é & <b> — …"


def test_html_nested_blocks_and_lists() -> None:
    text = html_to_text("<div><h1>Title</h1><ul><li>a</li><li>b</li></ul></div>tail")
    assert normalise_text(text) == "Title\n\na\n\nb\n\ntail"


@pytest.mark.parametrize("markup", ["", "   ", "<!-- only a comment -->"])
def test_html_empty_inputs(markup: str) -> None:
    assert html_to_text(markup).strip() == ""


def test_html_nul_is_dropped_not_replaced() -> None:
    assert html_to_text("<p>a\x00b</p>").strip() == "ab"


def test_html_plain_text_passes_through() -> None:
    assert html_to_text("plain text, no tags").strip() == "plain text, no tags"


def test_looks_like_html() -> None:
    assert looks_like_html("<p>x</p>")
    assert looks_like_html("A &amp; B")
    assert looks_like_html("x <br/> y")
    assert not looks_like_html("1 < 2 and 3 > 2")
    assert not looks_like_html("AT&T and R&D")


# ==========================================================================
# normalise_text / normalise_line
# ==========================================================================


def test_normalise_nfc() -> None:
    out = normalise_text("Cafe\u0301 n\u0303")
    assert out == "Café ñ"
    assert unicodedata.is_normalized("NFC", out)


def test_normalise_entities() -> None:
    assert normalise_text("A &amp; B &#8212; C &eacute;") == "A & B — C é"
    assert normalise_text("A &amp; B", unescape=False) == "A &amp; B"


def test_normalise_drops_control_and_invisible_characters() -> None:
    assert normalise_text("a\x00b\x07c\x7fd\x85e\u200bf\ufeffg\u2060h\x1bi") == "abcdefghi"


def test_normalise_collapses_runs_of_horizontal_space() -> None:
    assert normalise_text("a  \t b\u00a0\u00a0c\u3000d\u2009e\u202ff") == "a b c d e f"


def test_normalise_exactly_one_blank_line_between_paragraphs() -> None:
    assert normalise_text("\n\n  First  \n\n\n\n\nSecond\n \t \nThird\n\n") == "First\n\nSecond\n\nThird"


def test_normalise_joins_wrapped_lines_when_blank_lines_exist() -> None:
    text = "The first paragraph was\nwrapped by a mail client\nat 40 columns.\n\nThe second\none too."
    assert normalise_text(text) == (
        "The first paragraph was wrapped by a mail client at 40 columns.\n\nThe second one too."
    )


def test_normalise_every_line_is_a_paragraph_without_blank_lines() -> None:
    assert normalise_text("L1\nL2\nL3") == "L1\n\nL2\n\nL3"
    # Leading and trailing blank lines do not count as paragraph separators.
    assert normalise_text("\n\nL1\nL2\n\n") == "L1\n\nL2"


def test_normalise_line_endings() -> None:
    assert normalise_text("a\r\nb\r\n\r\nc") == "a b\n\nc"
    assert normalise_text("a\rb") == "a\n\nb"
    assert normalise_text("x\u2028y\u2029z") == "x y\n\nz"


def test_normalise_empty_and_blank() -> None:
    assert normalise_text("") == ""
    assert normalise_text(" \n\t\n ") == ""


def test_normalise_is_idempotent_on_seed() -> None:
    once = normalise_text(SEED.read_text(encoding="utf-8"))
    assert normalise_text(once) == once
    assert "\n\n\n" not in once
    assert once.count("\n\n") == len(SEED.read_text(encoding="utf-8").strip().split("\n")) - 1


def test_normalise_keeps_query_strings_in_plain_text() -> None:
    # html.unescape alone reads "&region" as "®ion" and "&copy" as "©" (HTML5 legacy entities).
    text = "See https://web.example/story?id=5&region=us&copy=1&para=2&not=3 for details."
    assert normalise_text(text) == text
    assert normalise_line("AT&T &amp; R&D &lt;b&gt; &#8212; &notin;") == "AT&T & R&D <b> — ∉"


def test_normalise_line() -> None:
    assert normalise_line(None) is None
    assert normalise_line("") is None
    assert normalise_line(" \n ") is None
    assert normalise_line("Title\n\nwith a second paragraph") == "Title with a second paragraph"
    assert normalise_line("Ti\ttle  with\nwrap") == "Ti tle with wrap"
    assert normalise_line("Caf\u0065\u0301 &amp; Bar\x00") == "Café & Bar"


# ==========================================================================
# ftfy behind the guard: the proof
# ==========================================================================

CONFIG = ftfy.TextFixerConfig(uncurl_quotes=False)
CONFIG_UNCURL = ftfy.TextFixerConfig(uncurl_quotes=True)

#: Clean text in many scripts, written for these tests.
CLEAN_SAMPLES = [
    "L’été dernier, le château a accueilli une fête où l’on a mangé des crêpes et bu du café.",
    "Die Straße war übermäßig voll; Jörg aß Spätzle und trank Glühwein am Köln-Ufer.",
    "El niño español comió en la montaña, ¿verdad? ¡Qué año tan extraño para el señor Muñoz!",
    "A informação não é pública: o órgão de comunicação ainda não a divulgou à população, disse João.",
    "Правительство объявило в среду о новых мерах поддержки экономики и малого бизнеса.",
    "Η κυβέρνηση ανακοίνωσε την Τετάρτη νέα μέτρα για την οικονομία και τις μικρές επιχειρήσεις.",
    "Zażółć gęślą jaźń — rząd ogłosił w środę nowe środki wsparcia dla gospodarki.",
    "Hükümet çarşamba günü ekonomiye yönelik yeni önlemler açıkladı; İstanbul’da ağır yağış bekleniyor.",
    "Chính phủ Việt Nam đã công bố các biện pháp mới để hỗ trợ nền kinh tế trong tuần này.",
    "中国国防部发言人周四表示，双方就两国两军关系深入交换了意见。",
    "中国共产党全国代表大会在北京召开，公元2021年，其内容与六个关键词有关。",
    "日本政府は水曜日、経済を支援するための新たな対策を発表した。",
    "한국 정부는 수요일 새로운 경제 대책을 발표했다.",
    "Příliš žluťoučký kůň úpěl ďábelské ódy; Árvíztűrő tükörfúrógép.",
    "Ştiri din România: preşedintele a vorbit în Bucureşti despre âmbito şi Târgu Mureş.",
    "أعلنت الحكومة يوم الأربعاء عن إجراءات جديدة لدعم الاقتصاد.",
    "सरकार ने बुधवार को अर्थव्यवस्था के लिए नए उपायों की घोषणा की।",
    "Great news 🎉🚀 for fans 👍🏽 — see you there! ❤️ 🇫🇷",
    "“It’s a ‘test’,” she said — and he replied: “Isn’t it?”",
    "Pages 10–20 — and more – with dashes ‒ and minus −5 °C.",
    "Wait… what? Well… maybe. ¡Olé!",
    "100\u00a0km, 5\u202f% and «\u00a0guillemets\u00a0» with NBSP.",
    "Prices: £5, €10, ¥300, ₹90, ₩1000, ©2024 ™ ® ° ± × ÷ ½ ¼ ⅓ µ §",
    "Åland, Ørsted and Æsir: Ångström units in Tromsø.",
    "ﬁnancial ﬂows",  # ligatures
    "ＬＯＵＤ　ＮＯＩＳＥＳ and ｶﾀｶﾅ",  # fullwidth and halfwidth
    "plain ASCII headline with numbers 1, 2, 3",
]

_ENCODINGS = list(chardata.CHARMAP_ENCODINGS)


def _mojibake(text: str, encoding: str) -> str | None:
    try:
        return text.encode("utf-8").decode(encoding)
    except UnicodeDecodeError:
        return None


def _generated_cases() -> list[tuple[str, str]]:
    """(label, text): ftfy's kinds of damage, made from the clean samples."""
    cases: list[tuple[str, str]] = []
    for n, clean in enumerate(CLEAN_SAMPLES):
        cases.append((f"clean-{n}", clean))
        cases.append((f"nfd-{n}", unicodedata.normalize("NFD", clean)))
        for encoding in _ENCODINGS:
            once = _mojibake(clean, encoding)
            if once is None:
                continue
            cases.append((f"{encoding}-{n}", once))
            twice = _mojibake(once, encoding)
            if twice is not None:
                cases.append((f"{encoding}-double-{n}", twice))
            # Mixed: a clean sentence and a damaged one on one line, and on two lines.
            cases.append((f"{encoding}-mixed-{n}", f"{clean} {once}"))
            cases.append((f"{encoding}-lines-{n}", f"{clean}\n{once}\r\n{clean}\n"))
        # Lossy cp1252 round trip: undefined bytes replaced, the case ftfy's replace_lossy_sequences handles.
        lossy = clean.encode("utf-8").decode("windows-1252", errors="replace")
        cases.append((f"lossy-{n}", lossy))
    cases += [
        ("entities", "Peru&rsquo;s Congress &amp; Jos&eacute; Jer&iacute; &ldquo;quoted&rdquo; &#8212; &#x2019;"),
        ("entities-with-tag", "<p>Tom &amp; Jerry</p>"),
        ("entities-broken", "AT&T, R&D, Q&A; &notanentity; &amp"),
        ("ligatures", "ﬁnancial ﬂows, ﬀ ﬃ ﬄ ﬅ ﬆ"),
        ("fullwidth", "ＬＯＵＤ　ＮＯＩＳＥＳ！ １２３"),
        ("c1-controls", "Smart \x93quotes\x94 and \x85 ellipsis \x96 dash"),
        ("c1-with-latin1", "caf\xe9 \x80 100"),
        ("crlf", "line one\r\nline two\r\n\r\nline three\r\n"),
        ("cr", "line one\rline two\r"),
        ("unicode-breaks", "one\u2028two\u2029three\x85four"),
        ("surrogates", "emoji \ud83d\ude00 and lone \ud800 surrogate"),
        ("ansi", "\x1b[31mred\x1b[0m and \x1b[1;32mbold green\x1b[m text"),
        ("controls", "a\x00b\x01c\x07d\x0be\x0cf\x7fg"),
        ("bom-inside", "text\ufeffwith BOM"),
        ("nbsp-mojibake", "voilÃ le travail, Ã\xa0 bientôt"),
        ("a0-lost", "The Mona Lisa doesnÃ¢â‚¬â„¢t have eyebrows."),
        ("utf8-in-cp1252-quote", "â€œmismatched quotesâ€\x9d and â€™"),
        ("sloppy-inconsistent", "Ã©lÃ¨ve — and real é in the same line"),
        ("empty", ""),
        ("only-newlines", "\n\n\n"),
        ("curly-apostrophe", "It’s Peter’s ‘book’ and ‛this′"),
        ("modifier-apostrophe", "Hawaiʻi and ʼokina"),
    ]
    return cases


GENERATED = _generated_cases()


def _ftfy_segments(text: str) -> list[str]:
    """The segments ftfy.fix_text works on: pieces ending in '\\n' (its max_decode_length is never reached here)."""
    return re.findall(r"[^\n]*\n|[^\n]+", text)


def _segmentation_matters(text: str) -> bool:
    """True when a line-by-line fixer could get ``text`` wrong: str.splitlines() would cut it elsewhere than
    ftfy's '\\n' split (NEL, \\x0b, \\x0c, \\x1c-\\x1e, U+2028/9, lone \\r), or a line with '<' precedes an
    entity (ftfy keeps unescape_html off for every line after the first line with '<')."""
    segments = _ftfy_segments(text)
    if text.splitlines(keepends=True) != segments:
        return True
    first_tag = next((i for i, s in enumerate(segments) if "<" in s), None)
    return first_tag is not None and any("&" in s for s in segments[first_tag + 1 :])


def test_generated_cases_are_many_and_exercise_ftfy() -> None:
    assert len(GENERATED) > 800
    # ftfy must actually change a good share of them, or they would prove nothing.
    changed = sum(ftfy.fix_text(text, CONFIG) != text for _, text in GENERATED)
    assert changed > 0.6 * len(GENERATED)
    # Segmentation is exercised too: Latin-1 mojibake of CJK text carries U+0085 (NEL).
    assert sum(_segmentation_matters(text) for _, text in GENERATED) >= 10


@pytest.mark.parametrize("uncurl", [False, True], ids=["curly", "uncurl"])
def test_fix_with_ftfy_equals_fix_text_on_generated_damage(uncurl: bool) -> None:
    config = CONFIG_UNCURL if uncurl else CONFIG
    mismatches = []
    for label, text in GENERATED:
        expected = ftfy.fix_text(text, config)
        fixed, repairs = fix_with_ftfy(text, uncurl)
        if fixed != expected:
            mismatches.append((label, text, expected, fixed))
        if fixed != text:
            assert needs_ftfy(text, uncurl), label
            assert sum(repairs.values()) > 0, label  # every change is counted
    assert mismatches == []


def test_fix_with_ftfy_repairs_latin1_mojibake_containing_nel() -> None:
    # 共 全 公 元 入 … are E5 85 xx in UTF-8: their Latin-1 mojibake holds U+0085, a line break for
    # str.splitlines() but not for ftfy; cutting there leaves the characters broken.
    for clean in ["中国共产党全国代表大会", "公元2021年", "⅓ cup"]:
        mojibake = clean.encode().decode("latin-1")
        assert "\x85" in mojibake
        assert ftfy.fix_text(mojibake, CONFIG) == clean
        assert fix_with_ftfy(mojibake)[0] == clean


def test_fix_with_ftfy_keeps_ftfys_sticky_unescape_decision() -> None:
    # ftfy.fix_text turns unescape_html off for the rest of the text once a line contains "<".
    text = "a < b\n&amp; c\n"
    assert ftfy.fix_text(text, CONFIG) == "a < b\n&amp; c\n"
    assert fix_with_ftfy(text)[0] == "a < b\n&amp; c\n"
    assert fix_with_ftfy("&amp; c\na < b\n")[0] == ftfy.fix_text("&amp; c\na < b\n", CONFIG) == "& c\na < b\n"


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("CafÃ©", "Café", "mojibake:latin-1"),
        ("â€œquotedâ€\x9d", "“quoted”", "mojibake:sloppy-windows-1252"),
        ("ﬁne", "fine", "ftfy:fix_latin_ligatures"),
        ("ＬＯＵＤ", "LOUD", "ftfy:fix_character_width"),
        ("a\r\nb", "a\nb", "ftfy:fix_line_breaks"),
        ("\ud83d\ude00", "😀", "ftfy:fix_surrogates"),
        ("\x1b[31mred\x1b[0m", "red", "ftfy:remove_terminal_escapes"),
        ("A &amp; B", "A & B", "ftfy:unescape_html"),
        ("a\x00b", "ab", "ftfy:remove_control_chars"),
        ("Cafe\u0301", "Café", "ftfy:normalize"),
    ],
)
def test_fix_with_ftfy_counts_repairs_by_kind(text: str, expected: str, kind: str) -> None:
    fixed, repairs = fix_with_ftfy(text)
    assert fixed == expected == ftfy.fix_text(text, CONFIG)
    assert repairs[kind] >= 1


def test_fix_with_ftfy_keeps_curly_quotes_unless_asked() -> None:
    text = "It’s “quoted”"
    assert needs_ftfy(text) is False
    assert fix_with_ftfy(text) == (text, Counter())
    assert needs_ftfy(text, uncurl_quotes=True) is True
    fixed, repairs = fix_with_ftfy(text, uncurl_quotes=True)
    assert fixed == 'It\'s "quoted"' == ftfy.fix_text(text, CONFIG_UNCURL)
    assert repairs == Counter({"ftfy:uncurl_quotes": 1})


@pytest.mark.parametrize("text", ["", "ascii only", "Café “ok” — naïve Ж 中文 🎉", "line\nbreaks\n\nkept"])
def test_guard_skips_clean_text(text: str) -> None:
    assert needs_ftfy(text) is False
    assert fix_with_ftfy(text) == (text, Counter())


# -- hypothesis: arbitrary text ------------------------------------------------

_INTERESTING = st.sampled_from(
    list("Ã©â€œ\x9d™ЖÂ\xa0 a<&;é“”’‘ﬁＡ\x1b\r\n\x00\x85\x0b\x1c\u2028\u2029\ud800ä¸å\u0301")
    + ["&amp;", "Ã©", "â€œ", "Ð¿", "\r\n", "å\x85¬", "<b>"]
)
_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(_INTERESTING, max_size=15).map("".join),
    st.tuples(st.text(max_size=30), st.sampled_from(_ENCODINGS)).map(lambda p: _mojibake(p[0], p[1]) or p[0]),
)
_HYPOTHESIS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_HYPOTHESIS
@given(_TEXT, st.booleans())
def test_guard_is_sound_on_arbitrary_text(text: str, uncurl: bool) -> None:
    """Whenever the guard says "skip", ftfy would indeed have returned the text unchanged."""
    if not needs_ftfy(text, uncurl):
        assert ftfy.fix_text(text, CONFIG_UNCURL if uncurl else CONFIG) == text


@_HYPOTHESIS
@given(_TEXT, st.booleans())
def test_fix_with_ftfy_equals_fix_text_on_arbitrary_text(text: str, uncurl: bool) -> None:
    assert fix_with_ftfy(text, uncurl)[0] == ftfy.fix_text(text, CONFIG_UNCURL if uncurl else CONFIG)


# -- the clean corpus ----------------------------------------------------------


def _corpus_texts() -> list[str]:
    texts: list[str] = []
    for path in sorted(CORPUS.glob("*")):
        if not path.is_file() or path.name.startswith((".", "_")):
            continue
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        for entry in feedparser.parse(data).entries:
            for key in ("title", "summary"):
                value = entry.get(key)
                if value:
                    texts.append(value)
    return texts


@pytest.fixture(scope="module")
def corpus_texts() -> list[str]:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    texts = _corpus_texts()
    assert len(texts) > 1000
    return texts


@pytest.mark.parametrize("uncurl", [False, True], ids=["curly", "uncurl"])
@pytest.mark.slow
def test_fix_with_ftfy_equals_fix_text_on_every_corpus_title_and_summary(corpus_texts: list[str], uncurl: bool) -> None:
    config = CONFIG_UNCURL if uncurl else CONFIG
    samples = corpus_texts + [html_to_text(t) for t in corpus_texts]
    mismatches = [t for t in samples if fix_with_ftfy(t, uncurl)[0] != ftfy.fix_text(t, config)]
    assert mismatches == []


@pytest.mark.slow
def test_guard_skips_most_clean_corpus_texts(corpus_texts: list[str]) -> None:
    skipped = sum(not needs_ftfy(t) for t in corpus_texts)
    assert skipped > 0.9 * len(corpus_texts), f"guard skipped only {skipped} of {len(corpus_texts)}"
    as_text = [html_to_text(t) for t in corpus_texts]
    assert sum(not needs_ftfy(t) for t in as_text) > 0.95 * len(as_text)
    # And whatever it lets through, ftfy would have left alone.
    for text in corpus_texts:
        if not needs_ftfy(text):
            assert ftfy.fix_text(text, CONFIG) == text


def test_fix_with_ftfy_equals_fix_text_on_seed() -> None:
    seed = SEED.read_text(encoding="utf-8")
    for uncurl, config in ((False, CONFIG), (True, CONFIG_UNCURL)):
        assert fix_with_ftfy(seed, uncurl)[0] == ftfy.fix_text(seed, config)
        for line in seed.splitlines():
            assert fix_with_ftfy(line, uncurl)[0] == ftfy.fix_text(line, config)


# ==========================================================================
# repair_lost_bytes
# ==========================================================================


@pytest.fixture(scope="module")
def repaired_seed() -> tuple[str, Counter[str]]:
    return repair_lost_bytes(SEED.read_text(encoding="utf-8"), "en")


def test_seed_has_lost_bytes_to_start_with() -> None:
    assert SEED.read_text(encoding="utf-8").count("â") == 10


def test_seed_lost_quotes_are_repaired(repaired_seed: tuple[str, Counter[str]]) -> None:
    text, repairs = repaired_seed
    assert "â" not in text
    assert repairs == Counter({"lost_bytes:quote": 10})
    for expected in [
        "“continued provocation and containment”",
        "“considerable difficulties and challenges”",
        "“China’s sovereignty",
        "violation,” Wu said",
        "“The two sides",
        "region, ”he said",
        "“China urges",
        "cooperation,” Wu said",
    ]:
        assert expected in text, expected


def test_seed_intact_text_is_unchanged(repaired_seed: tuple[str, Counter[str]]) -> None:
    text, _ = repaired_seed
    original = SEED.read_text(encoding="utf-8")
    assert "“exchanged in-depth views" in text
    assert text.count("People’s") == original.count("People’s") == 1
    assert len(text) == len(original)  # one character for one character
    # Only the lost-byte positions changed.
    changed = [(a, b) for a, b in zip(original, text, strict=True) if a != b]
    assert len(changed) == 10
    assert all(a == "â" and b in "“”" for a, b in changed)


LEGIT_WORDS = ["château", "âmbito", "l'âge", "l’âge", "pâte", "România", "Âge", "Târgu", "câine", "bâtiment"]
CONTEXTS = [
    "{}",
    "The {} was mentioned in the report.",
    "We visited the {} today, he said.",
    "She said the {} is great.",
    "“The {} is important,” the minister said.",
    "âThe {} is important,â the minister said.",
    "âWe agree,â she said. The {} was wide.",
    "He wrote that {} matters, â and moved on.",
]


@pytest.mark.parametrize("language", [None, "en", "fr", "pt"])
@pytest.mark.parametrize("word", LEGIT_WORDS)
def test_legitimate_a_circumflex_is_never_touched(word: str, language: str | None) -> None:
    for context in CONTEXTS:
        text = context.format(word)
        repaired, _ = repair_lost_bytes(text, language)
        assert word in repaired, (text, repaired)
        # And nothing else in a context without lost bytes.
        if "â" not in context:
            assert repaired == text


@pytest.mark.parametrize("language", [None, "en", "fr", "pt"])
def test_legitimate_words_in_own_language_text_are_untouched(language: str | None) -> None:
    for text in [
        "Le château de l'âge d'or, une pâte à tarte et un bâtiment âgé.",
        "No âmbito da lei, o órgão decidiu; România e Âge são palavras.",
        "Preşedintele României a vizitat Târgu Mureş; câinele a lătrat.",
    ]:
        assert repair_lost_bytes(text, language) == (text, Counter())


def test_no_lost_byte_no_work() -> None:
    text = "Nothing to see “here”."
    assert repair_lost_bytes(text, "en") == (text, Counter())


def test_apostrophe_repaired_in_english_only() -> None:
    text = "Chinaâs economy and the Peopleâs Republic"
    assert repair_lost_bytes(text, "en") == (
        "China’s economy and the People’s Republic",
        Counter({"lost_bytes:apostrophe": 2}),
    )
    for language in (None, "fr", "pt", *sorted(A_CIRCUMFLEX_LANGUAGES)):
        assert repair_lost_bytes(text, language) == (text, Counter()), language


def test_english_contractions() -> None:
    text = "Iâm sure itâs fine, weâre done, theyâll go, weâve seen, heâd say, donât"
    repaired, repairs = repair_lost_bytes(text, "en")
    assert repaired == "I’m sure it’s fine, we’re done, they’ll go, we’ve seen, he’d say, don’t"
    assert repairs == Counter({"lost_bytes:apostrophe": 7})


@pytest.mark.parametrize("language", [None, "en", "fr", "pt", "de"])
def test_dash_between_spaces(language: str | None) -> None:
    text = "Pages 10 â 20 â and more"
    assert repair_lost_bytes(text, language) == ("Pages 10 – 20 – and more", Counter({"lost_bytes:dash": 2}))


def test_counts_per_kind_in_one_text() -> None:
    text = "âChinaâs view,â Wu said â calmly.\nâThe second paragraph is quoted.â"
    repaired, repairs = repair_lost_bytes(text, "en")
    assert repaired == "“China’s view,” Wu said – calmly.\n“The second paragraph is quoted.”"
    assert repairs == Counter({"lost_bytes:quote": 4, "lost_bytes:apostrophe": 1, "lost_bytes:dash": 1})


@pytest.mark.parametrize("language", [None, "en", "fr"])
def test_quotes_around_lowercase_word_with_closing_quote(language: str | None) -> None:
    repaired, repairs = repair_lost_bytes("He said âhelloâ twice.", language)
    assert repaired == "He said “hello” twice."
    assert repairs == Counter({"lost_bytes:quote": 2})


def test_paragraphs_are_independent() -> None:
    # An open quote in one paragraph does not turn the next paragraph's â into a closer.
    text = "He said âfirst\nâSecond paragraph,â she said."
    repaired, _ = repair_lost_bytes(text, "en")
    assert repaired.split("\n")[1] == "“Second paragraph,” she said."


def test_vietnamese_names_in_english_text_are_untouched() -> None:
    # "Lâm" and "Tâm" end in "âm" like "Iâm": one letter before the â is a name, not a contraction.
    text = "Officials in Lâm Đồng province met Nguyễn Văn Tâm on Tuesday."
    assert repair_lost_bytes(text, "en") == (text, Counter())


def test_vietnamese_names_with_two_letter_stems_in_english_text_are_untouched() -> None:
    text = "Singer Huyền Trâm visited Khâm Thiên street and Thâm Quyến in the year Nhâm Dần."
    assert repair_lost_bytes(text, "en") == (text, Counter())


# ==========================================================================
# Storable text, and HTML that loses nothing without saying so
# ==========================================================================


@pytest.mark.parametrize(
    ("text", "expected", "count"),
    [
        ("plain", "plain", 0),
        ("a\ud800b", "a\ufffdb", 1),
        ("\udfff", "\ufffd", 1),
        ("x\ud83d\ude00y", "x\U0001f600y", 0),  # a pair given as two code points is one character
        ("\ud800\ud800", "\ufffd\ufffd", 2),
        ("already \ufffd here \ud800", "already \ufffd here \ufffd", 1),
    ],
)
def test_storable_replaces_lone_surrogates_and_counts_them(text: str, expected: str, count: int) -> None:
    fixed, replaced = storable(text)
    assert (fixed, replaced) == (expected, count)
    fixed.encode("utf-8")


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_storable_always_gives_utf8_and_keeps_storable_text(text: str) -> None:
    fixed, replaced = storable(text)
    fixed.encode("utf-8")
    if replaced == 0 and not any("\ud800" <= c <= "\udfff" for c in text):
        assert fixed is text


def test_invalid_char_refs_counts_only_unstorable_code_points() -> None:
    markup = "&#xD800; &#0; &#x110000; &#99999999999; &#233; &#x1F600; &amp;#xD800; &#xdfff"
    assert invalid_char_refs(markup) == 5


@pytest.mark.parametrize(
    ("markup", "text", "repairs"),
    [
        ("a\x00b", "ab", {"control_chars": 1}),
        ("<p>x &#xD800; y</p>", "x \ufffd y", {"invalid_unicode:char_ref": 1}),
        ("<p>lone \ud800 here</p>", "lone \ufffd here", {"invalid_unicode:surrogate": 1}),
        ("<p>bell\x07 kept for ftfy</p>", "bell\x07 kept for ftfy", {}),
        ("<p>fine</p>", "fine", {}),
    ],
)
def test_html_text_counts_what_it_replaces(markup: str, text: str, repairs: dict[str, int]) -> None:
    out, found = html_text(markup)
    assert out.strip() == text and dict(found) == repairs


def test_html_text_reads_markup_past_the_depth_limit_flat_and_says_so() -> None:
    markup = "<p>Start.</p>" + "<section>" * 2500 + "<script>hidden()</script>Bottom." + "</section>" * 2500
    text, repairs = html_text(markup)
    assert normalise_text(text) == "Start.\n\nBottom." and repairs == Counter({"html:flattened": 1})
    _, complete = parse_markup(markup)
    assert not complete


def test_html_within_the_depth_limit_is_read_as_a_tree() -> None:
    markup = "<div>" * 2000 + "<nav>menu</nav>Deep." + "</div>" * 2000
    text, repairs = html_text(markup)
    assert normalise_text(text) == "Deep." and repairs == Counter()


def test_flat_text_keeps_text_and_drops_scripts() -> None:
    assert normalise_text(flat_text("<p>One</p><script>x < y</script><style>p{}</style><p>Two &amp; three</p>")) == (
        "One\n\nTwo & three"
    )


@pytest.mark.parametrize("declaration", ['<?xml version="1.0" encoding="iso-8859-1"?>', '<?xml version="1.0"?>\n'])
def test_html_text_of_a_page_with_an_xml_declaration(declaration: str) -> None:
    page = f'{declaration}<html xmlns="http://www.w3.org/1999/xhtml"><body><p>Grüße aus Köln</p></body></html>'
    assert normalise_text(html_to_text(page)) == "Grüße aus Köln"


def test_normalise_text_keeps_a_form_feed_as_a_line_break() -> None:
    assert normalise_text("end of page one.\x0cStart of page two.") == "end of page one.\n\nStart of page two."


def test_fix_with_ftfy_sees_a_line_start_as_ftfy_does() -> None:
    """ftfy fixes line by line: "Â " opening the second line is mojibake to it, so the guard must not skip it."""
    text = "Line one.\nÂ second"
    assert needs_ftfy(text)
    assert fix_with_ftfy(text)[0] == ftfy.fix_text(text, CONFIG)


# ==========================================================================
# BOM-less UTF-16 and UTF-32 markup (XML 1.0 appendix F)
# ==========================================================================


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize(
    "start", ['<?xml version="1.0"?><rss/>', "<rss version='2.0'/>", "\n  <feed/>", "<!DOCTYPE html><html/>"]
)
def test_xml_wide_codec_reads_the_zero_bytes_around_the_first_tag(codec: str, start: str) -> None:
    data = (start + " Grüße").encode(codec)
    assert xml_wide_codec(data) == codec
    decoded = decode_bytes(data)
    assert (decoded.text, decoded.codec, decoded.path) == (start + " Grüße", codec, "xml-autodetect")


@pytest.mark.parametrize(
    "data",
    [
        b"<?xml version='1.0'?><rss/>",
        "plain text".encode("utf-16-le"),
        b"\x00\x00\x00\x00<rss>",
        b"\x00\x01\x02<",
        b"<a",
    ],
)
def test_xml_wide_codec_needs_markup_in_zero_padded_ascii(data: bytes) -> None:
    assert xml_wide_codec(data) is None


def test_wide_xml_cut_mid_character_is_still_read() -> None:
    data = '<?xml version="1.0" encoding="UTF-16"?><rss>Grüße</rss>'.encode("utf-16-le")[:-1]
    decoded = decode_bytes(data)
    assert decoded.codec == "utf-16-le" and decoded.path == "xml-autodetect-lossy"
    assert decoded.text.startswith('<?xml version="1.0" encoding="UTF-16"?><rss>Grüße</rss')


def test_charset_of_reads_the_declared_charset_of_a_content_type() -> None:
    assert charset_of('text/html; charset="UTF-8"') == "utf-8"
    assert charset_of("application/rss+xml;charset=windows-1252; q=1") == "windows-1252"
    assert charset_of("text/html") is None and charset_of(None) is None and charset_of("text/html; charset=") is None
