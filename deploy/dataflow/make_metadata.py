"""Writes the Flex Template metadata (metadata-ingest.json, metadata-stream.json) from newsbeam's own option parsers.

    .venv/bin/python deploy/dataflow/make_metadata.py           # rewrite both files
    .venv/bin/python deploy/dataflow/make_metadata.py --check   # exit 1 if either is out of date

Every template parameter is an option of ``NewsbeamOptions`` (and, for the
stream template, ``StreamOptions``), named by its dest, with the option's help
text. So the metadata cannot drift from the CLI: a new option appears here the
next time this runs, and an option whose argparse type has no regex below stops
this script instead of reaching Dataflow unvalidated (tests/test_flex_template.py
checks the checked-in files are what this writes).

Regexes are one per parameter, anchored, and use only syntax that Python, Java
and RE2 read alike (no lookaround, no ``\\d``/``\\s``, which mean more than ASCII
in Python). Each accepts only values the option accepts, so a launch the
Dataflow console lets through is never refused by newsbeam for its shape; the
option itself still has the last word (an impossible day such as 2026-02-30).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from pipeline.options import (
    NewsbeamOptions,
    StreamOptions,
    _count,
    _domains,
    _languages,
    _non_negative,
    _on_off,
    _positive,
    _positive_float,
    _ratio,
)
from pipeline.template import MODES

HERE = Path(__file__).resolve().parent
KINDS = ("ingest", "stream")
#: Set by the entry on every launch, never a parameter.
NOT_PARAMETERS = {"detach", "inputs"}

NON_NEGATIVE_INT = r"^[0-9]+$"
POSITIVE_INT = r"^0*[1-9][0-9]*$"
NON_NEGATIVE_FLOAT = r"^([0-9]+([.][0-9]*)?|[.][0-9]+)$"
POSITIVE_FLOAT = r"^([0-9]*[1-9][0-9]*([.][0-9]*)?|0*[.][0-9]*[1-9][0-9]*)$"
RATIO = r"^(0+([.][0-9]*)?|0*[.][0-9]+|0*1([.]0*)?)$"
ON_OFF = r"^(on|off|true|false|yes|no|1|0)$"
SWITCH = r"^(true|false)$"
LANGUAGES = r"^[a-z]{2,3}(,[a-z]{2,3})*$"
DOMAINS = r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(,[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)*$"
DAY = r"^([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])|yesterday|today)$"
# newsbeam's run id: a letter or digit, then letters, digits, '.', '_', '-', never '..', at most 128 characters.
RUN_ID = r"^[A-Za-z0-9]([A-Za-z0-9_-]|[.][A-Za-z0-9_-]){0,63}[.]?$"
GCS = r"^gs://[a-z0-9][a-z0-9._-]*[a-z0-9](/[^\r\n]*)?$"
INPUT = r"^(gs://[a-z0-9][a-z0-9._-]*[a-z0-9](/[^\r\n]*)?|https?://[^\r\n\t ]+)$"
ONE_LINE = r"^[^\r\n]+$"
MODEL = r"^[A-Za-z0-9_./-]+$"
IMAGE = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})?$"

#: By the argparse ``type`` that parses the option.
BY_TYPE: dict[Callable[[str], Any], str] = {
    int: NON_NEGATIVE_INT,
    float: NON_NEGATIVE_FLOAT,
    _positive: POSITIVE_INT,
    _count: NON_NEGATIVE_INT,
    _non_negative: NON_NEGATIVE_FLOAT,
    _positive_float: POSITIVE_FLOAT,
    _ratio: RATIO,
    _on_off: ON_OFF,
    _languages: LANGUAGES,
    _domains: DOMAINS,
}
#: Plain-string options, by dest: what newsbeam checks later (dates, run ids) or what Dataflow needs (gs:// paths).
BY_DEST = {
    "output": GCS,
    "watch": GCS,
    "warc_out": GCS,
    "run_id": RUN_ID,
    "date": DAY,
    "since": DAY,
    "until": DAY,
    "ner_model": MODEL,
    "contact_url": ONE_LINE,
}

LABELS = {
    "mode": "Mode",
    "input": "Input (gs:// path, OPML list or feed URL)",
    "output": "Output directory (gs://)",
    "run_id": "Run id",
    "max_file_mb": "Largest input file (MiB)",
    "rows_per_file": "Rows per Parquet file",
    "max_dead_letter_ratio": "Largest share of dead letters",
    "progress_seconds": "Seconds between progress lines",
    "entities": "Named entities (on/off)",
    "ner_model": "spaCy model",
    "ner_languages": "NER languages (comma-separated)",
    "languages": "Languages to write (comma-separated)",
    "domains": "Domains to write (comma-separated)",
    "keep_non_articles": "Web archives: write pages that are not articles (on/off)",
    "warc_split_mb": "WARC range size (MiB)",
    "warc_out": "Archive of fetched responses as WARC (gs:// folder)",
    "warc_roll_mb": "WARC file size before a new one (MiB)",
    "ner_max_chars": "Characters of text given to NER",
    "date": "Publication day (YYYY-MM-DD or yesterday)",
    "since": "First publication day (YYYY-MM-DD)",
    "until": "Last publication day (YYYY-MM-DD)",
    "contact_url": "Contact URL or e-mail for the User-Agent",
    "connect_timeout": "Connect timeout (s)",
    "read_timeout": "Read timeout (s)",
    "fetch_deadline": "Deadline per response (s)",
    "retry_backoff": "First retry pause (s)",
    "max_retry_wait": "Longest retry pause (s)",
    "max_response_mb": "Largest response (MiB)",
    "per_host_delay": "Seconds between requests to one host",
    "poll_interval": "Seconds between polls",
    "watch": "Folder or glob to watch (gs://)",
    "watch_interval": "Seconds between looks at the watched folder",
    "window": "Window length (s)",
    "stop_after": "Stop after (s)",
    "dedup_ttl_days": "Days an article id is remembered",
    "max_age_days": "Oldest publication date taken as event time (days)",
    "sdk_container_image": "Worker container image",
}

#: Options read only after a run ends; a template launch detaches, so they change nothing there.
AFTER_THE_RUN = {"max_dead_letter_ratio", "progress_seconds"}
#: NewsbeamOptions that only `newsbeam ingest` reads (tests/test_flex_template.py checks run_stream does not).
BATCH_ONLY = {"rows_per_file", "date", "since", "until", "fetch_shards"}
#: What a template launch needs beyond the option's own help.
ON_DATAFLOW = {
    "output": "On Dataflow: a gs:// URL.",
    "watch": "On Dataflow: a gs:// folder or glob.",
    "warc_out": "On Dataflow: a gs:// folder.",
}

INPUT_HELP = {
    "ingest": "One input: a gs:// file, folder or glob of article and feed files, an OPML list (gs:// or URL) "
    "or a feed URL (http/https). List more feeds in an OPML file.",
    "stream": "One feed URL (http/https) or OPML list (gs:// or URL) to poll. Optional when watch is given.",
}
MODE_HELP = {
    "ingest": "ingest (the default): this template runs `newsbeam ingest`, the batch pipeline.",
    "stream": "Must be stream: this template runs `newsbeam stream`, the streaming pipeline.",
}
IMAGE_HELP = (
    "The worker container image: the image this template was built from (build-image.sh prints it), "
    "so the workers run the code and pins the launcher ran."
)
DESCRIPTION = {
    "ingest": "newsbeam ingest: news feeds, OPML lists and article files to clean, deduplicated, schema-versioned "
    "Parquet (articles, dead letters, feed health) under the output folder. Batch; the launch returns once "
    "the job is submitted.",
    "stream": "newsbeam stream: polls feeds and OPML lists (and watches a gs:// folder) continuously and writes "
    "windowed Parquet under the output folder until the job is drained.",
}


def label(name: str) -> str:
    return LABELS.get(name) or name.replace("_", " ").capitalize()


def regex_for(action: argparse.Action) -> str:
    if isinstance(action, argparse._StoreTrueAction):
        return SWITCH
    if action.dest in BY_DEST:
        return BY_DEST[action.dest]
    if action.type in BY_TYPE:
        return BY_TYPE[action.type]  # type: ignore[index]
    raise SystemExit(
        f"make_metadata.py: no regex for --{action.dest} (type {action.type!r}): add one to BY_TYPE or BY_DEST"
    )


def default_as_parameter(action: argparse.Action) -> Optional[str]:
    """The option's default written the way a template parameter would give it, or None when it has none."""
    default = action.default
    if default is None:
        return None
    if isinstance(action, argparse._StoreTrueAction):
        return "true" if default else "false"
    if action.type is _on_off:
        return "on" if default else "off"
    if isinstance(default, list):
        return ",".join(default)
    return str(default)


