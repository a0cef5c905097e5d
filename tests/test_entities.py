"""Unit tests for the model-free parts of ``transforms.entities``: chunks, mention trimming, linking, countries.

No spaCy model is loaded here: the linker is fed hand-made ``Mention`` lists
(what the model would give), so each rule of ``EntityLinker.link`` is checked
on its own. The Beam transform and the model are in test_entities_transform.py.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Optional

import pycountry
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import Entity
from transforms.entities import (
    DATA_FILE,
    DEFAULT_MODEL,
    NAME_LABELS,
    EntityLinker,
    Mention,
    chunk_spans,
    clean_mentions,
    trim_mention,
    truncate_at_break,
)


@pytest.fixture(scope="module")
def linker() -> EntityLinker:
    return EntityLinker.from_file()


def mentions(*items: tuple[str, str]) -> list[Mention]:
    """Mentions in the order given, laid out one after another (the linker never reads the text)."""
    out, position = [], 0
    for text, label in items:
        out.append(Mention(text, label, position, position + len(text)))
        position += len(text) + 1
    return out


def linked(linker: EntityLinker, *items: tuple[str, str]) -> list[tuple[str, str, str]]:
    return [(e.text, e.label, e.canonical) for e in linker.link(mentions(*items))]


def canonical(linker: EntityLinker, text: str, *items: tuple[str, str]) -> tuple[str, str]:
    """The (label, canonical) the linker gives the first mention whose text is ``text``."""
    found = [(e.label, e.canonical) for e in linker.link(mentions(*items)) if e.text == text]
    assert found, f"{text!r} was dropped"
    return found[0]


def trimmed(text: str) -> Optional[str]:
    span = trim_mention(text, 0, len(text))
    return None if span is None else text[span[0] : span[1]]


# ==========================================================================
# chunk_spans
# ==========================================================================


def assert_cover(text: str, spans: list[tuple[int, int]], max_chars: int) -> None:
    assert "".join(text[s:e] for s, e in spans) == text
    position = 0
    for start, end in spans:
        assert start == position, spans
        assert 0 < end - start <= max_chars, (start, end)
        position = end
    assert position == len(text)


_CHUNK_ALPHABET = st.sampled_from(["a", "b", "É", "中", " ", "\n", "\n\n", ". ", ", ", "; ", "? ", "Joe Biden ", "\t"])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_CHUNK_ALPHABET, max_size=200), max_chars=st.integers(min_value=1, max_value=60))
def test_chunk_spans_cover_text_in_order_within_limit(parts: list[str], max_chars: int) -> None:
    text = "".join(parts)
    assert_cover(text, chunk_spans(text, max_chars), max_chars)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=400), max_chars=st.integers(min_value=1, max_value=120))
def test_chunk_spans_cover_any_unicode_text(text: str, max_chars: int) -> None:
    assert_cover(text, chunk_spans(text, max_chars), max_chars)


def test_chunk_spans_short_and_empty_text() -> None:
    assert chunk_spans("") == []
    assert chunk_spans("Joe Biden.", 100) == [(0, 10)]
    assert chunk_spans("x" * 100, 100) == [(0, 100)]


def test_chunk_spans_default_limit_is_10000() -> None:
    text = ("Wu Qian said so. " * 2000).strip()
    spans = chunk_spans(text)
    assert_cover(text, spans, 10_000)
    assert len(spans) == 4
    # Sentence ends, never mid-word: every piece but the last ends after ". ".
    assert all(text[s:e].endswith(". ") for s, e in spans[:-1])


def test_chunk_spans_prefer_paragraph_break_over_later_sentence_end() -> None:
    text = "a" * 60 + "\n\n" + "b" * 20 + ". " + "c" * 10 + " " + "d" * 50
    spans = chunk_spans(text, 100)
    assert spans[0] == (0, 62)  # after the paragraph break, though ". " and " " come later
    assert text[spans[0][0] : spans[0][1]].endswith("\n\n")
    assert_cover(text, spans, 100)


def test_chunk_spans_order_of_preference() -> None:
    # No paragraph break: a line break; none: a sentence end; none: a comma; none: a space.
    assert chunk_spans("a" * 50 + "\n" + "b" * 20 + ". " + "c" * 40, 100)[0] == (0, 51)
    assert chunk_spans("a" * 50 + ". " + "b" * 20 + ", " + "c" * 40, 100)[0] == (0, 52)
    assert chunk_spans("a" * 50 + ", " + "b" * 20 + " " + "c" * 40, 100)[0] == (0, 52)
    assert chunk_spans("a" * 50 + " " + "b" * 60, 100)[0] == (0, 51)


def test_chunk_spans_ignore_a_break_in_the_first_quarter() -> None:
    # A paragraph break 10 characters in would make a tiny piece: the later space is used instead.
    text = "a" * 10 + "\n\n" + "b" * 70 + " " + "c" * 40
    assert chunk_spans(text, 100)[0] == (0, 83)


def test_chunk_spans_text_without_spaces_is_cut_at_the_limit() -> None:
    text = "x" * 25_000
    assert chunk_spans(text, 10_000) == [(0, 10_000), (10_000, 20_000), (20_000, 25_000)]
    cjk = "中国国防部发言人吴谦" * 30
    assert_cover(cjk, chunk_spans(cjk, 7), 7)


# ==========================================================================
# trim_mention
# ==========================================================================


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("“Joe Biden”", "Joe Biden"),
        ("‘Biden’", "Biden"),
        ("«Macron»", "Macron"),
        ('"Wu Qian"', "Wu Qian"),
        ("(NATO)", "NATO"),
        ("  Beijing , ", "Beijing"),
        ("the United States", "United States"),
        ("The White House", "White House"),
        ("THE Pentagon", "Pentagon"),
        ("“the Pentagon’s", "Pentagon"),
        ("Biden’s", "Biden"),
        ("Biden's", "Biden"),
        ("the People’s Liberation Army’s", "People’s Liberation Army"),
        ("Paris'", "Paris"),
        ("China.", "China"),
        ("ABC News.", "ABC News"),
        ("U.S.", "U.S."),
        ("the U.S.", "U.S."),
        ("U.K.", "U.K."),
        ("Washington, D.C.", "Washington, D.C."),
        ("Apple Inc.", "Apple Inc."),
        ("Boeing Co.", "Boeing Co."),
        ("Martin Luther King Jr.", "Martin Luther King Jr."),
        ("âChina", "China"),
        ("âThe", "The"),
        ("violation,â", "violation"),
        ("Theresa May", "Theresa May"),  # "The" only as a word of its own
        ("Thessaloniki", "Thessaloniki"),
        ("People’s Republic of China", "People’s Republic of China"),  # an inner possessive stays
    ],
)
def test_trim_mention(text: str, expected: str) -> None:
    assert trimmed(text) == expected


@pytest.mark.parametrize("text", ["“ ”", "...", "—", "$", "(—)", "", "  ", "«»", "12"])
def test_trim_mention_returns_none_without_letters(text: str) -> None:
    assert trim_mention(text, 0, len(text)) is None


def test_trim_mention_offsets_are_into_the_whole_text() -> None:
    text = "He met “Joe Biden’s” aide."
    start = text.index("“")
    end = text.index("”") + 1
    span = trim_mention(text, start, end)
    assert span is not None and text[span[0] : span[1]] == "Joe Biden"
    assert trim_mention("  Biden  ", 0, 9) == (2, 7)


def test_trim_mention_leaves_a_lone_the() -> None:
    # Nothing but the determiner: kept rather than emptied (it still has letters).
    assert trimmed("the") == "the"


_TRIM_ALPHABET = st.sampled_from(list("aBZ.’'s\"“”«»â-,() \nJrtheTHE") + ["the ", "Jr.", "U.S.", "’s"])


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(_TRIM_ALPHABET, max_size=15))
def test_trim_mention_is_a_sub_span_with_letters_and_idempotent(parts: list[str]) -> None:
    text = "".join(parts)
    span = trim_mention(text, 0, len(text))
    if span is None:
        return
    start, end = span
    assert 0 <= start < end <= len(text)
    assert any(c.isalpha() for c in text[start:end])
    assert trim_mention(text, start, end) == span


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Martin Luther King Jr.'s", "Martin Luther King Jr."),
        ("Apple Inc.’s", "Apple Inc."),
        ("Savannah Guthrie ’s", "Savannah Guthrie"),
    ],
)
def test_trim_mention_drops_possessive_after_abbreviation_or_space(text: str, expected: str) -> None:
    assert trimmed(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("âJoe Bidenâ", "Joe Biden"), ("Washingtonâ", "Washington"), ("âParisâ", "Paris")],
)
def test_trim_mention_drops_stray_trailing_a_circumflex(text: str, expected: str) -> None:
    assert trimmed(text) == expected


@pytest.mark.parametrize("name", ["McDonald's", "Moody's", "Sotheby’s"])
def test_trim_mention_keeps_brand_names_ending_in_apostrophe_s(name: str) -> None:
    text = f"{name} said profits rose."
    keep = EntityLinker.from_file().possessive_names
    assert [m.text for m in clean_mentions(text, [Mention(name, "ORG", 0, len(name))], keep)] == [name]
    assert [m.text for m in clean_mentions(text, [Mention(name, "ORG", 0, len(name))])] == [name[:-2]]


# ==========================================================================
# clean_mentions
# ==========================================================================


def at(text: str, sub: str, label: str, occurrence: int = 0) -> Mention:
    """The mention of the ``occurrence``-th ``sub`` in ``text``."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(sub, start + 1)
    return Mention(sub, label, start, start + len(sub))


