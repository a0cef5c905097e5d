"""Inputs that name paths they should not, files that are not files, and names that are not text.

Each case is a real ``newsbeam ingest`` (in-process, or as a subprocess where
a regression would hang or a signal is involved) with the Parquet read back.
The rule under test: input data never makes newsbeam read a file the user did
not give it, a special file never blocks a run, and nothing read is lost.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from support import ROOT, SEEDS, read_articles_pyarrow, read_dead_letters_pyarrow, run_summary

from pipeline.run import EXIT_NOTHING_READ, EXIT_OK, run_ingest
from transforms.errors import BlockedPath
from transforms.sources import opml_reference, read_bytes, walk_local

SECRET = "TOPSECRET-7f3a"


def ingest(inputs: list[str], output: Path, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = ["--output", str(output), "--runner", "DirectRunner", "--progress-seconds", "0", "--entities", "off"]
    code = run_ingest(inputs, [*args, *extra], out, err)
    return code, out.getvalue(), err.getvalue()


def ingest_process(inputs: list[str], output: Path, *extra: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """The CLI as its own process (``python -m pipeline.cli``), so a hang is a timeout, not a stuck suite."""
    command = [sys.executable, "-m", "pipeline.cli", "ingest", *inputs, "--output", str(output)]
    command += ["--runner", "DirectRunner", "--progress-seconds", "0", "--entities", "off", *extra]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def feed(title: str, link: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>{title}</title><link>{link}</link><description>{title} body text.</description>"
        "<pubDate>Tue, 10 Mar 2024 10:00:00 GMT</pubDate></item></channel></rss>"
    )


def opml(*references: str) -> str:
    outlines = "".join(f'<outline type="rss" text="x" xmlUrl="{r}"/>' for r in references)
    return f'<?xml version="1.0"?><opml version="2.0"><head><title>l</title></head><body>{outlines}</body></opml>'


def everything_written(output: Path) -> str:
    """Every byte published under ``output`` (Parquet decompressed by reading it back), as text to search."""
    rows = read_articles_pyarrow(output) + read_dead_letters_pyarrow(output)
    return json.dumps(rows, default=lambda v: v.decode("latin-1") if isinstance(v, bytes) else str(v))


# ==========================================================================
# Feed lists (OPML) naming local paths
# ==========================================================================

ESCAPES = [
    "/etc/passwd",
    "file:///etc/passwd",
    "file:/etc/hostname",
    "FILE:///etc/hostname",
    "../../../../../../etc/hostname",
    "../secret.xml",
    "inner/../../secret.xml",
    "./../secret.xml",
    "..\\secret.xml",
    "/proc/self/environ",
    "/dev/zero",
    "C:\\Windows\\win.ini",
    "gs://some-bucket/feed.xml",
    "ftp://site.example/feed.xml",
]


@pytest.fixture()
def hostile_list(tmp_path: Path) -> Path:
    """A list folder whose OPML names files it may read (inside) and many it may not (outside, special)."""
    (tmp_path / "secret.xml").write_text(feed(SECRET, "https://secret.example/1"))
    lists = tmp_path / "lists"
    (lists / "inner").mkdir(parents=True)
    (lists / "ok.xml").write_text(feed("Inside story", "https://ok.example/1"))
    (lists / "inner" / "deeper.xml").write_text(feed("Deeper story", "https://ok.example/2"))
    os.symlink(tmp_path / "secret.xml", lists / "link.xml")  # a link leaving the folder
    os.symlink("/etc/passwd", lists / "passwd.xml")
    os.mkfifo(lists / "fifo.xml")
    references = [*ESCAPES, "link.xml", "passwd.xml", "fifo.xml", "ok.xml", "inner/deeper.xml", "./inner//deeper.xml"]
    (lists / "subs.opml").write_text(opml(*references))
    return lists / "subs.opml"


@pytest.mark.slow
def test_a_feed_list_reads_only_files_inside_its_folder(hostile_list: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    result = ingest_process([str(hostile_list)], output)
    assert result.returncode == EXIT_OK, result.stderr
    assert "Traceback" not in result.stderr
    titles = sorted(a["title"] for a in read_articles_pyarrow(output))
    assert titles == ["Deeper story", "Inside story"]
    written = everything_written(output)
    assert SECRET not in written
    assert "root:x:0:0" not in written
    assert "PATH=" not in written  # /proc/self/environ
    dead = read_dead_letters_pyarrow(output)
    refused = {d["raw_text"]: d for d in dead if d["error_type"] == "BlockedPath"}
    assert set(refused) == {*ESCAPES, "link.xml", "passwd.xml"}, sorted(refused)
    for reference, letter in refused.items():
        assert letter["raw_bytes"] is None, reference  # the reference, never the target's content
        assert letter["stage"] == "read"
        assert letter["source"] == str(hostile_list) or letter["source"].endswith(".xml")
    special = [d for d in dead if d["error_type"] == "NotARegularFile"]
    assert len(special) == 1 and "FIFO" in special[0]["message"]
    summary = run_summary(output)
    assert summary["counts"]["reconciled"] is True
    assert summary["skipped"]["opml_references_refused"] == len(ESCAPES) + 2
    assert "BlockedPath" in result.stderr  # refusals are said at the end of the run, not only stored


@pytest.mark.slow
def test_local_files_in_feed_lists_can_be_switched_off(tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "ok.xml").write_text(feed("Inside story", "https://ok.example/1"))
    (lists / "subs.opml").write_text(opml("ok.xml"))
    code, _, err = ingest([str(lists / "subs.opml")], tmp_path / "out", "--opml-local-files", "off")
    assert code == EXIT_NOTHING_READ, err
    dead = read_dead_letters_pyarrow(tmp_path / "out")
    assert [(d["error_type"], d["raw_text"]) for d in dead] == [("BlockedPath", "ok.xml")]
    assert "--opml-local-files off" in dead[0]["message"]


@pytest.mark.parametrize(
    ("reference", "allowed"),
    [
        ("feed.xml", True),
        ("sub/feed.xml", True),
        ("./sub/./feed.xml", True),
        ("https://site.example/rss", True),
        ("HTTP://site.example/rss", True),
        ("/abs/feed.xml", False),
        ("../feed.xml", False),
        ("sub/../../feed.xml", False),
        ("sub\\..\\..\\feed.xml", False),
        ("file:///etc/passwd", False),
        ("file:feed.xml", False),
        ("gs://bucket/feed.xml", False),
        ("s3://bucket/feed.xml", False),
        ("ftp://x/feed.xml", False),
        ("C:\\feed.xml", False),
        ("\\\\server\\share\\feed.xml", False),
        ("feed\x00.xml", False),
        (".", False),
        ("", False),
    ],
)
def test_opml_reference_rules(reference: str, allowed: bool) -> None:
    if allowed:
        resolved = opml_reference("/data/lists/subs.opml", reference)
        assert resolved.startswith(("/data/lists/", "http", "HTTP"))
    else:
        with pytest.raises(BlockedPath):
            opml_reference("/data/lists/subs.opml", reference)


def test_read_bytes_inside_a_folder_refuses_escapes(tmp_path: Path) -> None:
    folder = tmp_path / "lists"
    folder.mkdir()
    (tmp_path / "outside.xml").write_text("outside")
    (folder / "inside.xml").write_text("inside")
    os.symlink(tmp_path / "outside.xml", folder / "escape.xml")
    os.symlink(folder / "inside.xml", folder / "alias.xml")  # a link that stays inside is fine
    assert read_bytes(str(folder / "inside.xml"), 100, folder=str(folder)) == b"inside"
    assert read_bytes(str(folder / "alias.xml"), 100, folder=str(folder)) == b"inside"
    with pytest.raises(BlockedPath):
        read_bytes(str(folder / "escape.xml"), 100, folder=str(folder))
    with pytest.raises(BlockedPath):
        read_bytes(str(folder / ".." / "outside.xml"), 100, folder=str(folder))
    # The user may name any file; only data-named paths are confined.
    assert read_bytes(str(folder / "escape.xml"), 100) == b"outside"


# ==========================================================================
# Special files, missing inputs, names that are not UTF-8
# ==========================================================================


@pytest.mark.slow
def test_a_fifo_given_as_input_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "feed.xml"
    os.mkfifo(fifo)
    result = ingest_process([str(fifo)], tmp_path / "out", timeout=120)
    assert result.returncode == EXIT_NOTHING_READ, result.stderr
    assert "not a regular file (FIFO)" in result.stderr
    dead = read_dead_letters_pyarrow(tmp_path / "out")
    assert [d["error_type"] for d in dead] == ["NotARegularFile"]


@pytest.mark.slow
def test_special_files_in_an_input_folder_are_skipped_and_counted(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SEEDS / "articles" / "wire_story.txt", folder / "story.txt")
    os.mkfifo(folder / "pipe.xml")
    os.symlink("/etc/hostname", folder / "host.txt")  # a link leaving the folder
    os.symlink(folder / "story.txt", folder / "again.txt")  # a link inside it
    os.symlink(tmp_path, folder / "up")  # a linked folder: never descended
    result = ingest_process([str(folder)], tmp_path / "out", timeout=120)
    assert result.returncode == EXIT_OK, result.stderr
    summary = run_summary(tmp_path / "out")
    assert summary["skipped"]["files"] == {"special_file": 1, "symlink_outside_input": 1, "symlinked_folder": 1}
    assert summary["counts"]["written"] == 1 and summary["counts"]["duplicates"] == 1
    assert summary["counts"]["reconciled"] is True
    assert "files skipped" in result.stdout


def test_walk_local_rules(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("x")
    (tmp_path / "_hidden").mkdir()
    (tmp_path / "_hidden" / "y.txt").write_text("y")
    os.mkfifo(tmp_path / "a" / "f")
    found, skipped = walk_local(str(tmp_path))
    assert found == [str(tmp_path / "a" / "x.txt")]
    assert skipped == {"special_file": 1}


@pytest.mark.slow
def test_an_input_that_does_not_exist_is_said_and_fails_the_run(tmp_path: Path) -> None:
    code, _, err = ingest([str(tmp_path / "missing.xml")], tmp_path / "out")
    assert code == EXIT_NOTHING_READ
    assert "input matched no files" in err and "missing.xml" in err
    assert "nothing could be read" in err


@pytest.mark.slow
def test_a_missing_input_beside_a_good_one_is_a_warning(tmp_path: Path) -> None:
    code, _, err = ingest([str(tmp_path / "missing.xml"), str(SEEDS / "articles" / "wire_story.txt")], tmp_path / "o")
    assert code == EXIT_OK
    assert "warning" in err and "missing.xml" in err


@pytest.mark.slow
def test_a_file_name_that_is_not_utf8_is_read_and_stored_with_replacement(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    name = os.path.join(os.fsencode(folder), b"caf\xe9-story.txt")
    with open(name, "wb") as handle:
        handle.write((SEEDS / "articles" / "wire_story.txt").read_bytes())
    shutil.copy(SEEDS / "articles" / "single_article.json", folder / "plain.json")
    code, out, err = ingest([str(folder)], tmp_path / "out")
    assert code == EXIT_OK, err
    sources = sorted(a["source"] for a in read_articles_pyarrow(tmp_path / "out"))
    assert sources[0].endswith("caf\ufffd-story.txt")
    assert len(sources) == 2
    summary = run_summary(tmp_path / "out")
    assert summary["skipped"]["file_names_replaced"] == 1
    assert summary["counts"]["reconciled"] is True


# ==========================================================================
# newsbeam's own output inside an input folder
# ==========================================================================


@pytest.mark.slow
def test_an_output_folder_inside_the_input_folder_is_never_read_back(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(SEEDS / "articles", data)
    output = data / "out"
    first, _, err1 = ingest([str(data)], output)
    second, _, err2 = ingest([str(data)], output)
    assert first == second == EXIT_OK, err1 + err2
    runs = sorted((output / "runs").glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    one, two = (json.loads(p.read_text()) for p in runs)
    assert two["counts"]["read"] == one["counts"]["read"]  # nothing of out/ read the second time
    assert two["counts"]["written"] == 0
    assert two["skipped"]["files"].get("newsbeam_output") == 1
    assert not [d for d in read_dead_letters_pyarrow(output) if "/out/" in d["source"]]


@pytest.mark.slow
def test_an_older_output_without_marker_is_recognised(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(SEEDS / "articles", data)
    old = data / "old-output"
    (old / "runs").mkdir(parents=True)
    (old / "articles").mkdir()
    (old / "runs" / "r.json").write_text('{"title": "a run summary, not an article", "text": "x"}')
    code, _, err = ingest([str(data)], tmp_path / "out")
    assert code == EXIT_OK, err
    assert not [a for a in read_articles_pyarrow(tmp_path / "out") if "old-output" in a["source"]]


# ==========================================================================
# Partition values stay dates
# ==========================================================================


@pytest.mark.slow
def test_implausible_publication_dates_do_not_become_partitions(tmp_path: Path) -> None:
    records = [
        {
            "title": "Year one",
            "text": "Dated in year one.",
            "url": "https://x.example/1",
            "date": "0001-01-01T00:00:00Z",
        },
        {"title": "Far future", "text": "Dated 9999.", "url": "https://x.example/2", "date": "9999-12-31T00:00:00Z"},
        {"title": "Normal", "text": "Dated 2024.", "url": "https://x.example/3", "date": "2024-03-10T10:00:00Z"},
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    output = tmp_path / "out"
    code, _, err = ingest([str(path)], output)
    assert code == EXIT_OK, err
    partitions = sorted(p.name for p in (output / "articles").iterdir())
    assert "published_date=2024-03-10" in partitions
    for name in partitions:
        value = name.split("=", 1)[1]
        assert len(value) == 10 and 1800 <= int(value[:4]) < 2200, partitions
    pattern = str(output / "articles" / "**" / "*.parquet")
    con = duckdb.connect()
    try:
        kind = con.execute(
            f"SELECT typeof(published_date) FROM read_parquet('{pattern}', hive_partitioning = true) LIMIT 1"
        ).fetchone()
        since = con.execute(
            f"SELECT count(*) FROM read_parquet('{pattern}', hive_partitioning = true) "
            "WHERE published_date >= DATE '2024-01-01'"
        ).fetchone()
    finally:
        con.close()
    assert kind == ("DATE",)
    assert since == (3,)  # the two implausible ones are filed under today's ingest date


def test_a_dead_letter_is_storable_whatever_its_text(tmp_path: Path) -> None:
    """The last safety net: a failure caused by a bad character must still be writable as a dead letter."""
    from schemas import DEAD_LETTER_SCHEMA, to_arrow_table
    from transforms.errors import make_dead_letter

    letter = make_dead_letter("parse", ValueError("bad \ud800 here"), "src-\udcff", "run", raw_text="x\ud800y")
    assert "\ufffd" in letter.message and letter.source == "src-\ufffd" and letter.raw_text == "x\ufffdy"
    table = to_arrow_table([letter], DEAD_LETTER_SCHEMA)
    assert table.num_rows == 1


@pytest.mark.slow
def test_a_feed_list_dropped_in_a_landing_folder_reads_nothing_outside_it(tmp_path: Path) -> None:
    """A running stream's --watch folder: a dropped OPML naming outside files, a FIFO, an escaping link."""
    (tmp_path / "secret.xml").write_text(feed(SECRET, "https://secret.example/1"))
    landing = tmp_path / "landing"
    landing.mkdir()
    os.mkfifo(landing / "pipe.xml")
    os.symlink(tmp_path / "secret.xml", landing / "escape.xml")
    (landing / "ok.xml").write_text(feed("Landed story", "https://ok.example/landed"))
    (landing / "list.opml").write_text(opml("/etc/passwd", "../secret.xml", "file:///etc/hostname", "escape.xml"))
    output = tmp_path / "out"
    command = [sys.executable, "-m", "pipeline.cli", "stream", "--watch", str(landing), "--output", str(output)]
    command += ["--runner", "DirectRunner", "--entities", "off", "--watch-interval", "1", "--poll-interval", "5"]
    command += ["--window", "2", "--stop-after", "12", "--run-id", "landing"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == EXIT_OK, result.stderr
    assert [a["title"] for a in read_articles_pyarrow(output)] == ["Landed story"]
    written = everything_written(output)
    assert SECRET not in written and "root:x:0:0" not in written
    refused = sorted(d["raw_text"] for d in read_dead_letters_pyarrow(output) if d["error_type"] == "BlockedPath")
    assert refused == sorted(["/etc/passwd", "../secret.xml", "file:///etc/hostname", "escape.xml"])
    summary = run_summary(output, "landing")
    assert summary["counts"]["reconciled"] is True
