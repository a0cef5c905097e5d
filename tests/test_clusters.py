"""Story clusters: the pure pieces, then real ingests across runs and a real stream.

Texts are generated (seeded, deterministic) from a word list, so that edited
copies and different stories have known overlaps; the realistic fixtures and
the quality figures are in tests/test_clusters_quality.py and
bench/cluster_bench.py.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from apache_beam.utils.timestamp import Timestamp
from feedserver import FeedServer, rss, static

from pipeline.cli import main
from pipeline.run import run_stream
from schemas import CLUSTER_RULE, CLUSTER_SCHEMA, ClusterMember, StoryCluster
from transforms.clusters import (
    MIN_WORDS,
    THRESHOLD,
    alias_map,
    band_keys,
    cluster_words,
    components_in_group,
    exact_key,
    lookback_start,
    lsh_bands,
    partition_is_recent,
    resolve_clusters,
    shingles,
    sign_article,
    signature,
    similarity,
)

_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "de", "pa", "gu", "ri", "fo", "be", "zu", "ha"]


def _vocabulary(size: int = 4000) -> list[str]:
    rng = random.Random("vocabulary")
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


VOCABULARY = _vocabulary()


def paragraphs(story: str, count: int = 10, words: int = 40) -> list[str]:
    """A story's paragraphs: ``count`` of ``words`` words each, the same for the same ``story``."""
    rng = random.Random(f"story:{story}")
    return [" ".join(rng.choice(VOCABULARY) for _ in range(words)) + "." for _ in range(count)]


def text_of(parts: list[str]) -> str:
    return "\n\n".join(parts)


# --------------------------------------------------------------------------
# Pure functions
# --------------------------------------------------------------------------


def test_shingles_are_runs_of_five_folded_words() -> None:
    words = cluster_words("Élan  Vital!", "The QUICK brown fox, jumps.")
    assert words == ["elan", "vital", "the", "quick", "brown", "fox", "jumps"]
    assert shingles(words) == ["elan vital the quick brown", "vital the quick brown fox", "the quick brown fox jumps"]
    assert shingles(["a", "b"]) == ["a b"]
    assert shingles([]) == []


def test_signature_is_deterministic_and_estimates_jaccard() -> None:
    base = paragraphs("a")
    copy = base[:8]  # two paragraphs cut: about 8/10 of the shingles shared
    first = signature(shingles(cluster_words(None, text_of(base))))
    again = signature(shingles(cluster_words(None, text_of(base))))
    edited = signature(shingles(cluster_words(None, text_of(copy))))
    other = signature(shingles(cluster_words(None, text_of(paragraphs("b")))))
    assert first == again and len(first) == 128 * 4
    assert similarity(first, again) == 1.0
    assert 0.65 <= similarity(first, edited) <= 0.95
    assert similarity(first, other) < 0.1
    assert similarity(first, b"") == 0.0


