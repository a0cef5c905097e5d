"""Memory, multi-worker scaling and hourly capacity of WARC ingest, on CC-NEWS-shaped files of 100 MB to 1 GB.

Why: a CC-NEWS file is about 1 GB; newsbeam reads it in ``--warc-split-mb``
byte ranges (64 MB: 16 ranges) that any worker reads (README "Web archives
(WARC)", ``transforms/formats/warc_io.py``). Whether that holds memory flat,
what a second worker buys, and how much one worker gets through in an hour
are questions of measurement, answered here in one run.

1. **Memory.** ``newsbeam ingest WARC --output TMP --runner DirectRunner
   --entities off --clusters off --full-text off --progress-seconds 0`` on a
   ~1 GB file (``--warc``) and a ~100 MB one (``--small-warc``), each in a
   subprocess watched with psutil every ``--poll`` seconds: the peak of the
   summed RSS of the process tree, the peak of its largest single process
   (the goal: under 1 GB per worker), and the ``ru_maxrss`` that ``wait4``
   gives for the process and the children it waited for (exact where the
   polls are not). Also records/s, articles/s and the summary's counts
   (``TMP/runs/*.json``: read, written, skipped, dead_lettered, reconciled).
2. **Scaling within one file.** One ~250 MB file (``--scale-warc``: 4
   ranges of 64 MB, so two workers can get equal shares) read by the
   DirectRunner with 1 worker (in process) and 2 (``--direct_running_mode
   multi_processing``), and by the DaskRunner with 1 and 2 worker processes,
   interleaved round by round so the machine's noise hits them alike. The
   same four read a one-record WARC: their fixed start-up cost, subtracted
   for a second speed-up. Every run's articles are counted in the Parquet
   files and their ids hashed: all configurations must write the same
   articles, with the counts reconciled.
   The speed-up is also given in records/s, which stays honest when a
   configuration reads fewer records than another.
3. **One worker's hour.** From (1)'s 1 GB run, or, when that run was
   stopped, from the largest single-worker DirectRunner run that finished:
   records, articles and GB of WARC.gz per hour, as measured and with the
   DirectRunner's start-up taken off (a long run pays it once), and per
   CPU-hour.

Each run also reports the CPU time its process tree used and the CPU that
*other* processes used meanwhile (system busy time minus the tree's, in
cores): the machine has 2 cores and is shared (a test suite may be running),
so a run with others above half a core is counted as starved; ``--only``
re-runs a part. A run whose tree passes ``--max-tree-mb`` (16 GB of the
machine's 24) is killed and reported so, with its RSS timeline (every 5 s,
in the JSON), rather than left to exhaust the machine's memory.

Measured (2 cores, 24 GB, 2026-12-04; the 1000.1 MB file holds 92,071
records, 40,000 responses, 4.08 GB uncompressed; 249.3 MB: 22,971 records):

- Scaling, 249.3 MB (4 ranges), machine quiet (others 0.01 cores), one run
  each: direct-1 212.4 s, direct-2 112.9 s (1.88x; 1.93 without start-up),
  dask-1 227.1 s, dask-2 128.2 s (1.77x; 1.83). All four wrote the same
  7,837 articles (ids hashed) with the same counts, reconciled. Start-up
  (one-record WARC): direct-1 2.2 s, direct-2 4.1 s, dask-1 7.4 s, dask-2
  8.2 s. Largest process: direct-2 604 MB, dask-2 2,241 MB (dask-1 3,499 MB).
  History: before the Dask runner's Reshuffle moved elements, dask-2 was
  0.98x (one worker did the work); the multi-process DirectRunner read fewer
  records than the file holds in 3 of 5 earlier runs (no error) on the graph
  that flattened ranged records with documents before parsing, and every
  record in 6 of 6 runs since.
- Memory, DirectRunner one worker (peak RSS of the process): 249.3 MB file
  574 MB; 1000.1 MB file 1,188 MB (its reading stage 608 MB; the peak is
  the runner's flatten of every article before dedup). Before: 2,137 MB /
  5,251 MB / over 16 GB while the runner held every page read (fixed by
  parsing records where they are read), then 1,798 MB for the 1 GB file
  before articles crossed the shuffles packed and Parquet was written as
  its rows came (``schemas/packed.py``, ``transforms/sinks.py``).
- One worker's hour (direct-1, 249.3 MB, 212.4 s): 389,000 records,
  133,000 articles, 4.2 GB of WARC.gz (the 1 GB file: 4.5 GB/h).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Optional, Sequence

import psutil
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
NEWSBEAM = ROOT / ".venv" / "bin" / "newsbeam"
PYTHON = ROOT / ".venv" / "bin" / "python"
MB = 1e6
HOUR = 3600.0
#: Every run ingests with the steps the brief names off: the WARC pages are the text, nothing is fetched.
COMMON_FLAGS = ("--entities", "off", "--clusters", "off", "--full-text", "off", "--progress-seconds", "0")
MEMORY_RUNNER = ("--runner", "DirectRunner")
SCALING = {
    "direct-1": ("--runner", "DirectRunner", "--direct_num_workers", "1"),
    "direct-2": ("--runner", "DirectRunner", "--direct_num_workers", "2", "--direct_running_mode", "multi_processing"),
    "dask-1": ("--runner", "DaskRunner", "--dask-workers", "1"),
    "dask-2": ("--runner", "DaskRunner", "--dask-workers", "2"),
}
#: Pairs whose speed-up is reported: (runner, 1 worker, 2 workers).
PAIRS = (("DirectRunner", "direct-1", "direct-2"), ("DaskRunner", "dask-1", "dask-2"))
SPEEDUP_GOAL = 1.6
MEMORY_GOAL_MB = 1000.0
TIMELINE_STEP = 5.0
#: Other processes' CPU (in cores, of 2) above which a run counts as CPU-starved: re-run it when the machine is quiet.
STARVED_CORES = 0.5
PARTS = ("memory", "scaling")


@dataclass
class Run:
    """One ingest as a subprocess: time, memory, CPU, and what its summary and Parquet files say."""

    config: str
    warc: str
    exit_code: int
    wall_seconds: float
    tree_peak_rss_mb: float
    process_peak_rss_mb: float
    wait4_maxrss_mb: float
    tree_cpu_seconds: float
    others_cpu_cores: float
    processes_seen: int
    timeline: list[tuple[float, float]] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    summary_seconds: Optional[float] = None
    ranges: Optional[int] = None
    parquet_rows: Optional[int] = None
    ids_sha1: Optional[str] = None
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.error is None


class TreeWatch:
    """Polls a process and its descendants: peak summed RSS, peak of any one process, CPU time per process.

    Why a poll: the tree changes (Beam's SDK workers, Dask's nannies and
    workers come and go), and only a live process can be read; a process
    that lives less than one interval is missed, which ``wait4``'s
    ``ru_maxrss`` makes up for where it matters (the main process).
    """

    def __init__(self, pid: int, interval: float, limit_bytes: float):
        self.root = psutil.Process(pid)
        self.interval = interval
        self.limit_bytes = limit_bytes
        self.started = time.perf_counter()
        self.tree_peak = 0
        self.process_peak = 0
        self.cpu: dict[int, float] = {}
        #: (seconds, summed RSS in MB) every TIMELINE_STEP seconds: where memory grows during a run.
        self.timeline: list[tuple[float, float]] = []
        self.killed: Optional[str] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        """One look at the tree; processes that end while being read are skipped."""
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for proc in procs:
            try:
                rss = proc.memory_info().rss
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total += rss
            self.process_peak = max(self.process_peak, rss)
            self.cpu[proc.pid] = max(self.cpu.get(proc.pid, 0.0), times.user + times.system)
        self.tree_peak = max(self.tree_peak, total)
        elapsed = time.perf_counter() - self.started
        if not self.timeline or elapsed - self.timeline[-1][0] >= TIMELINE_STEP:
            self.timeline.append((round(elapsed, 1), round(total / MB, 1)))
        if total > self.limit_bytes and self.killed is None:
            self.killed = f"killed after {elapsed:.0f} s: the tree's RSS reached {total / MB:.0f} MB (--max-tree-mb)"
            for proc in reversed(procs):  # the processes this bench started, children first
                try:
                    proc.kill()
                except psutil.Error:
                    continue


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all processes, ours and others')."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def ingest_command(warc: Path, output: Path, runner: Sequence[str]) -> list[str]:
    """The CLI ingest of one WARC file, as a user types it."""
    return [str(NEWSBEAM), "ingest", str(warc), "--output", str(output), *runner, *COMMON_FLAGS]


def article_ids_digest(output: Path) -> tuple[int, str]:
    """Rows in the articles' Parquet files and a SHA-1 of their sorted ids: what two runs must agree on."""
    ids: list[str] = []
    for path in sorted(glob.glob(str(output / "articles" / "**" / "*.parquet"), recursive=True)):
        ids.extend(pq.read_table(path, columns=["article_id"]).column("article_id").to_pylist())
    return len(ids), hashlib.sha1("\n".join(sorted(ids)).encode()).hexdigest()


