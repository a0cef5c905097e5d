"""``ReadDocuments``: inputs (files, directories, globs, OPML, URLs) to ``RawDocument``s and dead letters."""

from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from support import SEEDS, counters, matcher, new_pipeline

from transforms.errors import DEAD_LETTER
from transforms.sources import URLS, ReadDocuments

# slow tier: every test here runs a Beam pipeline
pytestmark = pytest.mark.slow

MAX_BYTES = 100 * 1024
FEED_URL = "https://feeds.example/world.xml"
INPUT_URL = "https://web.example/rss.xml"


@dataclass
class Tree:
    root: Path
    inputs: list[str]
    opml: Path


def _rel(root: Path, path: str | None) -> str | None:
    return None if path is None else os.path.relpath(path, root)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    root = tmp_path_factory.mktemp("sources")
    directory = root / "in"
    (directory / "sub" / "_feeds").mkdir(parents=True)
    (directory / "_hidden").mkdir()
    shutil.copy(SEEDS / "articles" / "wire_story.txt", directory / "story.txt")
    shutil.copy(SEEDS / "feeds" / "rss2_newsroom.xml", directory / "sub" / "newsroom.xml")
    shutil.copy(SEEDS / "feeds" / "gzipped_feed.xml", directory / "sub" / "ferries.xml")  # gzip under .xml
    shutil.copy(SEEDS / "feeds" / "_opml" / "regional.xml", directory / "sub" / "_feeds" / "regional.xml")
    (directory / "_hidden" / "skipped.txt").write_text("Hidden\nnever read\n")
    (directory / ".dotfile.txt").write_text("Dot\nnever read\n")
    (directory / "sub" / "_SUCCESS").write_text("")
    opml = directory / "sub" / "list.opml"
    opml.write_text(
        '<?xml version="1.0"?>\n<opml version="2.0"><head><title>t</title></head><body>\n'
        '  <outline text="group">\n'
        '    <outline type="rss" text="again" xmlUrl="newsroom.xml"/>\n'
        '    <outline type="rss" text="hidden" xmlUrl="_feeds/regional.xml"/>\n'
        "  </outline>\n"
        f'  <outline type="rss" text="remote" xmlUrl="{FEED_URL}"/>\n'
        '  <outline type="rss" text="itself" xmlUrl="list.opml"/>\n'
        "</body></opml>\n"
    )
    glob_dir = root / "glob"
    glob_dir.mkdir()
    (glob_dir / "a.json").write_text('{"title": "A", "text": "Alpha text."}')
    (glob_dir / "b.json").write_text('{"title": "B", "text": "Beta text."}')
    (glob_dir / "c.txt").write_text("C\nnot matched by the glob\n")
    odd = root / "odd"
    odd.mkdir()
    (odd / "large.txt").write_bytes(b"x" * (MAX_BYTES + 1))
    (odd / "bomb.xml").write_bytes(gzip.compress(b"\0" * (MAX_BYTES * 10)))
    (odd / "corrupt.xml").write_bytes(b"\x1f\x8b\x08\x00" + b"definitely not deflate data" * 4)
    (odd / "_explicit.txt").write_text("Named explicitly\nHidden names are read when given by name.\n")
    inputs = [
        str(directory),
        str(glob_dir / "*.json"),
        str(directory / "story.txt"),  # also inside the directory: read once
        str(odd / "large.txt"),
        str(odd / "bomb.xml"),
        str(odd / "corrupt.xml"),
        str(odd / "_explicit.txt"),
        str(root / "missing.xml"),
        str(root / "nothing-*.xml"),
        INPUT_URL,
    ]
    return Tree(root, inputs, opml)


