"""Full text: pages/s through each layer, and the words per article of the real feeds before and after.

Why this exists: issue 13 turns a pipeline that reads feeds into one that
also fetches and extracts a page per new entry. Two figures say what that
costs and what it buys:

1. **Pages per second** with ``--fetch-threads 16`` against a local server
   that answers each request 50 ms late (``--latency``), over 20 hosts
   (``--hosts``: 127.0.0.1 … 127.0.0.20; politeness, budgets and robots.txt
   are per host *name*, ``transforms.fetch.hosts.host_of``, so ports would
   not be hosts), with the per-host delay at its default (1.0 s) and at 0.
   Layer by layer, in one run of this script, medians of ``--runs``:

   * ``extract``: ``transforms.extract.read_page`` alone on the same pages, one thread
     (the CPU cost that no thread count hides under the GIL);
   * ``fetch``: ``fetch_all`` + ``fetch_page`` (robots.txt first), no extraction;
   * ``fetch+extract``: ``transforms.pages.process_batch``, the work of the
     ``FetchPages`` step without Beam (fetch, extract, choose, merge);
   * ``pipeline``: ``newsbeam ingest`` (``pipeline.run.run_ingest``, in this
     process, DirectRunner) of RSS files whose entries link to the pages,
     with ``--full-text on``; and the same files with ``--full-text off``, so
     that ``marginal`` = pages / (seconds on - seconds off) is what the pages
     add to a run.

   The pages are real ones (``../shared/corpora/article_pages``, page *k* at
   ``/p/<k>``), or the tests' generated articles when the corpora are absent.
   With the default delay, a host gives at most one page per second, so 20
   hosts bound the run at about 20 pages/s whatever else happens.

2. **Words per article** of the real-feed corpus (``../shared/corpora/news_feeds``,
   845 articles): *before* is ``newsbeam ingest --full-text off`` (the feeds'
   own text); *after* cannot fetch the publishers' pages (nothing may leave
   this machine), so every entry's link is rewritten to the local server,
   which serves, for entry *i*, the real page *i* mod 990 of
   ``article_pages``. That page is not the entry's article, so three variants:
   ``matched`` also gives the entry that page's title and description as
   its title and teaser (and drops its ``content:encoded``): a feed of those
   pages, the figure for feeds whose pages are their articles; ``titled``
   gives it the page's title only (a title of fewer than three words is then
   not enough for newsbeam to accept the page as the entry's: the teaser
   decides); ``links only`` keeps the entry's own title and teaser, and
   shows the ``mismatch`` rule refusing pages that are another
   article. Reported: median, p25, p75, p95 and the share under 150 words,
   where the text came from and why pages were refused. The rewritten feeds
   are checked before any run (every entry's link on 127.0.0.x), and the
   tests' network guard (``tests/netguard``) is installed in this process
   for those runs: a connection anywhere but loopback is refused.

The server runs in a child process (this script with ``--serve``) so its
threads do not share the measured process's GIL; its listen backlog is 128
(``tests/pageserver.py``). Corpora are read at run time from
``../shared/corpora`` (or ``$NEWSBEAM_CORPORA``), never copied.

    .venv/bin/python bench/fulltext_bench.py [--runs 3] [--pages 400] [--out results.json]
    .venv/bin/python bench/fulltext_bench.py --quick      # a smoke test: 1 run, few pages
"""

from __future__ import annotations

import argparse
import gzip
import io
import itertools
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(TESTS))  # pageserver, feedserver and the network guard (imported, not copied)

DEFAULT_DELAY = 1.0  # FetchPolicy's per_host_delay
THREADS = 16


def corpora_dir() -> Path:
    """``../shared/corpora`` beside the project, or ``$NEWSBEAM_CORPORA``."""
    return Path(os.environ.get("NEWSBEAM_CORPORA") or ROOT.parent / "shared" / "corpora")


def host_address(index: int) -> str:
    return f"127.0.0.{index + 1}"


# --------------------------------------------------------------------------
# Pages and the server process
# --------------------------------------------------------------------------


