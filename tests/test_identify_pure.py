"""Identify's plain functions, called directly: which copy of a duplicate is kept, and the ids a file stands for.

``preference`` and ``ids_in_file`` are otherwise reached only through
pipelines (``Deduplicate``, ``ReadExistingIds`` in ``test_identify_transform.py``
and ``test_identify_rerun.py``).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.utils.timestamp import Timestamp
from support import blank_article

from schemas import Article
from schemas.records import ID_RULE
from transforms.identify import UnreadableFile, ids_in_file, preference, url_id


def kept(*copies: Article) -> Article:
    return min(copies, key=preference)


def test_a_dated_copy_is_kept_over_a_fuller_undated_one() -> None:
    dated = blank_article(source="a", text="short", published_at=Timestamp(1))
    undated = blank_article(source="b", text="a much longer text than the dated copy has", authors=["X", "Y"])
    assert kept(undated, dated) is dated


def test_then_the_longest_text_then_the_most_authors() -> None:
    longer = blank_article(source="b", text="twelve chars")
    shorter = blank_article(source="a", text="eleven char", authors=["X", "Y"])
    assert kept(shorter, longer) is longer
    more_authors = blank_article(source="b", text="same", authors=["X", "Y"])
    fewer_authors = blank_article(source="a", text="same", authors=["X"])
    assert kept(fewer_authors, more_authors) is more_authors


def test_equal_copies_are_told_apart_by_source_guid_and_hash_whatever_their_order() -> None:
    copies = [
        blank_article(source="feed-b", guid="1", content_hash="0"),
        blank_article(source="feed-a", guid="2", content_hash="1"),
        blank_article(source="feed-a", guid=None, content_hash="2"),
        blank_article(source="feed-a", guid=None, content_hash="1"),
    ]
    expected = copies[3]
    assert kept(*copies) is expected and kept(*reversed(copies)) is expected


# --------------------------------------------------------------------------
# ids_in_file
# --------------------------------------------------------------------------


def parquet(path: Path, columns: dict[str, pa.Array]) -> pq.ParquetFile:
    pq.write_table(pa.table(columns), path)
    return pq.ParquetFile(path)


def test_a_file_of_the_current_rule_stands_for_its_stored_ids(tmp_path: Path) -> None:
    file = parquet(
        tmp_path / "now.parquet",
        {
            "article_id": pa.array(["id-1", None, "id-2"]),
            "id_rule": pa.array([ID_RULE] * 3, pa.int32()),
            "url": pa.array(["https://site.example/a", None, "https://site.example/b"]),
        },
    )
    assert ids_in_file(file) == (["id-1", "id-2"], [])  # a null id stands for nothing


def test_rows_of_an_older_rule_also_stand_for_their_current_ids(tmp_path: Path) -> None:
    link = "https://site.example/story?utm_source=feed"
    file = parquet(
        tmp_path / "old.parquet",  # schema 2: no id_rule column, every row is rule 1
        {"article_id": pa.array(["old-1", "old-2", "old-3"]), "url": pa.array([link, None, "not a url"])},
    )
    ids, recomputed = ids_in_file(file)
    assert ids == ["old-1", "old-2", "old-3"]
    assert recomputed == [url_id(link)]  # rows without a usable url keep only their stored id


def test_a_row_whose_id_the_current_rule_keeps_is_not_listed_twice(tmp_path: Path) -> None:
    link = "https://site.example/story"
    file = parquet(
        tmp_path / "mixed.parquet",
        {
            "article_id": pa.array([url_id(link), "old-2"]),
            "id_rule": pa.array([1, ID_RULE], pa.int32()),
            "url": pa.array([link, "https://site.example/other"]),
        },
    )
    assert ids_in_file(file) == ([url_id(link), "old-2"], [])


@pytest.mark.parametrize(
    ("columns", "named"),
    [
        ({"title": pa.array(["x"])}, "columns: title"),
        ({"article_id": pa.array([1], pa.int64()), "url": pa.array(["u"])}, "columns: article_id, url"),
    ],
    ids=["no-article-id", "article-id-not-text"],
)
def test_a_file_newsbeam_could_not_have_written_is_unreadable(
    tmp_path: Path, columns: dict[str, pa.Array], named: str
) -> None:
    with pytest.raises(UnreadableFile, match=named):
        ids_in_file(parquet(tmp_path / "other.parquet", columns))
