"""Unit tests for the pure metadata functions: dates, datelines, bylines, subtitles, word counts, language."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Optional

import pytest

from transforms.metadata import (
    LanguageIdentifier,
    ParsedDate,
    clean_author,
    extract_byline,
    is_subtitle,
    parse_byline,
    parse_date,
    parse_dateline,
    split_authors,
    word_count,
)

SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_74ba0ad98bda6786.txt"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc, arg-type]


# ==========================================================================
# parse_date
# ==========================================================================


@pytest.mark.parametrize(
    ("raw", "moment", "offset"),
    [
        # RFC 822 / 1123
        ("Wed, 02 Oct 2002 13:00:00 GMT", utc(2002, 10, 2, 13, 0), 0),
        ("Wed, 02 Oct 2002 13:00:00 UT", utc(2002, 10, 2, 13, 0), 0),
        ("Wed, 02 Oct 2002 13:00:00 UTC", utc(2002, 10, 2, 13, 0), 0),
        ("Wed, 02 Oct 2002 13:00:00 Z", utc(2002, 10, 2, 13, 0), 0),
        ("Wed, 02 Oct 2002 15:00:00 +0200", utc(2002, 10, 2, 13, 0), 120),
        ("Wed, 02 Oct 2002 08:00:00 -0500", utc(2002, 10, 2, 13, 0), -300),
        ("Wed, 02 Oct 2002 13:00:00 +0000", utc(2002, 10, 2, 13, 0), 0),
        ("Wed, 02 Oct 2002 18:30:00 +0530", utc(2002, 10, 2, 13, 0), 330),
        ("Wed, 02 Oct 2002 18:30:00 +05:30", utc(2002, 10, 2, 13, 0), 330),
        ("2 Oct 2002 08:30:00 -0430", utc(2002, 10, 2, 13, 0), -270),
        ("Wed, 02 Oct 2002 08:00:00 EST", utc(2002, 10, 2, 13, 0), -300),
        ("Wed, 02 Oct 2002 09:00:00 EDT", utc(2002, 10, 2, 13, 0), -240),
        ("Wed, 02 Oct 2002 05:00:00 PST", utc(2002, 10, 2, 13, 0), -480),
        ("Wed, 02 Oct 2002 06:00:00 PDT", utc(2002, 10, 2, 13, 0), -420),
        ("Wed, 02 Oct 2002 07:00:00 CST", utc(2002, 10, 2, 13, 0), -360),
        ("Wed, 02 Oct 2002 22:00:00 JST", utc(2002, 10, 2, 13, 0), 540),
        ("Wed, 02 Oct 2002 18:30:00 IST", utc(2002, 10, 2, 13, 0), 330),
        ("Wed, 02 Oct 2002 13:00 GMT", utc(2002, 10, 2, 13, 0), 0),  # no seconds
        ("Wed, 02 Oct 02 13:00:00 GMT", utc(2002, 10, 2, 13, 0), 0),  # two-digit year
        ("Sat, 02 Oct 99 13:00:00 GMT", utc(1999, 10, 2, 13, 0), 0),
        ("Sun, 02 Oct 49 13:00:00 GMT", utc(2049, 10, 2, 13, 0), 0),
        ("Mon, 02 Oct 50 13:00:00 GMT", utc(1950, 10, 2, 13, 0), 0),
        ("02 Oct 2002 13:00:00 GMT", utc(2002, 10, 2, 13, 0), 0),  # no weekday
        ("wed, 02 oct 2002 13:00:00 gmt", utc(2002, 10, 2, 13, 0), 0),  # any case
        ("Wednesday, 02 October 2002 13:00:00 GMT", utc(2002, 10, 2, 13, 0), 0),
        ("Tue, 10 Sept 2002 13:00:00 GMT", utc(2002, 9, 10, 13, 0), 0),
        ("Wed, 02 Oct 2002 13:00:00 +0000 (UTC)", utc(2002, 10, 2, 13, 0), 0),
        ("  Wed, 02 Oct 2002 13:00:00 GMT  ", utc(2002, 10, 2, 13, 0), 0),
        ("Thu, 29 Feb 2024 00:00:00 GMT", utc(2024, 2, 29), 0),  # leap day
        ("Thu, 01 Jan 1970 00:00:00 +0000", utc(1970, 1, 1), 0),
        ("Wed, 02 Oct 2002 00:30:00 +0100", utc(2002, 10, 1, 23, 30), 60),  # offset crosses midnight
        # W3CDTF / ISO 8601, every precision
        ("2003", utc(2003, 1, 1), None),
        ("2003-12", utc(2003, 12, 1), None),
        ("2003-12-13", utc(2003, 12, 13), None),
        ("2003-12-13T18:30Z", utc(2003, 12, 13, 18, 30), 0),
        ("2003-12-13T18:30:02Z", utc(2003, 12, 13, 18, 30, 2), 0),
        ("2003-12-13T18:30:02.25Z", utc(2003, 12, 13, 18, 30, 2, 250000), 0),
        ("2003-12-13T18:30:02.25+01:00", utc(2003, 12, 13, 17, 30, 2, 250000), 60),
        ("2003-12-13T18:30:02,5+01:00", utc(2003, 12, 13, 17, 30, 2, 500000), 60),
        ("2003-12-13T18:30:02.123456789-05:00", utc(2003, 12, 13, 23, 30, 2, 123456), -300),
        ("2003-12-13T18:30:02.000001Z", utc(2003, 12, 13, 18, 30, 2, 1), 0),
        ("2003-12-13T18:30:02+05:30", utc(2003, 12, 13, 13, 0, 2), 330),
        ("2003-12-13T18:30:02-03:30", utc(2003, 12, 13, 22, 0, 2), -210),
        ("2003-12-13T18:30:02+0100", utc(2003, 12, 13, 17, 30, 2), 60),
        ("2003-12-13T18:30:02+01", utc(2003, 12, 13, 17, 30, 2), 60),
        ("2003-12-13T18:30:02-00:00", utc(2003, 12, 13, 18, 30, 2), 0),
        ("2003-12-13T18:30:02", utc(2003, 12, 13, 18, 30, 2), None),
        ("2003-12-13 18:30:02", utc(2003, 12, 13, 18, 30, 2), None),
        ("2003-12-13 18:30:02 EST", utc(2003, 12, 13, 23, 30, 2), -300),
        ("20031213T183002Z", utc(2003, 12, 13, 18, 30, 2), 0),
        ("20031213T183002+0100", utc(2003, 12, 13, 17, 30, 2), 60),
        ("20031213", utc(2003, 12, 13), None),
        ("2024-02-29T12:00:00Z", utc(2024, 2, 29, 12), 0),
        # US style
        ("January 2, 2006 3:04 PM", utc(2006, 1, 2, 15, 4), None),
        ("January 2, 2006 12:30 am", utc(2006, 1, 2, 0, 30), None),
        ("January 2, 2006 12:30 p.m.", utc(2006, 1, 2, 12, 30), None),
        ("Mon, January 2 2006 15:04 EST", utc(2006, 1, 2, 20, 4), -300),
        ("Jan. 2, 2006", utc(2006, 1, 2), None),
    ],
)
def test_parse_date_valid(raw: str, moment: datetime, offset: Optional[int]) -> None:
    parsed = parse_date(raw)
    assert parsed == ParsedDate(moment, offset)
    assert parsed is not None and parsed.utc.tzinfo is UTC


@pytest.mark.parametrize(
    "raw",
    [
        "2013-xx-27",  # feedparser would guess a date here
        "2021-02-30",
        "2023-02-29",  # not a leap year
        "2003-13-01",
        "2003-00-10",
        "2003-12-32",
        "Wed, 31 Jun 2021 00:00:00 GMT",
        "Thu, 29 Feb 2023 00:00:00 GMT",
        "Wed, 02 Oct 2002 25:00:00 GMT",
        "2021-01-01T25:00:00Z",
        "2003-12-13T18:60:00Z",
        "2003-12-13T18:30:61Z",
        "Wed, 02 Oct 2002 13:00:00 XYZ",  # unknown zone
        "Wed, 02 Oct 2002 13:00:00 MSK",
        "2003-12-13T18:30:02 FOO",
        "2003-12-13T18:30:02+19:00",  # offset out of range
        "Wed, 02 Foo 2002 13:00:00 GMT",  # unknown month
        "January 2, 2006 13:30 pm",
        "January 2, 2006 0:30 am",
        "garbage",
        "yesterday",
        "12/25/2021",
        "2021-W05-3",
        "",
        "   ",
        None,
        "2003-12-13T18:30:02Z" + " " * 80,  # absurdly long
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    ],
)
def test_parse_date_invalid_is_none(raw: Optional[str]) -> None:
    assert parse_date(raw) is None


def test_parse_date_offset_none_only_when_unstated() -> None:
    assert parse_date("2003-12-13T18:30:02").offset_minutes is None  # type: ignore[union-attr]
    assert parse_date("2003-12-13T18:30:02Z").offset_minutes == 0  # type: ignore[union-attr]
    assert parse_date("2003-12-13T18:30:02+00:00").offset_minutes == 0  # type: ignore[union-attr]
    assert parse_date("Wed, 02 Oct 2002 13:00:00 GMT").offset_minutes == 0  # type: ignore[union-attr]


def test_parse_date_same_moment_in_every_form() -> None:
    forms = [
        "Wed, 02 Oct 2002 13:00:00 GMT",
        "Wed, 02 Oct 2002 09:00:00 EDT",
        "Wed, 02 Oct 2002 15:00:00 +0200",
        "2002-10-02T13:00:00Z",
        "2002-10-02T18:30:00+05:30",
        "20021002T130000Z",
        "October 2, 2002 1:00 PM",
    ]
    assert {parse_date(f).utc for f in forms} == {utc(2002, 10, 2, 13)}  # type: ignore[union-attr]


@pytest.mark.parametrize("raw", ["2003-12-13t18:30:02z", "2003-12-13T18:30:02z", "2003-12-13t18:30:02Z"])
def test_parse_date_accepts_lowercase_rfc3339_separators(raw: str) -> None:
    parsed = parse_date(raw)
    assert parsed is not None and parsed.utc == utc(2003, 12, 13, 18, 30, 2) and parsed.offset_minutes == 0


@pytest.mark.parametrize("raw", ["Wed, 02 Oct 2002 13:00:00 +0260", "2003-12-13T18:30:02+01:75"])
def test_parse_date_rejects_offset_minutes_over_59(raw: str) -> None:
    assert parse_date(raw) is None


# ==========================================================================
# parse_dateline
# ==========================================================================


@pytest.mark.parametrize(
    ("body", "dateline", "rest"),
    [
        ("BEIJING – Defense officials met.", "BEIJING", "Defense officials met."),
        ("BEIJING — Defense officials met.", "BEIJING", "Defense officials met."),
        ("WASHINGTON (AP) — The Senate voted.", "WASHINGTON (AP)", "The Senate voted."),
        ("NEW YORK, Nov. 5 (Reuters) - Stocks rose.", "NEW YORK, Nov. 5 (Reuters)", "Stocks rose."),
        ("NEW YORK, Nov 5 (Reuters) - Stocks rose.", "NEW YORK, Nov 5 (Reuters)", "Stocks rose."),
        ("SAN JUAN, Puerto Rico -- A storm hit.", "SAN JUAN, Puerto Rico", "A storm hit."),
        ("KYIV, Ukraine (AP) — Drones struck.", "KYIV, Ukraine (AP)", "Drones struck."),
        ("ST. LOUIS (AP) — A river rose.", "ST. LOUIS (AP)", "A river rose."),
        ("RIO DE JANEIRO — Carnival began.", "RIO DE JANEIRO", "Carnival began."),
        ("PORT-AU-PRINCE, Haiti — Gangs retreated.", "PORT-AU-PRINCE, Haiti", "Gangs retreated."),
        ("LONDON - Prices fell.\n\nSecond paragraph.", "LONDON", "Prices fell.\n\nSecond paragraph."),
        ("NEW DELHI—The government fell.", "NEW DELHI", "The government fell."),  # dash set closed up
        ("BERLIN—“We will not yield,” she said.", "BERLIN", "“We will not yield,” she said."),
        ("NEW DELHI: The monsoon arrived.", "NEW DELHI", "The monsoon arrived."),
        ("MUMBAI, Nov 5 (PTI): Markets rose.", "MUMBAI, Nov 5 (PTI)", "Markets rose."),
    ],
)
def test_parse_dateline(body: str, dateline: str, rest: str) -> None:
    assert parse_dateline(body) == (dateline, rest)


@pytest.mark.parametrize(
    "body",
    [
        "The vote – held on Tuesday – passed easily.",
        "Officials said – without evidence – that it worked.",
        "beijing – officials met.",
        "Beijing – officials met on Tuesday.",
        "In Washington — and elsewhere — people waited.",
        "A – b",
        "I – think so",
        "COVID-19 - cases rose again",
        "Plain sentence without a dash.",
        "LONDON -Prices fell.",  # no space after the dash
        "U.S.—China talks resumed.",  # closed-up dash after a short abbreviation
        "UPDATE: The story has changed.",  # a label, not a place
        "BREAKING NEWS: Markets fell.",
        "EDITOR’S NOTE: This story was updated.",
        "WASHINGTON—",  # nothing follows
        "PARIS:the lowercase rest",
        "",
    ],
)
def test_parse_dateline_negatives(body: str) -> None:
    assert parse_dateline(body) == (None, body)


def test_parse_dateline_seed() -> None:
    third = SEED.read_text(encoding="utf-8").split("\n")[2]
    dateline, rest = parse_dateline(third)
    assert dateline == "BEIJING"
    assert rest.startswith("Defense officials from China")


# ==========================================================================
# bylines and authors
# ==========================================================================


@pytest.mark.parametrize(
    ("line", "names"),
    [
        ("By Jane Doe", ["Jane Doe"]),
        ("by Jane Doe", ["Jane Doe"]),
        ("BY JANE DOE", ["JANE DOE"]),
        ("By: Jane Doe", ["Jane Doe"]),
        ("By Jane Doe and John Roe", ["Jane Doe", "John Roe"]),
        ("By Jane Doe & John Roe", ["Jane Doe", "John Roe"]),
        ("By Jane Doe, John Roe and Mary Major", ["Jane Doe", "John Roe", "Mary Major"]),
        ("By Jane Doe | Reuters", ["Jane Doe"]),
        ("By Jane Doe — Staff Writer", ["Jane Doe"]),
        ("By Ludwig van Beethoven", ["Ludwig van Beethoven"]),
        ("By Mary-Kate O’Neil", ["Mary-Kate O’Neil"]),
        ("By J. R. R. Tolkien", ["J. R. R. Tolkien"]),
    ],
)
def test_parse_byline(line: str, names: list[str]) -> None:
    assert parse_byline(line) == names


@pytest.mark.parametrize(
    "line",
    [
        "Jane Doe",
        "",
        "by jane doe",
        "Bylines are great",
        "By the way, this is a sentence.",
        "By Tuesday, the vote had been counted and the results announced.",
        "By The Way",
        "By Law, every citizen must vote.",
        "By " + "Jane Doe and " * 30 + "John Roe",  # far too long to be a byline
    ],
)
def test_parse_byline_negatives(line: str) -> None:
    assert parse_byline(line) == []


def test_extract_byline_removes_the_paragraph() -> None:
    text = "Dek line\n\nBy Jane Doe and John Roe\n\nBody text."
    assert extract_byline(text) == (["Jane Doe", "John Roe"], "Dek line\n\nBody text.")


def test_extract_byline_only_in_first_three_paragraphs() -> None:
    text = "A.\n\nB.\n\nC.\n\nBy Jane Doe"
    assert extract_byline(text) == ([], text)
    assert extract_byline("By Jane Doe\n\nBody.") == (["Jane Doe"], "Body.")


def test_extract_byline_none() -> None:
    assert extract_byline("No byline here.") == ([], "No byline here.")
    assert extract_byline("") == ([], "")


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("jdoe@example.com (Jane Doe)", "Jane Doe"),
        ("  jdoe@example.com  ( Jane Doe ) ", "Jane Doe"),
        ("By Jane Doe", "Jane Doe"),
        ("by: Jane Doe", "Jane Doe"),
        ("  Jane Doe ,", "Jane Doe"),
        ("Jane Doe;", "Jane Doe"),
        ("jdoe@example.com", None),
        ("", None),
        ("   ", None),
        (" , ", None),
        ("desk@example.it (per segnalazioni sul contenuto del servizio)", None),  # a remark, not a name
        ("Special to The New York Times", None),
        ("For The Washington Post", None),
        ("Staff Reports", None),
        ("Staffan Lindberg", "Staffan Lindberg"),
        ("Wire services", None),
        ("Associated Press", "Associated Press"),
    ],
)
def test_clean_author(raw: str, name: Optional[str]) -> None:
    assert clean_author(raw) == name


def test_split_authors() -> None:
    assert split_authors(["Jane Doe and John Roe", "Jane Doe"]) == ["Jane Doe", "John Roe"]
    assert split_authors(["A. Smith; B. Jones"]) == ["A. Smith", "B. Jones"]
    assert split_authors(["Mary Major, Richard Roe"]) == ["Mary Major", "Richard Roe"]
    assert split_authors(["Tom & Jerry"]) == ["Tom", "Jerry"]
    assert split_authors(["jdoe@example.com (Jane Doe)", "By Jane Doe"]) == ["Jane Doe"]
    assert split_authors(["jdoe@example.com", "", None]) == []  # type: ignore[list-item]
    assert split_authors([]) == []


def test_split_authors_keeps_surname_first_names_whole() -> None:
    # "Doe, Jane" is one person: the comma split needs a full name after it.
    assert split_authors(["Doe, Jane"]) == ["Doe, Jane"]


def test_split_authors_keeps_order() -> None:
    assert split_authors(["Zed Last", "Amy First", "Zed Last"]) == ["Zed Last", "Amy First"]


# ==========================================================================
# is_subtitle
# ==========================================================================


def test_seed_second_line_is_a_subtitle() -> None:
    lines = SEED.read_text(encoding="utf-8").split("\n")
    assert is_subtitle(lines[1], lines[2]) is True
    # The first body paragraph is not a subtitle.
    assert is_subtitle(lines[3], lines[4]) is False


def test_is_subtitle() -> None:
    assert is_subtitle("A short dek without final punctuation", "Body text.") is True
    assert is_subtitle("A short dek without final punctuation", None) is True
    assert is_subtitle("A full sentence that ends.", "Body text.") is False
    assert is_subtitle("A full sentence that ends.", None) is False
    assert is_subtitle("A sentence before a dateline.", "BEIJING – Officials said.") is True
    assert is_subtitle("", "Body.") is False
    assert is_subtitle("   ", None) is False
    assert is_subtitle("By Jane Doe", "Body.") is False
    assert is_subtitle("BEIJING – Officials met", None) is False
    assert is_subtitle("x" * 351, None) is False
    assert is_subtitle("Does it end with a question?", None) is False
    assert is_subtitle("He said “this”", None) is False


# ==========================================================================
# word_count
# ==========================================================================


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 0),
        ("   \n\n  ", 0),
        ("one", 1),
        ("Hello, world!", 2),
        ("It's a well-known fact — 42 apples.", 6),
        ("People’s Liberation Army", 3),
        ("l’âge d'or", 2),
        ("snake_case words", 3),  # the underscore separates
        ("— – … ! ?", 0),
        ("中国 政府", 2),
        ("Ελληνικά και Русский текст", 4),
    ],
)
def test_word_count(text: str, count: int) -> None:
    assert word_count(text) == count


def test_word_count_of_paragraphs_adds_up() -> None:
    paragraphs = SEED.read_text(encoding="utf-8").split("\n")
    assert word_count("\n\n".join(paragraphs)) == sum(word_count(p) for p in paragraphs) > 500


# ==========================================================================
# LanguageIdentifier
# ==========================================================================


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier()


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The government announced new measures on Tuesday to curb rising inflation.", "en"),
        ("Die Bundesregierung hat am Dienstag neue Maßnahmen gegen die steigende Inflation angekündigt.", "de"),
        ("Il governo ha annunciato martedì nuove misure per frenare l'inflazione crescente.", "it"),
        ("Le gouvernement a annoncé mardi de nouvelles mesures pour freiner l'inflation.", "fr"),
        ("El gobierno anunció el martes nuevas medidas para frenar la creciente inflación.", "es"),
    ],
)
def test_language_detected(identifier: LanguageIdentifier, text: str, language: str) -> None:
    assert identifier.detect(text) == language


@pytest.mark.parametrize("text", ["", "Hi there", "12345 67890 !!! ???", "abcdefghijk", "— – …"])
def test_language_none_for_too_little_text(identifier: LanguageIdentifier, text: str) -> None:
    assert identifier.detect(text) is None


def test_language_of_seed(identifier: LanguageIdentifier) -> None:
    assert identifier.detect(SEED.read_text(encoding="utf-8")) == "en"


def test_language_uses_only_the_head_of_long_text(identifier: LanguageIdentifier) -> None:
    english = "The government announced new measures on Tuesday to curb rising inflation. " * 40
    german = "Die Bundesregierung hat am Dienstag neue Maßnahmen angekündigt. " * 200
    assert len(english) > LanguageIdentifier.MAX_CHARS
    assert identifier.detect(english + german) == "en"