def test_short_texts_get_no_signature() -> None:
    short = " ".join(VOCABULARY[: MIN_WORDS - 5])
    assert sign_article("Title", short, MIN_WORDS) is None
    assert sign_article("Title", text_of(paragraphs("a")), MIN_WORDS) is not None


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.6, 0.7, 0.8, 0.9])
def test_bands_find_pairs_at_the_threshold(threshold: float) -> None:
    bands, rows = lsh_bands(threshold)
    assert bands * rows <= 128
    assert 1.0 - (1.0 - threshold**rows) ** bands >= 0.95
    # and no fewer rows than needed: one more row per band would miss more than 5% at the threshold
    more = rows + 1
    assert 1.0 - (1.0 - threshold**more) ** (128 // more) < 0.95


def test_band_keys_meet_for_copies_and_not_for_other_stories() -> None:
    bands, rows = lsh_bands(THRESHOLD)
    base = sign_article("T", text_of(paragraphs("a")), MIN_WORDS)
    copy = sign_article("T changed", text_of(paragraphs("a")[:9]), MIN_WORDS)
    other = sign_article("T", text_of(paragraphs("b")), MIN_WORDS)
    assert base and copy and other
    keys = set(band_keys(base, bands, rows))
    assert len(keys) == bands
    assert keys & set(band_keys(copy, bands, rows))
    assert not keys & set(band_keys(other, bands, rows))
    assert exact_key("abc") != exact_key("abd")


def member(
    article_id: str, minhash: bytes | None, new: bool = True, cluster: str | None = None, **kw: Any
) -> ClusterMember:
    return ClusterMember(
        article_id=article_id,
        cluster_id=cluster,
        minhash=minhash,
        seen=kw.get("seen", Timestamp(1_700_000_000)),
        source_domain=kw.get("domain", "a.example"),
        title=kw.get("title", f"title {article_id}"),
        is_new=new,
    )


def test_components_in_group_verify_candidates() -> None:
    a = sign_article(None, text_of(paragraphs("a")), MIN_WORDS)
    a2 = sign_article(None, text_of(paragraphs("a")[1:]), MIN_WORDS)
    b = sign_article(None, text_of(paragraphs("b")), MIN_WORDS)
    groups = components_in_group([member("n1", a), member("n2", b), member("n3", a2)], THRESHOLD)
    assert [[m.article_id for m in g] for g in groups] == [["n1", "n3"]]
    assert all(m.minhash is None for g in groups for m in g)  # signatures do not travel further
    # past members only: nothing to do here
    assert components_in_group([member("p1", a, new=False), member("p2", a2, new=False)], THRESHOLD) == []


def _row(cluster_id: str, size: int, merged: list[str] | None = None, at: int = 1) -> StoryCluster:
    return StoryCluster(
        cluster_id=cluster_id,
        size=size,
        first_seen=Timestamp(100),
        last_seen=Timestamp(200),
        sources=["old.example"],
        title=f"title {cluster_id}",
        merged_ids=merged or [],
        run_id=f"r{at}",
        updated_at=Timestamp(at),
        cluster_rule=np.int32(CLUSTER_RULE),
    )


def test_resolve_keeps_the_id_of_an_earlier_cluster_and_counts_its_members() -> None:
    groups = [[member("p9", None, new=False, cluster="c5"), member("n1", None, domain="new.example")]]
    assignments, rows = resolve_clusters(groups, [_row("c5", 3, at=1), _row("c5", 4, at=2)], "run", Timestamp(5))
    assert assignments == {"n1": ("c5", 5)}
    (row,) = rows
    assert (row.cluster_id, row.size, row.title, row.merged_ids) == ("c5", 5, "title c5", [])
    assert row.sources == ["a.example", "new.example", "old.example"]


def test_resolve_a_new_cluster_takes_its_smallest_id() -> None:
    groups = [[member("n7", None), member("n3", None)], [member("n3", None), member("n5", None)]]
    assignments, rows = resolve_clusters(groups, [], "run", Timestamp(5))
    assert assignments == {"n3": ("n3", 3), "n5": ("n3", 3), "n7": ("n3", 3)}
    assert rows[0].title == "title n3"


def test_resolve_merges_two_earlier_clusters_under_the_smaller_id() -> None:
    groups = [
        [member("p1", None, new=False, cluster="c2"), member("n1", None)],
        [member("p8", None, new=False, cluster="c1"), member("n1", None)],
        [member("s4", None, new=False, cluster="s4"), member("n1", None)],  # a past singleton
    ]
    assignments, rows = resolve_clusters(groups, [_row("c1", 2), _row("c2", 3)], "run", Timestamp(5))
    assert assignments == {"n1": ("c1", 2 + 3 + 1 + 1)}
    assert rows[0].merged_ids == ["c2", "s4"]


def test_aliases_follow_chains_of_merges() -> None:
    rows = [_row("b", 2, merged=["c"]), _row("a", 4, merged=["b"])]
    assert alias_map(rows) == {"c": "a", "b": "a"}
    # a member of merged cluster c joins a's cluster, counted once with it
    assignments, _ = resolve_clusters(
        [[member("p", None, new=False, cluster="c"), member("n", None)]], [*rows, _row("c", 2)], "run", Timestamp(9)
    )
    assert assignments == {"n": ("a", 5)}


def test_lookback_reads_only_recent_partitions() -> None:
    start = lookback_start(Timestamp.from_utc_datetime(dt.datetime(2024, 3, 31, tzinfo=dt.UTC)), 30)
    assert start == dt.date(2024, 3, 1)
    assert partition_is_recent("/o/articles/published_date=2024-03-01/part.parquet", start)
    assert not partition_is_recent("/o/articles/published_date=2024-02-29/part.parquet", start)
    assert partition_is_recent("/o/articles/other/part.parquet", start)
    assert lookback_start(Timestamp(0), 0) is None


# --------------------------------------------------------------------------
# Real ingests
# --------------------------------------------------------------------------

DAY = "2024-03-18T{:02d}:00:00Z"


def record(story_parts: list[str], title: str, url: str, hour: int = 8) -> dict[str, Any]:
    return {"title": title, "text": text_of(story_parts), "url": url, "published_at": DAY.format(hour)}


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


def ingest(inputs: list[str], output: Path, run_id: str, *extra: str) -> int:
    return main(
        [
            "ingest",
            *inputs,
            "--output",
            str(output),
            "--runner",
            "DirectRunner",
            "--run-id",
            run_id,
            "--entities",
            "off",
            "--full-text",
            "off",
            "--progress-seconds",
            "0",
            *extra,
        ]
    )


def articles(output: Path) -> dict[str, dict[str, Any]]:
    rows = duckdb.sql(
        f"SELECT url, article_id, cluster_id, cluster_size, minhash, cluster_rule, run_id, title "
        f"FROM read_parquet('{output}/articles/**/*.parquet', union_by_name=true)"
    ).fetchall()
    keys = ["article_id", "cluster_id", "cluster_size", "minhash", "cluster_rule", "run_id", "title"]
    return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}


