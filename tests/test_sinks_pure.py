"""The sink's plain functions, called directly: partition keys, publishing, and recovery after a dead run.

The pipeline tests (``test_sinks_transform.py``) and the CLI tests
(``test_output_dir.py``: a run killed while publishing, an interrupted run)
reach these only through a whole run; here each contract is checked on real
files in a temporary folder, fast.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, Optional, Sequence

import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystem import BeamIOError
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Timestamp

from schemas import arrow_schema, to_arrow_table
from transforms.sinks import (
    CHUNK_ROWS,
    JOURNAL,
    RUN_MARKER,
    STAGING,
    WRITE_OPTIONS,
    date_key,
    plausible,
    publish,
    recover_staging,
    staged_runs,
    write_records,
    write_run_marker,
    write_table,
)


def moment(year: int, month: int = 1, day: int = 1) -> Timestamp:
    return Timestamp.from_utc_datetime(datetime(year, month, day, tzinfo=UTC))


# --------------------------------------------------------------------------
# Partition keys
# --------------------------------------------------------------------------


def test_date_key_always_has_a_four_digit_year() -> None:
    assert date_key(moment(2024, 3, 5)) == "2024-03-05"
    assert date_key(moment(999, 12, 31)) == "0999-12-31"  # still typed as a date by every reader


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (None, False),
        (moment(1799, 12, 31), False),
        (moment(1800), True),
        (moment(2199, 12, 31), True),
        (moment(2200), False),
        (moment(1), False),
        (MAX_TIMESTAMP, False),  # beyond Python's dates: refused, not an overflow
    ],
)
def test_plausible_publication_years(when: Timestamp | None, expected: bool) -> None:
    assert plausible(when) is expected


# --------------------------------------------------------------------------
# Publishing: all or nothing
# --------------------------------------------------------------------------


def staged(root: Path, *names: str) -> dict[str, Path]:
    files = {}
    for name in names:
        path = root / STAGING / "run-1" / "articles" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
        files[name] = path
    return files


def test_publish_moves_every_file_creates_the_folders_and_removes_the_staging(tmp_path: Path) -> None:
    files = staged(tmp_path, "a.parquet", "b.parquet")
    moves = [
        (str(files["b.parquet"]), str(tmp_path / "articles" / "published_date=2024-03-06" / "b.parquet")),
        (str(files["a.parquet"]), str(tmp_path / "articles" / "published_date=2024-03-05" / "a.parquet")),
    ]
    assert publish(None, moves, str(tmp_path / STAGING / "run-1")) == 2
    assert (tmp_path / "articles" / "published_date=2024-03-05" / "a.parquet").read_bytes() == b"a.parquet"
    assert (tmp_path / "articles" / "published_date=2024-03-06" / "b.parquet").read_bytes() == b"b.parquet"
    assert not (tmp_path / STAGING).exists()  # no other run was staging: the folder goes too


def test_publish_keeps_the_staging_folder_of_another_run(tmp_path: Path) -> None:
    files = staged(tmp_path, "a.parquet")
    other = tmp_path / STAGING / "run-2" / "part.parquet"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"other")
    publish(
        None, [(str(files["a.parquet"]), str(tmp_path / "articles" / "a.parquet"))], str(tmp_path / STAGING / "run-1")
    )
    assert not (tmp_path / STAGING / "run-1").exists()
    assert other.read_bytes() == b"other"


def test_a_failed_move_puts_back_what_was_moved_and_drops_the_journal(tmp_path: Path) -> None:
    files = staged(tmp_path, "a.parquet")
    missing = tmp_path / STAGING / "run-1" / "articles" / "b.parquet"  # never written: its move fails
    first = tmp_path / "articles" / "d=1" / "a.parquet"
    moves = [(str(files["a.parquet"]), str(first)), (str(missing), str(tmp_path / "articles" / "d=2" / "b.parquet"))]
    with pytest.raises(BeamIOError):  # the filesystem's error, raised again once the moves are undone
        publish(None, moves, str(tmp_path / STAGING / "run-1"))
    assert not first.exists()
    assert files["a.parquet"].read_bytes() == b"a.parquet"  # back where it was staged
    assert not (tmp_path / STAGING / "run-1" / JOURNAL).exists()


def test_a_target_folder_that_is_a_file_stops_publishing_before_any_move(tmp_path: Path) -> None:
    files = staged(tmp_path, "a.parquet", "b.parquet")
    blocked = tmp_path / "articles" / "published_date=2024-03-06"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("in the way")
    moves = [
        (str(files["a.parquet"]), str(tmp_path / "articles" / "published_date=2024-03-05" / "a.parquet")),
        (str(files["b.parquet"]), str(blocked / "b.parquet")),
    ]
    with pytest.raises(NotADirectoryError, match="published_date=2024-03-06"):
        publish(None, moves, str(tmp_path / STAGING / "run-1"))
    assert all(path.exists() for path in files.values())
    assert not (tmp_path / "articles" / "published_date=2024-03-05" / "a.parquet").exists()
    assert not (tmp_path / STAGING / "run-1" / JOURNAL).exists()


# --------------------------------------------------------------------------
# What a dead run left under _staging/
# --------------------------------------------------------------------------


def test_staged_runs_are_the_folders_under_staging(tmp_path: Path) -> None:
    assert staged_runs(str(tmp_path)) == []
    for run in ("run-b", "run-a"):
        (tmp_path / STAGING / run).mkdir(parents=True)
    (tmp_path / STAGING / "stray.txt").write_text("not a run")
    assert staged_runs(str(tmp_path)) == ["run-a", "run-b"]


def test_the_run_marker_says_who_is_staging(tmp_path: Path) -> None:
    write_run_marker(str(tmp_path), "run-1", {"run_id": "run-1", "pid": 42, "host": "here"})
    marker = tmp_path / STAGING / "run-1" / RUN_MARKER
    assert json.loads(marker.read_text()) == {"run_id": "run-1", "pid": 42, "host": "here"}
    assert staged_runs(str(tmp_path)) == ["run-1"]


def test_a_run_that_died_before_publishing_is_removed(tmp_path: Path) -> None:
    staged(tmp_path, "a.parquet", "b.parquet")
    write_run_marker(str(tmp_path), "run-1", {"run_id": "run-1"})
    done = recover_staging(str(tmp_path), "run-1")
    assert done == {"run_id": "run-1", "action": "removed_unpublished", "files": 3}
    assert not (tmp_path / STAGING).exists()
    assert not (tmp_path / "articles").exists() and not (tmp_path / "runs").exists()


def journalled_run(root: Path) -> tuple[dict[str, Path], list[tuple[Path, Path]]]:
    """A run that wrote its journal, then died after its first move."""
    files = staged(root, "a.parquet", "b.parquet", "c.parquet")
    moves = [(files[name], root / "articles" / f"d={name[0]}" / name) for name in sorted(files)]
    (root / STAGING / "run-1" / JOURNAL).write_text(json.dumps({"moves": [[str(s), str(f)] for s, f in moves]}))
    moves[0][1].parent.mkdir(parents=True)
    moves[0][0].rename(moves[0][1])
    return files, moves


def test_a_run_that_died_while_publishing_is_completed(tmp_path: Path) -> None:
    _, moves = journalled_run(tmp_path)
    done = recover_staging(str(tmp_path), "run-1")
    assert done == {"run_id": "run-1", "action": "completed_publishing", "files": 3, "completed_moves": 2}
    assert [final.read_bytes() for _, final in moves] == [b"a.parquet", b"b.parquet", b"c.parquet"]
    assert not (tmp_path / STAGING).exists()
    summary = json.loads((tmp_path / "runs" / "run-1.json").read_text())
    assert summary["state"] == "RECOVERED" and (summary["files"], summary["completed_moves"]) == (3, 2)


def test_a_staged_file_replaces_a_partial_one_at_its_final_path(tmp_path: Path) -> None:
    _, moves = journalled_run(tmp_path)
    moves[1][1].parent.mkdir(parents=True)
    moves[1][1].write_bytes(b"half")  # the move was under way when the run died
    recover_staging(str(tmp_path), "run-1")
    assert moves[1][1].read_bytes() == b"b.parquet"


def test_recovery_keeps_a_summary_the_run_had_written(tmp_path: Path) -> None:
    journalled_run(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "run-1.json").write_text('{"run_id": "run-1", "state": "DONE"}')
    recover_staging(str(tmp_path), "run-1")
    assert json.loads((tmp_path / "runs" / "run-1.json").read_text())["state"] == "DONE"


# --------------------------------------------------------------------------
# Writing a file as its records come
# --------------------------------------------------------------------------


#: Declared in the call form: this module's annotations are strings, which Beam's schemas do not read.
Row = NamedTuple("Row", [("n", int), ("text", Optional[str]), ("tags", Sequence[str])])  # noqa: UP014


@pytest.mark.parametrize("count", [1, CHUNK_ROWS - 1, CHUNK_ROWS, CHUNK_ROWS + 1, 16_384, 16_385, 40_001])
def test_a_file_written_as_its_records_come_is_the_file_written_whole(tmp_path: Path, count: int) -> None:
    """Same rows, same order, same row groups as ``write_table`` of them all; records read once, lazily."""
    schema = arrow_schema(Row)
    seen: list[int] = []

    def rows():  # type: ignore[no-untyped-def]
        for n in range(count):
            seen.append(n)
            yield Row(n, None if n % 7 == 0 else f"text {n}", [str(n)] * (n % 3))

    streamed, whole = tmp_path / "streamed.parquet", tmp_path / "whole.parquet"
    assert write_records(str(streamed), rows(), schema) == count
    assert seen == list(range(count))
    write_table(to_arrow_table(list(rows()), schema), str(whole))
    a, b = pq.ParquetFile(streamed), pq.ParquetFile(whole)
    assert a.read().equals(b.read())
    groups = [a.metadata.row_group(i).num_rows for i in range(a.metadata.num_row_groups)]
    assert groups == [b.metadata.row_group(i).num_rows for i in range(b.metadata.num_row_groups)]
    assert max(groups) <= WRITE_OPTIONS["row_group_size"]
    assert a.schema_arrow == schema
