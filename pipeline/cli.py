"""``newsbeam`` command line: parse options, build, run, report.

Exit status: 0 when the run completed (bad records are dead letters, not
failures), 3 when ``--max-dead-letter-ratio`` was exceeded, 2 for a usage
error, 1 when the pipeline itself failed (the reason is on stderr).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import re
import secrets
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, Callable, Optional, Sequence, TextIO

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    StandardOptions,
    TestOptions,
    _BeamArgumentParser,
)
from apache_beam.utils.timestamp import Timestamp

from pipeline.build import IngestConfig, build_ingest
from pipeline.options import MB, DaskRunOptions, NewsbeamOptions, StreamOptions
from pipeline.output import ClaimRefused, OutputClaim, claim_output
from pipeline.runners import DASK_NAMES, LOCAL_NAMES, make_runner, runner_problem
from pipeline.stream import StreamConfig, TickServer, build_stream, stream_counts
from pipeline.summary import (
    build_summary,
    counters,
    input_problems,
    nothing_read,
    print_summary,
    write_summary,
)
from transforms.entities import model_available
from transforms.fetch import FetchPolicy
from transforms.health import read_health
from transforms.sinks import RUN_MARKER, STAGING, join
from transforms.streaming import read_window_reports

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DEAD_LETTERS, EXIT_NOTHING_READ, EXIT_LOCKED = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130
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


INTERRUPTED_LINE = "newsbeam: interrupted: nothing of this run was published"


class Interruptible:
    """Ctrl-C during a batch run: one line, exit 130, at once — not Beam's tracebacks, not a hang.

    An interrupted batch run publishes nothing, so nothing in the pipeline is
    worth waiting for: a step blocked on a slow server (or Beam unwinding the
    interrupt, which it wraps and logs with its stack) could keep the process
    alive for minutes. The handler releases the output (``cleanup``), says
    so in one line and ends the process. Its staging is removed by the next
    run into the output; if the interrupt came while files were being moved
    into place, the next run completes the moves from the journal, exactly
    as after a crash.
    """

    def __init__(self, err: TextIO, cleanup: Callable[[], None]) -> None:
        self.err = err
        self.cleanup = cleanup
        self._previous: Any = None
        self._installed = False

    def _handle(self, *_: object) -> None:
        try:
            self.cleanup()
        finally:
            self.err.write(f"\n{INTERRUPTED_LINE}\n")
            self.err.flush()
            sys.stdout.flush()
            os._exit(EXIT_INTERRUPTED)

    def __enter__(self) -> Interruptible:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *_: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False


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
    stream = commands.add_parser(
        "stream",
        help="Poll feed URLs and OPML lists continuously; write windowed Parquet until --stop-after or Ctrl-C.",
        description="All other flags are pipeline options: see `newsbeam options` or the README.",
    )
    stream.add_argument("inputs", nargs="*", metavar="FEED_OR_OPML", help="A feed URL, or an OPML file or URL.")
    commands.add_parser("options", help="List every pipeline option with its help text.")
    return parser


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


def usage_problem(nb: NewsbeamOptions, run_id: str, missing_inputs: Optional[str]) -> Optional[str]:
    """What is wrong with a command line before anything runs, or None."""
    if missing_inputs:
        return missing_inputs
    if not nb.output:
        return "--output DIR is required"
    if not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        return "--run-id may only use letters, digits, '.', '_' and '-'"
    return None


def detached(options: PipelineOptions) -> bool:
    """Whether to return right after submitting: ``--detach``, or a template being staged.

    A Flex Template launcher runs our program with ``--template_location`` and
    waits for it to exit; waiting for the job there would block the launch.
    """
    nb = options.view_as(NewsbeamOptions)
    template = options.view_as(GoogleCloudOptions).template_location
    return bool(nb.detach or template)


def detach_problem(options: PipelineOptions, runner_name: str) -> Optional[str]:
    if detached(options) and runner_name.lower() in LOCAL_NAMES | DASK_NAMES:
        return f"--detach needs a remote runner such as DataflowRunner; {runner_name} runs inside this process"
    return None


def report_submitted(result: Any, run_id: str, output: str, out: TextIO) -> int:
    """What a detached run prints instead of its summary: where to follow the job."""
    job_id = getattr(result, "job_id", None)
    job = job_id() if callable(job_id) else None
    out.write(f"newsbeam: run {run_id} submitted" + (f" as job {job}" if job else "") + f"; output → {output}\n")
    return EXIT_OK


def model_problem(nb: NewsbeamOptions) -> Optional[str]:
    if nb.entities and not model_available(nb.ner_model):
        return (
            f"spaCy model {nb.ner_model!r} is not installed; install it "
            "(make install does, from requirements-ner.txt) or run with --entities off"
        )
    return None


def is_dry_run(options: PipelineOptions) -> bool:
    return bool(options.view_as(TestOptions).dry_run)


def report_dry_run(pipeline: beam.Pipeline, run_id: str, output: str, runner_name: str, out: TextIO) -> int:
    """What a ``--dry_run`` prints: the job was built and checked, nothing ran."""
    transforms = pipeline.to_runner_api().components.transforms
    steps = sum(1 for t in transforms.values() if not t.subtransforms)
    out.write(
        f"newsbeam: dry run of {run_id} on {runner_name}: the job was built ({steps} steps) and not submitted; "
        f"nothing was read or written (output would be {output})\n"
    )
    return EXIT_OK


def claim_for_run(options: PipelineOptions, nb: NewsbeamOptions, run_id: str, err: TextIO) -> OutputClaim | int:
    """The output claimed for this run (nothing for a dry run), or the exit status saying why it cannot be."""
    if is_dry_run(options):
        return OutputClaim(None, [])
    try:
        claim = claim_output(
            nb.output, run_id, wait=nb.wait_for_lock, detach=detached(options), command=" ".join(sys.argv)
        )
    except ClaimRefused as refused:
        err.write(f"newsbeam: error: {refused}\n")
        return EXIT_LOCKED if refused.reason == "locked" else EXIT_USAGE
    except Exception as error:  # noqa: BLE001 - an output that cannot be written to: reported, nothing ran
        err.write(f"newsbeam: pipeline failed: cannot use the output: {type(error).__name__}: {error}\n")
        return EXIT_FAILED
    for note in claim.notes:
        err.write(f"[newsbeam] recovered: {note}\n")
    return claim


def launch(
    pipeline: beam.Pipeline, options: PipelineOptions, run_id: str, output: str, runner_name: str, out: TextIO
) -> tuple[Any, Any] | int:
    """Runs the pipeline: (result, final state), or the exit status of a run only submitted or only built.

    A detached run (``--detach``, template staging) returns once submitted; a
    dry run once the runner has built and checked the job, with no summary.
    """
    result = pipeline.run()
    if detached(options):
        return report_submitted(result, run_id, output, out)
    state = result.wait_until_finish()
    if is_dry_run(options):
        return report_dry_run(pipeline, run_id, output, runner_name, out)
    return result, state


def run_ingest(
    inputs: Sequence[str], beam_args: Sequence[str], out: Optional[TextIO] = None, err: Optional[TextIO] = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    options = PipelineOptions(list(beam_args))
    nb = options.view_as(NewsbeamOptions)
    standard = options.view_as(StandardOptions)
    all_inputs = list(inputs) + list(nb.inputs or [])
    started = datetime.now(UTC)
    run_id = nb.run_id or new_run_id(started)
    runner_name = standard.runner or "DirectRunner"
    standard.runner = runner_name
    problem = usage_problem(nb, run_id, "no INPUT given" if not all_inputs else None)
    try:
        days = publication_days(nb.date, nb.since, nb.until, started.date())
    except ValueError as error:
        problem = problem or str(error)
        days = None
    problem = problem or detach_problem(options, runner_name)
    if problem:
        err.write(f"newsbeam: error: {problem}\n")
        return EXIT_USAGE
    config = IngestConfig(
        inputs=all_inputs,
        output=nb.output,
        run_id=run_id,
        ingested_at=Timestamp.from_utc_datetime(started),
        rows_per_file=nb.rows_per_file,
        progress_seconds=nb.progress_seconds,
        fetch_shards=nb.fetch_shards,
        published_range=day_range(*days) if days else None,
        **shared_settings(nb),
    )
    if days:
        # A feed fetched tonight may hold entries of tomorrow's night, counted
        # out of range now: a 304 tomorrow would hide them, so date-limited
        # runs fetch every feed in full.
        config = config._replace(fetch=config.fetch._replace(conditional=False))
    problem = model_problem(nb)
    if problem:
        err.write(f"newsbeam: error: {problem}\n")
        return EXIT_USAGE
    err.write(f"[newsbeam] run {run_id}: {len(all_inputs)} input(s) → {nb.output} on {runner_name}\n")
    pipeline = beam.Pipeline(runner=make_runner(runner_name), options=options)
    build_ingest(pipeline, config)
    claim = claim_for_run(options, nb, run_id, err)
    if isinstance(claim, int):
        return claim
    with claim:
        clock = time.monotonic()
        try:
            with Interruptible(err, claim.release), _Heartbeat(nb.progress_seconds, err):
                launched = launch(pipeline, options, run_id, nb.output, runner_name, out)
        except Exception as error:  # noqa: BLE001 - reported, then a non-zero exit
            err.write(f"newsbeam: pipeline failed: {type(error).__name__}: {error}\n")
            return EXIT_FAILED
        if isinstance(launched, int):
            return launched
        result, state = launched
        elapsed = time.monotonic() - clock
        summary = build_summary(
            counters(result),
            run_id=run_id,
            inputs=all_inputs,
            output=nb.output,
            options=reported_options(options, NewsbeamOptions, DaskRunOptions),
            started_at=started.isoformat(),
            finished_at=datetime.now(UTC).isoformat(),
            elapsed_seconds=elapsed,
            state=str(state),
            feed_health=read_health(nb.output, run_id),
            date_range={"since": days[0].isoformat(), "until": days[1].isoformat()} if days else None,
            recovered=claim.notes,
        )
        path = write_summary(nb.output, summary)
    print_summary(summary, path, out)
    return finish_status(summary, nb, run_id, err)


def finish_status(summary: dict[str, Any], nb: NewsbeamOptions, run_id: str, err: TextIO) -> int:
    """The exit status of a finished batch run, saying on stderr what went wrong with its inputs."""
    problems = input_problems(nb.output, run_id)
    for problem in problems[:20]:
        err.write(f"newsbeam: warning: {problem}\n")
    if len(problems) > 20:
        err.write(f"newsbeam: warning: … and {len(problems) - 20} more input problems (see dead_letter/)\n")
    counts = summary["counts"]
    if nothing_read(summary):
        err.write("newsbeam: error: nothing could be read from any input\n")
        return EXIT_NOTHING_READ
    if nb.max_dead_letter_ratio is not None and counts["read"]:
        ratio = counts["dead_lettered"] / counts["read"]
        if ratio > nb.max_dead_letter_ratio:
            err.write(
                f"newsbeam: {ratio:.1%} of records were dead-lettered, over --max-dead-letter-ratio "
                f"{nb.max_dead_letter_ratio:.1%}\n"
            )
            return EXIT_DEAD_LETTERS
    return EXIT_OK


def run_stream(
    inputs: Sequence[str], beam_args: Sequence[str], out: Optional[TextIO] = None, err: Optional[TextIO] = None
) -> int:
    """``newsbeam stream``: the unbounded pipeline, drained cleanly on --stop-after or Ctrl-C."""
    out = out or sys.stdout
    err = err or sys.stderr
    options = PipelineOptions(list(beam_args))
    nb = options.view_as(NewsbeamOptions)
    so = options.view_as(StreamOptions)
    standard = options.view_as(StandardOptions)
    all_inputs = list(inputs) + list(nb.inputs or [])
    started = datetime.now(UTC)
    run_id = nb.run_id or new_run_id(started)
    missing = "give a feed URL, an OPML list or --watch DIR" if not all_inputs and not so.watch else None
    runner_name = standard.runner or "DirectRunner"
    standard.runner = runner_name
    problem = (
        usage_problem(nb, run_id, missing)
        or detach_problem(options, runner_name)
        or runner_problem(runner_name, streaming=True)
        or model_problem(nb)
    )
    if problem:
        err.write(f"newsbeam: error: {problem}\n")
        return EXIT_USAGE
    standard.streaming = True
    local = runner_name.lower() in LOCAL_NAMES
    watch = list(so.watch or [])
    ticks = TickServer(so.poll_interval, so.stop_after, so.watch_interval if watch else None).start() if local else None
    config = StreamConfig(
        inputs=all_inputs,
        output=nb.output,
        run_id=run_id,
        ingested_at=Timestamp.from_utc_datetime(started),
        poll_interval=so.poll_interval,
        watch=watch,
        watch_interval=so.watch_interval,
        window=so.window,
        stop_after=so.stop_after,
        dedup_ttl=so.dedup_ttl_days * 86400,
        max_age=so.max_age_days * 86400,
        tick_endpoint=ticks.endpoint if ticks else None,
        control=ticks.control if ticks else None,
        **shared_settings(nb),
    )
    err.write(
        f"[newsbeam] stream {run_id}: {len(all_inputs)} input(s) → {nb.output} on {runner_name}, "
        f"polling every {so.poll_interval:g}s, {so.window:g}s windows"
        + (f", stopping after {so.stop_after:g}s" if so.stop_after else ", Ctrl-C to stop")
        + "\n"
    )
    pipeline = beam.Pipeline(runner=make_runner(runner_name, streaming=True), options=options)
    build_stream(pipeline, config)
    claim = claim_for_run(options, nb, run_id, err)
    if isinstance(claim, int):
        if ticks is not None:
            ticks.close()
        return claim
    with claim:
        clock = time.monotonic()
        previous = signal.getsignal(signal.SIGINT)
        interrupted = False

        def on_interrupt(*_: object) -> None:
            nonlocal interrupted
            if interrupted:  # a second Ctrl-C: stop now, without draining
                signal.signal(signal.SIGINT, signal.default_int_handler)
                raise KeyboardInterrupt
            interrupted = True
            err.write("[newsbeam] stopping: draining, the open window will be written… (Ctrl-C again to abort)\n")
            if ticks is not None:
                ticks.stop()

        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread and ticks is not None:
            signal.signal(signal.SIGINT, on_interrupt)
        try:
            launched = launch(pipeline, options, run_id, nb.output, runner_name, out)
        except Exception as error:  # noqa: BLE001 - reported, then a non-zero exit
            err.write(f"newsbeam: pipeline failed: {type(error).__name__}: {error}\n")
            return EXIT_FAILED
        finally:
            if in_main_thread and ticks is not None:
                signal.signal(signal.SIGINT, previous)
            if ticks is not None:
                ticks.close()
        if isinstance(launched, int):
            return launched
        result, state = launched
        remove_staging(nb.output, run_id, err)
        summary = build_summary(
            counters(result),
            run_id=run_id,
            inputs=all_inputs,
            output=nb.output,
            options=reported_options(options, NewsbeamOptions, StreamOptions),
            started_at=started.isoformat(),
            finished_at=datetime.now(UTC).isoformat(),
            elapsed_seconds=time.monotonic() - clock,
            state=str(state) + (" (interrupted)" if interrupted else ""),
            feed_health=latest_per_feed(read_health(nb.output, run_id)),
            recovered=claim.notes,
        )
        reports = read_window_reports(nb.output, run_id)
        totals = stream_counts(reports)
        read, written = totals.get("read", 0), totals.get("written", 0)
        duplicates, dead = totals.get("duplicates", 0), totals.get("dead_lettered", 0)
        # Counts from the window reports (the data), not Beam metrics: the local
        # streaming runner's metrics keep only each step's first bundle.
        summary["counts"] = {
            "read": read,
            "written": written,
            "duplicates": duplicates,
            "dead_lettered": dead,
            "reconciled": read == written + duplicates + dead,
        }
        summary["dead_lettered_by_stage"] = {
            k.removeprefix("dead_letter."): v for k, v in sorted(totals.items()) if k.startswith("dead_letter.")
        }
        summary["feeds"].update(
            fetched=totals.get("polled", 0) - totals.get("failed", 0) - totals.get("not_modified", 0),
            not_modified=totals.get("not_modified", 0),
            failed=totals.get("failed", 0),
            bytes=totals.get("bytes", 0),
            **{key: totals.get(key, 0) for key in ("skipped_not_due", "skipped_in_flight", "skipped_abandoned")},
        )
        summary["metrics_note"] = (
            "counts, dead letters by stage and feeds come from the window reports; the per-stage counters, "
            "repairs and entities come from Beam metrics, which the local streaming runner reports for the "
            "first bundle of each step only"
        )
        summary["stream"] = {
            "polls": ticks.ticks if ticks else None,
            "abandoned_fetches": ticks.abandoned if ticks else None,
            "windows": reports,
        }
        path = write_summary(nb.output, summary)
    print_summary(summary, path, out)
    return EXIT_OK


def latest_per_feed(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each feed's last health row of a stream run (one row per poll)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["fetched_at"]):
        latest[row["url"]] = row
    return list(latest.values())


def remove_staging(output: str, run_id: str, err: TextIO) -> None:
    """Removes a stream's temporary folders once ``fileio`` has moved every file out of them.

    A file still there was never published: it is kept, and reported, never
    deleted with the folders.
    """
    staging = join(output, STAGING, run_id)
    try:
        left = [m.path for m in FileSystems.match([join(staging, "**")])[0].metadata_list]
    except Exception:  # noqa: BLE001 - no staging folder: nothing to do
        left = []
    left = [path for path in left if ("://" in path or os.path.isfile(path)) and not path.endswith("/" + RUN_MARKER)]
    if left:
        err.write(f"newsbeam: warning: {len(left)} file(s) left unpublished in {staging}\n")
        return
    try:
        if FileSystems.exists(staging):
            FileSystems.delete([staging])
        if "://" not in staging:
            os.rmdir(os.path.dirname(staging.rstrip("/")))  # only when no other run is staging
    except OSError:
        pass


def shared_settings(nb: NewsbeamOptions) -> dict[str, Any]:
    """The settings batch and stream configs take alike from the options (text, limits, entities, fetching)."""
    return {
        "uncurl_quotes": nb.uncurl_quotes,
        "max_bytes": nb.max_file_mb * MB,
        "entities": nb.entities,
        "ner_model": nb.ner_model,
        "ner_languages": nb.ner_languages,
        "ner_batch_size": nb.ner_batch_size,
        "ner_max_chars": nb.ner_max_chars,
        "fetch": fetch_policy(nb),
        "max_entries_per_feed": nb.max_entries_per_feed,
        "opml_local_files": nb.opml_local_files,
    }


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


def option_names(*classes: type[PipelineOptions]) -> set[str]:
    """The settings the given option classes define, read off their own parsers (never listed by hand)."""
    parser = _BeamArgumentParser(add_help=False)
    for cls in classes:
        cls._add_argparse_args(parser)
    return {action.dest for action in parser._actions}


def reported_options(options: PipelineOptions, *classes: type[PipelineOptions]) -> dict[str, Any]:
    """The run's settings for its summary: every option of ``classes`` (inputs and output are reported apart) and the runner."""
    names = (option_names(*classes) | {"runner"}) - {"inputs", "output"}
    return {k: v for k, v in options.get_all_options(drop_default=False).items() if k in names}


