"""``newsbeam`` command line: parse options, build, run, report.

Exit status: 0 when the run completed (bad records are dead letters, not
failures), 3 when ``--max-dead-letter-ratio`` was exceeded, 2 for a usage
error, 1 when the pipeline itself failed (the reason is on stderr).
"""

from __future__ import annotations

import argparse
import logging
import re
import secrets
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Optional, Sequence, TextIO

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.utils.timestamp import Timestamp

from pipeline.build import IngestConfig, build_ingest
from pipeline.options import MB, NewsbeamOptions
from pipeline.runners import make_runner
from pipeline.summary import build_summary, counters, print_summary, write_summary
from transforms.entities import model_available
from transforms.fetch import FetchPolicy
from transforms.health import read_health

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DEAD_LETTERS = 0, 1, 2, 3
_LOG = logging.getLogger("newsbeam")


#: Run ids become parts of file names: nothing that could climb out of --output.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def new_run_id(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class _Heartbeat:
    """Prints a progress line every few seconds while a local run blocks."""

    def __init__(self, interval: float, out: TextIO):
        self.interval = interval
        self.out = out
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.out.write(f"[newsbeam] running… {time.monotonic() - self._started:.0f}s elapsed\n")
            self.out.flush()

    def __enter__(self) -> _Heartbeat:
        if self.interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsbeam", description="News feeds and article files to clean Parquet.")
    commands = parser.add_subparsers(dest="command", required=True)
    ingest = commands.add_parser(
        "ingest",
        help="Batch ingest of feed URLs, article files, feed files, directories, globs and OPML lists.",
        description="All other flags are pipeline options: see `newsbeam options` or the README.",
    )
    ingest.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="A feed URL (http/https), a file, directory (recursive), glob, or an OPML file or URL.",
    )
    commands.add_parser("options", help="List every pipeline option with its help text.")
    return parser


def run_ingest(
    inputs: Sequence[str], beam_args: Sequence[str], out: Optional[TextIO] = None, err: Optional[TextIO] = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    options = PipelineOptions(list(beam_args))
    nb = options.view_as(NewsbeamOptions)
    standard = options.view_as(StandardOptions)
    all_inputs = list(inputs) + list(nb.inputs or [])
    if not all_inputs:
        err.write("newsbeam: error: no INPUT given\n")
        return EXIT_USAGE
    if not nb.output:
        err.write("newsbeam: error: --output DIR is required\n")
        return EXIT_USAGE
    started = datetime.now(UTC)
    run_id = nb.run_id or new_run_id(started)
    if not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        err.write("newsbeam: error: --run-id may only use letters, digits, '.', '_' and '-'\n")
        return EXIT_USAGE
    runner_name = standard.runner or "DirectRunner"
    standard.runner = runner_name
    config = IngestConfig(
        inputs=all_inputs,
        output=nb.output,
        run_id=run_id,
        ingested_at=Timestamp.from_utc_datetime(started),
        uncurl_quotes=nb.uncurl_quotes,
        max_bytes=nb.max_file_mb * MB,
        rows_per_file=nb.rows_per_file,
        progress_seconds=nb.progress_seconds,
        entities=nb.entities,
        ner_model=nb.ner_model,
        ner_languages=nb.ner_languages,
        ner_batch_size=nb.ner_batch_size,
        ner_max_chars=nb.ner_max_chars,
        fetch=fetch_policy(nb),
        fetch_shards=nb.fetch_shards,
        max_entries_per_feed=nb.max_entries_per_feed,
    )
    if config.entities and not model_available(config.ner_model):
        err.write(
            f"newsbeam: error: spaCy model {config.ner_model!r} is not installed; install it "
            "(make install does, from requirements-ner.txt) or run with --entities off\n"
        )
        return EXIT_USAGE
    err.write(f"[newsbeam] run {run_id}: {len(all_inputs)} input(s) → {nb.output} on {runner_name}\n")
    clock = time.monotonic()
    pipeline = beam.Pipeline(runner=make_runner(runner_name), options=options)
    build_ingest(pipeline, config)
    try:
        with _Heartbeat(nb.progress_seconds, err):
            result = pipeline.run()
            state = result.wait_until_finish()
    except Exception as error:  # noqa: BLE001 - reported, then a non-zero exit
        err.write(f"newsbeam: pipeline failed: {type(error).__name__}: {error}\n")
        return EXIT_FAILED
    elapsed = time.monotonic() - clock
    summary = build_summary(
        counters(result),
        run_id=run_id,
        inputs=all_inputs,
        output=nb.output,
        options={k: v for k, v in nb.get_all_options(drop_default=False).items() if k in _REPORTED},
        started_at=started.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
        elapsed_seconds=elapsed,
        state=str(state),
        feed_health=read_health(nb.output, run_id),
    )
    path = write_summary(nb.output, summary)
    print_summary(summary, path, out)
    counts = summary["counts"]
    if nb.max_dead_letter_ratio is not None and counts["read"]:
        ratio = counts["dead_lettered"] / counts["read"]
        if ratio > nb.max_dead_letter_ratio:
            err.write(
                f"newsbeam: {ratio:.1%} of records were dead-lettered, over --max-dead-letter-ratio "
                f"{nb.max_dead_letter_ratio:.1%}\n"
            )
            return EXIT_DEAD_LETTERS
    return EXIT_OK


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
        max_bytes=int(nb.max_response_mb * MB),
        max_decompressed=nb.max_file_mb * MB,
        allow_private_hosts=nb.allow_private_hosts,
        conditional=nb.conditional_get,
        per_host_concurrency=nb.per_host_concurrency,
        per_host_delay=nb.per_host_delay,
        threads=nb.fetch_threads,
        discover=nb.discover_feeds,
    )


_REPORTED = {
    "runner",
    "uncurl_quotes",
    "max_file_mb",
    "rows_per_file",
    "max_dead_letter_ratio",
    "progress_seconds",
    "run_id",
    "entities",
    "ner_model",
    "ner_languages",
    "ner_batch_size",
    "ner_max_chars",
    "allow_private_hosts",
    "contact_url",
    "connect_timeout",
    "read_timeout",
    "fetch_deadline",
    "max_redirects",
    "fetch_retries",
    "retry_backoff",
    "max_retry_wait",
    "max_response_mb",
    "max_entries_per_feed",
    "conditional_get",
    "per_host_concurrency",
    "per_host_delay",
    "fetch_threads",
    "fetch_shards",
    "discover_feeds",
}


def print_options(out: TextIO) -> None:
    parser = argparse.ArgumentParser(prog="newsbeam ingest", add_help=False)
    NewsbeamOptions._add_argparse_args(parser)
    out.write(parser.format_help())


def _configure_logging() -> None:
    """newsbeam's own messages as ``[newsbeam] ...`` on stderr; Beam's only from warnings up."""
    if not any(getattr(h, "_newsbeam", False) for h in _LOG.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[newsbeam] %(message)s"))
        handler._newsbeam = True  # type: ignore[attr-defined]
        _LOG.addHandler(handler)
    _LOG.setLevel(logging.INFO)
    _LOG.propagate = False
    logging.getLogger("apache_beam").setLevel(logging.WARNING)


def main(argv: Optional[Sequence[str]] = None) -> int:
    _configure_logging()
    args, rest = _parser().parse_known_args(argv)
    if args.command == "options":
        print_options(sys.stdout)
        return EXIT_OK
    try:
        return run_ingest(args.inputs, rest)
    except SystemExit as exit_:  # argparse inside PipelineOptions reports usage errors this way
        return int(exit_.code or EXIT_USAGE)


if __name__ == "__main__":
    sys.exit(main())
