"""The host scheduler of ``fetch_all`` against the one it replaced, side by side in one run.

Why: with full text, a run fetches a page per new entry, so many requests
go to few hosts, each host allowed one request per ``per_host_delay``
(1 s by default). Issue 13 replaced a scheduler that kept each thread on
one host's queue ("lanes": with more hosts than threads, the hosts without
a thread waited for a whole other host's queue to drain) with one where a
free thread takes the host whose gate opens first. This bench runs both on
the same jobs, in rotated order, medians of ``--runs``; the previous
scheduler is kept below (``lanes_fetch_all``, as it was before issue 13)
as the reference.

A job is one request: it passes its host's gate (``HostGate``, the real
one), then takes ``--latency`` seconds (a sleep: the time a server takes
to answer; no network is used). The lower bound of a run is
``(requests per host - 1) * delay + latency``, whatever the thread count.

    .venv/bin/python bench/scheduler_bench.py [--hosts 20] [--per-host 10] [--threads 16] [--delay 1.0] [--runs 3]
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transforms.fetch.hosts import HostGate, fetch_all  # noqa: E402
from transforms.fetch.policy import FetchPolicy  # noqa: E402

J = TypeVar("J")
T = TypeVar("T")


def lanes_fetch_all(
    jobs: Iterable[J],
    work: Callable[[J, HostGate], T],
    key: Callable[[J], str],
    threads: int,
    per_host: int,
    delay: float,
    gate_for: Optional[Callable[[str], HostGate]] = None,
) -> Iterator[tuple[J, T | BaseException]]:
    """``fetch_all`` as it was before issue 13 (commit 193914b): each thread drains one host's lane."""
    by_host: dict[str, queue.SimpleQueue[J]] = {}
    total = 0
    for job in jobs:
        by_host.setdefault(key(job), queue.SimpleQueue()).put(job)
        total += 1
    if not total:
        return
    gates = {host: gate_for(host) if gate_for else HostGate(delay) for host in by_host}
    done: queue.SimpleQueue[tuple[J, T | BaseException]] = queue.SimpleQueue()

    def lane(host: str) -> None:
        pending = by_host[host]
        while True:
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            try:
                done.put((job, work(job, gates[host])))
            except BaseException as error:  # noqa: BLE001 - handed to the caller, never lost
                done.put((job, error))

    lanes = [host for index in range(per_host) for host in by_host if by_host[host].qsize() > index]
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="newsbeam-fetch") as pool:
        for host in lanes:
            pool.submit(lane, host)
        for _ in range(total):
            yield done.get()


SCHEDULERS = {"fetch_all (now)": fetch_all, "lanes (before issue 13)": lanes_fetch_all}


def one_run(scheduler: Callable[..., Iterator[tuple[str, float | BaseException]]], args: argparse.Namespace) -> float:
    """Seconds for every job of a run to finish under ``scheduler``; fails if any job failed."""
    jobs = [f"host{h:02d}.example/{r}" for r in range(args.per_host) for h in range(args.hosts)]

    def work(job: str, gate: HostGate) -> float:
        gate()
        time.sleep(args.latency)
        return time.monotonic()

    started = time.monotonic()
    results = list(
        scheduler(jobs, work, lambda job: job.split("/")[0], args.threads, args.concurrency, args.delay, None)
    )
    elapsed = time.monotonic() - started
    failed = [r for _, r in results if isinstance(r, BaseException)]
    if failed or len(results) != len(jobs):
        raise SystemExit(f"{len(results)} of {len(jobs)} jobs finished, {len(failed)} failed: {failed[:1]}")
    return elapsed


def main(argv: Optional[list[str]] = None) -> int:
    policy = FetchPolicy()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--per-host", type=int, default=10, help="requests to each host")
    parser.add_argument("--threads", type=int, default=policy.threads)
    parser.add_argument(
        "--concurrency", type=int, default=policy.per_host_concurrency, help="requests in flight per host"
    )
    parser.add_argument(
        "--delay", type=float, default=policy.per_host_delay, help="seconds between request starts to a host"
    )
    parser.add_argument("--latency", type=float, default=0.05, help="seconds each request takes")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {name: [] for name in SCHEDULERS}
    names = list(SCHEDULERS)
    for run in range(args.runs):
        for name in names[run % 2 :] + names[: run % 2]:
            times[name].append(one_run(SCHEDULERS[name], args))
    bound = (args.per_host - 1) * args.delay + args.latency
    print(
        f"{args.hosts} hosts x {args.per_host} requests, {args.threads} threads, {args.concurrency} in flight per host, "
        f"delay {args.delay:g} s, latency {args.latency:g} s; lower bound {bound:.2f} s; medians of {args.runs}\n"
    )
    print("| scheduler | seconds (median) | requests/s | runs |\n|---|---:|---:|---|")
    total = args.hosts * args.per_host
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {total / median:.1f} | {', '.join(f'{v:.2f}' for v in values)} |")
    now, before = (statistics.median(times[n]) for n in names)
    print(f"\nspeed-up: {before / now:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