def cluster_rows(output: Path) -> list[dict[str, Any]]:
    files = sorted((output / "clusters").rglob("*.parquet"))
    for file in files:
        assert pq.read_schema(file).remove_metadata() == CLUSTER_SCHEMA.remove_metadata()
    if not files:
        return []
    relation = duckdb.sql(
        f"SELECT * FROM read_parquet('{output}/clusters/**/*.parquet') ORDER BY updated_at, cluster_id"
    )
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


A, B, C = paragraphs("wire-a"), paragraphs("wire-b"), paragraphs("local-c")
TEASER = "Council approves the new harbour bridge budget after a long night of debate."


def first_run_records() -> list[dict[str, Any]]:
    return [
        record(A, "Storm closes ports along the coast", "https://one.example/a"),
        record(A[:9], "Ports shut as storm hits", "https://two.example/storm", 9),  # headline changed, paragraph cut
        record(
            ["WASHINGTON (AP) - " + A[0], *A[1:], "Correction: an earlier version misspelled a name."],
            "Storm closes ports",
            "https://three.example/x/1",
            10,
        ),  # dateline and correction
        record(B, "Election count continues", "https://one.example/b"),
        record(B[:5] + paragraphs("wire-b-other")[:5], "Election count continues", "https://two.example/b"),  # half
        record(C, "Library reopens", "https://four.example/c"),
        {"title": "Bridge budget", "text": TEASER, "url": "https://one.example/teaser"},
        {"title": "Bridge budget", "text": TEASER, "url": "https://one.example/teaser?copy=2"},  # same text, 2nd URL
        {"title": "Bridge budget", "text": "Another short note on the same bridge.", "url": "https://five.example/t"},
    ]


