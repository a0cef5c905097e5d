"""One settings object per run, built once from the pipeline options.

``Settings`` holds what batch and stream runs take alike (where to read and
write, text, limits, entities, fetching); ``IngestConfig`` and
``StreamConfig`` compose it with what only their mode reads. Every default is
owned by the transform that uses it (``FetchPolicy``, ``EntitySettings``,
``transforms.sources.MAX_FILE_MB``, …): the options take their defaults from
there, so a default is written once.

Built here and only here from the options: the graph builders
(``pipeline/build.py``, ``pipeline/stream.py``) and every transform under them
see typed settings, never ``PipelineOptions``.
"""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from typing import NamedTuple, Optional, Sequence

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.utils.timestamp import Timestamp

from pipeline.options import MB, NewsbeamOptions, StreamOptions
from transforms.archive import ROLL_MB
from transforms.clusters import ClusterSettings
from transforms.entities import EntitySettings
from transforms.fetch import FetchPolicy, SharedFetchContext, StreamControl
from transforms.fetch.polling import POLL_INTERVAL
from transforms.formats.warc import WarcSettings
from transforms.identify import DEDUP_TTL_DAYS
from transforms.pages import PageSettings
from transforms.parse import DEFAULT_MAX_ENTRIES
from transforms.select import Selection, parse_domains
from transforms.sinks import ROWS_PER_FILE
from transforms.sources import MAX_FILE_MB, WATCH_INTERVAL
from transforms.windows import DAY, MAX_AGE_DAYS, WINDOW_SECONDS


class Settings(NamedTuple):
    """What every run, batch or stream, takes from its options."""

    inputs: tuple[str, ...]
    output: str
    run_id: str
    ingested_at: Timestamp
    uncurl_quotes: bool = False
    #: Largest input file read whole, and largest decompressed content (``--max-file-mb``).
    max_file_bytes: int = MAX_FILE_MB * MB
    max_entries_per_feed: int = DEFAULT_MAX_ENTRIES
    #: Whether local OPML lists may name local files (inside their own folder only).
    opml_local_files: bool = True
    entities: EntitySettings = EntitySettings()
    fetch: FetchPolicy = FetchPolicy()
    #: Full text from the pages feed entries link to (``--full-text`` …).
    pages: PageSettings = PageSettings()
    #: Story clusters (``--clusters``, ``--cluster-threshold`` …).
    clusters: ClusterSettings = ClusterSettings()
    #: Web archives: range size, domains read, pages that are not articles (``--warc-split-mb`` …).
    warc: WarcSettings = WarcSettings()
    #: Languages and domains written (``--languages``, ``--domains``); empty: all.
    selection: Selection = Selection()
    #: Where the run's fetched responses are archived as WARC (``--warc-out``); None: nowhere.
    warc_out: Optional[str] = None
    warc_roll_mb: int = ROLL_MB
    #: The one handle every fetching step of the run is given, so that each host's delay and
    #: concurrency hold across all of them (feeds, listed feeds, later pages); None: ``with_hosts`` makes it.
    hosts: Optional[SharedFetchContext] = None

    def with_hosts(self) -> Settings:
        """These settings with a fetch-context handle, made once for the graph being built."""
        return self if self.hosts is not None else self._replace(hosts=SharedFetchContext())


class IngestConfig(NamedTuple):
    """A batch run: the shared settings and what only ``newsbeam ingest`` reads."""

    settings: Settings
    rows_per_file: int = ROWS_PER_FILE
    progress_seconds: float = 0.0
    fetch_shards: int = 1
    #: [start, end) of publication times to write (nightly runs and backfills); None: everything.
    published_range: Optional[tuple[Timestamp, Timestamp]] = None


class StreamConfig(NamedTuple):
    """A stream: the shared settings and what only ``newsbeam stream`` reads."""

    settings: Settings
    poll_interval: float = POLL_INTERVAL
    watch: Sequence[str] = ()
    watch_interval: float = WATCH_INTERVAL
    window: float = WINDOW_SECONDS
    stop_after: Optional[float] = None
    dedup_ttl: float = DEDUP_TTL_DAYS * DAY
    max_age: float = MAX_AGE_DAYS * DAY
    #: Where a local stream's tick server listens (``TickServer``); None on a remote runner.
    tick_endpoint: Optional[str] = None
    #: Stops the fetches: the tick server's (``TickServer.control``) for a local stream.
    control: Optional[StreamControl] = None


def fetch_policy(nb: NewsbeamOptions) -> FetchPolicy:
    """The fetch options as one value, handed to every fetching worker."""
    return FetchPolicy(
        contact=nb.contact_url,
        connect_timeout=nb.connect_timeout,
        read_timeout=nb.read_timeout,
        deadline=nb.fetch_deadline,
        max_redirects=nb.max_redirects,
        retries=nb.fetch_retries,
        backoff=nb.retry_backoff,
        max_retry_wait=nb.max_retry_wait,
        max_response_bytes=int(nb.max_response_mb * MB),
        max_decoded_bytes=nb.max_file_mb * MB,
        allow_private_hosts=nb.allow_private_hosts,
        conditional=nb.conditional_get,
        per_host_concurrency=nb.per_host_concurrency,
        per_host_delay=nb.per_host_delay,
        threads=nb.fetch_threads,
        discover=nb.discover_feeds,
        keep_exchanges=bool(nb.warc_out),
    )