def load_pages(corpora: Path) -> tuple[list[bytes], str]:
    """The pages served: every ``article_pages`` page (sorted by file name), else 100 generated articles."""
    directory = corpora / "article_pages" / "html"
    files = sorted(directory.glob("*.html.gz")) if directory.is_dir() else []
    if files:
        return [gzip.decompress(path.read_bytes()) for path in files], f"{len(files)} real pages of {directory}"
    from pageserver import article_html, story

    made = [story(k, "bench", paragraphs=8) for k in range(100)]
    return [article_html(s["title"], s["paragraphs"]).encode("utf-8") for s in made], "100 generated articles"


def serve(hosts: int, latency: float, corpora: Path) -> None:
    """``--serve``: every page on every host at ``/p/<k>`` (answered ``latency`` s late) and ``/z/<k>`` (at once).

    Prints ``{"ports": {address: port}}``, then serves until stdin closes;
    ``log`` on stdin answers the requests per path prefix since the last ``log``.
    """
    from feedserver import static
    from pageserver import PageServer, robots, with_latency

    pages, _ = load_pages(corpora)
    # One responder per page, shared by every host (``static`` holds its own copy of the body: 143 MB of pages
    # once, not once per host). No charset in the Content-Type: the pages are in many encodings, and say which.
    at_once = [static(page, content_type="text/html") for page in pages]
    del pages
    late = [with_latency(responder, latency) for responder in at_once]
    allowed = with_latency(lambda _request: robots("User-agent: *\nAllow: /\n"), latency)
    servers = [PageServer(host_address(i)) for i in range(hosts)]
    for server in servers:
        server.route("/robots.txt", allowed)
        for k in range(len(at_once)):
            server.route(f"/p/{k}", late[k])
            server.route(f"/z/{k}", at_once[k])
        server.start()
    print(json.dumps({"ports": {s.address: s.port for s in servers}}), flush=True)
    for line in sys.stdin:
        if line.strip() == "log":
            seen: Counter[str] = Counter()
            errors = 0
            for server in servers:
                seen.update(r.path.split("/")[1] for r in server.requests)
                errors += len(server.errors)
                server.reset_log()
            print(json.dumps({"requests": dict(seen), "errors": errors}), flush=True)
    for server in servers:
        server.stop()