@pytest.mark.slow
def test_clusters_across_runs_with_stable_ids_merges_and_no_change_on_rerun(tmp_path: Path) -> None:
    output = tmp_path / "out"
    first = write_jsonl(tmp_path / "first.jsonl", first_run_records())
    assert ingest([first], output, "run1") == 0
    rows = articles(output)
    storm = [rows[u] for u in ("https://one.example/a", "https://two.example/storm", "https://three.example/x/1")]
    storm_id = min(r["article_id"] for r in storm)
    assert {r["cluster_id"] for r in storm} == {storm_id}
    assert {r["cluster_size"] for r in storm} == {3}
    # half of story b is not the same story at the default threshold
    assert rows["https://one.example/b"]["cluster_id"] != rows["https://two.example/b"]["cluster_id"]
    for url in ("https://one.example/b", "https://two.example/b", "https://four.example/c"):
        assert (rows[url]["cluster_id"], rows[url]["cluster_size"]) == (rows[url]["article_id"], 1)
    teasers = [rows["https://one.example/teaser"], rows["https://one.example/teaser?copy=2"]]
    assert teasers[0]["cluster_id"] == teasers[1]["cluster_id"] == min(t["article_id"] for t in teasers)
    assert all(t["minhash"] is None for t in teasers)  # too short: matched on identical content only
    other = rows["https://five.example/t"]
    assert other["cluster_id"] == other["article_id"]  # same headline, different teaser: not merged
    assert all(r["cluster_rule"] == CLUSTER_RULE for r in rows.values())
    assert all(len(r["minhash"]) == 512 for r in storm)
    table = cluster_rows(output)
    assert {(r["cluster_id"], r["size"]) for r in table} == {(storm_id, 3), (teasers[0]["cluster_id"], 2)}
    storm_row = next(r for r in table if r["cluster_id"] == storm_id)
    assert storm_row["sources"] == ["one.example", "three.example", "two.example"]
    assert storm_row["title"] == next(r["title"] for r in storm if r["article_id"] == storm_id)
    summary = json.loads((output / "runs" / "run1.json").read_text())
    assert summary["counts"]["reconciled"]
    assert summary["clusters"]["clustered"] == 5 and summary["clusters"]["cluster_rows"] == 2

    # Run 2: a later copy of the storm story joins its cluster; its id does not change.
    second = write_jsonl(
        tmp_path / "second.jsonl",
        [
            record(
                A[1:] + ["Update: the ports reopened on Tuesday morning after the storm passed."],
                "Ports reopen after storm",
                "https://six.example/storm-update",
                12,
            ),
            record(B[3:] + paragraphs("wire-b")[:1], "Count goes on", "https://six.example/b", 12),  # joins b alone
        ],
    )
    assert ingest([second], output, "run2") == 0
    rows = articles(output)
    update = rows["https://six.example/storm-update"]
    assert (update["cluster_id"], update["cluster_size"]) == (storm_id, 4)
    assert rows["https://one.example/a"]["cluster_id"] == storm_id  # rows written before are unchanged
    b_one = rows["https://one.example/b"]
    assert rows["https://six.example/b"]["cluster_id"] == b_one["article_id"]  # a past singleton keeps its id
    clusters = json.loads((output / "runs" / "run2.json").read_text())["clusters"]
    assert clusters["past_members"] == 9  # every article of run 1 is within the lookback
    assert clusters["past_candidates"] == 4  # the three storm copies and one.example/b: no other shares a key
    latest = {r["cluster_id"]: r for r in cluster_rows(output) if r["run_id"] == "run2"}
    assert latest[storm_id]["size"] == 4 and "six.example" in latest[storm_id]["sources"]
    assert latest[b_one["article_id"]]["size"] == 2

    # A re-run of both inputs adds no article and no cluster row.
    before = (len(rows), len(cluster_rows(output)))
    assert ingest([first, second], output, "run3") == 0
    assert (len(articles(output)), len(cluster_rows(output))) == before


@pytest.mark.slow
def test_a_new_article_joining_two_clusters_merges_them(tmp_path: Path) -> None:
    x, y = paragraphs("merge")[:10], paragraphs("merge", 16)[6:16]
    whole = paragraphs("merge", 16)
    assert x == whole[:10] and y == whole[6:]
    output = tmp_path / "out"
    first = write_jsonl(
        tmp_path / "first.jsonl",
        [
            record(x, "First half", "https://one.example/x"),
            record(x[:9], "First half again", "https://two.example/x"),
            record(y, "Second half", "https://one.example/y"),
            record(y[1:], "Second half again", "https://two.example/y"),
        ],
    )
    assert ingest([first], output, "run1") == 0
    rows = articles(output)
    x_id, y_id = rows["https://one.example/x"]["cluster_id"], rows["https://one.example/y"]["cluster_id"]
    assert x_id != y_id
    bridge = write_jsonl(tmp_path / "bridge.jsonl", [record(whole[3:13], "Both halves", "https://three.example/m")])
    assert ingest([bridge], output, "run2") == 0
    bridge_row = articles(output)["https://three.example/m"]
    assert (bridge_row["cluster_id"], bridge_row["cluster_size"]) == (min(x_id, y_id), 5)
    (row,) = [r for r in cluster_rows(output) if r["run_id"] == "run2"]
    assert row["merged_ids"] == [max(x_id, y_id)] and row["size"] == 5


@pytest.mark.slow
def test_clusters_off_leaves_the_columns_null(tmp_path: Path) -> None:
    output = tmp_path / "out"
    assert ingest([write_jsonl(tmp_path / "in.jsonl", first_run_records())], output, "off", "--clusters", "off") == 0
    rows = articles(output)
    assert rows and all(r["cluster_id"] is None and r["minhash"] is None for r in rows.values())
    assert not (output / "clusters").exists()