def page_settings(nb: NewsbeamOptions) -> PageSettings:
    return PageSettings(
        enabled=nb.full_text,
        respect_robots=nb.respect_robots,
        max_pages=nb.max_pages,
        max_pages_per_host=nb.max_pages_per_host,
        shards=nb.fetch_shards,
        uncurl_quotes=nb.uncurl_quotes,
    )


def cluster_settings(nb: NewsbeamOptions) -> ClusterSettings:
    return ClusterSettings(
        enabled=nb.clusters,
        threshold=nb.cluster_threshold,
        min_words=nb.cluster_min_words,
        lookback_days=nb.cluster_lookback_days,
    )


def entity_settings(nb: NewsbeamOptions) -> EntitySettings:
    return EntitySettings(
        enabled=nb.entities,
        model=nb.ner_model,
        languages=tuple(nb.ner_languages),
        batch_size=nb.ner_batch_size,
        max_chars=nb.ner_max_chars,
    )


def settings_from_options(options: PipelineOptions, inputs: Sequence[str], run_id: str, started: datetime) -> Settings:
    """The run's shared settings, read once from its options."""
    nb = options.view_as(NewsbeamOptions)
    return Settings(
        inputs=tuple(inputs),
        output=nb.output,
        run_id=run_id,
        ingested_at=Timestamp.from_utc_datetime(started),
        uncurl_quotes=nb.uncurl_quotes,
        max_file_bytes=nb.max_file_mb * MB,
        max_entries_per_feed=nb.max_entries_per_feed,
        opml_local_files=nb.opml_local_files,
        entities=entity_settings(nb),
        fetch=fetch_policy(nb),
        pages=page_settings(nb),
        clusters=cluster_settings(nb),
        warc=WarcSettings(
            range_bytes=nb.warc_split_mb * MB,
            domains=parse_domains(nb.domains or ""),
            keep_non_articles=nb.keep_non_articles,
            # A batch run with full text joins archived pages to their entries (a stream reads them as pages).
            archived_pages=nb.full_text,
        ),
        warc_out=nb.warc_out,
        warc_roll_mb=nb.warc_roll_mb,
        selection=Selection(frozenset(nb.languages or ()), parse_domains(nb.domains or "")),
        hosts=SharedFetchContext(),
    )


def ingest_config(
    options: PipelineOptions, settings: Settings, days: Optional[tuple[dt.date, dt.date]]
) -> IngestConfig:
    """A batch run's config: the shared settings and the batch-only options."""
    nb = options.view_as(NewsbeamOptions)
    if days:
        # A feed fetched tonight may hold entries of tomorrow's night, counted
        # out of range now: a 304 tomorrow would hide them, so date-limited
        # runs fetch every feed in full.
        settings = settings._replace(fetch=settings.fetch._replace(conditional=False))
    return IngestConfig(
        settings=settings,
        rows_per_file=nb.rows_per_file,
        progress_seconds=nb.progress_seconds,
        fetch_shards=nb.fetch_shards,
        published_range=day_range(*days) if days else None,
    )


def stream_config(
    options: PipelineOptions,
    settings: Settings,
    tick_endpoint: Optional[str] = None,
    control: Optional[StreamControl] = None,
) -> StreamConfig:
    """A stream's config: the shared settings and the stream-only options."""
    so = options.view_as(StreamOptions)
    return StreamConfig(
        settings=settings,
        poll_interval=so.poll_interval,
        watch=list(so.watch or []),
        watch_interval=so.watch_interval,
        window=so.window,
        stop_after=so.stop_after,
        dedup_ttl=so.dedup_ttl_days * DAY,
        max_age=so.max_age_days * DAY,
        tick_endpoint=tick_endpoint,
        control=control,
    )


def publication_days(
    date: Optional[str], since: Optional[str], until: Optional[str], today: dt.date
) -> Optional[tuple[dt.date, dt.date]]:
    """The first and last UTC day (inclusive) of publication to write, from --date or --since/--until.

    ``--date`` without a value (or "yesterday") is the day before ``today``: a
    nightly run ingests the night that just ended. Raises ValueError with a
    usage message on a bad date or range.
    """
    if date is not None and (since is not None or until is not None):
        raise ValueError("give either --date or --since/--until, not both")

    def parse(name: str, value: str) -> dt.date:
        if value == "yesterday":
            return today - dt.timedelta(days=1)
        if value == "today":
            return today
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} must be a date as YYYY-MM-DD (or 'yesterday'), not {value!r}") from None

    if date is not None:
        day = parse("--date", date)
        return day, day
    if since is None and until is None:
        return None
    first = parse("--since", since) if since is not None else dt.date(1970, 1, 1)
    last = parse("--until", until) if until is not None else today
    if first > last:
        raise ValueError(f"--since {first} is after --until {last}")
    return first, last


def day_range(first: dt.date, last: dt.date) -> tuple[Timestamp, Timestamp]:
    """[first 00:00 UTC, the day after last 00:00 UTC)."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + dt.timedelta(days=1)
    return Timestamp.from_utc_datetime(start), Timestamp.from_utc_datetime(end)