def test_clean_mentions_drops_numeric_labels_and_keeps_names() -> None:
    text = "On Tuesday two officials paid $5 for 3% of the first 10 km at 9 am, said Joe Biden."
    raw = [
        at(text, "Tuesday", "DATE"),
        at(text, "two", "CARDINAL"),
        at(text, "$5", "MONEY"),
        at(text, "3%", "PERCENT"),
        at(text, "first", "ORDINAL"),
        at(text, "10 km", "QUANTITY"),
        at(text, "9 am", "TIME"),
        at(text, "Joe Biden", "PERSON"),
    ]
    assert clean_mentions(text, raw) == [at(text, "Joe Biden", "PERSON")]


@pytest.mark.parametrize("label", sorted(NAME_LABELS))
def test_clean_mentions_keeps_every_name_label(label: str) -> None:
    text = "Zanzibar"
    assert clean_mentions(text, [Mention(text, label, 0, len(text))]) == [Mention(text, label, 0, len(text))]


def test_clean_mentions_trims_sorts_and_dedups_spans() -> None:
    text = "“Biden” met the U.S. envoy in Beijing; Biden left."
    raw = [
        at(text, "Biden", "PERSON", 1),
        at(text, "Beijing", "GPE"),
        at(text, "the U.S.", "GPE"),
        at(text, "“Biden”", "PERSON"),
        at(text, "U.S.", "GPE"),  # the same span once trimmed: dropped
        at(text, "Biden", "ORG", 0),  # the same span again, another label: the wider raw span sorts first and wins
        Mention("“", "PERSON", 0, 1),  # nothing left: dropped
    ]
    cleaned = clean_mentions(text, raw)
    assert cleaned == [
        at(text, "Biden", "PERSON", 0),
        at(text, "U.S.", "GPE"),
        at(text, "Beijing", "GPE"),
        at(text, "Biden", "PERSON", 1),
    ]
    for m in cleaned:
        assert text[m.start : m.end] == m.text