def print_options(out: TextIO) -> None:
    parser = argparse.ArgumentParser(prog="newsbeam ingest|stream", add_help=False)
    NewsbeamOptions._add_argparse_args(parser)
    out.write(parser.format_help())
    stream = argparse.ArgumentParser(prog="newsbeam stream (also)", add_help=False)
    StreamOptions._add_argparse_args(stream)
    out.write("\n" + stream.format_help())


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


def split_inputs(tokens: Sequence[str]) -> tuple[list[str], list[str]]:
    """A subcommand's words as (INPUTs, pipeline flags), knowing which flags take a value.

    argparse alone cannot tell them apart: to the subcommand's parser
    ``--output`` is an unknown flag, so in ``ingest --input X --output DIR``
    it would take DIR for an INPUT. Every pipeline option (newsbeam's and
    Beam's) is known here, so a flag's value stays with its flag; an unknown
    flag is passed on alone, as Beam would read it.
    """
    parser = _BeamArgumentParser(add_help=False, allow_abbrev=False)
    for cls in {c.__name__: c for c in PipelineOptions.__subclasses__()}.values():
        try:
            cls._add_argparse_args(parser)
        except argparse.ArgumentError:  # an option two classes both define: the first is enough here
            continue
    takes_value = {
        flag: action.nargs for action in parser._actions for flag in action.option_strings if action.nargs != 0
    }
    inputs: list[str] = []
    flags: list[str] = []
    words = list(tokens)
    while words:
        word = words.pop(0)
        if word == "--":
            inputs.extend(words)
            break
        if not word.startswith("-") or word == "-":
            inputs.append(word)
            continue
        flags.append(word)
        if "=" in word or word not in takes_value:
            continue
        optional = takes_value[word] == "?"
        if words and not (optional and words[0].startswith("-")):
            flags.append(words.pop(0))
    return inputs, flags


def main(argv: Optional[Sequence[str]] = None) -> int:
    _configure_logging()
    words = list(sys.argv[1:] if argv is None else argv)
    args, _ = _parser().parse_known_args(words)
    if args.command == "options":
        print_options(sys.stdout)
        return EXIT_OK
    inputs, flags = split_inputs(words[words.index(args.command) + 1 :])
    try:
        if args.command == "stream":
            return run_stream(inputs, flags)
        return run_ingest(inputs, flags)
    except SystemExit as exit_:  # argparse inside PipelineOptions reports usage errors this way
        return int(exit_.code or EXIT_USAGE)
    except KeyboardInterrupt:
        # A batch run stops before publishing: nothing of it is visible, and the
        # next run into the output removes its staging. One line, no traceback.
        sys.stderr.write(f"\n{INTERRUPTED_LINE}\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
