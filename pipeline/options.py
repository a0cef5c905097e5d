"""newsbeam's pipeline options: one ``PipelineOptions`` subclass, help on every flag.

The same names appear in the Dataflow template metadata (``deploy/``), so a
template launch and a local run are configured alike.
"""

from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions

MB = 1024 * 1024


def _ratio(value: str) -> float:
    ratio = float(value)
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
            type=int,
            default=64,
            help="Largest input file, and largest decompressed gzip content, in MiB; bigger ones are dead-lettered.",
        )
        parser.add_argument(
            "--rows_per_file",
            "--rows-per-file",
            dest="rows_per_file",
            type=int,
            default=100_000,
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
            type=float,
            default=5.0,
            help="Seconds between progress lines on a local run.",
        )