def test_clean_mentions_empty() -> None:
    assert clean_mentions("", []) == []
    assert clean_mentions("no names here", []) == []


# ==========================================================================
# EntityLinker.link
# ==========================================================================


def test_surname_links_to_full_name(linker: EntityLinker) -> None:
    assert linked(linker, ("Joe Biden", "PERSON"), ("Biden", "PERSON")) == [
        ("Joe Biden", "PERSON", "Joe Biden"),
        ("Biden", "PERSON", "Joe Biden"),
    ]
    # The short form may come first.
    assert canonical(linker, "Biden", ("Biden", "PERSON"), ("Joe Biden", "PERSON")) == ("PERSON", "Joe Biden")


def test_surname_first_name_links_by_its_first_word(linker: EntityLinker) -> None:
    assert canonical(linker, "Wu", ("Wu Qian", "PERSON"), ("Wu", "PERSON")) == ("PERSON", "Wu Qian")
    assert canonical(linker, "Huang", ("Huang Xueping", "PERSON"), ("Huang", "PERSON")) == ("PERSON", "Huang Xueping")


def test_single_word_org_takes_the_persons_label(linker: EntityLinker) -> None:
    entities = linker.link(mentions(("Michael Chase", "PERSON"), ("Chase", "ORG")))
    assert [(e.label, e.canonical) for e in entities] == [("PERSON", "Michael Chase"), ("PERSON", "Michael Chase")]
    summary = linker.summarise(entities)
    assert summary["people"] == ["Michael Chase"] and summary["organizations"] == []


