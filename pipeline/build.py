"""Graph composition: functions that add newsbeam's steps to a pipeline.

Build, don't run: these functions only add labelled steps and return the
outputs; :mod:`pipeline.cli` parses options, runs and reports. Step labels are
part of the interface (Dataflow's ``--update`` maps steps by label): never
rename one that has shipped.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple, Optional, Sequence

import apache_beam as beam
from apache_beam.utils.timestamp import Timestamp

from pipeline.settings import IngestConfig
from pipeline.steps import AFTER_DEDUP, Step, add_steps
from schemas import ARTICLE_SCHEMA, CLUSTER_SCHEMA, DEAD_LETTER_SCHEMA, FEED_HEALTH_SCHEMA, Article, DeadLetter
from transforms.archive import WriteWarc, remove_warc_staging
from transforms.clusters import CLUSTERS, ClusterStories, cluster_partition
from transforms.enrich import Enrich
from transforms.errors import DEAD_LETTER, counter
from transforms.fetch import EXCHANGES, FETCHES, LISTED, FetchFeeds
from transforms.formats.base import ARCHIVED, Format
from transforms.formats.registry import formats_for
from transforms.health import (
    FEED_HEALTH,
    FEED_STATE,
    FeedHealthTable,
    ReadFeedState,
    WriteFeedState,
    health_partition,
    prune_state,
)
from transforms.identify import DUPLICATES, Deduplicate, ReadExistingIds
from transforms.parse import OUTCOMES, ParseDocuments
from transforms.select import SelectArticles
from transforms.sinks import (
    ARTICLES,
    DEAD_LETTERS,
    Publish,
    WritePartitionedParquet,
    article_partition,
    dead_letter_partition,
    join,
)
from transforms.sources import RECORDS, URLS, ReadDocuments


class IngestOutputs(NamedTuple):
    articles: beam.PCollection
    dead_letters: beam.PCollection
    feed_health: beam.PCollection
    published: beam.PCollection


class InDateRange(beam.DoFn):
    """Keeps articles published in [start, end) and undated ones; counts the rest as out of range."""

    def __init__(self, start: Timestamp, end: Timestamp):
        self.start = start
        self.end = end
        self._out = counter("out_of_range")
        self._undated = counter("undated_kept")

    def process(self, article: Article) -> Iterator[Article]:
        if article.published_at is None:
            self._undated.inc()
            yield article
        elif self.start <= article.published_at < self.end:
            yield article
        else:
            self._out.inc()


def build_ingest(
    pipeline: beam.Pipeline,
    config: IngestConfig,
    steps: Sequence[Step] = AFTER_DEDUP,
    formats: Optional[Sequence[Format]] = None,
) -> IngestOutputs:
    """Adds the batch ingest: read/fetch → parse → enrich → identify → Parquet, dead letters and feed health alongside.

    ``formats``: the input formats (default: ``FORMATS`` as the settings configure them).
    """
    settings = config.settings.with_hosts()
    formats = formats_for(settings.warc) if formats is None else formats
    read = pipeline | "ReadDocuments" >> ReadDocuments(
        list(settings.inputs),
        settings.run_id,
        settings.max_file_bytes,
        settings.output,
        settings.opml_local_files,
        formats,
    )
    # Feed URLs: fetched in two rounds, so that an OPML list fetched in the
    # first has its feeds fetched in the second, with the same host limits.
    state = pipeline | "ReadFeedState" >> ReadFeedState(join(settings.output, FEED_STATE))
    state_by_url = beam.pvalue.AsDict(state)
    hosts = settings.hosts  # both rounds (and every later fetching step): one host's limits hold across them
    fetched = read[URLS] | "FetchFeeds" >> FetchFeeds(
        settings.run_id, settings.fetch, state_by_url, config.fetch_shards, expand_opml=True, context=hosts
    )
    first_round = fetched[FETCHES] | "FetchedUrls" >> beam.Map(lambda f: f.url)
    listed = fetched[LISTED] | "FetchListedFeeds" >> FetchFeeds(
        settings.run_id,
        settings.fetch,
        state_by_url,
        config.fetch_shards,
        expand_opml=False,
        already_fetched=first_round,
        context=hosts,
    )
    documents = (read["documents"], fetched["documents"], listed["documents"]) | "AllDocuments" >> beam.Flatten()
    parsed = documents | "ParseDocuments" >> ParseDocuments(settings.run_id, settings.max_entries_per_feed, formats)
    enriched = parsed["articles"] | "Enrich" >> Enrich(
        settings.run_id, settings.ingested_at, settings.uncurl_quotes, config.progress_seconds
    )
    # Records read in ranges (a WARC's pages) are parsed and enriched where they are read: only
    # the articles, not the pages, are held where the branches meet.
    parsed_ranges = read[RECORDS] | "ParseRanges" >> ParseDocuments(
        settings.run_id, settings.max_entries_per_feed, formats
    )
    enriched_ranges = parsed_ranges["articles"] | "EnrichRanges" >> Enrich(
        settings.run_id, settings.ingested_at, settings.uncurl_quotes
    )
    candidates = (enriched["articles"], enriched_ranges["articles"]) | "AllEnriched" >> beam.Flatten()
    if settings.selection.selects:
        candidates = (candidates | "Select" >> SelectArticles(settings.selection)).articles
    if config.published_range is not None:
        # Before dedup and NER: an article outside the night is neither a
        # duplicate nor worth recognising, only counted.
        candidates = candidates | "InDateRange" >> beam.ParDo(InDateRange(*config.published_range))
    existing = pipeline | "ReadExistingIds" >> ReadExistingIds(join(settings.output, ARTICLES))
    identified = candidates | "Identify" >> Deduplicate(existing, report_sources=True)
    articles = identified["articles"]
    # Entities (and every costly step) after dedup, not inside Enrich: NER is
    # the costliest step by far, and a nightly re-run would otherwise
    # recognise every article it then drops as already written.
    exchanges = [fetched[EXCHANGES], listed[EXCHANGES]]
    # Pages read back from newsbeam's own archives, for the entries they were fetched for.
    archive = (parsed[ARCHIVED], parsed_ranges[ARCHIVED]) | "AllArchived" >> beam.Flatten()
    articles, step_dead = add_steps(articles, settings, steps, exchanges, {"archive": archive})
    cluster_files = []
    if settings.clusters.enabled:
        # Last, after every step that can change an article's text (and after
        # any step a user registers): a cluster is of the text written.
        clustered = articles | "ClusterStories" >> ClusterStories(
            settings.clusters, settings.output, settings.run_id, settings.ingested_at
        )
        articles = clustered["articles"]
        cluster_files.append(
            clustered[CLUSTERS]
            | "WriteClusters"
            >> WritePartitionedParquet(
                CLUSTERS,
                CLUSTER_SCHEMA,
                cluster_partition,
                settings.output,
                settings.run_id,
                config.rows_per_file,
                "cluster_rows",
            )
        )
    dead_letters = (
        read[DEAD_LETTER],
        fetched[DEAD_LETTER],
        listed[DEAD_LETTER],
        parsed[DEAD_LETTER],
        enriched[DEAD_LETTER],
        parsed_ranges[DEAD_LETTER],
        enriched_ranges[DEAD_LETTER],
        *step_dead,
    ) | "CollectDeadLetters" >> beam.Flatten()
    feeds = {
        "fetches": (fetched[FETCHES], listed[FETCHES]) | "AllFetches" >> beam.Flatten(),
        "outcomes": parsed[OUTCOMES],
        "written": articles,
        "duplicates": identified[DUPLICATES],
        "dead_letters": dead_letters,
        "state": state,
    } | "FeedHealth" >> FeedHealthTable(settings.run_id)
    article_files = articles | "WriteArticles" >> WritePartitionedParquet(
        ARTICLES,
        ARTICLE_SCHEMA,
        article_partition,
        settings.output,
        settings.run_id,
        config.rows_per_file,
        "written",
        record_type=Article,
    )
    dead_letter_files = dead_letters | "WriteDeadLetters" >> WritePartitionedParquet(
        DEAD_LETTERS,
        DEAD_LETTER_SCHEMA,
        dead_letter_partition,
        settings.output,
        settings.run_id,
        config.rows_per_file,
        "dead_lettered",
        record_type=DeadLetter,
    )
    health_files = feeds["health"] | "WriteFeedHealth" >> WritePartitionedParquet(
        FEED_HEALTH,
        FEED_HEALTH_SCHEMA,
        health_partition,
        settings.output,
        settings.run_id,
        config.rows_per_file,
        "feed_health_rows",
    )
    state_file = feeds["state"] | "WriteFeedState" >> WriteFeedState(
        settings.output, settings.run_id, settings.ingested_at
    )
    warc_files = []
    if settings.warc_out:
        warc_files.append(
            tuple(exchanges)
            | "AllExchanges" >> beam.Flatten()
            | "WriteWarc" >> WriteWarc(settings.warc_out, settings.run_id, settings.warc_roll_mb)
        )
    published = (
        (article_files, dead_letter_files, health_files, state_file, *cluster_files, *warc_files)
        | "AllFiles" >> beam.Flatten()
        | "Publish" >> Publish(settings.output, settings.run_id)
    )
    if settings.warc_out:
        published | "RemoveWarcStaging" >> beam.Map(remove_warc_staging, settings.warc_out, settings.run_id)
    published | "PruneFeedState" >> beam.Map(prune_state, join(settings.output, FEED_STATE))
    return IngestOutputs(articles, dead_letters, feeds["health"], published)