class ServerProcess:
    """This script with ``--serve`` in a child process."""

    def __init__(self, hosts: int, latency: float, corpora: Path):
        command = [sys.executable, str(Path(__file__).resolve()), "--serve", "--hosts", str(hosts)]
        command += ["--latency", str(latency), "--corpora", str(corpora)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ports: dict[str, int] = self._read()["ports"]

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the page server exited (status {self.process.poll()})")
        return json.loads(line)

    def log(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("log\n")
        self.process.stdin.flush()
        return self._read()

    def url(self, host: int, page: int, slow: bool = True, tag: str = "") -> str:
        address = host_address(host)
        return f"http://{address}:{self.ports[address]}/{'p' if slow else 'z'}/{page}{tag}"

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.terminate()  # our own child, by its handle
            self.process.wait(timeout=10)


class Heading(NamedTuple):
    """What a page says it is: its title and its description (for entries that must be that page's article)."""

    title: str
    description: str


def page_heading(page: bytes) -> Heading:
    """The page's own title (og:title, else <title>) and description (og:description, else meta description)."""
    import lxml.html

    from transforms.text import decode_bytes

    try:
        root = lxml.html.fromstring(decode_bytes(page, None).text)
    except (ValueError, lxml.etree.ParserError):
        return Heading("", "")

    def first(*paths: str) -> str:
        for path in paths:
            for value in root.xpath(path):
                if value and value.strip():
                    return " ".join(value.split())
        return ""

    return Heading(
        first('//meta[@property="og:title"]/@content', "//title/text()"),
        first('//meta[@property="og:description"]/@content', '//meta[@name="description"]/@content'),
    )


# --------------------------------------------------------------------------
# Throughput: the layers
# --------------------------------------------------------------------------


class Job:
    """One page of a throughput pass: its URL and the feed entry that links to it."""

    def __init__(self, url: str, title: str, page: bytes):
        self.url = url
        self.title = title
        self.page = page


def jobs_for(
    server: ServerProcess, pages: list[bytes], titles: list[str], count: int, hosts: int, run: str
) -> list[Job]:
    """``count`` pages spread round-robin over the hosts; a query tag per run keeps URLs unique."""
    return [
        Job(server.url(j % hosts, j % len(pages), tag=f"?r={run}&j={j}"), titles[j % len(pages)], pages[j % len(pages)])
        for j in range(count)
    ]


def policy_for(delay: float) -> Any:
    from transforms.fetch.policy import FetchPolicy

    return FetchPolicy(allow_private_hosts=True, per_host_delay=delay, threads=THREADS, retries=1, backoff=0.05)


def time_extract(jobs: Sequence[Job]) -> dict[str, Any]:
    from transforms.extract import read_page
    from transforms.text import decode_bytes

    started = time.perf_counter()
    words = 0
    for job in jobs:
        page = read_page(decode_bytes(job.page, None).text, job.url, datetime.now(UTC))
        words += len(page.body.text.split())
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "pages": len(jobs), "words": words}


def time_fetch(jobs: Sequence[Job], delay: float) -> dict[str, Any]:
    from transforms.fetch.client import make_session
    from transforms.fetch.hosts import FetchContext, HostGate, fetch_all, host_of
    from transforms.fetch.pages import fetch_page

    policy = policy_for(delay)
    hosts = FetchContext()
    session = make_session(policy, hosts.watchdog)

    def work(job: Job, gate: HostGate) -> Any:
        return fetch_page(session, job.url, policy, hosts, gate, True)

    started = time.perf_counter()
    errors: Counter[str] = Counter()
    for _, result in fetch_all(
        jobs,
        work,
        lambda job: host_of(job.url),
        policy.threads,
        policy.per_host_concurrency,
        policy.per_host_delay,
        lambda host: hosts.gate(host, policy.per_host_delay),
    ):
        errors[getattr(result, "error", None) or ("crash" if isinstance(result, BaseException) else "ok")] += 1
    seconds = time.perf_counter() - started
    session.close()
    return {"seconds": seconds, "pages": len(jobs), "outcomes": dict(errors)}


def time_fetch_extract(jobs: Sequence[Job], delay: float) -> dict[str, Any]:
    import numpy as np
    from apache_beam.utils.shared import Shared
    from support import blank_article

    from transforms.fetch.hosts import SharedFetchContext
    from transforms.pages import PageSettings, _Runtime, process_batch

    policy = policy_for(delay)
    settings = PageSettings(max_pages=0, max_pages_per_host=0)
    runtime = _Runtime(settings, policy, SharedFetchContext(), Shared())
    articles = [
        blank_article(
            article_id=f"a{j}",
            url=job.url,
            title=job.title,
            text="A teaser of a few words.",
            summary="A teaser of a few words.",
            text_source="feed",
            word_count=np.int32(6),
        )
        for j, job in enumerate(jobs)
    ]
    started = time.perf_counter()
    sources: Counter[str] = Counter()
    for _, article in process_batch(articles, None, runtime):
        sources[article.text_source if article.text_source == "page" else f"feed:{article.page_error}"] += 1
    seconds = time.perf_counter() - started
    runtime.session.close()
    return {"seconds": seconds, "pages": len(jobs), "outcomes": dict(sources)}


def write_feeds(directory: Path, jobs: Sequence[Job], hosts: int) -> list[str]:
    """RSS files, one per host, whose entries link to ``jobs``' pages."""
    from feedserver import rss

    directory.mkdir(parents=True, exist_ok=True)
    groups: dict[int, list[dict[str, Any]]] = {}
    for j, job in enumerate(jobs):
        entry = {"title": job.title or f"Page {j}", "link": job.url, "guid": job.url, "description": "A short teaser."}
        groups.setdefault(j % hosts, []).append(entry)
    paths = []
    for host, entries in groups.items():
        path = directory / f"host{host:02d}.xml"
        path.write_bytes(rss(entries, title=f"Host {host}", link="http://bench.test/"))
        paths.append(str(path))
    return paths


def ingest(inputs: Sequence[str], output: Path, run_id: str, extra: Sequence[str]) -> tuple[float, dict[str, Any]]:
    """``run_ingest`` in this process; seconds and the run summary."""
    from pipeline.run import run_ingest

    args = ["--output", str(output), "--run-id", run_id, "--runner", "DirectRunner", "--entities", "off"]
    args += ["--progress-seconds", "0", "--fetch-threads", str(THREADS), *extra]
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    code = run_ingest(list(inputs), args, out, err)
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"ingest {run_id} failed ({code}):\n{err.getvalue()[-3000:]}")
    summary = json.loads((output / "runs" / f"{run_id}.json").read_text(encoding="utf-8"))
    return seconds, summary