def test_acronym_links_to_standalone_name(linker: EntityLinker) -> None:
    assert linked(linker, ("People’s Liberation Army", "ORG"), ("PLA", "ORG")) == [
        ("People’s Liberation Army", "ORG", "People's Liberation Army"),
        ("PLA", "ORG", "People's Liberation Army"),
    ]


def test_acronym_links_to_a_run_at_the_start_of_a_longer_name(linker: EntityLinker) -> None:
    long_name = "People’s Liberation Army Office for International Military Cooperation"
    assert canonical(linker, "PLA", (long_name, "ORG"), ("PLA", "ORG")) == ("ORG", "People's Liberation Army")
    # Both the standalone name and the longer one: still the one expansion.
    assert canonical(linker, "PLA", (long_name, "ORG"), ("People’s Liberation Army", "ORG"), ("PLA", "ORG")) == (
        "ORG",
        "People's Liberation Army",
    )


def test_mixed_case_acronym_with_function_word(linker: EntityLinker) -> None:
    assert canonical(linker, "DoD", ("Department of Defense", "ORG"), ("DoD", "ORG")) == (
        "ORG",
        "Department of Defense",
    )


def test_acronym_without_expansion_stays(linker: EntityLinker) -> None:
    assert canonical(linker, "PLA", ("Communist Party", "ORG"), ("PLA", "ORG")) == ("ORG", "PLA")


def test_acronym_never_expands_to_a_person(linker: EntityLinker) -> None:
    assert canonical(linker, "JB", ("Joe Biden", "PERSON"), ("JB", "ORG")) == ("ORG", "JB")


@pytest.mark.parametrize(
    ("word", "longer"),
    [("Army", "People’s Liberation Army"), ("Party", "Communist Party"), ("Navy", "Royal Navy")],
)
def test_generic_word_never_links_into_a_longer_name(linker: EntityLinker, word: str, longer: str) -> None:
    assert canonical(linker, word, (longer, "ORG"), (word, "ORG")) == ("ORG", word)


def test_generic_word_never_links_even_to_a_person(linker: EntityLinker) -> None:
    assert canonical(linker, "Army", ("Army Smith", "PERSON"), ("Army", "ORG")) == ("ORG", "Army")


@pytest.mark.parametrize(("word", "longer"), [("Air Force", "Pakistan Air Force"), ("Coast Guard", "U.S. Coast Guard")])
def test_multi_word_generic_never_links_into_a_longer_name(linker: EntityLinker, word: str, longer: str) -> None:
    assert canonical(linker, word, (longer, "ORG"), (word, "ORG")) == ("ORG", word)