def help_text(action: argparse.Action, kind: str) -> str:
    """The option's help, then its default and what differs in a template launch of ``kind``."""
    text = str(action.help or "")
    default = default_as_parameter(action)
    if default is not None and "Default" not in text:
        text += f" Default: {default}."
    if action.dest in ON_DATAFLOW:
        text += " " + ON_DATAFLOW[action.dest]
    if action.dest in AFTER_THE_RUN:
        text += " (No effect on a template launch: it detaches, so no run summary is made.)"
    elif kind == "stream" and action.dest in BATCH_ONLY:
        text += " (Batch only: newsbeam stream ignores it.)"
    return text


def option_parameter(action: argparse.Action, kind: str) -> dict[str, Any]:
    return {
        "name": action.dest,
        "label": label(action.dest),
        "helpText": help_text(action, kind),
        "isOptional": action.dest != "output",
        "regexes": [regex_for(action)],
    }


def options_of(kind: str) -> list[argparse.Action]:
    classes = [NewsbeamOptions] + ([StreamOptions] if kind == "stream" else [])
    actions: list[argparse.Action] = []
    for options in classes:
        parser = argparse.ArgumentParser(add_help=False)
        options._add_argparse_args(parser)
        actions += [a for a in parser._actions if a.dest not in NOT_PARAMETERS]
    return actions


