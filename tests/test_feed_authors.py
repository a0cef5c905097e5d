"""An RSS author written as ``address (Name)`` keeps its name whatever the address's top-level domain."""

from __future__ import annotations

import feedparser
import pytest

from transforms.formats.feed import _entry_authors
from transforms.metadata import split_authors


def _authors(author_xml: str) -> list[str]:
    parsed = feedparser.parse(
        f'<rss version="2.0"><channel><title>t</title><item><title>x</title>{author_xml}</item></channel></rss>'
    )
    return split_authors(_entry_authors(parsed.entries[0], parsed.feed, parsed.version))


@pytest.mark.parametrize(
    "address",
    ["desk@news.network", "tom@ferries.example", "t.achebe@paper.co.example", "tom@ferries.com", "tom@x.museum"],
)
def test_address_with_a_name_gives_the_name(address: str) -> None:
    # feedparser alone gives "ork (Tom Achebe" for desk@news.network: it assumes 2-4 letter domains.
    assert _authors(f"<author>{address} (Tom Achebe)</author>") == ["Tom Achebe"]


def test_bare_address_names_nobody() -> None:
    assert _authors("<author>desk@news.network</author>") == []


def test_dc_creator_is_kept_as_written() -> None:
    assert _authors('<dc:creator xmlns:dc="http://purl.org/dc/elements/1.1/">Ann Lee and Bo Chen</dc:creator>') == [
        "Ann Lee",
        "Bo Chen",
    ]