def test_multi_word_short_form_links_within_its_label(linker: EntityLinker) -> None:
    assert canonical(linker, "Joint Chiefs", ("Joint Chiefs of Staff", "ORG"), ("Joint Chiefs", "ORG")) == (
        "ORG",
        "Joint Chiefs of Staff",
    )
    # Another label: no link.
    assert canonical(linker, "Joint Chiefs", ("Joint Chiefs of Staff", "ORG"), ("Joint Chiefs", "NORP")) == (
        "NORP",
        "Joint Chiefs",
    )


def test_place_is_not_linked_to_a_person(linker: EntityLinker) -> None:
    assert canonical(linker, "Washington", ("George Washington", "PERSON"), ("Washington", "GPE")) == (
        "GPE",
        "Washington",
    )


def test_ambiguous_surname_is_not_linked(linker: EntityLinker) -> None:
    items = (("John Smith", "PERSON"), ("Jane Smith", "PERSON"), ("Smith", "PERSON"))
    assert canonical(linker, "Smith", *items) == ("PERSON", "Smith")


def test_lowercase_word_is_not_linked(linker: EntityLinker) -> None:
    assert canonical(linker, "biden", ("Joe Biden", "PERSON"), ("biden", "PERSON")) == ("PERSON", "biden")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("U.S.", "United States"),
        ("US", "United States"),
        ("USA", "United States"),
        ("America", "United States"),
        ("PRC", "China"),
        ("People’s Republic of China", "China"),
        ("UK", "United Kingdom"),
        ("Britain", "United Kingdom"),
        ("Great  Britain", "United Kingdom"),  # whitespace collapsed before the lookup
        ("UN", "United Nations"),
        ("Burma", "Myanmar"),
    ],
)
def test_alias_table(linker: EntityLinker, text: str, expected: str) -> None:
    assert canonical(linker, text, (text, "GPE")) == ("GPE", expected)


def test_alias_beats_acronym_expansion(linker: EntityLinker) -> None:
    # "US" could spell "United Steelworkers"; the alias table has the last word.
    assert canonical(linker, "US", ("United Steelworkers", "ORG"), ("US", "GPE")) == ("GPE", "United States")


def test_curly_apostrophes_are_plain_in_canonical_only(linker: EntityLinker) -> None:
    entities = linker.link(mentions(("People’s Liberation Army", "ORG"), ("Xi’an", "GPE")))
    assert [(e.text, e.canonical) for e in entities] == [
        ("People’s Liberation Army", "People's Liberation Army"),
        ("Xi’an", "Xi'an"),
    ]
    assert linker.canonical_of("‘Ndrangheta") == "'Ndrangheta"


def test_hyphenated_pair_of_people_is_dropped(linker: EntityLinker) -> None:
    for label in ("FAC", "ORG", "GPE"):
        assert linked(linker, ("Joe Biden", "PERSON"), ("Biden-Harris", label)) == [
            ("Joe Biden", "PERSON", "Joe Biden")
        ]
    # Without a person of that name it is kept.
    assert linked(
        linker,
        ("Biden-Harris", "ORG"),
    ) == [("Biden-Harris", "ORG", "Biden-Harris")]


def test_hyphenated_place_sharing_a_first_name_is_kept(linker: EntityLinker) -> None:
    # Seen with the real model on "Prime Minister Winston Churchill never visited Winston-Salem, North Carolina."
    entities = linked(linker, ("Winston Churchill", "PERSON"), ("Winston-Salem", "GPE"), ("North Carolina", "GPE"))
    assert ("Winston-Salem", "GPE", "Winston-Salem") in entities


