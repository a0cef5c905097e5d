"""Running a command: ``newsbeam ingest`` and ``newsbeam stream`` from options to exit status.

Both open alike (``open_run``: options, run id, runner, the checks that need
nothing run) and run alike (``execute``: claim the output, run or submit, build
the summary while the output is still held). They differ in the graph they
build, in what Ctrl-C means (``pipeline.signals``) and in where their counts
come from (Beam metrics for a batch run, the window reports for a stream).

Exit status: 0 when the run completed (bad records are dead letters, not
failures), 1 when the pipeline itself failed (the reason is on stderr), 2 for
a usage error, 3 when ``--max-dead-letter-ratio`` was exceeded, 4 when
nothing could be read, 5 when another run holds the output, 130 on Ctrl-C.
"""

from __future__ import annotations

import re
import secrets
import sys
import time
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any, Callable, Iterator, NamedTuple, Optional, Sequence, TextIO

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    StandardOptions,
    TestOptions,
    _BeamArgumentParser,
)

from pipeline.build import build_ingest
from pipeline.options import DaskRunOptions, NewsbeamOptions, StreamOptions
from pipeline.output import ClaimRefused, OutputClaim, claim_output, remove_staging
from pipeline.runners import DASK_NAMES, LOCAL_NAMES, make_runner, runner_problem
from pipeline.settings import ingest_config, publication_days, settings_from_options, stream_config
from pipeline.signals import Draining, Heartbeat, Interruptible
from pipeline.stream import TickServer, build_stream
from pipeline.summary import (
    build_summary,
    counters,
    input_problems,
    latest_per_feed,
    nothing_read,
    print_summary,
    with_window_reports,
    write_summary,
)
from transforms.entities import model_available
from transforms.health import read_health
from transforms.windows import read_window_reports

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DEAD_LETTERS, EXIT_NOTHING_READ, EXIT_LOCKED = 0, 1, 2, 3, 4, 5

#: Run ids become parts of file names: nothing that could climb out of --output.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def new_run_id(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


# --------------------------------------------------------------------------
# What is wrong before anything runs
# --------------------------------------------------------------------------


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


def model_problem(nb: NewsbeamOptions) -> Optional[str]:
    if nb.entities and not model_available(nb.ner_model):
        return (
            f"spaCy model {nb.ner_model!r} is not installed; install it "
            "(make install does, from requirements-ner.txt) or run with --entities off"
        )
    return None


def is_dry_run(options: PipelineOptions) -> bool:
    return bool(options.view_as(TestOptions).dry_run)


# --------------------------------------------------------------------------
# The opening both commands share
# --------------------------------------------------------------------------


class Run(NamedTuple):
    """One command's run: its options, read once, and who it is."""

    options: PipelineOptions
    nb: NewsbeamOptions
    inputs: list[str]
    started: datetime
    run_id: str
    runner_name: str


def open_run(inputs: Sequence[str], beam_args: Sequence[str]) -> Run:
    """Parses the options and names the run (``--run-id`` or a new one) and its runner (always explicit)."""
    options = PipelineOptions(list(beam_args))
    nb = options.view_as(NewsbeamOptions)
    standard = options.view_as(StandardOptions)
    started = datetime.now(UTC)
    runner_name = standard.runner or "DirectRunner"
    standard.runner = runner_name
    return Run(
        options, nb, list(inputs) + list(nb.inputs or []), started, nb.run_id or new_run_id(started), runner_name
    )


def first_problem(*checks: Callable[[], Optional[str]]) -> Optional[str]:
    """The first usage problem the checks find, in order (later checks may assume earlier ones passed)."""
    for check in checks:
        problem = check()
        if problem:
            return problem
    return None


# --------------------------------------------------------------------------
# The run block both commands share
# --------------------------------------------------------------------------


