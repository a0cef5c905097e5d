"""Articles per second on Dask (1 and 2 worker processes) against the in-process DirectRunner.

Why: Dask is the engine past one machine that runs here; what it buys (or
costs) on one machine is worth knowing before pointing it at a cluster. All
configurations ingest the same input in the same benchmark run, interleaved
round by round, so the machine's noise hits them alike; medians of ``--runs``.

- ``direct``: ``--runner DirectRunner`` (Beam's in-process FnApiRunner, one worker).
- ``dask-N``: ``--runner DaskRunner --dask-address`` of an already running
  ``LocalCluster`` with N worker processes of one thread: the steady state of a
  cluster that stays up.
- ``dask-N+start``: ``--runner DaskRunner --dask-workers N``: newsbeam starts
  and stops its own local cluster, so the time includes starting N Python
  worker processes (what a one-off local run pays).

Input: the real feeds of ``../shared/corpora/news_feeds``, repeated
``--copies`` times with their URLs rewritten so every article is distinct.

    python bench/dask_bench.py [--copies 2] [--runs 3] [--entities on|off]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pipeline  # noqa: E402,F401  # first: it quiets Beam's import-time log noise

# isort: split
import distributed  # noqa: E402
from pipeline_bench import make_input  # noqa: E402

from pipeline.run import run_ingest  # noqa: E402


def one_run(inputs: Path, output: Path, runner: list[str], entities: str) -> tuple[float, int]:
    """Seconds for one CLI ingest, and the articles it wrote."""
    shutil.rmtree(output, ignore_errors=True)
    started = time.perf_counter()
    err = io.StringIO()
    status = run_ingest(
        [str(inputs)],
        # --full-text off: the corpus entries link to real publishers, which must never be contacted.
        ["--output", str(output), "--progress-seconds", "0", "--entities", entities, "--full-text", "off", *runner],
        out=io.StringIO(),
        err=err,
    )
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"run {runner} failed with status {status}:\n{err.getvalue()}")
    summary = json.loads(next((output / "runs").glob("*.json")).read_text())
    return elapsed, summary["counts"]["written"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--entities", choices=("on", "off"), default="on")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="newsbeam-dask-bench-"))
    clusters = {
        n: distributed.LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        )
        for n in (1, 2)
    }
    try:
        inputs = work / "in"
        inputs.mkdir()
        files = make_input(inputs, args.copies)
        configs = {
            "direct": ["--runner", "DirectRunner"],
            "dask-1": ["--runner", "DaskRunner", "--dask-address", clusters[1].scheduler_address],
            "dask-2": ["--runner", "DaskRunner", "--dask-address", clusters[2].scheduler_address],
            "dask-1+start": ["--runner", "DaskRunner", "--dask-workers", "1"],
            "dask-2+start": ["--runner", "DaskRunner", "--dask-workers", "2"],
        }
        # One untimed run each: imports, spaCy and language models loaded in every process.
        for name, runner in configs.items():
            if "+start" not in name:
                one_run(inputs, work / "warm", runner, args.entities)
        seconds: dict[str, list[float]] = {name: [] for name in configs}
        written: dict[str, set[int]] = {name: set() for name in configs}
        for round_ in range(args.runs):
            for name, runner in configs.items():
                elapsed, count = one_run(inputs, work / "out", runner, args.entities)
                seconds[name].append(elapsed)
                written[name].add(count)
                print(f"round {round_ + 1}: {name:13s} {elapsed:6.1f} s  {count} articles", flush=True)
        counts = {c for name in configs for c in written[name]}
        if len(counts) != 1:
            raise SystemExit(f"configurations wrote different numbers of articles: {written}")
        articles = counts.pop()
        base = statistics.median(seconds["direct"])
        print(
            f"\n{files} feed files, {articles} articles written per run, entities {args.entities}, "
            f"medians of {args.runs} runs, {os.cpu_count()} CPUs"
        )
        print(f"{'configuration':15s} {'seconds':>8s} {'articles/s':>11s} {'vs direct':>10s}")
        for name in configs:
            median = statistics.median(seconds[name])
            print(f"{name:15s} {median:8.1f} {articles / median:11.1f} {base / median:9.2f}x")
    finally:
        for cluster in clusters.values():
            cluster.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