def test_link_keeps_offsets_and_order(linker: EntityLinker) -> None:
    raw = mentions(("Joe Biden", "PERSON"), ("China", "GPE"), ("Biden", "PERSON"))
    entities = linker.link(raw)
    assert [(int(e.start), int(e.end)) for e in entities] == [(m.start, m.end) for m in raw]
    assert all(isinstance(e, Entity) for e in entities)


def test_link_empty(linker: EntityLinker) -> None:
    assert linker.link([]) == []
    assert linker.summarise([]) == {"people": [], "organizations": [], "locations": [], "countries": []}


# ==========================================================================
# EntityLinker.summarise and countries
# ==========================================================================


def test_summarise_sorted_deduplicated_columns(linker: EntityLinker) -> None:
    entities = linker.link(
        mentions(
            ("Wu Qian", "PERSON"),
            ("Joe Biden", "PERSON"),
            ("Biden", "PERSON"),
            ("Pentagon", "ORG"),
            ("Department of Defense", "ORG"),
            ("DoD", "ORG"),
            ("U.S.", "GPE"),
            ("United States", "GPE"),
            ("America", "GPE"),
            ("PRC", "GPE"),
            ("Beijing", "GPE"),
            ("South China Sea", "LOC"),
            ("Great Wall", "FAC"),
            ("Chinese", "NORP"),
            ("Britain", "GPE"),
            ("Taiwan", "GPE"),
            ("Australia", "GPE"),
        )
    )
    assert linker.summarise(entities) == {
        "people": ["Joe Biden", "Wu Qian"],
        "organizations": ["Department of Defense", "Pentagon"],
        "locations": [
            "Australia",
            "Beijing",
            "China",
            "Great Wall",
            "South China Sea",
            "Taiwan",
            "United Kingdom",
            "United States",
        ],
        "countries": ["AU", "CN", "GB", "TW", "US"],
    }


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("United States", "US"),
        ("China", "CN"),
        ("United Kingdom", "GB"),
        ("England", "GB"),
        ("Taiwan", "TW"),
        ("Australia", "AU"),
        ("Italy", "IT"),
        ("Canada", "CA"),
        ("Russia", "RU"),
        ("Iran", "IR"),
        ("South Korea", "KR"),
        ("North Korea", "KP"),
        ("Viet Nam", "VN"),
        ("Vietnam", "VN"),
        ("Gaza", "PS"),
        ("Cote d’Ivoire", "CI"),
        ("united  states", "US"),
    ],
)
def test_country_of(linker: EntityLinker, name: str, code: str) -> None:
    assert linker.country_of(name) == code


@pytest.mark.parametrize("name", ["IT", "CA", "IN", "US", "GB", "Korea", "Congo", "Washington", "Europe", "Beijing"])
def test_country_of_codes_and_ambiguous_names_are_none(linker: EntityLinker, name: str) -> None:
    assert linker.country_of(name) is None


def test_summarise_codes_as_mentions_are_not_countries(linker: EntityLinker) -> None:
    entities = linker.link(mentions(("IT", "GPE"), ("CA", "GPE"), ("Korea", "GPE"), ("Italy", "GPE")))
    summary = linker.summarise(entities)
    assert summary["locations"] == ["CA", "IT", "Italy", "Korea"]
    assert summary["countries"] == ["IT"]


def test_summarise_countries_only_from_places(linker: EntityLinker) -> None:
    # A country named as an ORG ("China said") or a nationality is not a place mention.
    entities = linker.link(mentions(("China", "ORG"), ("Chinese", "NORP"), ("Jordan", "PERSON")))
    assert linker.summarise(entities)["countries"] == []


# ==========================================================================
# The data file
# ==========================================================================


@pytest.fixture(scope="module")
def data() -> dict:
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))


def _model_ner_labels() -> set[str]:
    """The NER labels of the installed model, read from its meta.json (the model is not loaded)."""
    spec = importlib.util.find_spec(DEFAULT_MODEL)
    assert spec is not None and spec.submodule_search_locations, f"{DEFAULT_MODEL} is not installed"
    meta = json.loads((Path(next(iter(spec.submodule_search_locations))) / "meta.json").read_text(encoding="utf-8"))
    return set(meta["labels"]["ner"])


