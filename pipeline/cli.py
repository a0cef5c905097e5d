"""``newsbeam`` command line: parsing and dispatch only.

``newsbeam ingest`` and ``newsbeam stream`` run through :mod:`pipeline.run`
(options → settings → graph → run → summary → exit status); this module
turns the words of a command line into a command, its INPUTs and its
pipeline flags, and says which options exist. Exit statuses are listed in
:mod:`pipeline.run`.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from typing import Optional, Sequence, TextIO

# Importing Beam and the rest builds about 170,000 objects that live as long as the
# process; the garbage collector, run about 390 times while they are built, finds
# about 2,000 to free and costs 0.27 s of every command's start (measured here). So
# it is off while they are imported, and back on (whatever happens) before anything runs.
gc.disable()
try:
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    from pipeline.options import NewsbeamOptions, StreamOptions
    from pipeline.report import DEFAULT_TOP, run_report
    from pipeline.run import EXIT_OK, EXIT_USAGE, run_ingest, run_stream
    from pipeline.signals import EXIT_INTERRUPTED, INTERRUPTED_LINE
finally:
    gc.enable()

_LOG = logging.getLogger("newsbeam")


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
    _add_report(commands)
    return parser


def _add_report(commands: argparse._SubParsersAction) -> None:
    """``newsbeam report``: its own flags (no pipeline options), so a misspelt one is an error, not ignored."""
    report = commands.add_parser(
        "report",
        help="Summarise an output folder: in the terminal, as JSON (--json) or as one HTML page (--html).",
        description=(
            "Reads the Parquet output newsbeam wrote into DIR (batch or stream, any schema version) with DuckDB and "
            "reports articles per source and day, languages, text source, top people, organisations, places and "
            "countries, the largest story clusters, encoding repairs, dead letters, failing feeds and pages. "
            "Days are UTC and both ends of the range are included: articles count on their publication day (their "
            "ingest day when they have none), dead letters and feed fetches on the day they happened, story clusters "
            "by their articles in the range."
        ),
    )
    report.add_argument("output", metavar="DIR", help="An output folder newsbeam wrote (--output of ingest or stream).")
    report.add_argument(
        "--since", metavar="DAY", help="First day to report, included (YYYY-MM-DD, today or yesterday; UTC)."
    )
    report.add_argument(
        "--until", metavar="DAY", help="Last day to report, included (YYYY-MM-DD, today or yesterday; UTC)."
    )
    report.add_argument(
        "--html", metavar="FILE", help="Also write the report as one self-contained HTML page (charts, no network)."
    )
    report.add_argument(
        "--json",
        metavar="FILE",
        nargs="?",
        const="-",
        dest="json_to",
        help="The report as JSON for dashboards: to FILE, or instead of the text on stdout when no FILE is given.",
    )
    report.add_argument(
        "--top", metavar="N", type=int, default=DEFAULT_TOP, help="Entries per ranked list (default: %(default)s)."
    )


def print_options(out: TextIO) -> None:
    parser = argparse.ArgumentParser(prog="newsbeam ingest|stream", add_help=False)
    NewsbeamOptions._add_argparse_args(parser)
    out.write(parser.format_help())
    stream = argparse.ArgumentParser(prog="newsbeam stream (also)", add_help=False)
    StreamOptions._add_argparse_args(stream)
    out.write("\n" + stream.format_help())


def _configure_logging() -> None:
    """newsbeam's own messages as ``[newsbeam] ...`` on stderr; Beam's only from warnings up, the extractors' from errors."""
    if not any(getattr(h, "_newsbeam", False) for h in _LOG.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[newsbeam] %(message)s"))
        handler._newsbeam = True  # type: ignore[attr-defined]
        _LOG.addHandler(handler)
    _LOG.setLevel(logging.INFO)
    _LOG.propagate = False
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    # trafilatura and htmldate warn about every page with nothing to extract ("discarding data"):
    # such a page is an outcome newsbeam counts (page_error = extraction_empty), not a warning.
    for library in ("trafilatura", "htmldate", "courlan"):
        logging.getLogger(library).setLevel(logging.ERROR)


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
    if args.command == "report":
        args = _parser().parse_args(words)  # every word must be one of report's own flags
        return run_report(
            args.output,
            since=args.since,
            until=args.until,
            html=args.html,
            json_to=args.json_to,
            top=args.top,
            out=sys.stdout,
            err=sys.stderr,
        )
    inputs, flags = split_inputs(words[words.index(args.command) + 1 :])
    if argv is None:
        # A process that runs one command: what imports built (Beam, pyarrow, the
        # extractors) lives until exit, so full collections need not walk it again
        # and again (about 0.3 s of a 400-article run). Not when called in-process
        # (tests, embedding), where freezing would keep the caller's garbage forever.
        gc.freeze()
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