def time_pipeline(jobs: Sequence[Job], delay: float, hosts: int, work: Path, tag: str) -> dict[str, Any]:
    feeds = write_feeds(work / f"feeds-{tag}", jobs, hosts)
    common = ["--allow-private-hosts", "--per-host-delay", str(delay), "--max-pages", "0", "--max-pages-per-host", "0"]
    on, summary = ingest(feeds, work / f"on-{tag}", f"on-{tag}", common)
    off, _ = ingest(feeds, work / f"off-{tag}", f"off-{tag}", [*common, "--full-text", "off"])
    pages = summary["pages"]
    return {
        "seconds": on,
        "seconds_off": off,
        "pages": len(jobs),
        "outcomes": {"text_from": pages["text_from"], "page_errors": pages["page_errors"], "fetched": pages["fetched"]},
    }


def throughput(args: argparse.Namespace, server: ServerProcess, pages: list[bytes], work: Path) -> dict[str, Any]:
    titles = [page_heading(p).title for p in pages]
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    scenarios = [("delay 0", 0.0, args.pages), (f"delay {DEFAULT_DELAY:g} (default)", DEFAULT_DELAY, args.polite_pages)]
    layers: list[tuple[str, Callable[[Sequence[Job], float, str], dict[str, Any]]]] = [
        ("extract", lambda jobs, delay, tag: time_extract(jobs)),
        ("fetch", lambda jobs, delay, tag: time_fetch(jobs, delay)),
        ("fetch+extract", lambda jobs, delay, tag: time_fetch_extract(jobs, delay)),
        ("pipeline", lambda jobs, delay, tag: time_pipeline(jobs, delay, args.hosts, work, tag)),
    ]
    # Warm up, untimed: imports (Beam, trafilatura, htmldate), the language model, the first pipeline's set-up.
    warm = jobs_for(server, pages, titles, min(10, len(pages)), args.hosts, "warm")
    time_extract(warm)
    time_fetch_extract(warm, 0.0)
    time_pipeline(warm, 0.0, args.hosts, work, "warm")
    server.log()
    for run in range(args.runs):
        for name, delay, count in scenarios:
            if name != "delay 0" and args.runs > 1 and run > 0 and args.polite_once:
                continue  # the polite figures are set by sleeps, not by the machine: one run is enough
            order = layers[run % len(layers) :] + layers[: run % len(layers)]  # rotate: no layer always first
            for layer, measure in order:
                if layer == "extract" and delay != 0.0:
                    continue  # extraction does not depend on the delay
                tag = f"{run}-{delay:g}-{layer}"
                jobs = jobs_for(server, pages, titles, count, args.hosts, tag)
                result = measure(jobs, delay, tag)
                served = server.log()
                result["server_requests"] = served["requests"]
                result["server_errors"] = served["errors"]
                results.setdefault(name, {}).setdefault(layer, []).append(result)
                print(
                    f"  run {run + 1} {name:>20} {layer:>14}: {result['pages'] / result['seconds']:7.1f} pages/s",
                    flush=True,
                )
    return {"scenarios": {name: summarise_layers(layers) for name, layers in results.items()}}


