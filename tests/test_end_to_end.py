"""End to end: the CLI on ``seeds/`` compared with ``seeds/_expected/``, read back with pyarrow and DuckDB.

One module-scoped fixture runs the ingest of ``seeds`` twice into the same
output (first run, then a rerun) and snapshots both; the other tests here run
their own small ingests to check exit statuses and failure behaviour.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from support import (
    EXPECTED,
    SEEDS,
    expected_fixture_files,
    load_expected,
    parquet_files,
    read_articles_pyarrow,
    read_dead_letters_pyarrow,
    run_summary,
    same_codec,
)

from pipeline.cli import main
from pipeline.run import run_ingest
from schemas import SCHEMA_VERSION

# slow tier: this module runs whole ingests and reads their results (its few usage checks go along)
pytestmark = pytest.mark.slow

INGEST_DATE = "@ingest_date"
TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(\s[^<>]*)?/?>")


def ingest(inputs: list[str], output: Path, *extra: str) -> int:
    argv = ["ingest", *inputs, "--output", str(output), "--runner", "DirectRunner", "--progress-seconds", "0", *extra]
    return main(argv)


def ingest_capturing(inputs: list[str], output: Path, *extra: str) -> tuple[int, str, str]:
    """The same ingest through ``run_ingest`` with its stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    beam_args = ["--output", str(output), "--runner", "DirectRunner", "--progress-seconds", "0", *extra]
    code = run_ingest(inputs, beam_args, out, err)
    return code, out.getvalue(), err.getvalue()