def read_summary(output: Path) -> dict[str, Any]:
    """The run summary the CLI wrote under ``runs/`` (one run per output folder here)."""
    paths = sorted((output / "runs").glob("*.json"))
    if len(paths) != 1:
        raise ValueError(f"expected one run summary under {output / 'runs'}, found {len(paths)}")
    return dict(json.loads(paths[0].read_text(encoding="utf-8")))


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log: where a failing run says why."""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


class Setup(NamedTuple):
    """Where runs write, how often the tree is looked at, and the RSS at which a run is stopped."""

    workdir: Path
    interval: float
    limit_mb: float


def measure(config: str, warc: Path, runner: Sequence[str], setup: Setup) -> Run:
    """Runs one ingest in a fresh output folder and measures it; the folder is removed after."""
    output = Path(tempfile.mkdtemp(prefix=f"out-{config}-", dir=setup.workdir))
    log = output.with_suffix(".log")
    busy_before = busy_cpu_seconds()
    started = time.perf_counter()
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            ingest_command(warc, output, runner), stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, env=os.environ.copy()
        )
        watch = TreeWatch(proc.pid, setup.interval, setup.limit_mb * MB)
        watch.start()
        # wait4, not Popen.wait: its rusage holds the child's (and its waited-for children's) max RSS and CPU.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    watch.stop()
    busy = busy_cpu_seconds() - busy_before
    tree_cpu = max(sum(watch.cpu.values()), usage.ru_utime + usage.ru_stime)
    run = Run(
        config=config,
        warc=str(warc),
        exit_code=proc.returncode,
        wall_seconds=round(wall, 2),
        tree_peak_rss_mb=round(watch.tree_peak / MB, 1),
        process_peak_rss_mb=round(watch.process_peak / MB, 1),
        wait4_maxrss_mb=round(usage.ru_maxrss * 1024 / MB, 1),
        tree_cpu_seconds=round(tree_cpu, 1),
        others_cpu_cores=round(max(busy - tree_cpu, 0.0) / wall, 2),
        processes_seen=len(watch.cpu),
        timeline=watch.timeline,
    )
    try:
        if watch.killed or proc.returncode != 0:
            run.error = watch.killed or f"exit {proc.returncode}:\n{tail(log)}"
            return run
        summary = read_summary(output)
        run.counts = dict(summary["counts"])
        run.summary_seconds = summary["timings"]["elapsed_seconds"]
        run.ranges = summary["documents"]["ranges"]
        run.parquet_rows, run.ids_sha1 = article_ids_digest(output)
        if run.parquet_rows != run.counts["written"]:
            run.error = f"{run.parquet_rows} rows in the Parquet files, summary says written {run.counts['written']}"
        elif run.counts.get("reconciled") is not True:
            run.error = f"counts not reconciled: {run.counts}"
    except (OSError, ValueError, KeyError) as error:
        run.error = f"{type(error).__name__}: {error}\n{tail(log)}"
    finally:
        shutil.rmtree(output, ignore_errors=True)
        if run.ok:
            log.unlink(missing_ok=True)
    return run


def ensure_warc(path: Path, records: int) -> Path:
    """``path``, built with ``bench/warc_corpus.py`` when missing (never inside the repository)."""
    path = path.resolve()
    if path.is_relative_to(ROOT):
        raise SystemExit(f"{path}: big files go outside the repository (use --workdir or an absolute path)")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"building {path} ({records} records) ...", file=sys.stderr, flush=True)
        partial = path.with_name(path.name + ".partial.warc.gz")
        subprocess.run(
            [str(PYTHON), str(ROOT / "bench" / "warc_corpus.py"), str(partial), "--records", str(records)],
            check=True,
            cwd=ROOT,
            stdout=sys.stderr,  # its report is progress, not the bench's tables
        )
        Path(f"{partial}.json").replace(f"{path}.json")
        partial.replace(path)
    return path


def rounds(configs: Mapping[str, tuple[Path, Sequence[str]]], runs: int, setup: Setup) -> dict[str, list[Run]]:
    """Every configuration ``runs`` times, interleaved round by round; each run printed as it ends."""
    results: dict[str, list[Run]] = {name: [] for name in configs}
    for round_ in range(runs):
        for name, (warc, runner) in configs.items():
            run = measure(name, warc, runner, setup)
            results[name].append(run)
            state = "ok" if run.ok else "FAILED"
            print(
                f"round {round_ + 1}: {name:14s} {run.wall_seconds:8.1f} s  tree RSS {run.tree_peak_rss_mb:7.1f} MB  "
                f"others {run.others_cpu_cores:.2f} cores  {run.counts or ''}  {state}",
                file=sys.stderr,
                flush=True,
            )
            if run.error:
                print(run.error, file=sys.stderr, flush=True)
    return results


def median(runs: Sequence[Run], attribute: str) -> Optional[float]:
    """Median of one figure over the runs that succeeded (None if none did)."""
    values = [float(getattr(run, attribute)) for run in runs if run.ok]
    return round(statistics.median(values), 2) if values else None


def rate(count: Optional[float], seconds: Optional[float]) -> Optional[float]:
    """A per-second rate, None when either side is missing."""
    return round(count / seconds, 1) if count is not None and seconds else None


def digest(runs: Sequence[Run], path: Path) -> dict[str, Any]:
    """Medians of a configuration's runs, its rates and counts (from the first successful run)."""
    good = [run for run in runs if run.ok]
    counts = good[0].counts if good else {}
    wall = median(runs, "wall_seconds")
    return {
        "warc": str(path),
        "warc_mb": round(path.stat().st_size / MB, 1),
        "runs": len(runs),
        "ok_runs": len(good),
        "wall_seconds": wall,
        "tree_peak_rss_mb": median(runs, "tree_peak_rss_mb"),
        "process_peak_rss_mb": median(runs, "process_peak_rss_mb"),
        "wait4_maxrss_mb": median(runs, "wait4_maxrss_mb"),
        "max_tree_peak_rss_mb": max((run.tree_peak_rss_mb for run in good), default=None),
        "tree_cpu_seconds": median(runs, "tree_cpu_seconds"),
        "others_cpu_cores": median(runs, "others_cpu_cores"),
        "starved_runs": sum(run.others_cpu_cores > STARVED_CORES for run in good),
        "records_per_second": rate(counts.get("read"), wall),
        "articles_per_second": rate(counts.get("written"), wall),
        "counts": counts,
        "ranges": good[0].ranges if good else None,
        "parquet_rows": sorted({run.parquet_rows for run in good if run.parquet_rows is not None}),
        "ids_sha1": sorted({run.ids_sha1 for run in good if run.ids_sha1}),
        "errors": [run.error for run in runs if run.error],
    }


