"""Whole-pipeline throughput against a plain Python loop over the same functions.

Why: the pipeline's cost is the work (decode, parse, repair, metadata, write)
plus Beam's overhead (coders, fusion, shuffles for dedup and partitioned
writes). Running both over the same input in the same process, alternately,
shows that overhead as a ratio that survives a noisy shared machine; the loop's
per-stage timings show where the work itself goes.

Input: the real feeds in ``../shared/corpora/news_feeds`` repeated ``--copies``
times, each copy's URLs rewritten (``://`` → ``://cN.``) so every article is
distinct and nothing is lost to de-duplication.

    python bench/pipeline_bench.py [--copies 4] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pipeline  # noqa: E402,F401  # first: it quiets Beam's import-time log noise

# isort: split
from apache_beam.utils.timestamp import Timestamp  # noqa: E402

from pipeline.run import run_ingest  # noqa: E402
from schemas import ARTICLE_SCHEMA, to_arrow_table  # noqa: E402
from schemas.records import RawDocument  # noqa: E402
from transforms.enrich import build_article, repair_article  # noqa: E402
from transforms.entities import EntityLinker, EntityRecognizer, annotate  # noqa: E402
from transforms.metadata import LanguageIdentifier  # noqa: E402
from transforms.parse import parse_document  # noqa: E402
from transforms.sinks import write_parquet  # noqa: E402
from transforms.sources import read_bytes  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "news_feeds"
STAGES = ("read", "parse", "repair_text", "extract_metadata", "dedup", "extract_entities", "write")


def make_input(directory: Path, copies: int) -> int:
    files = 0
    for copy in range(copies):
        for feed in sorted(CORPUS.glob("*.xml")):
            data = feed.read_bytes().replace(b"://", f"://c{copy}.".encode())
            (directory / f"c{copy}_{feed.name}").write_bytes(data)
            files += 1
    return files


def run_pipeline(inputs: Path, output: Path, entities: bool) -> tuple[float, int]:
    """Seconds for one CLI ingest on one worker, and the records it read."""
    import json

    started = time.perf_counter()
    status = run_ingest(
        [str(inputs)],
        [
            *("--output", str(output), "--runner", "DirectRunner", "--direct_num_workers", "1"),
            *("--progress-seconds", "0", "--entities", "on" if entities else "off"),
            *("--full-text", "off"),  # the corpus entries link to real publishers: never contacted
        ],
        out=io.StringIO(),
        err=io.StringIO(),
    )
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"pipeline run failed with status {status}")
    summary = json.loads(next((output / "runs").glob("*.json")).read_text())
    return elapsed, summary["counts"]["read"]


def run_loop(
    inputs: Path, output: Path, identifier: LanguageIdentifier, ner: Optional[tuple[EntityRecognizer, EntityLinker]]
) -> tuple[float, int, dict[str, float]]:
    """The same functions the DoFns call, in a plain loop; seconds per stage."""
    stages: dict[str, float] = defaultdict(float)
    ingested = Timestamp.now()
    started = time.perf_counter()
    clock = started
    articles = {}
    read = 0

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[stage] += now - clock
        clock = now

    for path in sorted(inputs.iterdir()):
        data = read_bytes(str(path), 64 * 1024 * 1024)
        document = RawDocument(str(path), "file", data, ingested, None, None)
        lap("read")
        _, parsed = parse_document(document)
        lap("parse")
        for raw in parsed.articles:
            read += 1
            repaired, _ = repair_article(raw, identifier.detect)
            lap("repair_text")
            article, _ = build_article(repaired, "bench", ingested)
            lap("extract_metadata")
            articles.setdefault(article.article_id, article)
            lap("dedup")
    if ner is not None:
        recognizer, linker = ner
        english = [a for a in articles.values() if a.text.strip() and a.language in (None, "en")]
        for start in range(0, len(english), 64):
            batch = english[start : start + 64]
            for article, found in zip(batch, recognizer.mentions([a.text for a in batch]), strict=True):
                articles[article.article_id] = article._replace(**annotate(article.text, found, linker))
        lap("extract_entities")
    partitions: dict[str, list] = defaultdict(list)
    for article in articles.values():
        partitions[(article.published_at or ingested).to_utc_datetime().strftime("%Y-%m-%d")].append(article)
    for index, (day, rows) in enumerate(sorted(partitions.items())):
        write_parquet(
            str(output / f"published_date={day}" / f"part-{index:05d}.parquet"), to_arrow_table(rows, ARTICLE_SCHEMA)
        )
    lap("write")
    return time.perf_counter() - started, read, dict(stages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4, help="times the corpus is repeated (845 articles each)")
    parser.add_argument("--runs", type=int, default=3, help="alternating runs of each side; medians are reported")
    parser.add_argument("--entities", choices=("on", "off"), default="on", help="named entities on both sides")
    args = parser.parse_args()
    entities = args.entities == "on"

    work = Path(tempfile.mkdtemp(prefix="newsbeam-bench-"))
    try:
        inputs = work / "inputs"
        inputs.mkdir()
        files = make_input(inputs, args.copies)
        identifier = LanguageIdentifier()
        ner = (EntityRecognizer.from_file(), EntityLinker.from_file()) if entities else None
        pipeline_times, loop_times, stage_runs = [], [], []
        read = loop_read = 0
        for run in range(args.runs):
            seconds, read = run_pipeline(inputs, work / f"pipeline-{run}", entities)
            pipeline_times.append(seconds)
            seconds, loop_read, stages = run_loop(inputs, work / f"loop-{run}", identifier, ner)
            loop_times.append(seconds)
            stage_runs.append(stages)
            print(
                f"run {run + 1}/{args.runs}: pipeline {pipeline_times[-1]:.2f}s, loop {loop_times[-1]:.2f}s",
                file=sys.stderr,
            )
        if read != loop_read:
            raise SystemExit(f"pipeline read {read} records but the loop read {loop_read}")

        pipeline_rate = read / statistics.median(pipeline_times)
        loop_rate = loop_read / statistics.median(loop_times)
        print(
            f"\nnewsbeam pipeline benchmark — {files} feed files, {read} articles, entities {args.entities}, "
            f"{args.runs} runs, medians"
        )
        print(f"machine: {os.cpu_count()} cores; both sides run on one core (FnApiRunner, direct_num_workers=1)\n")
        print("| what | seconds (median) | articles/s/core | ratio to loop |")
        print("|---|---:|---:|---:|")
        print(
            f"| pipeline (`newsbeam ingest`, DirectRunner) | {statistics.median(pipeline_times):.2f} | {pipeline_rate:.0f} | {pipeline_rate / loop_rate:.2f} |"
        )
        print(f"| plain Python loop, same functions | {statistics.median(loop_times):.2f} | {loop_rate:.0f} | 1.00 |")
        print("\nPer-stage cost in the loop (median per stage):\n")
        print("| stage | ms/article | share |")
        print("|---|---:|---:|")
        medians = {stage: statistics.median(run.get(stage, 0.0) for run in stage_runs) for stage in STAGES}
        total = sum(medians.values())
        for stage in STAGES:
            print(f"| {stage} | {1000 * medians[stage] / loop_read:.3f} | {medians[stage] / total:.0%} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
