"""Graph composition: functions that add newsbeam's steps to a pipeline.

Build, don't run: these functions only add labelled steps and return the
outputs; :mod:`pipeline.cli` parses options, runs and reports. Step labels are
part of the interface (Dataflow's ``--update`` maps steps by label): never
rename one that has shipped.
"""

from __future__ import annotations

from typing import Any, Iterator, NamedTuple, Optional, Sequence

import apache_beam as beam
from apache_beam.utils.timestamp import Timestamp

from schemas import ARTICLE_SCHEMA, DEAD_LETTER_SCHEMA, FEED_HEALTH_SCHEMA, Article
from transforms.enrich import Enrich
from transforms.entities import DEFAULT_MODEL, ExtractEntities
from transforms.errors import DEAD_LETTER, counter
from transforms.fetch import FETCHES, LISTED, FetchFeeds, FetchPolicy
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
from transforms.parse import DEFAULT_MAX_ENTRIES, OUTCOMES, ParseDocuments
from transforms.sinks import (
    ARTICLES,
    DEAD_LETTERS,
    Publish,
    WritePartitionedParquet,
    article_partition,
    dead_letter_partition,
    join,
)
from transforms.sources import URLS, ReadDocuments


class IngestConfig(NamedTuple):
    inputs: Sequence[str]
    output: str
    run_id: str
    ingested_at: Timestamp
    uncurl_quotes: bool = False
    max_bytes: int = 64 * 1024 * 1024
    rows_per_file: int = 100_000
    progress_seconds: float = 0.0
    entities: bool = True
    ner_model: str = DEFAULT_MODEL
    ner_languages: Sequence[str] = ("en",)
    ner_batch_size: int = 64
    ner_max_chars: int = 1_000_000
    fetch: FetchPolicy = FetchPolicy()
    fetch_shards: int = 1
    max_entries_per_feed: int = DEFAULT_MAX_ENTRIES
    #: [start, end) of publication times to write (nightly runs and backfills); None: everything.
    published_range: Optional[tuple[Timestamp, Timestamp]] = None
    #: Whether local OPML lists may name local files (inside their own folder only).
    opml_local_files: bool = True


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


def add_entities(articles: beam.PCollection, config: Any) -> tuple[beam.PCollection, list[beam.PCollection]]:
    """``ExtractEntities`` when entities are on (batch and stream alike): the articles, and its dead letters."""
    if not config.entities:
        return articles, []
    recognised = articles | "ExtractEntities" >> ExtractEntities(
        config.run_id, config.ner_model, config.ner_languages, config.ner_max_chars, config.ner_batch_size
    )
    return recognised["articles"], [recognised[DEAD_LETTER]]


def build_ingest(pipeline: beam.Pipeline, config: IngestConfig) -> IngestOutputs:
    """Adds the batch ingest: read/fetch → parse → enrich → identify → Parquet, dead letters and feed health alongside."""
    read = pipeline | "ReadDocuments" >> ReadDocuments(
        list(config.inputs), config.run_id, config.max_bytes, config.output, config.opml_local_files
    )
    # Feed URLs: fetched in two rounds, so that an OPML list fetched in the
    # first has its feeds fetched in the second, with the same host limits.
    state = pipeline | "ReadFeedState" >> ReadFeedState(join(config.output, FEED_STATE))
    state_by_url = beam.pvalue.AsDict(state)
    fetched = read[URLS] | "FetchFeeds" >> FetchFeeds(
        config.run_id, config.fetch, state_by_url, config.fetch_shards, expand_opml=True
    )
    first_round = fetched[FETCHES] | "FetchedUrls" >> beam.Map(lambda f: f.url)
    listed = fetched[LISTED] | "FetchListedFeeds" >> FetchFeeds(
        config.run_id, config.fetch, state_by_url, config.fetch_shards, expand_opml=False, already_fetched=first_round
    )
    documents = (read["documents"], fetched["documents"], listed["documents"]) | "AllDocuments" >> beam.Flatten()
    parsed = documents | "ParseDocuments" >> ParseDocuments(config.run_id, config.max_entries_per_feed)
    enriched = parsed["articles"] | "Enrich" >> Enrich(
        config.run_id, config.ingested_at, config.uncurl_quotes, config.progress_seconds
    )
    candidates = enriched["articles"]
    if config.published_range is not None:
        # Before dedup and NER: an article outside the night is neither a
        # duplicate nor worth recognising, only counted.
        candidates = candidates | "InDateRange" >> beam.ParDo(InDateRange(*config.published_range))
    existing = pipeline | "ReadExistingIds" >> ReadExistingIds(join(config.output, ARTICLES))
    identified = candidates | "Identify" >> Deduplicate(existing, report_sources=True)
    articles = identified["articles"]
    # Entities after dedup, not inside Enrich: NER is the costliest step by far,
    # and a nightly re-run would otherwise recognise every article it then
    # drops as already written.
    articles, entity_dead = add_entities(articles, config)
    dead_letters = (
        read[DEAD_LETTER],
        fetched[DEAD_LETTER],
        listed[DEAD_LETTER],
        parsed[DEAD_LETTER],
        enriched[DEAD_LETTER],
        *entity_dead,
    ) | "CollectDeadLetters" >> beam.Flatten()
    feeds = {
        "fetches": (fetched[FETCHES], listed[FETCHES]) | "AllFetches" >> beam.Flatten(),
        "outcomes": parsed[OUTCOMES],
        "written": articles,
        "duplicates": identified[DUPLICATES],
        "dead_letters": dead_letters,
        "state": state,
    } | "FeedHealth" >> FeedHealthTable(config.run_id)
    article_files = articles | "WriteArticles" >> WritePartitionedParquet(
        ARTICLES, ARTICLE_SCHEMA, article_partition, config.output, config.run_id, config.rows_per_file, "written"
    )
    dead_letter_files = dead_letters | "WriteDeadLetters" >> WritePartitionedParquet(
        DEAD_LETTERS,
        DEAD_LETTER_SCHEMA,
        dead_letter_partition,
        config.output,
        config.run_id,
        config.rows_per_file,
        "dead_lettered",
    )
    health_files = feeds["health"] | "WriteFeedHealth" >> WritePartitionedParquet(
        FEED_HEALTH,
        FEED_HEALTH_SCHEMA,
        health_partition,
        config.output,
        config.run_id,
        config.rows_per_file,
        "feed_health_rows",
    )
    state_file = feeds["state"] | "WriteFeedState" >> WriteFeedState(config.output, config.run_id, config.ingested_at)
    published = (
        (article_files, dead_letter_files, health_files, state_file)
        | "AllFiles" >> beam.Flatten()
        | "Publish" >> Publish(config.output, config.run_id)
    )
    published | "PruneFeedState" >> beam.Map(prune_state, join(config.output, FEED_STATE))
    return IngestOutputs(articles, dead_letters, feeds["health"], published)