def claim_for_run(run: Run, err: TextIO) -> OutputClaim | int:
    """The output claimed for this run (nothing for a dry run), or the exit status saying why it cannot be."""
    if is_dry_run(run.options):
        return OutputClaim(None, [])
    try:
        claim = claim_output(
            run.nb.output,
            run.run_id,
            wait=run.nb.wait_for_lock,
            detach=detached(run.options),
            command=" ".join(sys.argv),
            warc_out=run.nb.warc_out,
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


def report_submitted(result: Any, run_id: str, output: str, out: TextIO) -> int:
    """What a detached run prints instead of its summary: where to follow the job."""
    job_id = getattr(result, "job_id", None)
    job = job_id() if callable(job_id) else None
    out.write(f"newsbeam: run {run_id} submitted" + (f" as job {job}" if job else "") + f"; output → {output}\n")
    return EXIT_OK


def report_dry_run(pipeline: beam.Pipeline, run: Run, out: TextIO) -> int:
    """What a ``--dry_run`` prints: the job was built and checked, nothing ran."""
    transforms = pipeline.to_runner_api().components.transforms
    steps = sum(1 for t in transforms.values() if not t.subtransforms)
    out.write(
        f"newsbeam: dry run of {run.run_id} on {run.runner_name}: the job was built ({steps} steps) and not "
        f"submitted; nothing was read or written (output would be {run.nb.output})\n"
    )
    return EXIT_OK


def launch(pipeline: beam.Pipeline, run: Run, out: TextIO) -> tuple[Any, Any] | int:
    """Runs the pipeline: (result, final state), or the exit status of a run only submitted or only built.

    A detached run (``--detach``, template staging) returns once submitted; a
    dry run once the runner has built and checked the job, with no summary.
    """
    result = pipeline.run()
    if detached(run.options):
        return report_submitted(result, run.run_id, run.nb.output, out)
    state = result.wait_until_finish()
    if is_dry_run(run.options):
        return report_dry_run(pipeline, run, out)
    return result, state


class Finished(NamedTuple):
    """A run that ran to its end, with the output still held: what its summary is made of."""

    result: Any
    state: Any
    elapsed: float
    claim: OutputClaim


def execute(
    run: Run,
    pipeline: beam.Pipeline,
    guard: Callable[[OutputClaim], AbstractContextManager[Any]],
    summarise: Callable[[Finished], dict[str, Any]],
    out: TextIO,
    err: TextIO,
) -> tuple[dict[str, Any], str] | int:
    """Claims the output, runs the pipeline under ``guard`` (Ctrl-C, progress) and writes its summary.

    The summary is built and written while the output is still held, so no
    other run can publish between this run's files and its summary. Returns
    the summary and where it was written, or the exit status of a run that
    ended without one.
    """
    claim = claim_for_run(run, err)
    if isinstance(claim, int):
        return claim
    with claim:
        clock = time.monotonic()
        try:
            with guard(claim):
                launched = launch(pipeline, run, out)
        except Exception as error:  # noqa: BLE001 - reported, then a non-zero exit
            err.write(f"newsbeam: pipeline failed: {type(error).__name__}: {error}\n")
            return EXIT_FAILED
        if isinstance(launched, int):
            return launched
        summary = summarise(Finished(*launched, time.monotonic() - clock, claim))
        path = write_summary(run.nb.output, summary)
    return summary, path


def _summary_of(
    run: Run, finished: Finished, option_classes: Sequence[type[PipelineOptions]], **extra: Any
) -> dict[str, Any]:
    return build_summary(
        counters(finished.result),
        run_id=run.run_id,
        inputs=run.inputs,
        output=run.nb.output,
        options=reported_options(run.options, *option_classes),
        started_at=run.started.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
        elapsed_seconds=finished.elapsed,
        recovered=finished.claim.notes,
        **extra,
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


# --------------------------------------------------------------------------
# newsbeam ingest
# --------------------------------------------------------------------------


def run_ingest(
    inputs: Sequence[str], beam_args: Sequence[str], out: Optional[TextIO] = None, err: Optional[TextIO] = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    run = open_run(inputs, beam_args)
    nb = run.nb
    days = None

    def dates_problem() -> Optional[str]:
        nonlocal days
        try:
            days = publication_days(nb.date, nb.since, nb.until, run.started.date())
        except ValueError as error:
            return str(error)
        return None

    problem = first_problem(
        lambda: usage_problem(nb, run.run_id, "no INPUT given" if not run.inputs else None),
        dates_problem,
        lambda: detach_problem(run.options, run.runner_name),
        lambda: model_problem(nb),
    )
    if problem:
        err.write(f"newsbeam: error: {problem}\n")
        return EXIT_USAGE
    config = ingest_config(run.options, settings_from_options(run.options, run.inputs, run.run_id, run.started), days)
    err.write(f"[newsbeam] run {run.run_id}: {len(run.inputs)} input(s) → {nb.output} on {run.runner_name}\n")
    pipeline = beam.Pipeline(runner=make_runner(run.runner_name), options=run.options)
    build_ingest(pipeline, config)

    @contextmanager
    def guard(claim: OutputClaim) -> Iterator[None]:
        with Interruptible(err, claim.release), Heartbeat(nb.progress_seconds, err):
            yield

    def summarise(finished: Finished) -> dict[str, Any]:
        return _summary_of(
            run,
            finished,
            (NewsbeamOptions, DaskRunOptions),
            state=str(finished.state),
            feed_health=read_health(nb.output, run.run_id),
            date_range={"since": days[0].isoformat(), "until": days[1].isoformat()} if days else None,
        )

    written = execute(run, pipeline, guard, summarise, out, err)
    if isinstance(written, int):
        return written
    print_summary(*written, out)
    return finish_status(written[0], nb, run.run_id, err)


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


# --------------------------------------------------------------------------
# newsbeam stream
# --------------------------------------------------------------------------


def run_stream(
    inputs: Sequence[str], beam_args: Sequence[str], out: Optional[TextIO] = None, err: Optional[TextIO] = None
) -> int:
    """``newsbeam stream``: the unbounded pipeline, drained cleanly on --stop-after or Ctrl-C."""
    out = out or sys.stdout
    err = err or sys.stderr
    run = open_run(inputs, beam_args)
    nb = run.nb
    so = run.options.view_as(StreamOptions)
    missing = "give a feed URL, an OPML list or --watch DIR" if not run.inputs and not so.watch else None
    problem = first_problem(
        lambda: usage_problem(nb, run.run_id, missing),
        lambda: detach_problem(run.options, run.runner_name),
        lambda: runner_problem(run.runner_name, streaming=True),
        lambda: model_problem(nb),
    )
    if problem:
        err.write(f"newsbeam: error: {problem}\n")
        return EXIT_USAGE
    run.options.view_as(StandardOptions).streaming = True
    local = run.runner_name.lower() in LOCAL_NAMES
    ticks = (
        TickServer(so.poll_interval, so.stop_after, so.watch_interval if so.watch else None).start() if local else None
    )
    settings = settings_from_options(run.options, run.inputs, run.run_id, run.started)
    config = stream_config(run.options, settings, ticks.endpoint if ticks else None, ticks.control if ticks else None)
    err.write(
        f"[newsbeam] stream {run.run_id}: {len(run.inputs)} input(s) → {nb.output} on {run.runner_name}, "
        f"polling every {so.poll_interval:g}s, {so.window:g}s windows"
        + (f", stopping after {so.stop_after:g}s" if so.stop_after else ", Ctrl-C to stop")
        + "\n"
    )
    pipeline = beam.Pipeline(runner=make_runner(run.runner_name, streaming=True), options=run.options)
    build_stream(pipeline, config)
    draining = Draining(err, ticks.stop if ticks is not None else None)

    def summarise(finished: Finished) -> dict[str, Any]:
        remove_staging(nb.output, run.run_id, err)
        summary = _summary_of(
            run,
            finished,
            (NewsbeamOptions, StreamOptions),
            state=str(finished.state) + (" (interrupted)" if draining.interrupted else ""),
            feed_health=latest_per_feed(read_health(nb.output, run.run_id)),
        )
        return with_window_reports(
            summary,
            read_window_reports(nb.output, run.run_id),
            polls=ticks.ticks if ticks else None,
            abandoned=ticks.abandoned if ticks else None,
        )

    try:
        written = execute(run, pipeline, lambda _: draining, summarise, out, err)
    finally:
        if ticks is not None:
            ticks.close()  # also when the output could not be claimed and the stream never started
    if isinstance(written, int):
        return written
    print_summary(*written, out)
    return EXIT_OK