def duck_articles(output: Path) -> list[dict[str, Any]]:
    pattern = str(output / "articles" / "**" / "*.parquet")
    con = duckdb.connect()
    try:
        cursor = con.execute(f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def duck_scalar(sql: str) -> Any:
    con = duckdb.connect()
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


@dataclass
class Snapshot:
    code: int
    summary: dict[str, Any]
    rows: list[dict[str, Any]]
    duck_rows: list[dict[str, Any]]
    dead: list[dict[str, Any]]
    files: list[Path]


def snapshot(code: int, output: Path, run_id: str) -> Snapshot:
    return Snapshot(
        code=code,
        summary=run_summary(output, run_id),
        rows=read_articles_pyarrow(output),
        duck_rows=duck_articles(output),
        dead=read_dead_letters_pyarrow(output),
        files=parquet_files(output / "articles"),
    )


@dataclass
class SeedsRuns:
    output: Path
    first: Snapshot
    second: Snapshot


@pytest.fixture(scope="module")
def seeds_runs(tmp_path_factory: pytest.TempPathFactory) -> SeedsRuns:
    output = tmp_path_factory.mktemp("seeds") / "out"
    # ``seeds`` without a trailing slash: see test_trailing_slash_directory_is_read_recursively.
    first = snapshot(ingest([str(SEEDS)], output, "--run-id", "e2e-first"), output, "e2e-first")
    second = snapshot(ingest([str(SEEDS)], output, "--run-id", "e2e-second"), output, "e2e-second")
    return SeedsRuns(output, first, second)


@pytest.fixture(scope="module")
def first(seeds_runs: SeedsRuns) -> Snapshot:
    return seeds_runs.first


def ingest_date(rows: list[dict[str, Any]]) -> str:
    dates = {row["ingested_at"].astimezone(UTC).date().isoformat() for row in rows}
    assert len(dates) == 1
    return dates.pop()


# --------------------------------------------------------------------------
# The run as a whole
# --------------------------------------------------------------------------


def test_first_run_exits_zero_with_expected_counts(first: Snapshot) -> None:
    expected = load_expected("ingest_seeds.json")
    assert first.code == 0
    assert first.summary["state"] == "DONE"
    assert first.summary["counts"] == expected["counts"]
    assert first.summary["duplicates"] == expected["duplicates"]
    assert first.summary["dead_lettered_by_stage"] == expected["dead_lettered_by_stage"]
    documents = first.summary["documents"]
    assert documents["read"] == expected["documents"]["read"]
    assert documents["opml_files"] == expected["documents"]["opml_files"]
    assert documents["by_format"] == expected["documents"]["by_format"]
    assert first.summary["stages"]["extract_metadata"] == expected["extract_metadata"]
    repairs = first.summary["repairs"]
    for kind, at_least in expected["repairs_at_least"].items():
        assert repairs.get(kind, 0) >= at_least, repairs
    for prefix, at_least in expected["repairs_prefix_at_least"].items():
        assert sum(v for k, v in repairs.items() if k.startswith(prefix)) >= at_least, repairs


def test_first_run_clusters_the_wire_copies_and_the_rerun_adds_no_cluster(
    first: Snapshot, seeds_runs: SeedsRuns
) -> None:
    expected = load_expected("ingest_seeds.json")["story_clusters"]
    clusters = first.summary["clusters"]
    assert (clusters["cluster_rows"], clusters["clustered"]) == (expected["cluster_rows"], expected["clustered"])
    senate = [r for r in first.rows if (r["title"] or "").startswith("Senate ")]
    assert len(senate) == 2 and senate[0]["cluster_id"] == senate[1]["cluster_id"]
    assert senate[0]["cluster_id"] == min(r["article_id"] for r in senate)
    others = [r for r in first.rows if r not in senate]
    assert all(r["cluster_id"] == r["article_id"] and r["cluster_size"] == 1 for r in others)
    assert seeds_runs.second.summary["clusters"]["cluster_rows"] == 0
    assert len(list((seeds_runs.output / "clusters").rglob("*.parquet"))) == 1


def test_summary_counts_reconcile_and_equal_parquet_rows(first: Snapshot, seeds_runs: SeedsRuns) -> None:
    counts = first.summary["counts"]
    assert counts["read"] == counts["written"] + counts["duplicates"] + counts["dead_lettered"]
    assert counts["reconciled"] is True
    assert counts["written"] == len(first.rows) == len(first.duck_rows)
    assert counts["dead_lettered"] == len(first.dead)
    dead_pattern = str(seeds_runs.output / "dead_letter" / "**" / "*.parquet")
    # The dead-letter table after the rerun holds both runs' dead letters: count this run's.
    assert (
        duck_scalar(
            f"SELECT count(*) FROM read_parquet('{dead_pattern}', hive_partitioning = true) WHERE run_id = 'e2e-first'"
        )
        == counts["dead_lettered"]
    )
    expected = load_expected("ingest_seeds.json")
    assert len(first.rows) == expected["article_rows"]
    assert len(first.dead) == expected["dead_letter_rows"]


def test_pyarrow_and_duckdb_read_the_same_rows(first: Snapshot) -> None:
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        published = row["published_at"].astimezone(UTC).isoformat() if row["published_at"] else None
        return (
            row["article_id"],
            row["title"],
            row["text"],
            published,
            str(row["published_date"]),
            tuple(row["authors"]),
            row["language"],
            row["url"],
            row["word_count"],
        )

    assert sorted(map(key, first.rows), key=repr) == sorted(map(key, first.duck_rows), key=repr)


def test_one_row_per_article_id(first: Snapshot, seeds_runs: SeedsRuns) -> None:
    ids = [row["article_id"] for row in first.rows]
    assert len(ids) == len(set(ids))
    pattern = str(seeds_runs.output / "articles" / "**" / "*.parquet")
    repeated = duck_scalar(
        f"SELECT count(*) FROM (SELECT article_id FROM read_parquet('{pattern}', hive_partitioning = true) "
        "GROUP BY article_id HAVING count(*) > 1)"
    )
    assert repeated == 0


def test_parquet_is_zstd_and_schema_versioned(seeds_runs: SeedsRuns) -> None:
    files = parquet_files(seeds_runs.output / "articles") + parquet_files(seeds_runs.output / "dead_letter")
    assert files
    for path in files:
        parquet = pq.ParquetFile(path)
        metadata = parquet.metadata
        assert metadata.row_group(0).column(0).compression == "ZSTD", path
        for index in range(metadata.num_columns):
            assert metadata.row_group(0).column(index).compression == "ZSTD", (path, index)
        assert parquet.schema_arrow.metadata[b"newsbeam.schema_version"] == str(SCHEMA_VERSION).encode()


def test_partition_columns(first: Snapshot) -> None:
    today = ingest_date(first.rows)
    for row in first.rows:
        published = row["published_at"]
        expected = published.astimezone(UTC).date().isoformat() if published else today
        assert str(row["published_date"]) == expected, row["title"]
    for row in first.duck_rows:
        published = row["published_at"]
        expected = published.astimezone(UTC).date().isoformat() if published else today
        assert row["published_date"].isoformat() == expected, row["title"]
    for path in first.files:
        assert re.fullmatch(r"published_date=\d{4}-\d{2}-\d{2}", path.parent.name), path
        assert path.name.startswith("part-e2e-first-"), path
    # Files of sensible size: one file per partition here, not one per article.
    assert len(first.files) == len({path.parent for path in first.files})


def test_columns_and_types(first: Snapshot, seeds_runs: SeedsRuns) -> None:
    schema = pq.read_schema(first.files[0])
    assert str(schema.field("published_at").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("ingested_at").type) == "timestamp[us, tz=UTC]"
    for row in first.rows:
        assert row["schema_version"] == SCHEMA_VERSION
        assert row["run_id"] == "e2e-first"
        assert row["source_type"] in ("feed", "file")
        assert row["content_hash"] and len(row["content_hash"]) == 64
        assert row["word_count"] > 0
        assert not TAG_RE.search(row["text"]), row["title"]
        assert "\n\n\n" not in row["text"] and row["text"] == row["text"].strip()


def test_seed_article_is_repaired(seeds_runs: SeedsRuns) -> None:
    pattern = str(seeds_runs.output / "articles" / "**" / "*.parquet")
    con = duckdb.connect()
    try:
        title, dateline, text, language, repairs = con.execute(
            f"SELECT title, dateline, text, language, encoding.repairs FROM read_parquet('{pattern}', hive_partitioning = true) "
            "WHERE source LIKE '%000_74ba0ad98bda6786.txt'"
        ).fetchone()
    finally:
        con.close()
    assert title == "China, US in talks on military ties amid strained relations"
    assert dateline == "BEIJING"
    assert text.startswith("Defense officials")
    assert "â" not in text
    assert "the “continued provocation and containment” of China" in text
    assert "“considerable difficulties and challenges”" in text
    assert "“China’s sovereignty" in text and "any violation,” Wu said" in text
    assert "“The two sides reaffirmed" in text
    assert re.search(r"Indo-Pacific region, ?” ?he said", text)
    assert (
        "zero-sum game thinking, to revoke the mistaken decision to develop nuclear submarine cooperation,” Wu said"
        in text
    )
    # Already-right text stays exactly as it was.
    assert "the sides “exchanged in-depth views on relations" in text
    assert "People’s Liberation Army" in text
    assert language == "en"
    assert {r["kind"]: r["count"] for r in repairs} == {"lost_bytes:quote": 10}


# --------------------------------------------------------------------------
# Every expected article, duplicate and dead letter of seeds/_expected/
# --------------------------------------------------------------------------


def _expected_items(kind: str) -> list[Any]:
    params = []
    for path in expected_fixture_files():
        spec = json.loads(path.read_text(encoding="utf-8"))
        fixture = spec["fixture"]
        if kind == "dead_letters":
            for index, dead in enumerate(spec.get("dead_letters", [])):
                params.append(pytest.param(fixture, dead, id=f"{path.stem}:dead{index}"))
            continue
        for article in spec.get("articles", []):
            if (article["outcome"] == "written") == (kind == "written"):
                params.append(pytest.param(spec, article, id=f"{path.stem}:{article['key']}"))
    return params


def _row_for(rows: list[dict[str, Any]], source_suffix: str, title: str) -> dict[str, Any]:
    found = [r for r in rows if r["source"].endswith(source_suffix) and r["title"] == title]
    assert len(found) == 1, (
        f"{len(found)} rows titled {title!r} from {source_suffix}; rows from it: "
        f"{[r['title'] for r in rows if r['source'].endswith(source_suffix)]}"
    )
    return found[0]


def _iso(value: Any) -> Any:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


def _check_article(row: dict[str, Any], spec: dict[str, Any], article: dict[str, Any], today: str) -> None:
    title = article["title"]
    text = row["text"]
    simple = (
        "subtitle",
        "dateline",
        "published_raw",
        "published_offset_minutes",
        "language",
        "url",
        "guid",
        "source_domain",
        "source_type",
        "text",
    )
    for name in simple:
        if name in article:
            assert row[name] == article[name], f"{title}: {name}"
    for name in ("authors", "categories"):
        if name in article:
            assert list(row[name]) == article[name], f"{title}: {name}"
    if "published_at" in article:
        assert _iso(row["published_at"]) == article["published_at"], f"{title}: published_at"
    if "published_date" in article:
        expected_date = today if article["published_date"] == INGEST_DATE else article["published_date"]
        assert str(row["published_date"]) == expected_date, f"{title}: published_date"
    if "text_startswith" in article:
        assert text.startswith(article["text_startswith"]), f"{title}: text starts {text[:80]!r}"
    for fragment in article.get("text_contains", []):
        assert fragment in text, f"{title}: {fragment!r} not in text"
    for pattern in article.get("text_matches", []):
        assert re.search(pattern, text), f"{title}: /{pattern}/ not in text"
    for fragment in article.get("text_excludes", []):
        assert fragment not in text, f"{title}: {fragment!r} in text"
    if "paragraphs" in article:
        assert len(text.split("\n\n")) == article["paragraphs"], f"{title}: paragraphs"
    repairs = {r["kind"]: r["count"] for r in row["encoding"]["repairs"]}
    if "repairs" in article:
        assert repairs == article["repairs"], f"{title}: repairs"
    for prefix in article.get("repairs_include_prefix", []):
        assert any(k.startswith(prefix) for k in repairs), f"{title}: no {prefix} repair in {repairs}"
    for prefix in article.get("repairs_exclude_prefix", []):
        assert not any(k.startswith(prefix) for k in repairs), f"{title}: unexpected {prefix} repair in {repairs}"
    encoding = article.get("encoding") or spec.get("encoding")
    if encoding:
        assert same_codec(row["encoding"]["codec"], encoding["codec"]), f"{title}: codec {row['encoding']['codec']}"
        assert row["encoding"]["decode_path"] == encoding["decode_path"], f"{title}: decode_path"
        declared = row["encoding"]["declared"]
        assert (declared or "").lower() == (encoding["declared"] or "").lower(), f"{title}: declared {declared}"


@pytest.mark.parametrize(("spec", "article"), _expected_items("written"))
def test_expected_article(first: Snapshot, spec: dict[str, Any], article: dict[str, Any]) -> None:
    suffix = article.get("source_endswith", spec["fixture"])
    row = _row_for(first.rows, suffix, article["title"])
    _check_article(row, spec, article, ingest_date(first.rows))


@pytest.mark.parametrize(("spec", "article"), _expected_items("duplicate"))
def test_expected_duplicate_is_not_written(first: Snapshot, spec: dict[str, Any], article: dict[str, Any]) -> None:
    titles = [r["title"] for r in first.rows]
    kept_ref = article["duplicate_of"]
    if ":" in kept_ref:
        kept_file, kept_key = kept_ref.split(":")
        kept_spec = load_expected(f"{kept_file}.json")
    else:
        kept_spec, kept_key = spec, kept_ref
    kept = next(a for a in kept_spec["articles"] if a["key"] == kept_key)
    kept_row = _row_for(first.rows, kept.get("source_endswith", kept_spec["fixture"]), kept["title"])
    if article["title"] != kept["title"]:
        assert article["title"] not in titles
    # The kept copy is the only row with its id.
    assert sum(1 for r in first.rows if r["article_id"] == kept_row["article_id"]) == 1


@pytest.mark.parametrize(("fixture", "dead"), _expected_items("dead_letters"))
def test_expected_dead_letter(first: Snapshot, fixture: str, dead: dict[str, Any]) -> None:
    def matches(row: dict[str, Any]) -> bool:
        if "source" in dead:
            return row["source"] == dead["source"]
        return row["source"].endswith(dead.get("source_endswith", fixture))

    rows = [r for r in first.dead if matches(r) and r["stage"] == dead["stage"]]
    assert len(rows) == 1, [(r["stage"], r["source"], r["error_type"]) for r in first.dead]
    row = rows[0]
    assert row["error_type"] == dead["error_type"]
    assert row["run_id"] == "e2e-first"
    assert row["message"]
    assert row["time"] is not None
    assert (row["raw_bytes"] is None) != (row["raw_text"] is None), "exactly one raw payload"
    if "message_contains" in dead:
        assert dead["message_contains"] in row["message"]
    if "raw_text" in dead:
        assert row["raw_text"] == dead["raw_text"]
    if "raw_text_contains" in dead:
        assert dead["raw_text_contains"] in row["raw_text"]
    if dead.get("raw") == "bytes: the whole file":
        assert row["raw_bytes"] == (SEEDS / fixture).read_bytes()


@pytest.mark.parametrize("path", expected_fixture_files(), ids=lambda p: p.stem)
def test_fixture_counts_in_the_seeds_run(first: Snapshot, path: Path) -> None:
    """Each fixture's written rows and dead letters in the ingest of seeds/ (read per source is not counted)."""
    spec = json.loads(path.read_text(encoding="utf-8"))
    counts = spec.get("counts") or spec["counts_in_seeds_ingest"]
    assert counts["read"] == counts["written"] + counts["duplicates"] + counts["dead_lettered"]
    if "counts_in_seeds_ingest" in spec:  # the OPML: its rows carry the listed feeds' paths
        sources = [a.get("source_endswith", spec["fixture"]) for a in spec["articles"] if a["outcome"] == "written"]
        dead_sources = [d["source"] for d in spec["dead_letters"]]
    else:
        sources = [spec["fixture"]]
        dead_sources = [spec["fixture"]]
    written = [r for r in first.rows if any(r["source"].endswith(s) for s in sources)]
    dead = [d for d in first.dead if any(d["source"].endswith(s) for s in dead_sources)]
    assert len(written) == counts["written"]
    assert len(dead) == counts["dead_lettered"]


def test_opml_alone(tmp_path: Path) -> None:
    expected = load_expected("feeds__subscriptions.opml.json")
    output = tmp_path / "out"
    assert ingest([str(SEEDS / "feeds" / "subscriptions.opml")], output) == 0
    summary = run_summary(output)
    assert summary["counts"] == {**expected["counts_alone"], "reconciled": True}
    assert summary["documents"]["opml_files"] == 1
    assert sorted(r["title"] for r in read_articles_pyarrow(output)) == [
        "New footpath links the two villages",
        "Regional bus network adds three night routes",
        "Rowing club celebrates its centenary",
    ]


def test_every_written_row_is_expected(first: Snapshot) -> None:
    """No article appears that the expected files do not list (nothing invented, nothing split)."""
    expected_titles = set()
    for path in expected_fixture_files():
        for article in json.loads(path.read_text(encoding="utf-8")).get("articles", []):
            if article["outcome"] == "written":
                expected_titles.add(article["title"])
    assert {row["title"] for row in first.rows} == expected_titles


# --------------------------------------------------------------------------
# Rerun, failures, exit statuses
# --------------------------------------------------------------------------


def test_rerun_adds_no_rows_and_counts_duplicates(seeds_runs: SeedsRuns) -> None:
    expected = load_expected("ingest_seeds.json")["rerun_same_output"]
    second = seeds_runs.second
    assert second.code == 0
    counts = second.summary["counts"]
    assert counts == {
        k: expected[k] for k in ("read", "written", "duplicates", "dead_lettered", "skipped", "reconciled")
    }
    assert second.summary["duplicates"] == expected["duplicates_by_kind"]
    assert len(second.rows) == len(seeds_runs.first.rows) == expected["article_rows_after"]
    assert second.files == seeds_runs.first.files
    assert {r["article_id"] for r in second.rows} == {r["article_id"] for r in seeds_runs.first.rows}
    assert not (seeds_runs.output / "_staging").exists()
    # The rerun records its own dead letters (the same bad inputs failed again), so its summary still
    # equals its Parquet rows; the first run's dead letters are untouched.
    dead_by_run = {run: sum(1 for d in second.dead if d["run_id"] == run) for run in ("e2e-first", "e2e-second")}
    assert dead_by_run == {"e2e-first": expected["dead_lettered"], "e2e-second": expected["dead_lettered"]}


def test_trailing_slash_directory_is_read_recursively(tmp_path: Path) -> None:
    """``newsbeam ingest seeds/`` (what ``make run`` and the README run) must read the whole tree."""
    code = ingest([str(SEEDS) + "/"], tmp_path / "out")
    assert code == 0
    assert run_summary(tmp_path / "out")["counts"] == load_expected("ingest_seeds.json")["counts"]


def test_failed_run_publishes_nothing_and_exits_nonzero(tmp_path: Path) -> None:
    output = tmp_path / "out"
    assert ingest([str(SEEDS / "articles" / "wire_story.txt")], output, "--run-id", "good") == 0
    before = parquet_files(output / "articles")
    assert len(before) == 1
    # Staging is impossible: the staging folder's name is taken by a file.
    (output / "_staging").write_text("not a directory")
    code, out, err = ingest_capturing([str(SEEDS)], output, "--run-id", "doomed")
    assert code == 1
    assert "pipeline failed" in err
    assert "_staging" in err  # the reason names what could not be written
    assert parquet_files(output / "articles") == before
    assert not list((output / "dead_letter").rglob("*doomed*"))
    assert not (output / "runs" / "doomed.json").exists()


def test_output_that_is_a_file_fails_cleanly(tmp_path: Path) -> None:
    output = tmp_path / "a-file"
    output.write_text("occupied")
    code, _, err = ingest_capturing([str(SEEDS / "articles" / "wire_story.txt")], output)
    assert code == 1
    assert "pipeline failed" in err
    assert output.read_text() == "occupied"


def test_failure_while_publishing_leaves_no_partial_files(tmp_path: Path) -> None:
    """A publish that fails half-way must not leave the partitions it managed to move."""
    output = tmp_path / "out"
    # A stray file where one partition folder of this run must go: that move fails.
    blocked = output / "articles" / "published_date=2024-03-10"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("in the way")
    code, _, err = ingest_capturing([str(SEEDS)], output, "--run-id", "half")
    assert code == 1
    assert "pipeline failed" in err
    assert parquet_files(output / "articles") == []
    assert parquet_files(output / "dead_letter") == []


def test_max_dead_letter_ratio_exceeded_exits_3(tmp_path: Path) -> None:
    # seeds/articles: 11 records read, 2 dead-lettered (18 %).
    code, _, err = ingest_capturing([str(SEEDS / "articles")], tmp_path / "out", "--max-dead-letter-ratio", "0.1")
    assert code == 3
    assert "--max-dead-letter-ratio" in err
    summary = run_summary(tmp_path / "out")
    assert (summary["counts"]["read"], summary["counts"]["dead_lettered"]) == (11, 2)


def test_max_dead_letter_ratio_not_exceeded_exits_0(tmp_path: Path) -> None:
    # Exactly at the limit (2 of 11) is not over it.
    assert ingest([str(SEEDS / "articles")], tmp_path / "out", "--max-dead-letter-ratio", repr(2 / 11)) == 0
    assert run_summary(tmp_path / "out")["counts"]["dead_lettered"] == 2


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert main(["ingest", str(SEEDS / "articles"), "--runner", "DirectRunner"]) == 2
    assert main(["ingest", "--output", str(tmp_path / "out"), "--runner", "DirectRunner"]) == 2
    assert main(["ingest", str(SEEDS), "--output", str(tmp_path / "out"), "--max-dead-letter-ratio", "7"]) == 2
    err = io.StringIO()
    assert run_ingest([str(SEEDS)], ["--runner", "DirectRunner"], io.StringIO(), err) == 2
    assert "--output" in err.getvalue()
    assert not (tmp_path / "out").exists()


def test_missing_input_is_a_source_dead_letter_and_others_still_ingest(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-file.xml")
    output = tmp_path / "out"
    code = ingest([missing, str(SEEDS / "articles" / "wire_story.txt")], output, "--run-id", "partly")
    assert code == 0
    counts = run_summary(output)["counts"]
    assert counts == {"read": 2, "written": 1, "duplicates": 0, "dead_lettered": 1, "skipped": 0, "reconciled": True}
    assert run_summary(output)["dead_lettered_by_stage"] == {"source": 1}
    rows = read_articles_pyarrow(output)
    assert [r["title"] for r in rows] == ["Senate passes stopgap bill hours before shutdown deadline"]
    dead = read_dead_letters_pyarrow(output)
    assert len(dead) == 1
    assert (dead[0]["stage"], dead[0]["error_type"], dead[0]["source"]) == ("source", "InputNotFound", missing)
    assert missing in dead[0]["message"]
    assert dead[0]["raw_text"] == missing


def test_expected_files_are_valid_json() -> None:
    names = {p.name for p in EXPECTED.glob("*.json")}
    assert "ingest_seeds.json" in names and "000_74ba0ad98bda6786.txt.json" in names
    for path in EXPECTED.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