def summarise_layers(layers: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer, runs in layers.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        pages = runs[0]["pages"]
        entry: dict[str, Any] = {
            "runs": len(runs),
            "pages": pages,
            "seconds_median": round(seconds, 3),
            "pages_per_s": round(pages / seconds, 2),
            "last_outcomes": runs[-1].get("outcomes"),
            "server_requests": runs[-1].get("server_requests"),
        }
        if "seconds_off" in runs[0]:
            off = statistics.median(r["seconds_off"] for r in runs)
            entry["seconds_full_text_off_median"] = round(off, 3)
            entry["marginal_pages_per_s"] = round(pages / (seconds - off), 2) if seconds > off else None
        out[layer] = entry
    return out


# --------------------------------------------------------------------------
# Words per article: the real feeds before and after
# --------------------------------------------------------------------------

_ITEM_NAMES = ("item", "entry")


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


class Rewrite(NamedTuple):
    """What one entry becomes: its new link, and (None: keep the entry's own) a title and a teaser."""

    link: str
    title: Optional[str] = None
    teaser: Optional[str] = None


#: Elements holding an entry's fuller text, dropped when the entry gets the page's teaser instead.
_CONTENT_NAMES = ("encoded", "content")


def rewrite_feed(data: bytes, rewrite_next: Callable[[], Rewrite]) -> tuple[bytes, int]:
    """The feed with every entry's link (and guid/id/rdf:about naming it) replaced, and title/teaser if given.

    ``rewrite_next()`` gives the next entry's ``Rewrite``. With a teaser, the
    entry's summary/description becomes it and its full content is dropped
    (the entry is then the page's article, as its feed would describe it).
    """
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=True)
    root = etree.fromstring(data, parser)
    count = 0
    for element in [e for e in root.iter() if _local(e.tag) in _ITEM_NAMES]:
        new = rewrite_next()
        count += 1
        old_links: set[str] = set()
        described = False
        for child in list(element):
            name = _local(child.tag)
            if name == "link":
                if child.get("href") is not None:
                    if child.get("rel") in (None, "alternate"):
                        old_links.add(child.get("href"))
                        child.set("href", new.link)
                else:
                    old_links.add((child.text or "").strip())
                    child.text = new.link
            elif name == "origLink":  # feedburner's original link: feedparser may prefer it
                child.text = new.link
            elif name == "title" and new.title is not None:
                child.text = new.title
            elif name in ("description", "summary") and new.teaser is not None:
                child.text, described = new.teaser, True
            elif name in _CONTENT_NAMES and new.teaser is not None:
                element.remove(child)
        for child in element:
            if _local(child.tag) in ("guid", "id") and (
                (child.text or "").strip() in old_links or child.get("isPermaLink") != "false"
            ):
                child.text = new.link
        for attribute in list(element.attrib):
            if _local(attribute) == "about":
                element.set(attribute, new.link)
        atom = _local(element.tag) == "entry"
        if not old_links:  # an entry without a link: give it one, so its page is fetched like the others'
            added = etree.SubElement(element, "{http://www.w3.org/2005/Atom}link" if atom else "link")
            if atom:
                added.set("href", new.link)
            else:
                added.text = new.link
        if new.teaser is not None and not described:
            tag = "{http://www.w3.org/2005/Atom}summary" if atom else "description"
            etree.SubElement(element, tag).text = new.teaser
    return etree.tostring(root, xml_declaration=True, encoding="utf-8"), count


def check_links_local(paths: Sequence[Path]) -> int:
    """Every entry's link in the rewritten feeds is on 127.0.0.x (else no run starts); returns the entries."""
    import feedparser

    entries = 0
    for path in paths:
        parsed = feedparser.parse(path.read_bytes())
        for entry in parsed.entries:
            entries += 1
            # The link is what newsbeam fetches (a guid only when it is the link: ``guidislink``).
            for key in ("link", "id") if entry.get("guidislink") else ("link",):
                value = entry.get(key)
                if value and not value.startswith("http://127.0.0."):
                    raise SystemExit(f"{path.name}: an entry's {key} still points outside: {value}")
    return entries


