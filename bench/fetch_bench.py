"""Feed fetching throughput: ``fetch_all`` + ``fetch`` alone, with latency, inside the pipeline, and polite.

What is measured, each as feeds/s (median of ``--runs`` runs, all in one run of
this script, printed side by side with ratios):

1. ``fetch_all`` + ``fetch`` alone with politeness off (per-host concurrency =
   threads, per-host delay 0) at 1, 4, 16 and 32 threads: every feed answered
   200 with its body. Then the same URLs again with the validators (ETag,
   Last-Modified) of that first pass: every feed answered 304 without a body.
2. The same 200 pass on fewer feeds (``--latency-feeds``) against a server that
   waits ``--latency`` seconds before each response (50 ms by default), to
   simulate a real network: fetching is latency-bound there, and the thread
   scaling becomes visible (upper bound: threads / latency feeds/s).
3. The whole pipeline on the same N feeds, listed in an OPML file::

       newsbeam ingest feeds.opml --output DIR --runner DirectRunner --entities off \\
           --allow-private-hosts --per-host-delay 0 --per-host-concurrency 16 --progress-seconds 0

   (through ``pipeline.run.run_ingest``, plus ``--run-id`` to find the
   summary), first into an empty output (all 200: parse, repair, metadata,
   dedup, write) and then again into the same output (all 304: no parsing), so
   the cost of the Beam graph around fetching shows against ``fetch_all``
   alone at the same 16 threads.
4. The default politeness (per-host concurrency 2, 1.0 s between request
   starts per host) on a few feeds of one host, run once (its time is set by
   sleeps, not by the machine). ``HostGate`` spaces request *starts* to one
   host, whatever the concurrency, so with n_h feeds on the busiest host, a
   delay d, c lanes per host and f seconds per response::

       seconds >= max((n_h - 1) * d, ceil(n_h / c) * f) + f   ~=  (n_h - 1) * d  when f << d

   i.e. at most about hosts / d feeds/s: 1 feed/s per host by default.

Also reported: wire bytes/s (bodies as received; headers not counted), the
corpus bytes served, CPU milliseconds per feed of the fetching process (all
its threads, Beam included in 3) and of the server process, and the TCP
connections the server accepted per pass (every pass starts a fresh session:
a connection per lane is expected, one per feed means connections were not
kept alive).

Why: fetching turns a pipeline that reads local files into one that waits on
hundreds of remote servers. This shows what the fetcher itself costs per feed
(CPU-bound on loopback), how it scales with threads once responses take
network time, what the pipeline adds around it, and what the polite defaults
cost in wall time (far more than everything else for few hosts).

Feeds: feed i is the real corpus file ``i mod 24`` of ``../shared/corpora/news_feeds``
(``tests/support.py``'s CORPUS, read at run time, never copied into the
project) with its URLs rewritten (``://`` → ``://f<i>.``) so every article is
distinct and nothing is lost to de-duplication; each is served at its own path
with its own ETag and a Last-Modified, by ``tests/feedserver.py``'s
``FeedServer`` (``static`` responders, which answer conditional requests with
304). The server runs in a child process (this script with ``--serve``), so its
Python threads do not compete with the fetcher's for the GIL. In that process
only, the server class's listen backlog is raised from the stdlib's 5 to 128
(with 16 or 32 threads connecting at once, a backlog of 5 drops SYNs and
stalls a pass for the 1 s SYN retransmission, which no real server would
cause) and accepted connections are counted.

Hosts: politeness and connection pools are keyed by hostname, and FeedServer
binds 127.0.0.1 only. A second FeedServer on another port of 127.0.0.1 would be
a distinct host:port but the *same* host for politeness, so ``--hosts 2``
instead reaches the one server under two names, ``127.0.0.1`` and
``localhost``: two hosts for ``HostGate`` and two connection pools. (If
``localhost`` resolved to ::1 first, every new connection would first be
refused on ::1; here it resolves to 127.0.0.1 only, see /etc/hosts.) Scenario 4
shows one host; with ``--hosts 2`` it also shows the same feeds split over two.

Caveats: a shared, noisy machine (runs are interleaved and medians reported;
compare ratios rather than absolute figures); loopback has no latency and no
bandwidth limit, so without ``--latency`` the fetcher is CPU-bound and more
threads mostly add contention (the client and the server share the machine's
cores), whereas real feeds are latency-bound, where threads matter much more
(scenario 2); gzip is off unless ``--gzip``; the pipeline runs on the
in-process FnApiRunner with its default worker count.

    python bench/fetch_bench.py [--feeds 300] [--runs 5] [--latency 0.05] [--hosts 1|2] [--json results.json]
    python bench/fetch_bench.py --quick    # smoke test: 50 feeds, 1 run, a few seconds of politeness
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import io
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(TESTS))  # for feedserver (imported, not copied)

#: tests/support.py's CORPUS (not imported from there: support pulls in Beam, the server process needs none of it).
CORPUS = ROOT.parent / "shared" / "corpora" / "news_feeds"
LAST_MODIFIED = "Mon, 02 Feb 2026 10:00:00 GMT"
THREADS = (1, 4, 16, 32)
PIPELINE_CONCURRENCY = 16  # --per-host-concurrency of the pipeline runs (= the default --fetch-threads)
HOST_NAMES = ("127.0.0.1", "localhost")
MB = 1024 * 1024


# --------------------------------------------------------------------------
# Feeds and the server process
# --------------------------------------------------------------------------


def feed_bodies(count: int) -> list[bytes]:
    """Feed i: corpus file i mod 24 with every URL moved to its own subdomain, so its articles are new."""
    files = sorted(CORPUS.glob("*.xml"))
    if not files:
        raise SystemExit(f"no feeds in {CORPUS}")
    originals = [path.read_bytes() for path in files]
    return [originals[i % len(originals)].replace(b"://", f"://f{i}.".encode()) for i in range(count)]


def feed_path(index: int, slow: bool = False) -> str:
    return f"{'/slow' if slow else ''}/feeds/{index:04d}.xml"


def serve(feeds: int, latency: float, gzip: bool) -> None:
    """The server side (``--serve``): routes every feed, prints its port, then answers commands on stdin.

    Commands: ``cpu`` (this process's CPU seconds so far), ``log`` (requests
    and connections since the last ``log``, how many requests were
    conditional, responder errors so far; clears the log).
    Closing stdin stops the server.
    """
    import feedserver
    from feedserver import FeedServer, Request, static

    # Two changes to the test server's class, in this process only. The stdlib's listen backlog of 5 drops
    # SYNs when 16 or 32 threads connect at once (a 1 s retransmission stall in the middle of a pass); a
    # production server listens with hundreds. And every accepted connection is counted: how many a pass
    # needed shows whether the fetcher kept its connections alive.
    accepted = [0]
    process_request = feedserver._Server.process_request

    def counting(self: Any, request: Any, client_address: Any) -> None:
        accepted[0] += 1  # only the accepting thread calls this
        process_request(self, request, client_address)

    feedserver._Server.request_queue_size = 128
    feedserver._Server.process_request = counting  # type: ignore[method-assign]

    def delayed(responder: Callable[[Request], Any]) -> Callable[[Request], Any]:
        return lambda request: replace(responder(request), delay=latency)

    bodies = feed_bodies(feeds)
    server = FeedServer()
    for index, body in enumerate(bodies):
        etag = f'"f{index}-{hashlib.blake2b(body, digest_size=8).hexdigest()}"'
        responder = static(body, etag=etag, last_modified=LAST_MODIFIED, gzip=gzip)
        server.route(feed_path(index), responder)
        if latency > 0:
            server.route(feed_path(index, slow=True), delayed(responder))
    with server:
        print(json.dumps({"port": server.port, "sizes": [len(b) for b in bodies]}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "cpu":
                times = os.times()
                print(json.dumps({"cpu": times.user + times.system}), flush=True)
            elif command == "log":
                requests = server.requests
                server.reset_log()
                conditional = sum(1 for r in requests if "if-none-match" in r.headers)
                counts = {"requests": len(requests), "conditional": conditional, "connections": accepted[0]}
                accepted[0] = 0
                print(json.dumps({**counts, "errors": len(server.errors)}), flush=True)


class ServerProcess:
    """This script with ``--serve`` in a child process, so the server's threads have their own GIL."""

    def __init__(self, feeds: int, latency: float, gzip: bool):
        command = [sys.executable, str(Path(__file__).resolve()), "--serve", "--feeds", str(feeds)]
        command += ["--latency", str(latency)] + (["--gzip"] if gzip else [])
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        hello = self._read()
        self.port: int = hello["port"]
        self.sizes: list[int] = hello["sizes"]

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the feed server exited (status {self.process.poll()})")
        return json.loads(line)

    def call(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def cpu(self) -> float:
        return float(self.call("cpu")["cpu"])

    def url(self, index: int, host: str = HOST_NAMES[0], slow: bool = False) -> str:
        return f"http://{host}:{self.port}{feed_path(index, slow)}"

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.terminate()  # our own child, by its handle
            self.process.wait(timeout=10)


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


@dataclass
class Sample:
    """One timed pass: wall and CPU seconds of both processes, what came back."""

    seconds: float
    client_cpu: float
    server_cpu: float
    feeds: int
    wire_bytes: int
    articles: int = 0
    #: As the server saw them: HTTP requests, and TCP connections accepted.
    requests: int = 0
    connections: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


def urls_for(server: ServerProcess, count: int, hosts: int, slow: bool = False) -> list[str]:
    return [server.url(i, HOST_NAMES[i % hosts], slow) for i in range(count)]


def fetch_pass(
    server: ServerProcess,
    urls: Sequence[str],
    threads: int,
    per_host: int,
    delay: float,
    validators: Optional[dict[str, Any]] = None,
    expect: int = 200,
) -> tuple[Sample, dict[str, Any]]:
    """``fetch_all`` over ``fetch_feed`` as ``FetchFeeds`` runs them, on a fresh session; the validators it got back."""
    from transforms.fetch import (
        FetchOutcome,
        FetchPolicy,
        HostGate,
        Validators,
        fetch_all,
        fetch_feed,
        host_of,
        make_session,
    )

    policy = FetchPolicy(allow_private_hosts=True, per_host_concurrency=per_host, per_host_delay=delay, threads=threads)
    session = make_session(policy)
    known = validators or {}

    def work(url: str, gate: HostGate) -> FetchOutcome:
        return fetch_feed(session, url, policy, known.get(url), gate)

    try:
        gc.collect()
        server.call("log")
        server_before = server.cpu()
        wall, cpu = time.perf_counter(), time.process_time()
        results = list(fetch_all(urls, work, host_of, threads, per_host, delay))
        seconds, client_cpu = time.perf_counter() - wall, time.process_time() - cpu
        server_cpu = server.cpu() - server_before
    finally:
        session.close()
    log = server.call("log")
    if log["errors"]:
        raise SystemExit(f"the feed server's responders failed {log['errors']} time(s)")
    statuses: Counter[str] = Counter()
    found: dict[str, Any] = {}
    wire = 0
    for url, outcome in results:
        if isinstance(outcome, BaseException) or outcome.error is not None or outcome.status != expect:
            problem = outcome if isinstance(outcome, BaseException) else (outcome.status, outcome.error)
            raise SystemExit(f"{url}: expected {expect}, got {problem!r}")
        statuses[str(outcome.status)] += 1
        wire += outcome.wire_bytes
        found[url] = Validators(outcome.etag, outcome.last_modified)
    if len(results) != len(urls):
        raise SystemExit(f"fetch_all returned {len(results)} results for {len(urls)} URLs")
    sample = Sample(seconds, client_cpu, server_cpu, len(urls), wire, 0, log["requests"], log["connections"])
    sample.statuses = dict(statuses)
    return sample, found


def pipeline_args(output: Path, run_id: str) -> list[str]:
    return [
        *("--output", str(output), "--runner", "DirectRunner", "--entities", "off", "--allow-private-hosts"),
        *("--per-host-delay", "0", "--per-host-concurrency", str(PIPELINE_CONCURRENCY), "--progress-seconds", "0"),
        *("--run-id", run_id),
        *("--full-text", "off"),  # the corpus entries link to real publishers: never contacted
    ]


def pipeline_pass(server: ServerProcess, opml_file: Path, output: Path, run_id: str, expect: int) -> Sample:
    """One ``newsbeam ingest`` of the OPML list; checks every feed got ``expect`` (200 or 304)."""
    from pipeline.run import run_ingest

    feeds = len(server.sizes)
    out, err = io.StringIO(), io.StringIO()
    server.call("log")
    gc.collect()
    server_before = server.cpu()
    wall, cpu = time.perf_counter(), time.process_time()
    code = run_ingest([str(opml_file)], pipeline_args(output, run_id), out=out, err=err)
    seconds, client_cpu = time.perf_counter() - wall, time.process_time() - cpu
    server_cpu = server.cpu() - server_before
    log = server.call("log")
    if code != 0:
        raise SystemExit(f"newsbeam ingest exited {code}:\n{err.getvalue()}")
    summary = json.loads((output / "runs" / f"{run_id}.json").read_text())
    fetched = summary["feeds"]
    wanted = {"fetched": feeds if expect == 200 else 0, "not_modified": feeds if expect == 304 else 0, "failed": 0}
    got = {key: fetched[key] for key in wanted}
    if got != wanted or log["requests"] != feeds or log["conditional"] != (feeds if expect == 304 else 0):
        raise SystemExit(f"pipeline run {run_id}: expected {wanted}, got {got}; server saw {log}")
    if not summary["counts"]["reconciled"]:
        raise SystemExit(f"pipeline run {run_id}: counts do not reconcile: {summary['counts']}")
    return Sample(
        seconds,
        client_cpu,
        server_cpu,
        feeds,
        int(fetched["bytes"]),
        articles=int(summary["counts"]["read"]),
        requests=log["requests"],
        connections=log["connections"],
        statuses={str(expect): feeds, "written": int(summary["counts"]["written"])},
    )


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def median(samples: Sequence[Sample], attribute: str) -> float:
    return statistics.median(getattr(s, attribute) for s in samples)


def rate(samples: Sequence[Sample]) -> float:
    """Feeds per second at the median time."""
    return samples[0].feeds / median(samples, "seconds")


def per_feed_ms(samples: Sequence[Sample], attribute: str) -> float:
    return 1000 * median(samples, attribute) / samples[0].feeds


def summarise(samples: Sequence[Sample]) -> dict[str, Any]:
    seconds = median(samples, "seconds")
    return {
        "median_seconds": round(seconds, 4),
        "feeds_per_second": round(samples[0].feeds / seconds, 2),
        "articles_per_second": round(median(samples, "articles") / seconds, 2) if samples[0].articles else None,
        "wire_bytes_per_second": round(median(samples, "wire_bytes") / seconds),
        "client_cpu_ms_per_feed": round(per_feed_ms(samples, "client_cpu"), 3),
        "server_cpu_ms_per_feed": round(per_feed_ms(samples, "server_cpu"), 3),
        "runs": [asdict(s) for s in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=None, help="feeds served at distinct paths (300; --quick: 50)")
    parser.add_argument(
        "--runs", type=int, default=None, help="interleaved runs of everything; medians (5; --quick: 1)"
    )
    parser.add_argument(
        "--latency", type=float, default=0.05, help="server delay per response in scenario 2, seconds (0: skip it)"
    )
    parser.add_argument("--latency-feeds", type=int, default=None, help="feeds of scenario 2 (64; --quick: 20)")
    parser.add_argument(
        "--polite-feeds", type=int, default=None, help="feeds of scenario 4, default politeness (12; --quick: 4)"
    )
    parser.add_argument(
        "--hosts", type=int, choices=(1, 2), default=1, help="2: feeds alternate between 127.0.0.1 and localhost"
    )
    parser.add_argument("--gzip", action="store_true", help="serve gzip-compressed bodies (Content-Encoding: gzip)")
    parser.add_argument("--no-pipeline", action="store_true", help="skip scenario 3 (the whole pipeline)")
    parser.add_argument("--quick", action="store_true", help="smoke test: small defaults, one run")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write every figure here")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    quick = args.quick
    feeds = args.feeds or (50 if quick else 300)
    if args.serve:
        serve(feeds, args.latency, args.gzip)
        return
    runs = args.runs or (1 if quick else 5)
    latency_feeds = min(feeds, args.latency_feeds or (20 if quick else 64))
    polite_feeds = min(feeds, args.polite_feeds or (4 if quick else 12))
    hosts = args.hosts

    from feedserver import opml

    import pipeline  # noqa: F401  # first: it quiets Beam's import-time log noise
    from transforms.fetch import FetchPolicy

    started = time.monotonic()
    server = ServerProcess(feeds, args.latency, args.gzip)
    work = Path(tempfile.mkdtemp(prefix="newsbeam-fetch-bench-"))
    try:
        urls = urls_for(server, feeds, hosts)
        slow_urls = urls_for(server, latency_feeds, hosts, slow=True) if args.latency > 0 else []
        opml_file = work / "feeds.opml"
        opml_file.write_bytes(opml(urls, title="fetch bench"))
        corpus_files = sorted(CORPUS.glob("*.xml"))
        corpus_bytes = sum(p.stat().st_size for p in corpus_files)
        served_bytes = sum(server.sizes)

        # Warm-up, untimed: imports, the server's threads, Beam's first pipeline.
        fetch_pass(server, urls[: min(feeds, 32)], 4, 4, 0.0)
        if not args.no_pipeline:
            warm = work / "warm.opml"
            warm.write_bytes(opml(urls[:4]))
            from pipeline.run import run_ingest

            code = run_ingest([str(warm)], pipeline_args(work / "warm", "warm"), io.StringIO(), io.StringIO())
            if code != 0:
                raise SystemExit(f"warm-up ingest exited {code}")

        full: dict[int, list[Sample]] = {t: [] for t in THREADS}
        cond: dict[int, list[Sample]] = {t: [] for t in THREADS}
        slow: dict[int, list[Sample]] = {t: [] for t in THREADS}
        first: list[Sample] = []
        second: list[Sample] = []
        for run in range(runs):
            order = list(THREADS[run % len(THREADS) :] + THREADS[: run % len(THREADS)])
            for threads in order:
                sample, validators = fetch_pass(server, urls, threads, threads, 0.0)
                full[threads].append(sample)
                sample, _ = fetch_pass(server, urls, threads, threads, 0.0, validators, expect=304)
                cond[threads].append(sample)
            if slow_urls:
                for threads in order:
                    slow[threads].append(fetch_pass(server, slow_urls, threads, threads, 0.0)[0])
            if not args.no_pipeline:
                output = work / f"pipeline-{run}"
                first.append(pipeline_pass(server, opml_file, output, f"bench-{run}-first", 200))
                second.append(pipeline_pass(server, opml_file, output, f"bench-{run}-second", 304))
                shutil.rmtree(output, ignore_errors=True)
            line = ", ".join(f"{t} threads {full[t][-1].seconds:.2f}s/{cond[t][-1].seconds:.2f}s" for t in THREADS)
            if slow_urls:
                line += "; latency " + ", ".join(f"{t}: {slow[t][-1].seconds:.2f}s" for t in THREADS)
            if first:
                line += f"; pipeline {first[-1].seconds:.2f}s/{second[-1].seconds:.2f}s"
            print(f"run {run + 1}/{runs}: {line}", file=sys.stderr)

        # Politeness on, once per host layout: its time is sleeps, set by the policy, not by the machine.
        defaults = FetchPolicy()
        polite: dict[int, Sample] = {}
        for layout in sorted({1, hosts}):
            polite_urls = urls_for(server, polite_feeds, layout)
            polite[layout] = fetch_pass(
                server, polite_urls, defaults.threads, defaults.per_host_concurrency, defaults.per_host_delay
            )[0]
            print(f"politeness, {layout} host(s): {polite[layout].seconds:.2f}s", file=sys.stderr)
        elapsed = time.monotonic() - started
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)

    # ---------------------------------------------------------------- report
    host_text = "127.0.0.1" if hosts == 1 else "127.0.0.1 and localhost, alternating"
    print(
        f"\nnewsbeam fetch throughput — {feeds} feeds on {hosts} host(s) ({host_text}), {runs} run(s), medians; "
        f"bodies {'gzip' if args.gzip else 'identity'}"
    )
    print(
        f"machine: {os.cpu_count()} CPUs (os.cpu_count()); Python {platform.python_version()}; "
        "server (FeedServer, ThreadingHTTPServer) in a child process, fetcher in this one"
    )
    print(
        f"corpus: {len(corpus_files)} real feeds, {corpus_bytes:,} bytes; served: {feeds} feeds "
        f"(feed i = corpus file i mod {len(corpus_files)}, URLs rewritten), {served_bytes:,} bytes "
        f"({served_bytes / MB:.1f} MB, {served_bytes / feeds / 1024:.1f} KB per feed)"
    )
    print(f"total time of this benchmark: {elapsed:.0f}s\n")

    base_full, base_cond = rate(full[1]), rate(cond[1])
    print("### 1. `fetch_all` + `fetch` alone, politeness off (per-host concurrency = threads, delay 0)\n")
    print(
        "| threads | 200: feeds/s | × 1 thread | MB/s | 304: feeds/s | × 1 thread | 304 ÷ 200 "
        "| client CPU ms/feed (200 / 304) | server CPU ms/feed (200 / 304) | TCP connections (200 / 304) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in THREADS:
        r200, r304 = rate(full[t]), rate(cond[t])
        mbps = median(full[t], "wire_bytes") / median(full[t], "seconds") / MB
        print(
            f"| {t} | {r200:,.0f} | {r200 / base_full:.2f} | {mbps:.1f} | {r304:,.0f} | {r304 / base_cond:.2f} "
            f"| {r304 / r200:.2f} | {per_feed_ms(full[t], 'client_cpu'):.2f} / {per_feed_ms(cond[t], 'client_cpu'):.2f} "
            f"| {per_feed_ms(full[t], 'server_cpu'):.2f} / {per_feed_ms(cond[t], 'server_cpu'):.2f} "
            f"| {median(full[t], 'connections'):.0f} / {median(cond[t], 'connections'):.0f} |"
        )

    if slow_urls:
        base_slow = rate(slow[1])
        print(
            f"\n### 2. The same 200 pass with {1000 * args.latency:g} ms server latency per response, "
            f"{latency_feeds} feeds\n"
        )
        print(
            "| threads | seconds | feeds/s | × 1 thread | bound: n / (⌈n / threads⌉ × latency) | share of bound | MB/s |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for t in THREADS:
            bound = latency_feeds / (math.ceil(latency_feeds / t) * args.latency)
            r = rate(slow[t])
            mbps = median(slow[t], "wire_bytes") / median(slow[t], "seconds") / MB
            print(
                f"| {t} | {median(slow[t], 'seconds'):.2f} | {r:,.1f} | {r / base_slow:.2f} | {bound:,.0f} "
                f"| {r / bound:.0%} | {mbps:.2f} |"
            )

    if first:
        t = PIPELINE_CONCURRENCY
        print(
            f"\n### 3. Whole pipeline (`newsbeam ingest feeds.opml`, DirectRunner, entities off, "
            f"per-host concurrency {t}, delay 0), {feeds} feeds\n"
        )
        print(
            f"| run | seconds | feeds/s | articles/s | MB/s | client CPU ms/feed | TCP connections "
            f"| × `fetch_all` alone ({t} threads) | seconds beyond `fetch_all` |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, samples, alone in (
            (f"first: all 200, {int(median(first, 'articles')):,} articles read", first, full[t]),
            ("second, same output: all 304, nothing parsed", second, cond[t]),
        ):
            seconds = median(samples, "seconds")
            articles = median(samples, "articles")
            print(
                f"| {name} | {seconds:.2f} | {rate(samples):,.1f} | {articles / seconds:,.0f} "
                f"| {median(samples, 'wire_bytes') / seconds / MB:.2f} | {per_feed_ms(samples, 'client_cpu'):.2f} "
                f"| {median(samples, 'connections'):.0f} | {rate(samples) / rate(alone):.3f} | {seconds - median(alone, 'seconds'):.2f} |"
            )

    print(
        f"\n### 4. Default politeness (per-host concurrency {defaults.per_host_concurrency}, "
        f"{defaults.per_host_delay:g} s between request starts per host, {defaults.threads} threads), one run\n"
    )
    print(
        "| feeds | hosts | busiest host n_h | seconds | feeds/s | lower bound (n_h − 1) × d | "
        "feeds/s, politeness off (16 threads) | × politeness off |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for layout, sample in polite.items():
        busiest = math.ceil(polite_feeds / layout)
        bound = (busiest - 1) * defaults.per_host_delay
        print(
            f"| {polite_feeds} | {layout} | {busiest} | {sample.seconds:.2f} | {polite_feeds / sample.seconds:.2f} "
            f"| {bound:.2f} s | {rate(full[16]):,.0f} | {polite_feeds / sample.seconds / rate(full[16]):.4f} |"
        )
    print(
        "\nbound: HostGate spaces request starts to one host by d whatever the concurrency, so "
        "seconds ≥ max((n_h − 1) × d, ceil(n_h / c) × f) + f for f seconds per response and c lanes; "
        "at most ≈ hosts / d feeds/s for many feeds."
    )
    print(
        "MB/s counts response bodies on the wire (304s have none); CPU ms/feed: all threads of the process "
        "(the pipeline rows include Beam), the server's in its own process."
    )

    if args.json:
        result = {
            "benchmark": "fetch_bench",
            "config": {
                "feeds": feeds,
                "runs": runs,
                "hosts": hosts,
                "latency": args.latency,
                "latency_feeds": latency_feeds,
                "polite_feeds": polite_feeds,
                "gzip": args.gzip,
                "threads": list(THREADS),
                "pipeline_args": pipeline_args(Path("OUTPUT"), "RUN_ID"),
            },
            "machine": {
                "cpu_count": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "corpus": {"files": len(corpus_files), "bytes": corpus_bytes, "served_bytes": served_bytes},
            "fetch_200": {str(t): summarise(full[t]) for t in THREADS},
            "fetch_304": {str(t): summarise(cond[t]) for t in THREADS},
            "fetch_latency": {str(t): summarise(slow[t]) for t in THREADS} if slow_urls else None,
            "pipeline_first": summarise(first) if first else None,
            "pipeline_second": summarise(second) if second else None,
            "politeness": {
                str(layout): {
                    **asdict(sample),
                    "lower_bound_seconds": (math.ceil(polite_feeds / layout) - 1) * defaults.per_host_delay,
                }
                for layout, sample in polite.items()
            },
            "elapsed_seconds": round(elapsed, 1),
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nresults written to {args.json}")


if __name__ == "__main__":
    main()
