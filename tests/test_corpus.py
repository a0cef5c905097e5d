"""Every real feed in ``../shared/corpora/news_feeds/``: each record read is written, a duplicate or a dead letter.

The feeds are read from the shared folder at test time (never copied here).
One CLI run ingests the whole folder and every feed is checked in it through
the ``source`` column (its entries as feedparser counts them = its rows + its
dead letters + its share of the duplicates); a few feeds are also ingested
alone through the CLI, where their own counters must reconcile exactly.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import feedparser
import pytest
from support import CORPUS, read_articles_pyarrow, read_dead_letters_pyarrow, run_summary

from pipeline.cli import main

FEEDS = sorted(p.name for p in CORPUS.glob("*") if p.is_file() and not p.name.startswith((".", "_")))
TAG_RE = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")
ENTITY_RE = re.compile(r"&(?:[A-Za-z]{2,8}|#\d{1,7}|#[xX][0-9A-Fa-f]{1,6});")
#: Ingested alone as well: RSS 1.0, the most entries, the largest file, an Italian single-item feed.
SINGLE_CLI_FEEDS = [
    "dw_all__14dda539770f94e3.xml",
    "economist_asia__960551eca5b5db81.xml",
    "theweek__16dc10cf98d1ee82.xml",
    "feedrs_ilgiornale.xml",
]

# slow tier: every test here ingests the real-feed corpora
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")]


def feedparser_entries(path: Path) -> int:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return len(feedparser.parse(data).entries)


def ingest(inputs: list[str], output: Path) -> int:
    # --full-text off: the corpus feeds link to the real publishers, and nothing may leave this machine
    return main(
        ["ingest", *inputs, "--output", str(output), "--runner", "DirectRunner", "--progress-seconds", "0"]
        + ["--full-text", "off"]
    )


@dataclass
class FolderRun:
    code: int
    summary: dict[str, Any]
    rows: list[dict[str, Any]]
    dead: list[dict[str, Any]]

    def rows_of(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["source"] == str(CORPUS / name)]

    def dead_of(self, name: str) -> list[dict[str, Any]]:
        return [d for d in self.dead if d["source"] == str(CORPUS / name)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> FolderRun:
    output = tmp_path_factory.mktemp("corpus") / "out"
    code = ingest([str(CORPUS)], output)
    return FolderRun(code, run_summary(output), read_articles_pyarrow(output), read_dead_letters_pyarrow(output))


@pytest.fixture(scope="module")
def entries() -> dict[str, int]:
    return {name: feedparser_entries(CORPUS / name) for name in FEEDS}


def test_corpus_is_there() -> None:
    assert len(FEEDS) == 24


def test_whole_folder_counts_reconcile(folder: FolderRun, entries: dict[str, int]) -> None:
    assert folder.code == 0
    counts = folder.summary["counts"]
    assert counts["read"] == counts["written"] + counts["duplicates"] + counts["dead_lettered"]
    assert counts["reconciled"] is True
    assert counts["read"] == sum(entries.values())
    assert counts["written"] == len(folder.rows)
    assert counts["dead_lettered"] == len(folder.dead)
    assert len({r["article_id"] for r in folder.rows}) == len(folder.rows)
    assert folder.summary["documents"]["read"] == len(FEEDS)
    assert folder.summary["documents"]["by_format"] == {"feed": len(FEEDS)}
    # Per feed: entries = rows + dead letters + that feed's duplicates; the shares add up to the total.
    shares = {name: entries[name] - len(folder.rows_of(name)) - len(folder.dead_of(name)) for name in FEEDS}
    assert sum(shares.values()) == counts["duplicates"], shares


@pytest.mark.parametrize("name", FEEDS)
def test_every_feed_in_the_folder_run(folder: FolderRun, entries: dict[str, int], name: str) -> None:
    rows, dead = folder.rows_of(name), folder.dead_of(name)
    duplicates = entries[name] - len(rows) - len(dead)
    assert 0 <= duplicates <= folder.summary["counts"]["duplicates"]
    assert rows, "every corpus feed has articles"
    assert all(r["source_type"] == "feed" for r in rows)
    for row in rows:
        for column in ("text", "title", "subtitle"):
            value = row[column] or ""
            found = TAG_RE.search(value)
            assert not found, (column, row["url"], found and found.group(0))
            found = ENTITY_RE.search(value)
            assert not found, (column, row["url"], found and found.group(0))
            assert "\ufffd" not in value and "\x00" not in value, (column, row["url"])
        assert row["text"] == row["text"].strip() and "\n\n\n" not in row["text"]
        assert row["word_count"] >= 0


@pytest.mark.parametrize("name", SINGLE_CLI_FEEDS)
def test_single_feed_alone_through_the_cli(
    folder: FolderRun, entries: dict[str, int], tmp_path: Path, name: str
) -> None:
    output = tmp_path / "out"
    assert ingest([str(CORPUS / name)], output) == 0
    summary = run_summary(output)
    counts = summary["counts"]
    assert counts["reconciled"] is True
    assert counts["read"] == counts["written"] + counts["duplicates"] + counts["dead_lettered"]
    assert counts["read"] == entries[name]
    rows = read_articles_pyarrow(output)
    assert len(rows) == counts["written"]
    assert len(read_dead_letters_pyarrow(output)) == counts["dead_lettered"]
    # Alone, the feed writes at least what it wrote among all the others (cross-feed dedup only removes).
    assert counts["written"] >= len(folder.rows_of(name))
    assert {r["article_id"] for r in folder.rows_of(name)} <= {r["article_id"] for r in rows}