def metadata(kind: str) -> dict[str, Any]:
    """The Flex Template metadata of ``kind`` (ingest or stream)."""
    if kind not in MODES:
        raise ValueError(kind)
    parameters = [
        {
            "name": "mode",
            "label": label("mode"),
            "helpText": MODE_HELP[kind],
            "isOptional": kind == "ingest",
            "regexes": [f"^{kind}$"],
        },
        {
            "name": "input",
            "label": label("input"),
            "helpText": INPUT_HELP[kind],
            "isOptional": kind == "stream",
            "regexes": [INPUT],
        },
    ]
    actions = options_of(kind)
    output = next(a for a in actions if a.dest == "output")
    parameters.append(option_parameter(output, kind))
    parameters += [option_parameter(a, kind) for a in actions if a is not output]
    parameters.append(
        {
            "name": "sdk_container_image",
            "label": label("sdk_container_image"),
            "helpText": IMAGE_HELP,
            "isOptional": False,
            "regexes": [IMAGE],
        }
    )
    spec: dict[str, Any] = {"name": f"newsbeam {kind}", "description": DESCRIPTION[kind], "streaming": kind == "stream"}
    if kind == "stream":
        spec.update(supportsExactlyOnce=True, supportsAtLeastOnce=False)
    spec["parameters"] = parameters
    return spec


def path_of(kind: str) -> Path:
    return HERE / f"metadata-{kind}.json"


def rendered(kind: str) -> str:
    return json.dumps(metadata(kind), indent=2, ensure_ascii=False) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Write (or --check) the Flex Template metadata files.")
    parser.add_argument("--check", action="store_true", help="Exit 1 if a checked-in file differs; write nothing.")
    args = parser.parse_args(argv)
    stale = []
    for kind in KINDS:
        path, text = path_of(kind), rendered(kind)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run {Path(__file__).name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