def speedups(scale: dict[str, dict[str, Any]], tiny: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """2 workers over 1 for each runner: raw, and with each configuration's one-record start-up subtracted."""
    out: dict[str, dict[str, Any]] = {}
    for runner, one, two in PAIRS:
        t1, t2 = scale[one]["wall_seconds"], scale[two]["wall_seconds"]
        s1, s2 = tiny[one]["wall_seconds"], tiny[two]["wall_seconds"]
        raw = round(t1 / t2, 2) if t1 and t2 else None
        r1, r2 = scale[one]["records_per_second"], scale[two]["records_per_second"]
        # Records/s, not time: a configuration that reads fewer records would otherwise look faster.
        by_rate = round(r2 / r1, 2) if r1 and r2 else None
        net = round((t1 - s1) / (t2 - s2), 2) if None not in (t1, t2, s1, s2) and t2 > s2 else None
        out[runner] = {
            "speedup": raw,
            "speedup_without_startup": net,
            "speedup_records_per_second": by_rate,
            "goal": SPEEDUP_GOAL,
        }
    return out


def consistency(scale: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Whether every scaling configuration wrote the same articles (rows and ids) and read the same records."""
    rows = {name: d["parquet_rows"] for name, d in scale.items()}
    ids = {name: d["ids_sha1"] for name, d in scale.items()}
    counts = {
        name: {k: d["counts"].get(k) for k in ("read", "written", "skipped", "dead_lettered")}
        for name, d in scale.items()
    }
    same = (
        all(len(v) == 1 for v in rows.values())
        and len({v[0] for v in rows.values()}) == 1
        and all(len(v) == 1 for v in ids.values())
        and len({v[0] for v in ids.values()}) == 1
        and len({json.dumps(c, sort_keys=True) for c in counts.values()}) == 1
    )
    reconciled = all(d["counts"].get("reconciled") is True for d in scale.values())
    return {"same_articles_and_counts": same, "all_reconciled": reconciled, "rows": rows, "counts": counts}


def per_hour(big: dict[str, Any], startup: Optional[float]) -> dict[str, Any]:
    """One worker's hour, from a single-worker run: as measured, and with the start-up taken off."""
    wall = big["wall_seconds"]
    counts = big["counts"]
    if not wall or not counts:
        return {}
    out: dict[str, Any] = {"basis": f"{Path(big['warc']).name} ({big['warc_mb']} MB)"}
    for label, seconds in (("measured", wall), ("without_startup", wall - startup if startup else None)):
        if not seconds:
            continue
        out[label] = {
            "seconds": round(seconds, 1),
            "records_per_hour": round(counts["read"] / seconds * HOUR),
            "articles_per_hour": round(counts["written"] / seconds * HOUR),
            "warc_gb_per_hour": round(big["warc_mb"] / 1000 / seconds * HOUR, 2),
        }
    cpu = big["tree_cpu_seconds"]
    if cpu:
        out["per_cpu_hour"] = {
            "cpu_seconds": cpu,
            "cores_used": round(cpu / wall, 2),
            "records_per_cpu_hour": round(counts["read"] / cpu * HOUR),
            "articles_per_cpu_hour": round(counts["written"] / cpu * HOUR),
        }
    return out


def fmt(value: Any) -> str:
    """A table cell: '–' for a missing figure."""
    return "–" if value is None else str(value)


def runs_cell(d: dict[str, Any]) -> str:
    """Runs that succeeded of those made, and how many of them were CPU-starved by other processes."""
    starved = d.get("starved_runs", 0)
    return f"{d['ok_runs']}/{d['runs']}" + (f" ({starved} starved)" if starved else "")


def memory_table(memory: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| file | MB | runs | wall s | tree peak RSS MB | largest process MB | wait4 maxrss MB | CPU s | others (cores) "
        "| records/s | articles/s | read | written | skipped | dead_lettered | reconciled | ranges |",
        "|" + "---|" * 17,
    ]
    for name, d in memory.items():
        c = d["counts"]
        lines.append(
            f"| {name} | {d['warc_mb']} | {runs_cell(d)} | {fmt(d['wall_seconds'])} "
            f"| {fmt(d['tree_peak_rss_mb'])} | {fmt(d['process_peak_rss_mb'])} | {fmt(d['wait4_maxrss_mb'])} "
            f"| {fmt(d['tree_cpu_seconds'])} | {fmt(d['others_cpu_cores'])} | {fmt(d['records_per_second'])} "
            f"| {fmt(d['articles_per_second'])} | {fmt(c.get('read'))} | {fmt(c.get('written'))} "
            f"| {fmt(c.get('skipped'))} | {fmt(c.get('dead_lettered'))} | {fmt(c.get('reconciled'))} | {fmt(d['ranges'])} |"
        )
    return lines


def cores(d: dict[str, Any]) -> Optional[float]:
    """Cores the run's process tree kept busy on average: what a second worker did, or did not, add."""
    return round(d["tree_cpu_seconds"] / d["wall_seconds"], 2) if d["tree_cpu_seconds"] and d["wall_seconds"] else None


def scaling_table(scale: dict[str, dict[str, Any]], tiny: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| configuration | runs | wall s | 1-record wall s | wall − start-up s | records/s | articles/s "
        "| tree peak RSS MB | largest process MB | CPU s | cores busy | others (cores) | read | written | reconciled |",
        "|" + "---|" * 15,
    ]
    for name, d in scale.items():
        start = tiny[name]["wall_seconds"]
        net = round(d["wall_seconds"] - start, 1) if d["wall_seconds"] and start else None
        lines.append(
            f"| {name} | {runs_cell(d)} | {fmt(d['wall_seconds'])} | {fmt(start)} | {fmt(net)} "
            f"| {fmt(d['records_per_second'])} | {fmt(d['articles_per_second'])} | {fmt(d['tree_peak_rss_mb'])} "
            f"| {fmt(d['process_peak_rss_mb'])} | {fmt(d['tree_cpu_seconds'])} | {fmt(cores(d))} "
            f"| {fmt(d['others_cpu_cores'])} | {fmt(d['counts'].get('read'))} | {fmt(d['counts'].get('written'))} "
            f"| {fmt(d['counts'].get('reconciled'))} |"
        )
    return lines


def report(results: dict[str, Any]) -> str:
    """The markdown tables of every part that ran."""
    lines = [
        f"CPUs: {os.cpu_count()}; medians of the successful runs; RSS in MB of 10^6 bytes; a run is starved when "
        f"other processes used more than {STARVED_CORES} cores meanwhile.",
        "",
    ]
    if "memory" in results:
        memory = results["memory"]
        lines += ["### 1. Memory (DirectRunner, one worker)", "", *memory_table(memory), ""]
        for name, d in memory.items():
            peak = d["process_peak_rss_mb"]
            verdict = "–" if peak is None else "yes" if peak < MEMORY_GOAL_MB else "no"
            lines.append(f"{name}: largest process under {MEMORY_GOAL_MB:.0f} MB: {verdict}")
        lines += [f"Error: {e}" for d in memory.values() for e in d["errors"]]
        lines.append("")
    if "scaling" in results:
        s = results["scaling"]
        lines += [
            f"### 2. Scaling within one file ({s['configs']['direct-1']['warc_mb']} MB, "
            f"{s['configs']['direct-1']['ranges']} ranges)",
            "",
            *scaling_table(s["configs"], s["startup"]),
            "",
            "| runner | speed-up 2 over 1 (wall) | without start-up | in records/s | goal |",
            "|---|---|---|---|---|",
        ]
        for runner, v in s["speedups"].items():
            lines.append(
                f"| {runner} | {fmt(v['speedup'])} | {fmt(v['speedup_without_startup'])} "
                f"| {fmt(v['speedup_records_per_second'])} | > {v['goal']} |"
            )
        c = s["consistency"]
        lines += [
            "",
            f"Same articles and counts in every configuration: {c['same_articles_and_counts']}; "
            f"all reconciled: {c['all_reconciled']}.",
            "",
        ]
        if not c["same_articles_and_counts"]:
            lines += [f"- {name}: Parquet rows {c['rows'][name]}, counts {c['counts'][name]}" for name in c["rows"]]
            lines.append("")
        errors = [e for d in (*s["configs"].values(), *s["startup"].values()) for e in d["errors"]]
        lines += [f"Error: {e}" for e in errors]
    if results.get("per_hour"):
        lines += [
            f"### 3. One worker's hour (DirectRunner, one worker, from {results['per_hour']['basis']})",
            "",
            "| basis | seconds | records/h | articles/h | GB WARC.gz/h |",
            "|---|---|---|---|---|",
        ]
        for label in ("measured", "without_startup"):
            v = results["per_hour"].get(label)
            if v:
                lines.append(
                    f"| {label} | {v['seconds']} | {v['records_per_hour']} | {v['articles_per_hour']} "
                    f"| {v['warc_gb_per_hour']} |"
                )
        cpu = results["per_hour"].get("per_cpu_hour")
        if cpu:
            lines += [
                "",
                f"CPU: {cpu['cpu_seconds']} s over the run ({cpu['cores_used']} cores busy on average): "
                f"{cpu['records_per_cpu_hour']} records, {cpu['articles_per_cpu_hour']} articles per CPU-hour.",
            ]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/w15scale"), help="files and outputs go here")
    parser.add_argument(
        "--warc", type=Path, default=None, help="the ~1 GB file (default WORKDIR/cc-news-RECORDS.warc.gz)"
    )
    parser.add_argument("--records", type=int, default=40000, help="responses of --warc when it is built")
    parser.add_argument("--small-warc", type=Path, default=None, help="the ~100 MB file")
    parser.add_argument("--small-records", type=int, default=4000)
    parser.add_argument("--scale-warc", type=Path, default=None, help="the file of the scaling runs (~250 MB)")
    parser.add_argument("--scale-records", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each small case (100 MB, scaling, one record)")
    parser.add_argument("--big-runs", type=int, default=1, help="runs of the 1 GB case")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts: {', '.join(PARTS)}")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between looks at the process tree")
    parser.add_argument(
        "--max-tree-mb",
        type=float,
        default=16000,
        help="a run whose process tree's RSS passes this is killed and reported so (the machine has 24 GB, shared)",
    )
    parser.add_argument("--out", type=Path, default=None, help="also write every figure (and every run) as JSON")
    args = parser.parse_args(argv)
    parts = [p for p in args.only.split(",") if p]
    if set(parts) - set(PARTS):
        parser.error(f"unknown part(s): {sorted(set(parts) - set(PARTS))}")
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    setup = Setup(work, args.poll, args.max_tree_mb)

    def warc(path: Optional[Path], records: int) -> Path:
        return ensure_warc(path or work / f"cc-news-{records}.warc.gz", records)

    tiny = warc(None, 1)
    results: dict[str, Any] = {"cpus": os.cpu_count(), "runs": args.runs, "big_runs": args.big_runs, "all_runs": {}}
    startup: dict[str, dict[str, Any]] = {}
    if "scaling" in parts:
        scale_path = warc(args.scale_warc, args.scale_records)
        configs = {name: (scale_path, runner) for name, runner in SCALING.items()}
        tiny_configs = {name: (tiny, runner) for name, runner in SCALING.items()}
        tiny_runs = rounds(tiny_configs, args.runs, setup)
        scale_runs = rounds(configs, args.runs, setup)
        startup = {name: digest(runs, tiny) for name, runs in tiny_runs.items()}
        scale = {name: digest(runs, scale_path) for name, runs in scale_runs.items()}
        results["scaling"] = {
            "configs": scale,
            "startup": startup,
            "speedups": speedups(scale, startup),
            "consistency": consistency(scale),
        }
        results["all_runs"]["scaling"] = {n: [asdict(r) for r in v] for n, v in scale_runs.items()}
        results["all_runs"]["startup"] = {n: [asdict(r) for r in v] for n, v in tiny_runs.items()}
    if "memory" in parts:
        small_path = warc(args.small_warc, args.small_records)
        big_path = warc(args.warc, args.records)
        small_runs = rounds({"small": (small_path, MEMORY_RUNNER)}, args.runs, setup)
        big_runs = rounds({"big": (big_path, MEMORY_RUNNER)}, args.big_runs, setup)
        if not startup:  # the start-up of this runner, for the hourly figures
            startup = {
                "direct-1": digest(rounds({"direct-1": (tiny, MEMORY_RUNNER)}, args.runs, setup)["direct-1"], tiny)
            }
        results["memory"] = {
            f"{small_path.name}": digest(small_runs["small"], small_path),
            f"{big_path.name}": digest(big_runs["big"], big_path),
        }
        results["all_runs"]["memory"] = {
            small_path.name: [asdict(r) for r in small_runs["small"]],
            big_path.name: [asdict(r) for r in big_runs["big"]],
        }
    # The 1 GB run when it finished, else the largest single-worker run that did (see --max-tree-mb).
    singles = [*results.get("memory", {}).values(), results.get("scaling", {}).get("configs", {}).get("direct-1")]
    basis = max((d for d in singles if d and d["ok_runs"]), key=lambda d: d["warc_mb"], default=None)
    if basis and startup:
        results["per_hour"] = per_hour(basis, startup["direct-1"]["wall_seconds"])
    print(report(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