def distribution(counts: Sequence[int]) -> dict[str, Any]:
    import numpy as np

    values = np.array(counts, dtype=float)
    p25, p50, p75, p95 = (float(np.percentile(values, q)) for q in (25, 50, 75, 95))
    return {
        "articles": len(counts),
        "median": p50,
        "p25": p25,
        "p75": p75,
        "p95": p95,
        "mean": round(float(values.mean()), 1),
        "under_150_share": round(float((values < 150).mean()), 3),
    }


def read_rows(output: Path, run_id: str) -> list[dict[str, Any]]:
    import pyarrow.dataset as ds

    table = ds.dataset(str(output / "articles"), format="parquet", partitioning="hive").to_table(
        columns=["run_id", "word_count", "text_source", "page_error"]
    )
    return [r for r in table.to_pylist() if r["run_id"] == run_id]


#: The "after" variants: (name, run id, title from the page, teaser from the page).
VARIANTS = (
    ("after, matched", "matched", True, True),
    ("after, titled", "titled", True, False),
    ("after, links only", "links", False, False),
)


def words(
    args: argparse.Namespace, server: ServerProcess, pages: list[bytes], corpora: Path, work: Path
) -> dict[str, Any]:
    feeds = sorted((corpora / "news_feeds").glob("*.xml"))
    if not feeds:
        return {"skipped": f"no feeds in {corpora / 'news_feeds'}"}
    headings = [page_heading(p) for p in pages]
    common = ["--max-pages", "0", "--max-pages-per-host", "0"]

    seconds, _ = ingest([str(p) for p in feeds], work / "words-before", "before", [*common, "--full-text", "off"])
    before = read_rows(work / "words-before", "before")
    out: dict[str, Any] = {
        "feeds": len(feeds),
        "note": "the real sites cannot be reached from here: each entry's link is rewritten to a local server "
        f"(127.0.0.1-127.0.0.{args.hosts}) serving, for entry i, the real page i mod {len(pages)} of article_pages "
        "(not the entry's own article). 'matched': the entry also gets that page's title and description as its "
        "title and teaser (its content:encoded dropped), as a feed of those pages would describe them; 'titled': "
        "the page's title only; 'links only': the entry's own title and teaser (the page is another article)",
        "before": {**distribution([r["word_count"] for r in before]), "seconds": round(seconds, 1)},
    }
    from netguard.newsbeam_netguard import NetGuard, hosts_file_loopback_names, read_log

    for variant, run_id, take_title, take_teaser in VARIANTS:
        directory = work / f"feeds-{run_id}"
        directory.mkdir()
        numbers = itertools.count()

        def rewrite_next(
            numbers: Iterator[int] = numbers, take_title: bool = take_title, take_teaser: bool = take_teaser
        ) -> Rewrite:
            i = next(numbers)
            k = i % len(pages)
            heading = headings[k]
            return Rewrite(
                server.url(i % args.hosts, k, slow=False),
                (heading.title or None) if take_title else None,
                (heading.description or None) if take_teaser else None,
            )

        written = []
        rewritten = 0
        for path in feeds:
            data, n = rewrite_feed(path.read_bytes(), rewrite_next)
            rewritten += n
            target = directory / path.name
            target.write_bytes(data)
            written.append(target)
        entries = check_links_local(written)
        guard = NetGuard(str(work / f"refusals-{run_id}.jsonl"), hosts_file_loopback_names())
        with guard.active():
            seconds, _ = ingest(
                [str(p) for p in written],
                work / f"words-{run_id}",
                run_id,
                [*common, "--allow-private-hosts", "--per-host-delay", "0"],
            )
        refused, _ = read_log(guard.log_path) if Path(guard.log_path).exists() else ([], 0)
        rows = read_rows(work / f"words-{run_id}", run_id)
        served = server.log()
        out[variant] = {
            **distribution([r["word_count"] for r in rows]),
            "seconds": round(seconds, 1),
            "entries_rewritten": rewritten,
            "entries_parsed": entries,
            "text_source": dict(Counter(r["text_source"] for r in rows)),
            "page_errors": dict(Counter(r["page_error"] for r in rows if r["page_error"])),
            "pages_requested_from_server": served["requests"].get("z", 0),
            "connections_refused_by_guard": len(refused),
        }
    return out


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def print_report(report: dict[str, Any]) -> None:
    print()
    print(
        f"Full text bench — {report['machine']['python']} on {report['machine']['cpus']} CPUs; pages: {report['pages_source']}"
    )
    through = report.get("throughput")
    if through:
        print(
            f"\n1. pages/s, --fetch-threads {THREADS}, {report['settings']['hosts']} hosts, "
            f"{report['settings']['latency'] * 1000:.0f} ms per response (median of runs)"
        )
        print(f"   {'scenario':<22}{'layer':<15}{'pages':>6}{'seconds':>9}{'pages/s':>9}  notes")
        for name, layers in through["scenarios"].items():
            for layer, entry in layers.items():
                note = ""
                if "marginal_pages_per_s" in entry:
                    note = f"--full-text off: {entry['seconds_full_text_off_median']:.1f} s; marginal {entry['marginal_pages_per_s']} pages/s"
                print(
                    f"   {name:<22}{layer:<15}{entry['pages']:>6}{entry['seconds_median']:>9.2f}{entry['pages_per_s']:>9.1f}  {note}"
                )
    words_report = report.get("words")
    if words_report:
        print("\n2. words per article, real-feed corpus")
        if "skipped" in words_report:
            print(f"   skipped: {words_report['skipped']}")
            return
        print(f"   note: {words_report['note']}")
        print(f"   {'':<20}{'articles':>9}{'p25':>7}{'median':>8}{'p75':>7}{'p95':>8}{'<150 words':>12}")
        for variant in ("before", *(v[0] for v in VARIANTS)):
            d = words_report[variant]
            print(
                f"   {variant:<20}{d['articles']:>9}{d['p25']:>7.0f}{d['median']:>8.0f}{d['p75']:>7.0f}{d['p95']:>8.0f}"
                f"{d['under_150_share'] * 100:>11.1f}%"
            )
        for variant in (v[0] for v in VARIANTS):
            d = words_report[variant]
            print(
                f"   {variant}: text from {d['text_source']}; page_error {d['page_errors']}; guard refusals {d['connections_refused_by_guard']}"
            )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pages", type=int, default=400, help="pages of a pass with per-host delay 0")
    parser.add_argument("--polite-pages", type=int, default=200, help="pages of a pass with the default delay")
    parser.add_argument("--polite-once", action="store_true", help="run the default-delay passes once only")
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-words", action="store_true")
    parser.add_argument("--quick", action="store_true", help="1 run, 60 pages, 40 polite pages")
    parser.add_argument("--out", help="write the report as JSON here")
    parser.add_argument("--corpora", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    corpora = Path(args.corpora) if args.corpora else corpora_dir()
    if args.serve:
        serve(args.hosts, args.latency, corpora)
        return 0
    if args.quick:
        args.runs, args.pages, args.polite_pages = 1, 60, 40
    logging.getLogger("newsbeam").setLevel(logging.WARNING)
    pages, source = load_pages(corpora)
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "settings": {"hosts": args.hosts, "latency": args.latency, "threads": THREADS, "runs": args.runs},
        "pages_source": source,
    }
    server = ServerProcess(args.hosts, args.latency, corpora)
    try:
        with tempfile.TemporaryDirectory(prefix="fulltext-bench-") as folder:
            work = Path(folder)
            if not args.skip_throughput:
                print("1. throughput", flush=True)
                report["throughput"] = throughput(args, server, pages, work)
            if not args.skip_words:
                print("2. words per article", flush=True)
                report["words"] = words(args, server, pages, corpora, work)
    finally:
        server.close()
    print_report(report)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