def test_data_file_shape(data: dict) -> None:
    assert set(data) - {"_about"} == {"ruler", "canonical", "countries", "generic", "possessive_names"}
    names = data["possessive_names"]
    assert names and all(isinstance(n, str) and n.replace("’", "'").endswith("'s") for n in names)
    assert isinstance(data["ruler"], list) and data["ruler"]
    assert isinstance(data["canonical"], dict) and data["canonical"]
    assert isinstance(data["countries"], dict) and data["countries"]
    assert isinstance(data["generic"], list) and data["generic"]
    assert all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in data["canonical"].items())
    assert all(isinstance(w, str) and w[:1].isupper() for w in data["generic"])
    assert len(data["generic"]) == len(set(data["generic"]))


def test_ruler_patterns_use_model_name_labels(data: dict) -> None:
    model_labels = _model_ner_labels()
    assert NAME_LABELS <= model_labels
    for pattern in data["ruler"]:
        assert set(pattern) == {"label", "pattern"}, pattern
        assert pattern["label"] in model_labels, pattern
        assert pattern["label"] in NAME_LABELS, f"{pattern}: a label clean_mentions would drop"
        assert isinstance(pattern["pattern"], str) and pattern["pattern"].strip() == pattern["pattern"]


def test_country_codes_are_iso_alpha2(data: dict) -> None:
    known = {c.alpha_2 for c in pycountry.countries} | {"XK"}  # Kosovo: user-assigned, widely used
    for name, code in data["countries"].items():
        assert code in known, (name, code)


def test_country_entries_agree_with_pycountry(data: dict) -> None:
    by_name = {}
    for country in pycountry.countries:
        for attribute in ("name", "common_name", "official_name"):
            value = getattr(country, attribute, None)
            if value:
                by_name[value.lower()] = country.alpha_2
    for name, code in data["countries"].items():
        if name.lower() in by_name:
            assert by_name[name.lower()] == code, (name, code)


def test_every_aliased_place_has_a_country(data: dict, linker: EntityLinker) -> None:
    supranational = {"European Union", "United Nations"}
    for alias, target in data["canonical"].items():
        if target in supranational:
            continue
        assert linker.country_of(target), f"{alias} → {target}: no country code"
        assert linker.country_of(linker.canonical_of(alias)) == linker.country_of(target)


def test_chunk_spans_refuses_a_zero_limit() -> None:
    with pytest.raises(ValueError):
        chunk_spans("some text", 0)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Short text.", 100, "Short text."),
        ("First paragraph here.\n\nSecond paragraph about Canberra.", 40, "First paragraph here.\n\n"),
        ("Leaders met in Canberra today", 20, "Leaders met in "),
        ("x" * 50, 20, "x" * 20),  # no break at all: cut at the limit
    ],
)
def test_truncate_at_break_never_cuts_a_word(text: str, limit: int, expected: str) -> None:
    assert truncate_at_break(text, limit) == expected


@pytest.mark.parametrize("token", ["n’t", "can’t", "isn't", "lol"])
def test_clean_mentions_drops_lowercase_model_noise(token: str) -> None:
    text = f"They {token} go to Paris."
    start = text.index(token)
    found = clean_mentions(
        text,
        [
            Mention(token, "GPE", start, start + len(token)),
            Mention("Paris", "GPE", text.index("Paris"), text.index("Paris") + 5),
        ],
    )
    assert [m.text for m in found] == ["Paris"]


def test_clean_mentions_keeps_uncased_scripts_and_inner_capitals() -> None:
    text = "北京 and eBay"
    found = clean_mentions(text, [Mention("北京", "GPE", 0, 2), Mention("eBay", "ORG", 7, 11)])
    assert [m.text for m in found] == ["北京", "eBay"]
