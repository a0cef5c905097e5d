"""The input formats newsbeam reads, in one list: adding a format is a module of its own and a line here.

The list is source code, not state filled in at run time: a Dataflow or Dask
worker imports this module and gets the same formats as the machine that
built the job. A test (or a program that embeds newsbeam) passes its own
list to ``ReadDocuments`` and ``ParseDocuments`` instead.
"""

from __future__ import annotations

from typing import Optional, Sequence

from transforms.errors import UnreadableDocument
from transforms.formats.base import Format, Match, sample_of
from transforms.formats.feed import FEED
from transforms.formats.html_page import HTML
from transforms.formats.json_document import JSON
from transforms.formats.json_lines import JSONL
from transforms.formats.plain_text import TEXT
from transforms.formats.warc import WARC, WarcSettings, warc_format

#: Every input format, one a line. Recognition picks the surest ``Match``; a tie goes to the earlier line.
FORMATS: tuple[Format, ...] = (
    FEED,
    HTML,
    JSON,
    JSONL,
    WARC,
    TEXT,
)


def formats_for(warc: WarcSettings) -> tuple[Format, ...]:
    """``FORMATS`` with the WARC format a run's options configure (range size, domains, non-articles)."""
    return tuple(warc_format(warc) if fmt.name == WARC.name else fmt for fmt in FORMATS)


def detect_format(text: str, path: str = "", formats: Sequence[Format] = FORMATS) -> Format:
    """The format of a document, from its first characters, then its extension (``path``: "" when fetched)."""
    sample = sample_of(text, path)
    best: Optional[Format] = None
    surest: Optional[Match] = None
    for fmt in formats:
        match = fmt.recognise(sample, sample.ext in fmt.extensions)
        if match is not None and (surest is None or match > surest):
            best, surest = fmt, match
    if best is None:
        raise UnreadableDocument(f"no input format recognises this document ({', '.join(f.name for f in formats)})")
    return best


def by_name(formats: Sequence[Format]) -> dict[str, Format]:
    """The formats by name; two formats under one name is a mistake in the list, refused."""
    named = {fmt.name: fmt for fmt in formats}
    if len(named) != len(formats):
        raise ValueError(f"input formats share a name: {sorted(f.name for f in formats)}")
    return named