@pytest.mark.slow
def test_older_rows_without_signatures_are_signed_again(tmp_path: Path) -> None:
    """Rows written with clusters off (as before schema 4) still get matched by a later run."""
    output = tmp_path / "out"
    assert ingest([write_jsonl(tmp_path / "a.jsonl", first_run_records()[:1])], output, "old", "--clusters", "off") == 0
    old = articles(output)["https://one.example/a"]
    assert old["minhash"] is None
    assert ingest([write_jsonl(tmp_path / "b.jsonl", first_run_records()[1:2])], output, "new") == 0
    new = articles(output)["https://two.example/storm"]
    assert (new["cluster_id"], new["cluster_size"]) == (old["article_id"], 2)


# --------------------------------------------------------------------------
# A real stream
# --------------------------------------------------------------------------


def _item(story: list[str], title: str, link: str, minutes: int) -> dict[str, Any]:
    return {
        "title": title,
        "link": link,
        "guid": link,
        "content": "".join(f"<p>{p}</p>" for p in story),
        "pub_date": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes),
    }


@pytest.mark.slow
def test_stream_joins_clusters_of_a_batch_run_and_of_its_own_polls(tmp_path: Path) -> None:
    output = tmp_path / "out"
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:00:00Z")
    batch = write_jsonl(
        tmp_path / "batch.jsonl",
        [{**record(A, "Storm closes ports", "https://one.example/a"), "published_at": now}],
    )
    assert ingest([batch], output, "batch") == 0
    batch_id = articles(output)["https://one.example/a"]["article_id"]
    with FeedServer() as server:
        feed = rss(
            [
                _item(A[:9], "Ports shut", "https://two.example/storm", 30),
                _item(C, "Library reopens", "https://four.example/c", 20),
            ]
        )
        later = rss(
            [
                _item(A[:9], "Ports shut", "https://two.example/storm", 30),
                _item(C, "Library reopens", "https://four.example/c", 20),
                _item(C[1:], "Library doors open again", "https://five.example/c", 5),
            ]
        )
        route = server.route("/feed.xml", static(feed))

        def change_feed() -> None:
            time.sleep(4)
            server.route("/feed.xml", static(later))

        changer = threading.Thread(target=change_feed, daemon=True)
        changer.start()
        err = io.StringIO()
        code = run_stream(
            [route],
            [
                "--output",
                str(output),
                "--runner",
                "DirectRunner",
                "--entities",
                "off",
                "--full-text",
                "off",
                "--allow-private-hosts",
                "--per-host-delay",
                "0",
                "--poll-interval",
                "2",
                "--window",
                "2",
                "--stop-after",
                "9",
                "--run-id",
                "stream",
            ],
            io.StringIO(),
            err,
        )
        changer.join()
    assert code == 0, err.getvalue()
    rows = articles(output)
    storm = rows["https://two.example/storm"]
    assert (storm["cluster_id"], storm["cluster_size"]) == (batch_id, 2)
    library = rows["https://four.example/c"]
    assert library["cluster_id"] == library["article_id"]
    copy = rows["https://five.example/c"]
    assert (copy["cluster_id"], copy["cluster_size"]) == (library["article_id"], 2)
    table = {r["cluster_id"]: r for r in cluster_rows(output)}
    assert table[batch_id]["size"] == 2 and table[library["article_id"]]["size"] == 2


def test_short_texts_cluster_only_on_identical_content_with_some_text() -> None:
    from transforms.clusters import MIN_EXACT_WORDS, exact_hash

    assert exact_hash("h", MIN_EXACT_WORDS) == "h"
    assert exact_hash("h", MIN_EXACT_WORDS - 1) is None  # a headline over a one-line text: no cluster at all
    assert exact_hash(None, 100) is None


def test_past_articles_travel_only_under_keys_new_articles_have() -> None:
    from transforms.clusters import KeySet, shared_keys

    combine = KeySet()
    accumulator = combine.merge_accumulators(
        [combine.add_input(combine.create_accumulator(), k) for k in (5, 3, 2**62, 3)]
    )
    wanted = combine.extract_output(accumulator)
    assert wanted.tolist() == [3, 5, 2**62]
    assert shared_keys([1, 3, 4, 2**62, 9], wanted) == [3, 2**62]
    assert shared_keys([1, 2], combine.extract_output(set())) == []
    bands, rows = lsh_bands(THRESHOLD)
    keys = band_keys(sign_article(None, text_of(paragraphs("a")), MIN_WORDS) or b"", bands, rows)
    assert all(0 <= k < 2**63 for k in keys)  # fits the int64 array
