"""The batch pipeline on Dask: ``--runner DaskRunner`` against a real ``dask.distributed`` cluster.

A ``LocalCluster`` of two worker processes is started by this module (and one
more by the CLI test, which lets newsbeam start its own). The central test
runs the same inputs — seed files, real feeds from ``../shared/corpora``, feeds
and an OPML list over HTTP from a 127.0.0.1 server, a broken feed — through
the DirectRunner and through Dask and compares what was written, row for row.
The other tests pin each of Beam 2.77's DaskRunner defects that
:mod:`pipeline.dask_runner` corrects, on small pipelines.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

import apache_beam as beam
import distributed
import duckdb
import pyarrow.dataset as ds
import pytest
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from feedserver import FeedServer, Response, rss
from support import CORPUS, ROOT, SEEDS

from pipeline.run import run_ingest, run_stream
from pipeline.runners import make_runner

# slow tier: this module runs pipelines on a Dask cluster (its one usage check goes along)
pytestmark = pytest.mark.slow

_PEOPLE = ["Angela Merkel", "Emmanuel Macron", "Narendra Modi", "Cyril Ramaphosa", "Lula da Silva", "Fumio Kishida"]
_PLACES = ["Berlin", "Paris", "New Delhi", "Pretoria", "Brasília", "Tokyo", "Nairobi", "Ottawa"]


def written_feeds() -> list[bytes]:
    """Eight feeds of 30 news-like entries each, written here (the same everywhere, no corpus needed)."""
    feeds = []
    for f in range(8):
        entries = []
        for i in range(30):
            person, place = _PEOPLE[(f + i) % len(_PEOPLE)], _PLACES[(f * 3 + i) % len(_PLACES)]
            entries.append(
                {
                    "title": f"{person} visits {place} for talks, day {i}",
                    "link": f"https://outlet{f}.example/news/{i}",
                    "description": f"{place.upper()} — {person} met officials of the European Union in {place} "
                    f"on day {i} to discuss trade, energy and security. The talks lasted {i + 2} hours.",
                    "pub_date": f"Tue, {1 + i % 28:02d} Oct 2024 {i % 24:02d}:15:00 +0000",
                    "author": f"Reporter {f}",
                }
            )
        feeds.append(rss(entries, title=f"Outlet {f}", link=f"https://outlet{f}.example/"))
    return feeds


#: The real feeds of ../shared when they are there (more varied), else feeds written here:
#: the equivalence tests run on every clone, so nothing here needs to skip without ../shared.
FEEDS = [p.read_bytes() for p in sorted(CORPUS.glob("*.xml"))[:8]] if len(list(CORPUS.glob("*.xml"))) >= 8 else []
FEEDS = FEEDS or written_feeds()
#: Columns that differ between two runs by design: which run wrote the row, and when.
RUN_COLUMNS = {"run_id", "ingested_at", "time", "fetched_at", "elapsed_ms"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    ) as local:
        yield local.scheduler_address


def dask_pipeline(address: str) -> beam.Pipeline:
    return beam.Pipeline(runner=make_runner("DaskRunner"), options=PipelineOptions(["--dask_address", address]))


class Record(beam.DoFn):
    """Writes each element it sees to its own file: how a test sees what reached a leaf in other processes."""

    def __init__(self, folder: str, tag: str):
        self.folder = folder
        self.tag = tag

    def process(self, element: Any) -> Iterator[Any]:
        path = Path(self.folder) / f"{self.tag}-{uuid.uuid4().hex}.json"
        path.write_text(json.dumps({"value": element, "pid": os.getpid()}))
        yield element


def recorded(folder: Path, tag: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in folder.glob(f"{tag}-*.json")]


def values(folder: Path, tag: str) -> list[Any]:
    return sorted(r["value"] for r in recorded(folder, tag))


class SplitOddEven(beam.DoFn):
    def process(self, number: int) -> Iterator[Any]:
        if number % 2:
            yield beam.pvalue.TaggedOutput("odd", number)
        else:
            yield number


# --- each defect of Beam's DaskRunner, corrected -----------------------------------------------


def test_each_consumer_of_a_multi_output_step_sees_only_its_own_output(cluster: str, tmp_path: Path) -> None:
    pipeline = dask_pipeline(cluster)
    split = pipeline | beam.Create(range(10)) | beam.ParDo(SplitOddEven()).with_outputs("odd", main="even")
    split.even | "Even" >> beam.ParDo(Record(str(tmp_path), "even"))
    split.odd | "Odd" >> beam.ParDo(Record(str(tmp_path), "odd"))
    assert pipeline.run().wait_until_finish() == "DONE"
    assert values(tmp_path, "even") == [0, 2, 4, 6, 8]
    assert values(tmp_path, "odd") == [1, 3, 5, 7, 9]


def test_what_finish_bundle_emits_is_kept(cluster: str, tmp_path: Path) -> None:
    pipeline = dask_pipeline(cluster)
    (
        pipeline
        | beam.Create(range(25))
        | beam.BatchElements(min_batch_size=4, max_batch_size=4)
        | beam.ParDo(Record(str(tmp_path), "batch"))
    )
    pipeline.run().wait_until_finish()
    batches = values(tmp_path, "batch")
    assert sorted(n for batch in batches for n in batch) == list(range(25))
    assert all(len(batch) <= 4 for batch in batches)


def test_every_leaf_of_the_graph_runs(cluster: str, tmp_path: Path) -> None:
    pipeline = dask_pipeline(cluster)
    numbers = pipeline | beam.Create(range(6))
    numbers | "First" >> beam.ParDo(Record(str(tmp_path), "first"))
    numbers | "Double" >> beam.Map(lambda n: n * 2) | "Second" >> beam.ParDo(Record(str(tmp_path), "second"))
    (numbers | "Key" >> beam.Map(lambda n: (n % 2, n)) | beam.GroupByKey())  # a leaf that is not a ParDo
    pipeline.run().wait_until_finish()
    assert values(tmp_path, "first") == [0, 1, 2, 3, 4, 5]
    assert values(tmp_path, "second") == [0, 2, 4, 6, 8, 10]


class Count(beam.DoFn):
    def __init__(self) -> None:
        self.seen = Metrics.counter("newsbeam", "seen")
        self.sizes = Metrics.distribution("newsbeam", "size")

    def process(self, element: int) -> Iterator[int]:
        self.seen.inc()
        self.sizes.update(element)
        yield element


def test_metrics_are_gathered_from_every_partition(cluster: str) -> None:
    pipeline = dask_pipeline(cluster)
    pipeline | beam.Create(range(1, 101)) | beam.Reshuffle() | beam.ParDo(Count())
    result = pipeline.run()
    result.wait_until_finish()
    query = result.metrics().query(MetricsFilter().with_namespace("newsbeam"))
    (seen,) = query["counters"]
    (sizes,) = query["distributions"]
    assert seen.committed == 100
    assert (sizes.committed.count, sizes.committed.sum, sizes.committed.min, sizes.committed.max) == (100, 5050, 1, 100)


def test_side_inputs_of_every_kind(cluster: str, tmp_path: Path) -> None:
    pipeline = dask_pipeline(cluster)
    names = pipeline | "Names" >> beam.Create([("a", "alpha"), ("b", "beta")])
    total = pipeline | "Total" >> beam.Create([1, 2, 3]) | beam.CombineGlobally(sum)
    extra = pipeline | "Extra" >> beam.Create(["x", "y"])
    (
        pipeline
        | "Keys" >> beam.Create(["a", "b", "a"])
        | beam.Map(
            lambda key, table, whole, listed: f"{table[key]}:{whole}:{','.join(sorted(listed))}",
            beam.pvalue.AsDict(names),
            beam.pvalue.AsSingleton(total),
            beam.pvalue.AsList(extra),
        )
        | beam.ParDo(Record(str(tmp_path), "joined"))
    )
    pipeline.run().wait_until_finish()
    assert values(tmp_path, "joined") == ["alpha:6:x,y", "alpha:6:x,y", "beta:6:x,y"]


def test_a_step_read_as_a_side_input_and_as_a_main_input_runs_once(cluster: str, tmp_path: Path) -> None:
    # Files staged by the writers are both the publish step's side input and a leaf's input:
    # were the writers run twice, files would be written that the publish step never moves.
    pipeline = dask_pipeline(cluster)
    written = (
        pipeline | beam.Create(range(12)) | beam.Reshuffle() | "Write" >> beam.ParDo(Record(str(tmp_path), "written"))
    )
    written | "Leaf" >> beam.Map(lambda n: n + 1)
    (
        pipeline
        | "Once" >> beam.Create([None])
        | "Publish" >> beam.Map(lambda _, all_written: len(all_written), beam.pvalue.AsList(written))
        | "Published" >> beam.ParDo(Record(str(tmp_path), "published"))
    )
    pipeline.run().wait_until_finish()
    assert values(tmp_path, "written") == list(range(12))
    assert values(tmp_path, "published") == [12]


class Bundles(beam.DoFn):
    """Tags each element with the bundle (dask partition) and process that handled it."""

    def start_bundle(self) -> None:
        self.bundle = uuid.uuid4().hex

    def process(self, element: int) -> Iterator[dict[str, Any]]:
        yield {"n": element, "bundle": self.bundle, "pid": os.getpid()}


def test_reshuffle_spreads_the_work_over_partitions(cluster: str, tmp_path: Path) -> None:
    # One element fanning out, as one input directory does: without the repartition every
    # later step would run as one bundle on one worker. Which worker runs each partition is
    # dask's choice (under load it may keep them all on one), so the partitions are asserted.
    pipeline = dask_pipeline(cluster)
    (
        pipeline
        | beam.Create(["one input"])
        | beam.FlatMap(lambda _: range(64))
        | beam.Reshuffle()
        | beam.ParDo(Bundles())
        | beam.ParDo(Record(str(tmp_path), "spread"))
    )
    pipeline.run().wait_until_finish()
    rows = [r["value"] for r in recorded(tmp_path, "spread")]
    assert sorted(r["n"] for r in rows) == list(range(64))
    assert len({r["bundle"] for r in rows}) == 4  # --dask-partitions default: 2 per worker thread, 2 threads


def test_reshuffle_spreads_elements_one_partition_of_many_holds(cluster: str, tmp_path: Path) -> None:
    """A WARC's byte ranges come from the one task that read its path: the other partitions are empty.

    A repartition keeps them together (it moves boundaries, not elements); the Reshuffle must move them.
    """
    pipeline = dask_pipeline(cluster)
    (
        pipeline
        | beam.Create(["big.warc.gz", "a.json", "b.json", "c.json"])
        | beam.FlatMap(lambda name: range(8) if name.endswith(".warc.gz") else [])
        | beam.Reshuffle()
        | beam.ParDo(Bundles())
        | beam.ParDo(Record(str(tmp_path), "ranges"))
    )
    pipeline.run().wait_until_finish()
    rows = [r["value"] for r in recorded(tmp_path, "ranges")]
    assert sorted(r["n"] for r in rows) == list(range(8))
    assert len({r["bundle"] for r in rows}) == 4


def test_a_timed_wait_leaves_a_running_job_running(cluster: str) -> None:
    pipeline = dask_pipeline(cluster)
    pipeline | beam.Create([0.5, 0.5]) | beam.Map(lambda s: __import__("time").sleep(s) or s) | beam.ParDo(Count())
    result = pipeline.run()
    assert result.wait_until_finish(duration=50) == "RUNNING"
    assert result.wait_until_finish() == "DONE"
    (seen,) = result.metrics().query(MetricsFilter().with_name("seen"))["counters"]
    assert seen.committed == 2


def fail(_: int) -> int:
    raise RuntimeError("boom in a worker")


def test_a_failing_step_fails_the_run_with_its_error(cluster: str) -> None:
    pipeline = dask_pipeline(cluster)
    pipeline | beam.Create([1, 2]) | beam.Map(fail)
    result = pipeline.run()
    with pytest.raises(RuntimeError, match="boom in a worker"):
        result.wait_until_finish()
    assert result.state == "FAILED"


def test_a_source_without_a_dask_translation_is_refused_by_name(cluster: str) -> None:
    pipeline = dask_pipeline(cluster)
    pipeline | "Start" >> beam.Impulse() | beam.Map(lambda _: 1)
    with pytest.raises(NotImplementedError, match="Start: Impulse has no translation"):
        pipeline.run()


class Stateful(beam.DoFn):
    SEEN = beam.transforms.userstate.ReadModifyWriteStateSpec("seen", beam.coders.BooleanCoder())

    def process(self, element: Any, seen: Any = beam.DoFn.StateParam(SEEN)) -> Iterator[Any]:  # noqa: B008
        yield element


def test_a_stateful_step_is_refused_by_name(cluster: str) -> None:
    pipeline = dask_pipeline(cluster)
    pipeline | beam.Create([("k", 1)]) | "Remember" >> beam.ParDo(Stateful())
    with pytest.raises(NotImplementedError, match="Remember: stateful DoFns cannot run on the DaskRunner"):
        pipeline.run()


def test_streams_and_detached_runs_are_refused_on_dask(tmp_path: Path) -> None:
    err = io.StringIO()
    assert (
        run_stream(
            ["http://127.0.0.1:9/feed.xml"], ["--output", str(tmp_path), "--runner", "DaskRunner"], io.StringIO(), err
        )
        == 2
    )
    assert "runs batch pipelines only" in err.getvalue()
    err = io.StringIO()
    assert (
        run_ingest([str(SEEDS)], ["--output", str(tmp_path), "--runner", "DaskRunner", "--detach"], io.StringIO(), err)
        == 2
    )
    assert "--detach needs a remote runner" in err.getvalue()


# --- the real pipeline: Dask writes what the DirectRunner writes -------------------------------


def table(output: Path, name: str, run_id: str) -> list[tuple[Any, ...]]:
    """The rows one run wrote under ``output/name``, without its run columns, in a stable order."""
    rows = [
        row
        for row in ds.dataset(output / name, format="parquet", partitioning="hive").to_table().to_pylist()
        if row["run_id"] == run_id
    ]
    cleaned = []
    for row in rows:
        cleaned.append(
            tuple(
                (k, json.dumps(v, sort_keys=True, default=str)) for k, v in sorted(row.items()) if k not in RUN_COLUMNS
            )
        )
    return sorted(cleaned)


def ingest(inputs: list[str], output: Path, runner: list[str], run_id: str) -> tuple[int, dict[str, Any], str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_ingest(
        inputs,
        # --full-text off: the corpus feeds (FEEDS) link to the real publishers, and nothing may leave this machine
        ["--output", str(output), "--run-id", run_id, "--allow-private-hosts", "--per-host-delay", "0", *runner]
        + ["--full-text", "off"],
        out,
        err,
    )
    summary = json.loads((output / "runs" / f"{run_id}.json").read_text()) if code == 0 else {}
    return code, summary, err.getvalue()


@pytest.fixture(scope="module")
def both(cluster: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    files = tmp_path_factory.mktemp("inputs")
    # The seeds' OPML lists a private address on purpose: with --allow-private-hosts (needed for
    # 127.0.0.1) it would be fetched for real, so the seeds are copied without it.
    shutil.copytree(SEEDS, files / "seeds", ignore=shutil.ignore_patterns("*.opml", "_*"))
    for number, feed in enumerate(FEEDS[:6]):
        (files / f"feed{number}.xml").write_bytes(feed)
    (files / "broken.xml").write_bytes(b"<rss><channel><item><title>cut off")
    with FeedServer() as server:
        served = server.route("/served.xml", Response(body=FEEDS[6], headers={"ETag": '"v1"'}))
        listed = server.route("/listed.xml", Response(body=FEEDS[7]))
        opml = server.route(
            "/list.opml",
            Response(body=f'<opml version="2.0"><body><outline type="rss" xmlUrl="{listed}"/></body></opml>'),
        )
        gone = server.route("/gone.xml", Response(status=404, body=b"not here"))
        inputs = [str(files), served, opml, gone]
        direct = ingest(inputs, tmp_path_factory.mktemp("direct"), ["--runner", "DirectRunner"], "direct")
        dask_out = tmp_path_factory.mktemp("dask")
        on_dask = ingest(inputs, dask_out, ["--runner", "DaskRunner", "--dask-address", cluster], "dask")
        again = ingest(inputs, dask_out, ["--runner", "DaskRunner", "--dask-address", cluster], "again")
    return {"direct": direct, "dask": on_dask, "again": again, "outputs": {"direct": None, "dask": dask_out}}


def test_both_runs_complete(both: dict[str, Any]) -> None:
    for name in ("direct", "dask", "again"):
        code, summary, err = both[name]
        assert code == 0, err
        assert summary["state"] == "DONE"
        assert summary["counts"]["reconciled"] is True


def test_dask_writes_exactly_the_articles_the_direct_runner_writes(both: dict[str, Any]) -> None:
    direct_out = Path(both["direct"][1]["output"])
    dask_out = Path(both["dask"][1]["output"])
    direct_articles = table(direct_out, "articles", "direct")
    assert len(direct_articles) > 200  # six real feeds, a served one, a listed one and the seeds
    assert table(dask_out, "articles", "dask") == direct_articles
    with duckdb.connect() as con:
        counts = [
            con.execute(
                f"select count(*), count(distinct article_id), count(*) filter (where len(entities) > 0) "
                f"from read_parquet('{out}/articles/**/*.parquet', hive_partitioning=true) where run_id = '{run}'"
            ).fetchone()
            for out, run in ((direct_out, "direct"), (dask_out, "dask"))
        ]
    assert counts[0] == counts[1]
    assert counts[0][2] > 0  # entities were recognised (BatchElements' last batch included)


def test_dead_letters_and_feed_health_match_too(both: dict[str, Any]) -> None:
    direct_out = Path(both["direct"][1]["output"])
    dask_out = Path(both["dask"][1]["output"])
    assert table(dask_out, "dead_letter", "dask") == table(direct_out, "dead_letter", "direct")
    stages = set(
        ds.dataset(dask_out / "dead_letter", format="parquet").to_table(columns=["stage"])["stage"].to_pylist()
    )
    assert {"parse", "fetch"} <= stages
    direct_health = table(direct_out, "feed_health", "direct")
    assert len(direct_health) == 4  # served, the OPML list, the feed it lists, the 404
    assert table(dask_out, "feed_health", "dask") == direct_health
    assert list((dask_out / "feed_state").glob("state-*.parquet"))


def test_the_summary_counts_are_the_same(both: dict[str, Any]) -> None:
    direct = both["direct"][1]["counts"]
    on_dask = both["dask"][1]["counts"]
    assert on_dask == direct
    assert on_dask["written"] > 200 and on_dask["dead_lettered"] >= 2


def test_a_second_dask_run_adds_nothing(both: dict[str, Any]) -> None:
    first = both["dask"][1]["counts"]
    again = both["again"][1]["counts"]
    assert again["written"] == 0
    assert again["read"] == first["read"]
    dask_out = Path(both["dask"][1]["output"])
    rows = ds.dataset(dask_out / "articles", format="parquet", partitioning="hive").to_table(columns=["article_id"])
    assert rows.num_rows == first["written"]


def test_the_cli_starts_and_stops_its_own_local_cluster(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "ingest",
            str(SEEDS),
            "--output",
            str(tmp_path / "out"),
            "--runner",
            "DaskRunner",
            "--dask-workers",
            "2",
            "--entities",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    assert "dask: 2 worker(s), 2 thread(s), local cluster" in run.stderr
    assert "counts reconcile: yes" in run.stdout
    assert list((tmp_path / "out" / "articles").rglob("*.parquet"))
