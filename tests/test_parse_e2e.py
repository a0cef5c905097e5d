"""``newsbeam ingest`` on hostile and damaged inputs, end to end: exit status, Parquet read back, run summary.

The parse-level defects of issue 11 as a user meets them: one unstorable
character used to fail the Parquet writer for the whole run (exit 1, nothing
written), one control character emptied a body without a trace, a feed cut
off mid-item wrote a half article that the full feed later doubled, and a
JSON dump four times the per-feed cap was cut. Files are read from a folder
and feeds fetched from a real server on 127.0.0.1.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from feedserver import FeedServer, static
from support import read_articles_pyarrow, read_dead_letters_pyarrow, run_summary

from pipeline.run import run_ingest

# slow tier: every test here runs a whole ingest
pytestmark = pytest.mark.slow

COMMON = ["--runner", "DirectRunner", "--entities", "off", "--progress-seconds", "0"]
HTTP = ["--allow-private-hosts", "--per-host-delay", "0", "--fetch-retries", "0", "--fetch-deadline", "10"]


def ingest(inputs: list[str], output: Path, run_id: str, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_ingest(inputs, ["--output", str(output), "--run-id", run_id, *COMMON, *extra], out, err)
    return code, out.getvalue(), err.getvalue()


def rss(*items: str, close: bool = True) -> bytes:
    head = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>E2E</title>'
        "<link>https://e2e.example/</link><description>d</description>"
    )
    return (head + "".join(items) + ("</channel></rss>" if close else "")).encode("utf-8")


def item(slug: str, title: str, description: str) -> str:
    return (
        f"<item><title>{title}</title><link>https://e2e.example/{slug}</link><guid>{slug}</guid>"
        f"<description>{description}</description></item>"
    )


def by_title(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["title"]: row for row in rows}


def repairs_of(row: dict[str, Any]) -> dict[str, int]:
    return {r["kind"]: r["count"] for r in row["encoding"]["repairs"]}


def assert_reconciled(summary: dict[str, Any]) -> None:
    counts = summary["counts"]
    assert counts["reconciled"], counts
    assert counts["read"] == counts["written"] + counts["duplicates"] + counts["dead_lettered"]


# --------------------------------------------------------------------------
# Files: every hostile file in one folder, one run
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("hostile")
    inputs = root / "in"
    inputs.mkdir()
    # Item 11: a lone surrogate escape in JSON, in every kind of field, beside a clean record.
    (inputs / "surrogates.json").write_bytes(
        b'[{"title": "Lone \\ud800 surrogate", "text": "Body with \\udfff in it.", "author": "Ann \\ud83d",'
        b' "tags": ["Tag\\udc00"], "url": "https://e2e.example/s\\ud800"},'
        b' {"title": "Clean JSON record", "text": "Nothing wrong here."}]'
    )
    (inputs / "surrogate.jsonl").write_bytes(b'{"title": "Line \\ud800 one", "text": "x y z"}\n')
    # Item 11: a character reference no text can hold, in a feed.
    (inputs / "charref.xml").write_bytes(
        rss(item("c1", "Reference &#xD800; title", "Body &#xDFFF; one."), item("c2", "Second entry", "Body two."))
    )
    # Item 12: one BEL, form feed, ESC in plain-text descriptions; HTML nested past lxml's limits.
    (inputs / "controls.xml").write_bytes(
        rss(
            item("b1", "Bell story", "A plain body with one\x07bell in it."),
            item("b2", "Form feed story", "A plain body with one\x0cform feed in it."),
            item("b3", "Escape story", "A plain body with one\x1bescape in it."),
        )
    )
    deep = "&lt;div&gt;" * 400 + "Deep body text survives." + "&lt;/div&gt;" * 400
    (inputs / "deep.xml").write_bytes(rss(item("d1", "Deep story", deep)))
    (inputs / "deep.html").write_bytes(
        (
            "<html><head><title>Deep page</title></head><body>"
            + "<div>" * 3000
            + "<p>The page text three thousand levels down.</p>"
            + "</div>" * 3000
            + "</body></html>"
        ).encode()
    )
    # Item 3: JSON Lines with U+0085, U+2028, U+2029 inside strings.
    (inputs / "separators.jsonl").write_text(
        "".join(
            json.dumps({"title": f"Separator {n}", "text": f"one{sep}two"}, ensure_ascii=False) + "\n"
            for n, sep in enumerate(["\u0085", "\u2028", "\u2029"])
        ),
        encoding="utf-8",
    )
    # Item 18: BOM-less UTF-16 XML.
    (inputs / "utf16.xml").write_bytes(
        rss(item("w1", "Wide feed entry", "Read from UTF-16."))
        .decode()
        .replace('encoding="utf-8"', 'encoding="UTF-16"')
        .encode("utf-16-le")
    )
    output = root / "out"
    code, out, err = ingest([str(inputs)], output, "hostile")
    return {
        "code": code,
        "out": out,
        "err": err,
        "rows": read_articles_pyarrow(output),
        "dead": read_dead_letters_pyarrow(output),
        "summary": run_summary(output, "hostile"),
    }


def test_hostile_files_exit_zero_and_reconcile(folder_run: dict[str, Any]) -> None:
    assert folder_run["code"] == 0, folder_run["err"]
    assert "Traceback" not in folder_run["err"]
    assert [(d["source"], d["message"]) for d in folder_run["dead"]] == []
    assert_reconciled(folder_run["summary"])
    assert folder_run["summary"]["counts"]["written"] == len(folder_run["rows"]) == 14


def test_unstorable_characters_are_replaced_counted_and_written(folder_run: dict[str, Any]) -> None:
    rows = by_title(folder_run["rows"])
    lone = rows["Lone \ufffd surrogate"]
    assert lone["text"] == "Body with \ufffd in it." and lone["authors"] == ["Ann \ufffd"]
    assert lone["categories"] == ["Tag\ufffd"] and lone["url"] == "https://e2e.example/s%EF%BF%BD"
    assert repairs_of(lone) == {"invalid_unicode:surrogate": 5}
    assert "Clean JSON record" in rows and "Line \ufffd one" in rows
    ref = rows["Reference \ufffd title"]
    assert ref["text"] == "Body \ufffd one." and repairs_of(ref) == {"invalid_unicode:char_ref": 2}
    assert "Second entry" in rows
    repairs = folder_run["summary"]["repairs"]
    assert repairs["invalid_unicode:surrogate"] == 6 and repairs["invalid_unicode:char_ref"] == 2


def test_control_characters_and_deep_nesting_never_empty_a_body(folder_run: dict[str, Any]) -> None:
    rows = by_title(folder_run["rows"])
    for title, words in (
        ("Bell story", "onebell"),
        ("Form feed story", "one form feed"),
        ("Escape story", "oneescape"),
    ):
        row = rows[title]
        assert row["text"].startswith("A plain body with ") and row["text"].endswith(" in it."), row["text"]
        assert words in row["text"].replace("\n\n", " ")
        assert row["word_count"] >= 6
        assert repairs_of(row) == {"control_chars": 1}
    assert rows["Deep story"]["text"] == "Deep body text survives."
    page = rows["Deep page"]
    assert "The page text three thousand levels down." in page["text"]
    assert repairs_of(page) == {"html:flattened": 1}
    assert folder_run["summary"]["repairs"]["control_chars"] == 3


def test_json_lines_separators_and_wide_xml(folder_run: dict[str, Any]) -> None:
    rows = by_title(folder_run["rows"])
    texts = [rows[f"Separator {n}"]["text"].replace("\n\n", " ").replace("\n", " ") for n in range(3)]
    assert texts == ["one…two", "one two", "one two"]  # NEL is a mangled "…" (ftfy), LS and PS break lines
    assert rows["Wide feed entry"]["encoding"]["codec"] == "utf-16-le"
    assert rows["Wide feed entry"]["encoding"]["decode_path"] == "xml-autodetect"


# --------------------------------------------------------------------------
# Feeds over HTTP
# --------------------------------------------------------------------------


def test_json_feed_and_rss_over_http_with_unstorable_and_control_characters(tmp_path: Path) -> None:
    json_feed = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "home_page_url": "https://j.example/",'
        b' "items": [{"id": "j1", "url": "https://j.example/1", "title": "Json \\ud800 item", "content_text": "Text."},'
        b' {"id": "j2", "url": "https://j.example/2", "title": "Json clean item", "content_text": "More text."}]}'
    )
    feed = rss(item("h1", "Http bell", "Served plain text with a\x07bell."), item("h2", "Http clean", "Fine."))
    with FeedServer() as server:
        urls = [
            server.route("/feed.json", static(json_feed, content_type="application/feed+json")),
            server.route("/feed.xml", static(feed)),
        ]
        code, _, err = ingest(urls, tmp_path / "out", "http", *HTTP)
    assert code == 0, err
    rows = by_title(read_articles_pyarrow(tmp_path / "out"))
    assert set(rows) == {"Json \ufffd item", "Json clean item", "Http bell", "Http clean"}
    assert repairs_of(rows["Json \ufffd item"]) == {"invalid_unicode:surrogate": 1}
    assert rows["Http bell"]["text"] == "Served plain text with abell." and rows["Http bell"]["word_count"] == 5
    assert_reconciled(run_summary(tmp_path / "out", "http"))


# --------------------------------------------------------------------------
# A feed cut off, then read whole
# --------------------------------------------------------------------------


def test_cut_off_feed_then_the_full_feed_gives_one_row_per_story(tmp_path: Path) -> None:
    stories = [item(f"story-{n}", f"Story {n}", f"The full text of story {n}.") for n in (1, 2, 3)]
    full = rss(*stories)
    cut = full[: full.index(b"<link>https://e2e.example/story-3") + 15]
    feed = tmp_path / "in" / "feed.xml"
    feed.parent.mkdir()
    output = tmp_path / "out"

    feed.write_bytes(cut)
    code, _, err = ingest([str(feed)], output, "cut")
    assert code == 0, err
    first = read_articles_pyarrow(output)
    assert sorted(r["title"] for r in first) == ["Story 1", "Story 2"]
    assert all(r["url"] and r["text"] for r in first)
    dead = read_dead_letters_pyarrow(output)
    assert [(d["error_type"], d["raw_bytes"]) for d in dead] == [("TruncatedDocument", cut)]
    assert_reconciled(run_summary(output, "cut"))

    feed.write_bytes(full)
    code, _, err = ingest([str(feed)], output, "full")
    assert code == 0, err
    rows = read_articles_pyarrow(output)
    assert sorted(r["title"] for r in rows) == ["Story 1", "Story 2", "Story 3"]
    assert len({r["article_id"] for r in rows}) == 3
    summary = run_summary(output, "full")
    assert (summary["counts"]["written"], summary["counts"]["duplicates"]) == (1, 2)


# --------------------------------------------------------------------------
# A JSON dump larger than the per-feed cap
# --------------------------------------------------------------------------


def test_every_record_of_a_large_json_dump_is_written(tmp_path: Path) -> None:
    dump = tmp_path / "in" / "dump.json"
    dump.parent.mkdir()
    dump.write_text(json.dumps([{"title": f"Record {n}", "text": f"Body of record {n}."} for n in range(20_000)]))
    code, _, err = ingest([str(dump)], tmp_path / "out", "dump")
    assert code == 0, err
    summary = run_summary(tmp_path / "out", "dump")
    assert summary["counts"]["read"] == summary["counts"]["written"] == 20_000
    assert summary["counts"]["dead_lettered"] == 0
    assert summary["counters"].get("documents_capped", 0) == 0
    rows = read_articles_pyarrow(tmp_path / "out")
    assert len(rows) == len({r["title"] for r in rows}) == 20_000