@pytest.fixture(scope="module")
def run(tree: Tree) -> Any:
    root = tree.root

    def documents_match(actual: list[Any]) -> None:
        got = sorted(((_rel(root, d.source), _rel(root, d.parent), d.source_type) for d in actual), key=repr)
        opml = "in/sub/list.opml"
        assert got == sorted(
            [
                ("in/story.txt", None, "file"),
                ("in/sub/newsroom.xml", None, "file"),
                ("in/sub/ferries.xml", None, "file"),
                ("in/sub/newsroom.xml", opml, "file"),
                ("in/sub/_feeds/regional.xml", opml, "file"),
                ("glob/a.json", None, "file"),
                ("glob/b.json", None, "file"),
                ("odd/_explicit.txt", None, "file"),
            ],
            key=repr,
        ), got
        for d in actual:
            path = Path(d.source)
            raw = path.read_bytes()
            expected = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            assert d.payload == expected, d.source
            assert d.content_type is None
            assert d.fetched_at is not None
        ferries = next(d for d in actual if d.source.endswith("ferries.xml"))
        assert ferries.payload.startswith(b'<?xml version="1.0" encoding="utf-8"?>')

    def dead_letters_match(actual: list[Any]) -> None:
        got = sorted(
            (d.stage, d.error_type, _rel(root, d.source) if d.source.startswith("/") else d.source) for d in actual
        )
        assert got == sorted(
            [
                ("source", "InputNotFound", "missing.xml"),
                ("source", "InputNotFound", "nothing-*.xml"),
                ("read", "DocumentTooLarge", "odd/large.txt"),
                ("read", "DocumentTooLarge", "odd/bomb.xml"),
                ("read", "UnreadableDocument", "odd/corrupt.xml"),
                ("read", "UnreadableDocument", "in/sub/list.opml"),
            ]
        ), got
        for d in actual:
            assert d.run_id == "run-src"
            assert d.message
            assert d.raw_text == d.source and d.raw_bytes is None, d
        messages = {d.error_type + ":" + d.source.rsplit("/", 1)[-1]: d.message for d in actual}
        assert "loop" in messages["UnreadableDocument:list.opml"]
        assert "limit" in messages["DocumentTooLarge:bomb.xml"]
        assert "gzip" in messages["UnreadableDocument:corrupt.xml"]

    pipeline = new_pipeline()
    read = pipeline | "ReadDocuments" >> ReadDocuments(tree.inputs, "run-src", MAX_BYTES)
    assert_that(read["documents"], matcher(documents_match), label="CheckDocuments")
    assert_that(read[DEAD_LETTER], matcher(dead_letters_match), label="CheckDeadLetters")
    # Feed URLs, given or listed in a local OPML file, are handed on to be fetched.
    assert_that(
        read[URLS] | "UrlPairs" >> beam.Map(lambda r: (r.url, _rel(root, r.parent))),
        equal_to([(INPUT_URL, None), (FEED_URL, "in/sub/list.opml")]),
        label="CheckUrls",
    )
    assert_that(
        read["documents"] | "Formats" >> beam.Map(lambda d: d.payload[:1]),
        equal_to([b"S", b"<", b"<", b"<", b"<", b"{", b"{", b"N"]),
        label="CheckFirstBytes",
    )
    result = pipeline.run()
    result.wait_until_finish()
    return result, tree


def test_documents_and_dead_letters(run: Any) -> None:
    result, _ = run
    assert str(result.state) == "DONE"


def test_counters(run: Any) -> None:
    result, tree = run
    values = counters(result)
    read_files = [
        "in/story.txt",
        "in/sub/newsroom.xml",
        "in/sub/newsroom.xml",
        "in/sub/_feeds/regional.xml",
        "glob/a.json",
        "glob/b.json",
        "odd/_explicit.txt",
        "in/sub/list.opml",
    ]
    expected_bytes = sum((tree.root / name).stat().st_size for name in read_files)
    expected_bytes += len(gzip.decompress((tree.root / "in/sub/ferries.xml").read_bytes()))
    assert values["documents_read"] == 8
    assert values["opml_files"] == 1
    assert values["dead_letter.source"] == 2
    assert values["dead_letter.read"] == 4
    # Source and read failures are records read that never become articles;
    # URLs are not records yet (the fetch stage counts them).
    assert values["read"] == 6
    assert values["bytes_read"] == expected_bytes


def test_directory_with_trailing_slash_is_recursive(tree: Tree) -> None:
    pipeline = new_pipeline()
    read = pipeline | "ReadDocuments" >> ReadDocuments([str(tree.root / "in") + "/"], "run-slash", MAX_BYTES)
    assert_that(
        read["documents"] | "Names" >> beam.Map(lambda d: os.path.relpath(d.source, tree.root)),
        equal_to(
            [
                "in/story.txt",
                "in/sub/newsroom.xml",
                "in/sub/ferries.xml",
                "in/sub/newsroom.xml",
                "in/sub/_feeds/regional.xml",
            ]
        ),
        label="CheckRecursive",
    )
    assert_that(read[DEAD_LETTER] | "Stages" >> beam.Map(lambda d: d.stage), equal_to(["read"]), label="CheckDead")
    pipeline.run().wait_until_finish()
