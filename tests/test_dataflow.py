"""The real batch and streaming pipelines, translated for Dataflow offline (``--dry_run=True``).

Beam 2.77's DataflowRunner builds and translates the whole job, then stops
before any request when ``--dry_run`` is set: a syntactically valid project,
region and gs:// locations are enough, no network, no credentials. What a
deployment depends on is asserted on the translated job: every top-level
step under its stable label (``--update`` maps steps by label), batch or
streaming job type, the worker container image.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.utils.timestamp import Timestamp

from pipeline.build import build_ingest
from pipeline.settings import IngestConfig, Settings, StreamConfig
from pipeline.stream import build_stream
from transforms.select import Selection

# slow tier: every test here builds and runs a Dataflow dry run
pytestmark = pytest.mark.slow

IMAGE = "europe-west1-docker.pkg.dev/my-project/newsbeam/newsbeam:test"
DATAFLOW = [
    "--runner",
    "DataflowRunner",
    "--project",
    "my-project",
    "--region",
    "europe-west1",
    "--temp_location",
    "gs://my-bucket/tmp",
    "--staging_location",
    "gs://my-bucket/staging",
    "--requirements_cache=skip",
    "--sdk_container_image",
    IMAGE,
    "--dry_run=True",
]

BATCH_STEPS = {
    "ReadDocuments",
    "ReadFeedState",
    "FetchFeeds",
    "FetchedUrls",
    "FetchListedFeeds",
    "AllDocuments",
    "ParseDocuments",
    "Enrich",
    "ParseRanges",  # new in issue 15: a WARC's records parsed where they are read
    "EnrichRanges",
    "AllEnriched",
    "AllArchived",  # issue 15: pages read back from newsbeam archives, for FetchPages
    "ReadExistingIds",
    "Identify",
    "FetchPages",
    "ExtractEntities",
    "ClusterStories",  # new in issue 14
    "WriteClusters",  # new in issue 14
    "CollectDeadLetters",
    "AllFetches",
    "FeedHealth",
    "WriteArticles",
    "WriteDeadLetters",
    "WriteFeedHealth",
    "WriteFeedState",
    "AllFiles",
    "Publish",
    "PruneFeedState",
}
STREAM_STEPS = {
    "Ticks",
    "PollTicks",
    "EveryFeed",
    "ReadFeedState",
    "PollFeeds",
    "WatchTicks",
    "WatchFiles",
    "ReadLanded",
    "AllListed",
    "PollListedFeeds",
    "AllDocuments",
    "ParseDocuments",
    "Enrich",
    "ReadExistingIds",
    "Identify",
    "FetchPages",
    "ExtractEntities",
    "ClusterStories",  # new in issue 14
    "WriteClusters",  # new in issue 14
    "TallyClusterRows",  # new in issue 14
    "TallyClusters",  # new in issue 14
    "EventTime",
    "CollectDeadLetters",
    "WriteArticles",
    "WriteDeadLetters",
    "AllFetches",
    "AllStreaks",
    "FeedHealth",
    "WriteFeedHealth",
    "TallyRead",
    "TallyDead",
    "TallyWritten",
    "TallyPages",
    "TallyDuplicates",
    "TallyFetches",
    "AllTallies",
    "AllSkipped",
    "TallySkipped",
    "ReadLandedRanges",
    "WindowReport",
}


def translate(kind: str) -> Any:
    """Builds the real pipeline of ``kind`` and translates it for Dataflow without submitting it."""
    extra = ["--streaming", "--enable_streaming_engine"] if kind == "stream" else []
    pipeline = beam.Pipeline(options=PipelineOptions(DATAFLOW + extra))
    if kind == "batch":
        build_ingest(
            pipeline,
            IngestConfig(
                Settings(
                    inputs=("gs://my-bucket/landing/", "https://site.example/rss.xml"),
                    output="gs://my-bucket/lake",
                    run_id="dry-run",
                    ingested_at=Timestamp.of(1_700_000_000),
                )
            ),
        )
    else:
        build_stream(
            pipeline,
            StreamConfig(
                Settings(
                    inputs=("https://site.example/rss.xml",),
                    output="gs://my-bucket/lake",
                    run_id="dry-stream",
                    ingested_at=Timestamp.of(1_700_000_000),
                ),
                watch=["gs://my-bucket/landing/"],
            ),
        )
    result = pipeline.run()
    return result


@pytest.fixture(scope="module", params=["batch", "stream"])
def job(request: pytest.FixtureRequest) -> tuple[str, Any]:
    return request.param, translate(request.param)


def top_level_steps(result: Any) -> set[str]:
    transforms = result.job.proto_pipeline.components.transforms.values()
    return {t.unique_name.split("/")[0] for t in transforms if not t.unique_name.startswith("ref_")}


def test_dry_run_completes_offline(job: tuple[str, Any]) -> None:
    _, result = job
    assert str(result.state) == "DONE"


def test_every_step_has_its_stable_label(job: tuple[str, Any]) -> None:
    kind, result = job
    assert top_level_steps(result) == (BATCH_STEPS if kind == "batch" else STREAM_STEPS)


def test_job_type_batch_or_streaming(job: tuple[str, Any]) -> None:
    kind, result = job
    assert result.job.proto.type.name == ("JOB_TYPE_STREAMING" if kind == "stream" else "JOB_TYPE_BATCH")


def test_container_image_is_passed_through(job: tuple[str, Any]) -> None:
    _, result = job
    environments = result.job.proto_pipeline.components.environments.values()
    payloads = [environment.payload for environment in environments]
    assert payloads and all(IMAGE.encode() in payload for payload in payloads)


def test_stream_ticks_are_periodic_impulses_on_dataflow() -> None:
    """Off the local runner the poll and watch ticks are PeriodicImpulse, not the local TestStream."""
    result = translate("stream")
    names = {t.unique_name for t in result.job.proto_pipeline.components.transforms.values()}
    assert any(name.startswith("Ticks/PollImpulse") for name in names)
    assert any(name.startswith("Ticks/WatchImpulse") for name in names)
    assert not any("TickStream" in name for name in names)


def test_a_cc_news_job_with_an_archive_and_a_selection_builds_offline() -> None:
    """A Dataflow job over CC-NEWS files in gs://, keeping English and two domains, archiving what it fetches."""
    pipeline = beam.Pipeline(options=PipelineOptions(DATAFLOW))
    build_ingest(
        pipeline,
        IngestConfig(
            Settings(
                inputs=("gs://my-bucket/cc-news/2024/05/CC-NEWS-202405*.warc.gz",),
                output="gs://my-bucket/lake",
                run_id="dry-cc-news",
                ingested_at=Timestamp.of(1_700_000_000),
                selection=Selection(frozenset({"en"}), frozenset({"example.com", "example.org"})),
                warc_out="gs://my-bucket/archive",
            )
        ),
    )
    result = pipeline.run()
    assert str(result.state) == "DONE"
    steps = top_level_steps(result)
    assert steps >= BATCH_STEPS | {"Select", "AllExchanges", "WriteWarc", "RemoveWarcStaging"}
    names = {t.unique_name for t in result.job.proto_pipeline.components.transforms.values()}
    assert {"ReadDocuments/ReadRanges/SpreadRanges", "ReadDocuments/ReadRanges/ReadRange"} <= names
